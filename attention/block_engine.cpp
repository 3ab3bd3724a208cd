#include "attention/block_engine.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace attn {
namespace {

constexpr std::int64_t kDefaultQueryBlock = 64;
constexpr std::int64_t kKeyTile = 64;

// One block of queries over its key ranges: a straightforward reference implementation of the
// online-softmax recurrence.
void attend_block(const AttentionInputs& in, const BlockPattern& pattern, std::int64_t b,
                  std::int64_t h, std::int64_t q_begin, std::int64_t q_end,
                  const MutableTensorView& out) {
  const std::int64_t d = in.shape().head_dim;
  const std::int64_t rows = q_end - q_begin;
  std::vector<KeyRange> ranges;
  pattern.key_ranges(b, h, q_begin, q_end, ranges);
  std::vector<float> m(rows, -std::numeric_limits<float>::infinity()), l(rows, 0.0f);
  std::vector<float> acc(rows * d, 0.0f), s(rows * kKeyTile);
  for (const KeyRange& range : ranges) {
    for (std::int64_t k0 = range.begin; k0 < range.end; k0 += kKeyTile) {
      const std::int64_t k1 = std::min(range.end, k0 + kKeyTile);
      const std::int64_t cols = k1 - k0;
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* q = in.q.row(b, h, q_begin + r);
        for (std::int64_t c = 0; c < cols; ++c) {
          const float* k = in.k.row(b, h, k0 + c);
          float dot = 0;
          for (std::int64_t e = 0; e < d; ++e) dot += q[e] * k[e];
          s[r * kKeyTile + c] = dot * in.scale;
        }
      }
      if (range.masked) pattern.mask_tile(b, h, q_begin, q_end, k0, k1, s.data(), kKeyTile);
      for (std::int64_t r = 0; r < rows; ++r) {
        float* sr = s.data() + r * kKeyTile;
        float tile_max = -std::numeric_limits<float>::infinity();
        for (std::int64_t c = 0; c < cols; ++c) tile_max = std::max(tile_max, sr[c]);
        const float new_m = std::max(m[r], tile_max);
        if (new_m == -std::numeric_limits<float>::infinity()) continue;  // nothing seen yet
        const float correction = std::exp(m[r] - new_m);
        float* ar = acc.data() + r * d;
        for (std::int64_t e = 0; e < d; ++e) ar[e] *= correction;
        l[r] *= correction;
        for (std::int64_t c = 0; c < cols; ++c) {
          const float p = std::exp(sr[c] - new_m);
          l[r] += p;
          const float* v = in.v.row(b, h, k0 + c);
          for (std::int64_t e = 0; e < d; ++e) ar[e] += p * v[e];
        }
        m[r] = new_m;
      }
    }
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    float* o = out.row(b, h, q_begin + r);
    const float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
    for (std::int64_t e = 0; e < d; ++e) o[e] = acc[r * d + e] * inv;
  }
}

}  // namespace

void block_attention(const AttentionInputs& inputs, const BlockPattern& pattern,
                     MutableTensorView out) {
  check_inputs(inputs, out);
  const Shape& s = inputs.shape();
  const std::int64_t qb = pattern.query_block() > 0 ? pattern.query_block() : kDefaultQueryBlock;
  const std::int64_t blocks = (s.seq_len + qb - 1) / qb;
  tbb::parallel_for(std::int64_t{0}, s.problems() * blocks, [&](std::int64_t task) {
    const std::int64_t problem = task / blocks;
    const std::int64_t q_begin = (task % blocks) * qb;
    attend_block(inputs, pattern, problem / s.heads, problem % s.heads, q_begin,
                 std::min(s.seq_len, q_begin + qb), out);
  });
}

std::int64_t block_attention_workspace_bytes(std::int64_t head_dim, int threads) {
  const std::int64_t per_task =
      kDefaultQueryBlock * (head_dim + kKeyTile + 2) * static_cast<std::int64_t>(sizeof(float));
  return per_task * threads;
}

}  // namespace attn
