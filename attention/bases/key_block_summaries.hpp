#pragma once

// Per key block of every kv head, a summary that lives with the KV cache: the sums behind MoBA's
// and block_topk's block means, Quest's per-dimension minima and maxima. A decode step appends
// one key and updates one block, O(D), instead of summarising all of K again, O(N·D).
#include <cstdint>
#include <vector>

#include "attention/core/cache_state.hpp"
#include "attention/core/variant.hpp"

namespace attn {

class KeyBlockSummaries final : public CacheState {
 public:
  enum class Kind {
    kSum,     // per block the D sums of its keys (mean = sum / keys in the block)
    kMinMax,  // per block the D maxima, then the D minima
  };

  KeyBlockSummaries(Kind kind, std::int64_t block, const AttentionShape& shape);

  // Takes in the keys [length(), N) of every kv head of `inputs`, in order (parallel over kv
  // heads); the result equals a summary built at once over all N keys, value for value.
  void extend(const AttentionInputs& inputs);

  std::int64_t block() const { return block_; }
  std::int64_t blocks() const { return (length() + block_ - 1) / block_; }
  // Floats per block: D for sums, 2·D for maxima and minima.
  std::int64_t width() const { return kind_ == Kind::kSum ? d_ : 2 * d_; }
  // The blocks × width() summaries of kv head (b, kv).
  const float* head(std::int64_t b, std::int64_t kv) const {
    return heads_[static_cast<std::size_t>(b * kv_heads_ + kv)].data();
  }
  std::int64_t head_dim() const { return d_; }

  std::int64_t bytes() const override;
  std::vector<double> values() const override;

 private:
  Kind kind_;
  std::int64_t block_, kv_heads_, d_;
  std::vector<std::vector<float>> heads_;  // [b][kv]: blocks × width, growing
};

}  // namespace attn
