#pragma once

#include <array>
#include <string>
#include <string_view>

#include "attention/core/shape.hpp"
#include "attention/core/tensor.hpp"

namespace attn::harness {

// Q, K and V captured from a real model, named by an --input value:
//   npy:DIR                               DIR/q.npy [B,H,M,D], k.npy and v.npy [B,KV,N,D]
//   safetensors:DIR[,layer=L][,heads=A-B] the *.safetensors files in DIR holding
//                                         layers.L.q [B,H,M,D], layers.L.k and layers.L.v
//                                         [B,KV,N,D] (F32, F16 or BF16, widened exactly); query
//                                         heads A..B and the kv heads they read
// In both the queries are the last M of the N positions and K, V are post-RoPE, as attention
// reads them (docs/inputs.md; tools/capture_qkv.py writes the safetensors layout).
bool is_captured_input(std::string_view input);

// Checks an --input value that names captured tensors, without reading files: the prefix, a
// directory, and for safetensors the options (layer=, heads=). Throws std::invalid_argument
// naming what is wrong and what is allowed.
void check_captured_input_name(const std::string& input);

// The captured tensors, q as [B,H,M,D] and k, v as [B,KV,N,D] in `shape`'s terms.
struct CapturedInputs {
  AttentionShape shape;
  std::array<AlignedBuffer<float>, 3> data;  // q, k, v, C order
};

// Reads and checks the tensors completely (shapes, GQA layout, M <= N, finite values), so bad
// files are reported before any work starts. Throws std::invalid_argument naming the file, the
// tensor, its shape and the shape expected.
CapturedInputs read_captured_inputs(const std::string& input);

// The attention shape of the captured tensors (reads and checks them as above).
AttentionShape captured_input_shape(const std::string& input);

// captured_input_shape("npy:" + dir).
AttentionShape npy_input_shape(const std::string& dir);

}  // namespace attn::harness
