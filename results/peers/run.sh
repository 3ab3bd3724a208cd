#!/usr/bin/env bash
# attnbench's flash (and textbook dense) against three peers, measured in one run on this machine
# at the same shapes, with flash's speedup over each peer taken from that run only.
#
#   ggml      ggml_flash_attn_ext on its CPU backend, K/V in fp32 and in fp16 (Q fp32), built
#             here at a pinned commit (results/peers/ggml_flash_attn.cpp)
#   PyTorch   softmax(Q·Kᵀ·scale)·V from Debian's python3-torch, causal by a -inf mask
#             (results/peers/torch_attention.py, torch_decode.py)
#   oneDNN    matmul -> softmax -> matmul from Debian's libdnnl-dev, fp32 and bf16
#             (results/peers/onednn_attention.cpp)
#   attnbench `attnbench run --variant flash --variant dense`, fp32, and flash in bf16
#
# Shapes: causal prefill B=1, H=8, D=64, N in --seq-len; and one decode step (M=1) over an
# N=64K cache with 32 query heads over 8 kv heads, D=128. Every peer runs with --threads
# threads (default 2). Before timing, each peer's output is compared with fp64 attention at a
# small shape and the run stops if it differs.
#
# Usage: bash results/peers/run.sh [--quick] [--seq-len 1024,2048,...] [--decode-len 65536|0]
#                                  [--reps R] [--threads T] [--out FILE.csv]
#   --quick        N = 1024, 2048, 4096 and 2 repetitions: a check that everything works
#                  (about 2 minutes once ggml is built); its rows go to the ignored
#                  results/peers/.ggml/quick/peers.csv unless --out says otherwise
#   default        N = 1K-16K, 3 repetitions after one warm-up, about 7 minutes on a 2 vCPU
#                  AMD EPYC Zen 3 (the first run also builds ggml, about a minute);
#                  results/reference/peers/peers.csv
# Writes one row per (peer, dtype, shape) to the CSV and the markdown tables of ratios, which it
# also prints, beside it (.md).
#
# Environment:
#   GGML_SRC   a local clone of https://github.com/ggml-org/ggml (or a ggml source tree) for
#              machines without GitHub access; the pinned commit is checked out of it
#   ATTNBENCH  the attnbench binary (default: build/release/attnbench)
#   PYTHON     a Python with torch (default /usr/bin/python3, Debian's, where python3-torch is)
# Work folder (ignored by git): results/peers/.ggml/ (ggml's source and build, the drivers, logs).
set -euo pipefail

GGML_URL=https://github.com/ggml-org/ggml
GGML_COMMIT=d99724f2b141fed9e1a9f402213506c081433465  # ggml master, 2026-08-21

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PEERS=$ROOT/results/peers
WORK=$PEERS/.ggml
PYTHON=${PYTHON:-/usr/bin/python3}

die() { echo "run.sh: $*" >&2; exit 1; }
say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

seq_lens=1024,2048,4096,8192,16384
decode_len=65536
reps=3
threads=2
out=
quick=0
args_text="$*"
while (($#)); do
  case $1 in
    --quick) quick=1; seq_lens=1024,2048,4096; reps=2 ;;
    --seq-len) seq_lens=${2:?--seq-len needs a list}; shift ;;
    --decode-len) decode_len=${2:?--decode-len needs N}; shift ;;
    --reps) reps=${2:?--reps needs a number}; shift ;;
    --threads) threads=${2:?--threads needs a number}; shift ;;
    --out) out=${2:?--out needs a file}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
if [[ -z $out ]]; then
  if ((quick)); then out=$WORK/quick/peers.csv; else out=$ROOT/results/reference/peers/peers.csv; fi
fi
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive number"
[[ $threads =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive number"
[[ $seq_lens =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--seq-len is a comma-separated list of numbers"
[[ $decode_len =~ ^[0-9]+$ ]] || die "--decode-len is a number (0: no decode point)"

# ---- prerequisites -------------------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is missing: apt-get install $2"; }
need git git
need cmake cmake
need g++ g++
need nice coreutils
[[ -f /usr/include/oneapi/dnnl/dnnl.hpp ]] || die "oneDNN is missing: apt-get install libdnnl-dev"
[[ -x $PYTHON ]] || die "$PYTHON not found: apt-get install python3 python3-torch (or set PYTHON)"
"$PYTHON" -c 'import torch' 2>/dev/null ||
  die "PyTorch is missing for $PYTHON: apt-get install python3-torch (or set PYTHON)"
if [[ -z ${ATTNBENCH:-} ]]; then
  for candidate in "$ROOT/build/release/attnbench" "$ROOT/build/release/harness/attnbench"; do
    if [[ -x $candidate ]]; then ATTNBENCH=$candidate; break; fi
  done
fi
[[ -n ${ATTNBENCH:-} && -x $ATTNBENCH ]] ||
  die "attnbench is not built: bash harness/quickstart.sh builds it (or set ATTNBENCH=/path/to/attnbench)"
"$ATTNBENCH" run --help 2>/dev/null | grep -q -- '--query-len' ||
  die "$ATTNBENCH does not know --query-len: rebuild attnbench"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)

mkdir -p "$WORK/bin" "$WORK/logs"
export OMP_NUM_THREADS=$threads  # ggml's and oneDNN's OpenMP, PyTorch's intra-op pool

# ---- ggml at the pinned commit -------------------------------------------------------------
src=$WORK/src
if [[ -n ${GGML_SRC:-} ]] && ! git -C "$GGML_SRC" rev-parse --git-dir >/dev/null 2>&1; then
  # A plain source tree: used as it is, its commit unknown.
  [[ -f $GGML_SRC/include/ggml.h && -f $GGML_SRC/CMakeLists.txt ]] ||
    die "GGML_SRC=$GGML_SRC is neither a git repository nor a ggml source tree"
  want="tree:$(cd "$GGML_SRC" && pwd)"
  ggml_version=tree
else
  want=$GGML_COMMIT
  ggml_version=${GGML_COMMIT:0:12}
fi
if [[ ! -f $src/.peers-source || $(cat "$src/.peers-source") != "$want" ]]; then
  rm -rf "$src"
  if [[ $want == tree:* ]]; then
    say "ggml: copying the source tree $GGML_SRC (commit unknown; the pinned one is $GGML_COMMIT)"
    cp -a "$GGML_SRC" "$src"
  else
    from=${GGML_SRC:-$GGML_URL}
    say "ggml: cloning $from at $GGML_COMMIT"
    git clone --quiet --no-checkout "$from" "$src" ||
      die "cannot clone ggml from $from (without GitHub access set GGML_SRC to a local clone)"
    git -C "$src" -c advice.detachedHead=false checkout --quiet --detach "$GGML_COMMIT" ||
      die "commit $GGML_COMMIT is not in $from (fetch it into that clone first)"
  fi
  echo "$want" >"$src/.peers-source"
fi
build=$WORK/build
libs=("$build/src/libggml.a" "$build/src/libggml-cpu.a" "$build/src/libggml-base.a")
if [[ ! -f $build/.peers-source || $(cat "$build/.peers-source") != "$want" || ! -f ${libs[1]} ]]; then
  say "ggml: building (Release, CPU backend only, GGML_NATIVE=ON; log $WORK/logs/ggml-build.log)"
  rm -rf "$build"
  {
    nice -n 19 cmake -S "$src" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DGGML_NATIVE=ON -DGGML_BLAS=OFF -DGGML_METAL=OFF -DGGML_CCACHE=OFF -DBUILD_SHARED_LIBS=OFF \
      -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF &&
      nice -n 19 cmake --build "$build" -j2
  } >"$WORK/logs/ggml-build.log" 2>&1 || die "ggml's build failed: see $WORK/logs/ggml-build.log"
  for lib in "${libs[@]}"; do [[ -f $lib ]] || die "ggml's build did not produce $lib"; done
  echo "$want" >"$build/.peers-source"
fi

# ---- the drivers ---------------------------------------------------------------------------
compile() {  # compile OUT SRC ARGS...: only when the binary is missing or older than its inputs
  local out=$1 source=$2 stale=0
  shift 2
  [[ -x $out ]] || stale=1
  for f in "$source" "$PEERS/peer_common.hpp" "$@"; do [[ -f $f && $f -nt $out ]] && stale=1; done
  if ((stale)); then
    say "compiling $(basename "$source")"
    nice -n 19 g++ -O3 -march=native -std=c++17 -fopenmp -o "$out" "$source" "$@" \
      >"$WORK/logs/$(basename "$out").compile.log" 2>&1 ||
      die "compiling $source failed: see $WORK/logs/$(basename "$out").compile.log"
  fi
}
GGML_DRIVER=$WORK/bin/ggml_flash_attn
ONEDNN_DRIVER=$WORK/bin/onednn_attention
compile "$GGML_DRIVER" "$PEERS/ggml_flash_attn.cpp" -I"$src/include" "${libs[@]}" -lpthread -lm
compile "$ONEDNN_DRIVER" "$PEERS/onednn_attention.cpp" -ldnnl

# ---- every peer against fp64 at small shapes -----------------------------------------------
say "checking every peer against fp64 attention"
"$GGML_DRIVER" --check --threads "$threads" || die "ggml's flash attention check failed (above)"
"$ONEDNN_DRIVER" --check --threads "$threads" || die "oneDNN's fp32 check failed (above)"
"$ONEDNN_DRIVER" --check --threads "$threads" --dtype bf16 || die "oneDNN's bf16 check failed (above)"
"$PYTHON" "$PEERS/torch_attention.py" --check --causal --threads "$threads" ||
  die "PyTorch's check failed (above)"

# ---- measurements, every peer at one shape back to back ------------------------------------
run_dir=$WORK/run
rm -rf "$run_dir"
mkdir -p "$run_dir"
raw=$run_dir/raw.csv
ab_csv=$run_dir/attnbench.csv
log=$WORK/logs/measure.log
: >"$log"
echo "peer,dtype,kv_dtype,batch,heads,kv_heads,seq_len,query_len,head_dim,causal,threads,reps,time_ms,time_ms_min,time_ms_max,status" >"$raw"

warn() { say "warning: $* (see $log); the table leaves it out"; }
attnbench() {  # attnbench ARGS...: one `run`, rows appended to $ab_csv
  "$ATTNBENCH" run "$@" --causal --threads "$threads" --reps "$reps" --accuracy-rows 32 \
    --out "$ab_csv" >>"$log" 2>&1 || warn "attnbench run $* failed"
}
mem_available_kib() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }

IFS=, read -r -a prefill_lens <<<"$seq_lens"
for n in "${prefill_lens[@]}"; do
  shape=(--seq-len "$n" --heads 8 --head-dim 64)
  say "prefill N=$n: attnbench flash + dense (fp32), flash (bf16)"
  attnbench --variant flash --variant dense "${shape[@]}"
  attnbench --variant flash --dtype bf16 "${shape[@]}"
  for kv in f32 f16; do
    say "prefill N=$n: ggml flash_attn_ext, K/V $kv"
    "$GGML_DRIVER" "${shape[@]}" --kv-type "$kv" --threads "$threads" --reps "$reps" \
      >>"$raw" 2>>"$log" || warn "ggml K/V $kv at N=$n failed"
  done
  # PyTorch holds 2 · H · N² fp32 scores at once (16 GiB at 16K): skip it where they do not fit.
  torch_bytes=$((2 * 8 * n * n * 4 + n * n))
  if ((torch_bytes / 1024 > $(mem_available_kib) * 9 / 10)); then
    say "prefill N=$n: PyTorch skipped (needs $((torch_bytes >> 30)) GiB)"
    echo "torch_matmul_softmax,fp32,fp32,1,8,8,$n,$n,64,1,$threads,0,,,,skipped: needs $((torch_bytes >> 30)) GiB of scores" >>"$raw"
  else
    say "prefill N=$n: PyTorch matmul-softmax"
    "$PYTHON" "$PEERS/torch_attention.py" --seq-len "$n" --heads 8 --head-dim 64 --causal \
      --threads "$threads" --reps "$reps" 2>>"$log" |
      awk -F, -v n="$n" -v t="$threads" -v r="$reps" 'NR > 1 {
        print $1 ",fp32,fp32,1,8,8," n "," n ",64,1," t "," r "," $4 "," $5 "," $6 ",ok" }' >>"$raw" ||
      warn "PyTorch at N=$n failed"
  fi
  for dt in f32 bf16; do
    say "prefill N=$n: oneDNN matmul-softmax-matmul ($dt)"
    "$ONEDNN_DRIVER" "${shape[@]}" --dtype "$dt" --threads "$threads" --reps "$reps" \
      >>"$raw" 2>>"$log" || warn "oneDNN $dt at N=$n failed"
  done
done

if ((decode_len > 0)); then
  n=$decode_len
  shape=(--seq-len "$n" --query-len 1 --heads 32 --kv-heads 8 --head-dim 128)
  say "decode M=1 N=$n H=32/KV=8 D=128: attnbench flash + dense (fp32), flash (bf16)"
  attnbench --variant flash --variant dense "${shape[@]}"
  attnbench --variant flash --dtype bf16 "${shape[@]}"
  for kv in f32 f16; do
    say "decode N=$n: ggml flash_attn_ext, K/V $kv"
    "$GGML_DRIVER" "${shape[@]}" --kv-type "$kv" --threads "$threads" --reps "$reps" \
      >>"$raw" 2>>"$log" || warn "ggml decode K/V $kv failed"
  done
  say "decode N=$n: PyTorch grouped and repeat_kv"
  "$PYTHON" "$PEERS/torch_decode.py" --seq-len "$n" --head-dim 128 --heads 32 --kv-heads 8 \
    --threads "$threads" --reps "$reps" 2>>"$log" |
    awk -F, -v t="$threads" -v r="$reps" 'NR > 1 {
      print $1 ",fp32,fp32,1,32,8," $2 ",1," $3 ",1," t "," r "," $5 "," $6 "," $7 ",ok" }' >>"$raw" ||
    warn "PyTorch decode failed"
  for dt in f32 bf16; do
    say "decode N=$n: oneDNN matmul-softmax-matmul ($dt)"
    "$ONEDNN_DRIVER" "${shape[@]}" --dtype "$dt" --threads "$threads" --reps "$reps" \
      >>"$raw" 2>>"$log" || warn "oneDNN decode $dt failed"
  done
fi

# ---- the rows and the ratios ---------------------------------------------------------------
torch_version=$("$PYTHON" -c 'import torch; print(torch.__version__)')
onednn_version=$("$ONEDNN_DRIVER" --version)
"$PYTHON" "$PEERS/report.py" --raw "$raw" --attnbench "$ab_csv" --out "$out" \
  --versions "ggml=$ggml_version,torch=$torch_version,onednn=$onednn_version" \
  --command "bash results/peers/run.sh${args_text:+ $args_text}"
say "rows: $out; tables: ${out%.csv}.md; log: $log"
