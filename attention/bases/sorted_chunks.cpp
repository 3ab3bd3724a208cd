#include "attention/bases/sorted_chunks.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

namespace attn {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Rows gathered this far ahead are prefetched: the gathers are latency-bound random row reads.
constexpr std::int64_t kPrefetchAhead = 8;

// Most query chunks of one task of the chunk loop (see attend_sorted_chunks's grain).
constexpr std::int64_t kChunksPerTask = 32;

std::size_t count(std::int64_t n) { return static_cast<std::size_t>(n); }

// Calls visit(address) for every 64-byte step of [data, data + bytes): the cache lines that the
// prefetches and prefetch lists below cover.
template <class Visit>
void for_each_cache_line(const void* data, std::int64_t bytes, const Visit& visit) {
  const char* p = static_cast<const char*>(data);
  for (std::int64_t offset = 0; offset < bytes; offset += 64) visit(p + offset);
}

void prefetch_row(const void* row, std::size_t bytes, bool write = false) {
  for_each_cache_line(row, static_cast<std::int64_t>(bytes), [&](const char* line) {
    write ? __builtin_prefetch(line, 1, 3) : __builtin_prefetch(line, 0, 3);
  });
}

// Cache lines attend_sorted_chunks lists to prefetch for one row of head_dim floats.
std::int64_t lines_per_row(std::int64_t head_dim) { return (4 * head_dim + 63) / 64; }

}  // namespace

SortedChunkLayout::SortedChunkLayout(const AttentionShape& shape, std::int64_t round_count,
                                     std::int64_t chunk_size, std::int64_t lookback_chunks)
    : rounds(round_count),
      chunk(chunk_size),
      lookback(lookback_chunks),
      n(shape.seq_len),
      head_dim(shape.head_dim),
      dtype(shape.dtype),
      chunks((shape.seq_len + chunk_size - 1) / chunk_size),
      max_rows(std::min(shape.seq_len, chunk_size)),
      slots(std::min(1 + lookback_chunks, chunks)),
      max_window(slots * max_rows) {}

SortedChunkSelection::SortedChunkSelection(const AttentionShape& shape, bool causal,
                                           std::int64_t rounds, std::int64_t chunk,
                                           std::int64_t lookback, bool keys_are_queries)
    : layout_(shape, rounds, chunk, lookback),
      heads_(shape.heads),
      causal_(causal),
      orders_(count(shape.problems())) {
  if (shape.query_len != shape.seq_len)
    throw std::invalid_argument("sorted chunks: query_len=" + std::to_string(shape.query_len) +
                                " differs from seq_len=" + std::to_string(shape.seq_len) +
                                ": query chunk c pairs with key chunk c");
  const std::size_t size = count(rounds * shape.seq_len);
  for (SortedOrders& o : orders_) {
    o.keys_are_queries = keys_are_queries;
    o.order_q.resize(size);
    o.chunk_q.resize(size);
    if (!keys_are_queries) {
      o.order_k.resize(size);
      o.chunk_k.resize(size);
    }
  }
}

std::int64_t SortedChunkSelection::orders_bytes(std::int64_t seq_len, std::int64_t rounds) {
  return 4 * 4 * checked_product(rounds, seq_len, "index arrays") + sizeof(SortedOrders);
}

void SortedChunkSelection::keys(std::int64_t b, std::int64_t h, std::int64_t query,
                                std::vector<std::int64_t>& out) const {
  const SortedOrders& o = orders(b, h);
  const std::int64_t n = layout_.n, chunk = layout_.chunk, rounds = layout_.rounds;
  out.clear();
  for (std::int64_t round = 0; round < rounds; ++round) {
    const std::int64_t c = o.chunk_q[count(query * rounds + round)];
    const std::int64_t begin = std::max<std::int64_t>(0, c - layout_.lookback) * chunk;
    const std::int64_t end = std::min(n, (c + 1) * chunk);
    const std::int32_t* order = o.key_order(n, round);
    for (std::int64_t s = begin; s < end; ++s)
      if (!causal_ || order[s] <= query) out.push_back(order[s]);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

std::int64_t SortedChunkSelection::pairs() const {
  const std::int64_t n = layout_.n, chunk = layout_.chunk, lookback = layout_.lookback;
  const std::int64_t rounds = layout_.rounds, chunks = layout_.chunks;
  // The pairs the attention computes: per round, the window keys not masked.
  return tbb::parallel_reduce(
      tbb::blocked_range<std::int64_t>(0,
                                       static_cast<std::int64_t>(orders_.size()) * rounds * chunks),
      std::int64_t{0},
      [&](const auto& range, std::int64_t sum) {
        for (std::int64_t task = range.begin(); task < range.end(); ++task) {
          const SortedOrders& o = orders_[count(task / (rounds * chunks))];
          const std::int64_t round = task / chunks % rounds, c = task % chunks;
          const std::int64_t first = c * chunk, last = std::min(n, first + chunk);
          const std::int64_t begin = std::max<std::int64_t>(0, c - lookback) * chunk;
          const std::int32_t* order_k = o.key_order(n, round);
          for (std::int64_t r = first; r < last; ++r) {
            const std::int32_t query = o.order_q[count(round * n + r)];
            for (std::int64_t j = begin; j < last; ++j) {
              const std::int32_t key = order_k[j];
              bool counted = !causal_ || key <= query;
              const std::int32_t* q_chunks = o.chunk_q.data() + query * rounds;
              const std::int32_t* k_chunks = o.key_chunks() + key * rounds;
              for (std::int64_t earlier = 0; counted && earlier < round; ++earlier)
                counted = static_cast<std::uint32_t>(q_chunks[earlier] - k_chunks[earlier]) >
                          static_cast<std::uint32_t>(lookback);
              sum += counted ? 1 : 0;
            }
          }
        }
        return sum;
      },
      std::plus<>());
}

void SortedChunkSelection::attend(const AttentionInputs& inputs, MutableTensorView out) const {
  check_inputs(inputs, out);
  const AttentionShape s = inputs.shape();
  std::vector<float> running(count(2 * s.seq_len));
  ChunkScratchPool pool(layout_);
  // Problems one after another, each parallel inside: `running` is allocated once.
  for (std::int64_t b = 0; b < s.batch; ++b)
    for (std::int64_t h = 0; h < s.heads; ++h)
      attend_sorted_chunks(inputs, *this, b, h, out, running, pool);
}

// The next chunk's queries (row, output row, running state, chunk ids) and its key chunk (K and
// V rows, chunk ids).
std::int64_t max_next_lines(const SortedChunkLayout& layout) {
  return layout.max_rows * (4 * lines_per_row(layout.head_dim) + 3);
}

ChunkScratch::ChunkScratch(const SortedChunkLayout& layout)
    : workspace(layout.head_dim, layout.dtype),
      q(count(layout.max_rows * layout.head_dim)),
      k(layout.dtype == Dtype::kBf16 ? 0 : count(layout.max_window * layout.head_dim)),
      v(k.size()),
      out(q.size()),
      log_sum_exp(count(layout.max_rows)),
      q_pos(count(layout.max_rows)),
      k_pos(count(layout.max_window)),
      q_chunk(count(layout.rounds * layout.max_rows)),
      k_chunk(count(layout.rounds * layout.max_window)),
      slot_chunk(count(layout.slots)),
      next_lines(count(max_next_lines(layout))) {
  if (layout.dtype == Dtype::kBf16) {
    k16 = AlignedBuffer<bf16>(count(layout.max_window * layout.head_dim));
    v16 = AlignedBuffer<bf16>(k16.size());
  }
  ranges.reserve(count(layout.slots));
  slot_ranges.reserve(count(layout.slots));
}

std::int64_t ChunkScratch::bytes(const SortedChunkLayout& layout) {
  const std::int64_t rows = layout.max_rows, window = layout.max_window;
  // bf16 gathers K and V at half the bytes: window rows of head_dim floats in all.
  const std::int64_t kv_floats = (layout.dtype == Dtype::kBf16 ? 1 : 2) * window * layout.head_dim;
  const std::int64_t floats = 2 * rows * layout.head_dim + kv_floats + rows;
  // Positions and chunk ids of the rows; per slot its chunk (8 bytes) and two KeyRanges (24).
  const std::int64_t ints = (1 + layout.rounds) * (rows + window) + 14 * layout.slots;
  return EngineWorkspace::bytes(layout.head_dim, layout.dtype) + 4 * (floats + ints) +
         8 * max_next_lines(layout);
}

std::int64_t sorted_chunk_attention_bytes(const SortedChunkLayout& layout, int threads) {
  // The running state, and per worker its chunk buffers.
  return 8 * layout.n + threads * ChunkScratch::bytes(layout);
}

void attend_sorted_chunks(const AttentionInputs& in, const SortedChunkSelection& selection,
                          std::int64_t b, std::int64_t h, MutableTensorView out,
                          std::span<float> running, ChunkScratchPool& pool, unsigned stages) {
  const SortedChunkLayout& layout = selection.layout();
  const SortedOrders& orders = selection.orders(b, h);
  const bool causal = selection.causal();
  const std::int64_t n = layout.n, d = layout.head_dim, chunk = layout.chunk;
  const std::int64_t lookback = layout.lookback;
  const std::int64_t max_rows = layout.max_rows, max_window = layout.max_window;
  const std::int64_t slots = layout.slots;
  const float* q_head = in.q.head(b, h);
  // K and V rows are gathered in the forward's dtype (bf16: from k16, v16, half the bytes).
  const bool is_bf16 = layout.dtype == Dtype::kBf16;
  const auto* k_head = is_bf16 ? reinterpret_cast<const char*>(in.k16_head(b, h))
                               : reinterpret_cast<const char*>(in.k_head(b, h));
  const auto* v_head = is_bf16 ? reinterpret_cast<const char*>(in.v16_head(b, h))
                               : reinterpret_cast<const char*>(in.v_head(b, h));
  const std::size_t row_bytes = count(d) * sizeof(float);
  const std::size_t kv_row_bytes = count(d) * (is_bf16 ? sizeof(bf16) : sizeof(float));
  const std::int64_t rounds = layout.rounds;
  const std::int32_t* key_chunks = orders.key_chunks();

  // Each task's first chunk is gathered cold (the attention of a chunk fetches the next one's
  // rows), so tasks get many chunks; N / 16 still leaves 8 tasks per thread at small N.
  const std::int64_t grain = std::clamp<std::int64_t>(layout.chunks / 16, 1, kChunksPerTask);
  for (std::int64_t round = 0; round < rounds; ++round) {
    const std::int32_t* order_q = orders.order_q.data() + round * n;
    const std::int32_t* order_k = orders.key_order(n, round);
    const bool masked = causal || round > 0;
    // Calls visit(line) for every cache line the gather and the merge of query chunk c read:
    // its queries' rows, output rows, running state and chunk ids, and key chunks
    // [first_key_chunk, c] (K and V rows, chunk ids).
    const auto for_each_line = [&](std::int64_t c, std::int64_t first_key_chunk,
                                   const auto& visit) {
      const auto rows_of = [&](std::int64_t kc) { return std::min(chunk, n - kc * chunk); };
      const auto row_lines = [&](const float* row) {
        for_each_cache_line(row, static_cast<std::int64_t>(row_bytes), visit);
      };
      const auto kv_row_lines = [&](const char* row) {
        for_each_cache_line(row, static_cast<std::int64_t>(kv_row_bytes), visit);
      };
      for (std::int64_t i = 0; i < rows_of(c); ++i) {
        const std::int32_t query = order_q[c * chunk + i];
        row_lines(q_head + query * d);
        row_lines(out.row(b, h, query));
        visit(running.data() + 2 * query);
        if (round > 0) visit(orders.chunk_q.data() + query * rounds);
      }
      for (std::int64_t kc = first_key_chunk; kc <= c; ++kc)
        for (std::int64_t j = 0; j < rows_of(kc); ++j) {
          const std::int32_t key = order_k[kc * chunk + j];
          kv_row_lines(k_head + key * kv_row_bytes);
          kv_row_lines(v_head + key * kv_row_bytes);
          if (round > 0) visit(key_chunks + key * rounds);
        }
    };
    const tbb::blocked_range<std::int64_t> all_chunks(0, layout.chunks, grain);
    tbb::parallel_for(all_chunks, [&](const auto& range) {
      ChunkScratch& s = pool.local();
      std::fill(s.slot_chunk.begin(), s.slot_chunk.end(), -1);  // filled by another round or head
      // The first chunk's rows, all requested at once: nothing runs before its gather to
      // spread them over, and the misses then overlap rather than queue.
      if (stages & kGatherChunks)
        for_each_line(range.begin(), std::max<std::int64_t>(0, range.begin() - lookback),
                      [](const void* line) { __builtin_prefetch(line, 0, 3); });
      for (std::int64_t c = range.begin(); c < range.end(); ++c) {
        const std::int64_t first = c * chunk, rows = std::min(chunk, n - first);

        if (stages & kGatherChunks) {
          for (std::int64_t i = 0; i < rows; ++i) {
            if (i + kPrefetchAhead < rows)
              prefetch_row(q_head + order_q[first + i + kPrefetchAhead] * d, row_bytes);
            const std::int32_t query = order_q[first + i];
            s.q_pos[count(i)] = query;
            std::memcpy(s.q.data() + i * d, q_head + query * d, row_bytes);
            const std::int32_t* chunks = orders.chunk_q.data() + query * rounds;
            for (std::int64_t earlier = 0; earlier < round; ++earlier)
              s.q_chunk[count(earlier * max_rows + i)] = chunks[earlier];
          }
          // Key chunks stay in their slot while later query chunks of this task still need them.
          for (std::int64_t kc = std::max<std::int64_t>(0, c - lookback); kc <= c; ++kc) {
            const std::int64_t slot = kc % slots;
            if (s.slot_chunk[count(slot)] == kc) continue;
            s.slot_chunk[count(slot)] = kc;
            const std::int64_t from = kc * chunk, len = std::min(chunk, n - from);
            const std::int64_t base = slot * max_rows;
            for (std::int64_t j = 0; j < len; ++j) {
              if (j + kPrefetchAhead < len) {
                const std::size_t ahead = count(order_k[from + j + kPrefetchAhead]) * kv_row_bytes;
                prefetch_row(k_head + ahead, kv_row_bytes);
                prefetch_row(v_head + ahead, kv_row_bytes);
              }
              const std::int32_t key = order_k[from + j];
              s.k_pos[count(base + j)] = key;
              const std::size_t from_row = count(key) * kv_row_bytes;
              if (is_bf16) {
                std::memcpy(s.k16.data() + (base + j) * d, k_head + from_row, kv_row_bytes);
                std::memcpy(s.v16.data() + (base + j) * d, v_head + from_row, kv_row_bytes);
              } else {
                std::memcpy(s.k.data() + (base + j) * d, k_head + from_row, kv_row_bytes);
                std::memcpy(s.v.data() + (base + j) * d, v_head + from_row, kv_row_bytes);
              }
              const std::int32_t* chunks = key_chunks + key * rounds;
              for (std::int64_t earlier = 0; earlier < round; ++earlier)
                s.k_chunk[count(earlier * max_window + base + j)] = chunks[earlier];
            }
          }
        }

        if (stages & kAttendChunks) {
          // The window's slots as key ranges of the buffer, in buffer order (the order of keys
          // does not matter), touching slots merged: one 128-key tile runs the kernels faster
          // than two of 64.
          s.slot_ranges.clear();
          for (std::int64_t kc = std::max<std::int64_t>(0, c - lookback); kc <= c; ++kc) {
            const std::int64_t begin = (kc % slots) * max_rows;
            s.slot_ranges.push_back({begin, begin + std::min(chunk, n - kc * chunk), masked});
          }
          std::sort(s.slot_ranges.begin(), s.slot_ranges.end(),
                    [](const KeyRange& x, const KeyRange& y) { return x.begin < y.begin; });
          s.ranges.clear();
          for (const KeyRange& r : s.slot_ranges)
            append_key_range(s.ranges, r.begin, r.end, masked);
          // The next chunk of this task: its rows are fetched while this one is attended.
          std::int64_t lines = 0;
          if (c + 1 < range.end() && (stages & kGatherChunks))
            for_each_line(c + 1, c + 1,
                          [&](const void* line) { s.next_lines[count(lines++)] = line; });
          PrefetchStream next_stream{s.next_lines.data(), lines, 0};
          const RowBlock block{.q = s.q.data(),
                               .q_stride = d,
                               .rows = rows,
                               .first_query = 0,
                               .k = s.k.data(),
                               .v = s.v.data(),
                               .kv_stride = d,
                               .k16 = is_bf16 ? s.k16.data() : nullptr,
                               .v16 = is_bf16 ? s.v16.data() : nullptr,
                               .ranges = s.ranges,
                               .out = s.out.data(),
                               .out_stride = d,
                               .log_sum_exp = s.log_sum_exp.data(),
                               .prefetch = &next_stream};
          // Drops keys after the query (causal) and keys the query met in an earlier round.
          // Key-major: each inner loop runs over contiguous queries with a select, so it
          // vectorises (every tile of a later round is masked).
          const auto mask = [&](std::int64_t q_begin, std::int64_t q_end, std::int64_t k_begin,
                                std::int64_t k_end, float* scores, std::int64_t ld) {
            const std::int64_t q_rows = q_end - q_begin;
            const std::int32_t* q_pos = s.q_pos.data() + q_begin;
            for (std::int64_t j = k_begin; j < k_end; ++j) {
              float* column = scores + (j - k_begin) * ld;
              if (causal) {
                const std::int32_t key = s.k_pos[count(j)];
                for (std::int64_t i = 0; i < q_rows; ++i)
                  column[i] = key > q_pos[i] ? kNegInf : column[i];
              }
              for (std::int64_t earlier = 0; earlier < round; ++earlier) {
                const std::int32_t key_chunk = s.k_chunk[count(earlier * max_window + j)];
                const std::int32_t* q_chunk = s.q_chunk.data() + earlier * max_rows + q_begin;
                for (std::int64_t i = 0; i < q_rows; ++i)
                  column[i] = static_cast<std::uint32_t>(q_chunk[i] - key_chunk) <=
                                      static_cast<std::uint32_t>(lookback)
                                  ? kNegInf
                                  : column[i];
              }
            }
          };
          if (masked)
            attend_rows(block, in.scale, TileMaskRef(mask, MaskLayout::kKeyMajor), s.workspace);
          else
            attend_rows(block, in.scale, {}, s.workspace);
        }

        if (stages & kGatherChunks) {
          // Merge this round into the running result. Both are normalised over disjoint key
          // sets, so the union's softmax weighs them by their Σ exp; the running state keeps
          // the largest log-sum-exp so far and the sum relative to it (one exp per merge).
          for (std::int64_t i = 0; i < rows; ++i) {
            if (i + kPrefetchAhead < rows) {
              const std::int32_t ahead = s.q_pos[count(i + kPrefetchAhead)];
              prefetch_row(out.row(b, h, ahead), row_bytes, true);
              __builtin_prefetch(running.data() + 2 * ahead, 1, 3);
            }
            const std::int32_t query = s.q_pos[count(i)];
            const float* o = s.out.data() + i * d;
            float* dst = out.row(b, h, query);
            const float l = s.log_sum_exp[count(i)];
            float& max = running[count(2 * query)];
            float& sum = running[count(2 * query + 1)];
            if (round == 0 || (sum == 0 && l != kNegInf)) {
              std::memcpy(dst, o, row_bytes);
              max = l;
              sum = l == kNegInf ? 0.0f : 1.0f;
              continue;
            }
            if (l == kNegInf) continue;
            float old_weight = sum, new_weight = 1.0f;
            if (l > max) {
              old_weight = sum * std::exp(max - l);
              max = l;
            } else {
              new_weight = std::exp(l - max);
            }
            sum = old_weight + new_weight;
            const float inv = 1.0f / sum;
            for (std::int64_t e = 0; e < d; ++e)
              dst[e] = (old_weight * dst[e] + new_weight * o[e]) * inv;
          }
        }
      }
    });
  }
}

}  // namespace attn
