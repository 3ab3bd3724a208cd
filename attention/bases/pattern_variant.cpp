#include "attention/bases/pattern_variant.hpp"

namespace attn {

void PatternVariant::forward(const AttentionInputs& inputs, MutableTensorView out) const {
  check(inputs.shape(), inputs.causal);
  block_attention(inputs, *pattern_for(inputs.shape(), inputs.causal), out);
}

void PatternVariant::keys(const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
                          std::int64_t query, std::vector<std::int64_t>& out) const {
  pattern_for(inputs.shape(), inputs.causal)->keys_of(b, h, inputs.shape().position(query), out);
}

std::shared_ptr<const BlockPattern> PatternVariant::pattern_for(const AttentionShape& shape,
                                                                bool causal) const {
  std::lock_guard lock(cache_mutex_);
  if (!cached_pattern_ || cached_shape_ != shape || cached_causal_ != causal) {
    check(shape, causal);
    cached_pattern_ = make_pattern(shape, causal);
    cached_shape_ = shape;
    cached_causal_ = causal;
  }
  return cached_pattern_;
}

}  // namespace attn
