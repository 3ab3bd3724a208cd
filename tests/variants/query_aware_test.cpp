// The query-aware variants against their definitions, computed here independently in fp64:
// each exported key set is the set its rule names (up to near-ties that fp32 scoring may order
// either way), the oracles at full budget are full attention.
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

constexpr double kTie = 1e-4;  // scores this close may be ordered either way by fp32 scoring

// The `k` best of `candidates` by score (ties: the lower index), ascending.
std::vector<std::int64_t> best(const std::vector<double>& score,
                               std::vector<std::int64_t> candidates, std::int64_t k) {
  std::sort(candidates.begin(), candidates.end(), [&](std::int64_t a, std::int64_t b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  });
  candidates.resize(std::min<std::size_t>(candidates.size(), static_cast<std::size_t>(k)));
  std::sort(candidates.begin(), candidates.end());
  return candidates;
}

// got equals want, or differs only in items whose scores are within kTie of the boundary.
void expect_same_choice(const std::vector<std::int64_t>& got, const std::vector<std::int64_t>& want,
                        const std::vector<double>& score, const std::string& where) {
  if (got == want) return;
  ASSERT_EQ(got.size(), want.size()) << where;
  double lowest_wanted = 1e300;
  for (std::int64_t x : want) lowest_wanted = std::min(lowest_wanted, score[x]);
  for (std::int64_t x : got) {
    if (!std::binary_search(want.begin(), want.end(), x)) {
      EXPECT_GT(score[x], lowest_wanted - kTie) << where << ": chose " << x;
    }
  }
  for (std::int64_t x : want) {
    if (!std::binary_search(got.begin(), got.end(), x)) {
      EXPECT_LT(score[x], lowest_wanted + kTie) << where << ": missed " << x;
    }
  }
}

double dot(const float* a, const float* b, std::int64_t d) {
  double sum = 0;
  for (std::int64_t e = 0; e < d; ++e) sum += static_cast<double>(a[e]) * b[e];
  return sum;
}

std::vector<AttentionShape> shapes() {
  return {AttentionShape{1, 4, 2, 300, 300, 16}, AttentionShape{1, 4, 1, 37, 300, 16},
          AttentionShape{2, 2, 2, 1, 300, 16}};
}

std::string where(const std::string& spec, const AttentionShape& s, bool causal, std::int64_t h,
                  std::int64_t i) {
  return spec + " " + s.to_string() + (causal ? " causal" : "") + " h=" + std::to_string(h) +
         " query " + std::to_string(i);
}

// The blocks of `block` keys that a key list touches.
std::vector<std::int64_t> blocks_of(const std::vector<std::int64_t>& keys, std::int64_t block) {
  std::vector<std::int64_t> out;
  for (std::int64_t k : keys)
    if (out.empty() || out.back() != k / block) out.push_back(k / block);
  return out;
}

// Every key of `blocks` of `block` keys, causally up to p when asked.
std::vector<std::int64_t> keys_of_blocks(const std::vector<std::int64_t>& blocks,
                                         std::int64_t block, std::int64_t n, bool causal,
                                         std::int64_t p) {
  std::vector<std::int64_t> out;
  for (std::int64_t b : blocks)
    for (std::int64_t k = b * block; k < std::min(n, (b + 1) * block); ++k)
      if (!causal || k <= p) out.push_back(k);
  return out;
}

TEST(TopK, KeysAreTheKLargestFp64Scores) {
  const auto variant = make_variant("topk:k=17");
  for (const AttentionShape& s : shapes())
    for (bool causal : {false, true}) {
      testing::RandomInputs in(s, causal, 31);
      std::vector<std::int64_t> got;
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t h = 0; h < s.heads; ++h)
          for (std::int64_t i = 0; i < s.query_len; ++i) {
            const std::int64_t p = s.position(i), visible = causal ? p + 1 : s.seq_len;
            std::vector<double> score(static_cast<std::size_t>(visible));
            std::vector<std::int64_t> candidates(static_cast<std::size_t>(visible));
            std::iota(candidates.begin(), candidates.end(), 0);
            for (std::int64_t j = 0; j < visible; ++j)
              score[j] = dot(in.q.view().row(b, h, i), in.inputs.k_head(b, h) + j * s.head_dim,
                             s.head_dim);
            variant->keys(in.inputs, b, h, i, got);
            expect_same_choice(got, best(score, candidates, 17), score,
                               where("topk", s, causal, h, i));
          }
    }
}

void expect_same_output(const std::string& spec, const std::string& other, const AttentionShape& s,
                        bool causal) {
  testing::RandomInputs in(s, causal, 33);
  const Tensor a = testing::run_forward(*make_variant(spec), in.inputs, 2);
  const Tensor b = testing::run_forward(*make_variant(other), in.inputs, 2);
  float worst = 0;
  for (std::size_t x = 0; x < a.data().size(); ++x)
    worst = std::max(worst, std::abs(a.data()[x] - b.data()[x]));
  EXPECT_LT(worst, 1e-5f) << spec << " vs " << other << " " << s.to_string()
                          << (causal ? " causal" : "");
}

TEST(TopK, KAtLeastTheKeysEqualsDense) {
  for (const AttentionShape& s : shapes())
    for (bool causal : {false, true}) {
      expect_same_output("topk:k=300", "dense", s, causal);
      expect_same_output("topk:k=100000", "dense", s, causal);
    }
}

TEST(TopP, POneEqualsDense) {
  for (const AttentionShape& s : shapes())
    for (bool causal : {false, true}) expect_same_output("topp:p=1", "dense", s, causal);
}

TEST(TopP, KeysAreTheFewestMostProbableWithMassP) {
  for (double p : {0.3, 0.9}) {
    const auto variant = make_variant("topp:p=" + std::to_string(p));
    for (const AttentionShape& s : shapes())
      for (bool causal : {false, true}) {
        testing::RandomInputs in(s, causal, 35);
        std::vector<std::int64_t> got;
        for (std::int64_t h = 0; h < s.heads; ++h)
          for (std::int64_t i = 0; i < s.query_len; i += 3) {
            const std::int64_t pos = s.position(i), visible = causal ? pos + 1 : s.seq_len;
            std::vector<double> prob(static_cast<std::size_t>(visible));
            for (std::int64_t j = 0; j < visible; ++j)
              prob[j] = in.inputs.scale * dot(in.q.view().row(0, h, i),
                                              in.inputs.k_head(0, h) + j * s.head_dim, s.head_dim);
            const double top = *std::max_element(prob.begin(), prob.end());
            double total = 0;
            for (double& x : prob) total += x = std::exp(x - top);
            for (double& x : prob) x /= total;
            variant->keys(in.inputs, 0, h, i, got);
            const std::string at = where("topp", s, causal, h, i);
            ASSERT_FALSE(got.empty()) << at;
            // The most probable keys: none left out is more probable than one taken.
            double mass = 0, least = 1;
            for (std::int64_t k : got) mass += prob[k], least = std::min(least, prob[k]);
            for (std::int64_t j = 0; j < visible; ++j) {
              if (!std::binary_search(got.begin(), got.end(), j)) {
                ASSERT_LE(prob[j], least + 1e-6) << at << " left out " << j;
              }
            }
            // Mass at least p, and not without its least probable key.
            EXPECT_GE(mass, p - 1e-6) << at;
            EXPECT_LT(mass - least, p + 1e-6) << at;
          }
      }
  }
}

// Per query (MoBA, Quest) or per query block (block_topk): the blocks chosen by an fp64
// score, plus the block holding the query.
template <class BlockScore>
void expect_block_choice(const std::string& spec, std::int64_t block, std::int64_t k,
                         const BlockScore& block_score) {
  const auto variant = make_variant(spec);
  for (const AttentionShape& s : shapes())
    for (bool causal : {false, true}) {
      testing::RandomInputs in(s, causal, 37);
      const std::int64_t blocks = (s.seq_len + block - 1) / block;
      std::vector<std::int64_t> got;
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t h = 0; h < s.heads; ++h)
          for (std::int64_t i = 0; i < s.query_len; ++i) {
            const std::int64_t p = s.position(i), own = p / block;
            std::vector<double> score(static_cast<std::size_t>(blocks));
            std::vector<std::int64_t> candidates;
            for (std::int64_t c = 0; c < blocks; ++c) {
              score[c] = block_score(in, b, h, i, c);
              if (causal ? c < own : c != own) candidates.push_back(c);
            }
            std::vector<std::int64_t> want = best(score, candidates, k);
            variant->keys(in.inputs, b, h, i, got);
            const std::string at = where(spec, s, causal, h, i);
            // The keys are whole chosen blocks plus the own block (causal: up to p).
            std::vector<std::int64_t> chosen = blocks_of(got, block);
            ASSERT_EQ(got, keys_of_blocks(chosen, block, s.seq_len, causal, p)) << at;
            ASSERT_TRUE(std::binary_search(chosen.begin(), chosen.end(), own)) << at;
            chosen.erase(std::find(chosen.begin(), chosen.end(), own));
            expect_same_choice(chosen, want, score, at);
          }
    }
}

// Mean of rows [begin, end) of x (row stride d), dimension e.
double mean(const float* x, std::int64_t begin, std::int64_t end, std::int64_t d, std::int64_t e) {
  double sum = 0;
  for (std::int64_t r = begin; r < end; ++r) sum += x[r * d + e];
  return sum / static_cast<double>(end - begin);
}

TEST(Moba, KeysAreTheBestBlocksByQueryDotMeanKey) {
  const std::int64_t block = 16;
  expect_block_choice(
      "moba:block=16,k=3", block, 3,
      [&](const testing::RandomInputs& in, std::int64_t b, std::int64_t h, std::int64_t i,
          std::int64_t c) {
        const AttentionShape s = in.inputs.shape();
        const std::int64_t d = s.head_dim, end = std::min(s.seq_len, (c + 1) * block);
        double score = 0;
        for (std::int64_t e = 0; e < d; ++e)
          score += in.q.view().row(b, h, i)[e] * mean(in.inputs.k_head(b, h), c * block, end, d, e);
        return score;
      });
}

TEST(Quest, KeysAreTheBestPagesByUpperBound) {
  const std::int64_t page = 8;
  expect_block_choice(
      "quest:page=8,pages=5", page, 5,
      [&](const testing::RandomInputs& in, std::int64_t b, std::int64_t h, std::int64_t i,
          std::int64_t c) {
        const AttentionShape s = in.inputs.shape();
        const std::int64_t d = s.head_dim, end = std::min(s.seq_len, (c + 1) * page);
        const float* k = in.inputs.k_head(b, h);
        const float* q = in.q.view().row(b, h, i);
        double bound = 0;
        for (std::int64_t e = 0; e < d; ++e) {
          double lo = k[c * page * d + e], hi = lo;
          for (std::int64_t j = c * page; j < end; ++j)
            lo = std::min<double>(lo, k[j * d + e]), hi = std::max<double>(hi, k[j * d + e]);
          bound += std::max(q[e] * lo, q[e] * hi);
        }
        return bound;
      });
}

TEST(BlockTopK, KeysAreTheBestBlocksByMeanQueryDotMeanKey) {
  const std::int64_t block = 16;
  expect_block_choice(
      "block_topk:block=16,k=3", block, 3,
      [&](const testing::RandomInputs& in, std::int64_t b, std::int64_t h, std::int64_t i,
          std::int64_t c) {
        const AttentionShape s = in.inputs.shape();
        const std::int64_t d = s.head_dim, end = std::min(s.seq_len, (c + 1) * block);
        // The query block's queries present in this call.
        const std::int64_t own = s.position(i) / block;
        const std::int64_t lo = std::max(own * block, s.first_position()) - s.first_position();
        const std::int64_t hi = std::min((own + 1) * block, s.seq_len) - s.first_position();
        double score = 0;
        for (std::int64_t e = 0; e < d; ++e)
          score += mean(in.q.view().head(b, h), lo, hi, d, e) *
                   mean(in.inputs.k_head(b, h), c * block, end, d, e);
        return score;
      });
}

TEST(Streaming, KeysAreTheSinksAndTheRecentWindow) {
  for (const auto& [sinks, window] : {std::pair{4, 16}, std::pair{70, 5}, std::pair{0, 1}})
    for (const AttentionShape& s : shapes())
      for (bool causal : {false, true}) {
        const auto variant = make_variant("streaming:sinks=" + std::to_string(sinks) +
                                          ",window=" + std::to_string(window));
        testing::RandomInputs in(s, causal, 39);
        std::vector<std::int64_t> got;
        for (std::int64_t i = 0; i < s.query_len; ++i) {
          const std::int64_t p = s.position(i);
          std::vector<std::int64_t> want;
          for (std::int64_t j = 0; j < s.seq_len; ++j)
            if ((j < sinks && (!causal || j <= p)) || (j <= p && j > p - window)) want.push_back(j);
          variant->keys(in.inputs, 0, 1, i, got);
          ASSERT_EQ(got, want) << where(variant->spec(), s, causal, 1, i);
        }
      }
}

TEST(VerticalSlash, KeysAreTheHeaviestColumnsAndDiagonalsOfTheLastQueries) {
  const std::int64_t vertical = 9, slash = 4, last = 16;
  const auto variant = make_variant("vertical_slash:vertical=9,slash=4,last=16");
  for (const AttentionShape& s : shapes())
    for (bool causal : {false, true}) {
      testing::RandomInputs in(s, causal, 41);
      const std::int64_t n = s.seq_len, d = s.head_dim, m = s.query_len;
      const std::int64_t rows = std::min(last, m);
      std::vector<std::int64_t> got;
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t h = 0; h < s.heads; ++h) {
          std::vector<double> column(static_cast<std::size_t>(n), 0.0);
          std::vector<double> diagonal(static_cast<std::size_t>(2 * n - 1), 0.0);  // o + n - 1
          for (std::int64_t i = m - rows; i < m; ++i) {
            const std::int64_t p = s.position(i), visible = causal ? p + 1 : n;
            std::vector<double> prob(static_cast<std::size_t>(visible));
            for (std::int64_t j = 0; j < visible; ++j)
              prob[j] = in.inputs.scale *
                        dot(in.q.view().row(b, h, i), in.inputs.k_head(b, h) + j * d, d);
            const double top = *std::max_element(prob.begin(), prob.end());
            double total = 0;
            for (double& x : prob) total += x = std::exp(x - top);
            for (std::int64_t j = 0; j < visible; ++j) {
              column[j] += prob[j] / total;
              diagonal[p - j + n - 1] += prob[j] / total;
            }
          }
          std::vector<std::int64_t> all_columns(static_cast<std::size_t>(n)), offsets_in;
          std::iota(all_columns.begin(), all_columns.end(), 0);
          for (std::int64_t x = causal ? n - 1 : 0; x < 2 * n - 1; ++x) offsets_in.push_back(x);
          const auto columns = best(column, all_columns, vertical);
          const auto diagonals = best(diagonal, offsets_in, slash);
          for (std::int64_t i = 0; i < m; ++i) {
            const std::int64_t p = s.position(i);
            std::set<std::int64_t> want;
            for (std::int64_t c : columns)
              if (!causal || c <= p) want.insert(c);
            for (std::int64_t x : diagonals) {
              const std::int64_t k = p - (x - (n - 1));
              if (k >= 0 && k < n && (!causal || k <= p)) want.insert(k);
            }
            variant->keys(in.inputs, b, h, i, got);
            ASSERT_EQ(got, std::vector<std::int64_t>(want.begin(), want.end()))
                << where(variant->spec(), s, causal, h, i);
          }
        }
    }
}

}  // namespace
}  // namespace attn
