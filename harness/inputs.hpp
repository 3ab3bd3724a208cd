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
// (`npy:DIR` is accepted by make_inputs as well but is not a generator.)
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

// The [B,H,N,D] shape of the tensors in DIR (q.npy, k.npy, v.npy must agree). Throws
// std::invalid_argument naming the file and the problem.
Shape npy_input_shape(const std::string& dir);

}  // namespace attn::harness
