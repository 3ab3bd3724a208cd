#include "attention/engine/block_pattern.hpp"

#include <limits>

namespace attn {

void append_key_range(std::vector<KeyRange>& out, std::int64_t begin, std::int64_t end,
                      bool masked) {
  if (begin >= end) return;
  if (!out.empty() && out.back().end == begin && out.back().masked == masked) {
    out.back().end = end;
    return;
  }
  out.push_back({begin, end, masked});
}

void append_band(std::vector<KeyRange>& out, std::int64_t lo, std::int64_t hi,
                 std::int64_t inner_lo, std::int64_t inner_hi) {
  if (inner_lo >= inner_hi) {
    append_key_range(out, lo, hi, true);
    return;
  }
  append_key_range(out, lo, inner_lo, true);
  append_key_range(out, inner_lo, inner_hi, false);
  append_key_range(out, inner_hi, hi, true);
}

void BlockPattern::mask_tile(std::int64_t b, std::int64_t h, std::int64_t q_begin,
                             std::int64_t q_end, std::int64_t k_begin, std::int64_t k_end,
                             float* scores, std::int64_t ld) const {
  for (std::int64_t q = q_begin; q < q_end; ++q)
    for (std::int64_t k = k_begin; k < k_end; ++k)
      if (!allowed(b, h, q, k))
        scores[(q - q_begin) * ld + (k - k_begin)] = -std::numeric_limits<float>::infinity();
}

void BlockPattern::mask_tile_key_major(std::int64_t b, std::int64_t h, std::int64_t q_begin,
                                       std::int64_t q_end, std::int64_t k_begin, std::int64_t k_end,
                                       float* scores, std::int64_t ld) const {
  for (std::int64_t k = k_begin; k < k_end; ++k)
    for (std::int64_t q = q_begin; q < q_end; ++q)
      if (!allowed(b, h, q, k))
        scores[(k - k_begin) * ld + (q - q_begin)] = -std::numeric_limits<float>::infinity();
}

void BlockPattern::keys_of(std::int64_t b, std::int64_t h, std::int64_t position,
                           std::vector<std::int64_t>& out) const {
  std::vector<KeyRange> ranges;
  key_ranges(b, h, position, position + 1, ranges);
  out.clear();
  for (const KeyRange& r : ranges)
    for (std::int64_t k = r.begin; k < r.end; ++k)
      if (!r.masked || allowed(b, h, position, k)) out.push_back(k);
}

}  // namespace attn
