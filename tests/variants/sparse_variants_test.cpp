// sliding_window, longformer and bigbird: each equals exact fp64 attention over its own keys(),
// its keys() follow the documented semantics, its cost() counts exactly the pairs it computes
// (in closed form, also at N = 2^20), its patterns keep fully-allowed ranges unmasked, and its
// parameters are checked with messages that name them.
#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention/bases/pattern_variant.hpp"
#include "attention/core/registry.hpp"
#include "attention/reference/reference.hpp"

namespace attn {
namespace {

constexpr std::int64_t kSizes[] = {1, 63, 64, 65, 300, 1000};

// Q, K, V with entries uniform in [-2, 2), from mt19937 with an explicit float conversion so the
// inputs are the same on every standard library.
struct Problem {
  Tensor q, k, v;
  explicit Problem(const Shape& shape, std::uint32_t seed) : q(shape), k(shape), v(shape) {
    std::mt19937 rng(seed);
    for (Tensor* t : {&q, &k, &v})
      for (float& x : t->data()) x = static_cast<float>(rng() >> 8) * 0x1p-22f - 2.0f;
  }
  AttentionInputs inputs(bool causal) const {
    AttentionInputs in{q.view(), k.view(), v.view()};
    in.causal = causal;
    in.scale = default_scale(q.shape().head_dim);
    return in;
  }
};

Shape test_shape(std::int64_t n) { return {2, 3, n, 16}; }

// Inputs per sequence length, built once: several tests sweep the same sizes.
const Problem& problem_for(std::int64_t n) {
  static std::map<std::int64_t, std::unique_ptr<Problem>> cache;
  auto& slot = cache[n];
  if (!slot) slot = std::make_unique<Problem>(test_shape(n), static_cast<std::uint32_t>(n) + 17);
  return *slot;
}

Tensor run(const Variant& variant, const AttentionInputs& in, int threads) {
  Tensor out(in.shape().query_shape());
  tbb::task_arena arena(threads);
  arena.execute([&] { variant.forward(in, out.mutable_view()); });
  return out;
}

std::vector<std::int64_t> keys_of(const Variant& v, const AttentionInputs& in, std::int64_t b,
                                  std::int64_t h, std::int64_t q) {
  std::vector<std::int64_t> keys;
  v.keys(in, b, h, q, keys);
  return keys;
}

// forward() against the fp64 reference over keys(), for 1 and 2 threads; keys() sorted, distinct,
// in range and causal when asked; cost().pairs equal to the enumerated key count.
void expect_matches_reference(const std::string& spec, std::int64_t n, bool causal) {
  SCOPED_TRACE(spec + " N=" + std::to_string(n) + (causal ? " causal" : ""));
  const auto variant = make_variant(spec);
  const Problem& p = problem_for(n);
  const AttentionInputs in = p.inputs(causal);
  const AttentionShape s = in.shape();
  const Tensor out1 = run(*variant, in, 1);
  const Tensor out2 = run(*variant, in, 2);
  std::vector<std::int64_t> keys;
  std::vector<double> ref(static_cast<std::size_t>(s.head_dim));
  std::int64_t pairs = 0, bad_keys = 0, bad_values = 0;
  double worst = 0;
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < s.heads; ++h)
      for (std::int64_t q = 0; q < n; ++q) {
        variant->keys(in, b, h, q, keys);
        pairs += static_cast<std::int64_t>(keys.size());
        const bool sorted = std::adjacent_find(keys.begin(), keys.end(),
                                               [](auto a, auto c) { return a >= c; }) == keys.end();
        const bool in_range = keys.empty() || (keys.front() >= 0 && keys.back() < n);
        if (!sorted || !in_range || (causal && !keys.empty() && keys.back() > q)) ++bad_keys;
        reference_row(in, b, h, q, keys, ref);
        for (const Tensor* out : {&out1, &out2}) {
          const float* row = out->view().row(b, h, q);
          for (std::int64_t c = 0; c < s.head_dim; ++c) {
            const double err = std::abs(row[c] - ref[c]);
            worst = std::max(worst, err);
            if (!(err <= 1e-4 + 1e-4 * std::abs(ref[c]))) ++bad_values;
          }
        }
      }
  EXPECT_EQ(bad_keys, 0) << "rows whose keys are unsorted, repeated, out of range or acausal";
  EXPECT_EQ(bad_values, 0) << "values off the fp64 reference; worst error " << worst;
  EXPECT_EQ(variant->cost(s, causal, 1).pairs, pairs);
  EXPECT_EQ(variant->cost(s, causal, 2).pairs, pairs);
}

class MatchesReference : public ::testing::TestWithParam<const char*> {};

// Runs `action` and returns the std::invalid_argument message it throws ("" if none).
template <class F>
std::string rejection(F action) {
  try {
    action();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST_P(MatchesReference, AllSizesCausalAndNot) {
  const auto variant = make_variant(GetParam());
  for (std::int64_t n : kSizes)
    for (bool causal : {false, true}) {
      // Longformer rejects more global tokens than positions (ImpossibleCombinationsAreRejected).
      if (!rejection([&] { variant->check(test_shape(n), causal); }).empty()) continue;
      expect_matches_reference(GetParam(), n, causal);
    }
}

INSTANTIATE_TEST_SUITE_P(SparseVariants, MatchesReference,
                         ::testing::Values("sliding_window", "sliding_window:left=5,right=3",
                                           "sliding_window:left=0,right=0",
                                           "sliding_window:left=70,right=1", "longformer",
                                           "longformer:left=4,right=7,global=3,dilation=3",
                                           "longformer:left=20,right=2,global=0,dilation=2",
                                           "longformer:left=100,right=30,global=65,dilation=1",
                                           "bigbird",
                                           "bigbird:block=16,window=3,global=2,random=3,seed=5",
                                           "bigbird:block=7,window=5,global=1,random=2,seed=9",
                                           "bigbird:block=10,window=1,global=3,random=40,seed=1",
                                           "bigbird:block=32,window=3,global=0,random=1,seed=3"),
                         [](const ::testing::TestParamInfo<const char*>& param_info) {
                           std::string name = "spec" + std::to_string(param_info.index) + "_";
                           for (const char* c = param_info.param; *c; ++c)
                             name += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
                           return name;
                         });

// Two variants agree: identical keys for every row, outputs within fp32 rounding.
void expect_same_attention(const std::string& spec_a, const std::string& spec_b, std::int64_t n,
                           bool causal) {
  SCOPED_TRACE(spec_a + " vs " + spec_b + " N=" + std::to_string(n) + (causal ? " causal" : ""));
  const auto a = make_variant(spec_a), b = make_variant(spec_b);
  const AttentionInputs in = problem_for(n).inputs(causal);
  const AttentionShape s = in.shape();
  std::int64_t differing_rows = 0;
  for (std::int64_t bi = 0; bi < s.batch; ++bi)
    for (std::int64_t h = 0; h < s.heads; ++h)
      for (std::int64_t q = 0; q < n; ++q)
        differing_rows += keys_of(*a, in, bi, h, q) != keys_of(*b, in, bi, h, q);
  EXPECT_EQ(differing_rows, 0);
  const Tensor out_a = run(*a, in, 2), out_b = run(*b, in, 2);
  double worst = 0;
  for (std::size_t i = 0; i < out_a.data().size(); ++i)
    worst = std::max(worst, static_cast<double>(std::abs(out_a.data()[i] - out_b.data()[i])));
  EXPECT_LE(worst, 2e-5);
}

TEST(SlidingWindow, WindowCoveringTheSequenceEqualsDense) {
  for (std::int64_t n : {1, 65, 300})
    for (bool causal : {false, true}) {
      expect_same_attention("sliding_window:left=300,right=300", "dense", n, causal);
      expect_same_attention(
          "sliding_window:left=" + std::to_string(n) + ",right=" + std::to_string(n), "dense", n,
          causal);
    }
}

TEST(Longformer, NoGlobalTokensEqualsSlidingWindow) {
  for (std::int64_t n : {65, 300})
    for (bool causal : {false, true}) {
      expect_same_attention("longformer:left=5,right=9,global=0", "sliding_window:left=5,right=9",
                            n, causal);
      expect_same_attention("longformer:left=64,right=64,global=0",
                            "sliding_window:left=64,right=64", n, causal);
    }
}

TEST(BigBird, WindowCoveringEveryBlockEqualsDense) {
  // 1000 keys in blocks of 16 are 63 blocks: a window of 125 reaches every block from any block.
  for (bool causal : {false, true}) {
    expect_same_attention("bigbird:block=16,window=125,global=0,random=0", "dense", 1000, causal);
    expect_same_attention("bigbird:block=16,window=125,global=2,random=3", "dense", 1000, causal);
  }
}

TEST(SlidingWindow, KeysAreTheInclusiveBand) {
  const auto v = make_variant("sliding_window:left=3,right=2");
  const AttentionInputs in = problem_for(300).inputs(false);
  EXPECT_EQ(keys_of(*v, in, 0, 0, 0), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(keys_of(*v, in, 0, 0, 10), (std::vector<std::int64_t>{7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(keys_of(*v, in, 0, 0, 299), (std::vector<std::int64_t>{296, 297, 298, 299}));
  const AttentionInputs causal = problem_for(300).inputs(true);
  EXPECT_EQ(keys_of(*v, causal, 0, 0, 10), (std::vector<std::int64_t>{7, 8, 9, 10}));
}

TEST(Longformer, KeysAreGlobalTokensPlusDilatedWindow) {
  const auto v = make_variant("longformer:left=2,right=3,global=2,dilation=3");
  const AttentionInputs in = problem_for(300).inputs(false);
  // Query 20: globals 0, 1 and 20 + 3t for t in [-2, 3].
  EXPECT_EQ(keys_of(*v, in, 0, 0, 20), (std::vector<std::int64_t>{0, 1, 14, 17, 20, 23, 26, 29}));
  // Query 4: its window reaches below the globals, which are not counted twice.
  EXPECT_EQ(keys_of(*v, in, 0, 0, 4), (std::vector<std::int64_t>{0, 1, 4, 7, 10, 13}));
  // A global query sees everything; every query sees the globals.
  EXPECT_EQ(keys_of(*v, in, 1, 2, 1).size(), 300u);
  const AttentionInputs causal = problem_for(300).inputs(true);
  EXPECT_EQ(keys_of(*v, causal, 0, 0, 20), (std::vector<std::int64_t>{0, 1, 14, 17, 20}));
  EXPECT_EQ(keys_of(*v, causal, 0, 0, 1), (std::vector<std::int64_t>{0, 1}));
}

// The key blocks of one query row (all its keys' blocks).
std::set<std::int64_t> blocks_of(const std::vector<std::int64_t>& keys, std::int64_t block) {
  std::set<std::int64_t> out;
  for (std::int64_t k : keys) out.insert(k / block);
  return out;
}

TEST(BigBird, EachQueryBlockSeesWindowGlobalAndRandomBlocks) {
  const std::int64_t n = 1000, block = 16, blocks = 63, random = 3;
  const auto v = make_variant("bigbird:block=16,window=3,global=3,random=3,seed=11");
  const std::int64_t first = 2, last = 1;  // ceil(3/2), floor(3/2)
  bool random_far_ahead = false;
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "not causal");
    const AttentionInputs in = problem_for(n).inputs(causal);
    for (std::int64_t h = 0; h < 3; ++h)
      for (std::int64_t qb = 0; qb < blocks; ++qb) {
        const std::int64_t q = std::min(n - 1, qb * block + block - 1);  // last row sees most
        const std::set<std::int64_t> seen = blocks_of(keys_of(*v, in, 1, h, q), block);
        const bool global_query = qb < first || qb >= blocks - last;
        std::set<std::int64_t> fixed, candidates;
        for (std::int64_t kb = 0; kb < blocks; ++kb) {
          if (causal && kb > qb) continue;
          const bool global_key = kb < first || kb >= blocks - last;
          if (global_query || global_key || std::abs(kb - qb) <= 1)
            fixed.insert(kb);
          else
            candidates.insert(kb);
        }
        std::set<std::int64_t> drawn;
        std::set_difference(seen.begin(), seen.end(), fixed.begin(), fixed.end(),
                            std::inserter(drawn, drawn.end()));
        EXPECT_TRUE(std::includes(seen.begin(), seen.end(), fixed.begin(), fixed.end()))
            << "h=" << h << " qb=" << qb;
        EXPECT_TRUE(std::includes(candidates.begin(), candidates.end(), drawn.begin(), drawn.end()))
            << "h=" << h << " qb=" << qb;
        const auto expected = global_query ? 0 : std::min<std::size_t>(random, candidates.size());
        EXPECT_EQ(drawn.size(), expected) << "h=" << h << " qb=" << qb;
        if (!causal && qb < blocks / 4 && !drawn.empty() && *drawn.rbegin() >= 3 * blocks / 4)
          random_far_ahead = true;
      }
  }
  EXPECT_TRUE(random_far_ahead) << "random blocks should be drawn from the whole sequence";
}

// The documented generator, written out independently: splitmix64 seeded with
// splitmix64(splitmix64(splitmix64(seed) ^ head) ^ query_block), then Floyd's algorithm.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t hash64(std::uint64_t x) { return splitmix64(x); }

TEST(BigBird, RandomBlocksFollowTheDocumentedGenerator) {
  // 63 blocks of 16; global=2 makes blocks 0 and 62 global; query block 30 of head 1 sees the
  // window 29..31, so the candidates are blocks 1..28 and 32..61: 58 of them.
  const std::uint64_t seed = 7, head = 1, qb = 30;
  std::uint64_t state = hash64(hash64(hash64(seed) ^ head) ^ qb);
  std::vector<std::int64_t> picked;
  for (std::int64_t j = 58 - 3; j < 58; ++j) {
    const auto t = static_cast<std::int64_t>(splitmix64(state) % static_cast<std::uint64_t>(j + 1));
    picked.push_back(std::find(picked.begin(), picked.end(), t) != picked.end() ? j : t);
  }
  std::set<std::int64_t> expected = {0, 29, 30, 31, 62};
  for (std::int64_t c : picked) expected.insert(c < 28 ? 1 + c : 32 + (c - 28));
  const auto v = make_variant("bigbird:block=16,window=3,global=2,random=3,seed=7");
  const AttentionInputs in = problem_for(1000).inputs(false);
  EXPECT_EQ(blocks_of(keys_of(*v, in, 0, 1, 30 * 16 + 5), 16), expected);
}

TEST(BigBird, SameSeedSamePatternAndBits) {
  const std::string spec = "bigbird:block=16,window=3,global=2,random=3,seed=42";
  for (bool causal : {false, true}) {
    const auto a = make_variant(spec), b = make_variant(spec);
    const AttentionInputs in = problem_for(1000).inputs(causal);
    for (std::int64_t h = 0; h < 3; ++h)
      for (std::int64_t q = 0; q < 1000; q += 7)
        ASSERT_EQ(keys_of(*a, in, 1, h, q), keys_of(*b, in, 1, h, q)) << "h=" << h << " q=" << q;
    const Tensor out_a = run(*a, in, 2), out_b = run(*b, in, 1), again = run(*a, in, 2);
    EXPECT_EQ(std::memcmp(out_a.data().data(), out_b.data().data(), out_a.data().size_bytes()), 0);
    EXPECT_EQ(std::memcmp(out_a.data().data(), again.data().data(), out_a.data().size_bytes()), 0);
  }
}

TEST(BigBird, DifferentSeedOrHeadDifferentRandomBlocks) {
  const auto a = make_variant("bigbird:block=16,window=3,global=2,random=3,seed=1");
  const auto b = make_variant("bigbird:block=16,window=3,global=2,random=3,seed=2");
  for (bool causal : {false, true}) {
    const AttentionInputs in = problem_for(1000).inputs(causal);
    int seed_differs = 0, head_differs = 0;
    for (std::int64_t qb = 1; qb < 62; ++qb) {
      const std::int64_t q = qb * 16 + 15;
      seed_differs += keys_of(*a, in, 0, 0, q) != keys_of(*b, in, 0, 0, q);
      head_differs += keys_of(*a, in, 0, 0, q) != keys_of(*a, in, 0, 1, q);
    }
    // Causal query blocks 1..5 have at most 3 past candidates, all taken, so they agree.
    EXPECT_GE(seed_differs, 40) << (causal ? "causal" : "");
    EXPECT_GE(head_differs, 40) << (causal ? "causal" : "");
    // Batch entries share the pattern: it depends on (seed, head, query block) only.
    EXPECT_EQ(keys_of(*a, in, 0, 2, 500), keys_of(*a, in, 1, 2, 500));
  }
}

// The pattern behind a variant, for the structural checks.
std::unique_ptr<BlockPattern> pattern_of(const std::string& spec, std::int64_t n, bool causal,
                                         std::unique_ptr<Variant>& holder) {
  holder = make_variant(spec);
  const auto* pv = dynamic_cast<const PatternVariant*>(holder.get());
  if (pv == nullptr) throw std::logic_error(spec + " is not a PatternVariant");
  return pv->make_pattern(test_shape(n), causal);
}

// The pattern contract itself runs for every registered variant (registry_test.cpp).

TEST(SparseVariants, FullyAllowedRangesAreUnmasked) {
  std::unique_ptr<Variant> holder;
  std::vector<KeyRange> ranges;
  // A 64-query block of a 256/256 window: only the two ragged edges are masked.
  pattern_of("sliding_window", 4096, false, holder)->key_ranges(0, 0, 1024, 1088, ranges);
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_TRUE(ranges[0].begin == 768 && ranges[0].end == 831 && ranges[0].masked);
  EXPECT_TRUE(ranges[1].begin == 831 && ranges[1].end == 1281 && !ranges[1].masked);
  EXPECT_TRUE(ranges[2].begin == 1281 && ranges[2].end == 1344 && ranges[2].masked);
  // Longformer: the global tokens are one unmasked range ahead of the window.
  pattern_of("longformer:global=2", 4096, true, holder)->key_ranges(0, 0, 1024, 1088, ranges);
  ASSERT_EQ(ranges.size(), 4u);
  EXPECT_TRUE(ranges[0].begin == 0 && ranges[0].end == 2 && !ranges[0].masked);
  EXPECT_TRUE(ranges[1].begin == 768 && ranges[1].end == 831 && ranges[1].masked);
  EXPECT_TRUE(ranges[2].begin == 831 && ranges[2].end == 1025 && !ranges[2].masked);
  EXPECT_TRUE(ranges[3].begin == 1025 && ranges[3].end == 1088 && ranges[3].masked);
  // BigBird works in whole blocks: every range of an aligned block is unmasked, and causally only
  // the diagonal block is masked.
  for (bool causal : {false, true}) {
    const auto pattern = pattern_of("bigbird", 4096, causal, holder);
    EXPECT_EQ(pattern->query_block(), 64);
    pattern->key_ranges(0, 2, 1024, 1088, ranges);
    for (const KeyRange& r : ranges) {
      EXPECT_EQ(r.begin % 64, 0);
      EXPECT_EQ(r.masked, causal && r.begin == 1024) << r.begin << ".." << r.end;
    }
  }
}

// Pairs at N = 2^20 (+ a ragged tail), counted query by query with an independent formula:
// cost() must agree and, being closed-form or per-block, return at once.
TEST(SparseVariants, CostIsExactAtAMillionTokens) {
  const std::int64_t n = (std::int64_t{1} << 20) + 37;
  const Shape shape{1, 2, n, 64};
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "not causal");
    {
      const std::int64_t left = 256, right = causal ? 0 : 100;
      std::int64_t expected = 0;
      for (std::int64_t i = 0; i < n; ++i)
        expected += std::min(n - 1, i + right) - std::max<std::int64_t>(0, i - left) + 1;
      EXPECT_EQ(make_variant("sliding_window:left=256,right=100")->cost(shape, causal, 2).pairs,
                2 * expected);
    }
    {
      const std::int64_t left = 300, right = causal ? 0 : 200, g = 5, dil = 3;
      std::int64_t expected = 0;
      const auto floor_div = [](std::int64_t a, std::int64_t b) {
        return a >= 0 ? a / b : -((-a + b - 1) / b);
      };
      for (std::int64_t i = 0; i < n; ++i) {
        if (i < g) {
          expected += causal ? i + 1 : n;
          continue;
        }
        // Window steps t in [-left, right] landing in [g, n), plus the g global keys.
        const std::int64_t t_lo = std::max(-left, -floor_div(i - g, dil));
        const std::int64_t t_hi = std::min(right, floor_div(n - 1 - i, dil));
        expected += g + (t_hi - t_lo + 1);
      }
      EXPECT_EQ(make_variant("longformer:left=300,right=200,global=5,dilation=3")
                    ->cost(shape, causal, 2)
                    .pairs,
                2 * expected);
    }
    {
      // global=2: the short last block is global, so every random block is a full one.
      const std::int64_t block = 64, blocks = (n + block - 1) / block, r = 3;
      const auto size = [&](std::int64_t kb) { return std::min(n, (kb + 1) * block) - kb * block; };
      std::int64_t expected = 0;
      for (std::int64_t qb = 0; qb < blocks; ++qb) {
        const std::int64_t rows = size(qb);
        if (qb == 0 || qb == blocks - 1) {
          expected += causal ? rows * qb * block + rows * (rows + 1) / 2 : rows * n;
          continue;
        }
        std::set<std::int64_t> fixed = {0, qb - 1, qb, qb + 1, blocks - 1};
        if (causal) fixed.erase(fixed.upper_bound(qb), fixed.end());
        const std::int64_t pool = causal ? qb + 1 : blocks;  // blocks a query block may see
        const std::int64_t drawn = std::min<std::int64_t>(r, pool - std::ssize(fixed));
        std::int64_t keys = drawn * block;
        for (std::int64_t kb : fixed) keys += kb == qb && causal ? 0 : size(kb);
        expected += rows * keys + (causal ? rows * (rows + 1) / 2 : 0);
      }
      EXPECT_EQ(make_variant("bigbird")->cost(shape, causal, 2).pairs, 2 * expected);
    }
  }
}

TEST(SparseVariants, WorkspaceIncludesTheRandomTable) {
  const Shape shape{1, 8, 1 << 20, 64};
  const auto window = make_variant("sliding_window")->cost(shape, false, 2).workspace_bytes;
  const auto bigbird = make_variant("bigbird")->cost(shape, false, 2).workspace_bytes;
  EXPECT_GT(window, 0);
  // 8 heads · 16384 blocks · (3 random + 1 count) int32.
  EXPECT_EQ(bigbird - window, 8 * 16384 * 4 * 4);
}

void expect_rejected(const std::string& spec, std::initializer_list<const char*> words) {
  const std::string message = rejection([&] { make_variant(spec); });
  ASSERT_FALSE(message.empty()) << spec << " was accepted";
  for (const char* w : words) EXPECT_NE(message.find(w), std::string::npos) << message;
}

TEST(SparseVariants, ParameterRangesAreEnforced) {
  expect_rejected("sliding_window:left=-1", {"'left'", "[0, 1073741824]", "-1"});
  expect_rejected("sliding_window:right=1073741825", {"'right'", "[0, 1073741824]"});
  expect_rejected("sliding_window:window=5", {"'window'", "left, right"});
  expect_rejected("sliding_window:left=2.5", {"'left'", "integer"});
  expect_rejected("longformer:dilation=0", {"'dilation'", "[1, 65536]"});
  expect_rejected("longformer:global=-2", {"'global'"});
  expect_rejected("bigbird:block=0", {"'block'", "[1, 65536]"});
  expect_rejected("bigbird:window=4", {"window=4", "odd", "3 or 5"});
  expect_rejected("bigbird:random=-1", {"'random'"});
  expect_rejected("bigbird:seed=4294967296", {"'seed'"});
}

TEST(SparseVariants, ImpossibleCombinationsAreRejected) {
  const auto longformer = make_variant("longformer:global=10");
  EXPECT_NO_THROW(longformer->check(test_shape(10), false));
  const std::string global_message = rejection([&] { longformer->check(test_shape(5), true); });
  EXPECT_NE(global_message.find("global=10"), std::string::npos) << global_message;
  EXPECT_NE(global_message.find("N=5"), std::string::npos) << global_message;
  const Problem small(test_shape(5), 1);
  Tensor out(test_shape(5));
  EXPECT_THROW(longformer->forward(small.inputs(false), out.mutable_view()), std::invalid_argument);
  EXPECT_THROW(longformer->cost(test_shape(5), false, 1), std::invalid_argument);

  const auto bigbird = make_variant("bigbird:block=1,random=1000");
  const std::string table_message = rejection([&] { bigbird->check({1, 8, 1 << 20, 64}, false); });
  EXPECT_NE(table_message.find("random=1000"), std::string::npos) << table_message;
  EXPECT_NE(table_message.find("block=1"), std::string::npos) << table_message;
  EXPECT_NO_THROW(bigbird->check(test_shape(1000), false));
}

TEST(SparseVariants, SmallSequencesAreServed) {
  // More global blocks, window or random blocks than the sequence has are meaningful (the sets
  // are clipped to the sequence), so the defaults run at every N.
  for (const char* spec : {"sliding_window", "longformer", "bigbird"})
    for (std::int64_t n : {1, 2, 63})
      EXPECT_NO_THROW(make_variant(spec)->check(test_shape(n), true));
}

TEST(SparseVariants, SpecsRoundTrip) {
  for (const char* spec : {"sliding_window", "longformer:dilation=2", "bigbird:seed=9,block=32"}) {
    const auto v = make_variant(spec);
    EXPECT_EQ(make_variant(v->spec())->spec(), v->spec());
  }
  EXPECT_EQ(make_variant("sliding_window")->spec(), "sliding_window:left=256,right=256");
  EXPECT_EQ(make_variant("longformer")->spec(),
            "longformer:left=256,right=256,global=1,dilation=1");
  EXPECT_EQ(make_variant("bigbird")->spec(), "bigbird:block=64,window=3,global=2,random=3,seed=0");
}

}  // namespace
}  // namespace attn
