#pragma once

#include <algorithm>
#include <cstdint>

namespace attn {

// Cache lines a caller wants brought in while the engine computes. The kernels issue a few
// per micro-kernel step, so that the caller's next random gather (LSH's rows) overlaps the
// arithmetic instead of stalling the core in one burst of misses.
struct PrefetchStream {
  const void* const* lines = nullptr;
  std::int64_t count = 0;
  std::int64_t next = 0;

  // Prefetches up to `n` more lines into L2 (locality hint 2: the caller reads them soon, the
  // kernel's own tiles keep L1).
  void issue(std::int64_t n) {
    const std::int64_t end = std::min(count, next + n);
    for (; next < end; ++next) __builtin_prefetch(lines[next], 0, 2);
  }
};

}  // namespace attn
