#include "attention/softmax.hpp"

#include <cmath>
#include <limits>

namespace attn {

void softmax_rows(float* data, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = data + r * ld;
    float max_value = -std::numeric_limits<float>::infinity();
    for (std::int64_t c = 0; c < cols; ++c) max_value = std::fmax(max_value, row[c]);
    if (max_value == -std::numeric_limits<float>::infinity()) {
      for (std::int64_t c = 0; c < cols; ++c) row[c] = 0.0f;
      continue;
    }
    float sum = 0.0f;
    for (std::int64_t c = 0; c < cols; ++c) {
      row[c] = std::exp(row[c] - max_value);
      sum += row[c];
    }
    const float inv = 1.0f / sum;
    for (std::int64_t c = 0; c < cols; ++c) row[c] *= inv;
  }
}

}  // namespace attn
