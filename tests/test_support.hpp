#pragma once

#include <tbb/task_arena.h>

#include <cstdint>
#include <random>

#include "attention/reference.hpp"
#include "attention/variant.hpp"

namespace attn::testing {

// Q, K, V filled with uniform values in [-2, 2): wide enough that softmax is far from uniform.
// Q is [B, H, M, D], K and V [B, kv_heads, N, D].
struct RandomInputs {
  RandomInputs(const AttentionShape& shape, bool causal, std::uint32_t seed = 1)
      : q(shape.query_shape()), k(shape.kv_shape()), v(shape.kv_shape()) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    for (Tensor* t : {&q, &k, &v})
      for (float& x : t->data()) x = dist(gen);
    inputs = {q.view(), k.view(), v.view(), causal, default_scale(shape.head_dim)};
  }
  Tensor q, k, v;
  AttentionInputs inputs;
};

// Runs `variant` with `threads` workers and returns the output.
inline Tensor run_forward(const Variant& variant, const AttentionInputs& inputs, int threads) {
  Tensor out(inputs.shape().query_shape());
  tbb::task_arena arena(threads);
  arena.execute([&] { variant.forward(inputs, out.mutable_view()); });
  return out;
}

// Largest |out - reference| over every row, with the reference restricted to the variant's
// own key set: the correctness contract of every variant.
inline double max_error_vs_reference(const Variant& variant, const AttentionInputs& inputs,
                                     const Tensor& out) {
  const AttentionShape s = inputs.shape();
  std::vector<std::int64_t> keys;
  std::vector<double> want(static_cast<std::size_t>(s.head_dim));
  double worst = 0;
  const TensorView o = out.view();
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < s.heads; ++h)
      for (std::int64_t i = 0; i < s.query_len; ++i) {
        variant.keys(inputs, b, h, i, keys);
        reference_row(inputs, b, h, i, keys, want);
        const float* got = o.row(b, h, i);
        for (std::int64_t c = 0; c < s.head_dim; ++c)
          worst = std::max(worst, std::abs(static_cast<double>(got[c]) - want[c]));
      }
  return worst;
}

}  // namespace attn::testing
