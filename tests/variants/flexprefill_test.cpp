// FlexPrefill's per-head choice recomputed here in fp64 from its definition
// (variants/flexprefill.cpp): the last queries' attention per key block and per offset block,
// the block-mean estimate and its Jensen-Shannon distance, then either the query-aware blocks or
// the vertical and slash lines, each covering gamma of the mass.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "attention/core/registry.hpp"
#include "tests/support/test_support.hpp"

namespace attn {
namespace {

constexpr double kNear = 1e-5;  // masses (or distances) this close to a boundary may go either way

std::vector<double> mean_rows(const float* x, std::int64_t rows, std::int64_t d) {
  std::vector<double> out(static_cast<std::size_t>(d), 0.0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t e = 0; e < d; ++e) out[e] += x[r * d + e] / static_cast<double>(rows);
  return out;
}

// Indices best first (ties: the lower) until their mass reaches gamma; `near` is set when a
// neighbouring pair in that order, or a partial sum and gamma, are within kNear.
std::set<std::int64_t> cover(const std::vector<double>& mass, double gamma, bool& near) {
  std::vector<std::int64_t> order(mass.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t x, std::int64_t y) { return mass[x] > mass[y]; });
  std::set<std::int64_t> out;
  double sum = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (std::abs(sum - gamma) < kNear) near = true;
    if (i + 1 < order.size() && std::abs(mass[order[i]] - mass[order[i + 1]]) < kNear) near = true;
    if (sum < gamma) out.insert(order[i]);
    sum += mass[order[i]];
  }
  return out;
}

struct Counts {
  int query_aware = 0, vertical_slash = 0;
};

// Every query's keys in problem (b, h) against the rule; counts which pattern the head took.
void check_problem(const Variant& variant, const AttentionInputs& in, std::int64_t b,
                   std::int64_t h, std::int64_t block, double gamma, double tau,
                   const std::string& what, Counts& counts) {
  const AttentionShape s = in.shape();
  const std::int64_t n = s.seq_len, m = s.query_len, d = s.head_dim, first = s.first_position();
  const std::int64_t key_blocks = (n + block - 1) / block;
  const float* k = in.k_head(b, h);
  std::vector<std::vector<double>> key_means;
  for (std::int64_t c = 0; c < key_blocks; ++c)
    key_means.push_back(mean_rows(k + c * block * d, std::min(n, (c + 1) * block) - c * block, d));
  const std::int64_t rows = std::min(block, m), i0 = m - rows;
  std::vector<double> vertical(static_cast<std::size_t>(key_blocks), 0.0);
  std::map<std::int64_t, double> slash;
  for (std::int64_t i = i0; i < m; ++i) {
    const std::int64_t p = s.position(i), visible = in.causal ? p + 1 : n;
    std::vector<double> w(static_cast<std::size_t>(visible));
    double top = -1e300, total = 0;
    for (std::int64_t j = 0; j < visible; ++j) {
      double score = 0;
      for (std::int64_t e = 0; e < d; ++e)
        score += static_cast<double>(in.q.row(b, h, i)[e]) * k[j * d + e];
      top = std::max(top, w[j] = score * in.scale);
    }
    for (double& x : w) total += (x = std::exp(x - top));
    for (std::int64_t j = 0; j < visible; ++j) {
      vertical[j / block] += w[j] / total / static_cast<double>(rows);
      const std::int64_t o = p - j;
      slash[o >= 0 ? o / block : -((-o + block - 1) / block)] +=
          w[j] / total / static_cast<double>(rows);
    }
  }
  const std::vector<double> q_mean = mean_rows(in.q.row(b, h, i0), rows, d);
  std::vector<double> estimate(static_cast<std::size_t>(key_blocks));
  double top = -1e300, total = 0, jsd = 0;
  for (std::int64_t c = 0; c < key_blocks; ++c) {
    double x = 0;
    for (std::int64_t e = 0; e < d; ++e) x += q_mean[e] * key_means[c][e];
    top = std::max(top, estimate[c] = x * in.scale);
  }
  for (double& x : estimate) total += (x = std::exp(x - top));
  for (double& x : estimate) x /= total;
  for (std::int64_t c = 0; c < key_blocks; ++c) {
    const double mid = (estimate[c] + vertical[c]) / 2;
    if (estimate[c] > 0) jsd += 0.5 * estimate[c] * std::log(estimate[c] / mid);
    if (vertical[c] > 0) jsd += 0.5 * vertical[c] * std::log(vertical[c] / mid);
  }
  const double distance = std::sqrt(std::max(jsd, 0.0));
  if (std::abs(distance - tau) < kNear) return;  // either pattern is right
  const bool query_aware = distance < tau;
  ++(query_aware ? counts.query_aware : counts.vertical_slash);

  bool near = false;
  std::set<std::int64_t> columns, offset_blocks;
  if (!query_aware) {
    columns = cover(vertical, gamma, near);
    columns.insert(0);
    std::vector<std::int64_t> index;
    std::vector<double> mass;
    for (const auto& [t, x] : slash) {
      index.push_back(t);
      mass.push_back(x);
    }
    for (std::int64_t x : cover(mass, gamma, near)) offset_blocks.insert(index[x]);
    offset_blocks.insert(0);
  }
  std::vector<std::int64_t> got;
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int64_t p = s.position(i), visible = in.causal ? p + 1 : n;
    bool query_near = near;
    std::set<std::int64_t> chosen_blocks;
    if (query_aware) {
      const std::int64_t own = p / block;
      const std::int64_t lo = std::max(own * block, first), hi = std::min((own + 1) * block, n);
      const std::vector<double> mean = mean_rows(in.q.row(b, h, lo - first), hi - lo, d);
      const std::int64_t seen = in.causal ? own + 1 : key_blocks;
      std::vector<double> mass(static_cast<std::size_t>(seen));
      double best = -1e300, sum = 0;
      for (std::int64_t c = 0; c < seen; ++c) {
        double x = 0;
        for (std::int64_t e = 0; e < d; ++e) x += mean[e] * key_means[c][e];
        best = std::max(best, mass[c] = x * in.scale);
      }
      for (double& x : mass) sum += (x = std::exp(x - best));
      for (double& x : mass) x /= sum;
      chosen_blocks = cover(mass, gamma, query_near);
      chosen_blocks.insert(own);
    }
    std::vector<std::int64_t> want;
    for (std::int64_t j = 0; j < visible; ++j) {
      const std::int64_t o = p - j;
      const std::int64_t t = o >= 0 ? o / block : -((-o + block - 1) / block);
      const bool keep = query_aware ? chosen_blocks.count(j / block) > 0
                                    : columns.count(j / block) > 0 || offset_blocks.count(t) > 0;
      if (keep) want.push_back(j);
    }
    variant.keys(in, b, h, i, got);
    if (query_near && got != want) continue;
    EXPECT_EQ(got, want) << what << " h " << h << " query " << i
                         << (query_aware ? " (query-aware)" : " (vertical-slash)");
  }
}

TEST(FlexPrefill, EachHeadTakesThePatternItsDistanceChoosesAndCoversGamma) {
  for (const double tau : {0.0, 0.3, 1.0}) {
    const std::string spec =
        "flexprefill:block=16,gamma=0.8,tau=" + std::to_string(tau).substr(0, 3);
    const auto variant = make_variant(spec);
    Counts counts;
    for (const AttentionShape& s :
         {AttentionShape{1, 4, 2, 100, 100, 16}, AttentionShape{1, 2, 1, 21, 150, 8},
          AttentionShape{2, 2, 2, 1, 70, 16}})
      for (bool causal : {false, true}) {
        testing::RandomInputs in(s, causal, 61);
        for (std::int64_t b = 0; b < s.batch; ++b)
          for (std::int64_t h = 0; h < s.heads; ++h)
            check_problem(*variant, in.inputs, b, h, 16, 0.8, tau,
                          spec + " " + s.to_string() + (causal ? " causal" : ""), counts);
      }
    // tau = 0 never trusts the block means; tau = 1 always does (sqrt(JSD) <= sqrt(ln 2)).
    if (tau == 0.0) {
      EXPECT_EQ(counts.query_aware, 0);
    }
    if (tau == 1.0) {
      EXPECT_EQ(counts.vertical_slash, 0);
    }
    EXPECT_GT(counts.query_aware + counts.vertical_slash, 0);
  }
}

}  // namespace
}  // namespace attn
