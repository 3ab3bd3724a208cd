#!/usr/bin/env bash
# Installs the Debian packages the suite needs, only those missing (through sudo when not root).
# Usage: harness/install-deps.sh [extra packages...]
# Packages install without their Recommends, so whatever a package's CMake config needs is listed
# here by name: ocl-icd-opencl-dev for oneDNN's dnnl-config.cmake (find_package(OpenCL)).
# tests/fresh-machine/run.sh runs the first command in a bare Debian root to keep this list whole.
set -euo pipefail

packages=(cmake ninja-build g++ pkg-config git
          libopenblas-dev libtbb-dev libbenchmark-dev libboost-program-options-dev
          libfccp-dev libgtest-dev libhwy-dev libdnnl-dev ocl-icd-opencl-dev
          python3 python3-matplotlib python3-numpy "$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
