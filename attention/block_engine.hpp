#pragma once

#include <cstdint>

#include "attention/block_pattern.hpp"
#include "attention/variant.hpp"

namespace attn {

// The one hot loop every non-textbook variant shares: tiled attention with the online-softmax
// recurrence (running max m, running sum l, rescaled accumulator) over the key ranges a
// pattern gives each block of queries. O(N·D) memory, never an N×N buffer; parallel over
// (batch, head, query block) with oneTBB; exact for any N.
void block_attention(const AttentionInputs& inputs, const BlockPattern& pattern,
                     MutableTensorView out);

// Bytes of workspace block_attention allocates at peak with `threads` workers.
std::int64_t block_attention_workspace_bytes(std::int64_t head_dim, int threads);

}  // namespace attn
