// The generic correctness test: every registered variant, with its defaults and its example
// specs, equals exact fp64 attention over its own key set. A new variant is covered the day it
// registers.
#include <gtest/gtest.h>

#include <algorithm>

#include "attention/registry.hpp"
#include "test_support.hpp"

namespace attn {
namespace {

std::vector<std::string> all_specs() {
  std::vector<std::string> specs;
  for (const auto* entry : Registry::instance().entries()) {
    specs.push_back(entry->info.name);
    for (const auto& example : entry->info.examples) specs.push_back(example);
  }
  return specs;
}

std::string test_name(const std::string& spec) {
  std::string name;
  for (char c : spec) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

class EveryVariant : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryVariant, EqualsFp64ReferenceOverItsKeys) {
  const auto variant = make_variant(GetParam());
  for (std::int64_t n : {1, 63, 64, 65, 300, 1000})
    for (bool causal : {false, true})
      for (int threads : {1, 2}) {
        const Shape shape{2, 3, n, n == 300 ? 64 : 16};
        try {
          variant->check(shape, causal);
        } catch (const std::invalid_argument&) {
          continue;  // the variant refuses this size with a message; nothing to compare
        }
        testing::RandomInputs in(shape, causal, static_cast<std::uint32_t>(n));
        const Tensor out = testing::run_forward(*variant, in.inputs, threads);
        EXPECT_LT(testing::max_error_vs_reference(*variant, in.inputs, out), 3e-5)
            << GetParam() << " N=" << n << (causal ? " causal" : "") << " threads=" << threads;
      }
}

TEST_P(EveryVariant, KeysAreSortedDistinctInRangeAndCountedByPairs) {
  const auto variant = make_variant(GetParam());
  for (bool causal : {false, true}) {
    const Shape shape{2, 3, 300, 8};
    testing::RandomInputs in(shape, causal);
    std::vector<std::int64_t> keys;
    std::int64_t total = 0;
    for (std::int64_t b = 0; b < shape.batch; ++b)
      for (std::int64_t h = 0; h < shape.heads; ++h)
        for (std::int64_t i = 0; i < shape.seq_len; ++i) {
          variant->keys(in.inputs, b, h, i, keys);
          ASSERT_TRUE(std::is_sorted(keys.begin(), keys.end())) << GetParam();
          ASSERT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end()) << GetParam();
          if (!keys.empty()) {
            ASSERT_GE(keys.front(), 0);
            ASSERT_LT(keys.back(), shape.seq_len);
          }
          if (causal && !keys.empty()) {
            ASSERT_LE(keys.back(), i) << GetParam() << " q=" << i;
          }
          total += static_cast<std::int64_t>(keys.size());
        }
    EXPECT_EQ(variant->pairs(in.inputs), total) << GetParam() << (causal ? " causal" : "");
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
