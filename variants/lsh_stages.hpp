#pragma once

// The stages of LSH's selection (variants/lsh.cpp), exposed so that the tests and the
// microbenchmarks check and time exactly the code the variant runs: hashing and sorting. The
// attention of the sorted chunks is the engine's (attention/bases/sorted_chunks.hpp).
#include <cstdint>
#include <vector>

#include "attention/bases/sorted_chunks.hpp"
#include "attention/core/tensor.hpp"
#include "attention/core/variant.hpp"

namespace attn::lsh {

// Buckets up to this many are hashed by one rotation (Reformer's hash); more buckets must be a
// power of two and are hashed as a product of rotations of at most this many buckets each.
inline constexpr std::int64_t kMaxFactor = 16;

// The variant's parameters as given in its spec (buckets = 0: the default for the shape).
struct Params {
  std::int64_t hashes = 4;
  std::int64_t chunk = 64;
  std::int64_t buckets = 0;
  std::int64_t lookback = 1;
  std::uint64_t seed = 0;
};

// The default bucket count for N tokens: the power of two nearest to N / chunk, at least 2.
std::int64_t default_buckets(std::int64_t seq_len, std::int64_t chunk);

// The bucket count split into the even factors hashed by separate rotations, most significant
// first: {buckets} when buckets <= kMaxFactor, otherwise balanced powers of two <= kMaxFactor.
std::vector<std::int64_t> bucket_factors(std::int64_t buckets);

// Everything about one selection's hashing that follows from the parameters and the shape.
struct Layout {
  Layout(const Params& params, const AttentionShape& shape);

  Params params;
  std::int64_t n = 0, head_dim = 0;
  std::int64_t buckets = 0;            // resolved (never 0)
  std::vector<std::int64_t> factors;   // bucket_factors(buckets)
  std::int64_t columns_per_round = 0;  // Σ factor / 2: projections per vector and round
};

// The buckets of one (batch, head) problem, round-major, [hashes][n]: hash_head writes each
// vector's bucket per round.
struct HeadHashing {
  explicit HeadHashing(const Layout& layout);

  std::vector<std::int32_t> bucket_q, bucket_k;
  bool shared = false;  // K is Q (same storage): the keys use bucket_q
};

// The Gaussian rotations of one head, stored transposed: (hashes · columns_per_round) rows of D
// values, row c being column c of R; round r's rotation is rows [r · columns, (r + 1) · columns).
AlignedBuffer<float> rotations(const Layout& layout, std::int64_t head);

// Stage 1: buckets of every query and key of problem (b, h), all rounds, one GEMM per row block.
void hash_head(const Layout& layout, const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
               HeadHashing& out);

// Stage 2: the counting sort of every round by (bucket, position) into the problem's orders and
// chunk ids (`out` without key arrays when the hashing is shared).
void sort_head(const Layout& layout, const HeadHashing& hashing, SortedOrders& out);

}  // namespace attn::lsh
