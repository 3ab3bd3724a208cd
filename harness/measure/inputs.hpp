#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attention/core/tensor.hpp"
#include "harness/measure/captured_inputs.hpp"

namespace attn::harness {

// Q, K and V for one measurement point.
struct InputTensors {
  Tensor q, k, v;
};

// The generators, in the order `attnbench --help` lists them: gaussian, local, clustered, sinks,
// lm.
// (Captured tensors, `npy:DIR` and `safetensors:DIR,...`, are accepted by make_inputs as well
// but are not generators; captured_inputs.hpp.) V is iid N(0, 1) for
// all of them; Q and K follow a documented model (inputs.cpp) with a promised property, tested
// at the default scale 1/sqrt(D) on full attention's weights:
//   gaussian   Q, K iid N(0, 1); attention nearly uniform (perplexity >= N/2 per row).
//   local      rotary-style positional features; mean mass within |i-j| <= 256 >= 0.9.
//   clustered  16 clusters of tokens; mean mass on keys of the query's cluster >= 0.8.
//   sinks      the first 4 keys are attention sinks; mean mass on them >= 0.7, at every N.
//   lm         sinks, a local band, heavy key columns and periodic slash lines, as in real LLMs;
//              under causal attention each holds a promised share of the mass (inputs.cpp).
const std::vector<std::string>& generator_names();

// Throws std::invalid_argument naming the value and the allowed ones unless `input` is a
// generator name or names captured tensors (npy:DIR, safetensors:DIR[,layer=L][,heads=A-B]).
void check_input_name(const std::string& input);

// Builds Q as [B, H, M, D] and K, V as [B, kv_heads, N, D] from a generator, deterministically
// from `seed`: the same seed and shape give the same bits whatever the thread count.
//
// Serving shapes keep every generated value where the square case puts it:
//   * K and V head j are exactly the square generator's head j (all N positions): they do not
//     depend on H or M.
//   * Query head h has its own noise, exactly the square generator's Q head h, but the
//     structure (local's phases, clustered's centroids and cluster labels, the sink direction)
//     of the kv head it reads, j = h / (H / kv_heads), so every documented property holds for
//     each query head against its kv head as it does in the square case.
//   * The M queries are the positions N - M .. N - 1 (absolute positions, as in the engine):
//     query i is bit for bit row N - M + i of the Q that kv_heads = H, M = N would give. A decode
//     point's queries are therefore the tail of the square point's, over the same K and V.
// At kv_heads = H and M = N this is the square generation of round 1, bit for bit.
//
// For captured tensors (npy:DIR, safetensors:DIR,...) reads them (captured_inputs.hpp) and
// ignores `shape` and `seed`; use captured_input_shape first. With `shared_qk`, K is
// replaced by Q with each row scaled to unit length (Reformer's shared query-key setting),
// which needs a square shape (M = N, kv_heads = H): std::invalid_argument otherwise. A bad
// shape (a size below 1, kv_heads not dividing heads, M > N) is std::invalid_argument too.
InputTensors make_inputs(const std::string& input, const AttentionShape& shape, std::uint64_t seed,
                         bool shared_qk = false);

}  // namespace attn::harness
