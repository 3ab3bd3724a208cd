#include "attention/numeric/kv_quantization.hpp"

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace attn {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
using FloatTag = hn::ScalableTag<float>;
constexpr std::int64_t kLanes = HWY_LANES(float);

// E4M3's magnitude bits shifted into a float's exponent and mantissa give the value scaled by
// 2^-120 (subnormal codes become fp32 subnormals, equally exact): one multiply restores it.
constexpr float kFp8Rebias = 0x1p120f;

}  // namespace

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

void dequantize_rows(const QuantizedRows& src, std::int64_t rows, std::int64_t head_dim,
                     std::int64_t padded_dim, float* dst, std::int64_t ld_dst,
                     std::int64_t prefetch_rows) {
  const FloatTag df;
  const hn::RebindToSigned<FloatTag> di32;
  const hn::RebindToUnsigned<FloatTag> du32;
  const hn::Rebind<std::int8_t, FloatTag> di8;
  const hn::Rebind<std::uint8_t, FloatTag> du8;
  const std::int64_t full = head_dim / kLanes * kLanes;
  const bool is_int8 = src.format == KvQuantization::kInt8;
  const auto magnitude_bits = hn::Set(du32, 0x7Fu);
  const auto sign_bit = hn::Set(du32, 0x80u);
  const auto rebias = hn::Set(df, kFp8Rebias);
  for (std::int64_t c = 0; c < rows; ++c) {
    const std::uint8_t* in = src.codes + c * src.stride;
    float* out = dst + c * ld_dst;
    if (prefetch_rows > 0) {
      const std::uint8_t* line = in + prefetch_rows * src.stride;
      for (std::int64_t offset = 0; offset < head_dim; offset += 64)
        __builtin_prefetch(line + offset, 0, 2);
    }
    const float scale = is_int8 ? src.row_scales[c] : src.head_scale;
    const auto scale_v = hn::Set(df, scale);
    std::int64_t e = 0;
    if (is_int8) {
      const auto* codes = reinterpret_cast<const std::int8_t*>(in);
      for (; e < full; e += kLanes) {
        const auto wide = hn::ConvertTo(df, hn::PromoteTo(di32, hn::LoadU(di8, codes + e)));
        hn::StoreU(hn::Mul(wide, scale_v), df, out + e);
      }
      for (; e < head_dim; ++e) out[e] = static_cast<float>(codes[e]) * scale;
    } else {
      for (; e < full; e += kLanes) {
        const auto bits = hn::PromoteTo(du32, hn::LoadU(du8, in + e));
        const auto magnitude = hn::ShiftLeft<20>(hn::And(bits, magnitude_bits));
        const auto sign = hn::ShiftLeft<24>(hn::And(bits, sign_bit));
        const auto value = hn::Mul(hn::BitCast(df, hn::Or(magnitude, sign)), rebias);
        hn::StoreU(hn::Mul(value, scale_v), df, out + e);
      }
      for (; e < head_dim; ++e) out[e] = from_fp8_e4m3(in[e]) * scale;
    }
    for (; e < padded_dim; ++e) out[e] = 0.0f;
  }
}

}  // namespace attn
