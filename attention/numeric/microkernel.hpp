#pragma once

#include <cstdint>

#include <string>
#include <string_view>
#include <vector>

#include "attention/numeric/dtype.hpp"
#include "attention/numeric/kv_quantization.hpp"
#include "attention/numeric/prefetch_stream.hpp"

// The SIMD building blocks of the block engine, one call per tile so that the call overhead is
// amortised over thousands of FMAs. Written once against Google Highway and compiled for every
// x86 target it offers here (AVX-512, AVX2, SSE4 and the scalar fallback; NEON on Arm): the
// process runs the widest one its CPU supports, chosen at startup, so one binary serves every
// x86-64 CPU and the fast path and the portable fallback are the same source. ATTN_KERNEL_PATH
// (one of runnable_paths(), or "auto") forces a path for the whole process: the tests run the
// portable one that way. Exposed for the microbenchmarks and tests; variants use
// block_engine.hpp.
//
// Layouts. A tile of queries is handled transposed: q_t[e * ld_q + r] holds dimension e of
// query r, pre-multiplied by scale·log2(e), zero-padded to `padded_rows` columns. Scores are
// transposed as well, s_t[c * ld_s + r] for key c and query r, so that the softmax runs across
// queries with no horizontal reductions, and each column of the output tile is one query.
namespace attn::kernel {

// The kernel path the engine takes for this dtype in this process, for the `kernel` column:
// the SIMD target running ("avx512", "avx2", "sse4", "neon", "scalar"), and for bf16 the dot
// product of its prefill tiles when it is not the widening one ("avx512+vdpbf16ps",
// "avx2+pairs"; bf16_pairs.hpp). The widening path widens bf16 tiles to fp32 (one VPMOVZXWD and
// a shift per 16 values, 1/64 of a tile's FMAs at head_dim 64) and runs the fp32 kernels.
std::string path_name(Dtype dtype);
// The paths this binary carries that this CPU can run, widest first.
std::vector<std::string> runnable_paths();
// Whether ATTN_KERNEL_PATH chose the path rather than the CPU.
bool path_forced();
// This CPU's bf16 dot product and the path bf16 takes, for `attnbench list`.
std::string cpu_bf16_support();

// SIMD lanes of float in this build (8 with AVX2).
std::int64_t float_lanes();
// Queries are padded to a multiple of this: the score kernel's width in queries.
std::int64_t row_granularity();

// 2^x for x <= 0, in place (the engine's exp: relative error ~2e-7; inputs below -125, masked
// scores among them, give exactly 0).
void exp2_nonpositive(float* x, std::int64_t n);

// q_t[e * ld_q + r] = q[r * q_stride + e] * multiplier for r < rows, 0 for rows <= r <
// padded_rows.
void pack_queries(const float* q, std::int64_t q_stride, std::int64_t rows,
                  std::int64_t padded_rows, std::int64_t head_dim, float multiplier, float* q_t,
                  std::int64_t ld_q);

// The angular-LSH argmax over [p; -p] for each row r < padded_rows (a multiple of
// float_lanes()), with p_j = p_t[j * ld + r], j < half: the j of the largest |p_j| (the first on
// ties), plus `half` when p_j is negative.
void signed_argmax(const float* p_t, std::int64_t ld, std::int64_t half, std::int64_t padded_rows,
                   std::int32_t* best);

// Lines per micro-kernel step that score_tile and accumulate_tile take from a PrefetchStream.
inline constexpr std::int64_t kPrefetchPerStep = 16;
// How many steps score_tile and accumulate_tile take from a PrefetchStream on a tile of this
// size (at least 1), so that a caller can spread a stream evenly over one call.
std::int64_t score_tile_prefetch_steps(std::int64_t padded_rows, std::int64_t cols);
std::int64_t accumulate_tile_prefetch_steps(std::int64_t rows, std::int64_t padded_dim);

// s_t[c * ld_s + r] = Σ_e q_t[e * ld_q + r] · k[c * k_stride + e] for c < cols, r <
// padded_rows (a multiple of row_granularity()). `prefetch`, if given, advances as it runs.
void score_tile(const float* q_t, std::int64_t ld_q, std::int64_t padded_rows, const float* k,
                std::int64_t k_stride, std::int64_t cols, std::int64_t head_dim, float* s_t,
                std::int64_t ld_s, PrefetchStream* prefetch = nullptr);

// The same scores for a few queries (rows <= 8), by dot products rather than the register-blocked
// kernel above, which pads the queries to row_granularity() and would spend most of its FMAs on
// padding in decode (one query per head, a handful per kv group). q holds the queries row-major,
// q[r * q_stride + e], pre-multiplied and zero-padded to a whole number of vectors; only
// s_t[c * ld_s + r] for r < rows is written.
// Decode streams the cache from memory with little arithmetic per byte, so the kernel also
// prefetches, per key c < ahead.rows it scores, row c of ahead.a and of ahead.b (either may be
// null; row stride k_stride): the engine points them at the V rows it reads soon, which keeps
// more misses in flight than the hardware prefetcher alone.
// The rows ahead are of the key's element type (float or bf16).
struct RowsAhead {
  const void* a = nullptr;
  const void* b = nullptr;
  std::int64_t rows = 0;
  std::int64_t head_dim = 0;  // set by the kernel
};
void score_tile_few_rows(const float* q, std::int64_t q_stride, std::int64_t rows, const float* k,
                         std::int64_t k_stride, std::int64_t cols, std::int64_t head_dim,
                         float* s_t, std::int64_t ld_s, RowsAhead ahead = {});
// The same over bf16 keys, widened as they are loaded (decode over a bf16 KV cache reads half the
// bytes and copies nothing).
void score_tile_few_rows(const float* q, std::int64_t q_stride, std::int64_t rows, const bf16* k,
                         std::int64_t k_stride, std::int64_t cols, std::int64_t head_dim,
                         float* s_t, std::int64_t ld_s, RowsAhead ahead = {});
inline constexpr std::int64_t kFewRows = 8;
// The same over a quantized cache's keys (rows <= kFewRows, head_dim a multiple of
// float_lanes()), decoded as they load: each key's dot products are taken with its codes and
// multiplied by its scale once. `ahead`'s rows are rows of codes.
void score_tile_few_rows(const float* q, std::int64_t q_stride, std::int64_t rows,
                         const QuantizedRows& k, std::int64_t cols, std::int64_t head_dim,
                         float* s_t, std::int64_t ld_s, RowsAhead ahead = {});

// One online-softmax step over a scored tile, per query r < padded_rows (a multiple of
// float_lanes()): new max m' = max(m, max_c s), correction[r] = 2^(m - m'), s_t becomes
// P = 2^(s - m'), l = l · correction + Σ_c P. A query with no finite score so far keeps
// m = -inf (its weights are then 0, and an empty row's output is zero).
void softmax_tile(float* s_t, std::int64_t ld_s, std::int64_t cols, std::int64_t padded_rows,
                  float* row_max, float* row_sum, float* correction);

// acc[r * ld_acc + e] = acc · correction[r] + Σ_c p_t[c * ld_s + r] · v[c * v_stride + e] for
// r < rows, e < padded_dim (a multiple of float_lanes(); v rows must be readable that far).
void accumulate_tile(const float* p_t, std::int64_t ld_s, std::int64_t rows, std::int64_t cols,
                     const float* correction, const float* v, std::int64_t v_stride,
                     std::int64_t padded_dim, float* acc, std::int64_t ld_acc,
                     PrefetchStream* prefetch = nullptr, const float* ahead = nullptr);
// Decode over bf16 rows with no shuffles: a 32-bit load of two bf16 values gives the even one by a
// shift and the odd one by a mask, so the queries and the accumulator hold a row's dimensions
// deinterleaved, [0, 2, 4, ... | 1, 3, 5, ...] (the caller packs and unpacks them). rows <=
// kFewRows; head_dim a multiple of pair_granularity(). score_tile_few_rows_pairs writes
// s_t[c * ld_s + r] like score_tile_few_rows; accumulate_tile_few_rows_pairs is accumulate_tile
// for rows <= kFewRows, `ahead` (laid out like v) prefetched row by row.
std::int64_t pair_granularity();
void score_tile_few_rows_pairs(const float* q, std::int64_t q_stride, std::int64_t rows,
                               const bf16* k, std::int64_t k_stride, std::int64_t cols,
                               std::int64_t head_dim, float* s_t, std::int64_t ld_s,
                               RowsAhead ahead = {});
void accumulate_tile_few_rows_pairs(const float* p_t, std::int64_t ld_s, std::int64_t rows,
                                    std::int64_t cols, const float* correction, const bf16* v,
                                    std::int64_t v_stride, std::int64_t head_dim, float* acc,
                                    std::int64_t ld_acc, const bf16* ahead);
// accumulate_tile for rows <= kFewRows over fp32 rows of head_dim (a multiple of float_lanes()),
// key by key: each V row is read whole, once, with the accumulator rows in L1 (decode; passes
// over head_dim strips read every V row once per strip, a stride the prefetchers do not follow).
// `ahead` (laid out like v) is prefetched into L2 row by row.
void accumulate_tile_few_rows(const float* p_t, std::int64_t ld_s, std::int64_t rows,
                              std::int64_t cols, const float* correction, const float* v,
                              std::int64_t v_stride, std::int64_t head_dim, float* acc,
                              std::int64_t ld_acc, const float* ahead);
// The same over bf16 values widened as they are loaded; v rows must be readable to padded_dim
// (the engine passes them so only when head_dim is a whole number of vectors).
void accumulate_tile(const float* p_t, std::int64_t ld_s, std::int64_t rows, std::int64_t cols,
                     const float* correction, const bf16* v, std::int64_t v_stride,
                     std::int64_t padded_dim, float* acc, std::int64_t ld_acc,
                     PrefetchStream* prefetch, const bf16* ahead);
// `ahead`, if given, is an array laid out like v (cols rows of padded_dim floats, row stride
// v_stride) that the kernel prefetches row by row as it reads v: decode's next key tile.

// accumulate_tile over a quantized cache's values for rows <= kFewRows (head_dim a multiple of
// float_lanes()): each key's probabilities are multiplied by its scale, then by its codes.
void accumulate_tile(const float* p_t, std::int64_t ld_s, std::int64_t rows, std::int64_t cols,
                     const float* correction, const QuantizedRows& v, std::int64_t head_dim,
                     float* acc, std::int64_t ld_acc);

// dst[c * ld_dst + e] = src[c * src_stride + e] widened to fp32 for c < rows, e < head_dim, and 0
// for head_dim <= e < padded_dim: one bf16 tile made ready for the fp32 kernels.
// `ahead`, if given, is laid out like src: row c of it is prefetched into L2 as row c is widened
// (decode's next rows, which come from memory).
void widen_bf16_rows(const bf16* src, std::int64_t src_stride, std::int64_t rows,
                     std::int64_t head_dim, std::int64_t padded_dim, float* dst,
                     std::int64_t ld_dst, const bf16* ahead = nullptr);
// Copies and widens `count` bf16 values to fp32 (queries of a bf16 block).
void widen_bf16(const bf16* src, std::int64_t count, float* dst);

// p_t[c * ld_s + r] rounded to the nearest bf16 (ties to even) for c < cols, r < padded_rows (a
// multiple of float_lanes()): the probabilities of a bf16 forward before P·V.
void round_tile_to_bf16(float* p_t, std::int64_t ld_s, std::int64_t cols, std::int64_t padded_rows);

}  // namespace attn::kernel
