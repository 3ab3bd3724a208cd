#pragma once

// The stages of LSH attention (variants/lsh.cpp), exposed so that the microbenchmarks time
// exactly the code the variant runs: hashing, sorting, gathering and chunk attention.
#include <tbb/enumerable_thread_specific.h>

#include <cstdint>
#include <span>
#include <vector>

#include "attention/core/tensor.hpp"
#include "attention/core/variant.hpp"
#include "attention/engine/block_engine.hpp"

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

// Everything about one forward that follows from the parameters and the shape.
struct Layout {
  Layout(const Params& params, const AttentionShape& shape);

  Params params;
  std::int64_t n = 0, head_dim = 0;
  Dtype dtype = Dtype::kFp32;          // K and V are gathered in it; hashing stays fp32
  std::int64_t buckets = 0;            // resolved (never 0)
  std::vector<std::int64_t> factors;   // bucket_factors(buckets)
  std::int64_t columns_per_round = 0;  // Σ factor / 2: projections per vector and round
  std::int64_t chunks = 0;             // ceil(n / chunk)
  std::int64_t max_rows = 0;           // queries per chunk: min(n, chunk)
  std::int64_t slots = 0;              // key chunks a window holds: min(1 + lookback, chunks)
  std::int64_t max_window = 0;         // key rows of the window buffer: slots · max_rows
};

// The hashing and sorting of one (batch, head) problem. bucket_* and perm_* are round-major,
// [hashes][n]: hash_head writes each vector's bucket per round, and sort_head lists in perm_*
// the original indices in (bucket, position) order. chunk_* is position-major, [n][hashes]:
// the chunk a vector's sorted position falls in, all rounds of a vector in one cache line
// (the gathers read them together).
struct HeadHashing {
  explicit HeadHashing(const Layout& layout);

  std::vector<std::int32_t> bucket_q, bucket_k;
  std::vector<std::int32_t> perm_q, perm_k;
  std::vector<std::int32_t> chunk_q, chunk_k;
  bool shared = false;  // K is Q (same storage): keys use the query arrays

  std::span<const std::int32_t> perm_keys(const Layout& layout, std::int64_t round) const;
  // The key arrays' chunk_* (chunk_q when shared), [n][hashes].
  const std::int32_t* key_chunks() const { return (shared ? chunk_q : chunk_k).data(); }
};

// The Gaussian rotations of one head, stored transposed: (hashes · columns_per_round) rows of D
// values, row c being column c of R; round r's rotation is rows [r · columns, (r + 1) · columns).
AlignedBuffer<float> rotations(const Layout& layout, std::int64_t head);

// Stage 1: buckets of every query and key of problem (b, h), all rounds, one GEMM per row block.
void hash_head(const Layout& layout, const AttentionInputs& inputs, std::int64_t b, std::int64_t h,
               HeadHashing& out);

// Stage 2: the counting sort of every round by (bucket, position), and the chunk ids.
void sort_head(const Layout& layout, HeadHashing& hashing);

// The most cache lines of one chunk's rows and chunk ids that a ChunkScratch lists to prefetch.
std::int64_t max_next_lines(const Layout& layout);

// Per-thread buffers of stages 3 and 4: the gathered rows of one chunk and its key window.
struct ChunkScratch {
  explicit ChunkScratch(const Layout& layout);
  static std::int64_t bytes(const Layout& layout);

  EngineWorkspace workspace;
  AlignedBuffer<float> q, k, v, out, log_sum_exp;
  AlignedBuffer<bf16> k16, v16;  // the gathered keys and values of a bf16 forward (k, v unused)
  std::vector<std::int32_t> q_pos, k_pos;      // original positions of the gathered rows
  std::vector<std::int32_t> q_chunk, k_chunk;  // [hashes][rows]: chunks in every round
  // The key window as a ring: key chunk kc sits in slot kc % slots, so consecutive query chunks
  // of a task gather each key chunk once.
  std::vector<std::int64_t> slot_chunk;
  std::vector<KeyRange> slot_ranges, ranges;  // the window's slots; the same, merged
  // The cache lines the next chunk's gather and merge will read, prefetched by the engine's
  // kernels while this chunk is attended.
  std::vector<const void*> next_lines;
};
using ScratchPool = tbb::enumerable_thread_specific<ChunkScratch>;

// Which parts of stage 3/4 attend_head runs (the microbenchmarks time them apart).
enum Stages : unsigned {
  kGather = 1,  // gather the chunk's rows in, merge the chunk's output out
  kAttend = 2,  // the chunk attention on the engine
  kAllStages = kGather | kAttend,
};

// Stages 3 and 4 for problem (b, h): per round (in order), per chunk (in parallel), attention
// of the chunk's queries over its key window minus keys met in earlier rounds, merged into
// `out`; `running` (2n values) holds each query's largest log-sum-exp so far and its sum, side
// by side ([n][2]: one cache line per gathered query).
void attend_head(const Layout& layout, const HeadHashing& hashing, const AttentionInputs& inputs,
                 std::int64_t b, std::int64_t h, MutableTensorView out, std::span<float> running,
                 ScratchPool& pool, unsigned stages = kAllStages);

}  // namespace attn::lsh
