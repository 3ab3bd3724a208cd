// The .safetensors reader on arbitrary bytes: either a header whose every tensor lies inside
// the file and whose float tensors read in full, or std::invalid_argument. The bytes go
// through a file because the reader takes a path, as attnbench does with user files.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path =
      (std::filesystem::temp_directory_path() /
       ("attnbench_safetensors_fuzz_" + std::to_string(::getpid()) + ".safetensors"))
          .string();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  attn::harness::SafetensorsFile file;
  try {
    file = attn::harness::read_safetensors_header(path);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  for (const auto& tensor : file.tensors) {
    if (tensor.offset + tensor.bytes > size) std::abort();
    if (tensor.dtype != "F32" && tensor.dtype != "F16" && tensor.dtype != "BF16") continue;
    std::vector<float> values(tensor.bytes / (tensor.dtype == "F32" ? 4 : 2));
    try {
      attn::harness::read_safetensors_f32(file, tensor, 0, values);
    } catch (const std::invalid_argument&) {
      // NaN or infinite values are refused by design.
    }
  }
  return 0;
}
