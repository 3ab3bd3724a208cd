#pragma once

#include <cstdint>
#include <memory>

#include "attention/bases/key_block_summaries.hpp"
#include "attention/bases/selecting_variant.hpp"

namespace attn {

// Base of the block-selecting variants whose choice reads a summary per key block (MoBA's and
// block_topk's means, Quest's bounds): the summaries are their decode state, grown by one key
// per step. A one-shot forward builds them at once over all N keys and chooses from them the
// same way, so the stateless forward and a session's step are one path.
class BlockSummaryVariant : public SelectingVariant {
 public:
  BlockSummaryVariant(const VariantConfig& config, KeyBlockSummaries::Kind kind, std::int64_t block)
      : SelectingVariant(config), kind_(kind), block_(block) {}

  // The keys chosen for `inputs` from summaries covering all of their N keys.
  virtual std::shared_ptr<const Selection> select_from_summaries(
      const AttentionInputs& inputs, const KeyBlockSummaries& summaries) const = 0;

  std::shared_ptr<const Selection> select(const AttentionInputs& inputs) const final;
  std::shared_ptr<const Selection> select_from_state(const AttentionInputs& step,
                                                     const CacheState& state) const final;
  std::unique_ptr<CacheState> start_session(const AttentionInputs& prefill) const final;
  void extend_session(CacheState& state, const AttentionInputs& step) const final;

 private:
  KeyBlockSummaries::Kind kind_;
  std::int64_t block_;
};

}  // namespace attn
