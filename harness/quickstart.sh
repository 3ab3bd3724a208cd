#!/usr/bin/env bash
# The README's first command: install what is missing, build in Release, run the default sweep
# (results/default.cfg) into results/latest/default.csv, draw its figures into
# results/latest/default/ and write the report results/latest/default.html. results/latest/ is
# ignored by git, so the clone stays clean; the committed runs live in results/reference/.
set -euo pipefail
cd "$(dirname "$0")/.."

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
build/release/attnbench sweep --config results/default.cfg --out "$out" --plot --report "$report"
echo "report: $(pwd)/$report"
