#pragma once

#include <cstdint>

#include "attention/numeric/dtype.hpp"

// The bf16 prefill tiles on Intel's AMX-BF16 matrix unit (Sapphire Rapids and later): eight tile
// registers of 16 rows × 64 bytes, and TDPBF16PS, which multiplies a 16 × 32 bf16 tile by a 32 ×
// 16 one (pairs along the shared dimension, VDPBF16PS's layout) into 16 × 16 fp32 sums, 16 K
// multiply-adds per instruction against AVX-512's 32. The operands are the bf16 pair packings of
// bf16_pairs.hpp: Q·Kᵀ takes the keys straight from the cache as the row operand and the packed
// query pairs as the column operand; P·V takes the packed value pairs as the column operand and P
// in rows, which it transposes from the probability pairs. Softmax stays fp32 (microkernel.hpp).
//
// Compiled for every x86-64 CPU, run only where amx_usable() (checked by bf16_dot()).
namespace attn::kernel {

// Whether this process can issue AMX-BF16: the CPU reports AMX-TILE and AMX-BF16 and the
// operating system grants the tile data state (on Linux, asked for once with arch_prctl).
bool amx_usable();

// Sets this thread's eight tile registers to the shape every kernel here uses: 16 rows of 64
// bytes (16 fp32 sums, 32 bf16 or 16 bf16 pairs per row). Only where amx_usable().
void configure_amx_tiles();

// Whether the tiles take this head_dim: whole 32-dimension steps of the shared dimension, and
// at most kAmxMaxHeadDim (the scratch of a partial value tile).
inline constexpr std::int64_t kAmxMaxHeadDim = 256;
inline bool amx_fits(std::int64_t head_dim) {
  return head_dim % 32 == 0 && head_dim <= kAmxMaxHeadDim;
}

// score_tile_pairs (bf16_pairs.hpp) for the first `cols` rounded down to 16 keys, which it
// returns; padded_rows a multiple of 16, amx_fits(head_dim). The caller scores the rest.
std::int64_t score_tile_amx(const std::uint32_t* q2, std::int64_t ld_q, std::int64_t padded_rows,
                            const bf16* k, std::int64_t k_stride, std::int64_t cols,
                            std::int64_t head_dim, float multiplier, float* s_t, std::int64_t ld_s);

// accumulate_tile_pairs (bf16_pairs.hpp) on the tiles, amx_fits(head_dim): p2 holds the columns
// of at least `rows` queries; rows of v2 past the `cols` keys are never read.
void accumulate_tile_amx(const std::uint32_t* p2, std::int64_t ld_p, std::int64_t rows,
                         std::int64_t cols, const float* correction, const std::uint32_t* v2,
                         std::int64_t ld_v, std::int64_t head_dim, float* acc, std::int64_t ld_acc);

}  // namespace attn::kernel
