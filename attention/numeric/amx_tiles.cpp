#include "attention/numeric/amx_tiles.hpp"

#include <algorithm>
#include <cassert>
#include <cstdlib>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
// GCC 12 reports the undefined operand inside its own AVX-512 intrinsics (unpack, shuffle) as
// maybe uninitialised once they inline here: a false positive in its header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define ATTN_HAS_AMX 1
#endif

namespace attn::kernel {

#if ATTN_HAS_AMX

// Each function that touches the tiles or AVX-512 carries the target itself, so nothing else in
// this file (or anything it includes) is compiled for a CPU the process may not have.
#define ATTN_AMX_TARGET \
  __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq")))

namespace {

// Linux keeps a process's AMX tile data out of its saved state until asked (arch_prctl).
constexpr int kArchRequestXcompPerm = 0x1023;
constexpr int kXfeatureXtiledata = 18;

// The tile registers' shapes: every tile 16 rows of 64 bytes (16 fp32 sums per row, or 32 bf16,
// or 16 bf16 pairs).
struct alignas(64) TileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t bytes_per_row[16] = {};
  std::uint8_t rows[16] = {};
};
constexpr int kTileRows = 16;
constexpr int kTileBytes = 64;

// Tile registers are named by number (the intrinsics paste them into the instruction): sums 0-3
// (two row tiles × two column tiles), row operands 4 and 5, column operands 6 and 7.

// One block of scores: KeyTiles × RowTiles tiles of 16 keys × 16 queries, over head_dim in steps
// of 32 (A: 16 keys' rows from the cache, B: 16 pairs of dimensions × 16 queries).
template <int KeyTiles, int RowTiles>
ATTN_AMX_TARGET inline void score_block(const std::uint32_t* q2, std::int64_t ld_q, const bf16* k,
                                        std::int64_t k_stride, std::int64_t head_dim, float* s,
                                        std::int64_t ld_s) {
  const std::int64_t k_bytes = k_stride * 2, q_bytes = ld_q * 4, s_bytes = ld_s * 4;
  _tile_zero(0);
  if constexpr (RowTiles == 2) _tile_zero(1);
  if constexpr (KeyTiles == 2) _tile_zero(2);
  if constexpr (KeyTiles == 2 && RowTiles == 2) _tile_zero(3);
  for (std::int64_t e = 0; e < head_dim; e += 32) {
    _tile_loadd(4, k + e, k_bytes);
    if constexpr (KeyTiles == 2) _tile_loadd(5, k + kTileRows * k_stride + e, k_bytes);
    _tile_loadd(6, q2 + (e / 2) * ld_q, q_bytes);
    if constexpr (RowTiles == 2) _tile_loadd(7, q2 + (e / 2) * ld_q + 16, q_bytes);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (RowTiles == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (KeyTiles == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (KeyTiles == 2 && RowTiles == 2) _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, s, s_bytes);
  if constexpr (RowTiles == 2) _tile_stored(1, s + 16, s_bytes);
  if constexpr (KeyTiles == 2) _tile_stored(2, s + kTileRows * ld_s, s_bytes);
  if constexpr (KeyTiles == 2 && RowTiles == 2) _tile_stored(3, s + kTileRows * ld_s + 16, s_bytes);
}

// KeyTiles × 16 keys against every query, 32 queries (two tiles) at a time.
template <int KeyTiles>
ATTN_AMX_TARGET inline void score_keys(const std::uint32_t* q2, std::int64_t ld_q,
                                       std::int64_t padded_rows, const bf16* k,
                                       std::int64_t k_stride, std::int64_t head_dim, float* s,
                                       std::int64_t ld_s) {
  std::int64_t r = 0;
  for (; r + 32 <= padded_rows; r += 32)
    score_block<KeyTiles, 2>(q2 + r, ld_q, k, k_stride, head_dim, s + r, ld_s);
  if (r < padded_rows) score_block<KeyTiles, 1>(q2 + r, ld_q, k, k_stride, head_dim, s + r, ld_s);
}

// One block of P·V sums for RowTiles × 2 tiles of 16 queries × 16 dimensions over `groups` steps
// of 32 keys: A from p_rows (a query's P as bf16 pairs along the keys, row stride 64 pairs), B
// from the value pairs (the last step from `v_last`, a zero-padded copy, when the keys end
// inside it). The sums go to c (32 × 32 floats).
template <int RowTiles>
ATTN_AMX_TARGET inline void value_block(const std::uint32_t* p_rows, std::int64_t groups,
                                        const std::uint32_t* v2, std::int64_t ld_v,
                                        const std::uint32_t* v_last, std::int64_t ld_last,
                                        float* c) {
  constexpr std::int64_t p_bytes = 64 * 4, c_bytes = 32 * 4;
  _tile_zero(0);
  _tile_zero(1);
  if constexpr (RowTiles == 2) {
    _tile_zero(2);
    _tile_zero(3);
  }
  for (std::int64_t g = 0; g < groups; ++g) {
    const bool last = v_last != nullptr && g + 1 == groups;
    const std::uint32_t* b = last ? v_last : v2 + g * 16 * ld_v;
    const std::int64_t b_bytes = (last ? ld_last : ld_v) * 4;
    _tile_loadd(4, p_rows + g * 16, p_bytes);
    if constexpr (RowTiles == 2) _tile_loadd(5, p_rows + kTileRows * 64 + g * 16, p_bytes);
    _tile_loadd(6, b, b_bytes);
    _tile_loadd(7, b + 16, b_bytes);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    if constexpr (RowTiles == 2) {
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, c, c_bytes);
  _tile_stored(1, c + 16, c_bytes);
  if constexpr (RowTiles == 2) {
    _tile_stored(2, c + kTileRows * 32, c_bytes);
    _tile_stored(3, c + kTileRows * 32 + 16, c_bytes);
  }
}

// block[i][j] becomes block[j][i] for a 16 × 16 block of 32-bit values: 32-bit and 64-bit
// interleaves within 128-bit lanes, then a 4 × 4 transpose of the lanes.
ATTN_AMX_TARGET inline void transpose_16x16(__m512i block[16]) {
  __m512i t[16];
  for (int k = 0; k < 8; ++k) {
    t[2 * k] = _mm512_unpacklo_epi32(block[2 * k], block[2 * k + 1]);
    t[2 * k + 1] = _mm512_unpackhi_epi32(block[2 * k], block[2 * k + 1]);
  }
  // u[4k + m], lane L: column 4L + m of rows 4k..4k+3.
  __m512i u[16];
  for (int k = 0; k < 4; ++k) {
    u[4 * k] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
    u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
    u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
    u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
  }
  for (int m = 0; m < 4; ++m) {
    const __m512i low_a = _mm512_shuffle_i32x4(u[m], u[4 + m], 0x44);
    const __m512i high_a = _mm512_shuffle_i32x4(u[m], u[4 + m], 0xEE);
    const __m512i low_b = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0x44);
    const __m512i high_b = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0xEE);
    block[m] = _mm512_shuffle_i32x4(low_a, low_b, 0x88);
    block[4 + m] = _mm512_shuffle_i32x4(low_a, low_b, 0xDD);
    block[8 + m] = _mm512_shuffle_i32x4(high_a, high_b, 0x88);
    block[12 + m] = _mm512_shuffle_i32x4(high_a, high_b, 0xDD);
  }
}

}  // namespace

// Loaded on every call of the kernels below (cheap against a call's tile work): a thread's
// configuration does not survive everything the process runs (a thread-local "configured" flag
// hit SIGILL in the test binary, with the LDTILECFG below too). LDTILECFG is written here rather
// than through GCC 12's _tile_loadconfig, whose asm declares only 8 of the 64 bytes as read: the
// compiler then drops the stores of the tile shapes as dead, and the tiles end up unconfigured
// (SIGILL on the first tile instruction) or invalid (a fault in LDTILECFG), depending on what the
// stack held.
ATTN_AMX_TARGET void configure_amx_tiles() {
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.bytes_per_row[t] = kTileBytes;
    config.rows[t] = kTileRows;
  }
  asm volatile("ldtilecfg %0" : : "m"(config));
}

bool amx_usable() {
  static const bool usable = [] {
    // CPUID leaf 7: EDX bit 22 AMX-BF16, bit 24 AMX-TILE (read directly: not every compiler's
    // __builtin_cpu_supports knows them).
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    if ((edx >> 22 & 1u) == 0 || (edx >> 24 & 1u) == 0) return false;
    return syscall(SYS_arch_prctl, kArchRequestXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return usable;
}

ATTN_AMX_TARGET std::int64_t score_tile_amx(const std::uint32_t* q2, std::int64_t ld_q,
                                            std::int64_t padded_rows, const bf16* k,
                                            std::int64_t k_stride, std::int64_t cols,
                                            std::int64_t head_dim, float multiplier, float* s_t,
                                            std::int64_t ld_s) {
  assert(padded_rows % 16 == 0 && amx_fits(head_dim));
  configure_amx_tiles();
  const std::int64_t whole = cols / kTileRows * kTileRows;
  std::int64_t c = 0;
  for (; c + 2 * kTileRows <= whole; c += 2 * kTileRows)
    score_keys<2>(q2, ld_q, padded_rows, k + c * k_stride, k_stride, head_dim, s_t + c * ld_s,
                  ld_s);
  if (c < whole)
    score_keys<1>(q2, ld_q, padded_rows, k + c * k_stride, k_stride, head_dim, s_t + c * ld_s,
                  ld_s);
  // The tiles sum the products; the scale·log2(e) multiplier is applied once per score.
  const __m512 m = _mm512_set1_ps(multiplier);
  for (std::int64_t key = 0; key < whole; ++key)
    for (std::int64_t r = 0; r < padded_rows; r += 16) {
      float* s = s_t + key * ld_s + r;
      _mm512_storeu_ps(s, _mm512_mul_ps(_mm512_loadu_ps(s), m));
    }
  return whole;
}

ATTN_AMX_TARGET void accumulate_tile_amx(const std::uint32_t* p2, std::int64_t ld_p,
                                         std::int64_t rows, std::int64_t cols,
                                         const float* correction, const std::uint32_t* v2,
                                         std::int64_t ld_v, std::int64_t head_dim, float* acc,
                                         std::int64_t ld_acc) {
  assert(amx_fits(head_dim));
  configure_amx_tiles();
  // Keys are taken 128 at a time (64 pairs, four steps of the tiles), queries 32 at a time.
  constexpr std::int64_t kChunkPairs = 64;
  alignas(64) std::uint32_t p_rows[32 * kChunkPairs];
  alignas(64) std::uint32_t v_last[16 * kAmxMaxHeadDim];
  alignas(64) float sums[32 * 32];
  const std::int64_t pairs = (cols + 1) / 2;
  for (std::int64_t chunk = 0; chunk < pairs; chunk += kChunkPairs) {
    const std::int64_t chunk_pairs = std::min(kChunkPairs, pairs - chunk);
    const std::int64_t groups = (chunk_pairs + 15) / 16;
    const std::uint32_t* values = v2 + chunk * ld_v;
    // A step that runs past the last key reads its value pairs from a zero-padded copy.
    const std::int64_t tail = chunk_pairs % 16;
    const std::uint32_t* last = nullptr;
    if (tail != 0) {
      const std::uint32_t* from = values + (groups - 1) * 16 * ld_v;
      for (std::int64_t j = 0; j < 16; ++j)
        for (std::int64_t e = 0; e < head_dim; e += 16)
          _mm512_store_si512(
              v_last + j * head_dim + e,
              j < tail ? _mm512_loadu_si512(from + j * ld_v + e) : _mm512_setzero_si512());
      last = v_last;
    }
    for (std::int64_t r0 = 0; r0 < rows; r0 += 32) {
      const std::int64_t block_rows = std::min<std::int64_t>(32, rows - r0);
      const int row_tiles = block_rows > 16 ? 2 : 1;
      // P in rows: p_rows[r][j] = p2[(chunk + j) * ld_p + r0 + r], 16 × 16 blocks transposed in
      // registers; pairs past the keys, and queries past `rows`, are zero.
      for (std::int64_t rb = 0; rb < row_tiles * 16; rb += 16)
        for (std::int64_t g = 0; g < groups; ++g) {
          const std::int64_t live_pairs = std::min<std::int64_t>(16, chunk_pairs - g * 16);
          const std::int64_t live_rows = std::clamp<std::int64_t>(block_rows - rb, 0, 16);
          const __mmask16 columns = static_cast<__mmask16>((1u << live_rows) - 1u);
          const std::uint32_t* from = p2 + (chunk + g * 16) * ld_p + r0 + rb;
          __m512i block[16];
          for (std::int64_t j = 0; j < 16; ++j)
            block[j] = j < live_pairs ? _mm512_maskz_loadu_epi32(columns, from + j * ld_p)
                                      : _mm512_setzero_si512();
          transpose_16x16(block);
          for (std::int64_t r = 0; r < 16; ++r)
            _mm512_store_si512(p_rows + (rb + r) * kChunkPairs + g * 16, block[r]);
        }
      for (std::int64_t e0 = 0; e0 < head_dim; e0 += 32) {
        if (row_tiles == 2)
          value_block<2>(p_rows, groups, values + e0, ld_v, last ? last + e0 : nullptr, head_dim,
                         sums);
        else
          value_block<1>(p_rows, groups, values + e0, ld_v, last ? last + e0 : nullptr, head_dim,
                         sums);
        for (std::int64_t r = 0; r < block_rows; ++r) {
          float* a = acc + (r0 + r) * ld_acc + e0;
          const __m512 scale = _mm512_set1_ps(chunk == 0 ? correction[r0 + r] : 1.0f);
          for (int h = 0; h < 32; h += 16)
            _mm512_storeu_ps(a + h, _mm512_fmadd_ps(_mm512_loadu_ps(a + h), scale,
                                                    _mm512_load_ps(sums + r * 32 + h)));
        }
      }
    }
  }
}

#else  // no AMX in this build

bool amx_usable() { return false; }

void configure_amx_tiles() { std::abort(); }

std::int64_t score_tile_amx(const std::uint32_t*, std::int64_t, std::int64_t, const bf16*,
                            std::int64_t, std::int64_t, std::int64_t, float, float*, std::int64_t) {
  std::abort();
}

void accumulate_tile_amx(const std::uint32_t*, std::int64_t, std::int64_t, std::int64_t,
                         const float*, const std::uint32_t*, std::int64_t, std::int64_t, float*,
                         std::int64_t) {
  std::abort();
}

#endif

}  // namespace attn::kernel
