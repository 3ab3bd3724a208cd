#!/usr/bin/env bash
# The query-aware reference run: results/reference/query-aware/prefill.cfg, prefill-64k.cfg and
# decode.cfg, each resuming where it stopped, merged into results/reference/query-aware.csv and
# plotted into results/reference/query-aware/ (the matched-density figures among them), with the
# HTML report beside the CSV. About 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source results/study.sh

study=results/reference/query-aware
cmake --preset release >/dev/null
cmake --build --preset release --target attnbench
run_study "$study" prefill prefill-64k decode
build/release/attnbench report "$study.csv" --out "$study.html"
