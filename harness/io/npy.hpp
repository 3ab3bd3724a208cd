#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "attention/core/tensor.hpp"

namespace attn::harness {

// A float32 array read from a .npy file (NumPy format 1.0/2.0/3.0, little-endian '<f4', C order).
struct NpyArray {
  std::vector<std::int64_t> shape;
  AlignedBuffer<float> data;  // product(shape) values, C order
};

// Reads a .npy file of float32. Throws std::invalid_argument naming the file and what is wrong
// (missing, not a .npy file, truncated, dtype other than little-endian float32, Fortran order,
// a header that does not parse, NaN or Inf values) and what is allowed.
//
// Strict on purpose: format versions 1.0, 2.0 and 3.0; a header dict with exactly the keys
// 'descr', 'fortran_order' and 'shape'; descr '<f4'; fortran_order False; a shape tuple of
// non-negative dimensions whose byte size fits in 64 bits; exactly product(shape)·4 data bytes
// (fewer is "truncated", more is "unexpected bytes after the data"); every value finite (the
// message names the flat index and position of the first NaN or Inf). Malformed input never
// makes it read out of bounds or allocate more than the file size.
NpyArray read_npy_f32(const std::string& path);

// A shape as NumPy prints it, "(4096, 64)" or "(7,)", for messages about .npy files.
std::string shape_string(const std::vector<std::int64_t>& shape);

// Writes a C-order .npy file (format 1.0, header padded so the data starts at a multiple of 64
// bytes, as NumPy does). Throws std::invalid_argument if `shape` is negative or does not match
// data.size(), and std::runtime_error naming the path if the file cannot be written completely
// (a partly written regular file is removed).
void write_npy_f32(const std::string& path, std::span<const std::int64_t> shape,
                   std::span<const float> data);
void write_npy_u8(const std::string& path, std::span<const std::int64_t> shape,
                  std::span<const std::uint8_t> data);

}  // namespace attn::harness
