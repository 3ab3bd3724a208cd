#include "attention/numeric/softmax.hpp"

#include <algorithm>
#include <limits>

#include "attention/numeric/microkernel.hpp"

namespace attn {
namespace {

constexpr float kLog2e = 1.44269504088896341f;
// Weights below this (2^-124) are dropped: the engine's exp2 gives 0 below 2^-125, and this keeps
// the textbook variant's rows free of denormal products as well.
constexpr float kNegligible = 0x1p-124f;

}  // namespace

void softmax_rows(float* data, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = data + r * ld;
    float max_value = -std::numeric_limits<float>::infinity();
    for (std::int64_t c = 0; c < cols; ++c) max_value = std::max(max_value, row[c]);
    if (max_value == -std::numeric_limits<float>::infinity()) {
      std::fill(row, row + cols, 0.0f);
      continue;
    }
    // exp(x - max) = 2^((x - max) · log2 e), with the vectorised exp2 of the block engine.
    for (std::int64_t c = 0; c < cols; ++c) row[c] = (row[c] - max_value) * kLog2e;
    kernel::exp2_nonpositive(row, cols);
    float sum = 0.0f;
    for (std::int64_t c = 0; c < cols; ++c) {
      if (row[c] < kNegligible) row[c] = 0.0f;
      sum += row[c];
    }
    const float inv = 1.0f / sum;
    for (std::int64_t c = 0; c < cols; ++c) row[c] *= inv;
  }
}

}  // namespace attn
