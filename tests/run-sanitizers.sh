#!/usr/bin/env bash
# Sanitizer CI: the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer, then
# each libFuzzer target for a bounded time; ThreadSanitizer over the threaded tests on request.
#
#   tests/run-sanitizers.sh            asan and fuzz
#   tests/run-sanitizers.sh asan tsan  only the named steps (asan, tsan, fuzz)
#
# tsan is not a default step: Debian's libtbb is not built with TSan, so TSan cannot see the
# synchronisation of TBB's scheduler and reports every hand-over of data between a task and its
# caller (hundreds of reports in the block engine and registry tests alone, all in code whose
# ordering TBB guarantees). No small suppression list separates those from real races; the step
# becomes meaningful with a oneTBB built with -fsanitize=thread.
#
# Each step has its own build directory under build/ (ATTN_SANITIZER_BUILD_ROOT overrides).
# Environment: ATTN_JOBS (build jobs, default 2), ATTN_FUZZ_SECONDS (per fuzz target, default
# 60). Suppressions live in tests/sanitizers/, each with its reason.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_root=${ATTN_SANITIZER_BUILD_ROOT:-$root/build}
jobs=${ATTN_JOBS:-2}
fuzz_seconds=${ATTN_FUZZ_SECONDS:-60}
suppressions=$root/tests/sanitizers

log() { printf '== %s: %s\n' "$(date +%H:%M:%S)" "$*"; }

# configure_and_build DIR CXX TARGETS [cmake args...]; TARGETS is "all" or a space-separated list
configure_and_build() {
  local dir=$1 cxx=$2 targets=$3
  shift 3
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER="$cxx" "$@" >/dev/null
  # shellcheck disable=SC2086 # the target list splits on purpose
  cmake --build "$dir" -j "$jobs" --target $targets
}

# ASan + UBSan over every test, with GCC (the compiler of the normal build).
run_asan() {
  local dir=$build_root/sanitize-address
  log "ASan+UBSan build in $dir"
  configure_and_build "$dir" g++ all -DATTN_SANITIZE=address,undefined -DATTN_WERROR=ON
  log "ASan+UBSan: ctest"
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 900
}

# TSan over the tests that run variants, the engine and the input generators on 2 threads
# (ATTN_TSAN_FILTER overrides the gtest filter).
tsan_filter='Registry/*:Sizes/*:SparseVariants*:Dense.*:Flash.*:BlockEngine.*:*ThreadCount*'
run_tsan() {
  local dir=$build_root/sanitize-thread
  log "TSan build in $dir"
  configure_and_build "$dir" g++ "attnbench attnbench_tests" -DATTN_SANITIZE=thread -DATTN_WERROR=ON
  log "TSan: threaded tests"
  TSAN_OPTIONS="suppressions=$suppressions/tsan.supp:halt_on_error=1:second_deadlock_stack=1" \
    "$dir/attnbench_tests" --gtest_filter="${ATTN_TSAN_FILTER:-$tsan_filter}"
}

# Each libFuzzer target for ATTN_FUZZ_SECONDS, from a seed corpus, with ASan and UBSan.
run_fuzz() {
  local dir=$build_root/fuzz
  log "fuzz build in $dir"
  # clang only for libFuzzer; warnings are checked by the GCC builds.
  configure_and_build "$dir" clang++ "attnbench spec_fuzz npy_fuzz csv_fuzz" -DATTN_FUZZ=ON -DATTN_BUILD_TESTS=OFF \
    -DATTN_SANITIZE=address,undefined -DATTN_WERROR=OFF
  "$root/tests/fuzz/make-seeds.sh" "$dir/seeds" "$dir/attnbench"
  local target output
  for target in spec npy csv; do
    log "fuzzing $target for ${fuzz_seconds}s"
    mkdir -p "$dir/corpus/$target"
    output=$dir/fuzz-$target.log
    # Leaks are off: libFuzzer's per-input leak check flags the registry's lazily built,
    # process-lifetime state; the ASan+UBSan step checks leaks over the whole suite.
    if ! ASAN_OPTIONS="detect_leaks=0" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
      "$dir/${target}_fuzz" "$dir/corpus/$target" "$dir/seeds/$target" \
      -max_total_time="$fuzz_seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$dir/crash-$target-" -print_final_stats=1 >"$output" 2>&1; then
      tail -n 80 "$output"
      echo "fuzz target $target failed; the input is in $dir/crash-$target-*" >&2
      return 1
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^Done' "$output" || true
  done
}

steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(asan fuzz)
start=$SECONDS
for step in "${steps[@]}"; do
  case $step in
    asan) run_asan ;;
    tsan) run_tsan ;;
    fuzz) run_fuzz ;;
    *)
      echo "unknown step '$step'; steps: asan, tsan, fuzz" >&2
      exit 2
      ;;
  esac
done
log "sanitizer steps (${steps[*]}) passed in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
