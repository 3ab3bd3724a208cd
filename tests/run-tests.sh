#!/usr/bin/env bash
# The README's second command: install what is missing, build with warnings as errors, and run
# every test (ctest runs the GoogleTest suite and the plot script's tests).
set -euo pipefail
cd "$(dirname "$0")/.."

harness/install-deps.sh
cmake --preset ci >/dev/null
cmake --build --preset ci
ctest --preset ci -j2
