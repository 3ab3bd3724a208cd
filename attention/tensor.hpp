#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>

#include "attention/shape.hpp"

namespace attn {

inline constexpr std::size_t kTensorAlignment = 64;  // one cache line, one AVX-512 register
// Buffers of at least this many bytes are aligned to it and asked for transparent huge pages:
// random row reads (LSH's gathers) then rarely miss the TLB, which with 4 KiB pages they do on
// almost every row beyond a few MiB.
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

// Marks [data, data + bytes) for transparent huge pages (no-op where unsupported).
void advise_huge_pages(void* data, std::size_t bytes);

// Owning, aligned, zero-initialised storage for `size` trivially copyable values.
template <class T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t size)
      : data_(size == 0 ? nullptr
                        : static_cast<T*>(
                              ::operator new (size * sizeof(T), std::align_val_t{alignment(size)})),
              Free{alignment(size)}),
        size_(size) {
    if (alignment(size) == kHugePageBytes) advise_huge_pages(data_.get(), size * sizeof(T));
    std::uninitialized_value_construct_n(data_.get(), size_);
  }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  std::span<T> span() { return {data_.get(), size_}; }
  std::span<const T> span() const { return {data_.get(), size_}; }
  T& operator[](std::size_t i) { return data_.get()[i]; }
  const T& operator[](std::size_t i) const { return data_.get()[i]; }

 private:
  static std::size_t alignment(std::size_t size) {
    return size * sizeof(T) >= kHugePageBytes ? kHugePageBytes : kTensorAlignment;
  }
  struct Free {
    std::size_t alignment = kTensorAlignment;
    void operator()(T* p) const { ::operator delete (p, std::align_val_t{alignment}); }
  };
  std::unique_ptr<T, Free> data_;
  std::size_t size_ = 0;
};

// Non-owning view of a [B, H, N, D] tensor. T is float or const float.
template <class T>
struct BasicTensorView {
  Shape shape;
  std::span<T> data;

  // The [N, D] matrix of one (batch, head) problem.
  T* head(std::int64_t b, std::int64_t h) const {
    return data.data() + ((b * shape.heads + h) * shape.seq_len) * shape.head_dim;
  }
  // Row `i` (a D-vector) of one (batch, head) problem.
  T* row(std::int64_t b, std::int64_t h, std::int64_t i) const {
    return head(b, h) + i * shape.head_dim;
  }
};
using TensorView = BasicTensorView<const float>;
using MutableTensorView = BasicTensorView<float>;

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

}  // namespace attn
