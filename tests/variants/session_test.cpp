// Decode sessions, for every registered variant: a cache of N keys, then T steps each appending
// one key and attending with its query. Every step equals exact fp64 attention over the step's
// own key set; a variant that keeps state (cache_state.hpp) and does not evict has, after each
// step, the state it would have built at once over the same keys, and answers each step as a
// one-shot forward over the same cache would, unless its state keeps a setting its prefill
// chose (lsh's default bucket count) and the grown cache would choose another.
#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <memory>

#include "attention/core/registry.hpp"
#include "harness/measure/session.hpp"
#include "tests/support/registry_specs.hpp"
#include "tests/support/test_support.hpp"
#include "variants/lsh_stages.hpp"

namespace attn {
namespace {

using harness::SessionInputs;

class EverySession : public ::testing::TestWithParam<std::string> {};

struct SessionShape {
  std::int64_t kv_heads, prefill, steps;
};

// Whether a session's state of `variant`, started on `prefill` keys, is the state a one-shot
// forward over `cache` keys builds. lsh with buckets=0 fixes its bucket count at the session's
// start, the power of two nearest prefill/chunk, and keeps it for every step (re-hashing the
// whole cache when N crosses a boundary is what a server would not do), while a one-shot forward
// takes the count nearest cache/chunk: where the two differ, so may the codes, the keys and the
// output, and only fp64 over the step's own keys is required. With buckets given, and for every
// other variant, they must be equal.
bool prefill_state_is_one_shot_state(const Variant& variant, std::int64_t prefill,
                                     std::int64_t cache) {
  if (variant.name() != "lsh" || variant.config().integer("buckets") != 0) return true;
  const std::int64_t chunk = variant.config().integer("chunk");
  return lsh::default_buckets(prefill, chunk) == lsh::default_buckets(cache, chunk);
}

// Odd cache lengths, grouped heads 6/2 and 6/1 and one kv head per query head; enough steps to
// cross a block or page boundary of the examples' small blocks.
std::vector<SessionShape> session_shapes() {
  return {{6, 61, 9}, {2, 61, 9}, {1, 300, 21}, {2, 1, 5}};
}

// Both dtypes on every shape; the quantized caches on the grouped ones (their kernels are the
// decode paths the grouped heads take).
std::vector<testing::Precision> session_precisions(const SessionShape& shape) {
  std::vector<testing::Precision> out = {{Dtype::kFp32}, {Dtype::kBf16}};
  if (shape.kv_heads < 6)
    for (const testing::Precision& p : testing::quantized_caches()) out.push_back(p);
  return out;
}

TEST_P(EverySession, StepsEqualFp64OverTheirKeysAndTheStateOfTheSameKeys) {
  const auto variant = make_variant(GetParam());
  std::vector<std::int64_t> keys, one_shot_keys;
  std::vector<AttentionTerm> terms;
  for (const SessionShape& shape : session_shapes())
    for (bool causal : {false, true})
      for (const testing::Precision precision : session_precisions(shape)) {
        const Dtype dtype = precision.dtype;
        const AttentionShape step_shape{1, 6, shape.kv_heads, 1, shape.prefill, 16};
        AttentionShape final_shape = step_shape;
        final_shape.seq_len += shape.steps;
        if (!variant->unsupported(step_shape, causal).empty()) continue;
        AttentionShape first_shape = step_shape;
        first_shape.seq_len += 1;
        try {
          // Every step's cache must be one the parameters serve: the first is the shortest.
          variant->check(first_shape, causal);
          variant->check(final_shape, causal);
        } catch (const std::invalid_argument&) {
          continue;  // parameters that need a longer cache; the registry test shows the refusal
        }
        const std::string what = GetParam() + " " + step_shape.to_string() + " +" +
                                 std::to_string(shape.steps) + (causal ? " causal " : " ") +
                                 precision.name();
        // fp8's scales are calibrated on the prefill; the appended tokens saturate beyond them.
        testing::RandomInputs in(harness::session_input_shape(step_shape, shape.steps), causal,
                                 static_cast<std::uint32_t>(shape.prefill * 31 + shape.steps),
                                 dtype, precision.kv, shape.prefill);
        const SessionInputs session(in.inputs, shape.prefill, shape.steps);
        tbb::task_arena arena(2);
        std::unique_ptr<CacheState> state;
        arena.execute([&] { state = variant->start_session(session.prefill()); });
        Tensor out(Shape{1, 6, 1, 16}), one_shot(Shape{1, 6, 1, 16});
        for (std::int64_t t = 0; t < shape.steps; ++t) {
          const AttentionInputs step = session.step(t);
          const std::int64_t cache = shape.prefill + t + 1;
          arena.execute([&] {
            if (state) variant->extend_session(*state, step);
            variant->decode_step(step, state.get(), out.mutable_view());
          });
          if (state) {
            ASSERT_EQ(state->length(), cache) << what << " step " << t;
            EXPECT_GT(state->bytes(), 0) << what;
          }
          std::int64_t pairs = 0;
          double worst = 0;
          for (std::int64_t h = 0; h < 6; ++h) {
            variant->decode_keys(step, state.get(), 0, h, keys);
            ASSERT_TRUE(std::is_sorted(keys.begin(), keys.end())) << what << " step " << t;
            ASSERT_TRUE(std::adjacent_find(keys.begin(), keys.end()) == keys.end()) << what;
            ASSERT_TRUE(keys.empty() || (keys.front() >= 0 && keys.back() < cache))
                << what << " step " << t;
            variant->decode_terms(step, state.get(), 0, h, terms);
            for (const AttentionTerm& term : terms)
              pairs += static_cast<std::int64_t>(term.keys.size());
            std::vector<double> want(16);
            reference_terms(step, 0, h, 0, terms, want);
            for (std::int64_t e = 0; e < 16; ++e)
              worst = std::max(worst, std::abs(want[e] - out.view().row(0, h, 0)[e]));
          }
          EXPECT_LT(worst, testing::forward_tolerance(dtype, cache, 16)) << what << " step " << t;
          EXPECT_EQ(variant->decode_pairs(step, state.get()), pairs) << what << " step " << t;
          if (variant->evicts()) continue;  // its keys depend on the steps before
          if (!prefill_state_is_one_shot_state(*variant, shape.prefill, cache)) continue;
          // The same cache as a one-shot forward, by a fresh instance: the same keys and output.
          const auto fresh = make_variant(GetParam());
          arena.execute([&] { fresh->forward(step, one_shot.mutable_view()); });
          for (std::int64_t h = 0; h < 6; ++h) {
            variant->decode_keys(step, state.get(), 0, h, keys);
            fresh->keys(step, 0, h, 0, one_shot_keys);
            ASSERT_EQ(keys, one_shot_keys) << what << " step " << t << " head " << h;
          }
          EXPECT_TRUE(std::equal(out.data().begin(), out.data().end(), one_shot.data().begin()))
              << what << " step " << t << ": the step differs from a one-shot forward";
          if (state) {
            // Incremental equals batch: the state built at once over the step's keys.
            std::unique_ptr<CacheState> batch;
            arena.execute([&] { batch = variant->start_session(step); });
            ASSERT_TRUE(batch) << what;
            EXPECT_EQ(state->values(), batch->values()) << what << " step " << t;
            EXPECT_EQ(state->bytes(), batch->bytes()) << what << " step " << t;
          }
        }
      }
}

INSTANTIATE_TEST_SUITE_P(Registry, EverySession, ::testing::ValuesIn(testing::all_specs()),
                         [](const auto& param_info) {
                           return testing::test_name(param_info.param);
                         });

}  // namespace
}  // namespace attn
