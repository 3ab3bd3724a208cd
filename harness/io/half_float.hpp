#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace attn::harness {

// IEEE binary16 to float, exactly (denormals, infinities and NaN included): how captured
// float16 tensors (.npy '<f2', safetensors F16) are widened on load.
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
  if (exponent == 0) {
    // Zero or a denormal: mantissa · 2^-24, exact in float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  const std::uint32_t bits = exponent == 0x1F ? sign | 0x7F80'0000u | (mantissa << 13)
                                              : sign | ((exponent + 112) << 23) | (mantissa << 13);
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace attn::harness
