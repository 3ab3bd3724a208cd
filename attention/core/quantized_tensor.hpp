#pragma once

// A K or V tensor stored in a quantized cache format (kv_quantization.hpp), beside the fp32
// tensor it was made from, which is rounded in place to the values the codes stand for.
#include <cstdint>
#include <span>

#include "attention/core/tensor.hpp"
#include "attention/numeric/kv_quantization.hpp"

namespace attn {

// Non-owning view of a quantized [B, H, N, D] tensor. Like BasicTensorView, heads are
// `head_stride` elements apart (N·D when 0), so a view may hold the first N rows of longer heads.
struct QuantizedTensorView {
  Shape shape;
  KvQuantization format = KvQuantization::kNone;
  std::span<const std::uint8_t> codes;  // one byte per element
  std::span<const float> row_scales;    // int8: one per row, rows of a head stride()/D apart
  std::span<const float> head_scales;   // fp8: one per (batch, head)
  std::int64_t head_stride = 0;

  bool empty() const { return format == KvQuantization::kNone; }
  std::int64_t stride() const {
    return head_stride != 0 ? head_stride : shape.seq_len * shape.head_dim;
  }
  // The rows of one (batch, head) problem, as the kernels read them.
  QuantizedRows head(std::int64_t b, std::int64_t h) const {
    const std::int64_t problem = b * shape.heads + h;
    QuantizedRows rows{
        .format = format, .codes = codes.data() + problem * stride(), .stride = shape.head_dim};
    if (format == KvQuantization::kInt8)
      rows.row_scales = row_scales.data() + problem * (stride() / shape.head_dim);
    else
      rows.head_scale = head_scales[static_cast<std::size_t>(problem)];
    return rows;
  }
  // The first `count` rows of every head (a decode step's cache).
  QuantizedTensorView first_rows(std::int64_t count) const {
    QuantizedTensorView view = *this;
    view.shape.seq_len = count;
    view.head_stride = stride();
    return view;
  }
};

// Owning quantized tensor.
class QuantizedTensor {
 public:
  QuantizedTensor() = default;
  // Quantizes `source` and rounds it in place to the quantized values. fp8's per-head scale is
  // taken over the first `scale_rows` rows of each head (a session's prefill; all rows when 0 or
  // larger): rows after them are quantized with it, as tokens appended to a calibrated cache are.
  QuantizedTensor(Tensor& source, KvQuantization format, std::int64_t scale_rows = 0);

  QuantizedTensorView view() const;
  // Bytes of codes and scales.
  std::int64_t bytes() const;

 private:
  Shape shape_;
  KvQuantization format_ = KvQuantization::kNone;
  AlignedBuffer<std::uint8_t> codes_;
  AlignedBuffer<float> row_scales_, head_scales_;
};

}  // namespace attn
