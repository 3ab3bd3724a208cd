#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>

#include "attention/bases/selecting_variant.hpp"
#include "attention/core/variant.hpp"

namespace attn {

// What tells one set of inputs from another for a build: storage, shape, mask, scale, and a
// fingerprint of Q's and K's contents (memory is reused between inputs).
struct InputsKey {
  const float* q = nullptr;
  const float* k = nullptr;
  AttentionShape shape;
  bool causal = false;
  float scale = 0;
  std::uint64_t fingerprint = 0;
  bool operator==(const InputsKey&) const = default;
};
inline InputsKey inputs_key(const AttentionInputs& in) {
  return {in.q.data.data(), in.k.data.data(), in.shape(),
          in.causal,        in.scale,         inputs_fingerprint(in)};
}

// What a variant built from its inputs (hash tables, a plan), kept for the last few inputs:
// keys() and terms() are asked row by row, from several threads, and tests alternate between
// two inputs (grouped against repeated heads), so one entry would rebuild at every call.
template <class Key, class Value, std::size_t kKept = 4>
class RecentBuilds {
 public:
  // The value for `key`: a kept one, or build() (always, when `fresh`: a forward pays for its
  // own build, as a real call would), which is then kept.
  template <class Build>
  std::shared_ptr<const Value> get(const Key& key, Build&& build, bool fresh = false) const {
    if (!fresh) {
      std::lock_guard lock(mutex_);
      for (const auto& [k, v] : kept_)
        if (k == key) return v;
    }
    std::shared_ptr<const Value> value = build();
    std::lock_guard lock(mutex_);
    std::erase_if(kept_, [&](const auto& entry) { return entry.first == key; });
    kept_.emplace_front(key, value);
    if (kept_.size() > kKept) kept_.pop_back();
    return value;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::deque<std::pair<Key, std::shared_ptr<const Value>>> kept_;
};

}  // namespace attn
