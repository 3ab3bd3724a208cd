#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "attention/core/variant.hpp"

namespace attn {

// Exact softmax attention in fp64 for one query row (query 0..M-1 of query head h, reading kv
// head h / group) over an explicit key set: the ground truth every variant is tested against. `out`
// receives head_dim values; an empty key set gives zeros.
void reference_row(const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
                   std::int64_t query, std::span<const std::int64_t> keys, std::span<double> out);

// The sum of a query row's terms (Variant::terms), each exact in fp64: the ground truth of a
// variant whose output is not attention over one key set. One term of gate 1 over `keys` without
// weights is reference_row.
void reference_terms(const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
                     std::int64_t query, std::span<const AttentionTerm> terms,
                     std::span<double> out);

// The keys of full attention for a query: all N, or 0..position(query) when causal.
void full_attention_keys(const AttentionInputs& inputs, std::int64_t query,
                         std::vector<std::int64_t>& out);

// Full attention's softmax weights (fp64) for one query row: N values, zero on keys that
// causality excludes. Used for the attention-mass recall of a variant's key set.
void full_attention_weights(const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
                            std::int64_t query, std::vector<double>& weights);

}  // namespace attn
