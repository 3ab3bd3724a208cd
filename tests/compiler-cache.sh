# Sourced by tests/run-tests.sh and tests/run-sanitizers.sh: every build of the test command
# compiles through ccache (Debian's ccache), with the cache outside the clone, so a later run on
# the same machine, from a new clone too, recompiles only the files that changed. Paths are
# hashed relative to the clone (CCACHE_BASEDIR, CCACHE_NOHASHDIR), which is what lets a clone in
# another folder hit. ATTN_NO_CCACHE=1 builds without it (the cold figure in docs/development.md).
if [[ -z ${ATTN_NO_CCACHE:-} ]] && command -v ccache >/dev/null; then
  if [[ -z ${CCACHE_DIR:-} ]]; then
    if [[ -w /var/cache ]]; then
      export CCACHE_DIR=/var/cache/attnbench/ccache
    else
      export CCACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/attnbench-ccache
    fi
  fi
  mkdir -p "$CCACHE_DIR"
  export CCACHE_BASEDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  export CCACHE_NOHASHDIR=1
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
  # CMake reads this when it first configures a build tree (a clean clone's every tree).
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
