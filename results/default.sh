#!/usr/bin/env bash
# The committed copy of the default sweep (results/default.cfg) that the README quotes:
# rewrites results/reference/default.csv, its figures in results/reference/default/ and its
# report, results/reference/default.html. The README's first command (harness/quickstart.sh)
# runs the same sweep into the untracked results/latest/ instead. About a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

study=results/reference/default
cmake --preset release >/dev/null
cmake --build --preset release --target attnbench
rm -f "$study.csv"
build/release/attnbench sweep --config results/default.cfg --out "$study.csv" --plot \
  --report "$study.html"
