#!/usr/bin/env bash
# The README's first command: install what is missing, build in Release, run the default sweep
# (results/default.cfg) into results/default.csv and draw its plots into results/default/.
set -euo pipefail
cd "$(dirname "$0")/.."

harness/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target attnbench

out=results/default.csv
if [ -s "$out" ]; then
  # Keep the previous run rather than appending a second one to it.
  old="results/default-$(date -u -r "$out" +%Y%m%dT%H%M%SZ).csv"
  mv "$out" "$old"
  echo "previous results moved to $old" >&2
fi
build/release/attnbench sweep --config results/default.cfg --out "$out" --plot
