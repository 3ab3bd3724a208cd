#include "attention/core/variant.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "attention/numeric/microkernel.hpp"

namespace attn {

float default_scale(std::int64_t head_dim) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
}

void check_inputs(const AttentionInputs& inputs, const MutableTensorView& out) {
  const Shape& q = inputs.q.shape;
  const Shape& k = inputs.k.shape;
  if (inputs.v.shape != k)
    throw std::invalid_argument("K and V must have the same shape; got K " + k.to_string() +
                                ", V " + inputs.v.shape.to_string());
  if (k.batch != q.batch || k.head_dim != q.head_dim)
    throw std::invalid_argument("K " + k.to_string() + " must have Q's batch and head_dim; Q is " +
                                q.to_string());
  if (out.shape != q)
    throw std::invalid_argument("output shape " + out.shape.to_string() +
                                " differs from the query shape " + q.to_string());
  if (q.batch < 1 || q.heads < 1 || q.seq_len < 1 || q.head_dim < 1 || k.heads < 1 || k.seq_len < 1)
    throw std::invalid_argument("every dimension must be at least 1; got Q " + q.to_string() +
                                ", K " + k.to_string());
  inputs.shape().check();
  // Q, K and V may view longer heads (a decode session's cache and queries); the output is dense.
  const auto fits = [](const auto& view) {
    return view.stride() >= view.shape.seq_len * view.shape.head_dim &&
           view.data.size() >= static_cast<std::size_t>(view.extent());
  };
  if (!fits(inputs.q) || !fits(inputs.k) || !fits(inputs.v) || out.head_stride != 0 ||
      out.data.size() != static_cast<std::size_t>(q.elements()))
    throw std::invalid_argument("tensor storage does not match its shape (Q " + q.to_string() +
                                ", K " + k.to_string() + ")");
  if (!std::isfinite(inputs.scale)) throw std::invalid_argument("scale must be a finite number");
  if (inputs.dtype == Dtype::kBf16 &&
      (inputs.q16.shape != q || inputs.k16.shape != k || inputs.v16.shape != k ||
       !fits(inputs.q16) || !fits(inputs.k16) || !fits(inputs.v16)))
    throw std::invalid_argument("bf16 inputs: the bf16 tensors must match Q, K and V");
  if (inputs.quantized_cache()) {
    const auto fits_codes = [&](const QuantizedTensorView& view) {
      const std::int64_t extent = (k.problems() - 1) * view.stride() + k.seq_len * k.head_dim;
      return view.shape == k && view.format == inputs.kq.format &&
             view.codes.size() >= static_cast<std::size_t>(extent);
    };
    if (inputs.dtype != Dtype::kFp32 || !fits_codes(inputs.kq) || !fits_codes(inputs.vq))
      throw std::invalid_argument(
          "quantized cache: its K and V must match K's shape, with an fp32 forward");
  }
}

QuantizedCache make_quantized_cache(Tensor& k, Tensor& v, AttentionInputs& inputs,
                                    KvQuantization format, std::int64_t scale_rows) {
  QuantizedCache cache{QuantizedTensor(k, format, scale_rows),
                       QuantizedTensor(v, format, scale_rows)};
  inputs.k = k.view();
  inputs.v = v.view();
  inputs.kq = cache.k.view();
  inputs.vq = cache.v.view();
  return cache;
}

Bf16Copies make_bf16_inputs(Tensor& q, Tensor& k, Tensor& v, AttentionInputs& inputs) {
  for (Tensor* t : {&q, &k, &v})
    for (float& x : t->data()) x = round_to_bf16(x);  // idempotent, so shared storage is fine
  Bf16Copies copies{Bf16Tensor(q), Bf16Tensor(k), Bf16Tensor(v)};
  inputs.q = q.view();
  inputs.k = k.view();
  inputs.v = v.view();
  inputs.dtype = Dtype::kBf16;
  inputs.q16 = copies.q.view();
  inputs.k16 = copies.k.view();
  inputs.v16 = copies.v.view();
  return copies;
}

std::string Variant::kernel(Dtype dtype) const { return std::string(kernel::path_name(dtype)); }

void Variant::check(const AttentionShape& shape, bool causal) const {
  if (const std::string why = unsupported(shape, causal); !why.empty())
    throw std::invalid_argument(why);
}

std::string Variant::unsupported(const AttentionShape&, bool) const { return {}; }

std::int64_t Variant::pairs(const AttentionInputs& inputs) const {
  return cost(inputs.shape(), inputs.causal, 1).pairs;
}

std::unique_ptr<CacheState> Variant::start_session(const AttentionInputs&) const { return nullptr; }

void Variant::extend_session(CacheState& state, const AttentionInputs& step) const {
  state.set_length(step.shape().seq_len);
}

void Variant::decode_step(const AttentionInputs& step, const CacheState*,
                          MutableTensorView out) const {
  forward(step, out);
}

void Variant::decode_keys(const AttentionInputs& step, const CacheState*, std::int64_t b,
                          std::int64_t h, std::vector<std::int64_t>& out) const {
  keys(step, b, h, 0, out);
}

void Variant::terms(const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
                    std::int64_t query, std::vector<AttentionTerm>& out) const {
  out.resize(1);
  out[0] = AttentionTerm{};
  keys(inputs, b, h, query, out[0].keys);
}

void Variant::decode_terms(const AttentionInputs& step, const CacheState* state, std::int64_t b,
                           std::int64_t h, std::vector<AttentionTerm>& out) const {
  if (state == nullptr) {
    terms(step, b, h, 0, out);
    return;
  }
  out.resize(1);
  out[0] = AttentionTerm{};
  decode_keys(step, state, b, h, out[0].keys);
}

std::int64_t Variant::decode_pairs(const AttentionInputs& step, const CacheState*) const {
  return pairs(step);
}

std::int64_t Variant::session_cache_bytes(const AttentionInputs& step,
                                          const CacheState* state) const {
  const AttentionShape s = step.shape();
  return s.batch * s.seq_len * s.kv_token_bytes() + (state ? state->bytes() : 0);
}

std::int64_t dense_pairs_per_problem(std::int64_t seq_len, bool causal) {
  return causal ? seq_len * (seq_len + 1) / 2 : seq_len * seq_len;
}

std::int64_t dense_pairs_per_problem(const AttentionShape& s, bool causal) {
  const std::int64_t m = s.query_len, n = s.seq_len;
  if (!causal) return checked_product(m, n, "pairs");
  // Positions n-m..n-1 see p + 1 keys: m·(n - m + 1) + m(m-1)/2.
  return checked_product(m, n - m + 1, "pairs") + m * (m - 1) / 2;
}

std::int64_t sum_of_capped(std::int64_t begin, std::int64_t end, std::int64_t cap) {
  // S(count) = Σ_{x<count} min(x, cap); the range is S(end) - S(begin).
  const auto prefix = [cap](std::int64_t count) -> std::int64_t {
    if (count <= 0) return 0;
    const std::int64_t ramp = std::min(count, cap + 1);
    return ramp * (ramp - 1) / 2 + (count - ramp) * cap;
  };
  return prefix(end) - prefix(begin);
}

}  // namespace attn
