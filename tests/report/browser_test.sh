#!/usr/bin/env bash
# Opens the report of a small sweep in headless Chromium (Debian's chromium and chromium-driver,
# driven by python3-selenium) and checks it as a reader would see it: no console errors, nothing
# fetched, one results row per CSV row, sorting by time_ms orders the rows, every figure
# decodes, and a screenshot that is not blank. About a minute once the packages are installed.
# Usage: tests/report/browser_test.sh [BUILD_DIR]   (default build/release)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/release}
packages=(chromium chromium-driver python3-selenium)

have_all() {
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 1
  done
}
if ! have_all; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  if ! { $sudo apt-get update -qq && \
         $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }; then
    echo "SKIPPED: the report browser test (could not install ${packages[*]} with apt-get)" >&2
    exit 0
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Two variants that finish and one that is skipped above N=256 (its 2 MiB score matrix is over
# --memory-limit), on two inputs: 12 rows, 2 of them skipped, in a few seconds.
"$build/attnbench" sweep --variant flash --variant sliding_window:left=32,right=32 --variant dense \
  --seq-len 256,512 --input gaussian,local --heads 2 --head-dim 32 --threads 1 --reps 3 \
  --min-time 0.01 --accuracy-rows 32 --memory-limit 1M \
  --out "$work/small.csv" --report "$work/small.html"
/usr/bin/python3 tests/report/browser_check.py "$work/small.html" "$work/small.csv" \
  --screenshot "$work/screenshot.png"
