#!/usr/bin/env bash
# The serving-shapes reference run: results/decode.cfg and results/decode-long.cfg, each resuming
# where it stopped, merged into results/serving.csv and plotted into results/serving/ with the
# machine's read-only streaming bandwidth (attnbench_micro's BM_MemoryReadOnly, measured first
# in the same session) as the decode ceiling. About 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset release >/dev/null
cmake --build --preset release --target attnbench attnbench_micro
bandwidth=$(build/release/attnbench_micro --benchmark_filter='BM_MemoryReadOnly/real_time/threads:2' \
              --benchmark_format=csv 2>/dev/null |
            awk -F, '/BM_MemoryReadOnly/ { print $NF }')  # the GB/s counter, the last column
echo "read-only streaming bandwidth: $bandwidth GB/s" >&2
parts=(decode decode-long)
for part in "${parts[@]}"; do
  build/release/attnbench sweep --config "results/$part.cfg" --out "results/serving/$part.csv" --resume
done
rm -f results/serving.csv
build/release/attnbench merge results/serving/decode.csv results/serving/decode-long.csv \
  --out results/serving.csv
python=/usr/bin/python3  # Debian's, which has matplotlib
[ -x "$python" ] || python=python3
"$python" plots/plot_results.py results/serving.csv --read-bandwidth "$bandwidth"
