#!/usr/bin/env bash
# The README's second command: install what is missing, build with warnings as errors, run every
# test (ctest: the GoogleTest suite, the plot script's tests and the capture script's round trip
# through attnbench; then the report in headless Chromium, tests/report/browser_test.sh, and a
# sharded sweep on a real single-node Slurm, tests/slurm/end_to_end.sh), the README's first command on a bare Debian 12 root built from the
# archive (tests/fresh-machine/run.sh), then the whole suite again under AddressSanitizer +
# UndefinedBehaviorSanitizer and under ThreadSanitizer (against a oneTBB that
# tests/run-sanitizers.sh builds with TSan from Debian's source, once), and each fuzz target for
# a bounded time. Every build compiles through ccache with its cache outside the clone
# (tests/compiler-cache.sh). It ends with the time each step took.
set -euo pipefail
cd "$(dirname "$0")/.."

steps=()
step() {
  local name=$1 start=$SECONDS
  shift
  echo "== $(date +%H:%M:%S) step: $name"
  "$@"
  steps+=("$(printf '%5d s  %s' $((SECONDS - start)) "$name")")
}

# clang and its runtime build the libFuzzer targets; llvm symbolises sanitizer reports; ccache
# keeps the builds of a second run short; debootstrap builds the fresh-machine test's root.
step "install" harness/install-deps.sh clang libclang-rt-dev llvm ccache debootstrap
# PyTorch for the capture round trip (tests/capture), apart: where it cannot be installed that
# test alone is SKIPPED.
step "install python3-torch" bash -c 'harness/install-deps.sh python3-torch ||
  echo "SKIPPED: python3-torch cannot be installed here; capture.round_trip will be skipped"'
source tests/compiler-cache.sh
# The first command on a bare Debian root (SKIPPED where the root cannot be built) runs in the
# background beside the build and the Release tests: most of its time is apt's downloads and
# dpkg's unpacking, which leave the cores idle.
fresh_log=$(mktemp /tmp/attn-fresh-machine.XXXXXX.log)
fresh_start=$SECONDS
tests/fresh-machine/run.sh >"$fresh_log" 2>&1 &
fresh_pid=$!
step "configure (ci)" cmake --preset ci
step "build (ci, -Werror)" cmake --build --preset ci
step "ctest (Release)" ctest --preset ci -j2
# The HTML report of a small sweep, opened in headless Chromium (installs chromium if missing).
step "report in Chromium" tests/report/browser_test.sh build/ci
# A sharded sweep through a real single-node Slurm (SKIPPED where its packages cannot be installed).
step "Slurm end to end" tests/slurm/end_to_end.sh build/ci/attnbench
echo "== $(date +%H:%M:%S) waiting for the fresh-machine test (log: $fresh_log)"
if ! wait "$fresh_pid"; then
  cat "$fresh_log"
  echo "the fresh-machine test failed" >&2
  exit 1
fi
cat "$fresh_log"
steps+=("$(printf '%5d s  %s' $((SECONDS - fresh_start)) "fresh machine (beside the steps above)")")
step "ASan+UBSan" tests/run-sanitizers.sh asan
step "TSan" tests/run-sanitizers.sh tsan
step "fuzz" tests/run-sanitizers.sh fuzz

echo "== time per step (total $((SECONDS / 60)) min $((SECONDS % 60)) s)"
printf '%s\n' "${steps[@]}"
command -v ccache >/dev/null && [[ -z ${ATTN_NO_CCACHE:-} ]] && ccache --show-stats | grep -E 'Hits|Misses' | head -3
echo "every step passed"
