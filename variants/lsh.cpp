// LSH attention (Kitaev, Kaiser and Levskaya, "Reformer", 2020) on the block engine.
//
// Hashing. For each of `hashes` rounds r, every query and every key is mapped to a bucket by
// angular LSH: with a Gaussian matrix R_r shared by the queries and keys of a head, the bucket of
// x is argmax([x·R_r ; -x·R_r]), which is invariant to the length of x, so x needs no
// normalisation. R_r has buckets/2 columns when buckets <= 16 (Reformer's hash). More buckets
// must be a power of two and are hashed as the product of k = ceil(log2(buckets) / 4) such
// rotations of balanced power-of-two sizes <= 16 (the factorised n_buckets of Reformer's
// reference code), the bucket being their mixed-radix combination with the first factor most
// significant: hashing then costs O(N·D·log buckets) rather than O(N·D·buckets), which with the
// default buckets ≈ N/chunk would be quadratic in N. The default is the power of two nearest to
// N/chunk, at least 2. Queries and keys are hashed separately unless K and Q are the same storage.
//
// Entries of R are N(0, 1) from splitmix64 and Box–Muller (u1 = (top 53 bits + 1)·2^-53,
// u2 = top 53 bits·2^-53, both outputs used), column by column, the stream of round r of head h
// seeded with splitmix64(splitmix64(splitmix64(seed) ^ h) ^ r): every batch entry of a head uses
// the same rotations, and a round's rotation does not depend on the number of rounds.
//
// Attention. In each round the queries and the keys are each sorted by (bucket, position) with
// a counting sort and cut into chunks of `chunk`. Query chunk c attends the key chunks
// c-lookback .. c of the sorted keys, all of them: no same-bucket mask (a chunk straddling a
// bucket boundary also sees the neighbouring bucket, and with separate Q and K hashing the
// query and key chunks at the same sorted position need not share a bucket). A query may attend
// its own position. Causal: a query keeps only keys at original positions <= its own.
//
// Exactness over rounds. A query's key set, keys(), is the union over rounds of the keys it met.
// Round r masks every key the same query already met in an earlier round (met in round r' means
// 0 <= chunk_q(r') - chunk_k(r') <= lookback, and causally allowed), so each key of the union is
// attended in exactly one round. Each round yields an output normalised over its own keys and
// its log-sum-exp; merging the rounds with weights exp(lse_r - logsumexp_r lse_r) gives exact
// softmax attention over the union, which is what the registry test checks against fp64.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <numbers>
#include <stdexcept>
#include <string>

#include "attention/core/random.hpp"
#include "attention/core/registry.hpp"
#include "attention/numeric/microkernel.hpp"
#include "variants/lsh_stages.hpp"

namespace attn::lsh {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Hashing runs the engine's score kernel on tiles of kHashRows vectors × kHashColumns rotation
// columns (its tile shape): a little faster than OpenBLAS on these thin products (the hashing
// stage at N=64K went from 97 to 92 ms) and one dependency less for the variant.
constexpr std::int64_t kHashRows = 64;
constexpr std::int64_t kHashColumns = 128;

std::size_t count(std::int64_t n) { return static_cast<std::size_t>(n); }

// Cache lines of one block of kHashRows vectors, which the hashing prefetches a block ahead.
std::int64_t hash_prefetch_lines(std::int64_t head_dim) {
  return kHashRows * head_dim * 4 / 64 + 1;
}

// Rows gathered this far ahead are prefetched: the gathers are latency-bound random row reads.
constexpr std::int64_t kPrefetchAhead = 8;

// Most query chunks of one task of the chunk loop (see attend_head's grain).
constexpr std::int64_t kChunksPerTask = 32;

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

// Appends the address of every cache line of [data, data + bytes) to `lines` at `count`.
void list_lines(const void* data, std::int64_t bytes, const void** lines, std::int64_t& count) {
  for_each_cache_line(data, bytes, [&](const char* line) { lines[count++] = line; });
}

// Cache lines attend_head lists to prefetch for one row of head_dim floats.
std::int64_t lines_per_row(std::int64_t head_dim) { return (4 * head_dim + 63) / 64; }

}  // namespace

// The next chunk's queries (row, output row, running state, chunk ids) and its key chunk (K and
// V rows, chunk ids).
std::int64_t max_next_lines(const Layout& layout) {
  return layout.max_rows * (4 * lines_per_row(layout.head_dim) + 3);
}

std::int64_t default_buckets(std::int64_t seq_len, std::int64_t chunk) {
  const double ratio = static_cast<double>(seq_len) / static_cast<double>(chunk);
  std::int64_t buckets = 2;
  // Doubling while the next power is nearer to the ratio in log scale.
  while (static_cast<double>(buckets * 2) <= ratio * std::numbers::sqrt2) buckets *= 2;
  return buckets;
}

std::vector<std::int64_t> bucket_factors(std::int64_t buckets) {
  if (buckets <= kMaxFactor) return {buckets};
  const int bits = std::countr_zero(static_cast<std::uint64_t>(buckets));  // a power of two
  const int max_bits = std::countr_zero(static_cast<std::uint64_t>(kMaxFactor));
  const int parts = (bits + max_bits - 1) / max_bits;
  std::vector<std::int64_t> factors;
  for (int i = 0; i < parts; ++i)
    factors.push_back(std::int64_t{1} << (bits / parts + (i < bits % parts ? 1 : 0)));
  return factors;
}

Layout::Layout(const Params& p, const AttentionShape& shape)
    : params(p),
      n(shape.seq_len),
      head_dim(shape.head_dim),
      dtype(shape.dtype),
      buckets(p.buckets > 0 ? p.buckets : default_buckets(shape.seq_len, p.chunk)),
      factors(bucket_factors(buckets)),
      chunks((shape.seq_len + p.chunk - 1) / p.chunk),
      max_rows(std::min(shape.seq_len, p.chunk)),
      slots(std::min(1 + p.lookback, chunks)),
      max_window(slots * max_rows) {
  for (std::int64_t f : factors) columns_per_round += f / 2;
}

HeadHashing::HeadHashing(const Layout& layout)
    : bucket_q(count(layout.params.hashes * layout.n)),
      perm_q(bucket_q.size()),
      chunk_q(bucket_q.size()) {}

std::span<const std::int32_t> HeadHashing::perm_keys(const Layout& layout,
                                                     std::int64_t round) const {
  const auto& perm = shared ? perm_q : perm_k;
  return {perm.data() + round * layout.n, count(layout.n)};
}

AlignedBuffer<float> rotations(const Layout& layout, std::int64_t head) {
  const std::int64_t d = layout.head_dim, columns = layout.columns_per_round;
  AlignedBuffer<float> r(count(d * layout.params.hashes * columns));
  for (std::int64_t round = 0; round < layout.params.hashes; ++round) {
    std::uint64_t state =
        hash64(hash64(hash64(layout.params.seed) ^ static_cast<std::uint64_t>(head)) ^
               static_cast<std::uint64_t>(round));
    float* column = r.data() + round * columns * d;
    for (std::int64_t i = 0; i < columns * d; i += 2) {
      const double u1 = static_cast<double>((splitmix64(state) >> 11) + 1) * 0x1p-53;
      const double u2 = static_cast<double>(splitmix64(state) >> 11) * 0x1p-53;
      const double radius = std::sqrt(-2.0 * std::log(u1));
      column[i] = static_cast<float>(radius * std::cos(2.0 * std::numbers::pi * u2));
      if (i + 1 < columns * d)
        column[i + 1] = static_cast<float>(radius * std::sin(2.0 * std::numbers::pi * u2));
    }
  }
  return r;
}

void hash_head(const Layout& layout, const AttentionInputs& in, std::int64_t b, std::int64_t h,
               HeadHashing& out) {
  const std::int64_t n = layout.n, d = layout.head_dim, hashes = layout.params.hashes;
  const std::int64_t columns = layout.columns_per_round, stride = hashes * columns;
  out.shared = in.q.data.data() == in.k.data.data();
  if (!out.shared) {
    out.bucket_k.resize(out.bucket_q.size());
    out.perm_k.resize(out.bucket_q.size());
    out.chunk_k.resize(out.bucket_q.size());
  }
  const AlignedBuffer<float> r = rotations(layout, h);
  const std::int64_t blocks = (n + kHashRows - 1) / kHashRows;
  const std::int64_t granularity = kernel::row_granularity();
  const auto hash_rows = [&](const float* x, std::int32_t* buckets) {
    tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, blocks), [&](const auto& range) {
      // The projections come out of the engine's score kernel transposed, [column][row], so
      // the argmax runs across rows in SIMD; R's columns play the keys.
      AlignedBuffer<float> x_t(count(d * kHashRows));
      AlignedBuffer<float> projections(count(stride * kHashRows));
      AlignedBuffer<std::int32_t> best(count(kHashRows)), bucket(count(kHashRows));
      std::vector<const void*> next_lines(count(hash_prefetch_lines(d)));
      for (std::int64_t blk = range.begin(); blk < range.end(); ++blk) {
        const std::int64_t first = blk * kHashRows, rows = std::min(kHashRows, n - first);
        const std::int64_t padded_rows = (rows + granularity - 1) / granularity * granularity;
        kernel::pack_queries(x + first * d, d, rows, padded_rows, d, 1.0f, x_t.data(), kHashRows);
        // The next block's rows stream in while this one is projected: the hashing reads all
        // of Q and K from memory once, and this hides that read behind the arithmetic.
        std::int64_t lines = 0;
        if (blk + 1 < range.end())
          list_lines(x + (first + kHashRows) * d,
                     std::min(kHashRows, n - first - kHashRows) * d * 4, next_lines.data(), lines);
        PrefetchStream next_stream{next_lines.data(), lines, 0};
        for (std::int64_t c0 = 0; c0 < stride; c0 += kHashColumns)
          kernel::score_tile(x_t.data(), kHashRows, padded_rows, r.data() + c0 * d, d,
                             std::min(kHashColumns, stride - c0), d,
                             projections.data() + c0 * kHashRows, kHashRows, &next_stream);
        const float* p = projections.data();
        for (std::int64_t round = 0; round < hashes; ++round) {
          std::fill_n(bucket.data(), rows, 0);
          for (std::int64_t factor : layout.factors) {
            const auto half = static_cast<std::int32_t>(factor / 2);
            kernel::signed_argmax(p, kHashRows, half, padded_rows, best.data());
            p += half * kHashRows;
            const auto radix = static_cast<std::int32_t>(factor);
            for (std::int64_t i = 0; i < rows; ++i)
              bucket[count(i)] = bucket[count(i)] * radix + best[count(i)];
          }
          std::copy_n(bucket.data(), rows, buckets + round * n + first);
        }
      }
    });
  };
  hash_rows(in.q.head(b, h), out.bucket_q.data());
  if (!out.shared) hash_rows(in.k_head(b, h), out.bucket_k.data());
}

void sort_head(const Layout& layout, HeadHashing& hashing) {
  const std::int64_t n = layout.n, hashes = layout.params.hashes, chunk = layout.params.chunk;
  // One task per array (queries, keys), its rounds in turn: chunk_* is position-major, so two
  // rounds sorted at once would write the same cache lines.
  tbb::parallel_for(0, hashing.shared ? 1 : 2, [&](int task) {
    const bool keys = task == 1;
    const std::int32_t* buckets = (keys ? hashing.bucket_k : hashing.bucket_q).data();
    std::int32_t* perms = (keys ? hashing.perm_k : hashing.perm_q).data();
    std::int32_t* chunk_of = (keys ? hashing.chunk_k : hashing.chunk_q).data();
    std::vector<std::int32_t> start(count(layout.buckets + 1));
    for (std::int64_t round = 0; round < hashes; ++round) {
      const std::int32_t* bucket = buckets + round * n;
      std::int32_t* perm = perms + round * n;
      // Counting sort, stable, so that each bucket keeps position order.
      std::fill(start.begin(), start.end(), 0);
      for (std::int64_t i = 0; i < n; ++i) ++start[count(bucket[i] + 1)];
      for (std::int64_t k = 0; k < layout.buckets; ++k) start[count(k + 1)] += start[count(k)];
      for (std::int64_t i = 0; i < n; ++i) {
        const std::int32_t position = start[count(bucket[i])]++;
        perm[position] = static_cast<std::int32_t>(i);
        chunk_of[count(i * hashes + round)] = static_cast<std::int32_t>(position / chunk);
      }
    }
  });
}

ChunkScratch::ChunkScratch(const Layout& layout)
    : workspace(layout.head_dim, layout.dtype),
      q(count(layout.max_rows * layout.head_dim)),
      k(layout.dtype == Dtype::kBf16 ? 0 : count(layout.max_window * layout.head_dim)),
      v(k.size()),
      out(q.size()),
      log_sum_exp(count(layout.max_rows)),
      q_pos(count(layout.max_rows)),
      k_pos(count(layout.max_window)),
      q_chunk(count(layout.params.hashes * layout.max_rows)),
      k_chunk(count(layout.params.hashes * layout.max_window)),
      slot_chunk(count(layout.slots)),
      next_lines(count(max_next_lines(layout))) {
  if (layout.dtype == Dtype::kBf16) {
    k16 = AlignedBuffer<bf16>(count(layout.max_window * layout.head_dim));
    v16 = AlignedBuffer<bf16>(k16.size());
  }
  ranges.reserve(count(layout.slots));
  slot_ranges.reserve(count(layout.slots));
}

std::int64_t ChunkScratch::bytes(const Layout& layout) {
  const std::int64_t rows = layout.max_rows, window = layout.max_window;
  // bf16 gathers K and V at half the bytes: window rows of head_dim floats in all.
  const std::int64_t kv_floats = (layout.dtype == Dtype::kBf16 ? 1 : 2) * window * layout.head_dim;
  const std::int64_t floats = 2 * rows * layout.head_dim + kv_floats + rows;
  // Positions and chunk ids of the rows; per slot its chunk (8 bytes) and two KeyRanges (24).
  const std::int64_t ints = (1 + layout.params.hashes) * (rows + window) + 14 * layout.slots;
  return EngineWorkspace::bytes(layout.head_dim, layout.dtype) + 4 * (floats + ints) +
         8 * max_next_lines(layout);
}

void attend_head(const Layout& layout, const HeadHashing& hashing, const AttentionInputs& in,
                 std::int64_t b, std::int64_t h, MutableTensorView out, std::span<float> running,
                 ScratchPool& pool, unsigned stages) {
  const std::int64_t n = layout.n, d = layout.head_dim, chunk = layout.params.chunk;
  const std::int64_t lookback = layout.params.lookback;
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
  const std::int64_t hashes = layout.params.hashes;
  const std::int32_t* key_chunks = hashing.key_chunks();

  // Each task's first chunk is gathered cold (the attention of a chunk fetches the next one's
  // rows), so tasks get many chunks; N / 16 still leaves 8 tasks per thread at small N.
  const std::int64_t grain = std::clamp<std::int64_t>(layout.chunks / 16, 1, kChunksPerTask);
  for (std::int64_t round = 0; round < layout.params.hashes; ++round) {
    const std::int32_t* perm_q = hashing.perm_q.data() + round * n;
    const std::int32_t* perm_k = hashing.perm_keys(layout, round).data();
    const bool masked = in.causal || round > 0;
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
        const std::int32_t query = perm_q[c * chunk + i];
        row_lines(q_head + query * d);
        row_lines(out.row(b, h, query));
        visit(running.data() + 2 * query);
        if (round > 0) visit(hashing.chunk_q.data() + query * hashes);
      }
      for (std::int64_t kc = first_key_chunk; kc <= c; ++kc)
        for (std::int64_t j = 0; j < rows_of(kc); ++j) {
          const std::int32_t key = perm_k[kc * chunk + j];
          kv_row_lines(k_head + key * kv_row_bytes);
          kv_row_lines(v_head + key * kv_row_bytes);
          if (round > 0) visit(key_chunks + key * hashes);
        }
    };
    const tbb::blocked_range<std::int64_t> all_chunks(0, layout.chunks, grain);
    tbb::parallel_for(all_chunks, [&](const auto& range) {
      ChunkScratch& s = pool.local();
      std::fill(s.slot_chunk.begin(), s.slot_chunk.end(), -1);  // filled by another round or head
      // The first chunk's rows, all requested at once: nothing runs before its gather to
      // spread them over, and the misses then overlap rather than queue.
      if (stages & kGather)
        for_each_line(range.begin(), std::max<std::int64_t>(0, range.begin() - lookback),
                      [](const void* line) { __builtin_prefetch(line, 0, 3); });
      for (std::int64_t c = range.begin(); c < range.end(); ++c) {
        const std::int64_t first = c * chunk, rows = std::min(chunk, n - first);

        if (stages & kGather) {
          for (std::int64_t i = 0; i < rows; ++i) {
            if (i + kPrefetchAhead < rows)
              prefetch_row(q_head + perm_q[first + i + kPrefetchAhead] * d, row_bytes);
            const std::int32_t query = perm_q[first + i];
            s.q_pos[count(i)] = query;
            std::memcpy(s.q.data() + i * d, q_head + query * d, row_bytes);
            const std::int32_t* chunks = hashing.chunk_q.data() + query * hashes;
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
                const std::size_t ahead = count(perm_k[from + j + kPrefetchAhead]) * kv_row_bytes;
                prefetch_row(k_head + ahead, kv_row_bytes);
                prefetch_row(v_head + ahead, kv_row_bytes);
              }
              const std::int32_t key = perm_k[from + j];
              s.k_pos[count(base + j)] = key;
              const std::size_t from_row = count(key) * kv_row_bytes;
              if (is_bf16) {
                std::memcpy(s.k16.data() + (base + j) * d, k_head + from_row, kv_row_bytes);
                std::memcpy(s.v16.data() + (base + j) * d, v_head + from_row, kv_row_bytes);
              } else {
                std::memcpy(s.k.data() + (base + j) * d, k_head + from_row, kv_row_bytes);
                std::memcpy(s.v.data() + (base + j) * d, v_head + from_row, kv_row_bytes);
              }
              const std::int32_t* chunks = key_chunks + key * hashes;
              for (std::int64_t earlier = 0; earlier < round; ++earlier)
                s.k_chunk[count(earlier * max_window + base + j)] = chunks[earlier];
            }
          }
        }

        if (stages & kAttend) {
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
          if (c + 1 < range.end() && (stages & kGather))
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
              if (in.causal) {
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

        if (stages & kGather) {
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

namespace {

constexpr double kMaxHashes = 64;
constexpr double kMaxChunk = 1 << 16;
constexpr double kMaxBuckets = 1 << 24;
constexpr double kMaxLookback = 1 << 16;
constexpr double kMaxSeed = 4294967295.0;
// keys() caches the hashing of this many recent heads: the harness asks for many rows of a
// head in a row, from several threads.
constexpr std::size_t kCachedHeads = 8;

std::string str(std::int64_t value) { return std::to_string(value); }

// Σ_{i=0}^{n-1} min(i + 1, cap): keys of n causal queries that each see at most `cap`.
std::int64_t causal_capped(std::int64_t n, std::int64_t cap) {
  const std::int64_t ramp = std::min(n, cap);
  return ramp * (ramp + 1) / 2 + (n - ramp) * cap;
}

// A cheap fingerprint of a head's Q and K contents: with the storage address it tells apart
// inputs that reuse freed memory, without reading all N·D values on every keys() call.
std::uint64_t fingerprint(const AttentionInputs& in, std::int64_t b, std::int64_t h) {
  const std::int64_t values = in.shape().seq_len * in.shape().head_dim;
  const std::int64_t step = std::max<std::int64_t>(1, values / 64);
  std::uint64_t state = 0;
  for (const float* head : {in.q.head(b, h), in.k_head(b, h)})
    for (std::int64_t i = 0; i < values; i += step) {
      std::uint32_t bits = 0;
      std::memcpy(&bits, head + i, sizeof bits);
      state = hash64(state ^ bits);
    }
  return state;
}

class Lsh final : public Variant {
 public:
  static VariantInfo info() {
    return {"lsh",
            "Reformer LSH attention: per hash round, sort queries and keys by angular-LSH bucket, "
            "chunk i attends key chunks i-lookback..i; exact softmax over the union of rounds",
            {{"hashes", ParamKind::kInteger, 4, 1, kMaxHashes, "hash rounds"},
             {"chunk", ParamKind::kInteger, 64, 1, kMaxChunk, "queries and keys per sorted chunk"},
             {"buckets", ParamKind::kInteger, 0, 0, kMaxBuckets,
              "buckets per round: even, a power of two above 16; 0 = the power of two nearest "
              "N/chunk"},
             {"lookback", ParamKind::kInteger, 1, 0, kMaxLookback,
              "earlier key chunks each query chunk attends besides its own"},
             {"seed", ParamKind::kInteger, 0, 0, kMaxSeed, "seed of the random rotations"}},
            {"lsh:hashes=1,chunk=16,buckets=2,lookback=0,seed=0",
             "lsh:hashes=2,chunk=16,buckets=8,lookback=1,seed=3",
             "lsh:hashes=4,chunk=16,buckets=0,lookback=1,seed=7",
             "lsh:hashes=2,chunk=16,buckets=16,lookback=2,seed=1"}};
  }

  explicit Lsh(const VariantConfig& config)
      : Variant(config),
        params_{config.integer("hashes"), config.integer("chunk"), config.integer("buckets"),
                config.integer("lookback"), static_cast<std::uint64_t>(config.integer("seed"))} {
    const std::int64_t buckets = params_.buckets;
    if (buckets % 2 != 0)
      throw std::invalid_argument("lsh: buckets=" + str(buckets) +
                                  " must be even (argmax over [xR; -xR] gives an even count) "
                                  "or 0 for the default");
    if (buckets > kMaxFactor && !std::has_single_bit(static_cast<std::uint64_t>(buckets)))
      throw std::invalid_argument(
          "lsh: buckets=" + str(buckets) + " must be a power of two when above " + str(kMaxFactor) +
          " (it is hashed as a product of rotations of at most " + str(kMaxFactor) +
          " buckets); use " +
          str(std::int64_t{1} << std::bit_width(static_cast<std::uint64_t>(buckets) / 2)) + " or " +
          str(static_cast<std::int64_t>(std::bit_ceil(static_cast<std::uint64_t>(buckets)))));
  }

  std::string unsupported(const AttentionShape& shape, bool) const override {
    if (shape.query_len == shape.seq_len) return {};
    return "lsh: query_len=" + str(shape.query_len) +
           " differs from seq_len=" + str(shape.seq_len) +
           ": Reformer's chunk rule pairs the i-th chunk of sorted queries "
           "with the i-th chunk of sorted keys, which needs as many queries as keys; use "
           "query_len=seq_len (any kv_heads)";
  }

  void check(const AttentionShape& shape, bool causal) const override {
    Variant::check(shape, causal);
    if (shape.seq_len > std::numeric_limits<std::int32_t>::max())
      throw std::invalid_argument("lsh: N=" + str(shape.seq_len) + " is above the 2^31-1 tokens " +
                                  "its 32-bit index arrays hold");
    if (params_.buckets > std::max(kMaxFactor, shape.seq_len))
      throw std::invalid_argument("lsh: buckets=" + str(params_.buckets) +
                                  " exceeds N=" + str(shape.seq_len) +
                                  ": most buckets would be empty; use at most max(" +
                                  str(kMaxFactor) + ", N) or buckets=0 for the default (" +
                                  str(default_buckets(shape.seq_len, params_.chunk)) + ")");
  }

  void forward(const AttentionInputs& in, MutableTensorView out) const override {
    check_inputs(in, out);
    const AttentionShape s = in.shape();
    check(s, in.causal);
    const Layout layout(params_, s);
    HeadHashing hashing(layout);
    std::vector<float> running(count(2 * s.seq_len));
    ScratchPool pool(layout);
    // Heads one after another, each parallel inside: the per-head arrays are allocated once.
    for (std::int64_t b = 0; b < s.batch; ++b)
      for (std::int64_t h = 0; h < s.heads; ++h) {
        hash_head(layout, in, b, h, hashing);
        sort_head(layout, hashing);
        attend_head(layout, hashing, in, b, h, out, running, pool);
      }
  }

  void keys(const AttentionInputs& in, std::int64_t b, std::int64_t h, std::int64_t query,
            std::vector<std::int64_t>& out) const override {
    const Layout layout(params_, in.shape());
    const auto hashing = hashing_for(layout, in, b, h);
    const std::int64_t n = layout.n, chunk = params_.chunk;
    out.clear();
    for (std::int64_t round = 0; round < params_.hashes; ++round) {
      const std::int64_t c = hashing->chunk_q[count(query * params_.hashes + round)];
      const std::int64_t begin = std::max<std::int64_t>(0, c - params_.lookback) * chunk;
      const std::int64_t end = std::min(n, (c + 1) * chunk);
      const auto perm = hashing->perm_keys(layout, round);
      for (std::int64_t s = begin; s < end; ++s)
        if (!in.causal || perm[count(s)] <= query) out.push_back(perm[count(s)]);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    const Layout layout(params_, s);
    const std::int64_t n = s.seq_len, hashes = params_.hashes;
    const std::int64_t cap = std::min(n, hashes * layout.max_window);
    const std::int64_t per_problem =
        causal ? causal_capped(n, cap) : checked_product(n, cap, "pairs");
    // Per head: buckets, permutations and chunk ids of Q and K, the running log-sum-exp, the
    // rotations and a counting table per concurrent sort; per thread: the chunk buffers and a
    // block of hashing projections.
    const std::int64_t stride = hashes * layout.columns_per_round;
    const std::int64_t per_head = 6 * 4 * checked_product(hashes, n, "index arrays") + 8 * n +
                                  4 * s.head_dim * stride +
                                  std::min<std::int64_t>(threads, 2) * 4 * (layout.buckets + 1);
    const std::int64_t per_thread = ChunkScratch::bytes(layout) +
                                    4 * kHashRows * (stride + s.head_dim) +
                                    8 * hash_prefetch_lines(s.head_dim) + 4096;
    return {checked_product(s.problems(), per_problem, "pairs"), per_head + threads * per_thread};
  }

  std::int64_t pairs(const AttentionInputs& in) const override {
    const AttentionShape s = in.shape();
    const Layout layout(params_, s);
    const std::int64_t n = s.seq_len, chunk = params_.chunk, lookback = params_.lookback;
    const std::int64_t hashes = params_.hashes;
    HeadHashing hashing(layout);
    std::int64_t total = 0;
    for (std::int64_t b = 0; b < s.batch; ++b)
      for (std::int64_t h = 0; h < s.heads; ++h) {
        hash_head(layout, in, b, h, hashing);
        sort_head(layout, hashing);
        // The pairs attend_head computes: per round, the window keys not masked.
        total += tbb::parallel_reduce(
            tbb::blocked_range<std::int64_t>(0, params_.hashes * layout.chunks), std::int64_t{0},
            [&](const auto& range, std::int64_t sum) {
              for (std::int64_t task = range.begin(); task < range.end(); ++task) {
                const std::int64_t round = task / layout.chunks, c = task % layout.chunks;
                const std::int64_t first = c * chunk, last = std::min(n, first + chunk);
                const std::int64_t begin = std::max<std::int64_t>(0, c - lookback) * chunk;
                const auto perm_k = hashing.perm_keys(layout, round);
                for (std::int64_t r = first; r < last; ++r) {
                  const std::int32_t query = hashing.perm_q[count(round * n + r)];
                  for (std::int64_t j = begin; j < last; ++j) {
                    const std::int32_t key = perm_k[count(j)];
                    bool counted = !in.causal || key <= query;
                    const std::int32_t* q_chunks = hashing.chunk_q.data() + query * hashes;
                    const std::int32_t* k_chunks = hashing.key_chunks() + key * hashes;
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
    return total;
  }

 private:
  struct CacheEntry {
    const float* q;
    const float* k;
    std::int64_t b, h;
    AttentionShape shape;
    std::uint64_t fingerprint;
    std::shared_ptr<const HeadHashing> hashing;
  };

  std::shared_ptr<const HeadHashing> hashing_for(const Layout& layout, const AttentionInputs& in,
                                                 std::int64_t b, std::int64_t h) const {
    const std::uint64_t print = fingerprint(in, b, h);
    const auto matches = [&](const CacheEntry& e) {
      return e.q == in.q.data.data() && e.k == in.k.data.data() && e.b == b && e.h == h &&
             e.shape == in.shape() && e.fingerprint == print;
    };
    {
      const std::lock_guard lock(cache_mutex_);
      for (const CacheEntry& e : cache_)
        if (matches(e)) return e.hashing;
    }
    auto hashing = std::make_shared<HeadHashing>(layout);
    hash_head(layout, in, b, h, *hashing);
    sort_head(layout, *hashing);
    const std::lock_guard lock(cache_mutex_);
    cache_.push_back({in.q.data.data(), in.k.data.data(), b, h, in.shape(), print, hashing});
    if (cache_.size() > kCachedHeads) cache_.pop_front();
    return hashing;
  }

  Params params_;
  mutable std::mutex cache_mutex_;
  mutable std::deque<CacheEntry> cache_;
};

const bool kRegistered = register_variant<Lsh>();

}  // namespace
}  // namespace attn::lsh
