// LSH attention (variants/lsh.cpp): exact against fp64 over its own union key set in every
// setting (separate, shared and identical Q/K, causal or not, several rounds, 1 and 2 threads),
// the degenerate single-chunk case equals dense attention, the hashing is reproducible, the key
// sets follow Reformer's chunk rule from the buckets (at M < N: the keys sharing a bucket with
// the query), the key codes a session keeps equal codes built at once and the bucket count its
// prefill chose, the parameters are checked, and the attention-mass recall behaves as the
// Reformer paper predicts.
#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention/core/registry.hpp"
#include "attention/reference/reference.hpp"
#include "harness/measure/accuracy.hpp"
#include "harness/measure/inputs.hpp"
#include "harness/measure/session.hpp"
#include "tests/support/test_support.hpp"
#include "variants/lsh_stages.hpp"

namespace attn {
namespace {

// How K relates to Q in a test problem.
enum class QK { kSeparate, kShared, kSameStorage };

struct Problem {
  Problem(const std::string& input, const Shape& shape, bool causal, QK qk, std::uint64_t seed = 1)
      : tensors(harness::make_inputs(input, shape, seed, qk == QK::kShared)) {
    inputs = {tensors.q.view(), qk == QK::kSameStorage ? tensors.q.view() : tensors.k.view(),
              tensors.v.view(), causal, default_scale(shape.head_dim)};
  }
  harness::InputTensors tensors;
  AttentionInputs inputs;
};

std::string spec(std::int64_t hashes, const std::string& rest = "chunk=32") {
  return "lsh:hashes=" + std::to_string(hashes) + "," + rest;
}

TEST(Lsh, EqualsFp64ReferenceOverTheUnionOfItsRounds) {
  for (std::int64_t n : {64, 65, 300, 1000})
    for (std::int64_t hashes : {1, 2, 4})
      for (bool causal : {false, true})
        for (QK qk : {QK::kSeparate, QK::kShared, QK::kSameStorage}) {
          const auto variant = make_variant(spec(hashes, "chunk=32,seed=5"));
          const Problem p("gaussian", {2, 2, n, 16}, causal, qk, static_cast<std::uint64_t>(n));
          for (int threads : {1, 2}) {
            const Tensor out = testing::run_forward(*variant, p.inputs, threads);
            EXPECT_LT(testing::max_error_vs_reference(*variant, p.inputs, out), 3e-5)
                << variant->spec() << " N=" << n << (causal ? " causal" : "")
                << " qk=" << static_cast<int>(qk) << " threads=" << threads;
          }
        }
}

TEST(Lsh, FactorisedBucketsAndLongLookbackAreExact) {
  // 64 buckets are hashed as 8 × 8; lookback 3 makes windows of four chunks.
  for (const char* rest : {"chunk=16,buckets=64,lookback=0", "chunk=8,buckets=128,lookback=3"})
    for (bool causal : {false, true}) {
      const auto variant = make_variant(spec(3, rest));
      const Problem p("clustered", {1, 3, 1000, 32}, causal, QK::kSeparate);
      const Tensor out = testing::run_forward(*variant, p.inputs, 2);
      EXPECT_LT(testing::max_error_vs_reference(*variant, p.inputs, out), 3e-5) << rest;
    }
}

TEST(Lsh, OneChunkCoveringTheSequenceIsDense) {
  // chunk >= N: every query's window is the whole sorted sequence, in every round, so later
  // rounds meet only keys already met and are masked out entirely.
  for (std::int64_t n : {65, 300})
    for (bool causal : {false, true})
      for (const char* rest : {"chunk=300,buckets=2", "chunk=4096,buckets=0"}) {
        const auto variant = make_variant(spec(3, rest));
        const Problem p("gaussian", {1, 2, n, 16}, causal, QK::kSeparate);
        std::vector<std::int64_t> keys, full;
        for (std::int64_t q = 0; q < n; ++q) {
          variant->keys(p.inputs, 0, 1, q, keys);
          full_attention_keys(p.inputs, q, full);
          ASSERT_EQ(keys, full) << rest << " q=" << q;
        }
        const Tensor out = testing::run_forward(*variant, p.inputs, 2);
        const Tensor dense = testing::run_forward(*make_variant("dense"), p.inputs, 2);
        double worst = 0;
        for (std::size_t i = 0; i < out.data().size(); ++i)
          worst = std::max(worst, static_cast<double>(std::abs(out.data()[i] - dense.data()[i])));
        EXPECT_LT(worst, 3e-5) << rest << " N=" << n;
        EXPECT_EQ(variant->pairs(p.inputs), 2 * dense_pairs_per_problem(n, causal));
      }
}

TEST(Lsh, SameSeedGivesSameBucketsAndBits) {
  const Problem p("clustered", {2, 2, 700, 32}, true, QK::kSeparate);
  const lsh::Params params{.hashes = 3, .chunk = 32, .buckets = 0, .lookback = 1, .seed = 9};
  const lsh::Layout layout(params, p.inputs.shape());
  lsh::HeadHashing first(layout), second(layout), other_seed(layout);
  lsh::hash_head(layout, p.inputs, 1, 1, first);
  lsh::hash_head(layout, p.inputs, 1, 1, second);
  lsh::Params reseeded = params;
  reseeded.seed = 10;
  lsh::hash_head(lsh::Layout(reseeded, p.inputs.shape()), p.inputs, 1, 1, other_seed);
  EXPECT_EQ(first.bucket_q, second.bucket_q);
  EXPECT_EQ(first.bucket_k, second.bucket_k);
  EXPECT_NE(first.bucket_q, other_seed.bucket_q);

  // Same spec, separate instances, 1 and 2 threads: identical output bits.
  const auto a = make_variant("lsh:hashes=3,chunk=32,seed=9");
  const auto b = make_variant("lsh:hashes=3,chunk=32,seed=9");
  const Tensor out_a = testing::run_forward(*a, p.inputs, 1);
  const Tensor out_b = testing::run_forward(*b, p.inputs, 2);
  ASSERT_EQ(out_a.data().size(), out_b.data().size());
  EXPECT_EQ(std::memcmp(out_a.data().data(), out_b.data().data(), out_a.data().size_bytes()), 0);
}

TEST(Lsh, BucketsAreTheArgmaxOfEachRotationInFp64) {
  // Every bucket, recomputed in fp64 from the stored rotations as Reformer defines it: per
  // factor, argmax over [xR; -xR], combined most significant first. fp32 may only disagree
  // where the two largest |xR| are within rounding of each other.
  for (std::int64_t buckets : {8, 1024})
    for (std::int64_t d : {16, 61}) {
      const Problem p("gaussian", {1, 2, 333, d}, false, QK::kSeparate, 4);
      const lsh::Params params{.hashes = 2, .chunk = 16, .buckets = buckets, .seed = 3};
      const lsh::Layout layout(params, p.inputs.shape());
      lsh::HeadHashing hashing(layout);
      tbb::task_arena(2).execute([&] { lsh::hash_head(layout, p.inputs, 0, 1, hashing); });
      const AlignedBuffer<float> r = lsh::rotations(layout, 1);
      std::int64_t exact = 0, near_ties = 0;
      for (const bool keys : {false, true})
        for (std::int64_t i = 0; i < layout.n; ++i) {
          const float* x = (keys ? p.inputs.k : p.inputs.q).row(0, 1, i);
          for (std::int64_t round = 0; round < params.hashes; ++round) {
            const float* column = r.data() + round * layout.columns_per_round * d;
            std::int64_t bucket = 0;
            bool tie = false;
            for (const std::int64_t factor : layout.factors) {
              double best = -1, second = -1;
              std::int64_t best_index = 0;
              for (std::int64_t j = 0; j < factor / 2; ++j, column += d) {
                double dot = 0;
                for (std::int64_t e = 0; e < d; ++e) dot += double{x[e]} * column[e];
                const double a = std::abs(dot);
                if (a > best) {
                  second = best;
                  best = a;
                  best_index = dot >= 0 ? j : j + factor / 2;
                } else {
                  second = std::max(second, a);
                }
              }
              tie = tie || best - second < 1e-5 * best;
              bucket = bucket * factor + best_index;
            }
            const auto& stored = keys ? hashing.bucket_k : hashing.bucket_q;
            if (stored[static_cast<std::size_t>(round * layout.n + i)] == bucket)
              ++exact;
            else
              EXPECT_TRUE(tie) << "buckets=" << buckets << " d=" << d << " vector " << i
                               << (keys ? " (key)" : " (query)") << " round " << round;
            near_ties += tie ? 1 : 0;
          }
        }
      EXPECT_GE(exact, 2 * params.hashes * layout.n - near_ties);
    }
}

TEST(Lsh, KeysAreTheUnionOfTheSortedChunkWindows) {
  // keys() against the rule computed here from the buckets alone: per round, queries and keys
  // stably sorted by bucket and cut into chunks, query chunk c meets every key of key chunks
  // c-lookback .. c, causal keeps keys up to the query; a query's keys are the union over rounds.
  const std::int64_t n = 300;
  for (const lsh::Params params :
       {lsh::Params{3, 16, 8, 1, 2}, lsh::Params{2, 8, 64, 2, 4}, lsh::Params{3, 32, 4, 0, 6}})
    for (bool causal : {false, true})
      for (QK qk : {QK::kSeparate, QK::kSameStorage}) {
        const std::string text = "lsh:hashes=" + std::to_string(params.hashes) +
                                 ",chunk=" + std::to_string(params.chunk) +
                                 ",buckets=" + std::to_string(params.buckets) +
                                 ",lookback=" + std::to_string(params.lookback) +
                                 ",seed=" + std::to_string(params.seed);
        const auto variant = make_variant(text);
        const Problem p("clustered", {1, 2, n, 16}, causal, qk);
        const lsh::Layout layout(params, p.inputs.shape());
        for (std::int64_t h = 0; h < 2; ++h) {
          lsh::HeadHashing hashing(layout);
          lsh::hash_head(layout, p.inputs, 0, h, hashing);
          const auto& bucket_k = hashing.shared ? hashing.bucket_q : hashing.bucket_k;
          std::vector<std::set<std::int64_t>> want(static_cast<std::size_t>(n));
          for (std::int64_t round = 0; round < params.hashes; ++round) {
            const auto sorted = [&](const std::vector<std::int32_t>& bucket) {
              std::vector<std::int64_t> order(static_cast<std::size_t>(n));
              std::iota(order.begin(), order.end(), 0);
              std::stable_sort(order.begin(), order.end(), [&](std::int64_t x, std::int64_t y) {
                return bucket[static_cast<std::size_t>(round * n + x)] <
                       bucket[static_cast<std::size_t>(round * n + y)];
              });
              return order;
            };
            const auto queries = sorted(hashing.bucket_q), keys = sorted(bucket_k);
            for (std::int64_t place = 0; place < n; ++place) {
              const std::int64_t query = queries[static_cast<std::size_t>(place)];
              const std::int64_t c = place / params.chunk;
              const std::int64_t first = std::max<std::int64_t>(0, c - params.lookback);
              for (std::int64_t at = first * params.chunk; at < std::min(n, (c + 1) * params.chunk);
                   ++at) {
                const std::int64_t key = keys[static_cast<std::size_t>(at)];
                if (!causal || key <= query) want[static_cast<std::size_t>(query)].insert(key);
              }
            }
          }
          std::vector<std::int64_t> got;
          for (std::int64_t q = 0; q < n; ++q) {
            variant->keys(p.inputs, 0, h, q, got);
            const auto& expected = want[static_cast<std::size_t>(q)];
            ASSERT_EQ(got, std::vector<std::int64_t>(expected.begin(), expected.end()))
                << text << (causal ? " causal" : "") << " qk=" << static_cast<int>(qk) << " h=" << h
                << " query " << q;
          }
        }
      }
}

std::string spec_of(const lsh::Params& params) {
  return "lsh:hashes=" + std::to_string(params.hashes) + ",chunk=" + std::to_string(params.chunk) +
         ",buckets=" + std::to_string(params.buckets) +
         ",lookback=" + std::to_string(params.lookback) + ",seed=" + std::to_string(params.seed);
}

// The last M queries of a square problem over the same keys: the square path's buckets of
// positions N - M .. N - 1 are what the M < N rule must match against.
struct TailProblem {
  TailProblem(const AttentionShape& tail_shape, bool causal, std::uint64_t seed) {
    AttentionShape square_shape = tail_shape;
    square_shape.query_len = tail_shape.seq_len;
    tensors = harness::make_inputs("clustered", square_shape, seed);
    const std::int64_t m = tail_shape.query_len, n = tail_shape.seq_len, d = tail_shape.head_dim;
    q_tail = Tensor(tail_shape.query_shape());
    for (std::int64_t b = 0; b < tail_shape.batch; ++b)
      for (std::int64_t h = 0; h < tail_shape.heads; ++h)
        std::copy_n(tensors.q.view().row(b, h, n - m), m * d, q_tail.mutable_view().row(b, h, 0));
    square = {tensors.q.view(), tensors.k.view(), tensors.v.view(), causal, default_scale(d)};
    tail = {q_tail.view(), tensors.k.view(), tensors.v.view(), causal, default_scale(d)};
  }
  harness::InputTensors tensors;
  Tensor q_tail;
  AttentionInputs square, tail;
};

TEST(Lsh, QueriesOverACacheAttendTheKeysSharingABucket) {
  // keys() at M < N against the rule computed here from the square path's buckets: query i, at
  // p = N - M + i, attends every key j (causal: j <= p) whose bucket equals the query's in some
  // round, and its own position p.
  const std::int64_t n = 301;
  for (const lsh::Params params :
       {lsh::Params{3, 16, 8, 1, 2}, lsh::Params{2, 8, 64, 0, 4}, lsh::Params{4, 16, 0, 1, 7}})
    for (std::int64_t kv : {6, 2, 1})
      for (std::int64_t m : {1, 7})
        for (bool causal : {false, true}) {
          const AttentionShape shape{2, 6, kv, m, n, 16};
          const TailProblem p(shape, causal, static_cast<std::uint64_t>(kv * 10 + m));
          const auto variant = make_variant(spec_of(params));
          const std::string what =
              spec_of(params) + " " + shape.to_string() + (causal ? " causal" : "");
          AttentionShape square_shape = shape;
          square_shape.query_len = n;
          const lsh::Layout layout(params, square_shape);
          std::int64_t total = 0, beyond_own = 0;
          std::vector<std::int64_t> got;
          for (std::int64_t b = 0; b < 2; ++b)
            for (std::int64_t h = 0; h < 6; ++h) {
              lsh::HeadHashing hashing(layout);
              lsh::hash_head(layout, p.square, b, h, hashing);
              for (std::int64_t i = 0; i < m; ++i) {
                const std::int64_t position = n - m + i;
                std::vector<std::int64_t> want;
                for (std::int64_t j = 0; j < (causal ? position + 1 : n); ++j) {
                  bool met = j == position;
                  for (std::int64_t round = 0; round < params.hashes; ++round)
                    met =
                        met || hashing.bucket_k[static_cast<std::size_t>(round * n + j)] ==
                                   hashing.bucket_q[static_cast<std::size_t>(round * n + position)];
                  if (met) want.push_back(j);
                }
                variant->keys(p.tail, b, h, i, got);
                ASSERT_EQ(got, want) << what << " b=" << b << " h=" << h << " query " << i;
                total += static_cast<std::int64_t>(got.size());
                beyond_own += got.size() > 1 ? 1 : 0;
              }
            }
          EXPECT_EQ(variant->pairs(p.tail), total) << what;
          EXPECT_GE(variant->cost(shape, causal, 2).pairs, total) << what;
          EXPECT_GT(beyond_own, 0) << what << ": no query met a key besides its own";
          const Tensor out = testing::run_forward(*variant, p.tail, 2);
          EXPECT_LT(testing::max_error_vs_reference(*variant, p.tail, out), 3e-5) << what;
        }
}

// The first `keys` keys of `full` as a session's cache holds them: views of longer heads.
AttentionInputs first_keys(const AttentionInputs& full, std::int64_t keys) {
  AttentionInputs in = full;
  in.k.shape.seq_len = in.v.shape.seq_len = keys;
  in.k.head_stride = full.k.stride();
  in.v.head_stride = full.v.stride();
  return in;
}

TEST(Lsh, KeyCodesExtendedStepByStepEqualCodesBuiltAtOnce) {
  // A session's codes after appended keys, one or several at a time, equal the codes hashed at
  // once over the same keys, value for value, and equal the square path's key buckets.
  const std::int64_t prefill = 37, total = 61;
  for (const lsh::Params params : {lsh::Params{3, 16, 8, 1, 2}, lsh::Params{2, 4, 64, 1, 5}})
    for (std::int64_t kv : {2, 1}) {
      const AttentionShape shape{2, 6, kv, total, total, 16};
      const auto tensors = harness::make_inputs("clustered", shape, 3);
      const AttentionInputs full{tensors.q.view(), tensors.k.view(), tensors.v.view(), false,
                                 0.25f};
      const auto variant = make_variant(spec_of(params));
      std::unique_ptr<CacheState> session = variant->start_session(first_keys(full, prefill));
      tbb::task_arena arena(2);
      for (std::int64_t keys = prefill; keys < total;) {
        keys = std::min(total, keys + (keys % 3 == 0 ? 3 : 1));  // steps of 1 and of 3 keys
        const AttentionInputs step = first_keys(full, keys);
        arena.execute([&] { variant->extend_session(*session, step); });
        const auto& codes = dynamic_cast<const lsh::KeyCodes&>(*session);
        ASSERT_EQ(codes.length(), keys);
        lsh::KeyCodes at_once(params, step.shape());
        at_once.extend(step);
        ASSERT_EQ(codes.values(), at_once.values())
            << spec_of(params) << " kv=" << kv << " after " << keys << " keys";
        EXPECT_EQ(codes.bytes(), at_once.bytes());
      }
      // The square path hashes the same keys with the same rotations into the same buckets.
      const auto& codes = dynamic_cast<const lsh::KeyCodes&>(*session);
      const lsh::Layout layout(params, shape);
      for (std::int64_t b = 0; b < 2; ++b)
        for (std::int64_t h = 0; h < 6; ++h) {
          lsh::HeadHashing hashing(layout);
          lsh::hash_head(layout, full, b, h, hashing);
          for (std::int64_t round = 0; round < params.hashes; ++round)
            ASSERT_TRUE(std::equal(codes.codes(b, h, round), codes.codes(b, h, round) + total,
                                   hashing.bucket_k.begin() + round * total))
                << spec_of(params) << " kv=" << kv << " b=" << b << " h=" << h << " round "
                << round;
        }
      // Codes of every key in every round of every query head, and the rotations.
      EXPECT_EQ(codes.bytes(), 4 * (2 * 6 * params.hashes * total +
                                    6 * params.hashes * layout.columns_per_round * 16));
    }
}

TEST(Lsh, ASessionKeepsTheBucketCountItsPrefillChose) {
  // buckets=0 with chunk=16: a prefill of 43 keys gives 2 buckets, the grown cache of 46 or
  // more keys would give 4. The session's steps keep 2: each equals a one-shot forward with
  // buckets=2 over the same cache, key for key and bit for bit, and fp64 over its keys.
  const std::int64_t prefill = 43, steps = 12;
  ASSERT_EQ(lsh::default_buckets(prefill, 16), 2);
  ASSERT_EQ(lsh::default_buckets(prefill + steps, 16), 4);
  for (bool causal : {false, true}) {
    const AttentionShape step_shape{1, 6, 2, 1, prefill, 16};
    testing::RandomInputs in(harness::session_input_shape(step_shape, steps), causal, 8);
    const harness::SessionInputs session(in.inputs, prefill, steps);
    const auto variant = make_variant("lsh:hashes=3,chunk=16,seed=2");
    const auto fixed = make_variant("lsh:hashes=3,chunk=16,buckets=2,seed=2");
    tbb::task_arena arena(2);
    std::unique_ptr<CacheState> state;
    arena.execute([&] { state = variant->start_session(session.prefill()); });
    Tensor out(Shape{1, 6, 1, 16});
    std::vector<std::int64_t> keys, fixed_keys;
    for (std::int64_t t = 0; t < steps; ++t) {
      const AttentionInputs step = session.step(t);
      arena.execute([&] {
        variant->extend_session(*state, step);
        variant->decode_step(step, state.get(), out.mutable_view());
      });
      EXPECT_EQ(dynamic_cast<const lsh::KeyCodes&>(*state).layout().buckets, 2) << t;
      const Tensor one_shot = testing::run_forward(*fixed, step, 2);
      EXPECT_EQ(std::memcmp(out.data().data(), one_shot.data().data(), out.data().size_bytes()), 0)
          << "step " << t;
      for (std::int64_t h = 0; h < 6; ++h) {
        variant->decode_keys(step, state.get(), 0, h, keys);
        fixed->keys(step, 0, h, 0, fixed_keys);
        ASSERT_EQ(keys, fixed_keys) << "step " << t << " h=" << h;
        std::vector<double> want(16);
        reference_row(step, 0, h, 0, keys, want);
        for (std::int64_t e = 0; e < 16; ++e)
          EXPECT_NEAR(out.view().row(0, h, 0)[e], want[static_cast<std::size_t>(e)], 3e-5);
      }
    }
  }
}

TEST(Lsh, RoundsAreNestedAcrossHashCounts) {
  // Round r's rotation depends on (seed, head, r) only, so more rounds only add keys.
  const Problem p("gaussian", {1, 2, 500, 16}, false, QK::kSeparate);
  const auto two = make_variant(spec(2)), four = make_variant(spec(4));
  std::vector<std::int64_t> small, large;
  for (std::int64_t q = 0; q < 500; q += 7) {
    two->keys(p.inputs, 0, 1, q, small);
    four->keys(p.inputs, 0, 1, q, large);
    EXPECT_TRUE(std::includes(large.begin(), large.end(), small.begin(), small.end())) << q;
  }
}

TEST(Lsh, CountsItsPairsAndBoundsThemInCost) {
  for (bool causal : {false, true}) {
    const Problem p("clustered", {1, 2, 900, 16}, causal, QK::kSeparate);
    const auto variant = make_variant("lsh:hashes=4,chunk=32");
    std::int64_t total = 0;
    std::vector<std::int64_t> keys;
    for (std::int64_t h = 0; h < 2; ++h)
      for (std::int64_t q = 0; q < 900; ++q) {
        variant->keys(p.inputs, 0, h, q, keys);
        total += static_cast<std::int64_t>(keys.size());
      }
    EXPECT_EQ(variant->pairs(p.inputs), total);
    EXPECT_GE(variant->cost(p.inputs.shape(), causal, 2).pairs, total);
  }
}

TEST(Lsh, DefaultBucketsAndFactors) {
  EXPECT_EQ(lsh::default_buckets(65536, 64), 1024);
  EXPECT_EQ(lsh::default_buckets(1000, 64), 16);
  EXPECT_EQ(lsh::default_buckets(300, 64), 4);
  EXPECT_EQ(lsh::default_buckets(1, 64), 2);
  EXPECT_EQ(lsh::bucket_factors(16), (std::vector<std::int64_t>{16}));
  EXPECT_EQ(lsh::bucket_factors(6), (std::vector<std::int64_t>{6}));
  EXPECT_EQ(lsh::bucket_factors(1024), (std::vector<std::int64_t>{16, 8, 8}));
  EXPECT_EQ(lsh::bucket_factors(64), (std::vector<std::int64_t>{8, 8}));
}

void expect_rejected(const std::string& spec_text, const Shape& shape, const std::string& word) {
  try {
    make_variant(spec_text)->check(shape, false);
    ADD_FAILURE() << spec_text << " accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
  }
}

TEST(Lsh, RejectsImpossibleParametersNamingThem) {
  const Shape shape{1, 1, 1000, 16};
  expect_rejected("lsh:buckets=7", shape, "buckets=7");
  expect_rejected("lsh:buckets=24", shape, "buckets=24");
  expect_rejected("lsh:buckets=2048", shape, "buckets=2048");  // more than N = 1000
  expect_rejected("lsh:hashes=0", shape, "hashes");
  expect_rejected("lsh:chunk=0", shape, "chunk");
  EXPECT_NO_THROW(make_variant("lsh:buckets=16")->check({1, 1, 1, 16}, false));
}

// Mean attention-mass recall of `spec_text` on the sampled rows of `p`.
double recall(const std::string& spec_text, const Problem& p, std::int64_t rows) {
  const auto variant = make_variant(spec_text);
  const Tensor out = testing::run_forward(*variant, p.inputs, 2);
  const auto reference = harness::sample_full_attention(p.inputs, rows, 3);
  return harness::measure_accuracy(*variant, p.inputs, out.view(), reference).mass_recall;
}

TEST(Lsh, MoreHashesRecallMoreMassOnClusteredInputs) {
  const Problem p("clustered", {1, 4, 2048, 64}, false, QK::kSeparate);
  double previous = 0;
  for (std::int64_t hashes : {1, 2, 4, 8}) {
    const double r = recall(spec(hashes, "chunk=64"), p, 128);
    EXPECT_GT(r, previous) << "hashes=" << hashes;
    previous = r;
  }
}

TEST(Lsh, RecallOnGaussianInputsIsNearTheKeptShare) {
  // Gaussian Q and K make attention nearly uniform, so recall ≈ kept keys / N, and the kept
  // keys ≈ hashes · chunk · (1 + lookback) while rounds rarely repeat a key (N ≫ that). LSH
  // keeps the keys at a smaller angle to the query, whose scores are above average, so recall
  // exceeds that share (measured 1.41-1.49× at N = 8192, D = 64); the band [1, 2]× checks both
  // that it is no worse than a random key set of the same size and that it stays near it.
  const std::int64_t n = 8192, chunk = 32, lookback = 1;
  const Problem p("gaussian", {1, 2, n, 64}, false, QK::kSeparate);
  for (std::int64_t hashes : {1, 2, 4}) {
    const double share = static_cast<double>(hashes * chunk * (1 + lookback)) / n;
    const double r = recall(spec(hashes, "chunk=32"), p, 64);
    EXPECT_GT(r, share) << "hashes=" << hashes;
    EXPECT_LT(r, 2.0 * share) << "hashes=" << hashes;
  }
}

}  // namespace
}  // namespace attn
