#include "attention/numeric/dtype.hpp"

#include <stdexcept>

namespace attn {

std::string_view dtype_name(Dtype dtype) { return dtype == Dtype::kBf16 ? "bf16" : "fp32"; }

const std::vector<Dtype>& all_dtypes() {
  static const std::vector<Dtype> dtypes{Dtype::kFp32, Dtype::kBf16};
  return dtypes;
}

Dtype parse_dtype(std::string_view name) {
  for (const Dtype d : all_dtypes())
    if (dtype_name(d) == name) return d;
  throw std::invalid_argument("--dtype: unknown dtype '" + std::string(name) +
                              "'; allowed: fp32, bf16");
}

void convert_to_bf16(std::span<const float> src, std::span<bf16> dst) {
  if (src.size() != dst.size()) throw std::invalid_argument("convert_to_bf16: sizes differ");
  for (std::size_t i = 0; i < src.size(); ++i) dst[i] = to_bf16(src[i]);
}

}  // namespace attn
