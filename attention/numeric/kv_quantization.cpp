#include "attention/numeric/kv_quantization.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attn {

std::string_view kv_quantization_name(KvQuantization q) {
  switch (q) {
    case KvQuantization::kInt8:
      return "int8";
    case KvQuantization::kFp8:
      return "fp8";
    case KvQuantization::kNone:
      break;
  }
  return "none";
}

std::int64_t kv_row_bytes(KvQuantization q, std::int64_t head_dim, std::int64_t element_bytes) {
  switch (q) {
    case KvQuantization::kInt8:
      return head_dim + 4;  // the codes and the row's fp32 scale
    case KvQuantization::kFp8:
      return head_dim;  // the head's one scale is negligible
    case KvQuantization::kNone:
      break;
  }
  return head_dim * element_bytes;
}

std::uint8_t to_fp8_e4m3(float x) {
  if (std::isnan(x)) return 0x7F;
  const std::uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const float a = std::fabs(x);
  if (!(a < kFp8E4m3Max)) return sign | 0x7E;
  // a = m · 2^(e - 3) with 8 <= m < 16 in the normal range, exponent e >= -6 (E4M3's bias is 7;
  // below 2^-6 the quantum stays 2^-9: subnormals).
  int binade = 0;
  std::frexp(a, &binade);
  int e = std::max(binade - 1, -6);
  auto m = static_cast<int>(std::nearbyint(std::ldexp(a, 3 - e)));  // exact scaling, ties to even
  if (m == 16) {
    ++e;
    m = 8;
  }
  if (m < 8) return static_cast<std::uint8_t>(sign | m);  // subnormal (or zero)
  const int field = e + 7;
  if (field > 15 || (field == 15 && m == 15)) return sign | 0x7E;
  return static_cast<std::uint8_t>(sign | (field << 3) | (m - 8));
}

float from_fp8_e4m3(std::uint8_t code) {
  const int field = (code >> 3) & 0xF, mantissa = code & 0x7;
  if (field == 15 && mantissa == 7) return std::numeric_limits<float>::quiet_NaN();
  const float magnitude = field == 0 ? std::ldexp(static_cast<float>(mantissa), -9)
                                     : std::ldexp(static_cast<float>(8 + mantissa), field - 10);
  return (code & 0x80) ? -magnitude : magnitude;
}

float quantize_int8_row(const float* x, std::int64_t n, std::int8_t* codes) {
  float top = 0;
  for (std::int64_t e = 0; e < n; ++e) top = std::max(top, std::fabs(x[e]));
  const float scale = top / kInt8CodeMax;
  for (std::int64_t e = 0; e < n; ++e) {
    const float code = scale > 0 ? std::nearbyint(x[e] / scale) : 0.0f;
    codes[e] = static_cast<std::int8_t>(std::clamp(code, -kInt8CodeMax, kInt8CodeMax));
  }
  return scale;
}

}  // namespace attn
