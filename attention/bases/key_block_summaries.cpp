#include "attention/bases/key_block_summaries.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>

namespace attn {

KeyBlockSummaries::KeyBlockSummaries(Kind kind, std::int64_t block, const AttentionShape& shape)
    : kind_(kind),
      block_(block),
      kv_heads_(shape.kv_heads),
      d_(shape.head_dim),
      heads_(static_cast<std::size_t>(shape.batch * shape.kv_heads)) {}

void KeyBlockSummaries::extend(const AttentionInputs& inputs) {
  const AttentionShape s = inputs.shape();
  const std::int64_t begin = length(), end = s.seq_len, d = d_, width = this->width();
  if (end <= begin) return;
  const std::int64_t blocks = (end + block_ - 1) / block_;
  tbb::parallel_for(std::int64_t{0}, s.batch * s.kv_heads, [&](std::int64_t bk) {
    const float* k = inputs.k.head(bk / s.kv_heads, bk % s.kv_heads);
    std::vector<float>& summary = heads_[static_cast<std::size_t>(bk)];
    summary.resize(static_cast<std::size_t>(blocks * width));
    for (std::int64_t j = begin; j < end; ++j) {
      float* first = summary.data() + j / block_ * width;
      const float* key = k + j * d;
      if (kind_ == Kind::kSum) {
        // A block's first key starts its sums from zero, as block_means does.
        if (j % block_ == 0) std::fill_n(first, d, 0.0f);
        for (std::int64_t e = 0; e < d; ++e) first[e] += key[e];
      } else if (j % block_ == 0) {
        std::copy_n(key, d, first);
        std::copy_n(key, d, first + d);
      } else {
        for (std::int64_t e = 0; e < d; ++e) {
          first[e] = std::max(first[e], key[e]);
          first[d + e] = std::min(first[d + e], key[e]);
        }
      }
    }
  });
  set_length(end);
}

std::int64_t KeyBlockSummaries::bytes() const {
  std::int64_t total = 0;
  for (const auto& h : heads_) total += static_cast<std::int64_t>(h.size() * sizeof(float));
  return total;
}

std::vector<double> KeyBlockSummaries::values() const {
  std::vector<double> all{static_cast<double>(length())};
  for (const auto& h : heads_) all.insert(all.end(), h.begin(), h.end());
  return all;
}

}  // namespace attn
