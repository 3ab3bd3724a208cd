#!/usr/bin/env bash
# The 2025 prefill methods' reference run: results/reference/methods-2025/prefill.cfg (xattention,
# flexprefill and dsa at three budgets beside flash, the topk frontier and two 2024 methods, on
# three inputs), resuming where it stopped, merged into results/reference/methods-2025.csv and
# plotted into results/reference/methods-2025/ (the matched-density figures among them), with the
# HTML report beside the CSV.
set -euo pipefail
cd "$(dirname "$0")/.."
source results/study.sh

study=results/reference/methods-2025
cmake --preset release >/dev/null
cmake --build --preset release --target attnbench
run_study "$study" prefill
build/release/attnbench report "$study.csv" --out "$study.html"
