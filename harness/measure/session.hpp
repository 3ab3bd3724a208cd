#pragma once

// Decode sessions: a point with decode_steps T > 0 loads N cached tokens, then runs T steps, each
// appending one token's K and V and attending with its query over the grown cache. Per variant
// the row records the step latency (median and p99 over the steps), the time to build its state
// from the N cached tokens (prefill_ms), the cache's bytes after the last step, and accuracy
// against exact fp64 attention over the whole uncompressed cache at sampled steps.
#include <cstdint>
#include <functional>
#include <vector>

#include "attention/core/variant.hpp"
#include "harness/measure/measure.hpp"

namespace attn::harness {

// The prompt's last queries a session's inputs carry besides the T step queries: the
// observation window eviction methods score the cache with at prefill (SnapKV's window is 32).
inline constexpr std::int64_t kObservationQueries = 64;
// Steps at which accuracy is measured: the first, the last and evenly spaced between.
inline constexpr std::int64_t kSampledSteps = 8;

// The shape the session's inputs are generated in: K and V for all N + T positions, Q for the
// observation window and the T steps (the last W + T positions), W = min(N, kObservationQueries).
AttentionShape session_input_shape(const AttentionShape& step_shape, std::int64_t steps);

// The steps (0-based, ascending) whose accuracy a session of `steps` steps measures.
std::vector<std::int64_t> sampled_steps(std::int64_t steps);

// Views of one session's inputs (generated in session_input_shape) as its steps see them.
class SessionInputs {
 public:
  // `full` holds the generated tensors (fp32, and bf16 copies when its dtype is bf16).
  SessionInputs(const AttentionInputs& full, std::int64_t prefill_len, std::int64_t steps);

  std::int64_t prefill_len() const { return prefill_len_; }
  std::int64_t steps() const { return steps_; }
  // The first N keys and the observation window's queries (positions N - W .. N - 1).
  AttentionInputs prefill() const;
  // Step t (0-based): keys 0 .. N + t and the query of position N + t (M = 1).
  AttentionInputs step(std::int64_t t) const;

 private:
  AttentionInputs full_;
  std::int64_t prefill_len_, steps_, window_;
};

// Measures each variant's session at the point (point.decode_steps > 0), as measure_point does
// for a single forward: rows handed to `emit` as soon as complete, skipped and error rows with
// their reason, an interrupt abandoning the session in progress without a row.
void measure_session(const Point& point, const std::vector<const Variant*>& variants,
                     const MeasureOptions& options,
                     const std::function<void(const ResultRow&)>& emit,
                     const std::function<void(const Variant&)>& before);

}  // namespace attn::harness
