#!/usr/bin/env bash
# Submits a sweep to Slurm as a job array, one task per shard, and a merge job after it.
#   harness/slurm/submit.sh CONFIG N OUTDIR [INDICES [SWEEP OPTIONS...]]
# CONFIG: the sweep's config file (attnbench sweep --config); N: the number of shards; OUTDIR:
# where shard-I-of-N.csv, all.csv and logs/ go (on a file system every node sees). INDICES: the
# shards to (re)submit, in sbatch --array syntax (default 0-(N-1)), e.g. 3 or 1,5-7 after a
# failure; a resubmitted shard resumes its CSV. Environment: ATTNBENCH (the binary; default
# build/release/attnbench of this checkout), ATTN_ARRAY_THROTTLE (at most this many tasks at
# once, sbatch's %K; default 16), ATTN_SBATCH_OPTIONS (extra sbatch options for both jobs, e.g.
# "--partition=cpu --time=12:00:00"). Prints the two job ids.
set -euo pipefail

if [[ $# -lt 3 ]]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
config=$1 shards=$2 outdir=$3
indices=${4:-0-$((shards - 1))}
shift $(( $# < 4 ? $# : 4 ))
here=$(cd "$(dirname "$0")" && pwd)
attnbench=${ATTNBENCH:-${here}/../../build/release/attnbench}
attnbench=$(realpath "$attnbench")
throttle=${ATTN_ARRAY_THROTTLE:-16}
read -r -a extra <<<"${ATTN_SBATCH_OPTIONS:-}"

[[ -f "$config" ]] || { echo "submit.sh: no config file '$config'" >&2; exit 2; }
config=$(realpath "$config")
mkdir -p "${outdir}/logs"
outdir=$(realpath "$outdir")
# Checks the config and the shard count before anything is queued; the plan is kept beside.
"$attnbench" sweep --config "$config" --num-shards "$shards" --plan "$@" >"${outdir}/plan.txt"

export ATTNBENCH="$attnbench"
array=$(sbatch --parsable "${extra[@]}" --array="${indices}%${throttle}" \
  --output="${outdir}/logs/sweep-%A_%a.out" \
  "${here}/sweep.sbatch" "$config" "$shards" "$outdir" "$@")
array=${array%%;*}
merge=$(sbatch --parsable "${extra[@]}" --dependency="afterany:${array}" \
  --output="${outdir}/logs/merge-%j.out" "${here}/merge.sbatch" "$config" "$shards" "$outdir")
merge=${merge%%;*}
echo "array job ${array}: shards ${indices} of ${shards}, at most ${throttle} at once"
echo "merge job ${merge}: after the array ends, status then merge into ${outdir}/all.csv"
echo "follow with: squeue -j ${array},${merge}; results: cat ${outdir}/logs/merge-${merge}.out"
