#!/usr/bin/env bash
# The README's second command: install what is missing, build with warnings as errors, run every
# test (ctest: the GoogleTest suite and the plot script's tests; then the report in headless
# Chromium, tests/report/browser_test.sh, and a sharded sweep on a real single-node Slurm,
# tests/slurm/end_to_end.sh, about 30 s each), then the whole suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer and under ThreadSanitizer (against a oneTBB that
# tests/run-sanitizers.sh builds with TSan from Debian's source, once), and each fuzz target for
# a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."

# clang and its runtime build the libFuzzer targets; llvm symbolises sanitizer reports.
harness/install-deps.sh clang libclang-rt-dev llvm
cmake --preset ci >/dev/null
cmake --build --preset ci
ctest --preset ci -j2
# The HTML report of a small sweep, opened in headless Chromium (installs chromium if missing).
tests/report/browser_test.sh build/ci
# A sharded sweep through a real single-node Slurm (SKIPPED where its packages cannot be installed).
tests/slurm/end_to_end.sh build/ci/attnbench
tests/run-sanitizers.sh asan tsan fuzz
