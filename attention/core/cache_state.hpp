#pragma once

// Decode sessions: a KV cache that grows by one token per step, and what a variant keeps beside
// it. A serving system does not rebuild Quest's page bounds or MoBA's block means from all of K
// at every step, nor does an eviction method forget what it dropped; a CacheState is that state.
#include <cstdint>
#include <vector>

namespace attn {

// What a variant keeps with a KV cache across decode steps (Variant::start_session).
class CacheState {
 public:
  virtual ~CacheState() = default;

  // Keys of the cache the state has seen: positions 0..length()-1.
  std::int64_t length() const { return length_; }
  void set_length(std::int64_t length) { length_ = length; }

  // Bytes the state holds (page bounds, block sums, kept-key lists, scores).
  virtual std::int64_t bytes() const = 0;
  // Every value the state holds, in a fixed order: a state extended token by token must equal
  // the state built at once over the same keys, value for value.
  virtual std::vector<double> values() const = 0;

 private:
  std::int64_t length_ = 0;
};

}  // namespace attn
