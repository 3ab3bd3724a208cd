#!/usr/bin/env bash
# The committed copy of the default sweep (results/default.cfg) that the README quotes:
# rewrites results/reference/default.csv and its figures in results/reference/default/. The
# README's first command (harness/quickstart.sh) runs the same sweep into the untracked
# results/latest/ instead, with its report. About a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

study=results/reference/default
cmake --preset release >/dev/null
cmake --build --preset release --target attnbench
rm -f "$study.csv"
build/release/attnbench sweep --config results/default.cfg --out "$study.csv" --plot
