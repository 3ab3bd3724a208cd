// The worked example from the literature: six 3-d token embeddings used as Q, K and V with
// scale 1. Token 2's scores, weights and context vector are published to four decimals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "attention/core/registry.hpp"
#include "attention/reference/reference.hpp"
#include "tests/support/test_support.hpp"

namespace attn {
namespace {

const float kTokens[6][3] = {{0.43f, 0.15f, 0.89f}, {0.55f, 0.87f, 0.66f}, {0.57f, 0.85f, 0.64f},
                             {0.22f, 0.58f, 0.33f}, {0.77f, 0.25f, 0.10f}, {0.05f, 0.80f, 0.55f}};

class Golden : public ::testing::Test {
 protected:
  Golden() : x_(Shape{1, 1, 6, 3}) {
    for (int i = 0; i < 6; ++i)
      for (int c = 0; c < 3; ++c) x_.data()[i * 3 + c] = kTokens[i][c];
    inputs_ = {x_.view(), x_.view(), x_.view(), false, 1.0f};
  }
  Tensor x_;
  AttentionInputs inputs_;
};

TEST_F(Golden, ReferenceWeightsOfTokenTwo) {
  std::vector<double> weights;
  full_attention_weights(inputs_, 0, 0, 1, weights);  // token 2 is row 1
  const double expected[6] = {0.1385, 0.2379, 0.2333, 0.1240, 0.1082, 0.1581};
  for (int k = 0; k < 6; ++k) EXPECT_NEAR(weights[k], expected[k], 5e-5) << "key " << k;
}

TEST_F(Golden, ReferenceContextOfTokenTwo) {
  std::vector<std::int64_t> keys;
  full_attention_keys(inputs_, 1, keys);
  std::vector<double> out(3);
  reference_row(inputs_, 0, 0, 1, keys, out);
  EXPECT_NEAR(out[0], 0.4419, 5e-5);
  EXPECT_NEAR(out[1], 0.6515, 5e-5);
  EXPECT_NEAR(out[2], 0.5683, 5e-5);
}

TEST_F(Golden, EveryFullAttentionVariantReproducesTokenTwo) {
  for (const char* spec : {"dense", "flash"}) {
    if (!Registry::instance().find(spec)) continue;
    const auto variant = make_variant(spec);
    const Tensor out = testing::run_forward(*variant, inputs_, 1);
    const float* row = out.view().row(0, 0, 1);
    EXPECT_NEAR(row[0], 0.4419, 5e-5) << spec;
    EXPECT_NEAR(row[1], 0.6515, 5e-5) << spec;
    EXPECT_NEAR(row[2], 0.5683, 5e-5) << spec;
  }
}

// In bf16 the tokens are rounded (relative error at most u = 2^-8 each) before the kernel runs.
// Against the published context (from the unrounded tokens) the error is bounded by the inputs'
// rounding plus the kernel's: a score s = q·k moves by at most 2u·Σ_c|q_c k_c| (= 2u·|s| here,
// all entries positive), so each weight by a factor within exp(±2·2u·max|s|), which moves the
// context by at most (exp(4u·max|s|) - 1)·max|v|; V's rounding adds u·max|v| and the kernel's
// rounding of the weights (forward_tolerance) another u·max|v|. Against fp64 attention over the
// rounded tokens only the kernel's share remains.
TEST_F(Golden, EveryFullAttentionVariantReproducesTokenTwoInBf16) {
  Tensor q(Shape{1, 1, 6, 3}), k(Shape{1, 1, 6, 3}), v(Shape{1, 1, 6, 3});
  for (Tensor* t : {&q, &k, &v}) std::copy(x_.data().begin(), x_.data().end(), t->data().begin());
  AttentionInputs rounded{q.view(), k.view(), v.view(), false, 1.0f};
  const Bf16Copies copies = make_bf16_inputs(q, k, v, rounded);
  const double u = 0x1p-8, max_v = 0.89, max_score = 1.4950;
  const double published_tolerance = (std::exp(4 * u * max_score) - 1) * max_v + u * max_v +
                                     testing::forward_tolerance(Dtype::kBf16, 6, 3, max_v);
  std::vector<std::int64_t> keys;
  full_attention_keys(rounded, 1, keys);
  std::vector<double> exact(3);
  reference_row(rounded, 0, 0, 1, keys, exact);
  const double published[3] = {0.4419, 0.6515, 0.5683};
  for (const char* spec : {"dense", "flash"}) {
    const auto variant = make_variant(spec);
    const Tensor out = testing::run_forward(*variant, rounded, 1);
    const float* row = out.view().row(0, 0, 1);
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(row[c], published[c], published_tolerance + 5e-5) << spec << " dim " << c;
      EXPECT_NEAR(row[c], exact[c], testing::forward_tolerance(Dtype::kBf16, 6, 3, max_v))
          << spec << " dim " << c;
    }
  }
}

TEST_F(Golden, ScoresOfTokenTwo) {
  // The published scores are dot products of token 2 with every token.
  const double expected[6] = {0.9544, 1.4950, 1.4754, 0.8434, 0.7070, 1.0865};
  for (int k = 0; k < 6; ++k) {
    double s = 0;
    for (int c = 0; c < 3; ++c) s += double(kTokens[1][c]) * double(kTokens[k][c]);
    EXPECT_NEAR(s, expected[k], 5e-5) << "key " << k;
  }
}

}  // namespace
}  // namespace attn
