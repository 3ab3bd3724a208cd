#!/usr/bin/env bash
# Sanitizer CI: the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer, the
# test suite under ThreadSanitizer (the registry at each variant's default spec: not_tsan below),
# then each libFuzzer target for a bounded time.
#
#   tests/run-sanitizers.sh            asan, tsan and fuzz
#   tests/run-sanitizers.sh asan tsan  only the named steps (asan, tsan, fuzz)
#
# The tsan step links against a oneTBB built here with -fsanitize=thread from Debian's source
# package of the same library: TSan only sees synchronisation in instrumented code, and with
# Debian's uninstrumented libtbb every hand-over of data between a TBB task and its caller is
# reported as a race (hundreds of reports, no narrow suppression separates them from real ones).
# The first run adds a deb-src entry for the Debian archive if none is configured (root or
# sudo), fetches the source and builds only libtbb (under a minute on 2 cores); later runs reuse
# build/tsan-onetbb.
#
# Each step has its own build directory under build/ (ATTN_SANITIZER_BUILD_ROOT overrides).
# Environment: ATTN_JOBS (build jobs, default 2), ATTN_FUZZ_SECONDS (per fuzz target, default
# 25: a bounded 100 s in all), ATTN_FUZZ_CORPUS (default /var/cache/attnbench/fuzz-corpus, or
# ~/.cache/attnbench-fuzz-corpus when /var/cache is not writable: outside the clone, so each run
# starts from what earlier runs found). Suppressions live in tests/sanitizers/, each with its
# reason.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_root=${ATTN_SANITIZER_BUILD_ROOT:-$root/build}
jobs=${ATTN_JOBS:-2}
fuzz_seconds=${ATTN_FUZZ_SECONDS:-25}
suppressions=$root/tests/sanitizers
if [[ -w /var/cache ]]; then
  corpus_root=${ATTN_FUZZ_CORPUS:-/var/cache/attnbench/fuzz-corpus}
else
  corpus_root=${ATTN_FUZZ_CORPUS:-${XDG_CACHE_HOME:-$HOME/.cache}/attnbench-fuzz-corpus}
fi
# shellcheck source=tests/compiler-cache.sh
source "$root/tests/compiler-cache.sh"

log() { printf '== %s: %s\n' "$(date +%H:%M:%S)" "$*"; }

# configure_and_build DIR CXX TARGETS [cmake args...]; TARGETS is "all" or a space-separated list
configure_and_build() {
  local dir=$1 cxx=$2 targets=$3
  shift 3
  # -g1 (line tables, no variable info): the sanitizer reports keep file and line, and the
  # builds compile about a fifth faster than with -g.
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_CXX_COMPILER="$cxx" "$@" >/dev/null
  # shellcheck disable=SC2086 # the target list splits on purpose
  cmake --build "$dir" -j "$jobs" --target $targets
}

# The plot script's and the capture script's tests are Python: no sanitizer sees them, and the
# Release run has them.
not_cxx='^(plots|capture)\.'
# The registry's test of every variant with the kernel path forced to scalar is the Release
# run's: under ASan it would add minutes for what the kernel tests on that path already show.
not_asan="$not_cxx|^scalar:Registry/"
# The TSan and fuzz builds compile the kernels for the baseline target only (they test races and
# parsing; the Release and ASan runs cover every kernel path), so the forced paths are not there.
# TSan takes the registry's cases (variants and decode sessions) at each variant's default
# spec: the specs with parameters (instance names ending in _<number>) move a variant's edges,
# not its threading, which the engine and the bases share; the Release and ASan runs take them
# all.
not_tsan="$not_cxx|^(scalar|sse4):|^Registry/Every(Variant|Session)\.[A-Za-z0-9]+/[a-z0-9_]*_[0-9]"

# ASan + UBSan over every test, with GCC (the compiler of the normal build).
run_asan() {
  local dir=$build_root/sanitize-address
  log "ASan+UBSan build in $dir"
  # Built for any x86-64 (no -march=native): the suite passes as one portable binary whose
  # kernels pick their SIMD path at run time.
  configure_and_build "$dir" g++ all -DATTN_SANITIZE=address,undefined -DATTN_WERROR=ON \
    -DATTN_NATIVE=OFF
  log "ASan+UBSan: ctest"
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 900 --exclude-regex "$not_asan"
}

# oneTBB built with -fsanitize=thread (see the top of this file), cached under the build root.
tbb_cache=$build_root/tsan-onetbb
tbb_install=$tbb_cache/install
tbb_package=libtbb-dev  # a binary package; apt maps it to its source package (onetbb)
deb_src_file=/etc/apt/sources.list.d/attn-deb-src.sources

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# grep without -q reads all its input: an early exit would fail the pipe (pipefail, SIGPIPE).
have_tbb_source() { apt-cache showsrc "$tbb_package" 2>/dev/null | grep '^Version:' >/dev/null; }

# A deb-src entry in either format: deb822 (*.sources) or one-line (sources.list, *.list).
deb_src_configured() {
  local apt=/etc/apt deb822='^[[:space:]]*Types:(.*[[:space:]])?deb-src([[:space:]]|$)'
  grep -qsE "$deb822" "$apt"/sources.list.d/*.sources ||
    grep -qsE '^[[:space:]]*deb-src[[:space:]]' "$apt"/sources.list "$apt"/sources.list.d/*.list
}

# The enabled deb822 "deb" entries of this release's suites (bookworm, bookworm-updates,
# bookworm-security), main only, restated as deb-src: the same mirrors and keys as the binaries.
deb_src_entries() {
  local codename
  codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
  awk -v codename="$codename" '
    BEGIN { RS = ""; FS = "\n" }
    {
      delete f; key = ""
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^#/) continue
        if ($i ~ /^[ \t]/) { if (key != "") f[key] = f[key] "\n" $i; continue }
        key = tolower(substr($i, 1, index($i, ":") - 1))
        f[key] = substr($i, index($i, ":") + 1)
        sub(/^[ \t]+/, "", f[key]); sub(/[ \t]+$/, "", f[key])
      }
      if (tolower(f["enabled"]) == "no" || (" " f["types"] " ") !~ / deb / ||
          (" " f["components"] " ") !~ / main /) next
      n = split(f["suites"], all, /[ \t]+/); suites = ""
      for (i = 1; i <= n; i++)
        if (all[i] == codename || index(all[i], codename "-") == 1) suites = suites " " all[i]
      if (suites == "") next
      printf "%sTypes: deb-src\nURIs: %s\nSuites:%s\nComponents: main\n", sep, f["uris"], suites
      if ("signed-by" in f)  # a key block continues on the next lines
        printf "Signed-By:%s%s\n", (f["signed-by"] ~ /^\n/ ? "" : " "), f["signed-by"]
      sep = "\n"
    }' /etc/apt/sources.list.d/*.sources
}

# apt-get source needs a deb-src entry, which a default Debian install lacks.
ensure_tbb_source_index() {
  have_tbb_source && return 0
  if ! deb_src_configured; then
    local entries
    entries=$(deb_src_entries)
    if [[ -z $entries ]]; then
      echo "no deb-src entry configured and no deb822 'deb' entry for this release to derive" \
        "one from; add a deb-src entry for Debian's main archive" >&2
      return 1
    fi
    log "adding $deb_src_file"
    printf '# Source packages for tests/run-sanitizers.sh (oneTBB for the tsan step).\n%s\n' \
      "$entries" | as_root tee "$deb_src_file" >/dev/null
  fi
  log "apt-get update (source index)"
  as_root apt-get update -qq
  if ! have_tbb_source; then
    echo "apt-cache showsrc $tbb_package finds nothing: no deb-src entry covers Debian's main" \
      "archive (write one, or remove the others and rerun to get $deb_src_file)" >&2
    return 1
  fi
}

# Debian's source of the packaged oneTBB, unpacked with Debian's patches applied.
fetch_tbb_source() {
  local src=$tbb_cache/src
  [[ -f $src/CMakeLists.txt ]] && return 0
  "$root/harness/install-deps.sh" dpkg-dev  # dpkg-source unpacks the package
  ensure_tbb_source_index
  rm -rf "$tbb_cache/download" "$src.tmp"
  mkdir -p "$tbb_cache/download"
  log "downloading the source of $tbb_package"
  # As root apt notes that it downloads unsandboxed (the directory is not _apt's); it still checks
  # each file against the signed Sources index, so dpkg-source's warning that it cannot verify
  # the .dsc's own signature (no debian-keyring) is expected too.
  (cd "$tbb_cache/download" && apt-get source --download-only -qq "$tbb_package")
  local dsc=("$tbb_cache"/download/*.dsc)
  dpkg-source --no-copy -x "${dsc[0]}" "$src.tmp" >/dev/null
  mv "$src.tmp" "$src"
}

# Only libtbb (no tbbmalloc, tbbbind, tests or examples): the project links TBB::tbb alone.
# TBB_STRICT (-Werror) is off for a third-party build. -Wno-tsan: GCC notes each seq_cst fence,
# which TSan does not model; oneTBB's (concurrent_monitor) prevent lost wake-ups, and the data
# they guard is ordered by a mutex that TSan sees.
build_tsan_tbb() {
  if [[ -f $tbb_install/.complete ]]; then
    log "reusing the TSan-built oneTBB in $tbb_install"
    return 0
  fi
  fetch_tbb_source
  log "building oneTBB with -fsanitize=thread in $tbb_cache"
  rm -rf "$tbb_install"
  cmake -S "$tbb_cache/src" -B "$tbb_cache/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_FLAGS='-fno-omit-frame-pointer -Wno-tsan' \
    -DCMAKE_INSTALL_PREFIX="$tbb_install" -DCMAKE_INSTALL_LIBDIR=lib -DTBB_SANITIZE=thread \
    -DTBB_TEST=OFF -DTBB_EXAMPLES=OFF -DTBBMALLOC_BUILD=OFF -DTBB_STRICT=OFF \
    -DTBB_DISABLE_HWLOC_AUTOMATIC_SEARCH=ON >/dev/null
  cmake --build "$tbb_cache/build" -j "$jobs"
  cmake --install "$tbb_cache/build" >/dev/null
  touch "$tbb_install/.complete"
}

# Fails unless libtbb is instrumented and each binary loads it: a fallback to Debian's library,
# at build or at run time, would bring the false reports back.
check_tsan_tbb() {
  local binary lib
  if [[ $(nm -D --undefined-only "$tbb_install/lib/libtbb.so") != *__tsan_func_entry* ]]; then
    echo "$tbb_install/lib/libtbb.so is not built with -fsanitize=thread" >&2
    return 1
  fi
  for binary in "$@"; do
    lib=$(ldd "$binary" | awk '$1 ~ /^libtbb\.so/ { print $3 }')
    if [[ $(realpath -m "$lib") != "$(realpath "$tbb_install/lib")"/* ]]; then
      echo "$binary loads libtbb from '${lib:-nowhere}', not the TSan-built $tbb_install/lib" >&2
      return 1
    fi
  done
  log "libtbb: $lib"
}

# TSan over the whole ctest suite, the tests that run the attnbench binary and the registry cases
# (serving shapes and example specs; both sanitizer runs skip those of N >= 1000 but decode, whose
# paths the smaller cases take too: runs_registry_case in tests/support/test_support.hpp). A
# one-worker forward has nothing to race with, so under TSan the registry checks each case at 2
# workers, and against fp64 on every third row; the Release run checks every case, both counts
# and every row.
run_tsan() {
  local dir=$build_root/sanitize-thread
  build_tsan_tbb
  log "TSan build in $dir"
  configure_and_build "$dir" g++ "attnbench attnbench_tests" -DATTN_SANITIZE=thread \
    -DATTN_WERROR=ON -DATTN_KERNELS_ALL_TARGETS=OFF -DTBB_DIR="$tbb_install/lib/cmake/TBB"
  check_tsan_tbb "$dir/attnbench_tests" "$dir/attnbench"
  log "TSan: ctest"
  TSAN_OPTIONS="suppressions=$suppressions/tsan.supp:halt_on_error=1:second_deadlock_stack=1" \
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 900 --exclude-regex "$not_tsan"
}

# Each libFuzzer target for ATTN_FUZZ_SECONDS, from a seed corpus, with ASan and UBSan.
run_fuzz() {
  local dir=$build_root/fuzz
  log "fuzz build in $dir"
  # clang only for libFuzzer; warnings are checked by the GCC builds.
  configure_and_build "$dir" clang++ "attnbench spec_fuzz npy_fuzz safetensors_fuzz csv_fuzz" -DATTN_FUZZ=ON -DATTN_BUILD_TESTS=OFF \
    -DATTN_SANITIZE=address,undefined -DATTN_WERROR=OFF -DATTN_KERNELS_ALL_TARGETS=OFF
  "$root/tests/fuzz/make-seeds.sh" "$dir/seeds" "$dir/attnbench"
  local target output
  for target in spec npy safetensors csv; do
    log "fuzzing $target for ${fuzz_seconds}s"
    mkdir -p "$corpus_root/$target"
    output=$dir/fuzz-$target.log
    # Leaks are off: libFuzzer's per-input leak check flags the registry's lazily built,
    # process-lifetime state; the ASan+UBSan step checks leaks over the whole suite.
    if ! ASAN_OPTIONS="detect_leaks=0" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
      "$dir/${target}_fuzz" "$corpus_root/$target" "$dir/seeds/$target" \
      -max_total_time="$fuzz_seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$dir/crash-$target-" -print_final_stats=1 >"$output" 2>&1; then
      tail -n 80 "$output"
      echo "fuzz target $target failed; the input is in $dir/crash-$target-*" >&2
      return 1
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^Done' "$output" || true
  done
}

steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(asan tsan fuzz)
start=$SECONDS
for step in "${steps[@]}"; do
  case $step in
    asan) run_asan ;;
    tsan) run_tsan ;;
    fuzz) run_fuzz ;;
    *)
      echo "unknown step '$step'; steps: asan, tsan, fuzz" >&2
      exit 2
      ;;
  esac
done
log "sanitizer steps (${steps[*]}) passed in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
