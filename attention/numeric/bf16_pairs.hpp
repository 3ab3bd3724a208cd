#pragma once

#include <cstdint>

#include <string_view>

#include "attention/numeric/dtype.hpp"
#include "attention/numeric/prefetch_stream.hpp"

// The bf16 prefill kernels in the layout of the bf16 dot-product instruction (VDPBF16PS): each
// 32-bit lane holds two bf16 values, the even-indexed one in its low half, and one instruction
// adds both lanes' products to an fp32 accumulator. Q·Kᵀ pairs along head_dim (the queries packed
// as pairs, each key's pairs broadcast straight from the bf16 cache, never widened); P·V pairs
// along the keys (P rounded to bf16 and packed, a tile of V interleaved key with key).
//
// Where the CPU's bf16 dot product runs at least at its FP32 FMA rate (AMD Zen 4 and Zen 5: two
// 512-bit pipes, 32 bf16 products per instruction) the AVX-512 path issues VDPBF16PS and does
// twice the FP32 kernels' work per instruction. Elsewhere the same kernels run with each pair
// split into two fp32 values and two FMAs, in the instruction's order (odd products first, each
// product exact): bit for bit the instruction's arithmetic (denormals apart, which it flushes),
// so that the layouts, packings and edges are tested on every CPU. Compiled per SIMD target and
// dispatched like microkernel.hpp.
namespace attn::kernel {

// How the bf16 forward takes its dot products.
enum class Bf16Dot {
  kWidening,   // bf16 tiles widened to fp32, the fp32 kernels (microkernel.hpp)
  kPairs,      // the pair kernels below, each pair split into two FMAs
  kVdpbf16ps,  // the pair kernels with VDPBF16PS (the AVX-512 path on a CPU with AVX512_BF16)
  kAmx         // the same packings on AMX-BF16 tiles (amx_tiles.hpp; head_dim a multiple of 32,
               // other head dims on VDPBF16PS)
};

// The choice for this process: kAmx on the AVX-512 path of a CPU with AMX-BF16 that the
// operating system lets use it (Intel Sapphire Rapids and later: 16x the FP32 FMA rate), else
// kVdpbf16ps where the bf16 dot product runs at twice the FP32 FMA rate (AMD with AVX512_BF16:
// Zen 4, Zen 5), kWidening elsewhere (Intel's VDPBF16PS issues at half the FMA rate;
// docs/precision.md). ATTN_BF16_DOT=widening|pairs|vdpbf16ps|amx (or auto) forces one, read
// before main; a value this CPU cannot run stops the process with a message naming the allowed
// ones.
Bf16Dot bf16_dot();
std::string_view bf16_dot_name(Bf16Dot dot);
// Whether this process can run `dot` (vdpbf16ps: the AVX-512 path and AVX512_BF16; amx: the
// AVX-512 path and amx_usable()).
bool can_run(Bf16Dot dot);

// q2[(e / 2) * ld_q + r] = the bf16 pair (q[r][e], q[r][e + 1]) for r < rows, 0 for rows <= r <
// padded_rows; head_dim even, q rows holding bf16 values exactly (widened bf16 queries).
void pack_query_pairs(const float* q, std::int64_t q_stride, std::int64_t rows,
                      std::int64_t padded_rows, std::int64_t head_dim, std::uint32_t* q2,
                      std::int64_t ld_q);

// s_t[c * ld_s + r] = multiplier · Σ_e q[r][e] · k[c * k_stride + e] for c < cols, r <
// padded_rows (a multiple of row_granularity()), over the packed queries above and bf16 keys.
// `prefetch`, if given, advances as it runs (kPrefetchPerStep lines per step).
void score_tile_pairs(const std::uint32_t* q2, std::int64_t ld_q, std::int64_t padded_rows,
                      const bf16* k, std::int64_t k_stride, std::int64_t cols,
                      std::int64_t head_dim, float multiplier, float* s_t, std::int64_t ld_s,
                      Bf16Dot dot, PrefetchStream* prefetch = nullptr);

// p2[(c / 2) * ld_p + r] = the bf16 pair (p_t[c][r], p_t[c + 1][r]), each rounded to the nearest
// bf16 (ties to even), a key past `cols` as 0, for r < padded_rows (a multiple of float_lanes()).
void pack_probability_pairs(const float* p_t, std::int64_t ld_s, std::int64_t cols,
                            std::int64_t padded_rows, std::uint32_t* p2, std::int64_t ld_p);

// v2[(c / 2) * ld_v + e] = the bf16 pair (v[c][e], v[c + 1][e]) for e < head_dim (a multiple of
// float_lanes()), a key past `cols` as 0.
void interleave_key_pairs(const bf16* v, std::int64_t v_stride, std::int64_t cols,
                          std::int64_t head_dim, std::uint32_t* v2, std::int64_t ld_v);

// acc[r * ld_acc + e] = acc · correction[r] + Σ_c P[r][c] · V[c][e] for r < rows, e < head_dim
// (a multiple of float_lanes()), over the pairs of the two packings above (cols keys).
void accumulate_tile_pairs(const std::uint32_t* p2, std::int64_t ld_p, std::int64_t rows,
                           std::int64_t cols, const float* correction, const std::uint32_t* v2,
                           std::int64_t ld_v, std::int64_t head_dim, float* acc,
                           std::int64_t ld_acc, Bf16Dot dot, PrefetchStream* prefetch = nullptr);

}  // namespace attn::kernel
