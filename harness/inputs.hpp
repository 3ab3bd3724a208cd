#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attention/tensor.hpp"

namespace attn::harness {

// Q, K and V for one measurement point.
struct InputTensors {
  Tensor q, k, v;
};

// The generators, in the order `attnbench --help` lists them: gaussian, local, clustered, sinks.
// (`npy:DIR` is accepted by make_inputs as well but is not a generator.) V is iid N(0, 1) for
// all of them; Q and K follow a documented model (inputs.cpp) with a promised property, tested
// at the default scale 1/sqrt(D) on full attention's weights:
//   gaussian   Q, K iid N(0, 1); attention nearly uniform (perplexity >= N/2 per row).
//   local      rotary-style positional features; mean mass within |i-j| <= 256 >= 0.9.
//   clustered  16 clusters of tokens; mean mass on keys of the query's cluster >= 0.8.
//   sinks      the first 4 keys are attention sinks; mean mass on them >= 0.7, at every N.
const std::vector<std::string>& generator_names();

// Throws std::invalid_argument naming the value and the allowed ones unless `input` is a
// generator name or "npy:DIR".
void check_input_name(const std::string& input);

// Builds Q, K, V of `shape` from a generator, deterministically from `seed`: the same seed and
// shape give the same bits whatever the thread count. For "npy:DIR", reads DIR/q.npy, k.npy and
// v.npy (shape [B,H,N,D] or [N,D]) and ignores `shape` and `seed`; use npy_input_shape first.
// With `shared_qk`, K is replaced by Q with each row scaled to unit length (Reformer's
// shared query-key setting).
InputTensors make_inputs(const std::string& input, const Shape& shape, std::uint64_t seed,
                         bool shared_qk = false);

// The [B,H,N,D] shape of the tensors in DIR (q.npy, k.npy, v.npy must agree; [N,D] counts as
// [1,1,N,D]). Reads and validates the three files completely (including NaN and Inf), so bad
// files are reported before any work starts. Throws std::invalid_argument naming the file and
// the problem.
Shape npy_input_shape(const std::string& dir);

}  // namespace attn::harness
