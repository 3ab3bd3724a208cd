#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace attn {

// The element type Q, K and V are stored in. fp32: as given. bf16: each value rounded to
// nearest even to bfloat16 (8 exponent bits, 8 significant bits); scores are products of bf16
// values accumulated in fp32, the softmax runs in fp32, the probabilities are rounded to bf16
// for P·V, which accumulates in fp32, and the output is fp32.
enum class Dtype { kFp32, kBf16 };

// "fp32" or "bf16": the spelling of --dtype and of the CSV column.
std::string_view dtype_name(Dtype dtype);
// The dtypes in the order `--help` lists them.
const std::vector<Dtype>& all_dtypes();
// Throws std::invalid_argument naming the value and the allowed ones.
Dtype parse_dtype(std::string_view name);
// Bytes of one stored element.
inline std::int64_t dtype_bytes(Dtype dtype) { return dtype == Dtype::kBf16 ? 2 : 4; }

// One bfloat16 value: the upper half of a float's bits.
struct bf16 {
  std::uint16_t bits = 0;
  friend bool operator==(bf16, bf16) = default;
};

// Round to nearest, ties to even (what VCVTNEPS2BF16 and PyTorch's .to(torch.bfloat16) do); a
// NaN stays a (quiet) NaN, infinities stay infinite, values beyond bf16's range round to inf.
inline bf16 to_bf16(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7FFF'FFFFu) > 0x7F80'0000u) return {static_cast<std::uint16_t>((u >> 16) | 0x0040u)};
  u += 0x7FFFu + ((u >> 16) & 1u);
  return {static_cast<std::uint16_t>(u >> 16)};
}

inline float to_float(bf16 x) {
  const std::uint32_t u = static_cast<std::uint32_t>(x.bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// x rounded to the nearest bf16, as a float.
inline float round_to_bf16(float x) { return to_float(to_bf16(x)); }

// dst[i] = to_bf16(src[i]); the spans must have the same size.
void convert_to_bf16(std::span<const float> src, std::span<bf16> dst);

}  // namespace attn
