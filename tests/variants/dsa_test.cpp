// DSA's lightning indexer recomputed here in fp64 from its definition (variants/dsa.cpp): the
// projections from the seed, the group's mean query, ReLU per indexer head, the weighted sum, and
// the top-k tokens, shared by the kv group's heads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "attention/core/random.hpp"
#include "attention/core/registry.hpp"
#include "tests/support/test_support.hpp"

namespace attn {
namespace {

constexpr double kTie = 1e-4;  // indexer scores this close may be ordered either way in fp32

struct Indexer {
  std::int64_t heads, dim;
  std::uint64_t seed;

  // Row r of head j's projection: ±1/sqrt(dim), the sign the top bit of the seed's stream.
  std::vector<double> projection(std::int64_t j, std::int64_t head_dim) const {
    std::vector<double> out(static_cast<std::size_t>(dim * head_dim));
    SplitMix64 gen(mix_seed(seed, static_cast<std::uint64_t>(j)));
    for (double& x : out)
      x = ((gen.next() >> 63) != 0 ? 1.0 : -1.0) / std::sqrt(static_cast<double>(dim));
    return out;
  }

  // I(t, s) for every key s < visible of the query token (b, kv group, query i).
  std::vector<double> scores(const AttentionInputs& in, std::int64_t b, std::int64_t kv,
                             std::int64_t i, std::int64_t visible) const {
    const AttentionShape s = in.shape();
    const std::int64_t d = s.head_dim, g = s.group();
    std::vector<double> query(static_cast<std::size_t>(d), 0.0);
    for (std::int64_t h = kv * g; h < (kv + 1) * g; ++h)
      for (std::int64_t e = 0; e < d; ++e)
        query[e] += in.q.row(b, h, i)[e] / static_cast<double>(g);
    std::vector<double> out(static_cast<std::size_t>(visible), 0.0);
    for (std::int64_t j = 0; j < heads; ++j) {
      const std::vector<double> r = projection(j, d);
      std::vector<double> q_index(static_cast<std::size_t>(dim), 0.0);
      for (std::int64_t a = 0; a < dim; ++a)
        for (std::int64_t e = 0; e < d; ++e) q_index[a] += r[a * d + e] * query[e];
      for (std::int64_t key = 0; key < visible; ++key) {
        const float* k = in.k.row(b, kv, key);
        double product = 0;
        for (std::int64_t a = 0; a < dim; ++a) {
          double k_index = 0;
          for (std::int64_t e = 0; e < d; ++e) k_index += r[a * d + e] * k[e];
          product += q_index[a] * k_index;
        }
        out[key] += std::max(product, 0.0) / static_cast<double>(heads);
      }
    }
    return out;
  }
};

TEST(Dsa, KeysAreTheTopKByTheLightningIndexerSharedByTheGroup) {
  const std::int64_t k = 17;
  const Indexer indexer{2, 8, 3};
  const auto variant = make_variant("dsa:k=17,heads=2,dim=8,seed=3");
  for (const AttentionShape& s :
       {AttentionShape{1, 4, 2, 90, 90, 16}, AttentionShape{1, 6, 2, 5, 200, 12},
        AttentionShape{2, 3, 1, 1, 150, 16}})
    for (bool causal : {false, true}) {
      testing::RandomInputs in(s, causal, 41);
      std::vector<std::int64_t> got, other;
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t kv = 0; kv < s.kv_heads; ++kv)
          for (std::int64_t i = 0; i < s.query_len; ++i) {
            const std::string where = s.to_string() + (causal ? " causal" : "") + " kv " +
                                      std::to_string(kv) + " query " + std::to_string(i);
            const std::int64_t visible = causal ? s.position(i) + 1 : s.seq_len;
            const std::vector<double> score = indexer.scores(in.inputs, b, kv, i, visible);
            std::vector<std::int64_t> order(static_cast<std::size_t>(visible));
            std::iota(order.begin(), order.end(), 0);
            std::stable_sort(order.begin(), order.end(),
                             [&](std::int64_t x, std::int64_t y) { return score[x] > score[y]; });
            const std::int64_t kept = std::min(k, visible);
            const double boundary = score[order[kept - 1]];
            variant->keys(in.inputs, b, kv * s.group(), i, got);
            ASSERT_EQ(static_cast<std::int64_t>(got.size()), kept) << where;
            // Every kept key scores at least the k-th best, up to fp32's near-ties.
            for (std::int64_t key : got) {
              ASSERT_LT(key, visible) << where;
              EXPECT_GT(score[key], boundary - kTie) << where << ": chose " << key;
            }
            for (std::int64_t x = 0; x < kept; ++x) {
              if (score[order[x]] > boundary + kTie) {
                EXPECT_TRUE(std::binary_search(got.begin(), got.end(), order[x]))
                    << where << ": missed " << order[x];
              }
            }
            for (std::int64_t h = kv * s.group() + 1; h < (kv + 1) * s.group(); ++h) {
              variant->keys(in.inputs, b, h, i, other);
              EXPECT_EQ(other, got) << where << ": head " << h << " chose apart";
            }
          }
    }
}

// The indexer depends on the seed: another seed, another sketch (at a budget well below N).
TEST(Dsa, TheSeedChoosesTheProjections) {
  const AttentionShape s{1, 2, 1, 1, 400, 16};
  testing::RandomInputs in(s, false, 43);
  std::vector<std::int64_t> a, b;
  make_variant("dsa:k=20,heads=1,dim=2,seed=1")->keys(in.inputs, 0, 0, 0, a);
  make_variant("dsa:k=20,heads=1,dim=2,seed=2")->keys(in.inputs, 0, 0, 0, b);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace attn
