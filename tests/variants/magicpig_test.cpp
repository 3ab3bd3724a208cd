// MagicPIG's rule recomputed here in fp64 from its definition (variants/magicpig.cpp): the
// hyperplanes from the seed, the MIPS transform, SimHash codes per table, a key sampled when one
// table's code matches the query's, its log-weight -log(1 - (1 - (1 - θ/π)^k)^l), and sinks and
// the local window kept with weight 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "attention/core/random.hpp"
#include "attention/core/registry.hpp"
#include "tests/support/test_support.hpp"

namespace attn {
namespace {

// A projection this close to a hyperplane may take either sign in fp32.
constexpr double kNearPlane = 1e-4;

struct Rule {
  std::int64_t bits, tables, sinks, window;
  std::uint64_t seed;

  // Hyperplane p's d + 1 coordinates: Box-Muller pairs from the seed's stream, rounded to fp32.
  std::vector<double> plane(std::int64_t p, std::int64_t d) const {
    std::vector<double> out(static_cast<std::size_t>(d + 1));
    SplitMix64 gen(mix_seed(seed, static_cast<std::uint64_t>(p)));
    for (std::int64_t e = 0; e <= d; e += 2) {
      const double u1 = (static_cast<double>(gen.next() >> 11) + 1.0) * 0x1p-53;
      const double u2 = static_cast<double>(gen.next() >> 11) * 0x1p-53;
      const double r = std::sqrt(-2.0 * std::log(u1));
      out[e] = static_cast<float>(r * std::cos(2 * std::numbers::pi * u2));
      if (e + 1 <= d) out[e + 1] = static_cast<float>(r * std::sin(2 * std::numbers::pi * u2));
    }
    return out;
  }

  double log_weight(double cosine) const {
    const double theta = std::acos(std::clamp(cosine, -1.0, 1.0));
    const double p = std::pow(1.0 - theta / std::numbers::pi, static_cast<double>(bits));
    return -std::log(1.0 - std::pow(1.0 - p, static_cast<double>(tables)));
  }
};

double dot(const float* a, const float* b, std::int64_t d) {
  double s = 0;
  for (std::int64_t e = 0; e < d; ++e) s += static_cast<double>(a[e]) * b[e];
  return s;
}

void check_rule(const std::string& spec, const Rule& rule, const AttentionShape& s, bool causal) {
  const auto variant = make_variant(spec);
  testing::RandomInputs in(s, causal, 53);
  const std::int64_t d = s.head_dim, n = s.seq_len, width = rule.bits * rule.tables;
  std::vector<std::vector<double>> planes;
  for (std::int64_t p = 0; p < width; ++p) planes.push_back(rule.plane(p, d));
  std::vector<AttentionTerm> terms;
  std::int64_t sampled_keys = 0;
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < s.heads; ++h) {
      const std::int64_t kv = s.kv_head(h);
      double max_norm = 0;
      for (std::int64_t j = 0; j < n; ++j)
        max_norm = std::max(
            max_norm, std::sqrt(dot(in.inputs.k.row(b, kv, j), in.inputs.k.row(b, kv, j), d)));
      // Projections of every key on every hyperplane, after the MIPS transform.
      std::vector<double> key_proj(static_cast<std::size_t>(n * width));
      for (std::int64_t j = 0; j < n; ++j) {
        const float* k = in.inputs.k.row(b, kv, j);
        const double extra = std::sqrt(std::max(0.0, max_norm * max_norm - dot(k, k, d)));
        for (std::int64_t p = 0; p < width; ++p) {
          double x = extra * planes[p][d];
          for (std::int64_t e = 0; e < d; ++e) x += planes[p][e] * k[e];
          key_proj[j * width + p] = x / max_norm;
        }
      }
      for (std::int64_t i = 0; i < s.query_len; ++i) {
        const std::string where = spec + " " + s.to_string() + (causal ? " causal" : "") +
                                  " head " + std::to_string(h) + " query " + std::to_string(i);
        const float* q = in.inputs.q.row(b, h, i);
        const double q_norm = std::sqrt(dot(q, q, d));
        std::vector<double> q_proj(static_cast<std::size_t>(width));
        for (std::int64_t p = 0; p < width; ++p) {
          for (std::int64_t e = 0; e < d; ++e) q_proj[p] += planes[p][e] * q[e];
          q_proj[p] /= q_norm;
        }
        const std::int64_t position = s.position(i), end = causal ? position + 1 : n;
        const auto kept = [&](std::int64_t j) {
          return j < rule.sinks || (j > position - rule.window && j <= position);
        };
        variant->terms(in.inputs, b, h, i, terms);
        ASSERT_EQ(terms.size(), 1u) << where;
        const AttentionTerm& term = terms[0];
        ASSERT_EQ(term.log_weights.size(), term.keys.size()) << where;
        for (std::int64_t j = 0; j < end; ++j) {
          // Whether key j surely collides in some table, and whether it may (near-plane bits).
          bool surely = false, maybe = false;
          for (std::int64_t t = 0; t < rule.tables; ++t) {
            bool all_sure = true, all_maybe = true;
            for (std::int64_t bit = 0; bit < rule.bits; ++bit) {
              const std::int64_t p = t * rule.bits + bit;
              const double a = q_proj[p], c = key_proj[j * width + p];
              const bool near = std::abs(a) < kNearPlane || std::abs(c) < kNearPlane;
              const bool same = (a >= 0) == (c >= 0);
              all_sure = all_sure && same && !near;
              all_maybe = all_maybe && (same || near);
            }
            surely = surely || all_sure;
            maybe = maybe || all_maybe;
          }
          const auto at = std::lower_bound(term.keys.begin(), term.keys.end(), j);
          const bool chosen = at != term.keys.end() && *at == j;
          if (kept(j)) {
            ASSERT_TRUE(chosen) << where << ": sink or window key " << j << " missing";
            EXPECT_EQ(term.log_weights[static_cast<std::size_t>(at - term.keys.begin())], 0.0)
                << where << ": kept key " << j << " weighted";
            continue;
          }
          if (surely) {
            EXPECT_TRUE(chosen) << where << ": key " << j << " collides but was not sampled";
          }
          if (!maybe) {
            EXPECT_FALSE(chosen) << where << ": key " << j << " sampled without a collision";
          }
          if (!chosen) continue;
          ++sampled_keys;
          const double cosine = dot(q, in.inputs.k.row(b, kv, j), d) / (q_norm * max_norm);
          const double want = rule.log_weight(cosine);
          EXPECT_NEAR(term.log_weights[static_cast<std::size_t>(at - term.keys.begin())], want,
                      1e-6 * std::max(1.0, std::abs(want)))
              << where << ": key " << j << " cos " << cosine;
        }
        for (std::int64_t key : term.keys) ASSERT_LT(key, end) << where;
      }
    }
  EXPECT_GT(sampled_keys, 0) << spec << ": no key was sampled, the rule went untested";
}

TEST(MagicPig, SamplesByTheSimHashRuleWithImportanceWeights) {
  for (bool causal : {false, true}) {
    check_rule("magicpig:k=3,l=4,sinks=2,window=5,seed=7", {3, 4, 2, 5, 7},
               AttentionShape{1, 4, 2, 40, 40, 16}, causal);
    check_rule("magicpig:k=2,l=6,sinks=0,window=0,seed=1", {2, 6, 0, 0, 1},
               AttentionShape{2, 2, 1, 3, 120, 12}, causal);
  }
}

// With one bit and many tables almost every key is sampled with u ≈ 1: the estimate approaches
// full attention; with many bits and one table few keys collide and it is far from it.
TEST(MagicPig, MoreTablesAndFewerBitsApproachFullAttention) {
  const AttentionShape s{1, 2, 2, 64, 256, 16};
  testing::RandomInputs in(s, true, 59);
  const auto error_of = [&](const std::string& spec) {
    const auto variant = make_variant(spec);
    Tensor out(s.query_shape());
    variant->forward(in.inputs, out.mutable_view());
    const auto dense = make_variant("dense");
    Tensor full(s.query_shape());
    dense->forward(in.inputs, full.mutable_view());
    double e2 = 0, f2 = 0;
    for (std::size_t x = 0; x < out.data().size(); ++x) {
      e2 += std::pow(static_cast<double>(out.data()[x]) - full.data()[x], 2);
      f2 += std::pow(static_cast<double>(full.data()[x]), 2);
    }
    return std::sqrt(e2 / f2);
  };
  const double dense_like = error_of("magicpig:k=1,l=64,sinks=0,window=0");
  const double sparse = error_of("magicpig:k=8,l=1,sinks=0,window=0");
  EXPECT_LT(dense_like, 1e-5);
  EXPECT_GT(sparse, 10 * dense_like);
}

}  // namespace
}  // namespace attn
