#pragma once

#include <cstdint>
#include <string>

#include "attention/numeric/dtype.hpp"
#include "attention/numeric/kv_quantization.hpp"

namespace attn {

// The shape of one tensor: [batch, heads, seq_len, head_dim], row-major.
struct Shape {
  std::int64_t batch = 1;
  std::int64_t heads = 1;
  std::int64_t seq_len = 1;
  std::int64_t head_dim = 1;

  // batch * heads: the number of [seq_len, head_dim] matrices.
  std::int64_t problems() const { return batch * heads; }
  // Elements in one [B, H, N, D] tensor; throws std::overflow_error if it does not fit.
  std::int64_t elements() const;
  std::string to_string() const;  // "B=1 H=8 N=4096 D=64"

  friend bool operator==(const Shape&, const Shape&) = default;
};

// The shape of one attention forward: `heads` query heads over `kv_heads` key/value heads (query
// head h reads kv head h / (heads / kv_heads)), and `query_len` queries M over `seq_len` keys N,
// the queries being the last M positions: query i sits at absolute position N - M + i. Q and the
// output are [batch, heads, M, D]; K and V are [batch, kv_heads, N, D]. Square self-attention is
// M = N and kv_heads = heads, what the four-number constructor builds.
struct AttentionShape {
  std::int64_t batch = 1;
  std::int64_t heads = 1;
  std::int64_t kv_heads = 1;
  std::int64_t query_len = 1;
  std::int64_t seq_len = 1;
  std::int64_t head_dim = 1;
  // The element type Q, K and V are stored in: it sets the bytes a forward reads and the
  // engine's workspace (the bf16 path widens its tiles into fp32 scratch).
  Dtype dtype = Dtype::kFp32;
  // K and V stored quantized (int8, fp8) and dequantized as they load; kNone: in `dtype`.
  KvQuantization kv_quantization = KvQuantization::kNone;

  constexpr AttentionShape() = default;
  constexpr AttentionShape(std::int64_t b, std::int64_t h, std::int64_t n, std::int64_t d)
      : batch(b), heads(h), kv_heads(h), query_len(n), seq_len(n), head_dim(d) {}
  constexpr AttentionShape(std::int64_t b, std::int64_t h, std::int64_t kv, std::int64_t m,
                           std::int64_t n, std::int64_t d)
      : batch(b), heads(h), kv_heads(kv), query_len(m), seq_len(n), head_dim(d) {}
  // Square self-attention over one tensor shape.
  AttentionShape(const Shape& square)  // NOLINT(google-explicit-constructor): every round-1 shape
      : AttentionShape(square.batch, square.heads, square.seq_len, square.head_dim) {}

  Shape query_shape() const { return {batch, heads, query_len, head_dim}; }
  Shape kv_shape() const { return {batch, kv_heads, seq_len, head_dim}; }
  // Query heads per kv head (valid once check() has passed).
  std::int64_t group() const { return heads / kv_heads; }
  std::int64_t kv_head(std::int64_t h) const { return h / group(); }
  // Absolute position of query 0.
  std::int64_t first_position() const { return seq_len - query_len; }
  std::int64_t position(std::int64_t query) const { return first_position() + query; }
  bool square() const { return query_len == seq_len && kv_heads == heads; }
  // Bytes one token's K (or V) row takes in one kv head, in the cache's format (scales included).
  std::int64_t kv_row_bytes() const {
    return attn::kv_row_bytes(kv_quantization, head_dim, dtype_bytes(dtype));
  }
  // Bytes one token's K and V take over all kv heads of one batch element.
  std::int64_t kv_token_bytes() const { return 2 * kv_heads * kv_row_bytes(); }
  // batch * heads: the number of independent attention problems (one per query head).
  std::int64_t problems() const { return batch * heads; }

  // Throws std::invalid_argument naming the field, its value and what is allowed, unless every
  // size is at least 1, kv_heads divides heads, query_len <= seq_len and every tensor's element
  // count fits in 64 bits (std::overflow_error for that).
  void check() const;
  // "B=1 H=8 N=4096 D=64", plus " KV=8" and " M=1" where they differ from the square case, and
  // " bf16" for bf16 inputs.
  std::string to_string() const;

  friend bool operator==(const AttentionShape&, const AttentionShape&) = default;
};

// Multiplies non-negative sizes, throwing std::overflow_error naming `what` on overflow.
std::int64_t checked_product(std::int64_t a, std::int64_t b, const char* what);

}  // namespace attn
