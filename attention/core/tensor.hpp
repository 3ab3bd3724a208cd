#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <utility>

#include "attention/core/shape.hpp"
#include "attention/numeric/dtype.hpp"

namespace attn {

inline constexpr std::size_t kTensorAlignment = 64;  // one cache line, one AVX-512 register
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;
// Buffers of at least this many bytes start on a 2 MiB boundary and ask for transparent huge
// pages: random row reads (LSH's gathers) then rarely miss the TLB, which with 4 KiB pages they
// do on almost every row beyond a few MiB. Smaller ones gain little, and their resident-set
// growth would come in 2 MiB steps.
inline constexpr std::size_t kHugePageThreshold = 8 * kHugePageBytes;

// Marks [data, data + bytes) for transparent huge pages (no-op where unsupported).
void advise_huge_pages(void* data, std::size_t bytes);

// Owning, aligned, zero-initialised storage for `size` trivially copyable values: 64-byte
// aligned, or 2 MiB aligned on huge pages from kHugePageThreshold bytes. The 2 MiB alignment is
// carved out of an allocation 2 MiB larger rather than asked of the allocator, whose slack
// would vary from run to run and with it the heap peak the harness reports.
template <class T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t size) : size_(size) {
    if (size == 0) return;
    const std::size_t bytes = size * sizeof(T);
    const bool huge = bytes >= kHugePageThreshold;
    raw_.reset(static_cast<std::byte*>(
        ::operator new (bytes + (huge ? kHugePageBytes : 0), std::align_val_t{kTensorAlignment})));
    std::byte* start = raw_.get();
    if (huge) {
      const auto address = reinterpret_cast<std::uintptr_t>(start);
      start += (kHugePageBytes - address % kHugePageBytes) % kHugePageBytes;
      advise_huge_pages(start, bytes);  // before the first touch: the zeroing faults huge pages
    }
    data_ = reinterpret_cast<T*>(start);
    std::uninitialized_value_construct_n(data_, size_);
  }

  AlignedBuffer(AlignedBuffer&& other) noexcept
      : raw_(std::move(other.raw_)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    raw_ = std::move(other.raw_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::span<T> span() { return {data_, size_}; }
  std::span<const T> span() const { return {data_, size_}; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }

 private:
  struct Free {
    void operator()(std::byte* p) const {
      ::operator delete (p, std::align_val_t{kTensorAlignment});
    }
  };
  std::unique_ptr<std::byte, Free> raw_;
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// Non-owning view of a [B, H, N, D] tensor. T is float, const float or const bf16.
//
// Rows of one head are contiguous; heads are `head_stride` elements apart, N·D when 0. A
// larger stride views the first N rows of longer heads: a decode session's KV cache, whose
// heads have room for every token still to come (kv_cache.hpp).
template <class T>
struct BasicTensorView {
  Shape shape;
  std::span<T> data;
  std::int64_t head_stride = 0;

  std::int64_t stride() const {
    return head_stride != 0 ? head_stride : shape.seq_len * shape.head_dim;
  }
  // Elements `data` must hold: up to the last row of the last head.
  std::int64_t extent() const {
    return (shape.problems() - 1) * stride() + shape.seq_len * shape.head_dim;
  }
  // The [N, D] matrix of one (batch, head) problem.
  T* head(std::int64_t b, std::int64_t h) const {
    return data.data() + (b * shape.heads + h) * stride();
  }
  // Row `i` (a D-vector) of one (batch, head) problem.
  T* row(std::int64_t b, std::int64_t h, std::int64_t i) const {
    return head(b, h) + i * shape.head_dim;
  }
};
using TensorView = BasicTensorView<const float>;
using MutableTensorView = BasicTensorView<float>;
using Bf16TensorView = BasicTensorView<const bf16>;

// Owning fp32 tensor of a given shape, aligned and zero-initialised.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(const Shape& shape)
      : shape_(shape), buffer_(static_cast<std::size_t>(shape.elements())) {}

  const Shape& shape() const { return shape_; }
  std::span<float> data() { return buffer_.span(); }
  std::span<const float> data() const { return buffer_.span(); }
  TensorView view() const { return {shape_, buffer_.span()}; }
  MutableTensorView mutable_view() { return {shape_, buffer_.span()}; }

 private:
  Shape shape_;
  AlignedBuffer<float> buffer_;
};

// Owning bf16 tensor: a float tensor's values rounded to nearest even (half the bytes).
class Bf16Tensor {
 public:
  Bf16Tensor() = default;
  explicit Bf16Tensor(const Tensor& source)
      : shape_(source.shape()), buffer_(static_cast<std::size_t>(source.shape().elements())) {
    convert_to_bf16(source.data(), buffer_.span());
  }

  const Shape& shape() const { return shape_; }
  std::span<const bf16> data() const { return buffer_.span(); }
  Bf16TensorView view() const { return {shape_, buffer_.span()}; }

 private:
  Shape shape_;
  AlignedBuffer<bf16> buffer_;
};

}  // namespace attn
