#include "attention/bases/selecting_variant.hpp"

#include <chrono>
#include <cstring>

#include "attention/core/random.hpp"

namespace attn {
namespace {

// keys() is asked row by row, from several threads, for a few inputs at a time.
constexpr std::size_t kCachedSelections = 2;

}  // namespace

// A cheap fingerprint of Q's and K's contents: with the storage addresses it tells apart inputs
// that reuse freed memory, without reading every value on each keys() call.
std::uint64_t inputs_fingerprint(const AttentionInputs& in) {
  std::uint64_t state = 0;
  for (const TensorView* t : {&in.q, &in.k}) {
    const std::size_t n = t->data.size(), step = std::max<std::size_t>(1, n / 256);
    for (std::size_t i = 0; i < n; i += step) {
      std::uint32_t bits = 0;
      std::memcpy(&bits, t->data.data() + i, sizeof bits);
      state = hash64(state ^ bits);
    }
  }
  return state;
}

struct SelectingVariant::CacheEntry {
  const float* q;
  const float* k;
  AttentionShape shape;
  bool causal;
  float scale;
  std::uint64_t fingerprint;
  // A session's state and how many keys it had seen: a step's keys depend on both.
  const CacheState* state;
  std::int64_t state_length;
  std::shared_ptr<const Selection> selection;

  bool matches(const AttentionInputs& in, const CacheState* s, std::uint64_t print) const {
    return q == in.q.data.data() && k == in.k.data.data() && shape == in.shape() &&
           causal == in.causal && scale == in.scale && fingerprint == print && state == s &&
           state_length == (s ? s->length() : 0);
  }
};

std::shared_ptr<const Selection> SelectingVariant::select_from_state(const AttentionInputs& step,
                                                                     const CacheState&) const {
  return select(step);
}

std::shared_ptr<const Selection> SelectingVariant::timed_select(const AttentionInputs& inputs,
                                                                const CacheState* state) const {
  const auto start = std::chrono::steady_clock::now();
  std::shared_ptr<const Selection> selection =
      state ? select_from_state(inputs, *state) : select(inputs);
  last_select_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return selection;
}

void SelectingVariant::forward(const AttentionInputs& inputs, MutableTensorView out) const {
  check_inputs(inputs, out);
  check(inputs.shape(), inputs.causal);
  std::shared_ptr<const Selection> selection = timed_select(inputs, nullptr);
  selection->attend(inputs, out);
  remember(inputs, nullptr, std::move(selection));
}

void SelectingVariant::decode_step(const AttentionInputs& step, const CacheState* state,
                                   MutableTensorView out) const {
  check_inputs(step, out);
  std::shared_ptr<const Selection> selection = timed_select(step, state);
  selection->attend(step, out);
  remember(step, state, std::move(selection));
}

void SelectingVariant::keys(const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
                            std::int64_t query, std::vector<std::int64_t>& out) const {
  selection_for(inputs)->keys(b, h, query, out);
}

void SelectingVariant::decode_keys(const AttentionInputs& step, const CacheState* state,
                                   std::int64_t b, std::int64_t h,
                                   std::vector<std::int64_t>& out) const {
  selection_for(step, state)->keys(b, h, 0, out);
}

std::int64_t SelectingVariant::pairs(const AttentionInputs& inputs) const {
  return selection_for(inputs)->pairs();
}

std::int64_t SelectingVariant::decode_pairs(const AttentionInputs& step,
                                            const CacheState* state) const {
  return selection_for(step, state)->pairs();
}

std::optional<double> SelectingVariant::last_select_ms() const {
  const double ms = last_select_ms_;
  if (ms < 0) return std::nullopt;
  return ms;
}

std::shared_ptr<const Selection> SelectingVariant::selection_for(const AttentionInputs& inputs,
                                                                 const CacheState* state) const {
  const std::uint64_t print = inputs_fingerprint(inputs);
  {
    const std::lock_guard lock(cache_mutex_);
    for (const auto& entry : cache_)
      if (entry->matches(inputs, state, print)) return entry->selection;
  }
  if (!state) check(inputs.shape(), inputs.causal);
  std::shared_ptr<const Selection> selection =
      state ? select_from_state(inputs, *state) : select(inputs);
  remember(inputs, state, selection);
  return selection;
}

void SelectingVariant::remember(const AttentionInputs& inputs, const CacheState* state,
                                std::shared_ptr<const Selection> selection) const {
  auto entry = std::make_shared<const CacheEntry>(CacheEntry{
      inputs.q.data.data(), inputs.k.data.data(), inputs.shape(), inputs.causal, inputs.scale,
      inputs_fingerprint(inputs), state, state ? state->length() : 0, std::move(selection)});
  const std::lock_guard lock(cache_mutex_);
  for (auto& e : cache_)
    if (e->matches(inputs, state, entry->fingerprint)) {
      e = std::move(entry);
      return;
    }
  cache_.push_back(std::move(entry));
  if (cache_.size() > kCachedSelections) cache_.pop_front();
}

}  // namespace attn
