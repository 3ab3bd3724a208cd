#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "attention/bases/selection.hpp"
#include "attention/core/variant.hpp"

namespace attn {

// A cheap fingerprint of Q's and K's contents: with the storage addresses it tells apart inputs
// that reuse freed memory, without reading every value on each keys() call.
std::uint64_t inputs_fingerprint(const AttentionInputs& inputs);

// Base of every query-aware variant: it only chooses keys from the inputs (select), and
// forward(), keys() and pairs() follow from that one value, so they can never disagree.
// forward() times the selection apart from the attention (last_select_ms).
class SelectingVariant : public Variant {
 public:
  using Variant::Variant;

  // The keys chosen for these inputs (check() has accepted the shape); parallel inside with
  // oneTBB, and the same for any thread count.
  virtual std::shared_ptr<const Selection> select(const AttentionInputs& inputs) const = 0;

  // Whether each query's keys follow from that query and K alone (top-k, MoBA, Quest), so a
  // query keeps its keys among any other queries; false when queries choose together (a block
  // mean, the last queries' attention).
  virtual bool chooses_per_query() const = 0;

  // The keys chosen for a decode step from the state kept with the cache (start_session,
  // extend_session). A variant with such state makes its select(inputs) build the state at once
  // and call this, so that a one-shot forward and a session's step are one path. Default:
  // select(step).
  virtual std::shared_ptr<const Selection> select_from_state(const AttentionInputs& step,
                                                             const CacheState& state) const;

  void forward(const AttentionInputs& inputs, MutableTensorView out) const override;
  void decode_step(const AttentionInputs& step, const CacheState* state,
                   MutableTensorView out) const override;
  void decode_keys(const AttentionInputs& step, const CacheState* state, std::int64_t b,
                   std::int64_t h, std::vector<std::int64_t>& out) const override;
  std::int64_t decode_pairs(const AttentionInputs& step, const CacheState* state) const override;
  void keys(const AttentionInputs& inputs, std::int64_t b, std::int64_t h, std::int64_t query,
            std::vector<std::int64_t>& out) const override;
  std::int64_t pairs(const AttentionInputs& inputs) const override;
  std::optional<double> last_select_ms() const override;

  // The selection for these inputs: the last one forward() or keys() made for the same
  // inputs, or a new one.
  // With a session's state: the last one decode_step() made for the same step and state.
  std::shared_ptr<const Selection> selection_for(const AttentionInputs& inputs,
                                                 const CacheState* state = nullptr) const;

 private:
  struct CacheEntry;
  std::shared_ptr<const Selection> timed_select(const AttentionInputs& inputs,
                                                const CacheState* state) const;
  void remember(const AttentionInputs& inputs, const CacheState* state,
                std::shared_ptr<const Selection> selection) const;

  mutable std::mutex cache_mutex_;
  mutable std::deque<std::shared_ptr<const CacheEntry>> cache_;
  mutable std::atomic<double> last_select_ms_{-1.0};
};

}  // namespace attn
