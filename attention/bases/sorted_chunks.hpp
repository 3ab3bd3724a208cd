#pragma once

// Token-level selections made by sorting, as in Reformer's LSH attention: in each round a
// problem's queries and keys are each put in an order (by hash bucket), cut into chunks, and each
// query chunk attends the key chunks at and just before its own place in the order. The
// selection holds the orders; its attention gathers one query chunk and its key window into
// contiguous rows and runs the engine's kernel (attend_rows) on them as one dense tile. The
// per-query gathered path (gathered_attention.hpp) would copy each query's keys apart, where here
// a chunk of queries shares one window of keys (64 queries, 128 keys with LSH's defaults).
#include <tbb/enumerable_thread_specific.h>

#include <cstdint>
#include <span>
#include <vector>

#include "attention/bases/selection.hpp"
#include "attention/engine/block_engine.hpp"

namespace attn {

// What follows from the shape and the chunk rule.
struct SortedChunkLayout {
  SortedChunkLayout(const AttentionShape& shape, std::int64_t round_count, std::int64_t chunk_size,
                    std::int64_t lookback_chunks);

  std::int64_t rounds = 0, chunk = 0, lookback = 0;
  std::int64_t n = 0, head_dim = 0;
  Dtype dtype = Dtype::kFp32;   // K and V are gathered in it
  std::int64_t chunks = 0;      // ceil(n / chunk)
  std::int64_t max_rows = 0;    // queries per chunk: min(n, chunk)
  std::int64_t slots = 0;       // key chunks a window holds: min(1 + lookback, chunks)
  std::int64_t max_window = 0;  // key rows of the window buffer: slots · max_rows
};

// One problem's orders. order_* are round-major, [rounds][n]: the tokens in that round's order.
// chunk_* are token-major, [n][rounds]: the chunk a token's place in the order falls in (place /
// chunk), all rounds of a token in one cache line (the gathers read them together). When the
// keys are the queries, the keys use the query arrays and order_k, chunk_k stay empty.
struct SortedOrders {
  std::vector<std::int32_t> order_q, order_k, chunk_q, chunk_k;
  bool keys_are_queries = false;

  const std::int32_t* key_order(std::int64_t n, std::int64_t round) const {
    return (keys_are_queries ? order_q : order_k).data() + round * n;
  }
  const std::int32_t* key_chunks() const { return (keys_are_queries ? chunk_q : chunk_k).data(); }
};

// In each of `rounds` rounds, query chunk c (places [c·chunk, (c+1)·chunk) of the round's query
// order) attends every key of key chunks c-lookback .. c of the round's key order; causal keeps
// the keys at positions <= the query's; a query may attend its own position. A query's keys are
// the union over rounds, and the attention is exact softmax over that union: round r masks the
// keys a query met in an earlier round (met in round r' means 0 <= chunk_q(r') - chunk_k(r') <=
// lookback, and causally allowed), so each key of the union is attended in exactly one round, and
// the rounds are merged by their log-sum-exp. Square shapes only (M = N): query chunk c pairs
// with key chunk c.
class SortedChunkSelection final : public Selection {
 public:
  // Allocates every problem's orders (without key arrays when the keys are the queries); the
  // variant fills them through orders(b, h), h the query head, before the selection is read or
  // attended. Throws std::invalid_argument unless M = N.
  SortedChunkSelection(const AttentionShape& shape, bool causal, std::int64_t rounds,
                       std::int64_t chunk, std::int64_t lookback, bool keys_are_queries);

  const SortedChunkLayout& layout() const { return layout_; }
  bool causal() const { return causal_; }
  SortedOrders& orders(std::int64_t b, std::int64_t h) {
    return orders_[static_cast<std::size_t>(b * heads_ + h)];
  }
  const SortedOrders& orders(std::int64_t b, std::int64_t h) const {
    return orders_[static_cast<std::size_t>(b * heads_ + h)];
  }

  void keys(std::int64_t b, std::int64_t h, std::int64_t query,
            std::vector<std::int64_t>& out) const override;
  std::int64_t pairs() const override;
  void attend(const AttentionInputs& inputs, MutableTensorView out) const override;

  // Bytes of the orders of one problem (an upper bound: with the key arrays).
  static std::int64_t orders_bytes(std::int64_t seq_len, std::int64_t rounds);

 private:
  SortedChunkLayout layout_;
  std::int64_t heads_;
  bool causal_;
  std::vector<SortedOrders> orders_;  // [batch][heads]
};

// ---- The attention's stages, exposed so that the microbenchmarks time the code it runs -------

// The most cache lines of one chunk's rows and chunk ids that a ChunkScratch lists to prefetch.
std::int64_t max_next_lines(const SortedChunkLayout& layout);

// Per-thread buffers: the gathered rows of one query chunk and its key window.
struct ChunkScratch {
  explicit ChunkScratch(const SortedChunkLayout& layout);
  static std::int64_t bytes(const SortedChunkLayout& layout);

  EngineWorkspace workspace;
  AlignedBuffer<float> q, k, v, out, log_sum_exp;
  AlignedBuffer<bf16> k16, v16;  // the gathered keys and values of a bf16 forward (k, v unused)
  std::vector<std::int32_t> q_pos, k_pos;      // original positions of the gathered rows
  std::vector<std::int32_t> q_chunk, k_chunk;  // [rounds][rows]: chunks in every round
  // The key window as a ring: key chunk kc sits in slot kc % slots, so consecutive query chunks
  // of a task gather each key chunk once.
  std::vector<std::int64_t> slot_chunk;
  std::vector<KeyRange> slot_ranges, ranges;  // the window's slots; the same, merged
  // The cache lines the next chunk's gather and merge will read, prefetched by the engine's
  // kernels while this chunk is attended.
  std::vector<const void*> next_lines;
};
using ChunkScratchPool = tbb::enumerable_thread_specific<ChunkScratch>;

// Which parts of the attention attend_sorted_chunks runs (the microbenchmarks time them apart).
enum ChunkStages : unsigned {
  kGatherChunks = 1,  // gather the chunk's rows in, merge the chunk's output out
  kAttendChunks = 2,  // the chunk attention on the engine
  kAllChunkStages = kGatherChunks | kAttendChunks,
};

// The attention of problem (b, h): per round (in order), per chunk (in parallel), attention of
// the chunk's queries over its key window minus the keys met in earlier rounds, merged into
// `out`; `running` (2n values) holds each query's largest log-sum-exp so far and its sum, side by
// side ([n][2]: one cache line per gathered query).
void attend_sorted_chunks(const AttentionInputs& inputs, const SortedChunkSelection& selection,
                          std::int64_t b, std::int64_t h, MutableTensorView out,
                          std::span<float> running, ChunkScratchPool& pool,
                          unsigned stages = kAllChunkStages);

// Bytes of workspace SortedChunkSelection::attend allocates at peak with `threads` workers.
std::int64_t sorted_chunk_attention_bytes(const SortedChunkLayout& layout, int threads);

}  // namespace attn
