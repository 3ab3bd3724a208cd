#include "attention/bases/block_summary_variant.hpp"

#include <stdexcept>

namespace attn {

std::shared_ptr<const Selection> BlockSummaryVariant::select(const AttentionInputs& inputs) const {
  const std::unique_ptr<CacheState> summaries = start_session(inputs);
  return select_from_state(inputs, *summaries);
}

std::shared_ptr<const Selection> BlockSummaryVariant::select_from_state(
    const AttentionInputs& step, const CacheState& state) const {
  const auto& summaries = dynamic_cast<const KeyBlockSummaries&>(state);
  if (summaries.length() != step.shape().seq_len)
    throw std::logic_error(name() + ": the block summaries cover " +
                           std::to_string(summaries.length()) + " keys, the step has " +
                           std::to_string(step.shape().seq_len) + " (extend_session first)");
  return select_from_summaries(step, summaries);
}

std::unique_ptr<CacheState> BlockSummaryVariant::start_session(
    const AttentionInputs& prefill) const {
  auto summaries = std::make_unique<KeyBlockSummaries>(kind_, block_, prefill.shape());
  summaries->extend(prefill);
  return summaries;
}

void BlockSummaryVariant::extend_session(CacheState& state, const AttentionInputs& step) const {
  dynamic_cast<KeyBlockSummaries&>(state).extend(step);
}

}  // namespace attn
