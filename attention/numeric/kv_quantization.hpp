#pragma once

// Quantized KV caches: K and V stored in 8 bits and dequantized to fp32 as the kernels load
// them, so that decode, which streams the whole cache per step, reads a quarter of fp32's bytes.
//
// int8: symmetric, one fp32 scale per token and head for K and for V (max |x| / 127), as the
//   int8 caches of LMDeploy and vLLM do. A per-token scale needs nothing from later tokens, so an
//   appended token is quantized alone and the cache never requantizes. (KIVI's per-channel K
//   scales need groups of tokens and a full-precision residual window; not built.)
// fp8: OCP E4M3 (4 exponent bits, 3 mantissa bits, largest finite 448, no infinities), one
//   fp32 scale per (batch, kv head) taken from the prefill's largest |x| / 448, as a serving
//   system calibrates it once; later tokens beyond that range saturate at ±448 · scale.
// The quantized value of x is the code times its scale, computed in fp32: the tensors the
// harness keeps in fp32 are rounded in place to exactly those values, so every path that reads
// fp32 (selection, the fp64 reference) sees the cache the quantized kernels see.
#include <cstdint>
#include <string_view>
#include <vector>

namespace attn {

enum class KvQuantization { kNone, kInt8, kFp8 };

// "int8" or "fp8" ("none" for kNone; the CSV then names the forward's dtype).
std::string_view kv_quantization_name(KvQuantization q);
// Bytes one token of K or V takes in one kv head, its scale included (kNone: element_bytes · D).
std::int64_t kv_row_bytes(KvQuantization q, std::int64_t head_dim, std::int64_t element_bytes);

inline constexpr float kInt8CodeMax = 127.0f;
inline constexpr float kFp8E4m3Max = 448.0f;

// Rounds x to the nearest E4M3 code (ties to even), saturating at ±448; NaN becomes 0x7F.
std::uint8_t to_fp8_e4m3(float x);
// The code's value: exact in fp32 (NaN for 0x7F and 0xFF).
float from_fp8_e4m3(std::uint8_t code);

// Quantizes n values to int8 codes with one symmetric scale, returned (0 for an all-zero row,
// whose codes are then 0). |x - code · scale| <= scale / 2, up to fp32 rounding.
float quantize_int8_row(const float* x, std::int64_t n, std::int8_t* codes);

// One head's rows of a quantized cache, as the kernels read them: row j's codes at codes + j ·
// stride, and (int8) its scale at row_scales[j], or (fp8) one scale for every row.
struct QuantizedRows {
  KvQuantization format = KvQuantization::kNone;
  const std::uint8_t* codes = nullptr;
  const float* row_scales = nullptr;
  float head_scale = 1.0f;
  std::int64_t stride = 0;

  QuantizedRows from_row(std::int64_t j) const {
    QuantizedRows r = *this;
    r.codes += j * stride;
    if (row_scales) r.row_scales += j;
    return r;
  }
};

// dst[c * ld_dst + e] = the value of row c's element e for c < rows, e < head_dim, and 0 for
// head_dim <= e < padded_dim: a tile made ready for the fp32 kernels (SIMD, this build's target).
// `prefetch_rows` > 0 prefetches the codes that many rows ahead of each row read (decode streams
// the cache from memory); the caller guarantees they exist.
void dequantize_rows(const QuantizedRows& src, std::int64_t rows, std::int64_t head_dim,
                     std::int64_t padded_dim, float* dst, std::int64_t ld_dst,
                     std::int64_t prefetch_rows = 0);

}  // namespace attn
