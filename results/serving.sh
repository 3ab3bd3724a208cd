#!/usr/bin/env bash
# The serving-shapes reference run: results/reference/serving/decode.cfg and decode-long.cfg,
# each resuming where it stopped, merged into results/reference/serving.csv and plotted into
# results/reference/serving/ with the machine's read-only streaming bandwidth (attnbench_micro's
# BM_MemoryReadOnly, measured first in the same session) as the decode ceiling. About 15 minutes
# on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source results/study.sh

study=results/reference/serving
cmake --preset release >/dev/null
cmake --build --preset release --target attnbench attnbench_micro
bandwidth=$(build/release/attnbench_micro --benchmark_filter='BM_MemoryReadOnly/real_time/threads:2' \
              --benchmark_format=csv 2>/dev/null |
            awk -F, '/BM_MemoryReadOnly/ { print $NF }')  # the GB/s counter, the last column
echo "read-only streaming bandwidth: $bandwidth GB/s" >&2
PLOT_ARGS=(--read-bandwidth "$bandwidth")
run_study "$study" decode decode-long
