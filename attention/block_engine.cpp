#include "attention/block_engine.hpp"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "attention/microkernel.hpp"

namespace attn {
namespace {

// Queries per tile and keys per tile. 64 × 64 keeps a tile's scores, packed queries and
// accumulator (16 KiB each at head_dim 64) in L1/L2 while a task's K and V stream through.
constexpr std::int64_t kRowTile = 64;
constexpr std::int64_t kKeyTile = 128;
constexpr std::int64_t kDefaultQueryBlock = kRowTile;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::int64_t round_up(std::int64_t value, std::int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

std::size_t count(std::int64_t n) { return static_cast<std::size_t>(n); }

// Scratch of one block_attention worker: the kernel's workspace plus the pattern's range list.
struct WorkerScratch {
  explicit WorkerScratch(std::int64_t head_dim) : workspace(head_dim) { ranges.reserve(16); }
  EngineWorkspace workspace;
  std::vector<KeyRange> ranges;
};

}  // namespace

EngineWorkspace::EngineWorkspace(std::int64_t head_dim)
    : head_dim_(head_dim),
      padded_dim_(round_up(head_dim, kernel::float_lanes())),
      queries_t_(count(head_dim * kRowTile)),
      scores_t_(count(kKeyTile * kRowTile)),
      mask_(count(kRowTile * kKeyTile)),
      acc_(count(kRowTile * padded_dim_)),
      values_(head_dim == padded_dim_ ? 0 : count(kKeyTile * padded_dim_)),
      row_state_(count(3 * kRowTile)) {}

std::int64_t EngineWorkspace::bytes(std::int64_t head_dim) {
  const std::int64_t padded = round_up(head_dim, kernel::float_lanes());
  const std::int64_t floats = head_dim * kRowTile + 2 * kKeyTile * kRowTile + kRowTile * padded +
                              (head_dim == padded ? 0 : kKeyTile * padded) + 3 * kRowTile;
  return floats * static_cast<std::int64_t>(sizeof(float));
}

void attend_rows(const RowBlock& block, float scale, TileMaskRef mask, EngineWorkspace& ws) {
  const std::int64_t d = ws.head_dim_, dp = ws.padded_dim_;
  const bool pad_values = d != dp;
  // Q is pre-multiplied by scale·log2(e) so that the kernel's exp is a cheap 2^x.
  const float multiplier = scale * std::numbers::log2e_v<float>;
  float* q_t = ws.queries_t_.data();
  float* s_t = ws.scores_t_.data();
  float* acc = ws.acc_.data();
  float* row_max = ws.row_state_.data();
  float* row_sum = row_max + kRowTile;
  float* correction = row_sum + kRowTile;

  for (std::int64_t r0 = 0; r0 < block.rows; r0 += kRowTile) {
    const std::int64_t rows = std::min(kRowTile, block.rows - r0);
    const std::int64_t padded_rows = round_up(rows, kernel::row_granularity());
    kernel::pack_queries(block.q + r0 * block.q_stride, block.q_stride, rows, padded_rows, d,
                         multiplier, q_t, kRowTile);
    std::fill_n(row_max, kRowTile, kNegInf);
    std::fill_n(row_sum, kRowTile, 0.0f);
    std::fill_n(acc, kRowTile * dp, 0.0f);

    for (const KeyRange& range : block.ranges) {
      for (std::int64_t k0 = range.begin; k0 < range.end; k0 += kKeyTile) {
        const std::int64_t cols = std::min(kKeyTile, range.end - k0);
        kernel::score_tile(q_t, kRowTile, padded_rows, block.k + k0 * block.kv_stride,
                           block.kv_stride, cols, d, s_t, kRowTile, block.prefetch);
        if (range.masked && mask) {
          const std::int64_t q_begin = block.first_query + r0;
          if (mask.layout() == MaskLayout::kKeyMajor) {
            mask(q_begin, q_begin + rows, k0, k0 + cols, s_t, kRowTile);
          } else {
            // A query-major mask is written to scratch, then transposed onto the [key][query]
            // scores with a select per element (no branch, so it vectorises).
            float* m = ws.mask_.data();
            std::fill_n(m, rows * kKeyTile, 0.0f);
            mask(q_begin, q_begin + rows, k0, k0 + cols, m, kKeyTile);
            for (std::int64_t c = 0; c < cols; ++c) {
              float* scores = s_t + c * kRowTile;
              for (std::int64_t r = 0; r < rows; ++r)
                scores[r] = m[r * kKeyTile + c] == kNegInf ? kNegInf : scores[r];
            }
          }
        }
        kernel::softmax_tile(s_t, kRowTile, cols, padded_rows, row_max, row_sum, correction);
        const float* v = block.v + k0 * block.kv_stride;
        std::int64_t v_stride = block.kv_stride;
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
        kernel::accumulate_tile(s_t, kRowTile, rows, cols, correction, v, v_stride, dp, acc, dp,
                                block.prefetch);
      }
    }

    for (std::int64_t r = 0; r < rows; ++r) {
      float* o = block.out + (r0 + r) * block.out_stride;
      const bool empty = row_max[r] == kNegInf;
      const float inv = empty ? 0.0f : 1.0f / row_sum[r];
      for (std::int64_t e = 0; e < d; ++e) o[e] = acc[r * dp + e] * inv;
      if (block.log_sum_exp)
        block.log_sum_exp[r0 + r] =
            empty ? kNegInf : (row_max[r] + std::log2(row_sum[r])) * std::numbers::ln2_v<float>;
    }
  }
}

void block_attention(const AttentionInputs& inputs, const BlockPattern& pattern,
                     MutableTensorView out) {
  check_inputs(inputs, out);
  const Shape& s = inputs.shape();
  const std::int64_t qb = pattern.query_block() > 0 ? pattern.query_block() : kDefaultQueryBlock;
  const std::int64_t blocks = (s.seq_len + qb - 1) / qb;
  const std::int64_t d = s.head_dim;
  // One scratch per worker, freed when the call returns: peak = threads × workspace.
  tbb::enumerable_thread_specific<WorkerScratch> scratch(d);
  tbb::parallel_for(std::int64_t{0}, s.problems() * blocks, [&](std::int64_t task) {
    const std::int64_t problem = task / blocks;
    const std::int64_t b = problem / s.heads, h = problem % s.heads;
    const std::int64_t q_begin = (task % blocks) * qb;
    const std::int64_t q_end = std::min(s.seq_len, q_begin + qb);
    WorkerScratch& local = scratch.local();
    pattern.key_ranges(b, h, q_begin, q_end, local.ranges);
    const auto mask = [&](std::int64_t q0, std::int64_t q1, std::int64_t k0, std::int64_t k1,
                          float* scores,
                          std::int64_t ld) { pattern.mask_tile(b, h, q0, q1, k0, k1, scores, ld); };
    const RowBlock block{.q = inputs.q.row(b, h, q_begin),
                         .q_stride = d,
                         .rows = q_end - q_begin,
                         .first_query = q_begin,
                         .k = inputs.k.head(b, h),
                         .v = inputs.v.head(b, h),
                         .kv_stride = d,
                         .ranges = local.ranges,
                         .out = out.row(b, h, q_begin),
                         .out_stride = d};
    attend_rows(block, inputs.scale, mask, local.workspace);
  });
}

std::int64_t block_attention_workspace_bytes(std::int64_t head_dim, int threads) {
  // Plus the range list (a few ranges per block) and the per-worker bookkeeping.
  const std::int64_t per_worker = EngineWorkspace::bytes(head_dim) + 1024;
  return per_worker * threads;
}

}  // namespace attn
