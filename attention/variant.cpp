#include "attention/variant.hpp"

#include <cmath>
#include <stdexcept>

namespace attn {

float default_scale(std::int64_t head_dim) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
}

void check_inputs(const AttentionInputs& inputs, const MutableTensorView& out) {
  const Shape& s = inputs.q.shape;
  if (inputs.k.shape != s || inputs.v.shape != s)
    throw std::invalid_argument("Q, K and V must have the same shape; got Q " + s.to_string() +
                                ", K " + inputs.k.shape.to_string() + ", V " +
                                inputs.v.shape.to_string());
  if (out.shape != s)
    throw std::invalid_argument("output shape " + out.shape.to_string() +
                                " differs from the input shape " + s.to_string());
  if (s.batch < 1 || s.heads < 1 || s.seq_len < 1 || s.head_dim < 1)
    throw std::invalid_argument("every dimension must be at least 1; got " + s.to_string());
  const auto n = static_cast<std::size_t>(s.elements());
  if (inputs.q.data.size() != n || inputs.k.data.size() != n || inputs.v.data.size() != n ||
      out.data.size() != n)
    throw std::invalid_argument("tensor storage does not match its shape " + s.to_string());
  if (!std::isfinite(inputs.scale)) throw std::invalid_argument("scale must be a finite number");
}

void Variant::check(const Shape&, bool) const {}

std::int64_t Variant::pairs(const AttentionInputs& inputs) const {
  return cost(inputs.shape(), inputs.causal, 1).pairs;
}

std::int64_t dense_pairs_per_problem(std::int64_t seq_len, bool causal) {
  return causal ? seq_len * (seq_len + 1) / 2 : seq_len * seq_len;
}

}  // namespace attn
