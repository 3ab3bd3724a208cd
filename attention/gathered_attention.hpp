#pragma once

#include "attention/selection.hpp"
#include "attention/tensor.hpp"
#include "attention/variant.hpp"

namespace attn {

// The engine's path for token-level selections: per query row, its selected K and V rows are
// copied into contiguous buffers and attended by the block engine's kernel (attend_rows) as one
// unmasked range. A contiguous copy beat reading the rows in place by 9-17% in LSH's chunk
// attention, and it lets the same kernels (and their dtypes) serve every selection.
// Parallel over (batch, query head, query) with oneTBB.
void gathered_attention(const AttentionInputs& inputs, const KeyListSelection& selection,
                        MutableTensorView out);

// Bytes of workspace gathered_attention allocates at peak for rows of at most `max_keys` keys.
std::int64_t gathered_attention_workspace_bytes(const AttentionShape& shape, int threads,
                                                std::int64_t max_keys);

}  // namespace attn
