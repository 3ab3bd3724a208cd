#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "attention/tensor.hpp"

namespace attn::harness {

// A float32 array read from a .npy file (NumPy format 1.0/2.0/3.0, little-endian '<f4', C order).
struct NpyArray {
  std::vector<std::int64_t> shape;
  AlignedBuffer<float> data;  // product(shape) values, C order
};

// Reads a .npy file of float32. Throws std::invalid_argument naming the file and what is wrong
// (missing, not a .npy file, truncated, dtype other than little-endian float32, Fortran order,
// a header that does not parse, NaN or Inf values) and what is allowed.
NpyArray read_npy_f32(const std::string& path);

// Writes a C-order .npy file (format 1.0). Throws std::runtime_error if the file cannot be
// written completely.
void write_npy_f32(const std::string& path, std::span<const std::int64_t> shape,
                   std::span<const float> data);
void write_npy_u8(const std::string& path, std::span<const std::int64_t> shape,
                  std::span<const std::uint8_t> data);

}  // namespace attn::harness
