#!/usr/bin/env bash
# The 2025 prefill methods' reference run: results/reference/methods-2025/prefill.cfg (xattention,
# flexprefill and dsa at three budgets beside flash, the topk frontier and two 2024 methods, on
# three inputs), resuming where it stopped, merged into results/reference/methods-2025.csv and
# plotted into results/reference/methods-2025/ (the matched-density figures among them), with the
# HTML report beside the CSV.
#
# The same study on tensors captured from a real model (tools/capture_qkv.py, docs/inputs.md):
#   bash results/methods-2025.sh --input safetensors:caps,layer=15,heads=0-7 [--scale S]
#        [--out results/captured/layer15]
# runs the same variants over the captured Q, K and V (their shape replaces prefill.cfg's 16K,
# 4/1 heads, D = 64; --scale is the model's, as the capture script prints it) into OUT.csv,
# OUT/ (figures) and OUT.html.
set -euo pipefail
cd "$(dirname "$0")/.."
source results/study.sh

study=results/reference/methods-2025
input="" scale="" out=results/captured/methods-2025
while [ $# -gt 0 ]; do
  case $1 in
    --input) input=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "methods-2025.sh: unknown argument '$1'; allowed: --input INPUT, --scale S, --out PATH" >&2
       exit 2 ;;
  esac
done
cmake --preset release >/dev/null
cmake --build --preset release --target attnbench
if [ -n "$input" ]; then
  # The captured tensors fix the shape: prefill.cfg's shape and input lines give way to them.
  mkdir -p "$out"
  { grep -vE '^(seq-len|heads|kv-heads|head-dim|input) *=' "$study/prefill.cfg"
    echo "input = $input"
    [ -z "$scale" ] || echo "scale = $scale"; } >"$out/prefill.cfg"
  study=$out
fi
run_study "$study" prefill
build/release/attnbench report "$study.csv" --out "$study.html"
