// The eviction methods against their papers' rules, recomputed here in fp64 from the inputs:
// H2O's accumulated attention and recent window, TOVA's least-attended token, SnapKV's pooled
// window attention (per head, and shared among heads as AdaKV). Each prefill and each step is
// checked against the rule applied to the variant's own previous kept set, so a near-tie decided
// the other way in fp32 does not send the two down different paths; a choice the rule would
// not make, beyond such a tie, fails.
#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <set>

#include "attention/bases/evicting_variant.hpp"
#include "attention/core/registry.hpp"
#include "harness/measure/session.hpp"
#include "tests/support/test_support.hpp"

namespace attn {
namespace {

constexpr double kTie = 1e-6;  // fp32 scores against fp64: closer than this is a tie

double dot(const float* a, const float* b, std::int64_t d) {
  double s = 0;
  for (std::int64_t e = 0; e < d; ++e) s += static_cast<double>(a[e]) * b[e];
  return s;
}

// Query `i` of `in`, averaged over the kv group's heads: its softmax over `keys`.
std::vector<double> group_attention(const AttentionInputs& in, std::int64_t kv, std::int64_t i,
                                    const std::vector<std::int64_t>& keys) {
  const AttentionShape s = in.shape();
  std::vector<double> mean(keys.size(), 0.0);
  for (std::int64_t h = kv * s.group(); h < (kv + 1) * s.group(); ++h) {
    std::vector<double> z(keys.size());
    for (std::size_t j = 0; j < keys.size(); ++j)
      z[j] = in.scale * dot(in.q.row(0, h, i), in.k.row(0, kv, keys[j]), s.head_dim);
    const double top = *std::max_element(z.begin(), z.end());
    double sum = 0;
    for (double& x : z) sum += (x = std::exp(x - top));
    for (std::size_t j = 0; j < keys.size(); ++j)
      mean[j] += z[j] / sum / static_cast<double>(s.group());
  }
  return mean;
}

// The last `rows` queries' attention over the keys each sees, summed: per key 0..N-1.
std::vector<double> window_scores(const AttentionInputs& in, std::int64_t kv, std::int64_t rows) {
  const AttentionShape s = in.shape();
  std::vector<double> total(static_cast<std::size_t>(s.seq_len), 0.0);
  for (std::int64_t i = s.query_len - std::min(rows, s.query_len); i < s.query_len; ++i) {
    std::vector<std::int64_t> keys(
        static_cast<std::size_t>(in.causal ? s.position(i) + 1 : s.seq_len));
    std::iota(keys.begin(), keys.end(), 0);
    const std::vector<double> a = group_attention(in, kv, i, keys);
    for (std::size_t j = 0; j < keys.size(); ++j) total[j] += a[j];
  }
  return total;
}

// `chosen` (of `candidates`) is a best-`count` set by `score`, up to ties.
void expect_best(const std::vector<std::int64_t>& chosen,
                 const std::vector<std::int64_t>& candidates, std::int64_t count,
                 const std::function<double(std::int64_t)>& score, const std::string& what) {
  ASSERT_EQ(static_cast<std::int64_t>(chosen.size()),
            std::min<std::int64_t>(count, candidates.size()))
      << what;
  const std::set<std::int64_t> in(chosen.begin(), chosen.end());
  double worst_kept = INFINITY, best_dropped = -INFINITY;
  for (std::int64_t c : candidates)
    (in.count(c) ? worst_kept = std::min(worst_kept, score(c))
                 : best_dropped = std::max(best_dropped, score(c)));
  EXPECT_GE(worst_kept, best_dropped - kTie) << what << ": kept a token the rule ranks lower";
}

std::vector<std::int64_t> keys_of(const KeptKeys& kept, std::int64_t kv) {
  return {kept.head(kv).keys.begin(), kept.head(kv).keys.end()};
}

struct Case {
  std::string spec;
  std::int64_t kv_heads;
  bool causal;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.spec << " kv_heads=" << c.kv_heads << (c.causal ? " causal" : "");
}

class Eviction : public ::testing::TestWithParam<Case> {};

TEST_P(Eviction, FollowsItsPapersRuleAtPrefillAndEveryStep) {
  const Case c = GetParam();
  const auto variant = make_variant(c.spec);
  const std::string method = variant->name();
  const auto& config = variant->config();
  const std::int64_t budget = config.integer("budget"), prefill = 61, steps = 25, d = 16;
  const AttentionShape step_shape{1, 6, c.kv_heads, 1, prefill, d};
  testing::RandomInputs in(harness::session_input_shape(step_shape, steps), c.causal, 5);
  const harness::SessionInputs session(in.inputs, prefill, steps);
  tbb::task_arena arena(2);
  std::unique_ptr<CacheState> state;
  arena.execute([&] { state = variant->start_session(session.prefill()); });
  auto& kept = dynamic_cast<KeptKeys&>(*state);

  // Prefill.
  const AttentionInputs p = session.prefill();
  std::vector<std::int64_t> all(static_cast<std::size_t>(prefill));
  std::iota(all.begin(), all.end(), 0);
  if (method == "snapkv") {
    const std::int64_t window = config.integer("window"), radius = config.integer("kernel") / 2;
    const std::int64_t prefix = prefill - window;
    std::vector<std::vector<double>> pooled;
    for (std::int64_t kv = 0; kv < c.kv_heads; ++kv) {
      const std::vector<double> w = window_scores(p, kv, window);
      std::vector<double> pool(static_cast<std::size_t>(prefix));
      for (std::int64_t j = 0; j < prefix; ++j)
        for (std::int64_t i = std::max<std::int64_t>(0, j - radius);
             i <= std::min(prefix - 1, j + radius); ++i)
          pool[j] = std::max(pool[j], w[i]);
      pooled.push_back(pool);
      const std::vector<std::int64_t> keys = keys_of(kept, kv);
      for (std::int64_t j = prefix; j < prefill; ++j)
        ASSERT_TRUE(std::binary_search(keys.begin(), keys.end(), j)) << "window token " << j;
    }
    std::vector<std::int64_t> chosen, candidates;
    for (std::int64_t kv = 0; kv < c.kv_heads; ++kv)
      for (std::int64_t j : keys_of(kept, kv))
        if (j < prefix) chosen.push_back(kv * prefix + j);
    for (std::int64_t kv = 0; kv < c.kv_heads; ++kv) {
      for (std::int64_t j = 0; j < prefix; ++j) candidates.push_back(kv * prefix + j);
      if (config.integer("adaptive") == 0) {
        std::vector<std::int64_t> own;
        for (std::int64_t x : chosen)
          if (x / prefix == kv) own.push_back(x);
        expect_best(
            own, {candidates.end() - prefix, candidates.end()}, budget - window,
            [&](std::int64_t x) { return pooled[x / prefix][x % prefix]; },
            c.spec + " prefill kv " + std::to_string(kv));
      }
    }
    if (config.integer("adaptive") == 1)
      expect_best(
          chosen, candidates, (budget - window) * c.kv_heads,
          [&](std::int64_t x) { return pooled[x / prefix][x % prefix]; },
          c.spec + " prefill, one budget over the kv heads");
  } else {
    const std::int64_t recent = method == "h2o" ? config.integer("recent") : 0;
    for (std::int64_t kv = 0; kv < c.kv_heads; ++kv) {
      const std::vector<double> w = window_scores(p, kv, method == "h2o" ? p.shape().query_len : 1);
      std::vector<std::int64_t> older, chosen;
      for (std::int64_t j = 0; j < prefill - recent; ++j) older.push_back(j);
      for (std::int64_t j : keys_of(kept, kv))
        (j < prefill - recent ? chosen.push_back(j) : void());
      expect_best(
          chosen, older, budget - recent, [&](std::int64_t j) { return w[j]; },
          c.spec + " prefill kv " + std::to_string(kv));
      const auto& scores = kept.head(kv).scores;
      for (std::size_t j = 0; j < scores.size(); ++j)
        EXPECT_NEAR(scores[j], w[kept.head(kv).keys[j]], 1e-5) << c.spec << " prefill score";
    }
  }

  // Steps: the rule applied to the kept set before the step.
  for (std::int64_t t = 0; t < steps; ++t) {
    const AttentionInputs step = session.step(t);
    const std::int64_t n = prefill + t + 1;
    std::vector<std::vector<std::int64_t>> before;
    std::vector<std::vector<double>> scores_before;
    for (std::int64_t kv = 0; kv < c.kv_heads; ++kv) {
      before.push_back(keys_of(kept, kv));
      scores_before.push_back(kept.head(kv).scores);
    }
    arena.execute([&] { variant->extend_session(*state, step); });
    for (std::int64_t kv = 0; kv < c.kv_heads; ++kv) {
      const std::string what = c.spec + " step " + std::to_string(t) + " kv " + std::to_string(kv);
      std::vector<std::int64_t> offered = before[kv];
      offered.push_back(n - 1);
      const std::vector<std::int64_t> after = keys_of(kept, kv);
      if (method == "snapkv") {
        EXPECT_EQ(after, offered) << what << ": decoding keeps every new token";
        continue;
      }
      ASSERT_EQ(static_cast<std::int64_t>(after.size()),
                std::min<std::int64_t>(budget, static_cast<std::int64_t>(offered.size())))
          << what << ": the cache keeps exactly its budget";
      const std::vector<double> a = group_attention(step, kv, 0, offered);
      std::vector<double> rank(offered.size());  // what the rule drops the lowest of
      std::vector<std::int64_t> candidates;
      const std::int64_t recent = method == "h2o" ? config.integer("recent") : 0;
      for (std::size_t j = 0; j < offered.size(); ++j) {
        rank[j] =
            method == "h2o" ? (j + 1 < offered.size() ? scores_before[kv][j] : 0.0) + a[j] : a[j];
        if (offered[j] < n - recent) candidates.push_back(static_cast<std::int64_t>(j));
      }
      std::vector<std::int64_t> kept_candidates;
      for (std::int64_t j : candidates)
        if (std::binary_search(after.begin(), after.end(), offered[j]))
          kept_candidates.push_back(j);
      expect_best(
          kept_candidates, candidates,
          static_cast<std::int64_t>(candidates.size()) -
              (static_cast<std::int64_t>(offered.size()) > budget ? 1 : 0),
          [&](std::int64_t j) { return rank[j]; }, what);
      for (std::size_t j = 0, at = 0; j < offered.size(); ++j)
        if (at < after.size() && after[at] == offered[j]) {
          EXPECT_NEAR(kept.head(kv).scores[at++], rank[j], 1e-5) << what << " score";
        }
    }
  }
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const char* spec :
       {"h2o:budget=20,recent=6", "h2o:budget=12,recent=0", "tova:budget=20",
        "snapkv:budget=24,window=8,kernel=5", "snapkv:budget=24,window=8,kernel=5,adaptive=1"})
    for (std::int64_t kv : {2, 1})
      for (bool causal : {false, true}) out.push_back({spec, kv, causal});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Methods, Eviction, ::testing::ValuesIn(cases()),
                         [](const auto& param_info) {
                           const Case& c = param_info.param;
                           std::string name;
                           for (char ch : c.spec)
                             name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name + "_kv" + std::to_string(c.kv_heads) +
                                  (c.causal ? "_causal" : "");
                         });

}  // namespace
}  // namespace attn
