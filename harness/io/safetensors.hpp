#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace attn::harness {

// One tensor of a .safetensors file: its header entry, with the data's place in the file.
struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // as the header spells it: "F32", "F16", "BF16", "I64", ...
  std::vector<std::int64_t> shape;
  std::uint64_t offset = 0;  // of the first data byte, from the start of the file
  std::uint64_t bytes = 0;
};

// A .safetensors file's header (https://github.com/huggingface/safetensors: an 8-byte
// little-endian header size, a JSON object of tensors and an optional "__metadata__" object of
// strings, then the data). The data is read on demand with read_safetensors_f32.
struct SafetensorsFile {
  std::string path;
  std::vector<SafetensorsTensor> tensors;  // in the header's order
  std::map<std::string, std::string> metadata;

  const SafetensorsTensor* find(std::string_view name) const;
};

// Reads and checks a header: the JSON must parse; every tensor needs "dtype", "shape" (of
// non-negative integers) and "data_offsets" [begin, end] inside the data; a known dtype's bytes
// must be exactly its elements' (F32, F16, BF16, F64, I8..I64, U8, BOOL); names are distinct.
// Throws std::invalid_argument naming the file and what is wrong; malformed input never reads
// out of bounds or allocates more than the file's size.
SafetensorsFile read_safetensors_header(const std::string& path);

// The same checks over a header's bytes (the file's first 8 + size bytes are `header`, and
// `file_size` the whole file's), for a fuzzer and for tests.
SafetensorsFile parse_safetensors_header(const std::string& path, std::string_view header,
                                         std::uint64_t file_size);

// Elements first .. first + out.size() - 1 (C order) of a floating-point tensor, widened
// exactly to float: F32, F16 or BF16 (what captured activations are stored in). Throws
// std::invalid_argument naming the tensor for another dtype, a range outside the tensor, or a
// NaN or infinite value.
void read_safetensors_f32(const SafetensorsFile& file, const SafetensorsTensor& tensor,
                          std::int64_t first, std::span<float> out);

}  // namespace attn::harness
