#include "attention/core/quantized_tensor.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace attn {

QuantizedTensor::QuantizedTensor(Tensor& source, KvQuantization format, std::int64_t scale_rows)
    : shape_(source.shape()), format_(format) {
  if (format == KvQuantization::kNone)
    throw std::invalid_argument("QuantizedTensor: no quantized format given");
  const std::int64_t problems = shape_.problems(), n = shape_.seq_len, d = shape_.head_dim;
  const auto count = [](std::int64_t x) { return static_cast<std::size_t>(x); };
  codes_ = AlignedBuffer<std::uint8_t>(count(shape_.elements()));
  if (format == KvQuantization::kInt8)
    row_scales_ = AlignedBuffer<float>(count(problems * n));
  else
    head_scales_ = AlignedBuffer<float>(count(problems));
  const std::int64_t calibration = scale_rows > 0 ? std::min(scale_rows, n) : n;
  float* values = source.data().data();
  tbb::parallel_for(std::int64_t{0}, problems, [&](std::int64_t p) {
    float* head = values + p * n * d;
    std::uint8_t* codes = codes_.data() + p * n * d;
    if (format == KvQuantization::kInt8) {
      for (std::int64_t j = 0; j < n; ++j) {
        auto* row_codes = reinterpret_cast<std::int8_t*>(codes + j * d);
        const float scale = quantize_int8_row(head + j * d, d, row_codes);
        row_scales_[count(p * n + j)] = scale;
        for (std::int64_t e = 0; e < d; ++e)
          head[j * d + e] = static_cast<float>(row_codes[e]) * scale;
      }
      return;
    }
    float top = 0;
    for (std::int64_t i = 0; i < calibration * d; ++i) top = std::max(top, std::fabs(head[i]));
    const float scale = top > 0 ? top / kFp8E4m3Max : 1.0f;
    head_scales_[count(p)] = scale;
    for (std::int64_t i = 0; i < n * d; ++i) {
      codes[i] = to_fp8_e4m3(head[i] / scale);
      head[i] = from_fp8_e4m3(codes[i]) * scale;
    }
  });
}

QuantizedTensorView QuantizedTensor::view() const {
  return {.shape = shape_,
          .format = format_,
          .codes = codes_.span(),
          .row_scales = row_scales_.span(),
          .head_scales = head_scales_.span()};
}

std::int64_t QuantizedTensor::bytes() const {
  return static_cast<std::int64_t>(codes_.size() + 4 * (row_scales_.size() + head_scales_.size()));
}

}  // namespace attn
