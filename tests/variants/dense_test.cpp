#include <gtest/gtest.h>

#include "attention/core/registry.hpp"
#include "tests/support/test_support.hpp"

namespace attn {
namespace {

struct DenseCase {
  Shape shape;
  bool causal;
  int threads;
};

class DenseMatchesReference : public ::testing::TestWithParam<DenseCase> {};

TEST_P(DenseMatchesReference, OnOddSizes) {
  const DenseCase c = GetParam();
  testing::RandomInputs in(c.shape, c.causal);
  const auto dense = make_variant("dense");
  const Tensor out = testing::run_forward(*dense, in.inputs, c.threads);
  EXPECT_LT(testing::max_error_vs_reference(*dense, in.inputs, out), 2e-5);
}

std::vector<DenseCase> dense_cases() {
  std::vector<DenseCase> cases;
  for (std::int64_t n : {1, 7, 257})
    for (bool causal : {false, true})
      for (int threads : {1, 2}) cases.push_back({Shape{2, 3, n, 5}, causal, threads});
  cases.push_back({Shape{1, 2, 100, 64}, true, 2});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Sizes, DenseMatchesReference, ::testing::ValuesIn(dense_cases()),
                         [](const auto& param_info) {
                           const DenseCase& c = param_info.param;
                           return "B" + std::to_string(c.shape.batch) + "H" +
                                  std::to_string(c.shape.heads) + "N" +
                                  std::to_string(c.shape.seq_len) + "D" +
                                  std::to_string(c.shape.head_dim) +
                                  (c.causal ? "Causal" : "Full") + "T" + std::to_string(c.threads);
                         });

TEST(Dense, KeysAreAllOrThePast) {
  testing::RandomInputs in(Shape{1, 1, 5, 2}, true);
  const auto dense = make_variant("dense");
  std::vector<std::int64_t> keys;
  dense->keys(in.inputs, 0, 0, 2, keys);
  EXPECT_EQ(keys, (std::vector<std::int64_t>{0, 1, 2}));
  in.inputs.causal = false;
  dense->keys(in.inputs, 0, 0, 2, keys);
  EXPECT_EQ(keys, (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
}

TEST(Dense, CostCountsOnlyKeptPairsAndOneScoreMatrixPerConcurrentHead) {
  const auto dense = make_variant("dense");
  const Shape s{2, 8, 4096, 64};
  EXPECT_EQ(dense->cost(s, false, 2).pairs, 2 * 8 * 4096LL * 4096);
  EXPECT_EQ(dense->cost(s, true, 2).pairs, 2 * 8 * 4096LL * 4097 / 2);
  EXPECT_EQ(dense->cost(s, false, 2).workspace_bytes, 2 * 4096LL * 4096 * 4);
}

TEST(Dense, RejectsMismatchedShapes) {
  testing::RandomInputs in(Shape{1, 1, 4, 2}, false);
  Tensor wrong(Shape{1, 1, 5, 2});
  const auto dense = make_variant("dense");
  EXPECT_THROW(dense->forward(in.inputs, wrong.mutable_view()), std::invalid_argument);
}

}  // namespace
}  // namespace attn
