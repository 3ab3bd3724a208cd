// XAttention's block choice recomputed here in fp64 from its definition (variants/xattention.cpp):
// antidiagonal sums of every (query group, key group), a softmax per query group, the key blocks'
// mean mass per query block, and the blocks taken best first up to the threshold plus the own one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "attention/core/registry.hpp"
#include "tests/support/test_support.hpp"

namespace attn {
namespace {

constexpr double kTie = 1e-5;  // block scores (or cumulative sums) this close to a boundary

struct Rule {
  std::int64_t block, stride;
  double threshold;

  // The key blocks query block `own` of problem (b, h) attends, and the scores they came from.
  std::set<std::int64_t> blocks(const AttentionInputs& in, std::int64_t b, std::int64_t h,
                                std::int64_t own, std::vector<double>& score,
                                std::vector<std::int64_t>& order) const {
    const AttentionShape s = in.shape();
    const std::int64_t n = s.seq_len, d = s.head_dim, first = s.first_position();
    const std::int64_t key_groups = (n + stride - 1) / stride, blocks = (n + block - 1) / block;
    const std::int64_t lo = std::max(own * block, first), hi = std::min((own + 1) * block, n);
    const std::int64_t a0 = lo / stride, a1 = (hi - 1) / stride;
    score.assign(static_cast<std::size_t>(blocks), 0.0);
    for (std::int64_t a = a0; a <= a1; ++a) {
      const std::int64_t seen = in.causal ? std::min(a + 1, key_groups) : key_groups;
      std::vector<double> antidiagonal(static_cast<std::size_t>(seen), 0.0);
      for (std::int64_t c = 0; c < seen; ++c)
        for (std::int64_t u = 0; u < stride; ++u) {
          const std::int64_t p = a * stride + stride - 1 - u, key = c * stride + u;
          if (p < first || p >= n || key >= n) continue;
          for (std::int64_t e = 0; e < d; ++e)
            antidiagonal[c] +=
                static_cast<double>(in.q.row(b, h, p - first)[e]) * in.k_head(b, h)[key * d + e];
        }
      const double alpha = in.scale / static_cast<double>(stride);
      const double top = *std::max_element(antidiagonal.begin(), antidiagonal.end()) * alpha;
      double total = 0;
      for (double& x : antidiagonal) total += (x = std::exp(x * alpha - top));
      for (std::int64_t c = 0; c < seen; ++c)
        score[c * stride / block] += antidiagonal[c] / total / static_cast<double>(a1 - a0 + 1);
    }
    const std::int64_t candidates = in.causal ? own + 1 : blocks;
    order.resize(static_cast<std::size_t>(candidates));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::int64_t x, std::int64_t y) { return score[x] > score[y]; });
    std::set<std::int64_t> chosen;
    double mass = 0;
    for (std::int64_t c : order) {
      if (mass >= threshold) break;
      chosen.insert(c);
      mass += score[c];
    }
    chosen.insert(own);
    return chosen;
  }
};

TEST(XAttention, BlocksAreTheBestByAntidiagonalMassUpToTheThreshold) {
  for (const auto& [spec, rule] :
       {std::pair{std::string("xattention:block=16,stride=4,threshold=0.5"), Rule{16, 4, 0.5}},
        std::pair{std::string("xattention:block=12,stride=3,threshold=0.95"), Rule{12, 3, 0.95}},
        std::pair{std::string("xattention:block=8,stride=8,threshold=0.8"), Rule{8, 8, 0.8}}}) {
    const auto variant = make_variant(spec);
    for (const AttentionShape& s :
         {AttentionShape{1, 2, 1, 150, 150, 16}, AttentionShape{1, 4, 2, 37, 203, 8},
          AttentionShape{2, 2, 2, 1, 99, 16}})
      for (bool causal : {false, true}) {
        testing::RandomInputs in(s, causal, 51);
        std::vector<std::int64_t> keys, order;
        std::vector<double> score;
        for (std::int64_t b = 0; b < s.batch; ++b)
          for (std::int64_t h = 0; h < s.heads; ++h)
            for (std::int64_t i = 0; i < s.query_len; ++i) {
              const std::int64_t p = s.position(i), own = p / rule.block;
              const std::string where = spec + " " + s.to_string() + (causal ? " causal" : "") +
                                        " h " + std::to_string(h) + " query " + std::to_string(i);
              const std::set<std::int64_t> want = rule.blocks(in.inputs, b, h, own, score, order);
              variant->keys(in.inputs, b, h, i, keys);
              // Every key of the chosen blocks (causal: up to p), nothing else.
              std::set<std::int64_t> got;
              for (std::int64_t k : keys) {
                ASSERT_TRUE(!causal || k <= p) << where;
                got.insert(k / rule.block);
              }
              std::int64_t expected_keys = 0;
              for (std::int64_t c : got)
                for (std::int64_t k = c * rule.block; k < std::min(s.seq_len, (c + 1) * rule.block);
                     ++k)
                  expected_keys += !causal || k <= p ? 1 : 0;
              EXPECT_EQ(static_cast<std::int64_t>(keys.size()), expected_keys)
                  << where << ": a chosen block not attended whole";
              if (got == want) continue;
              // Only a near-tie may differ: a block whose score is within kTie of another's, or
              // a cumulative sum within kTie of the threshold.
              bool near = false;
              double mass = 0;
              for (std::size_t x = 0; x < order.size(); ++x) {
                if (std::abs(mass - rule.threshold) < kTie) near = true;
                if (x + 1 < order.size() && std::abs(score[order[x]] - score[order[x + 1]]) < kTie)
                  near = true;
                mass += score[order[x]];
              }
              EXPECT_TRUE(near) << where << ": chose " << got.size() << " blocks, the rule "
                                << want.size();
            }
      }
  }
}

// Threshold 0 keeps only the own block; threshold 1 keeps every candidate with any mass.
TEST(XAttention, ThresholdZeroIsTheDiagonalBlockAlone) {
  const AttentionShape s{1, 2, 2, 64, 64, 16};
  testing::RandomInputs in(s, true, 53);
  const auto variant = make_variant("xattention:block=16,stride=1,threshold=0");
  std::vector<std::int64_t> keys;
  for (std::int64_t i = 0; i < 64; ++i) {
    variant->keys(in.inputs, 0, 1, i, keys);
    ASSERT_FALSE(keys.empty());
    EXPECT_EQ(keys.front(), i / 16 * 16) << "query " << i;
    EXPECT_EQ(keys.back(), i) << "query " << i;
    EXPECT_EQ(static_cast<std::int64_t>(keys.size()), i % 16 + 1) << "query " << i;
  }
}

}  // namespace
}  // namespace attn
