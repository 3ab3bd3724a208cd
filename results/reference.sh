#!/usr/bin/env bash
# The reference run: every variant, dense and flash to 64K, the sparse ones to 1M, on gaussian,
# local and clustered inputs, 1 and 2 threads, in five sweeps (results/reference/reference/*.cfg,
# one per range of N and thread count, as the repetitions and the accuracy sample differ), and the
# precision axis in two more (every variant in fp32 and bf16 at 4K and 16K; decode with an fp32
# and a bf16 KV cache at 128K and 1M). Each part resumes where it stopped; the parts are then
# merged into results/reference/reference.csv and plotted into results/reference/reference/.
# About 1 hour on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source results/study.sh

study=results/reference/reference
cmake --preset release >/dev/null
cmake --build --preset release --target attnbench
run_study "$study" short exact-long sparse-long exact-long-1thread sparse-long-1thread precision precision-decode
