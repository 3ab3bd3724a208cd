#pragma once

#include <cstddef>
#include <cstring>
#include <span>

namespace attn::micro {

// Copies rows of row_floats floats, in the given order, into a ring of ring_rows rows (which
// stays in L1), prefetching the row 8 ahead: the access pattern of LSH's gathers, so its
// bandwidth is their ceiling on this machine.
inline void copy_rows_in_order(std::span<const float* const> rows, std::size_t row_floats,
                               float* ring, std::size_t ring_rows) {
  constexpr std::size_t kAhead = 8;
  const std::size_t row_bytes = row_floats * sizeof(float);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i + kAhead < rows.size()) {
      const char* ahead = reinterpret_cast<const char*>(rows[i + kAhead]);
      for (std::size_t line = 0; line < row_bytes; line += 64) __builtin_prefetch(ahead + line);
    }
    std::memcpy(ring + (i % ring_rows) * row_floats, rows[i], row_bytes);
  }
}

}  // namespace attn::micro
