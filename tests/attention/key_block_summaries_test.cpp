// The per-block summaries MoBA, block_topk and Quest keep with a decode session's cache, against
// their definition computed here from the keys: block c of kv head (b, kv) holds the keys
// [c · block, min((c + 1) · block, N)), its sums added in key order, its maxima and minima per
// dimension. A summary shifted by one key, or one that misses the newest key, fails.
#include <gtest/gtest.h>

#include <algorithm>

#include "attention/bases/key_block_summaries.hpp"
#include "tests/support/test_support.hpp"

namespace attn {
namespace {

void expect_definition(const KeyBlockSummaries& got, KeyBlockSummaries::Kind kind,
                       const AttentionInputs& in, std::int64_t block) {
  const AttentionShape s = in.shape();
  const std::int64_t d = s.head_dim, n = s.seq_len, blocks = (n + block - 1) / block;
  ASSERT_EQ(got.length(), n);
  ASSERT_EQ(got.blocks(), blocks);
  for (std::int64_t kv = 0; kv < s.kv_heads; ++kv)
    for (std::int64_t c = 0; c < blocks; ++c) {
      const float* summary = got.head(0, kv) + c * got.width();
      for (std::int64_t e = 0; e < d; ++e) {
        float sum = 0, hi = in.k.row(0, kv, c * block)[e], lo = hi;
        for (std::int64_t j = c * block; j < std::min(n, (c + 1) * block); ++j) {
          const float x = in.k.row(0, kv, j)[e];
          sum += x;
          hi = std::max(hi, x);
          lo = std::min(lo, x);
        }
        if (kind == KeyBlockSummaries::Kind::kSum) {
          ASSERT_EQ(summary[e], sum) << "kv " << kv << " block " << c << " dim " << e;
        } else {
          ASSERT_EQ(summary[e], hi) << "max, kv " << kv << " block " << c << " dim " << e;
          ASSERT_EQ(summary[d + e], lo) << "min, kv " << kv << " block " << c << " dim " << e;
        }
      }
    }
}

TEST(KeyBlockSummaries, EqualTheirDefinitionBuiltAtOnceAndKeyByKey) {
  for (const auto kind : {KeyBlockSummaries::Kind::kSum, KeyBlockSummaries::Kind::kMinMax})
    for (std::int64_t block : {1, 7, 16})
      for (std::int64_t n : {1, 7, 50, 113}) {
        const AttentionShape shape{1, 4, 2, 1, n, 12};
        testing::RandomInputs in(shape, false, static_cast<std::uint32_t>(n + block));
        KeyBlockSummaries at_once(kind, block, shape);
        at_once.extend(in.inputs);
        expect_definition(at_once, kind, in.inputs, block);
        // Grown one key at a time over views of the first j keys.
        KeyBlockSummaries grown(kind, block, shape);
        for (std::int64_t j = 1; j <= n; ++j) {
          AttentionInputs prefix = in.inputs;
          prefix.k.shape.seq_len = prefix.v.shape.seq_len = j;
          prefix.k.head_stride = prefix.v.head_stride = n * shape.head_dim;
          grown.extend(prefix);
          ASSERT_EQ(grown.length(), j);
        }
        expect_definition(grown, kind, in.inputs, block);
        EXPECT_EQ(grown.values(), at_once.values());
        EXPECT_EQ(grown.bytes(), at_once.bytes());
      }
}

}  // namespace
}  // namespace attn
