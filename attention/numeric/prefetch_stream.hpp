#pragma once

#include <algorithm>
#include <cstdint>

namespace attn {

// Cache lines a caller wants brought in while the engine computes. The kernels issue a few
// per micro-kernel step, so that the caller's next random gather (LSH's rows) overlaps the
// arithmetic instead of stalling the core in one burst of misses. The lines are either listed
// (`lines`) or, with `lines` null, the `count` consecutive lines from `base` (the engine's own
// next key tile).
struct PrefetchStream {
  const void* const* lines = nullptr;
  std::int64_t count = 0;
  std::int64_t next = 0;
  const char* base = nullptr;
  std::int64_t per_step = 0;  // lines per kernel step; 0: the kernel's own choice

  // Prefetches up to `n` (or per_step) more lines into L2 (locality hint 2: the caller reads
  // them soon, the kernel's own tiles keep L1).
  void issue(std::int64_t n) {
    const std::int64_t end = std::min(count, next + (per_step > 0 ? per_step : n));
    if (lines)
      for (; next < end; ++next) __builtin_prefetch(lines[next], 0, 2);
    else
      for (; next < end; ++next) __builtin_prefetch(base + next * 64, 0, 2);
  }
};

}  // namespace attn
