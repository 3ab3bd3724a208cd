#pragma once

#include <memory>
#include <mutex>

#include "attention/core/variant.hpp"
#include "attention/engine/block_engine.hpp"
#include "attention/engine/block_pattern.hpp"

namespace attn {

// Base of every variant that runs on the block engine: it only describes its pattern, and
// forward() and keys() follow from it, so the two can never disagree.
class PatternVariant : public Variant {
 public:
  using Variant::Variant;

  // The pattern for this shape (check() has accepted it).
  virtual std::unique_ptr<BlockPattern> make_pattern(const AttentionShape& shape,
                                                     bool causal) const = 0;

  void forward(const AttentionInputs& inputs, MutableTensorView out) const override;
  void keys(const AttentionInputs& inputs, std::int64_t b, std::int64_t h, std::int64_t query,
            std::vector<std::int64_t>& out) const override;

 private:
  // keys() is called row by row; building a pattern (random tables) each time would dominate.
  std::shared_ptr<const BlockPattern> pattern_for(const AttentionShape& shape, bool causal) const;

  mutable std::mutex cache_mutex_;
  mutable std::shared_ptr<const BlockPattern> cached_pattern_;
  mutable AttentionShape cached_shape_;
  mutable bool cached_causal_ = false;
};

}  // namespace attn
