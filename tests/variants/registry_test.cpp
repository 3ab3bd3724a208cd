// The generic correctness test: every registered variant, with its defaults and its example
// specs, equals exact fp64 attention over its own key set. A new variant is covered the day it
// registers.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <set>

#include "attention/bases/selecting_variant.hpp"
#include "attention/core/registry.hpp"
#include "attention/engine/block_engine.hpp"
#include "tests/support/pattern_contract.hpp"
#include "tests/support/registry_specs.hpp"
#include "tests/support/test_support.hpp"

namespace attn {
namespace {

using testing::all_specs;
using testing::test_name;

class EveryVariant : public ::testing::TestWithParam<std::string> {};

// The serving shapes every variant must serve: query heads over fewer kv heads (2 groups of 3,
// and one kv head), and M queries at the end of N keys, from decode (M = 1) to self-attention.
struct ServingShape {
  std::int64_t kv_heads, query_len, seq_len;
};
std::vector<ServingShape> serving_shapes() {
  std::vector<ServingShape> shapes;
  for (std::int64_t n : {65, 300, 1000})
    for (std::int64_t m : {1, 7, 64, 65, 1000})
      for (std::int64_t kv : {6, 2, 1}) {
        if (m > n) continue;
        if (n == 1000 && m != 1 && m != 65 && kv == 6) continue;  // the fp64 check is O(M·N·D)
        shapes.push_back({kv, m, n});
      }
  for (std::int64_t n : {65, 300}) shapes.push_back({3, n, n});
  // Decode over a cache long enough that the engine splits each block's keys across workers.
  shapes.push_back({2, 1, 4099});
  shapes.push_back({1, 5, 4099});
  shapes.push_back({6, 2, 4099});
  return shapes;
}

std::string describe(const AttentionShape& s, bool causal, int threads) {
  return s.to_string() + (causal ? " causal" : "") + " threads=" + std::to_string(threads);
}

// Refusals are allowed only with a message; the shapes a variant refuses are listed in the
// test's output so that a reader sees which ones and why.
bool accepts(const Variant& variant, const AttentionShape& shape, bool causal) {
  try {
    variant.check(shape, causal);
    return true;
  } catch (const std::invalid_argument& e) {
    EXPECT_GT(std::string(e.what()).size(), 20u) << variant.spec() << ": a refusal must explain";
    static std::set<std::string> told;
    const std::string line = variant.spec() + ": " + e.what();
    if (told.insert(line).second) std::cout << "[ refuses  ] " << line << "\n";
    return false;
  }
}

TEST_P(EveryVariant, EqualsFp64ReferenceOverItsKeys) {
  const auto variant = make_variant(GetParam());
  std::size_t shape_index = 0;  // with `causal`, picks the dtype under TSan: both meet both
  for (std::int64_t n : {1, 63, 64, 65, 300, 1000})
    for (bool causal : {false, true}) {
      if (!causal) ++shape_index;
      if (!testing::runs_registry_case(n, n)) continue;
      const std::vector<Dtype> dtypes = testing::checked_dtypes(shape_index + causal);
      const Shape shape{2, 3, n, n == 300 ? 64 : 16};
      try {
        variant->check(shape, causal);
      } catch (const std::invalid_argument&) {
        continue;  // the variant refuses this size with a message; nothing to compare
      }
      for (const Dtype dtype : dtypes) {
        testing::RandomInputs in(shape, causal, static_cast<std::uint32_t>(n), dtype);
        const std::vector<double> want = testing::reference_over_own_keys(*variant, in.inputs);
        for (int threads : testing::checked_thread_counts()) {
          const Tensor out = testing::run_forward(*variant, in.inputs, threads);
          EXPECT_LT(testing::max_error(want, out),
                    testing::forward_tolerance(dtype, n, shape.head_dim))
              << GetParam() << " N=" << n << (causal ? " causal" : "") << " threads=" << threads
              << " " << dtype_name(dtype);
        }
      }
    }
}

TEST_P(EveryVariant, ServingShapesEqualFp64ReferenceOverItsKeys) {
  const auto variant = make_variant(GetParam());
  std::size_t shape_index = 0;  // with `causal`, picks the dtype under TSan: both meet both
  for (const ServingShape& serving : serving_shapes())
    for (bool causal : {false, true}) {
      if (!causal) ++shape_index;
      if (!testing::runs_registry_case(serving.seq_len, serving.query_len)) continue;
      const std::vector<Dtype> dtypes = testing::checked_dtypes(shape_index + causal);
      const AttentionShape shape{1,
                                 6,
                                 serving.kv_heads,
                                 serving.query_len,
                                 serving.seq_len,
                                 serving.seq_len == 300 ? 64 : 16};
      if (!accepts(*variant, shape, causal)) continue;
      for (const Dtype dtype : dtypes) {
        testing::RandomInputs in(
            shape, causal, static_cast<std::uint32_t>(serving.seq_len * 7 + serving.query_len),
            dtype);
        const std::vector<double> want = testing::reference_over_own_keys(*variant, in.inputs);
        for (int threads : testing::checked_thread_counts()) {
          const Tensor out = testing::run_forward(*variant, in.inputs, threads);
          EXPECT_LT(testing::max_error(want, out),
                    testing::forward_tolerance(dtype, shape.seq_len, shape.head_dim))
              << GetParam() << " " << describe(shape, causal, threads) << " " << dtype_name(dtype);
        }
      }
    }
}

// Over a quantized cache (int8, fp8) every variant equals fp64 over its keys on the values the
// codes stand for: the engine's paths read the codes (decode's direct kernels, the tiles
// dequantized into scratch elsewhere, the gathers), so a lost scale, a wrong row or a tail past
// head_dim shows here. D = 12 is not a whole number of vectors: the scratch path at decode.
TEST_P(EveryVariant, QuantizedCachesEqualFp64ReferenceOverItsKeys) {
  const auto variant = make_variant(GetParam());
  const std::vector<std::pair<ServingShape, std::int64_t>> shapes = {{{2, 1, 300}, 64},
                                                                     {{1, 5, 4099}, 16},
                                                                     {{2, 7, 1000}, 16},
                                                                     {{6, 65, 65}, 16},
                                                                     {{2, 1, 65}, 12}};
  for (const auto& [serving, head_dim] : shapes)
    for (bool causal : {false, true}) {
      const AttentionShape shape{1,       6, serving.kv_heads, serving.query_len, serving.seq_len,
                                 head_dim};
      if (!accepts(*variant, shape, causal)) continue;
      for (const testing::Precision& precision : testing::quantized_caches()) {
        testing::RandomInputs in(shape, causal,
                                 static_cast<std::uint32_t>(serving.seq_len + serving.query_len),
                                 precision.dtype, precision.kv);
        ASSERT_EQ(in.inputs.shape().kv_quantization, precision.kv);
        const std::vector<double> want = testing::reference_over_own_keys(*variant, in.inputs);
        for (int threads : testing::checked_thread_counts()) {
          const Tensor out = testing::run_forward(*variant, in.inputs, threads);
          EXPECT_LT(testing::max_error(want, out),
                    testing::forward_tolerance(precision.dtype, shape.seq_len, head_dim))
              << GetParam() << " " << describe(shape, causal, threads) << " " << precision.name();
        }
      }
    }
}

// Patterns are defined in absolute positions: query i of M must attend exactly the keys that
// position N - M + i attends in self-attention over the same keys. This catches a variant whose
// forward() and keys() agree with each other but measure positions from the wrong end.
TEST_P(EveryVariant, QueriesOverACacheKeepTheirPositionsKeys) {
  const auto variant = make_variant(GetParam());
  // Queries that choose their keys together (a block's mean query) may choose otherwise when
  // fewer of them are present; the rule holds for every query that chooses alone.
  if (const auto* selecting = dynamic_cast<const SelectingVariant*>(variant.get());
      selecting != nullptr && !selecting->chooses_per_query())
    GTEST_SKIP() << GetParam() << " chooses its keys per group of queries";
  for (std::int64_t n : {65, 300})
    for (std::int64_t m : {1, 7, 64})
      for (bool causal : {false, true}) {
        const AttentionShape square{1, 6, 2, n, n, 16}, tail{1, 6, 2, m, n, 16};
        if (!accepts(*variant, square, causal) || !accepts(*variant, tail, causal)) continue;
        testing::RandomInputs full(square, causal, 5);
        testing::RandomInputs last(tail, causal, 6);
        // The same keys, and the last M queries of the square problem.
        std::copy(full.k.data().begin(), full.k.data().end(), last.k.data().begin());
        std::copy(full.v.data().begin(), full.v.data().end(), last.v.data().begin());
        for (std::int64_t h = 0; h < 6; ++h)
          std::copy_n(full.q.view().row(0, h, n - m), m * 16, last.q.mutable_view().row(0, h, 0));
        const Tensor out_full = testing::run_forward(*variant, full.inputs, 2);
        const Tensor out_last = testing::run_forward(*variant, last.inputs, 2);
        std::vector<std::int64_t> want, got;
        for (std::int64_t h = 0; h < 6; ++h)
          for (std::int64_t i = 0; i < m; ++i) {
            variant->keys(full.inputs, 0, h, n - m + i, want);
            variant->keys(last.inputs, 0, h, i, got);
            ASSERT_EQ(got, want) << GetParam() << " " << describe(tail, causal, 2) << " h=" << h
                                 << " query " << i;
            for (std::int64_t e = 0; e < 16; ++e)
              ASSERT_NEAR(out_last.view().row(0, h, i)[e], out_full.view().row(0, h, n - m + i)[e],
                          1e-5)
                  << GetParam() << " " << describe(tail, causal, 2);
          }
      }
}

// Grouped-query heads read their group's K and V: the same as repeating K and V for every
// query head (the repeat_kv of model code), in keys and in output.
TEST_P(EveryVariant, GroupedHeadsEqualRepeatedKeysAndValues) {
  const auto variant = make_variant(GetParam());
  // An eviction cache is one per kv head, and DSA selects per token: the group's query heads
  // choose their keys together, by definition (eviction_test and dsa_test check that choice).
  if (variant->group_chooses_together())
    GTEST_SKIP() << GetParam() << " chooses one key set per kv group";
  for (std::int64_t m : {1, 64, 300})
    for (bool causal : {false, true}) {
      const AttentionShape grouped{2, 6, 2, m, 300, 16}, repeated{2, 6, 6, m, 300, 16};
      if (!accepts(*variant, grouped, causal) || !accepts(*variant, repeated, causal)) continue;
      testing::RandomInputs g(grouped, causal, 11);
      testing::RandomInputs r(repeated, causal, 12);
      std::copy(g.q.data().begin(), g.q.data().end(), r.q.data().begin());
      for (std::int64_t b = 0; b < 2; ++b)
        for (std::int64_t h = 0; h < 6; ++h) {
          std::copy_n(g.k.view().head(b, h / 3), 300 * 16, r.k.mutable_view().head(b, h));
          std::copy_n(g.v.view().head(b, h / 3), 300 * 16, r.v.mutable_view().head(b, h));
        }
      const Tensor out_g = testing::run_forward(*variant, g.inputs, 2);
      const Tensor out_r = testing::run_forward(*variant, r.inputs, 2);
      float worst = 0;
      for (std::size_t i = 0; i < out_g.data().size(); ++i)
        worst = std::max(worst, std::abs(out_g.data()[i] - out_r.data()[i]));
      EXPECT_LT(worst, 1e-5f) << GetParam() << " " << describe(grouped, causal, 2);
      std::vector<std::int64_t> keys_g, keys_r;
      for (std::int64_t h = 0; h < 6; ++h)
        for (std::int64_t i = 0; i < m; i += 13) {
          variant->keys(g.inputs, 1, h, i, keys_g);
          variant->keys(r.inputs, 1, h, i, keys_r);
          ASSERT_EQ(keys_g, keys_r) << GetParam() << " h=" << h << " query " << i;
        }
    }
}

TEST_P(EveryVariant, KeysAreSortedDistinctInRangeAndCountedByPairs) {
  const auto variant = make_variant(GetParam());
  for (const AttentionShape shape :
       {AttentionShape{2, 3, 300, 8}, AttentionShape{2, 6, 2, 1, 300, 8},
        AttentionShape{2, 6, 3, 37, 300, 8}, AttentionShape{1, 4, 1, 130, 300, 8}})
    for (bool causal : {false, true}) {
      if (!accepts(*variant, shape, causal)) continue;
      testing::RandomInputs in(shape, causal);
      std::vector<std::int64_t> keys, read;
      std::vector<AttentionTerm> terms;
      std::int64_t total = 0;
      for (std::int64_t b = 0; b < shape.batch; ++b)
        for (std::int64_t h = 0; h < shape.heads; ++h)
          for (std::int64_t i = 0; i < shape.query_len; ++i) {
            variant->keys(in.inputs, b, h, i, keys);
            ASSERT_TRUE(std::is_sorted(keys.begin(), keys.end())) << GetParam();
            ASSERT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end()) << GetParam();
            if (!keys.empty()) {
              ASSERT_GE(keys.front(), 0);
              ASSERT_LT(keys.back(), shape.seq_len);
            }
            if (causal && !keys.empty()) {
              ASSERT_LE(keys.back(), shape.position(i)) << GetParam() << " q=" << i;
            }
            // Every term is well formed, and keys() is the union of the rows of K they read.
            variant->terms(in.inputs, b, h, i, terms);
            read.clear();
            for (const AttentionTerm& term : terms) {
              ASSERT_TRUE(std::is_sorted(term.keys.begin(), term.keys.end())) << GetParam();
              ASSERT_EQ(std::adjacent_find(term.keys.begin(), term.keys.end()), term.keys.end());
              ASSERT_TRUE(term.log_weights.empty() || term.log_weights.size() == term.keys.size());
              ASSERT_TRUE(std::isfinite(term.gate)) << GetParam();
              if (term.reads_inputs()) {
                read.insert(read.end(), term.keys.begin(), term.keys.end());
              } else {
                ASSERT_EQ(term.k_rows.size(), term.keys.size() * 8) << GetParam();
                ASSERT_EQ(term.v_rows.size(), term.keys.size() * 8) << GetParam();
              }
              total += static_cast<std::int64_t>(term.keys.size());
            }
            std::sort(read.begin(), read.end());
            read.erase(std::unique(read.begin(), read.end()), read.end());
            ASSERT_EQ(read, keys) << GetParam() << " q=" << i << ": keys() is not its terms' rows";
          }
      // pairs() is the variant's own closed form (or count); the terms enumerate: they must agree.
      EXPECT_EQ(variant->pairs(in.inputs), total)
          << GetParam() << " " << shape.to_string() << (causal ? " causal" : "");
    }
}

// key_ranges, allowed and mask_tile agree for every query block, aligned or not, for every
// variant that attends a block pattern (fixed, or selected from the inputs).
TEST_P(EveryVariant, KeepsThePatternContract) {
  const auto variant = make_variant(GetParam());
  if (variant->evicts()) GTEST_SKIP() << GetParam() << " attends a list of kept tokens";
  bool checked = false;
  for (const AttentionShape shape :
       {AttentionShape{1, 4, 2, 300, 300, 16}, AttentionShape{1, 4, 2, 37, 300, 16}})
    for (bool causal : {false, true}) {
      if (!accepts(*variant, shape, causal)) continue;
      testing::RandomInputs in(shape, causal, 21);
      std::unique_ptr<BlockPattern> holder;
      std::shared_ptr<const Selection> selection;
      const BlockPattern* pattern = testing::pattern_of(*variant, in.inputs, holder, selection);
      if (pattern == nullptr) GTEST_SKIP() << GetParam() << " attends no block pattern";
      for (std::int64_t h : {0, 3}) {
        SCOPED_TRACE(GetParam() + " " + describe(shape, causal, 1) + " h=" + std::to_string(h));
        testing::expect_pattern_contract(*pattern, shape.first_position(), shape.seq_len, h);
        if (::testing::Test::HasFatalFailure()) return;
      }
      checked = true;
    }
  EXPECT_TRUE(checked) << GetParam() << " refused every shape";
}

// The engine on the variant's pattern with query blocks of 7 and 100 rows, which do not line
// up with the pattern's blocks: the masks of every default spec are exercised, and the result
// must still equal fp64 over the variant's keys.
TEST_P(EveryVariant, MisalignedQueryBlocksEqualFp64Reference) {
  const auto variant = make_variant(GetParam());
  for (const AttentionShape shape :
       {AttentionShape{1, 6, 2, 300, 300, 16}, AttentionShape{1, 6, 3, 101, 300, 16}})
    for (bool causal : {false, true}) {
      if (!accepts(*variant, shape, causal)) continue;
      testing::RandomInputs in(shape, causal, 23);
      std::unique_ptr<BlockPattern> holder;
      std::shared_ptr<const Selection> selection;
      const BlockPattern* pattern = testing::pattern_of(*variant, in.inputs, holder, selection);
      if (pattern == nullptr) GTEST_SKIP() << GetParam() << " attends no block pattern";
      for (std::int64_t rows : {7, 100}) {
        const testing::ReblockedPattern reblocked(*pattern, rows);
        Tensor out(shape.query_shape());
        tbb::task_arena arena(2);
        arena.execute([&] { block_attention(in.inputs, reblocked, out.mutable_view()); });
        EXPECT_LT(testing::max_error_vs_reference(*variant, in.inputs, out), 3e-5)
            << GetParam() << " " << describe(shape, causal, 2) << " query blocks of " << rows;
      }
    }
}

TEST_P(EveryVariant, SpecRoundTripsThroughTheParser) {
  const auto variant = make_variant(GetParam());
  const auto again = make_variant(variant->spec());
  EXPECT_EQ(again->spec(), variant->spec());
  EXPECT_EQ(again->params(), variant->params());
}

TEST_P(EveryVariant, PredictsWorkspaceAtLongSequences) {
  const auto variant = make_variant(GetParam());
  const Cost cost = variant->cost(Shape{1, 8, 1 << 20, 64}, false, 2);
  EXPECT_GT(cost.pairs, 0);
  EXPECT_GE(cost.workspace_bytes, 0);
  const AttentionShape decode{1, 32, 8, 1, 1 << 20, 128};
  if (!accepts(*variant, decode, true)) return;
  const Cost decode_cost = variant->cost(decode, true, 2);
  EXPECT_GT(decode_cost.pairs, 0);
  EXPECT_LE(decode_cost.pairs, 32 * (std::int64_t{1} << 20));
}

INSTANTIATE_TEST_SUITE_P(Registry, EveryVariant, ::testing::ValuesIn(all_specs()),
                         [](const auto& param_info) { return test_name(param_info.param); });

TEST(Registry, ListsTheBuiltInVariants) {
  for (const char* name : {"dense"}) EXPECT_NE(Registry::instance().find(name), nullptr) << name;
}

TEST(Registry, RejectsUnknownVariantNamingTheKnownOnes) {
  try {
    make_variant("nope:x=1");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown variant 'nope'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("dense"), std::string::npos);
  }
}

}  // namespace
}  // namespace attn
