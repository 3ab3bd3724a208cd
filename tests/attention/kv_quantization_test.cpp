// The quantized cache formats against their definitions: E4M3's codes and rounding, int8's
// per-row bound, the SIMD dequantization and the decode kernels that read codes directly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "attention/core/quantized_tensor.hpp"
#include "attention/numeric/kv_quantization.hpp"
#include "attention/numeric/microkernel.hpp"

namespace attn {
namespace {

// E4M3 from its definition: sign, 4 exponent bits (bias 7), 3 mantissa bits, exponent 0 the
// subnormals 2^-6 · m/8, and S.1111.111 NaN.
double e4m3_value(int code) {
  const int sign = code >> 7, field = (code >> 3) & 15, mantissa = code & 7;
  const double magnitude =
      field == 0 ? std::ldexp(mantissa / 8.0, -6) : std::ldexp(1.0 + mantissa / 8.0, field - 7);
  return sign ? -magnitude : magnitude;
}

TEST(Fp8E4m3, DecodesEveryCodeAsDefined) {
  for (int code = 0; code < 256; ++code) {
    const float value = from_fp8_e4m3(static_cast<std::uint8_t>(code));
    if ((code & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(value)) << code;
      continue;
    }
    EXPECT_EQ(static_cast<double>(value), e4m3_value(code)) << code;
    EXPECT_EQ(to_fp8_e4m3(value), code) << "round trip of code " << code;
  }
  EXPECT_EQ(from_fp8_e4m3(0x7E), 448.0f);
  EXPECT_EQ(from_fp8_e4m3(0x01), 0x1p-9f);
}

TEST(Fp8E4m3, RoundsToNearestEvenAndSaturates) {
  // Between every two neighbouring finite codes: below the midpoint, at it, above it.
  for (int code = 0; code < 0x7E; ++code) {
    const double lo = e4m3_value(code), hi = e4m3_value(code + 1), mid = (lo + hi) / 2;
    const int even = (code & 1) == 0 ? code : code + 1;
    EXPECT_EQ(to_fp8_e4m3(static_cast<float>(mid)), even) << "midpoint after code " << code;
    EXPECT_EQ(to_fp8_e4m3(std::nextafter(static_cast<float>(mid), 0.0f)), code) << code;
    EXPECT_EQ(to_fp8_e4m3(std::nextafter(static_cast<float>(mid), 1e9f)), code + 1) << code;
    EXPECT_EQ(to_fp8_e4m3(static_cast<float>(-mid)), even | 0x80) << code;
  }
  EXPECT_EQ(to_fp8_e4m3(448.0f), 0x7E);
  EXPECT_EQ(to_fp8_e4m3(1e6f), 0x7E);
  EXPECT_EQ(to_fp8_e4m3(-1e6f), 0xFE);
  EXPECT_EQ(to_fp8_e4m3(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(to_fp8_e4m3(std::nanf("")), 0x7F);
}

TEST(Int8Rows, StayWithinHalfAScaleAndUseTheFullRange) {
  std::mt19937 gen(3);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> row(37);
  std::vector<std::int8_t> codes(row.size());
  for (int trial = 0; trial < 200; ++trial) {
    for (float& x : row) x = dist(gen);
    const float scale = quantize_int8_row(row.data(), 37, codes.data());
    float top = 0;
    for (float x : row) top = std::max(top, std::fabs(x));
    EXPECT_FLOAT_EQ(scale, top / 127.0f);
    int largest = 0;
    for (std::size_t e = 0; e < row.size(); ++e) {
      EXPECT_LE(std::fabs(row[e] - static_cast<float>(codes[e]) * scale), scale * 0.5f * 1.0001f);
      largest = std::max(largest, std::abs(static_cast<int>(codes[e])));
    }
    EXPECT_EQ(largest, 127);
  }
  std::vector<float> zeros(8, 0.0f);
  EXPECT_EQ(quantize_int8_row(zeros.data(), 8, codes.data()), 0.0f);
  EXPECT_EQ(codes[0], 0);
}

Tensor random_tensor(const Shape& shape, std::uint32_t seed, float spread = 2.0f) {
  Tensor t(shape);
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, spread);
  for (float& x : t.data()) x = dist(gen);
  return t;
}

// The tensor is rounded in place to code · scale, the scalar definition of each format.
TEST(QuantizedTensor, HoldsTheCodesOfTheValuesItRoundsTo) {
  const Shape shape{2, 3, 41, 12};
  for (const KvQuantization format : {KvQuantization::kInt8, KvQuantization::kFp8}) {
    Tensor original = random_tensor(shape, 5);
    Tensor rounded = random_tensor(shape, 5);
    const QuantizedTensor q(rounded, format, 20);
    const QuantizedTensorView view = q.view();
    EXPECT_EQ(q.bytes(),
              shape.elements() + (format == KvQuantization::kInt8 ? 4 * 2 * 3 * 41 : 4 * 2 * 3));
    for (std::int64_t b = 0; b < 2; ++b)
      for (std::int64_t h = 0; h < 3; ++h) {
        const QuantizedRows rows = view.head(b, h);
        const float* x = original.view().head(b, h);
        const float* r = rounded.view().head(b, h);
        float calibration_top = 0;
        for (std::int64_t i = 0; i < 20 * 12; ++i)
          calibration_top = std::max(calibration_top, std::fabs(x[i]));
        for (std::int64_t j = 0; j < 41; ++j)
          for (std::int64_t e = 0; e < 12; ++e) {
            const std::uint8_t code = rows.codes[j * 12 + e];
            if (format == KvQuantization::kInt8) {
              const float scale = rows.row_scales[j];
              EXPECT_EQ(r[j * 12 + e], static_cast<float>(static_cast<std::int8_t>(code)) * scale);
              EXPECT_LE(std::fabs(x[j * 12 + e] - r[j * 12 + e]), scale * 0.5f * 1.0001f);
            } else {
              // One scale per head from the first 20 rows; later rows beyond it saturate.
              EXPECT_FLOAT_EQ(rows.head_scale, calibration_top / 448.0f);
              EXPECT_EQ(r[j * 12 + e], from_fp8_e4m3(code) * rows.head_scale);
              const float limit = 448.0f * rows.head_scale;
              const float clamped = std::clamp(x[j * 12 + e], -limit, limit);
              EXPECT_LE(
                  std::fabs(clamped - r[j * 12 + e]),
                  std::max(std::fabs(clamped) * 0x1p-4f, 0x1p-10f * rows.head_scale) * 1.0001f);
            }
          }
      }
  }
}

TEST(DequantizeRows, EqualsTheScalarDefinitionForEveryCodeAndPadsWithZeros) {
  for (const KvQuantization format : {KvQuantization::kInt8, KvQuantization::kFp8}) {
    // Every byte value once, over rows whose head_dim leaves a tail after the last vector.
    const std::int64_t head_dim = 19, rows = 14, padded = 24;
    std::vector<std::uint8_t> codes(static_cast<std::size_t>(rows * head_dim));
    for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>(i * 7);
    if (format == KvQuantization::kFp8)
      for (auto& c : codes)
        if ((c & 0x7F) == 0x7F) c = 0x7E;  // NaN codes are never written
    std::vector<float> scales(static_cast<std::size_t>(rows));
    for (std::int64_t j = 0; j < rows; ++j)
      scales[static_cast<std::size_t>(j)] = 0.01f * static_cast<float>(j + 1);
    const QuantizedRows src{.format = format,
                            .codes = codes.data(),
                            .row_scales = format == KvQuantization::kInt8 ? scales.data() : nullptr,
                            .head_scale = 0.37f,
                            .stride = head_dim};
    std::vector<float> out(static_cast<std::size_t>(rows * padded), -1.0f);
    dequantize_rows(src, rows, head_dim, padded, out.data(), padded);
    for (std::int64_t j = 0; j < rows; ++j)
      for (std::int64_t e = 0; e < padded; ++e) {
        const float got = out[static_cast<std::size_t>(j * padded + e)];
        if (e >= head_dim) {
          EXPECT_EQ(got, 0.0f);
          continue;
        }
        const std::uint8_t c = codes[static_cast<std::size_t>(j * head_dim + e)];
        const float want = format == KvQuantization::kInt8
                               ? static_cast<float>(static_cast<std::int8_t>(c)) *
                                     scales[static_cast<std::size_t>(j)]
                               : from_fp8_e4m3(c) * 0.37f;
        EXPECT_EQ(got, want) << kv_quantization_name(format) << " row " << j << " code " << int(c);
      }
  }
}

// The decode kernels that read codes (scores, then P·V) against fp64 over the values.
TEST(QuantizedDecodeKernels, ScoreAndAccumulateTheDequantizedValues) {
  const std::int64_t d = 32, cols = 37, ld = 64;
  for (const KvQuantization format : {KvQuantization::kInt8, KvQuantization::kFp8})
    for (std::int64_t rows = 1; rows <= kernel::kFewRows; ++rows) {
      Tensor keys = random_tensor(Shape{1, 1, cols, d}, 11);
      Tensor values = random_tensor(Shape{1, 1, cols, d}, 12);
      const QuantizedTensor kq(keys, format), vq(values, format);
      const Tensor queries = random_tensor(Shape{1, 1, rows, d}, 13, 0.5f);
      std::vector<float> s_t(static_cast<std::size_t>(cols * ld), 0.0f);
      kernel::score_tile_few_rows(queries.data().data(), d, rows, kq.view().head(0, 0), cols, d,
                                  s_t.data(), ld);
      // P is any non-negative tile; the accumulator starts at ones with a correction of 0.5.
      std::vector<float> p(s_t.size());
      for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<float>(i % 5) * 0.25f;
      // The kernel's accumulator loads are aligned, as the engine's workspace is.
      AlignedBuffer<float> acc(static_cast<std::size_t>(kernel::kFewRows * d));
      std::fill_n(acc.data(), acc.size(), 1.0f);
      const std::vector<float> correction(kernel::kFewRows, 0.5f);
      kernel::accumulate_tile(p.data(), ld, rows, cols, correction.data(), vq.view().head(0, 0), d,
                              acc.data(), d);
      for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t c = 0; c < cols; ++c) {
          double want = 0;
          for (std::int64_t e = 0; e < d; ++e)
            want += static_cast<double>(queries.data()[static_cast<std::size_t>(r * d + e)]) *
                    keys.data()[static_cast<std::size_t>(c * d + e)];
          EXPECT_NEAR(s_t[static_cast<std::size_t>(c * ld + r)], want, 1e-4)
              << kv_quantization_name(format) << " rows " << rows << " key " << c;
        }
        for (std::int64_t e = 0; e < d; ++e) {
          double want = 0.5;
          for (std::int64_t c = 0; c < cols; ++c)
            want += static_cast<double>(p[static_cast<std::size_t>(c * ld + r)]) *
                    values.data()[static_cast<std::size_t>(c * d + e)];
          EXPECT_NEAR(acc[static_cast<std::size_t>(r * d + e)], want, 1e-4)
              << kv_quantization_name(format) << " rows " << rows << " dim " << e;
        }
      }
    }
}

}  // namespace
}  // namespace attn
