#pragma once

// The stages of LSH's selection (variants/lsh.cpp), exposed so that the tests and the
// microbenchmarks check and time exactly the code the variant runs: hashing and sorting, and at
// M < N the key codes kept with the cache. The attention of the sorted chunks is the engine's
// (attention/bases/sorted_chunks.hpp).
#include <cstdint>
#include <vector>

#include "attention/bases/sorted_chunks.hpp"
#include "attention/core/cache_state.hpp"
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

// The buckets of `rows` vectors (row i at x + i · head_dim) in every round, by one head's
// rotations `r` (rotations()), into buckets[round * round_stride + i]; parallel over blocks of
// rows. A vector's bucket does not depend on the vectors hashed beside it (each is its own lane
// of the same kernel), so a key hashed alone at a decode step gets the bucket a batch gives it.
void hash_vectors(const Layout& layout, const float* r, const float* x, std::int64_t rows,
                  std::int32_t* buckets, std::int64_t round_stride);

// Stage 1: buckets of every query and key of problem (b, h), all rounds, one GEMM per row block.
void hash_head(const Layout& layout, const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
               HeadHashing& out);

// Stage 2: the counting sort of every round by (bucket, position) into the problem's orders and
// chunk ids (`out` without key arrays when the hashing is shared).
void sort_head(const Layout& layout, const HeadHashing& hashing, SortedOrders& out);

// ---- M < N: decode and chunked prefill over a cache ----------------------------------------

// What LSH keeps with a KV cache: the bucket of every cached key in every round. Problem (b, h)
// hashes the keys of its kv head with query head h's rotations, as the square path does, so each
// query head of a group holds its own codes ([b][h][round], one code per key). The bucket count
// is fixed when the codes are made, from that N: a session keeps the count its prefill chose.
class KeyCodes final : public CacheState {
 public:
  // No keys yet; `shape` gives the heads, head_dim and the N the default bucket count follows.
  KeyCodes(const Params& params, const AttentionShape& shape);

  // Hashes the keys [length(), N) of every problem of `inputs`, and only those.
  void extend(const AttentionInputs& inputs);

  const Layout& layout() const { return layout_; }
  // length() codes of problem (b, h) in `round`, one per cached key in position order.
  const std::int32_t* codes(std::int64_t b, std::int64_t h, std::int64_t round) const {
    return codes_[index(b, h, round)].data();
  }
  // The rotations of query head h (rotations(layout(), h)).
  const float* rotations(std::int64_t h) const {
    return rotations_[static_cast<std::size_t>(h)].data();
  }

  // The codes (4 bytes each) and every head's rotations.
  std::int64_t bytes() const override;
  // length(), the bucket count, the rotations, then the codes of every (b, h, round).
  std::vector<double> values() const override;

 private:
  std::size_t index(std::int64_t b, std::int64_t h, std::int64_t round) const {
    return static_cast<std::size_t>((b * heads_ + h) * layout_.params.hashes + round);
  }

  Layout layout_;
  std::int64_t batch_, heads_;
  std::vector<AlignedBuffer<float>> rotations_;   // [h]
  std::vector<std::vector<std::int32_t>> codes_;  // [b][h][round], growing
};

// The buckets of the M queries of problem (b, h) by the codes' rotations, [hashes][M], into
// `out`.
void hash_queries(const KeyCodes& codes, const AttentionInputs& inputs, std::int64_t b,
                  std::int64_t h, std::vector<std::int32_t>& out);

// The sorted keys of the query at `position` of problem (b, h), whose bucket in round r is
// query_buckets[r * round_stride]: every key j < visible whose code equals the query's bucket in
// some round, and the query's own position. `met` is scratch.
void keys_sharing_a_bucket(const KeyCodes& codes, std::int64_t b, std::int64_t h,
                           const std::int32_t* query_buckets, std::int64_t round_stride,
                           std::int64_t position, std::int64_t visible,
                           std::vector<std::uint8_t>& met, std::vector<std::int32_t>& out);

}  // namespace attn::lsh
