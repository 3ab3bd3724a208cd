// NSA's three branches recomputed here in fp64 from their definitions (variants/nsa.cpp): the
// mean-pooled block summaries a query sees, the selection blocks chosen from the compressed
// attention spread by key overlap and summed over the kv group (the first and the two local
// blocks forced), the sliding window, and the fixed gates.
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

constexpr double kTie = 1e-6;  // importances this close may be ordered either way in fp32

struct Rule {
  std::int64_t cblock, stride, sblock, n, window;
  double gates[3];
};

void check_rule(const std::string& spec, const Rule& rule, const AttentionShape& s, bool causal) {
  const auto variant = make_variant(spec);
  testing::RandomInputs in(s, causal, 61);
  const std::int64_t d = s.head_dim, n = s.seq_len, g = s.group();
  const std::int64_t summaries = n >= rule.cblock ? (n - rule.cblock) / rule.stride + 1 : 0;
  const std::int64_t blocks = (n + rule.sblock - 1) / rule.sblock;
  std::vector<AttentionTerm> terms;
  std::int64_t chosen_by_importance = 0;
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t kv = 0; kv < s.kv_heads; ++kv) {
      // Summaries in fp64.
      std::vector<double> ks(static_cast<std::size_t>(summaries * d)), vs(ks.size());
      for (std::int64_t i = 0; i < summaries; ++i)
        for (std::int64_t key = i * rule.stride; key < i * rule.stride + rule.cblock; ++key)
          for (std::int64_t e = 0; e < d; ++e) {
            ks[i * d + e] += in.inputs.k.row(b, kv, key)[e] / static_cast<double>(rule.cblock);
            vs[i * d + e] += in.inputs.v.row(b, kv, key)[e] / static_cast<double>(rule.cblock);
          }
      for (std::int64_t i = 0; i < s.query_len; ++i) {
        const std::int64_t position = s.position(i);
        const std::int64_t visible =
            !causal ? summaries
                    : (position + 1 >= rule.cblock
                           ? std::min(summaries, (position + 1 - rule.cblock) / rule.stride + 1)
                           : 0);
        // The group's importance of each selection block.
        std::vector<double> importance(static_cast<std::size_t>(blocks), 0.0);
        for (std::int64_t h = kv * g; h < (kv + 1) * g; ++h) {
          std::vector<double> p(static_cast<std::size_t>(visible));
          double top = -1e300, sum = 0;
          for (std::int64_t c = 0; c < visible; ++c) {
            for (std::int64_t e = 0; e < d; ++e)
              p[c] += in.inputs.q.row(b, h, i)[e] * ks[c * d + e] * in.inputs.scale;
            top = std::max(top, p[c]);
          }
          for (double& x : p) sum += (x = std::exp(x - top));
          for (std::int64_t c = 0; c < visible; ++c)
            for (std::int64_t key = c * rule.stride; key < c * rule.stride + rule.cblock; ++key)
              importance[key / rule.sblock] += p[c] / sum / static_cast<double>(rule.cblock);
        }
        const std::int64_t reachable = causal ? position / rule.sblock + 1 : blocks;
        std::set<std::int64_t> forced;
        for (std::int64_t f : {std::int64_t{0}, position / rule.sblock, position / rule.sblock - 1})
          if (f >= 0 && f < reachable) forced.insert(f);
        std::vector<std::int64_t> order(static_cast<std::size_t>(reachable));
        std::iota(order.begin(), order.end(), 0);
        std::erase_if(order, [&](std::int64_t x) { return forced.count(x) > 0; });
        std::stable_sort(order.begin(), order.end(), [&](std::int64_t x, std::int64_t y) {
          return importance[x] > importance[y];
        });
        const std::int64_t free_slots = std::max<std::int64_t>(
            0, std::min(rule.n, blocks) - static_cast<std::int64_t>(forced.size()));
        const std::int64_t taken =
            std::min<std::int64_t>(free_slots, static_cast<std::int64_t>(order.size()));
        const double boundary = taken > 0 ? importance[order[taken - 1]] : 1e300;
        for (std::int64_t h = kv * g; h < (kv + 1) * g; ++h) {
          const std::string where = spec + " " + s.to_string() + (causal ? " causal" : "") +
                                    " head " + std::to_string(h) + " query " + std::to_string(i);
          variant->terms(in.inputs, b, h, i, terms);
          ASSERT_EQ(terms.size(), 3u) << where;
          for (int t = 0; t < 3; ++t) EXPECT_DOUBLE_EQ(terms[t].gate, rule.gates[t]) << where;
          // Compressed: the visible summaries, each the mean of its block's rows.
          ASSERT_EQ(static_cast<std::int64_t>(terms[0].keys.size()), visible) << where;
          for (std::size_t x = 0; x < terms[0].k_rows.size(); ++x) {
            ASSERT_NEAR(terms[0].k_rows[x], ks[x], 1e-6) << where;
            ASSERT_NEAR(terms[0].v_rows[x], vs[x], 1e-6) << where;
          }
          // Selected: whole blocks (causal: up to the position), the forced ones and the best.
          std::set<std::int64_t> got;
          for (std::int64_t key : terms[1].keys) {
            ASSERT_TRUE(!causal || key <= position) << where;
            got.insert(key / rule.sblock);
          }
          for (std::int64_t blk : got) {
            const std::int64_t end = std::min((blk + 1) * rule.sblock, causal ? position + 1 : n);
            EXPECT_EQ(std::count_if(terms[1].keys.begin(), terms[1].keys.end(),
                                    [&](std::int64_t k) { return k / rule.sblock == blk; }),
                      end - blk * rule.sblock)
                << where << ": block " << blk << " not whole";
          }
          for (std::int64_t f : forced) EXPECT_TRUE(got.count(f)) << where << ": forced " << f;
          EXPECT_EQ(static_cast<std::int64_t>(got.size()),
                    static_cast<std::int64_t>(forced.size()) + taken)
              << where;
          for (std::int64_t blk : got) {
            if (forced.count(blk)) continue;
            ++chosen_by_importance;
            EXPECT_GT(importance[blk], boundary - kTie) << where << ": chose block " << blk;
          }
          for (std::int64_t x = 0; x < taken; ++x)
            if (importance[order[x]] > boundary + kTie) {
              EXPECT_TRUE(got.count(order[x])) << where << ": missed block " << order[x];
            }
          // Window: the `window` keys ending at the position.
          std::vector<std::int64_t> window;
          for (std::int64_t k = std::max<std::int64_t>(0, position - rule.window + 1);
               k <= position; ++k)
            window.push_back(k);
          EXPECT_EQ(terms[2].keys, window) << where;
        }
      }
    }
  EXPECT_GT(chosen_by_importance, 0) << spec << ": no block chosen by importance; rule untested";
}

TEST(Nsa, BranchesFollowTheirDefinitions) {
  for (bool causal : {false, true}) {
    check_rule("nsa:cblock=8,stride=4,sblock=8,n=5,window=6",
               {8, 4, 8, 5, 6, {1.0 / 3, 1.0 / 3, 1.0 / 3}}, AttentionShape{1, 4, 2, 70, 70, 16},
               causal);
    check_rule("nsa:cblock=6,stride=3,sblock=9,n=4,window=7,gate_cmp=0.2,gate_slc=0.5,gate_win=0.3",
               {6, 3, 9, 4, 7, {0.2, 0.5, 0.3}}, AttentionShape{2, 3, 1, 2, 130, 12}, causal);
  }
}

TEST(Nsa, RefusesAStrideThatSkipsKeys) {
  try {
    make_variant("nsa:cblock=4,stride=8");
    ADD_FAILURE() << "stride > cblock accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("stride <= cblock=4"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace attn
