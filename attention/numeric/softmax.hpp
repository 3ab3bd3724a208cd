#pragma once

#include <cstdint>

namespace attn {

// In-place softmax of each of `rows` rows of length `cols` (row stride `ld`), subtracting the
// row maximum first so exp never overflows. A row that is all -inf (fully masked) becomes zeros.
void softmax_rows(float* data, std::int64_t rows, std::int64_t cols, std::int64_t ld);

}  // namespace attn
