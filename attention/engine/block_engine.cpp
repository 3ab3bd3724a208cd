#include "attention/engine/block_engine.hpp"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "attention/numeric/amx_tiles.hpp"
#include "attention/numeric/bf16_pairs.hpp"
#include "attention/numeric/microkernel.hpp"

namespace attn {
namespace {

// Queries per tile and keys per tile. 64 × 64 keeps a tile's scores, packed queries and
// accumulator (16 KiB each at head_dim 64) in L1/L2 while a task's K and V stream through.
constexpr std::int64_t kRowTile = 64;
constexpr std::int64_t kKeyTile = 128;
constexpr std::int64_t kDefaultQueryBlock = kRowTile;
// Keys per tile of the few-rows (decode) path. Its scores take padded_rows floats per key
// instead of kRowTile, so the score scratch holds 512 keys: a tile reads 512 K rows, then 512 V
// rows, a quarter of the switches between the two streams that 128-key tiles made. Decode at
// N = 256K, D = 128, medians of 6 alternated runs (AMD EPYC Zen 3): fp32 0.74 -> 0.77 of the read
// bandwidth, bf16 0.59 -> 0.61 (within its noise).
constexpr std::int64_t kFewKeyTile = 512;
static_assert(kFewKeyTile * 16 <= kKeyTile * kRowTile, "512 keys of up to 16 padded rows");
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::int64_t round_up(std::int64_t value, std::int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

std::size_t count(std::int64_t n) { return static_cast<std::size_t>(n); }

// Below this many (batch, kv head, query block) tasks, block keys are split across workers;
// a part holds at least kMinSplitKeys keys of the sequence's length.
constexpr std::int64_t kMinTasks = 32;
constexpr std::int64_t kMinSplitKeys = 1024;

// Scratch of one block_attention worker: the kernel's workspace, the range lists, and the
// stacked rows of a kv group.
struct WorkerScratch {
  WorkerScratch(std::int64_t head_dim, std::int64_t rows, std::int64_t group, Dtype dtype,
                KvQuantization kv)
      : workspace(head_dim, dtype, kv),
        head_ranges(count(group)),
        queries(group > 1 || dtype == Dtype::kBf16 ? count(rows * head_dim) : 0),
        outputs(group > 1 ? count(rows * head_dim) : 0) {
    for (auto& list : head_ranges) list.reserve(16);
    ranges.reserve(16);
    part_ranges.reserve(16);
  }
  EngineWorkspace workspace;
  std::vector<std::vector<KeyRange>> head_ranges;
  std::vector<KeyRange> ranges, part_ranges;
  AlignedBuffer<float> queries, outputs;
};

// Whether keys [k0, k1) meet a masked range of `ranges` (sorted, disjoint).
bool meets_masked_range(std::span<const KeyRange> ranges, std::int64_t k0, std::int64_t k1) {
  for (const KeyRange& r : ranges)
    if (r.masked && r.begin < k1 && k0 < r.end) return true;
  return false;
}

}  // namespace

namespace {
bool widens_tiles(Dtype dtype, KvQuantization kv) {
  return dtype == Dtype::kBf16 || kv != KvQuantization::kNone;
}
}  // namespace

EngineWorkspace::EngineWorkspace(std::int64_t head_dim, Dtype dtype, KvQuantization kv)
    : head_dim_(head_dim),
      padded_dim_(round_up(head_dim, kernel::float_lanes())),
      queries_t_(count(head_dim * kRowTile)),
      scores_t_(count(kKeyTile * kRowTile)),
      mask_(count(kRowTile * kKeyTile)),
      acc_(count(kRowTile * padded_dim_)),
      values_(head_dim == padded_dim_ ? 0 : count(kKeyTile * padded_dim_)),
      row_state_(count(3 * kRowTile)),
      keys_wide_(widens_tiles(dtype, kv) ? count(kKeyTile * padded_dim_) : 0),
      values_wide_(widens_tiles(dtype, kv) ? count(kKeyTile * padded_dim_) : 0),
      query_pairs_(dtype == Dtype::kBf16 ? count((head_dim + 1) / 2 * kRowTile) : 0),
      probability_pairs_(dtype == Dtype::kBf16 ? count(kKeyTile / 2 * kRowTile) : 0),
      value_pairs_(dtype == Dtype::kBf16 ? count(kKeyTile / 2 * padded_dim_) : 0) {}

std::int64_t EngineWorkspace::bytes(std::int64_t head_dim, Dtype dtype, KvQuantization kv) {
  const std::int64_t padded = round_up(head_dim, kernel::float_lanes());
  const std::int64_t floats =
      head_dim * kRowTile + 2 * kKeyTile * kRowTile + kRowTile * padded +
      (head_dim == padded ? 0 : kKeyTile * padded) + 3 * kRowTile +
      (widens_tiles(dtype, kv) ? 2 * kKeyTile * padded : 0) +
      (dtype == Dtype::kBf16 ? (head_dim + 1) / 2 * kRowTile + kKeyTile / 2 * (kRowTile + padded)
                             : 0);
  return floats * static_cast<std::int64_t>(sizeof(float));
}

void attend_rows(const RowBlock& block, float scale, TileMaskRef mask, EngineWorkspace& ws) {
  const std::int64_t d = ws.head_dim_, dp = ws.padded_dim_;
  // bf16 keys and values are widened a tile at a time into fp32 scratch (padded to whole
  // vectors), and the fp32 kernels run on that: one kernel family for both dtypes.
  // A quantized cache's tiles are dequantized into the same scratch (a quarter of fp32's bytes
  // read from memory, the fp32 kernels unchanged).
  const bool is_bf16 = block.k16 != nullptr;
  const bool quantized = block.kq.format != KvQuantization::kNone;
  assert(!(is_bf16 || quantized) || ws.keys_wide_.size() > 0);
  const bool pad_values = d != dp && !is_bf16 && !quantized;
  // How bf16 takes its dot products: widened to fp32, or as bf16 pairs (bf16_pairs.hpp), which
  // need whole pairs of dimensions and rows of whole vectors.
  const kernel::Bf16Dot dot = is_bf16 ? kernel::bf16_dot() : kernel::Bf16Dot::kWidening;
  // The AMX tiles take head dims of whole 32-dimension steps; the others widen, which beats
  // VDPBF16PS on the CPUs that have AMX.
  const bool pair_dims = dot != kernel::Bf16Dot::kWidening && d == dp && d % 2 == 0 &&
                         (dot != kernel::Bf16Dot::kAmx || kernel::amx_fits(d));
  const std::int64_t elem_bytes = quantized ? 1 : is_bf16 ? 2 : 4;
  const char* k_bytes = quantized ? reinterpret_cast<const char*>(block.kq.codes)
                        : is_bf16 ? reinterpret_cast<const char*>(block.k16)
                                  : reinterpret_cast<const char*>(block.k);
  const char* v_bytes = quantized ? reinterpret_cast<const char*>(block.vq.codes)
                        : is_bf16 ? reinterpret_cast<const char*>(block.v16)
                                  : reinterpret_cast<const char*>(block.v);
  // Q is pre-multiplied by scale·log2(e) so that the kernel's exp is a cheap 2^x.
  const float multiplier = scale * std::numbers::log2e_v<float>;
  float* q_t = ws.queries_t_.data();
  float* s_t = ws.scores_t_.data();
  float* acc = ws.acc_.data();
  float* row_max = ws.row_state_.data();
  float* row_sum = row_max + kRowTile;
  float* correction = row_sum + kRowTile;

  // Adjacent ranges are walked as one span of whole tiles, a tile masked where it meets a masked
  // range (unmasked keys need no mask by the pattern contract): a window's masked edges and its
  // unmasked middle then share tiles (at window ±256 and 64 queries, 576 keys in 5 tiles rather
  // than 6, three of them ragged).
  ws.spans_.clear();
  for (const KeyRange& r : block.ranges) {
    if (!ws.spans_.empty() && ws.spans_.back().end == r.begin) {
      ws.spans_.back().end = r.end;
      ws.spans_.back().masked = ws.spans_.back().masked || r.masked;
    } else {
      ws.spans_.push_back(r);
    }
  }

  for (std::int64_t r0 = 0; r0 < block.rows; r0 += kRowTile) {
    const std::int64_t rows = std::min(kRowTile, block.rows - r0);
    // A few rows (decode) are scored by dot products over row-major queries; the softmax and
    // P·V kernels then run on rows padded only to one vector.
    const bool few = block.few_rows && rows <= kernel::kFewRows;
    // Few rows over bf16 rows of whole vectors read the bf16 rows directly (no scratch copy).
    const bool direct_bf16 = is_bf16 && few && d == dp;
    // ... by the shuffle-free pair kernels, with Q and the accumulator deinterleaved, when the
    // row is a whole number of pairs of vectors.
    const bool pairs = direct_bf16 && d % kernel::pair_granularity() == 0;
    // Prefill over bf16 by the dot-product pair kernels: Q packed as pairs once per row tile, K
    // read as it is, P and a tile of V packed as pairs of keys.
    const bool dot_pairs = is_bf16 && !few && pair_dims;
    std::uint32_t* q2 = ws.query_pairs_.data();
    std::uint32_t* p2 = ws.probability_pairs_.data();
    std::uint32_t* v2 = ws.value_pairs_.data();
    // Few rows over a quantized cache of whole vectors read the codes directly as well.
    const bool direct_codes = quantized && few && d == dp;
    const std::int64_t padded_rows =
        round_up(rows, few ? kernel::float_lanes() : kernel::row_granularity());
    // The scores' leading dimension: a few rows are packed key after key.
    const std::int64_t ld_s = few ? padded_rows : kRowTile;
    if (few) {
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* q = block.q + (r0 + r) * block.q_stride;
        if (pairs)
          for (std::int64_t j = 0; j < d / 2; ++j) {
            q_t[r * dp + j] = q[2 * j] * multiplier;
            q_t[r * dp + d / 2 + j] = q[2 * j + 1] * multiplier;
          }
        else
          for (std::int64_t e = 0; e < d; ++e) q_t[r * dp + e] = q[e] * multiplier;
        std::fill(q_t + r * dp + d, q_t + (r + 1) * dp, 0.0f);
      }
      // Padding rows are never scored: zero scores keep them finite through the softmax. Only
      // the columns a tile of this block can reach (gathered attention calls this per query).
      std::int64_t widest = 0;
      for (const KeyRange& r : ws.spans_) widest = std::max(widest, r.end - r.begin);
      if (rows < padded_rows)
        for (std::int64_t c = 0; c < std::min(widest, kFewKeyTile); ++c)
          std::fill(s_t + c * padded_rows + rows, s_t + (c + 1) * padded_rows, 0.0f);
    } else if (dot_pairs) {
      kernel::pack_query_pairs(block.q + r0 * block.q_stride, block.q_stride, rows, padded_rows, d,
                               q2, kRowTile);
    } else {
      kernel::pack_queries(block.q + r0 * block.q_stride, block.q_stride, rows, padded_rows, d,
                           multiplier, q_t, kRowTile);
    }
    std::fill_n(row_max, kRowTile, kNegInf);
    std::fill_n(row_sum, kRowTile, 0.0f);
    std::fill_n(acc, kRowTile * dp, 0.0f);

    // The register-blocked path streams the next key tile's K rows in while it scores this
    // one and its V rows while it accumulates: at long N the cache comes from memory, and the
    // hardware prefetcher alone left chunked prefill 30% slower than at N = 16K.
    PrefetchStream keys_stream, values_stream;
    const auto next_stream = [&](PrefetchStream& stream, const char* rows_base, std::int64_t k0,
                                 std::int64_t cols, const KeyRange& range,
                                 std::int64_t steps) -> PrefetchStream* {
      const std::int64_t next = std::min(kKeyTile, range.end - k0 - cols);
      if (next <= 0) return nullptr;
      const std::int64_t row_bytes = block.kv_stride * elem_bytes;
      const std::int64_t lines = (next * row_bytes + 63) / 64;
      stream = {nullptr, lines, 0, rows_base + (k0 + cols) * row_bytes,
                (lines + steps - 1) / steps};
      return &stream;
    };
    const auto next_keys = [&](std::int64_t k0, std::int64_t cols, const KeyRange& range) {
      return next_stream(keys_stream, k_bytes, k0, cols, range,
                         kernel::score_tile_prefetch_steps(padded_rows, cols));
    };
    const auto next_values = [&](std::int64_t k0, std::int64_t cols, const KeyRange& range) {
      return next_stream(values_stream, v_bytes, k0, cols, range,
                         kernel::accumulate_tile_prefetch_steps(rows, dp));
    };
    for (const KeyRange& range : ws.spans_) {
      // Decode's long tiles need no scratch sized by kKeyTile: rows of whole vectors, no mask.
      const std::int64_t key_tile = few && d == dp && !range.masked ? kFewKeyTile : kKeyTile;
      assert(key_tile * ld_s <= kKeyTile * kRowTile);
      for (std::int64_t k0 = range.begin; k0 < range.end; k0 += key_tile) {
        const std::int64_t cols = std::min(key_tile, range.end - k0);
        // Decode streams the cache from memory, and one core keeps enough misses in flight only
        // with software help: this tile's values are prefetched while its keys are scored, and
        // the next tile's keys while its values are read, when that is a whole tile.
        const bool next_tile_whole = k0 + cols + key_tile <= range.end;
        const bool masked = range.masked && meets_masked_range(block.ranges, k0, k0 + cols);
        const float* k_tile = block.k + k0 * block.kv_stride;
        std::int64_t k_stride = block.kv_stride;
        // Widened a tile at a time for the register-blocked kernel, which broadcasts single key
        // values; the few-rows kernels widen as they load.
        if (is_bf16 && !direct_bf16 && !dot_pairs) {
          kernel::widen_bf16_rows(block.k16 + k0 * block.kv_stride, block.kv_stride, cols, d, dp,
                                  ws.keys_wide_.data(), dp);
          k_tile = ws.keys_wide_.data();
          k_stride = dp;
        }
        if (quantized && !direct_codes) {
          dequantize_rows(block.kq.from_row(k0), cols, d, dp, ws.keys_wide_.data(), dp);
          k_tile = ws.keys_wide_.data();
          k_stride = dp;
        }
        if (direct_codes) {
          // The quantized accumulate prefetches nothing: the next tile's keys come in here.
          const kernel::RowsAhead ahead{
              block.vq.from_row(k0).codes,
              next_tile_whole ? block.kq.from_row(k0 + key_tile).codes : nullptr, cols};
          kernel::score_tile_few_rows(q_t, dp, rows, block.kq.from_row(k0), cols, d, s_t, ld_s,
                                      ahead);
        } else if (few) {
          const void* v_next = is_bf16 ? static_cast<const void*>(block.v16 + k0 * block.kv_stride)
                                       : static_cast<const void*>(block.v + k0 * block.kv_stride);
          const kernel::RowsAhead ahead{v_next, nullptr, cols};
          if (pairs)
            kernel::score_tile_few_rows_pairs(q_t, dp, rows, block.k16 + k0 * block.kv_stride,
                                              block.kv_stride, cols, d, s_t, ld_s, ahead);
          else if (direct_bf16)
            kernel::score_tile_few_rows(q_t, dp, rows, block.k16 + k0 * block.kv_stride,
                                        block.kv_stride, cols, d, s_t, ld_s, ahead);
          else
            kernel::score_tile_few_rows(q_t, dp, rows, k_tile, k_stride, cols, d, s_t, ld_s,
                                        is_bf16 || quantized ? kernel::RowsAhead{} : ahead);
        } else if (dot_pairs) {
          // The multiplier applies to the sums: Q stays exact in bf16.
          kernel::score_tile_pairs(q2, kRowTile, padded_rows, block.k16 + k0 * block.kv_stride,
                                   block.kv_stride, cols, d, multiplier, s_t, ld_s, dot,
                                   block.prefetch ? block.prefetch : next_keys(k0, cols, range));
        } else {
          kernel::score_tile(q_t, kRowTile, padded_rows, k_tile, k_stride, cols, d, s_t, ld_s,
                             block.prefetch ? block.prefetch : next_keys(k0, cols, range));
        }
        if (masked && mask) {
          const std::int64_t q_begin = block.first_query + r0;
          if (mask.layout() == MaskLayout::kKeyMajor) {
            mask(q_begin, q_begin + rows, k0, k0 + cols, s_t, ld_s);
          } else {
            // A query-major mask is written to scratch, then transposed onto the [key][query]
            // scores with a select per element (no branch, so it vectorises).
            float* m = ws.mask_.data();
            std::fill_n(m, rows * kKeyTile, 0.0f);
            mask(q_begin, q_begin + rows, k0, k0 + cols, m, kKeyTile);
            for (std::int64_t c = 0; c < cols; ++c) {
              float* scores = s_t + c * ld_s;
              for (std::int64_t r = 0; r < rows; ++r)
                scores[r] = m[r * kKeyTile + c] == kNegInf ? kNegInf : scores[r];
            }
          }
        }
        kernel::softmax_tile(s_t, ld_s, cols, padded_rows, row_max, row_sum, correction);
        // Σ P stays the unrounded fp32 sum; P·V takes the probabilities as bf16, as the GPU
        // kernels do when they cast P to the value type.
        if (dot_pairs) {
          kernel::pack_probability_pairs(s_t, ld_s, cols, padded_rows, p2, kRowTile);
          kernel::interleave_key_pairs(block.v16 + k0 * block.kv_stride, block.kv_stride, cols, d,
                                       v2, dp);
          kernel::accumulate_tile_pairs(
              p2, kRowTile, rows, cols, correction, v2, dp, d, acc, dp, dot,
              block.prefetch ? block.prefetch : next_values(k0, cols, range));
          continue;
        }
        if (is_bf16) kernel::round_tile_to_bf16(s_t, ld_s, cols, padded_rows);
        const float* v = block.v + k0 * block.kv_stride;
        std::int64_t v_stride = block.kv_stride;
        if (direct_bf16) {
          // Decode over a bf16 cache: the values widen as they load.
          const bf16* keys_next =
              next_tile_whole ? block.k16 + (k0 + key_tile) * block.kv_stride : nullptr;
          if (pairs) {
            kernel::accumulate_tile_few_rows_pairs(s_t, ld_s, rows, cols, correction,
                                                   block.v16 + k0 * block.kv_stride,
                                                   block.kv_stride, d, acc, dp, keys_next);
            continue;
          }
          kernel::accumulate_tile(s_t, ld_s, rows, cols, correction,
                                  block.v16 + k0 * block.kv_stride, block.kv_stride, dp, acc, dp,
                                  block.prefetch, keys_next);
          continue;
        }
        if (is_bf16) {
          kernel::widen_bf16_rows(block.v16 + k0 * block.kv_stride, block.kv_stride, cols, d, dp,
                                  ws.values_wide_.data(), dp);
          v = ws.values_wide_.data();
          v_stride = dp;
        }
        if (direct_codes) {
          kernel::accumulate_tile(s_t, ld_s, rows, cols, correction, block.vq.from_row(k0), d, acc,
                                  dp);
          continue;
        }
        if (quantized) {
          dequantize_rows(block.vq.from_row(k0), cols, d, dp, ws.values_wide_.data(), dp);
          v = ws.values_wide_.data();
          v_stride = dp;
        }
        if (pad_values) {
          // Rows padded with zeros to whole vectors, so the kernel never reads past a row.
          float* padded = ws.values_.data();
          for (std::int64_t c = 0; c < cols; ++c) {
            std::copy_n(v + c * v_stride, d, padded + c * dp);
            std::fill(padded + c * dp + d, padded + (c + 1) * dp, 0.0f);
          }
          v = padded;
          v_stride = dp;
        }
        const float* keys_ahead = few && !pad_values && !is_bf16 && !quantized && next_tile_whole
                                      ? block.k + (k0 + key_tile) * block.kv_stride
                                      : nullptr;
        if (few && !pad_values && !quantized && !block.prefetch) {
          // Decode over fp32 (or widened) rows: key by key, each V row read whole and once,
          // which the strided passes of accumulate_tile left to memory latency.
          kernel::accumulate_tile_few_rows(s_t, ld_s, rows, cols, correction, v, v_stride, dp, acc,
                                           dp, keys_ahead);
          continue;
        }
        kernel::accumulate_tile(
            s_t, ld_s, rows, cols, correction, v, v_stride, dp, acc, dp,
            block.prefetch || few ? block.prefetch : next_values(k0, cols, range), keys_ahead);
      }
    }

    for (std::int64_t r = 0; r < rows; ++r) {
      float* o = block.out + (r0 + r) * block.out_stride;
      const bool empty = row_max[r] == kNegInf;
      const float inv = empty ? 0.0f : 1.0f / row_sum[r];
      if (pairs)
        for (std::int64_t j = 0; j < d / 2; ++j) {
          o[2 * j] = acc[r * dp + j] * inv;
          o[2 * j + 1] = acc[r * dp + d / 2 + j] * inv;
        }
      else
        for (std::int64_t e = 0; e < d; ++e) o[e] = acc[r * dp + e] * inv;
      if (block.log_sum_exp)
        block.log_sum_exp[r0 + r] =
            empty ? kNegInf : (row_max[r] + std::log2(row_sum[r])) * std::numbers::ln2_v<float>;
    }
  }
}

EnginePlan plan_block_attention(const AttentionShape& s, std::int64_t pattern_block) {
  EnginePlan plan;
  plan.group = s.group();
  // The query heads of a kv group are stacked into one block of rows, so each K/V tile is read
  // once per group: by default about one row tile in all.
  plan.query_block =
      pattern_block > 0
          ? pattern_block
          : std::min(s.query_len, std::max<std::int64_t>(1, kDefaultQueryBlock / plan.group));
  // A pattern's own blocks are blocks of absolute positions: the first block starts where the
  // pattern's block holding query 0 starts, so no block straddles two of the pattern's.
  plan.lead = pattern_block > 0 ? s.first_position() % plan.query_block : 0;
  plan.blocks = (s.query_len + plan.lead + plan.query_block - 1) / plan.query_block;
  plan.tasks = checked_product(checked_product(s.batch, s.kv_heads, "tasks"), plan.blocks, "tasks");
  // A block never holds more than query_len queries per head: a decode step on a pattern with
  // its own 64-query blocks (BigBird) is still a block of `group` rows.
  plan.rows = plan.group * std::min(plan.query_block, s.query_len);
  // Too few (batch, kv head, query block) tasks to keep the workers busy (decode): the keys of
  // each block are split as well, and the parts merged by their log-sum-exp (flash-decoding).
  // The split follows from the shape alone, so results do not depend on the thread count.
  if (plan.tasks < kMinTasks)
    plan.splits = std::clamp<std::int64_t>((kMinTasks + plan.tasks - 1) / plan.tasks, 1,
                                           std::max<std::int64_t>(1, s.seq_len / kMinSplitKeys));
  return plan;
}

void union_of_key_ranges(std::span<const std::vector<KeyRange>> lists, std::vector<KeyRange>& out) {
  std::vector<std::int64_t> edges;
  for (const auto& list : lists)
    for (const KeyRange& r : list) {
      edges.push_back(r.begin);
      edges.push_back(r.end);
    }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  out.clear();
  // Edges and every list ascend: one cursor per list, so the union costs O(edges · lists)
  // rather than O(edges · lists · ranges) (vertical_slash gives each head a thousand ranges).
  std::vector<std::size_t> cursor(lists.size(), 0);
  for (std::size_t i = 0; i + 1 < edges.size(); ++i) {
    const std::int64_t lo = edges[i], hi = edges[i + 1];
    std::size_t covered = 0, unmasked = 0;
    for (std::size_t l = 0; l < lists.size(); ++l) {
      const auto& list = lists[l];
      std::size_t& at = cursor[l];
      while (at < list.size() && list[at].end <= lo) ++at;
      if (at < list.size() && list[at].begin <= lo && hi <= list[at].end) {
        ++covered;
        unmasked += list[at].masked ? 0 : 1;
      }
    }
    // Unmasked only where every list attends in full; elsewhere each row's own mask decides.
    if (covered > 0) append_key_range(out, lo, hi, unmasked != lists.size());
  }
}

void split_key_ranges(std::span<const KeyRange> ranges, std::int64_t part, std::int64_t parts,
                      std::vector<KeyRange>& out) {
  std::int64_t total = 0;
  for (const KeyRange& r : ranges) total += r.end - r.begin;
  const std::int64_t lo = part * total / parts, hi = (part + 1) * total / parts;
  out.clear();
  std::int64_t seen = 0;
  for (const KeyRange& r : ranges) {
    const std::int64_t len = r.end - r.begin;
    const std::int64_t from = std::max(lo - seen, std::int64_t{0});
    const std::int64_t to = std::min(hi - seen, len);
    if (from < to) out.push_back({r.begin + from, r.begin + to, r.masked});
    seen += len;
  }
}

void block_attention(const AttentionInputs& inputs, const BlockPattern& pattern,
                     MutableTensorView out) {
  check_inputs(inputs, out);
  const AttentionShape s = inputs.shape();
  const EnginePlan plan = plan_block_attention(s, pattern.query_block());
  const std::int64_t d = s.head_dim, g_count = plan.group;
  const std::int64_t splits = plan.splits;
  // Partial results of split blocks: [task][part][row] outputs and log-sum-exps.
  AlignedBuffer<float> partial_out(splits > 1 ? count(plan.tasks * splits * plan.rows * d) : 0);
  AlignedBuffer<float> partial_lse(splits > 1 ? count(plan.tasks * splits * plan.rows) : 0);
  // Task t is query block t % blocks of (batch, kv head) t / blocks.
  struct TaskOrigin {
    std::int64_t b, kv, first_query, per_head;
  };
  const auto task_origin = [&](std::int64_t task) {
    const std::int64_t bk = task / plan.blocks;
    const auto [begin, end] = plan.block_queries(task % plan.blocks, s.query_len);
    return TaskOrigin{bk / s.kv_heads, bk % s.kv_heads, begin, end - begin};
  };
  // One scratch per worker, freed when the call returns: peak = threads × workspace.
  const bool is_bf16 = inputs.dtype == Dtype::kBf16;
  const bool quantized = inputs.quantized_cache();
  tbb::enumerable_thread_specific<WorkerScratch> scratch(d, plan.rows, g_count, inputs.dtype,
                                                         inputs.kq.format);
  tbb::parallel_for(std::int64_t{0}, plan.tasks * splits, [&](std::int64_t item) {
    const std::int64_t task = item / splits, part = item % splits;
    // Plain variables, not a structured binding: lambdas below capture them (clang 14 refuses).
    const TaskOrigin origin = task_origin(task);
    const std::int64_t b = origin.b, kv = origin.kv, i_begin = origin.first_query;
    const std::int64_t per_head = origin.per_head, h0 = kv * g_count;
    const std::int64_t p_begin = s.position(i_begin), p_end = p_begin + per_head;
    WorkerScratch& local = scratch.local();

    // The block's keys: the union over its heads (one list when the pattern ignores the head).
    pattern.key_ranges(b, h0, p_begin, p_end, local.head_ranges[0]);
    bool same = true;
    for (std::int64_t g = 1; g < g_count; ++g) {
      pattern.key_ranges(b, h0 + g, p_begin, p_end, local.head_ranges[count(g)]);
      same = same && local.head_ranges[count(g)] == local.head_ranges[0];
    }
    std::vector<KeyRange>* ranges = &local.head_ranges[0];
    if (!same) {
      union_of_key_ranges(local.head_ranges, local.ranges);
      ranges = &local.ranges;
    }
    if (splits > 1) {
      split_key_ranges(*ranges, part, splits, local.part_ranges);
      ranges = &local.part_ranges;
    }

    // Stacked rows: head h0 + g's queries are rows [g · per_head, (g + 1) · per_head).
    const std::int64_t rows = g_count * per_head;
    const float* q = inputs.q.row(b, h0, i_begin);
    if (is_bf16) {
      // The queries are read once per block: widened here, they enter the fp32 packing.
      for (std::int64_t g = 0; g < g_count; ++g)
        kernel::widen_bf16(inputs.q16.row(b, h0 + g, i_begin), per_head * d,
                           local.queries.data() + g * per_head * d);
      q = local.queries.data();
    } else if (g_count > 1) {
      for (std::int64_t g = 0; g < g_count; ++g)
        std::copy_n(inputs.q.row(b, h0 + g, i_begin), per_head * d,
                    local.queries.data() + g * per_head * d);
      q = local.queries.data();
    }
    float* o = splits > 1    ? partial_out.data() + (task * splits + part) * plan.rows * d
               : g_count > 1 ? local.outputs.data()
                             : out.row(b, h0, i_begin);
    const auto mask = [&](std::int64_t r_begin, std::int64_t r_end, std::int64_t k0,
                          std::int64_t k1, float* scores, std::int64_t ld) {
      for (std::int64_t r = r_begin; r < r_end;) {
        const std::int64_t g = r / per_head, i = r % per_head;
        const std::int64_t n = std::min(r_end - r, per_head - i);
        pattern.mask_tile(b, h0 + g, p_begin + i, p_begin + i + n, k0, k1,
                          scores + (r - r_begin) * ld, ld);
        r += n;
      }
    };
    // The same over the engine's transposed tile: a row's queries are a column offset.
    const auto mask_key_major = [&](std::int64_t r_begin, std::int64_t r_end, std::int64_t k0,
                                    std::int64_t k1, float* scores, std::int64_t ld) {
      for (std::int64_t r = r_begin; r < r_end;) {
        const std::int64_t g = r / per_head, i = r % per_head;
        const std::int64_t n = std::min(r_end - r, per_head - i);
        pattern.mask_tile_key_major(b, h0 + g, p_begin + i, p_begin + i + n, k0, k1,
                                    scores + (r - r_begin), ld);
        r += n;
      }
    };
    const RowBlock block{
        .q = q,
        .q_stride = d,
        .rows = rows,
        .first_query = 0,
        .k = inputs.k.head(b, kv),
        .v = inputs.v.head(b, kv),
        .kv_stride = d,
        .k16 = is_bf16 ? inputs.k16.head(b, kv) : nullptr,
        .v16 = is_bf16 ? inputs.v16.head(b, kv) : nullptr,
        .kq = quantized ? inputs.kq.head(b, kv) : QuantizedRows{},
        .vq = quantized ? inputs.vq.head(b, kv) : QuantizedRows{},
        .ranges = *ranges,
        .out = o,
        .out_stride = d,
        .log_sum_exp =
            splits > 1 ? partial_lse.data() + (task * splits + part) * plan.rows : nullptr,
        .few_rows = plan.rows <= kernel::kFewRows};
    attend_rows(block, inputs.scale,
                pattern.masks_key_major() ? TileMaskRef(mask_key_major, MaskLayout::kKeyMajor)
                                          : TileMaskRef(mask),
                local.workspace);
    if (splits == 1 && g_count > 1)
      for (std::int64_t g = 0; g < g_count; ++g)
        std::copy_n(o + g * per_head * d, per_head * d, out.row(b, h0 + g, i_begin));
  });
  if (splits == 1) return;

  // Each row's parts cover disjoint keys and are normalised over their own: weighting them by
  // exp(lse_part - max lse) gives exact softmax over the union.
  tbb::parallel_for(std::int64_t{0}, plan.tasks, [&](std::int64_t task) {
    const TaskOrigin origin = task_origin(task);
    const std::int64_t b = origin.b, i_begin = origin.first_query, per_head = origin.per_head;
    const std::int64_t h0 = origin.kv * g_count;
    const float* lse = partial_lse.data() + task * splits * plan.rows;
    const float* parts = partial_out.data() + task * splits * plan.rows * d;
    for (std::int64_t r = 0; r < g_count * per_head; ++r) {
      float* dst = out.row(b, h0 + r / per_head, i_begin + r % per_head);
      float top = kNegInf;
      for (std::int64_t p = 0; p < splits; ++p) top = std::max(top, lse[p * plan.rows + r]);
      std::fill_n(dst, d, 0.0f);
      if (top == kNegInf) continue;
      float total = 0;
      for (std::int64_t p = 0; p < splits; ++p) {
        const float l = lse[p * plan.rows + r];
        if (l == kNegInf) continue;
        const float w = std::exp(l - top);
        total += w;
        const float* src = parts + (p * plan.rows + r) * d;
        for (std::int64_t e = 0; e < d; ++e) dst[e] += w * src[e];
      }
      const float inv = 1.0f / total;
      for (std::int64_t e = 0; e < d; ++e) dst[e] *= inv;
    }
  });
}

std::int64_t block_attention_workspace_bytes(const AttentionShape& shape, int threads,
                                             std::int64_t pattern_block) {
  const EnginePlan plan = plan_block_attention(shape, pattern_block);
  const std::int64_t d = shape.head_dim;
  // Per worker: the kernel's workspace, the stacked queries and outputs of a kv group, and the
  // range lists (a few ranges per block) with their bookkeeping.
  const bool is_bf16 = shape.dtype == Dtype::kBf16;
  const std::int64_t stacked = (plan.group > 1 ? 2 : 0) * plan.rows * d * 4;
  const std::int64_t widened_queries = plan.group > 1 || !is_bf16 ? 0 : plan.rows * d * 4;
  const std::int64_t per_worker = EngineWorkspace::bytes(d, shape.dtype, shape.kv_quantization) +
                                  stacked + widened_queries + 1024 + plan.group * 256;
  const std::int64_t partials =
      plan.splits > 1 ? 4 * plan.tasks * plan.splits * plan.rows * (d + 1) : 0;
  return per_worker * threads + partials;
}

}  // namespace attn
