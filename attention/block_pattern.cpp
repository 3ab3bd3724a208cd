#include "attention/block_pattern.hpp"

#include <limits>

namespace attn {

void BlockPattern::mask_tile(std::int64_t b, std::int64_t h, std::int64_t q_begin,
                             std::int64_t q_end, std::int64_t k_begin, std::int64_t k_end,
                             float* scores, std::int64_t ld) const {
  for (std::int64_t q = q_begin; q < q_end; ++q)
    for (std::int64_t k = k_begin; k < k_end; ++k)
      if (!allowed(b, h, q, k))
        scores[(q - q_begin) * ld + (k - k_begin)] = -std::numeric_limits<float>::infinity();
}

void BlockPattern::keys_of(std::int64_t b, std::int64_t h, std::int64_t query,
                           std::vector<std::int64_t>& out) const {
  std::vector<KeyRange> ranges;
  key_ranges(b, h, query, query + 1, ranges);
  out.clear();
  for (const KeyRange& r : ranges)
    for (std::int64_t k = r.begin; k < r.end; ++k)
      if (!r.masked || allowed(b, h, query, k)) out.push_back(k);
}

}  // namespace attn
