#!/usr/bin/env bash
# The query-aware reference run: results/reference/query-aware/prefill.cfg, prefill-64k.cfg and
# decode.cfg, each resuming where it stopped, merged into results/reference/query-aware.csv and
# plotted into results/reference/query-aware/ (the matched-density figures among them), with the
# HTML report beside the CSV. About 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

study=results/reference/query-aware
cmake --preset release >/dev/null
cmake --build --preset release --target attnbench
parts=(prefill prefill-64k decode)
for part in "${parts[@]}"; do
  build/release/attnbench sweep --config "$study/$part.cfg" --out "$study/$part.csv" --resume
done
rm -f "$study.csv"
csvs=()
for part in "${parts[@]}"; do csvs+=("$study/$part.csv"); done
build/release/attnbench merge "${csvs[@]}" --out "$study.csv"
python=/usr/bin/python3  # Debian's, which has matplotlib
[ -x "$python" ] || python=python3
"$python" plots/plot_results.py "$study.csv"
build/release/attnbench report "$study.csv" --out "$study.html"
