#!/usr/bin/env bash
# The README's first command: install what is missing, build in Release, run the default sweep
# (results/default.cfg) into results/latest/default.csv, draw its figures into
# results/latest/default/ and write the report results/latest/default.html. results/latest/ is
# ignored by git, so the clone stays clean; the committed runs live in results/reference/.
#
#   bash harness/quickstart.sh           the default sweep (about 90 s of measurement on 2 cores)
#   bash harness/quickstart.sh --smoke   the same install, build, figures and report, but the
#                                        sweep cut to one tiny point (N=256, H=2) for every
#                                        variant: the fresh-machine test uses it
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=()
case ${1:-} in
  "") ;;
  --smoke) smoke=(--seq-len 256 --heads 2 --input local --reps 1 --min-time 0.01) ;;
  *)
    echo "quickstart.sh: unknown option '$1'; allowed: --smoke (one tiny point), or nothing" >&2
    exit 2
    ;;
esac

harness/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target attnbench

mkdir -p results/latest
out=results/latest/default.csv
if [ -s "$out" ]; then
  # Keep the previous run rather than appending a second one to it.
  old="results/latest/default-$(date -u -r "$out" +%Y%m%dT%H%M%SZ).csv"
  mv "$out" "$old"
  echo "previous results moved to $old" >&2
fi
report=results/latest/default.html
build/release/attnbench sweep --config results/default.cfg "${smoke[@]}" --out "$out" --plot \
  --report "$report"
echo "report: $(pwd)/$report"
