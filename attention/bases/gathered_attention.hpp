#pragma once

#include "attention/bases/selection.hpp"
#include "attention/core/tensor.hpp"
#include "attention/core/variant.hpp"

namespace attn {

// The engine's path for token-level selections: per query row, its selected K and V rows are
// copied into contiguous buffers and attended by the block engine's kernel (attend_rows) as one
// unmasked range. A contiguous copy beat reading the rows in place by 9-17% in LSH's chunk
// attention, and it lets the same kernels (and their dtypes) serve every selection.
// Parallel over (batch, query head, query) with oneTBB.
void gathered_attention(const AttentionInputs& inputs, const KeyListSelection& selection,
                        MutableTensorView out);

// The engine's path for key blocks chosen per query (MoBA, Quest): per key block, the queries
// that chose it are copied into contiguous rows and attend the block's keys in place (causal
// only up to each query), as MoBA's own implementation groups them; each query's parts, one per
// chosen block, are merged exactly by their log-sum-exp. Every tile is then a dense tile of
// queries that all attend its keys, where a union over neighbouring queries would be mostly
// masked. Parallel over (batch, query head, key block).
void attend_gathered_queries(const AttentionInputs& inputs, const KeyBlockPattern& pattern,
                             MutableTensorView out);

// Bytes of workspace gathered_attention allocates at peak for rows of at most `max_keys` keys.
std::int64_t gathered_attention_workspace_bytes(const AttentionShape& shape, int threads,
                                                std::int64_t max_keys);

}  // namespace attn
