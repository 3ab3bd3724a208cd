#pragma once

#include <cstdint>
#include <string>

namespace attn {

// The shape of Q, K, V and the output: [batch, heads, seq_len, head_dim], row-major.
struct Shape {
  std::int64_t batch = 1;
  std::int64_t heads = 1;
  std::int64_t seq_len = 1;
  std::int64_t head_dim = 1;

  // batch * heads: the number of independent attention problems.
  std::int64_t problems() const { return batch * heads; }
  // Elements in one [B, H, N, D] tensor; throws std::overflow_error if it does not fit.
  std::int64_t elements() const;
  std::string to_string() const;  // "B=1 H=8 N=4096 D=64"

  friend bool operator==(const Shape&, const Shape&) = default;
};

// Multiplies non-negative sizes, throwing std::overflow_error naming `what` on overflow.
std::int64_t checked_product(std::int64_t a, std::int64_t b, const char* what);

}  // namespace attn
