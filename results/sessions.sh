#!/usr/bin/env bash
# The decode-session reference run: results/reference/sessions/16k.cfg and 64k.cfg (256 steps over
# caches of 16K and 64K tokens, every stateful and eviction method at two budgets, fp32 and bf16 and
# int8 caches), each resuming where it stopped, merged into results/reference/sessions.csv and
# plotted into results/reference/sessions/, with the HTML report beside the CSV. About 7 minutes on
# 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source results/study.sh

study=results/reference/sessions
cmake --preset release >/dev/null
cmake --build --preset release --target attnbench
run_study "$study" 16k 64k
build/release/attnbench report "$study.csv" --out "$study.html"
