// The block engine against the fp64 reference over a pattern's own key set, for hand-written
// patterns that exercise every path: unmasked and masked ranges, gaps, empty rows, odd block
// sizes, odd N and head dims, several threads; plus flash against dense.
#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "attention/core/registry.hpp"
#include "attention/engine/block_engine.hpp"
#include "attention/numeric/microkernel.hpp"
#include "attention/reference/reference.hpp"

namespace attn {
namespace {

struct Problem {
  Tensor q, k, v;
  AttentionInputs inputs() const {
    AttentionInputs in{q.view(), k.view(), v.view()};
    in.scale = default_scale(q.shape().head_dim);
    return in;
  }
};

Problem random_problem(const Shape& shape, unsigned seed) {
  Problem p{Tensor(shape), Tensor(shape), Tensor(shape)};
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (Tensor* t : {&p.q, &p.k, &p.v})
    for (float& x : t->data()) x = normal(rng);
  return p;
}

// A pattern given by a predicate, with ranges derived from a list of candidate key spans: keys
// in a span are flagged unmasked only when every query of the block may attend all of them.
class TestPattern final : public BlockPattern {
 public:
  using Allowed = std::function<bool(std::int64_t q, std::int64_t k)>;
  TestPattern(std::int64_t n, std::int64_t block, Allowed allowed)
      : n_(n), block_(block), allowed_(std::move(allowed)) {}

  std::int64_t query_block() const override { return block_; }

  void key_ranges(std::int64_t, std::int64_t, std::int64_t q_begin, std::int64_t q_end,
                  std::vector<KeyRange>& out) const override {
    out.clear();
    // Maximal runs of keys some query of the block attends; a run is unmasked if all do.
    std::int64_t k = 0;
    while (k < n_) {
      if (!any(q_begin, q_end, k)) {
        ++k;
        continue;
      }
      const std::int64_t begin = k;
      bool full = true;
      for (; k < n_ && any(q_begin, q_end, k); ++k) full = full && all(q_begin, q_end, k);
      out.push_back({begin, k, !full});
    }
  }
  bool allowed(std::int64_t, std::int64_t, std::int64_t q, std::int64_t k) const override {
    return allowed_(q, k);
  }

 private:
  bool any(std::int64_t q0, std::int64_t q1, std::int64_t k) const {
    for (std::int64_t q = q0; q < q1; ++q)
      if (allowed_(q, k)) return true;
    return false;
  }
  bool all(std::int64_t q0, std::int64_t q1, std::int64_t k) const {
    for (std::int64_t q = q0; q < q1; ++q)
      if (!allowed_(q, k)) return false;
    return true;
  }
  std::int64_t n_, block_;
  Allowed allowed_;
};

// A pattern that visits every key as one masked range and masks everything.
class AllMasked final : public BlockPattern {
 public:
  explicit AllMasked(std::int64_t n) : n_(n) {}
  void key_ranges(std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                  std::vector<KeyRange>& out) const override {
    out.assign({{0, n_, true}});
  }
  bool allowed(std::int64_t, std::int64_t, std::int64_t, std::int64_t) const override {
    return false;
  }

 private:
  std::int64_t n_;
};

double max_error_vs_reference(const AttentionInputs& in, const BlockPattern& pattern,
                              const Tensor& out) {
  const AttentionShape s = in.shape();
  std::vector<std::int64_t> keys;
  std::vector<double> expected(s.head_dim);
  double worst = 0;
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < s.heads; ++h)
      for (std::int64_t i = 0; i < s.seq_len; ++i) {
        pattern.keys_of(b, h, i, keys);
        reference_row(in, b, h, i, keys, expected);
        const float* got = out.view().row(b, h, i);
        for (std::int64_t e = 0; e < s.head_dim; ++e)
          worst = std::max(worst, std::abs(got[e] - expected[e]));
      }
  return worst;
}

double run_and_compare(const Shape& shape, const BlockPattern& pattern, int threads,
                       unsigned seed = 1) {
  const Problem p = random_problem(shape, seed);
  Tensor out(shape);
  std::fill(out.data().begin(), out.data().end(), std::numeric_limits<float>::quiet_NaN());
  tbb::task_arena arena(threads);
  arena.execute([&] { block_attention(p.inputs(), pattern, out.mutable_view()); });
  return max_error_vs_reference(p.inputs(), pattern, out);
}

constexpr double kTolerance = 2e-5;

struct PatternCase {
  std::string name;
  std::function<bool(std::int64_t q, std::int64_t k, std::int64_t n)> allowed;
};

const std::vector<PatternCase>& pattern_cases() {
  static const std::vector<PatternCase> cases = {
      {"full", [](std::int64_t, std::int64_t, std::int64_t) { return true; }},
      {"causal", [](std::int64_t q, std::int64_t k, std::int64_t) { return k <= q; }},
      {"band", [](std::int64_t q, std::int64_t k, std::int64_t) { return std::abs(q - k) <= 5; }},
      {"gaps",  // every third block of 16 keys, plus the query's own key: ranges with holes
       [](std::int64_t q, std::int64_t k, std::int64_t) { return (k / 16) % 3 == 0 || k == q; }},
      {"sparse_rows",  // odd rows attend nothing at all
       [](std::int64_t q, std::int64_t k, std::int64_t n) { return q % 2 == 0 && k < n - q; }},
  };
  return cases;
}

TEST(BlockEngine, MatchesReferenceOnPatternsSizesAndBlocks) {
  for (const PatternCase& pc : pattern_cases())
    for (std::int64_t n : {1, 63, 64, 65, 300})
      for (std::int64_t block : {0, 1, 7, 64, 100}) {
        const Shape shape{1, 2, n, 64};
        TestPattern pattern(n, block,
                            [&](std::int64_t q, std::int64_t k) { return pc.allowed(q, k, n); });
        EXPECT_LT(run_and_compare(shape, pattern, 2), kTolerance)
            << pc.name << " N=" << n << " block=" << block;
      }
}

TEST(BlockEngine, MatchesReferenceOnOddHeadDimsBatchHeadsAndThreads) {
  for (std::int64_t d : {1, 3, 64, 80, 32, 128})
    for (int threads : {1, 2})
      for (const char* name : {"full", "causal", "band"}) {
        const auto& pc = *std::find_if(pattern_cases().begin(), pattern_cases().end(),
                                       [&](const PatternCase& c) { return c.name == name; });
        const std::int64_t n = 65;
        const Shape shape{2, 3, n, d};
        TestPattern pattern(n, 0,
                            [&](std::int64_t q, std::int64_t k) { return pc.allowed(q, k, n); });
        EXPECT_LT(run_and_compare(shape, pattern, threads, 7), kTolerance)
            << name << " D=" << d << " threads=" << threads;
      }
}

TEST(BlockEngine, RowsWithNoAllowedKeyAreZero) {
  const Shape shape{1, 2, 70, 3};
  const AllMasked pattern(70);
  const Problem p = random_problem(shape, 3);
  Tensor out(shape);
  block_attention(p.inputs(), pattern, out.mutable_view());
  for (float x : out.data()) EXPECT_EQ(x, 0.0f);
}

TEST(BlockEngine, AttendRowsGivesLogSumExpWithEitherMaskLayout) {
  // Gathered buffers: 10 queries over keys 0..29 with keys 5..9 removed by the callback, which
  // writes the same mask query-major or key-major.
  const std::int64_t d = 5, rows = 10, keys = 30;
  const Problem p = random_problem({1, 1, keys, d}, 11);
  const float scale = 0.7f;
  const KeyRange ranges[] = {{0, 12, true}, {12, keys, false}};
  for (const MaskLayout layout : {MaskLayout::kQueryMajor, MaskLayout::kKeyMajor}) {
    const auto mask = [&](std::int64_t q0, std::int64_t q1, std::int64_t k0, std::int64_t k1,
                          float* scores, std::int64_t ld) {
      for (std::int64_t q = q0; q < q1; ++q)
        for (std::int64_t k = std::max<std::int64_t>(k0, 5); k < std::min<std::int64_t>(k1, 10);
             ++k)
          scores[layout == MaskLayout::kQueryMajor ? (q - q0) * ld + (k - k0)
                                                   : (k - k0) * ld + (q - q0)] =
              -std::numeric_limits<float>::infinity();
    };
    std::vector<float> out(rows * d), lse(rows);
    EngineWorkspace ws(d);
    const RowBlock block{.q = p.q.view().head(0, 0),
                         .q_stride = d,
                         .rows = rows,
                         .first_query = 100,
                         .k = p.k.view().head(0, 0),
                         .v = p.v.view().head(0, 0),
                         .kv_stride = d,
                         .ranges = ranges,
                         .out = out.data(),
                         .out_stride = d,
                         .log_sum_exp = lse.data()};
    attend_rows(block, scale, TileMaskRef(mask, layout), ws);
    const float* q = p.q.view().head(0, 0);
    const float* k = p.k.view().head(0, 0);
    const float* v = p.v.view().head(0, 0);
    for (std::int64_t r = 0; r < rows; ++r) {
      double total = 0;
      std::vector<double> o(d, 0.0);
      for (std::int64_t j = 0; j < keys; ++j) {
        if (j >= 5 && j < 10) continue;
        double dot = 0;
        for (std::int64_t e = 0; e < d; ++e) dot += double{q[r * d + e]} * k[j * d + e];
        const double w = std::exp(scale * dot);
        total += w;
        for (std::int64_t e = 0; e < d; ++e) o[e] += w * v[j * d + e];
      }
      EXPECT_NEAR(lse[r], std::log(total), 1e-5);
      for (std::int64_t e = 0; e < d; ++e) EXPECT_NEAR(out[r * d + e], o[e] / total, 1e-5);
    }
  }
}

TEST(BlockEngine, Exp2IsAccurate) {
  std::vector<float> x;
  for (float t = -124.0f; t <= 0.0f; t += 0.0137f) x.push_back(t);
  std::vector<float> y = x;
  kernel::exp2_nonpositive(y.data(), static_cast<std::int64_t>(y.size()));
  for (std::size_t i = 0; i < x.size(); ++i)
    EXPECT_NEAR(y[i] / std::exp2(double{x[i]}), 1.0, 5e-7) << x[i];
}

TEST(BlockEngine, PackQueriesTransposesEveryShape) {
  // The 8 × 8 in-register blocks and the scalar edges, for ragged rows and head dims.
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::int64_t granularity = kernel::row_granularity(), ld = 72;
  for (std::int64_t rows : {1, 7, 8, 9, 16, 31, 64})
    for (std::int64_t d : {1, 5, 8, 13, 16, 64, 67}) {
      const std::int64_t stride = d + 3,
                         padded = (rows + granularity - 1) / granularity * granularity;
      std::vector<float> q(static_cast<std::size_t>(rows * stride));
      for (float& x : q) x = normal(rng);
      std::vector<float> q_t(static_cast<std::size_t>(d * ld), 99.0f);
      kernel::pack_queries(q.data(), stride, rows, padded, d, 0.5f, q_t.data(), ld);
      for (std::int64_t e = 0; e < d; ++e)
        for (std::int64_t r = 0; r < ld; ++r) {
          const float expected = r < rows     ? q[static_cast<std::size_t>(r * stride + e)] * 0.5f
                                 : r < padded ? 0.0f
                                              : 99.0f;
          ASSERT_EQ(q_t[static_cast<std::size_t>(e * ld + r)], expected)
              << "rows=" << rows << " d=" << d << " e=" << e << " r=" << r;
        }
    }
}

TEST(BlockEngine, SignedArgmaxIsTheFirstLargestOfPlusMinus) {
  // Values drawn from a few levels, so ties, zeros and negative zeros all occur.
  std::mt19937 rng(4);
  std::uniform_int_distribution<int> level(-3, 3);
  const std::int64_t rows = 4 * kernel::float_lanes(), ld = rows + 8;
  for (std::int64_t half : {1, 2, 3, 8}) {
    std::vector<float> p(static_cast<std::size_t>(half * ld));
    for (float& x : p) {
      const int l = level(rng);
      x = l == 0 ? (rng() % 2 ? 0.0f : -0.0f) : 0.5f * static_cast<float>(l);
    }
    std::vector<std::int32_t> best(static_cast<std::size_t>(rows), -1);
    kernel::signed_argmax(p.data(), ld, half, rows, best.data());
    for (std::int64_t r = 0; r < rows; ++r) {
      // The largest |p_j|, the first j on ties; its negative half when p_j < 0 (not -0).
      std::int64_t expected = 0;
      float largest = -1;
      for (std::int64_t j = 0; j < half; ++j) {
        const float value = p[static_cast<std::size_t>(j * ld + r)];
        if (std::abs(value) > largest) {
          largest = std::abs(value);
          expected = value >= 0 ? j : j + half;
        }
      }
      EXPECT_EQ(best[static_cast<std::size_t>(r)], expected) << "half=" << half << " row " << r;
    }
  }
}

// The key-by-key accumulates of decode (fp32 rows, and bf16 rows with the accumulator
// deinterleaved) against fp64 for every row count they serve, key counts around the prefetch
// distance, and head dims of one vector to 128; padding columns of p_t must not leak in.
TEST(BlockEngine, FewRowAccumulatesEqualFp64) {
  const std::int64_t lanes = kernel::float_lanes(), ld_s = 64;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (std::int64_t d : {lanes, 2 * lanes, std::int64_t{64}, std::int64_t{128}})
    for (std::int64_t rows = 1; rows <= kernel::kFewRows; ++rows)
      for (std::int64_t cols : {1, 3, 5, 128}) {
        const std::int64_t stride = d + 2 * lanes;  // rows of a wider cache: the stride matters
        const auto size = [](std::int64_t n) { return static_cast<std::size_t>(n); };
        std::vector<float> p(size(cols * ld_s)), v(size(cols * stride)), acc0(size(rows * d)),
            correction(size(rows));
        for (float& x : p) x = uniform(rng) + 1.0f;
        for (float& x : v) x = uniform(rng);
        for (float& x : acc0) x = uniform(rng);
        for (float& x : correction) x = uniform(rng) + 1.0f;
        std::vector<bf16> v16(v.size());
        convert_to_bf16(v, v16);
        for (bool pairs : {false, true}) {
          if (pairs && d % kernel::pair_granularity() != 0) continue;
          std::vector<float> acc = acc0;
          if (pairs) {
            // The pair kernels hold each row as [even dims | odd dims].
            for (std::int64_t r = 0; r < rows; ++r)
              for (std::int64_t j = 0; j < d / 2; ++j) {
                acc[r * d + j] = acc0[r * d + 2 * j];
                acc[r * d + d / 2 + j] = acc0[r * d + 2 * j + 1];
              }
            kernel::accumulate_tile_few_rows_pairs(p.data(), ld_s, rows, cols, correction.data(),
                                                   v16.data(), stride, d, acc.data(), d, nullptr);
          } else {
            kernel::accumulate_tile_few_rows(p.data(), ld_s, rows, cols, correction.data(),
                                             v.data(), stride, d, acc.data(), d, nullptr);
          }
          for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t e = 0; e < d; ++e) {
              double want = double{acc0[r * d + e]} * correction[r];
              for (std::int64_t c = 0; c < cols; ++c)
                want += double{p[c * ld_s + r]} *
                        (pairs ? to_float(v16[c * stride + e]) : double{v[c * stride + e]});
              const std::int64_t at = pairs ? r * d + (e % 2 ? d / 2 : 0) + e / 2 : r * d + e;
              ASSERT_NEAR(acc[at], want, 1e-5 * (1 + std::abs(want)))
                  << "pairs=" << pairs << " D=" << d << " rows=" << rows << " cols=" << cols
                  << " r=" << r << " e=" << e;
            }
        }
      }
}

// Decode's score kernels (fp32 keys, bf16 keys widened as they load, and the bf16 pair kernel
// with Q deinterleaved) against fp64 for every row count, head dims with and without a partial
// vector (fp32), and odd key counts; rows past `rows` must be left as they were.
TEST(BlockEngine, FewRowScoresEqualFp64) {
  const std::int64_t lanes = kernel::float_lanes(), ld_s = 64;
  const auto size = [](std::int64_t n) { return static_cast<std::size_t>(n); };
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (std::int64_t d : {std::int64_t{12}, lanes, std::int64_t{64}, std::int64_t{128}})
    for (std::int64_t rows = 1; rows <= kernel::kFewRows; ++rows)
      for (std::int64_t cols : {1, 2, 3, 128}) {
        const std::int64_t dp = (d + lanes - 1) / lanes * lanes, stride = d + 3;
        // Q as the engine holds it: aligned, each row zero-padded to whole vectors.
        AlignedBuffer<float> q(size(rows * dp));
        std::fill_n(q.data(), q.size(), 0.0f);
        std::vector<float> k(size(cols * stride + dp));
        for (std::int64_t r = 0; r < rows; ++r)
          for (std::int64_t e = 0; e < d; ++e) q[size(r * dp + e)] = uniform(rng);
        for (float& x : k) x = uniform(rng);
        std::vector<bf16> k16(k.size());
        convert_to_bf16(k, k16);
        for (int path = 0; path < 3; ++path) {
          // The bf16 kernels read whole vectors (the engine widens other rows into fp32 first).
          if (path == 1 && d % lanes != 0) continue;
          if (path == 2 && d % kernel::pair_granularity() != 0) continue;
          std::vector<float> s_t(size(cols * ld_s), 7.0f);
          if (path == 0) {
            kernel::score_tile_few_rows(q.data(), dp, rows, k.data(), stride, cols, d, s_t.data(),
                                        ld_s);
          } else if (path == 1) {
            kernel::score_tile_few_rows(q.data(), dp, rows, k16.data(), stride, cols, d, s_t.data(),
                                        ld_s);
          } else {
            AlignedBuffer<float> q_pairs(q.size());
            std::fill_n(q_pairs.data(), q_pairs.size(), 0.0f);
            for (std::int64_t r = 0; r < rows; ++r)
              for (std::int64_t j = 0; j < d / 2; ++j) {
                q_pairs[size(r * dp + j)] = q[size(r * dp + 2 * j)];
                q_pairs[size(r * dp + d / 2 + j)] = q[size(r * dp + 2 * j + 1)];
              }
            kernel::score_tile_few_rows_pairs(q_pairs.data(), dp, rows, k16.data(), stride, cols, d,
                                              s_t.data(), ld_s);
          }
          for (std::int64_t c = 0; c < cols; ++c) {
            for (std::int64_t r = 0; r < rows; ++r) {
              double want = 0;
              for (std::int64_t e = 0; e < d; ++e)
                want += double{q[size(r * dp + e)]} *
                        (path == 0 ? double{k[size(c * stride + e)]}
                                   : double{to_float(k16[size(c * stride + e)])});
              ASSERT_NEAR(s_t[size(c * ld_s + r)], want, 1e-5 * (1 + std::abs(want)))
                  << "path=" << path << " D=" << d << " rows=" << rows << " cols=" << cols
                  << " c=" << c << " r=" << r;
            }
            for (std::int64_t r = rows; r < ld_s; ++r)
              ASSERT_EQ(s_t[size(c * ld_s + r)], 7.0f) << "row " << r << " of " << rows;
          }
        }
      }
}

TEST(Flash, EqualsDenseAndReference) {
  const auto flash = make_variant("flash");
  const auto dense = make_variant("dense");
  for (bool causal : {false, true})
    for (std::int64_t n : {1, 63, 65, 300})
      for (int threads : {1, 2}) {
        const Shape shape{2, 3, n, 64};
        const Problem p = random_problem(shape, 5);
        AttentionInputs in = p.inputs();
        in.causal = causal;
        Tensor a(shape), b(shape);
        tbb::task_arena arena(threads);
        arena.execute([&] {
          flash->forward(in, a.mutable_view());
          dense->forward(in, b.mutable_view());
        });
        float worst = 0;
        for (std::size_t i = 0; i < a.data().size(); ++i)
          worst = std::max(worst, std::abs(a.data()[i] - b.data()[i]));
        EXPECT_LT(worst, 2e-5f) << "N=" << n << " causal=" << causal;
        std::vector<std::int64_t> keys, expected;
        for (std::int64_t i = 0; i < n; i += 7) {
          flash->keys(in, 1, 2, i, keys);
          full_attention_keys(in, i, expected);
          EXPECT_EQ(keys, expected);
        }
        const Cost cost = flash->cost(shape, causal, threads);
        EXPECT_EQ(cost.pairs, 6 * dense_pairs_per_problem(n, causal));
        EXPECT_EQ(cost.workspace_bytes, block_attention_workspace_bytes(shape, threads));
      }
}

TEST(Flash, BlockParameterKeepsResults) {
  const Shape shape{1, 2, 130, 16};
  const Problem p = random_problem(shape, 9);
  AttentionInputs in = p.inputs();
  in.causal = true;
  Tensor a(shape), b(shape);
  make_variant("flash")->forward(in, a.mutable_view());
  make_variant("flash:block=7")->forward(in, b.mutable_view());
  for (std::size_t i = 0; i < a.data().size(); ++i) EXPECT_NEAR(a.data()[i], b.data()[i], 1e-5);
}

}  // namespace
}  // namespace attn

namespace attn {
namespace {

TEST(EnginePlan, StacksAGroupAndSplitsDecodeKeysFromTheShapeAlone) {
  const EnginePlan square = plan_block_attention(AttentionShape{1, 8, 4096, 64}, 0);
  EXPECT_EQ(square.group, 1);
  EXPECT_EQ(square.query_block, 64);
  EXPECT_EQ(square.splits, 1);
  const EnginePlan prefill = plan_block_attention(AttentionShape{1, 32, 8, 2048, 131072, 64}, 0);
  EXPECT_EQ(prefill.group, 4);
  EXPECT_EQ(prefill.rows, 64);  // four heads of 16 queries: one row tile reads each K/V tile
  EXPECT_EQ(prefill.splits, 1);
  const EnginePlan decode = plan_block_attention(AttentionShape{1, 32, 8, 1, 1 << 20, 128}, 0);
  EXPECT_EQ(decode.rows, 4);
  EXPECT_EQ(decode.tasks, 8);
  EXPECT_GE(decode.tasks * decode.splits, 32);  // both workers busy, with room to balance
  // A pattern's own blocks are absolute: the first block ends where the pattern's block does.
  const EnginePlan aligned = plan_block_attention(AttentionShape{1, 2, 2, 100, 1000, 16}, 64);
  EXPECT_EQ(aligned.lead, 900 % 64);
  EXPECT_EQ(aligned.block_queries(0, 100),
            (std::pair<std::int64_t, std::int64_t>{0, 64 - 900 % 64}));
}

TEST(KeyRanges, UnionIsMaskedWhereNotEveryListAttendsInFull) {
  const std::vector<std::vector<KeyRange>> lists{{{0, 10, false}, {20, 30, true}},
                                                 {{0, 5, false}, {5, 12, true}}};
  std::vector<KeyRange> out;
  union_of_key_ranges(lists, out);
  const std::vector<KeyRange> want{{0, 5, false}, {5, 12, true}, {20, 30, true}};
  EXPECT_EQ(out, want);
}

TEST(KeyRanges, SplitCutsEqualCountsInKeyOrder) {
  const std::vector<KeyRange> ranges{{0, 3, false}, {10, 17, true}};
  std::vector<KeyRange> out, all;
  for (std::int64_t part = 0; part < 4; ++part) {
    split_key_ranges(ranges, part, 4, out);
    std::int64_t keys = 0;
    for (const KeyRange& r : out) {
      keys += r.end - r.begin;
      all.push_back(r);
    }
    EXPECT_GE(keys, 2);
    EXPECT_LE(keys, 3);
  }
  std::vector<KeyRange> merged;
  for (const KeyRange& r : all) append_key_range(merged, r.begin, r.end, r.masked);
  EXPECT_EQ(merged, ranges);
}

}  // namespace
}  // namespace attn

namespace attn {
namespace {

TEST(EnginePlan, DecodeOnAPatternsOwnBlocksIsStillAFewRowBlock) {
  const EnginePlan plan = plan_block_attention(AttentionShape{1, 32, 8, 1, 1 << 20, 128}, 64);
  EXPECT_EQ(plan.rows, 4);
  EXPECT_GT(plan.splits, 1);
}

}  // namespace
}  // namespace attn
