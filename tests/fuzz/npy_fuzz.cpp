// The .npy reader on arbitrary bytes: either a float32 array that writes back and reads back
// the same, or std::invalid_argument. The bytes go through a file because the reader takes a
// path, as attnbench does with user files.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "harness/io/npy.hpp"

namespace {

std::string scratch_path(const char* name) {
  return (std::filesystem::temp_directory_path() /
          ("attnbench_npy_fuzz_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string input = scratch_path("in.npy");
  static const std::string output = scratch_path("out.npy");
  {
    std::ofstream out(input, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  attn::harness::NpyArray array;
  try {
    array = attn::harness::read_npy_f32(input);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  attn::harness::write_npy_f32(output, array.shape,
                               std::span<const float>(array.data.data(), array.data.size()));
  const attn::harness::NpyArray again = attn::harness::read_npy_f32(output);
  if (again.shape != array.shape || again.data.size() != array.data.size() ||
      (array.data.size() > 0 &&
       std::memcmp(again.data.data(), array.data.data(), array.data.size() * sizeof(float)) != 0))
    std::abort();
  return 0;
}
