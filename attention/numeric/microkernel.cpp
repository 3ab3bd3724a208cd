#include "attention/numeric/microkernel.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "attention/numeric/bf16_pairs.hpp"
#include "attention/numeric/kv_quantization.hpp"

// Every kernel is compiled once per SIMD target and the target is chosen when the process starts,
// by what the CPU does (or by ATTN_KERNEL_PATH): one binary runs the widest path of whichever
// x86-64 CPU it lands on, and a test can force the portable one (runnable_paths()).
#include "attention/numeric/kernel_targets.hpp"  // before foreach_target.h
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention/numeric/microkernel.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include "attention/numeric/kernel_basics-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace attn::kernel::HWY_NAMESPACE {
namespace {

using IntTag = hn::RebindToSigned<FloatTag>;

constexpr int kScoreKeys = kBlocking;   // keys per score micro-kernel call
constexpr int kScoreVecs = kBlockVecs;  // query vectors per score micro-kernel call
constexpr int kValueRows = kBlocking;   // queries per accumulate micro-kernel call
constexpr int kValueVecs = kBlockVecs;  // head_dim vectors per accumulate micro-kernel call

// Below this, 2^x is taken as exactly 0. (A floor of 2^-125 alone kept masked weights normal,
// but their products with V were denormal, and on Intel cores every FMA with a denormal result
// takes a microcode assist: sliding_window's fully masked edge tiles ran 3x slower.)
constexpr float kExp2Floor = -125.0f;

// 2^x for x <= 0: x = n + f with |f| <= 1/2, 2^f by a degree-6 polynomial (Cephes exp2f), 2^n
// added to the exponent bits. Adding 1.5·2^23 rounds x to the integer n and leaves n in the
// low mantissa bits, which saves the round/convert instructions.
HWY_INLINE Vec exp2_vec(Vec x) {
  const FloatTag df;
  const IntTag di;
  const Vec shifter = hn::Set(df, 12582912.0f);  // 1.5 · 2^23
  const auto negligible = hn::Lt(x, hn::Set(df, kExp2Floor));
  x = hn::Max(x, hn::Set(df, kExp2Floor));
  const Vec shifted = hn::Add(x, shifter);
  const Vec f = hn::Sub(x, hn::Sub(shifted, shifter));
  Vec p = hn::Set(df, 1.535336188319500e-4f);
  p = hn::MulAdd(p, f, hn::Set(df, 1.339887440266574e-3f));
  p = hn::MulAdd(p, f, hn::Set(df, 9.618437357674640e-3f));
  p = hn::MulAdd(p, f, hn::Set(df, 5.550332471162809e-2f));
  p = hn::MulAdd(p, f, hn::Set(df, 2.402264791363012e-1f));
  p = hn::MulAdd(p, f, hn::Set(df, 6.931472028550421e-1f));
  p = hn::MulAdd(p, f, hn::Set(df, 1.0f));
  const auto exponent = hn::ShiftLeft<23>(hn::BitCast(di, shifted));
  return hn::IfThenZeroElse(negligible, hn::BitCast(df, hn::Add(hn::BitCast(di, p), exponent)));
}

// A row segment of kLanes values (or the first n of them) as fp32: bf16 widens on the load, so
// a bf16 cache is read at half the bytes with no scratch copy.
HWY_INLINE Vec load_row(const float* p) { return hn::LoadU(FloatTag(), p); }
HWY_INLINE Vec load_row(const bf16* p) {
  const hn::RebindToUnsigned<FloatTag> du32;
  const hn::Rebind<std::uint16_t, FloatTag> du16;
  const auto wide = hn::ShiftLeft<16>(
      hn::PromoteTo(du32, hn::LoadU(du16, reinterpret_cast<const std::uint16_t*>(p))));
  return hn::BitCast(FloatTag(), wide);
}
// A quantized cache's codes, loaded as the values they stand for before the scale (which the
// callers apply once per key): int8 as integers, fp8 E4M3 exactly (its magnitude bits moved
// into a float's exponent and mantissa are the value times 2^-120).
struct Int8Code {
  std::int8_t bits;
};
struct Fp8Code {
  std::uint8_t bits;
};
template <class T>
inline constexpr bool kIsCode = std::is_same_v<T, Int8Code> || std::is_same_v<T, Fp8Code>;

HWY_INLINE Vec load_row(const Int8Code* p) {
  const FloatTag df;
  const hn::RebindToSigned<FloatTag> di32;
  const hn::Rebind<std::int8_t, FloatTag> di8;
  return hn::ConvertTo(df, hn::PromoteTo(di32, hn::LoadU(di8, &p->bits)));
}
HWY_INLINE Vec load_row(const Fp8Code* p) {
  const FloatTag df;
  const hn::RebindToUnsigned<FloatTag> du32;
  const hn::Rebind<std::uint8_t, FloatTag> du8;
  const auto bits = hn::PromoteTo(du32, hn::LoadU(du8, &p->bits));
  const auto magnitude = hn::ShiftLeft<20>(hn::And(bits, hn::Set(du32, 0x7Fu)));
  const auto sign = hn::ShiftLeft<24>(hn::And(bits, hn::Set(du32, 0x80u)));
  return hn::Mul(hn::BitCast(df, hn::Or(magnitude, sign)), hn::Set(df, 0x1p120f));
}
template <class T>
requires kIsCode<T> HWY_INLINE Vec load_row_first(const T* p, std::size_t n) {
  T padded[HWY_LANES(float)] = {};
  std::memcpy(padded, p, n);
  return load_row(padded);
}

// Highway's MaskedLoad is a true masked load (no alignment, nothing read past n) only for 32-bit
// lanes on AVX2 and for every lane on AVX-512; elsewhere it loads a whole aligned vector and
// blends, so the other paths copy the n values first.
HWY_INLINE Vec load_row_first(const float* p, std::size_t n) {
  const FloatTag df;
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  return hn::MaskedLoad(hn::FirstN(df, n), df, p);
#else
  HWY_ALIGN float padded[HWY_LANES(float)] = {};
  std::memcpy(padded, p, n * sizeof(float));
  return hn::Load(df, padded);
#endif
}
HWY_INLINE Vec load_row_first(const bf16* p, std::size_t n) {
  bf16 padded[HWY_LANES(float)] = {};
  std::memcpy(padded, p, n * sizeof(bf16));
  return load_row(padded);
}

template <int Keys, int Vecs>
HWY_INLINE void score_micro(const float* HWY_RESTRICT q_t, std::int64_t ld_q,
                            const float* HWY_RESTRICT k, std::int64_t k_stride,
                            std::int64_t head_dim, float* HWY_RESTRICT s_t, std::int64_t ld_s) {
  const FloatTag df;
  Vec acc[Keys][Vecs];
  for (int i = 0; i < Keys; ++i)
    for (int j = 0; j < Vecs; ++j) acc[i][j] = hn::Zero(df);
  for (std::int64_t e = 0; e < head_dim; ++e) {
    Vec q[Vecs];
    for (int j = 0; j < Vecs; ++j) q[j] = hn::Load(df, q_t + e * ld_q + j * kLanes);
    for (int i = 0; i < Keys; ++i) {
      const Vec key = hn::Set(df, k[i * k_stride + e]);
      for (int j = 0; j < Vecs; ++j) acc[i][j] = hn::MulAdd(key, q[j], acc[i][j]);
    }
  }
  for (int i = 0; i < Keys; ++i)
    for (int j = 0; j < Vecs; ++j) hn::Store(acc[i][j], df, s_t + i * ld_s + j * kLanes);
}

template <int Vecs>
HWY_INLINE void score_strip(const float* q_t, std::int64_t ld_q, const float* k,
                            std::int64_t k_stride, std::int64_t cols, std::int64_t head_dim,
                            float* s_t, std::int64_t ld_s, PrefetchStream* prefetch) {
  std::int64_t c = 0;
  for (; c + kScoreKeys <= cols; c += kScoreKeys) {
    score_micro<kScoreKeys, Vecs>(q_t, ld_q, k + c * k_stride, k_stride, head_dim, s_t + c * ld_s,
                                  ld_s);
    if (prefetch) prefetch->issue(kPrefetchPerStep);
  }
  const float* kc = k + c * k_stride;
  float* sc = s_t + c * ld_s;
  with_count<kScoreKeys - 1>(cols - c, [&](auto keys) {
    score_micro<keys(), Vecs>(q_t, ld_q, kc, k_stride, head_dim, sc, ld_s);
  });
}

// The scale of key k of a quantized tile: per row (int8) or one for the head (fp8).
struct KeyScales {
  const float* rows = nullptr;
  float head = 1.0f;
  float operator[](std::int64_t k) const { return rows ? rows[k] : head; }
};

template <int Rows, int Vecs, class T>
HWY_INLINE void value_micro(const float* HWY_RESTRICT p_t, std::int64_t ld_s, std::int64_t cols,
                            const float* HWY_RESTRICT correction, const T* HWY_RESTRICT v,
                            std::int64_t v_stride, float* HWY_RESTRICT acc, std::int64_t ld_acc,
                            const T* ahead, KeyScales scales = {}) {
  const FloatTag df;
  Vec o[Rows][Vecs];
  for (int r = 0; r < Rows; ++r) {
    const Vec c = hn::Set(df, correction[r]);
    for (int j = 0; j < Vecs; ++j)
      o[r][j] = hn::Mul(hn::Load(df, acc + r * ld_acc + j * kLanes), c);
  }
  for (std::int64_t k = 0; k < cols; ++k) {
    if (ahead)
      for (int j = 0; j < Vecs; ++j) __builtin_prefetch(ahead + k * v_stride + j * kLanes, 0, 2);
    Vec value[Vecs];
    for (int j = 0; j < Vecs; ++j) value[j] = load_row(v + k * v_stride + j * kLanes);
    float scale = 1.0f;
    if constexpr (kIsCode<T>) scale = scales[k];  // P·(s·codes) as (P·s)·codes
    for (int r = 0; r < Rows; ++r) {
      const Vec p = hn::Set(df, kIsCode<T> ? p_t[k * ld_s + r] * scale : p_t[k * ld_s + r]);
      for (int j = 0; j < Vecs; ++j) o[r][j] = hn::MulAdd(p, value[j], o[r][j]);
    }
  }
  for (int r = 0; r < Rows; ++r)
    for (int j = 0; j < Vecs; ++j) hn::Store(o[r][j], df, acc + r * ld_acc + j * kLanes);
}

template <int Rows, class T>
HWY_INLINE void value_rows(const float* p_t, std::int64_t ld_s, std::int64_t cols,
                           const float* correction, const T* v, std::int64_t v_stride,
                           std::int64_t padded_dim, float* acc, std::int64_t ld_acc,
                           PrefetchStream* prefetch, const T* ahead, KeyScales scales = {}) {
  std::int64_t e = 0;
  for (; e + kValueVecs * kLanes <= padded_dim; e += kValueVecs * kLanes) {
    value_micro<Rows, kValueVecs>(p_t, ld_s, cols, correction, v + e, v_stride, acc + e, ld_acc,
                                  ahead ? ahead + e : nullptr, scales);
    if (prefetch) prefetch->issue(kPrefetchPerStep);
  }
  for (; e < padded_dim; e += kLanes)
    value_micro<Rows, 1>(p_t, ld_s, cols, correction, v + e, v_stride, acc + e, ld_acc,
                         ahead ? ahead + e : nullptr, scales);
}

// The 64-byte lines of the `bytes` at p, into L2 (kToL1: into L1): a row read soon.
template <bool kToL1 = false>
HWY_INLINE void prefetch_row(const void* p, std::int64_t bytes) {
  const char* line = static_cast<const char*>(p);
  for (std::int64_t offset = 0; offset < bytes; offset += 64)
    __builtin_prefetch(line + offset, 0, kToL1 ? 3 : 2);
}

// acc[r * ld_acc + e] *= correction[r] for r < rows, e < dim (a multiple of kLanes): the online
// softmax's rescaling, once per tile, for the kernels that then accumulate in memory or by chunks.
HWY_INLINE void scale_rows(float* acc, std::int64_t ld_acc, std::int64_t rows, std::int64_t dim,
                           const float* correction) {
  const FloatTag df;
  for (std::int64_t r = 0; r < rows; ++r) {
    const Vec c = hn::Set(df, correction[r]);
    for (std::int64_t e = 0; e < dim; e += kLanes)
      hn::StoreU(hn::Mul(hn::LoadU(df, acc + r * ld_acc + e), c), df, acc + r * ld_acc + e);
  }
}

// Row `row` of ahead.a and of ahead.b (those given) into L2.
HWY_INLINE void prefetch_ahead(const RowsAhead& ahead, std::int64_t row, std::int64_t stride,
                               std::int64_t bytes) {
  if (row >= ahead.rows) return;
  const std::int64_t element = bytes / std::max<std::int64_t>(1, ahead.head_dim);
  if (ahead.a) prefetch_row(static_cast<const char*>(ahead.a) + row * stride * element, bytes);
  if (ahead.b) prefetch_row(static_cast<const char*>(ahead.b) + row * stride * element, bytes);
}

// Dot products of Rows queries with one key, two keys at a time for independent chains.

template <int Rows, class T>
HWY_INLINE void score_few_micro(const float* HWY_RESTRICT q, std::int64_t q_stride,
                                const T* HWY_RESTRICT k, std::int64_t k_stride, std::int64_t cols,
                                std::int64_t head_dim, float* HWY_RESTRICT s_t, std::int64_t ld_s,
                                const RowsAhead& ahead) {
  const std::int64_t row_bytes = head_dim * static_cast<std::int64_t>(sizeof(T));
  const FloatTag df;
  const std::int64_t full = head_dim / kLanes * kLanes;
  const auto tail = static_cast<std::size_t>(head_dim - full);
  std::int64_t c = 0;
  for (; c + 2 <= cols; c += 2) {
    prefetch_ahead(ahead, c, k_stride, row_bytes);
    prefetch_ahead(ahead, c + 1, k_stride, row_bytes);
    const T* k0 = k + c * k_stride;
    const T* k1 = k0 + k_stride;
    Vec a0[Rows], a1[Rows];
    for (int r = 0; r < Rows; ++r) a0[r] = a1[r] = hn::Zero(df);
    std::int64_t e = 0;
    for (; e < full; e += kLanes) {
      const Vec x0 = load_row(k0 + e), x1 = load_row(k1 + e);
      for (int r = 0; r < Rows; ++r) {
        const Vec qr = hn::Load(df, q + r * q_stride + e);
        a0[r] = hn::MulAdd(qr, x0, a0[r]);
        a1[r] = hn::MulAdd(qr, x1, a1[r]);
      }
    }
    if (e < head_dim) {
      const Vec x0 = load_row_first(k0 + e, tail), x1 = load_row_first(k1 + e, tail);
      for (int r = 0; r < Rows; ++r) {
        const Vec qr = hn::Load(df, q + r * q_stride + e);
        a0[r] = hn::MulAdd(qr, x0, a0[r]);
        a1[r] = hn::MulAdd(qr, x1, a1[r]);
      }
    }
    for (int r = 0; r < Rows; ++r) {
      s_t[c * ld_s + r] = hn::GetLane(hn::SumOfLanes(df, a0[r]));
      s_t[(c + 1) * ld_s + r] = hn::GetLane(hn::SumOfLanes(df, a1[r]));
    }
  }
  if (c < cols) {
    prefetch_ahead(ahead, c, k_stride, row_bytes);
    const T* k0 = k + c * k_stride;
    Vec a0[Rows];
    for (int r = 0; r < Rows; ++r) a0[r] = hn::Zero(df);
    std::int64_t e = 0;
    for (; e < full; e += kLanes) {
      const Vec x0 = load_row(k0 + e);
      for (int r = 0; r < Rows; ++r)
        a0[r] = hn::MulAdd(hn::Load(df, q + r * q_stride + e), x0, a0[r]);
    }
    if (e < head_dim) {
      const Vec x0 = load_row_first(k0 + e, tail);
      for (int r = 0; r < Rows; ++r)
        a0[r] = hn::MulAdd(hn::Load(df, q + r * q_stride + e), x0, a0[r]);
    }
    for (int r = 0; r < Rows; ++r) s_t[c * ld_s + r] = hn::GetLane(hn::SumOfLanes(df, a0[r]));
  }
}

// How many keys ahead the key-by-key (decode) accumulates prefetch V rows into L1.
constexpr std::int64_t kFewValuesAhead = 4;

// 32 bf16 values at p as two fp32 vectors, the even-indexed and the odd-indexed ones, by two
// integer operations on one 32-bit load (no shuffle, which would compete with the FMAs for
// port 5 on Intel cores).
HWY_INLINE void load_pairs(const bf16* p, Vec& even, Vec& odd) {
  const hn::RebindToUnsigned<FloatTag> du;
  const auto u = hn::LoadU(du, reinterpret_cast<const std::uint32_t*>(p));
  even = hn::BitCast(FloatTag(), hn::ShiftLeft<16>(u));
  odd = hn::BitCast(FloatTag(), hn::And(u, hn::Set(du, 0xFFFF0000u)));
}

template <int Rows>
HWY_INLINE void score_pairs_micro(const float* HWY_RESTRICT q, std::int64_t q_stride,
                                  const bf16* HWY_RESTRICT k, std::int64_t k_stride,
                                  std::int64_t cols, std::int64_t head_dim, float* HWY_RESTRICT s_t,
                                  std::int64_t ld_s, const RowsAhead& ahead) {
  const FloatTag df;
  const std::int64_t half = head_dim / 2, row_bytes = head_dim * 2;
  for (std::int64_t c = 0; c < cols; ++c) {
    prefetch_ahead(ahead, c, k_stride, row_bytes);
    const bf16* kc = k + c * k_stride;
    Vec a[Rows], b[Rows];
    for (int r = 0; r < Rows; ++r) a[r] = b[r] = hn::Zero(df);
    for (std::int64_t j = 0; j < half; j += kLanes) {
      Vec even, odd;
      load_pairs(kc + 2 * j, even, odd);
      for (int r = 0; r < Rows; ++r) {
        a[r] = hn::MulAdd(hn::LoadU(df, q + r * q_stride + j), even, a[r]);
        b[r] = hn::MulAdd(hn::LoadU(df, q + r * q_stride + half + j), odd, b[r]);
      }
    }
    for (int r = 0; r < Rows; ++r)
      s_t[c * ld_s + r] = hn::GetLane(hn::SumOfLanes(df, hn::Add(a[r], b[r])));
  }
}

// Keys per chunk of the bf16 pair accumulate: a chunk's V rows (256 bytes each at D = 128) stay
// in L1 across its passes over head_dim, and each accumulator vector is loaded and stored once per
// chunk rather than per key (bf16 decode has half the bytes per FMA of fp32, so it is the store
// port, not memory, that key-by-key accumulation runs into).
constexpr std::int64_t kPairChunk = 4;

template <int Rows>
HWY_INLINE void value_pairs_rows(const float* HWY_RESTRICT p_t, std::int64_t ld_s,
                                 std::int64_t cols, const float* HWY_RESTRICT correction,
                                 const bf16* HWY_RESTRICT v, std::int64_t v_stride,
                                 std::int64_t head_dim, float* HWY_RESTRICT acc,
                                 std::int64_t ld_acc, const bf16* ahead) {
  const FloatTag df;
  const std::int64_t half = head_dim / 2, row_bytes = head_dim * 2;
  scale_rows(acc, ld_acc, Rows, head_dim, correction);
  for (std::int64_t k0 = 0; k0 < cols; k0 += kPairChunk) {
    const std::int64_t n = std::min(kPairChunk, cols - k0);
    // The next chunk's V rows into L1; the rows `ahead` of this chunk into L2.
    for (std::int64_t key = k0 + kPairChunk; key < std::min(cols, k0 + 2 * kPairChunk); ++key)
      prefetch_row<true>(v + key * v_stride, row_bytes);
    if (ahead)
      for (std::int64_t key = k0; key < k0 + n; ++key)
        prefetch_row(ahead + key * v_stride, row_bytes);
    for (std::int64_t j = 0; j < half; j += kLanes) {
      Vec even_acc[Rows], odd_acc[Rows];
      for (int r = 0; r < Rows; ++r) {
        even_acc[r] = hn::LoadU(df, acc + r * ld_acc + j);
        odd_acc[r] = hn::LoadU(df, acc + r * ld_acc + half + j);
      }
      for (std::int64_t key = k0; key < k0 + n; ++key) {
        Vec even, odd;
        load_pairs(v + key * v_stride + 2 * j, even, odd);
        for (int r = 0; r < Rows; ++r) {
          const Vec p = hn::Set(df, p_t[key * ld_s + r]);
          even_acc[r] = hn::MulAdd(p, even, even_acc[r]);
          odd_acc[r] = hn::MulAdd(p, odd, odd_acc[r]);
        }
      }
      for (int r = 0; r < Rows; ++r) {
        hn::StoreU(even_acc[r], df, acc + r * ld_acc + j);
        hn::StoreU(odd_acc[r], df, acc + r * ld_acc + half + j);
      }
    }
  }
}

}  // namespace

std::int64_t pair_granularity() { return 2 * kLanes; }

void score_tile_few_rows_pairs(const float* q, std::int64_t q_stride, std::int64_t rows,
                               const bf16* k, std::int64_t k_stride, std::int64_t cols,
                               std::int64_t head_dim, float* s_t, std::int64_t ld_s,
                               RowsAhead ahead) {
  ahead.head_dim = head_dim;
  with_count<kFewRows>(rows, [&](auto n) {
    score_pairs_micro<n()>(q, q_stride, k, k_stride, cols, head_dim, s_t, ld_s, ahead);
  });
}

namespace {
template <int Rows>
HWY_INLINE void value_few_keys(const float* HWY_RESTRICT p_t, std::int64_t ld_s, std::int64_t cols,
                               const float* HWY_RESTRICT v, std::int64_t v_stride,
                               std::int64_t head_dim, float* HWY_RESTRICT acc, std::int64_t ld_acc,
                               const float* ahead) {
  const FloatTag df;
  const std::int64_t row_bytes = head_dim * 4;
  for (std::int64_t k = 0; k < cols; ++k) {
    if (k + kFewValuesAhead < cols)
      prefetch_row<true>(v + (k + kFewValuesAhead) * v_stride, row_bytes);
    if (ahead) prefetch_row(ahead + k * v_stride, row_bytes);
    Vec p[Rows];
    for (int r = 0; r < Rows; ++r) p[r] = hn::Set(df, p_t[k * ld_s + r]);
    const float* row = v + k * v_stride;
    for (std::int64_t e = 0; e < head_dim; e += kLanes) {
      const Vec x = hn::LoadU(df, row + e);
      for (int r = 0; r < Rows; ++r) {
        float* a = acc + r * ld_acc + e;
        hn::StoreU(hn::MulAdd(p[r], x, hn::LoadU(df, a)), df, a);
      }
    }
  }
}
}  // namespace

void accumulate_tile_few_rows(const float* p_t, std::int64_t ld_s, std::int64_t rows,
                              std::int64_t cols, const float* correction, const float* v,
                              std::int64_t v_stride, std::int64_t head_dim, float* acc,
                              std::int64_t ld_acc, const float* ahead) {
  scale_rows(acc, ld_acc, rows, head_dim, correction);
  with_count<kFewRows>(rows, [&](auto n) {
    value_few_keys<n()>(p_t, ld_s, cols, v, v_stride, head_dim, acc, ld_acc, ahead);
  });
}

void accumulate_tile_few_rows_pairs(const float* p_t, std::int64_t ld_s, std::int64_t rows,
                                    std::int64_t cols, const float* correction, const bf16* v,
                                    std::int64_t v_stride, std::int64_t head_dim, float* acc,
                                    std::int64_t ld_acc, const bf16* ahead) {
  with_count<kFewRows>(rows, [&](auto n) {
    value_pairs_rows<n()>(p_t, ld_s, cols, correction, v, v_stride, head_dim, acc, ld_acc, ahead);
  });
}

// This target's name in the `kernel` column.
const char* target_name() {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  return "avx512";
#elif HWY_TARGET == HWY_AVX2
  return "avx2";
#elif HWY_TARGET == HWY_SSE4
  return "sse4";
#elif HWY_TARGET == HWY_NEON
  return "neon";
#else
  return "scalar";
#endif
}

void widen_bf16_rows(const bf16* src, std::int64_t src_stride, std::int64_t rows,
                     std::int64_t head_dim, std::int64_t padded_dim, float* dst,
                     std::int64_t ld_dst, const bf16* ahead) {
  const FloatTag df;
  const hn::RebindToUnsigned<FloatTag> du32;
  const hn::Rebind<std::uint16_t, FloatTag> du16;
  const std::int64_t full = head_dim / kLanes * kLanes;
  for (std::int64_t c = 0; c < rows; ++c) {
    const auto* in = reinterpret_cast<const std::uint16_t*>(src + c * src_stride);
    float* out = dst + c * ld_dst;
    if (ahead) prefetch_row(ahead + c * src_stride, head_dim * 2);
    std::int64_t e = 0;
    for (; e < full; e += kLanes) {
      const auto wide = hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, in + e)));
      hn::StoreU(hn::BitCast(df, wide), df, out + e);
    }
    for (; e < head_dim; ++e) out[e] = to_float(src[c * src_stride + e]);
    for (; e < padded_dim; ++e) out[e] = 0.0f;
  }
}

void widen_bf16(const bf16* src, std::int64_t count, float* dst) {
  widen_bf16_rows(src, count, 1, count, count, dst, count, nullptr);
}

void round_tile_to_bf16(float* p_t, std::int64_t ld_s, std::int64_t cols,
                        std::int64_t padded_rows) {
  const FloatTag df;
  const hn::RebindToUnsigned<FloatTag> du;
  const auto bias = hn::Set(du, 0x7FFFu);
  const auto one = hn::Set(du, 1u);
  const auto upper = hn::Set(du, 0xFFFF0000u);
  // Probabilities are finite and non-negative, so the integer rounding needs no NaN case.
  for (std::int64_t c = 0; c < cols; ++c)
    for (std::int64_t r = 0; r < padded_rows; r += kLanes) {
      float* p = p_t + c * ld_s + r;
      const auto u = hn::BitCast(du, hn::Load(df, p));
      const auto odd = hn::And(hn::ShiftRight<16>(u), one);
      hn::Store(hn::BitCast(df, hn::And(hn::Add(u, hn::Add(bias, odd)), upper)), df, p);
    }
}

std::int64_t float_lanes() { return kLanes; }
std::int64_t row_granularity() { return kScoreVecs * kLanes; }

std::int64_t score_tile_prefetch_steps(std::int64_t padded_rows, std::int64_t cols) {
  return std::max<std::int64_t>(1, padded_rows / (kScoreVecs * kLanes) * (cols / kScoreKeys));
}

std::int64_t accumulate_tile_prefetch_steps(std::int64_t rows, std::int64_t padded_dim) {
  const std::int64_t row_groups = (rows + kValueRows - 1) / kValueRows;
  return std::max<std::int64_t>(1, row_groups * (padded_dim / (kValueVecs * kLanes)));
}

void exp2_nonpositive(float* x, std::int64_t n) {
  const FloatTag df;
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) hn::StoreU(exp2_vec(hn::LoadU(df, x + i)), df, x + i);
  if (i < n) {
    HWY_ALIGN float tail[kLanes] = {};
    for (std::int64_t j = i; j < n; ++j) tail[j - i] = x[j];
    hn::Store(exp2_vec(hn::Load(df, tail)), df, tail);
    for (std::int64_t j = i; j < n; ++j) x[j] = tail[j - i];
  }
}

void pack_queries(const float* q, std::int64_t q_stride, std::int64_t rows,
                  std::int64_t padded_rows, std::int64_t head_dim, float multiplier, float* q_t,
                  std::int64_t ld_q) {
  std::int64_t r0 = 0, e0 = 0;
#if HWY_TARGET != HWY_SCALAR  // which has no shuffles
  if constexpr (kLanes == 8) {
    // Whole 8 × 8 blocks by an in-register transpose rather than the strided scalar copy below
    // (LSH packs every row of Q and K this way when hashing); the ragged edges fall through.
    const FloatTag df;
    const hn::Repartition<double, FloatTag> dd;
    const Vec m = hn::Set(df, multiplier);
    const std::int64_t full_rows = rows / 8 * 8, full_dims = head_dim / 8 * 8;
    for (std::int64_t r = 0; r < full_rows; r += 8)
      for (std::int64_t e = 0; e < full_dims; e += 8) {
        Vec v[8];
        for (int i = 0; i < 8; ++i) v[i] = hn::Mul(hn::LoadU(df, q + (r + i) * q_stride + e), m);
        // Pairs, then quads within 128-bit blocks, then the blocks themselves.
        Vec t[8];
        for (int i = 0; i < 8; i += 2) {
          t[i] = hn::InterleaveLower(df, v[i], v[i + 1]);
          t[i + 1] = hn::InterleaveUpper(df, v[i], v[i + 1]);
        }
        Vec u[8];
        for (int i = 0; i < 8; i += 4)
          for (int j = 0; j < 2; ++j) {
            const auto a = hn::BitCast(dd, t[i + j]), b = hn::BitCast(dd, t[i + j + 2]);
            u[i + 2 * j] = hn::BitCast(df, hn::InterleaveLower(dd, a, b));
            u[i + 2 * j + 1] = hn::BitCast(df, hn::InterleaveUpper(dd, a, b));
          }
        for (int i = 0; i < 4; ++i) {
          hn::StoreU(hn::ConcatLowerLower(df, u[i + 4], u[i]), df, q_t + (e + i) * ld_q + r);
          hn::StoreU(hn::ConcatUpperUpper(df, u[i + 4], u[i]), df, q_t + (e + i + 4) * ld_q + r);
        }
      }
    r0 = full_rows;
    e0 = full_dims;
  }
#endif
  for (std::int64_t e = 0; e < head_dim; ++e) {
    float* dst = q_t + e * ld_q;
    for (std::int64_t r = e < e0 ? r0 : 0; r < rows; ++r) dst[r] = q[r * q_stride + e] * multiplier;
    for (std::int64_t r = rows; r < padded_rows; ++r) dst[r] = 0.0f;
  }
}

void signed_argmax(const float* p_t, std::int64_t ld, std::int64_t half, std::int64_t padded_rows,
                   std::int32_t* best) {
  const FloatTag df;
  const IntTag di;
  const Vec zero = hn::Zero(df);
  const auto offset = hn::Set(di, static_cast<std::int32_t>(half));
  for (std::int64_t r = 0; r < padded_rows; r += kLanes) {
    Vec p = hn::LoadU(df, p_t + r);
    Vec best_abs = hn::Abs(p);
    auto best_index = hn::IfThenZeroElse(hn::RebindMask(di, hn::Ge(p, zero)), offset);
    for (std::int64_t j = 1; j < half; ++j) {
      p = hn::LoadU(df, p_t + j * ld + r);
      const Vec a = hn::Abs(p);
      const auto larger = hn::Gt(a, best_abs);  // strict: the first j wins ties
      const auto index = hn::Set(di, static_cast<std::int32_t>(j));
      const auto signed_index =
          hn::IfThenElse(hn::RebindMask(di, hn::Ge(p, zero)), index, hn::Add(index, offset));
      best_abs = hn::IfThenElse(larger, a, best_abs);
      best_index = hn::IfThenElse(hn::RebindMask(di, larger), signed_index, best_index);
    }
    hn::StoreU(best_index, di, best + r);
  }
}

void score_tile(const float* q_t, std::int64_t ld_q, std::int64_t padded_rows, const float* k,
                std::int64_t k_stride, std::int64_t cols, std::int64_t head_dim, float* s_t,
                std::int64_t ld_s, PrefetchStream* prefetch) {
  constexpr std::int64_t strip = kScoreVecs * kLanes;
  for (std::int64_t r = 0; r < padded_rows; r += strip)
    score_strip<kScoreVecs>(q_t + r, ld_q, k, k_stride, cols, head_dim, s_t + r, ld_s, prefetch);
}

namespace {
template <class T>
void score_tile_few_rows_of(const float* q, std::int64_t q_stride, std::int64_t rows, const T* k,
                            std::int64_t k_stride, std::int64_t cols, std::int64_t head_dim,
                            float* s_t, std::int64_t ld_s, RowsAhead ahead) {
  ahead.head_dim = head_dim;
  with_count<kFewRows>(rows, [&](auto n) {
    score_few_micro<n()>(q, q_stride, k, k_stride, cols, head_dim, s_t, ld_s, ahead);
  });
}
}  // namespace

void score_few_rows_f32(const float* q, std::int64_t q_stride, std::int64_t rows, const float* k,
                        std::int64_t k_stride, std::int64_t cols, std::int64_t head_dim, float* s_t,
                        std::int64_t ld_s, RowsAhead ahead) {
  score_tile_few_rows_of(q, q_stride, rows, k, k_stride, cols, head_dim, s_t, ld_s, ahead);
}

void score_few_rows_bf16(const float* q, std::int64_t q_stride, std::int64_t rows, const bf16* k,
                         std::int64_t k_stride, std::int64_t cols, std::int64_t head_dim,
                         float* s_t, std::int64_t ld_s, RowsAhead ahead) {
  score_tile_few_rows_of(q, q_stride, rows, k, k_stride, cols, head_dim, s_t, ld_s, ahead);
}

void softmax_tile(float* s_t, std::int64_t ld_s, std::int64_t cols, std::int64_t padded_rows,
                  float* row_max, float* row_sum, float* correction) {
  const FloatTag df;
  const Vec neg_inf = hn::Set(df, -std::numeric_limits<float>::infinity());
  for (std::int64_t r = 0; r < padded_rows; r += kLanes) {
    const Vec old_max = hn::Load(df, row_max + r);
    Vec tile_max = neg_inf;
    for (std::int64_t c = 0; c < cols; ++c)
      tile_max = hn::Max(tile_max, hn::Load(df, s_t + c * ld_s + r));
    const Vec new_max = hn::Max(old_max, tile_max);
    // Queries that have seen no finite score yet subtract 0 rather than -inf (no NaN).
    const Vec base = hn::IfThenZeroElse(hn::Eq(new_max, neg_inf), new_max);
    const Vec corr = exp2_vec(hn::Sub(old_max, base));
    Vec sum0 = hn::Zero(df), sum1 = hn::Zero(df);
    std::int64_t c = 0;
    for (; c + 2 <= cols; c += 2) {
      float* s0 = s_t + c * ld_s + r;
      float* s1 = s0 + ld_s;
      const Vec p0 = exp2_vec(hn::Sub(hn::Load(df, s0), base));
      const Vec p1 = exp2_vec(hn::Sub(hn::Load(df, s1), base));
      hn::Store(p0, df, s0);
      hn::Store(p1, df, s1);
      sum0 = hn::Add(sum0, p0);
      sum1 = hn::Add(sum1, p1);
    }
    if (c < cols) {
      float* s0 = s_t + c * ld_s + r;
      const Vec p0 = exp2_vec(hn::Sub(hn::Load(df, s0), base));
      hn::Store(p0, df, s0);
      sum0 = hn::Add(sum0, p0);
    }
    hn::Store(corr, df, correction + r);
    hn::Store(hn::MulAdd(hn::Load(df, row_sum + r), corr, hn::Add(sum0, sum1)), df, row_sum + r);
    hn::Store(new_max, df, row_max + r);
  }
}

namespace {
template <class T>
void accumulate_tile_of(const float* p_t, std::int64_t ld_s, std::int64_t rows, std::int64_t cols,
                        const float* correction, const T* v, std::int64_t v_stride,
                        std::int64_t padded_dim, float* acc, std::int64_t ld_acc,
                        PrefetchStream* prefetch, const T* ahead) {
  // Rows after the first group prefetch nothing: one pass over the keys covers `ahead`.
  std::int64_t r = 0;
  for (; r + kValueRows <= rows; r += kValueRows)
    value_rows<kValueRows>(p_t + r, ld_s, cols, correction + r, v, v_stride, padded_dim,
                           acc + r * ld_acc, ld_acc, prefetch, r == 0 ? ahead : nullptr);
  const float* pr = p_t + r;
  const float* cr = correction + r;
  float* ar = acc + r * ld_acc;
  with_count<kValueRows - 1>(rows - r, [&](auto n) {
    value_rows<n()>(pr, ld_s, cols, cr, v, v_stride, padded_dim, ar, ld_acc, prefetch,
                    r == 0 ? ahead : nullptr);
  });
}
}  // namespace

void accumulate_f32(const float* p_t, std::int64_t ld_s, std::int64_t rows, std::int64_t cols,
                    const float* correction, const float* v, std::int64_t v_stride,
                    std::int64_t padded_dim, float* acc, std::int64_t ld_acc,
                    PrefetchStream* prefetch, const float* ahead) {
  accumulate_tile_of(p_t, ld_s, rows, cols, correction, v, v_stride, padded_dim, acc, ld_acc,
                     prefetch, ahead);
}

void accumulate_bf16(const float* p_t, std::int64_t ld_s, std::int64_t rows, std::int64_t cols,
                     const float* correction, const bf16* v, std::int64_t v_stride,
                     std::int64_t padded_dim, float* acc, std::int64_t ld_acc,
                     PrefetchStream* prefetch, const bf16* ahead) {
  accumulate_tile_of(p_t, ld_s, rows, cols, correction, v, v_stride, padded_dim, acc, ld_acc,
                     prefetch, ahead);
}

void score_few_rows_quantized(const float* q, std::int64_t q_stride, std::int64_t rows,
                              const QuantizedRows& k, std::int64_t cols, std::int64_t head_dim,
                              float* s_t, std::int64_t ld_s, RowsAhead ahead) {
  if (k.format == KvQuantization::kInt8)
    score_tile_few_rows_of(q, q_stride, rows, reinterpret_cast<const Int8Code*>(k.codes), k.stride,
                           cols, head_dim, s_t, ld_s, ahead);
  else
    score_tile_few_rows_of(q, q_stride, rows, reinterpret_cast<const Fp8Code*>(k.codes), k.stride,
                           cols, head_dim, s_t, ld_s, ahead);
  // The codes' dot products times each key's scale: the scores over the dequantized keys.
  const KeyScales scales{k.row_scales, k.head_scale};
  for (std::int64_t c = 0; c < cols; ++c) {
    const float scale = scales[c];
    for (std::int64_t r = 0; r < rows; ++r) s_t[c * ld_s + r] *= scale;
  }
}

void accumulate_quantized(const float* p_t, std::int64_t ld_s, std::int64_t rows, std::int64_t cols,
                          const float* correction, const QuantizedRows& v, std::int64_t head_dim,
                          float* acc, std::int64_t ld_acc) {
  const KeyScales scales{v.row_scales, v.head_scale};
  const auto run = [&](const auto* codes) {
    using Code = std::remove_cvref_t<decltype(*codes)>;
    with_count<kFewRows>(rows, [&](auto n) {
      value_rows<n()>(p_t, ld_s, cols, correction, codes, v.stride, head_dim, acc, ld_acc, nullptr,
                      static_cast<const Code*>(nullptr), scales);
    });
  };
  if (v.format == KvQuantization::kInt8)
    run(reinterpret_cast<const Int8Code*>(v.codes));
  else
    run(reinterpret_cast<const Fp8Code*>(v.codes));
}

// Declared with the formats (kv_quantization.hpp); here to share the decode kernels' loads.
void dequantize_rows(const QuantizedRows& src, std::int64_t rows, std::int64_t head_dim,
                     std::int64_t padded_dim, float* dst, std::int64_t ld_dst,
                     std::int64_t prefetch_rows) {
  const FloatTag df;
  const std::int64_t full = head_dim / kLanes * kLanes;
  const auto tail = static_cast<std::size_t>(head_dim - full);
  const auto run = [&](const auto* codes) {
    for (std::int64_t c = 0; c < rows; ++c) {
      const auto* in = codes + c * src.stride;
      float* out = dst + c * ld_dst;
      if (prefetch_rows > 0)
        for (std::int64_t offset = 0; offset < head_dim; offset += 64)
          __builtin_prefetch(
              reinterpret_cast<const char*>(in + prefetch_rows * src.stride) + offset, 0, 2);
      const Vec scale = hn::Set(df, src.row_scales ? src.row_scales[c] : src.head_scale);
      std::int64_t e = 0;
      for (; e < full; e += kLanes) hn::StoreU(hn::Mul(load_row(in + e), scale), df, out + e);
      if (e < head_dim) {
        float last[HWY_LANES(float)];
        hn::StoreU(hn::Mul(load_row_first(in + e, tail), scale), df, last);
        std::copy_n(last, head_dim - e, out + e);
      }
      std::fill(out + head_dim, out + padded_dim, 0.0f);
    }
  };
  if (src.format == KvQuantization::kInt8)
    run(reinterpret_cast<const Int8Code*>(src.codes));
  else
    run(reinterpret_cast<const Fp8Code*>(src.codes));
}

}  // namespace attn::kernel::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn::kernel {
namespace {

// Our name for a Highway target (the `kernel` column's and ATTN_KERNEL_PATH's).
std::string_view name_of(std::int64_t target) {
  switch (target) {
    case HWY_AVX3:
    case HWY_AVX3_DL:
      return "avx512";
    case HWY_AVX2:
      return "avx2";
    case HWY_SSE4:
      return "sse4";
    case HWY_NEON:
      return "neon";
    default:
      return "scalar";
  }
}

// ATTN_KERNEL_PATH, applied before main (a static initialiser) so that every kernel call of the
// process takes the same path: a path chosen after the first call could meet buffers padded for
// another target's vector width.
const bool kPathFromEnvironment = [] {
  const char* wanted = std::getenv("ATTN_KERNEL_PATH");
  if (wanted == nullptr || *wanted == '\0' || std::string_view(wanted) == "auto") return false;
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets())
    if (name_of(target) == wanted) {
      hwy::SetSupportedTargetsForTest(target);
      return true;
    }
  std::string allowed = "auto";
  for (const std::string& path : runnable_paths()) allowed += ", " + path;
  std::fprintf(stderr,
               "ATTN_KERNEL_PATH=%s is not a kernel path this binary can run on this CPU; "
               "allowed: %s\n",
               wanted, allowed.c_str());
  std::exit(2);
}();

}  // namespace

HWY_EXPORT(target_name);
HWY_EXPORT(float_lanes);
HWY_EXPORT(row_granularity);
HWY_EXPORT(pair_granularity);
HWY_EXPORT(score_tile_prefetch_steps);
HWY_EXPORT(accumulate_tile_prefetch_steps);
HWY_EXPORT(exp2_nonpositive);
HWY_EXPORT(pack_queries);
HWY_EXPORT(signed_argmax);
HWY_EXPORT(score_tile);
HWY_EXPORT(score_few_rows_f32);
HWY_EXPORT(score_few_rows_bf16);
HWY_EXPORT(score_few_rows_quantized);
HWY_EXPORT(score_tile_few_rows_pairs);
HWY_EXPORT(softmax_tile);
HWY_EXPORT(accumulate_f32);
HWY_EXPORT(accumulate_bf16);
HWY_EXPORT(accumulate_quantized);
HWY_EXPORT(accumulate_tile_few_rows);
HWY_EXPORT(accumulate_tile_few_rows_pairs);
HWY_EXPORT(widen_bf16_rows);
HWY_EXPORT(widen_bf16);
HWY_EXPORT(round_tile_to_bf16);
HWY_EXPORT(dequantize_rows);

std::vector<std::string> runnable_paths() {
  std::vector<std::string> paths;
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets())
    paths.emplace_back(name_of(target));
  return paths;
}

bool path_forced() { return kPathFromEnvironment; }

std::string path_name(Dtype dtype) {
  std::string name = HWY_DYNAMIC_DISPATCH(target_name)();
  if (dtype == Dtype::kBf16 && bf16_dot() != Bf16Dot::kWidening)
    name += "+" + std::string(bf16_dot_name(bf16_dot()));
  return name;
}

std::string cpu_bf16_support() {
#if defined(__x86_64__)
  std::string text = __builtin_cpu_supports("avx512bf16") ? "the CPU has AVX512_BF16 (VDPBF16PS)"
                                                          : "no native bf16 dot product";
#else
  std::string text = "no native bf16 dot product";
#endif
  switch (bf16_dot()) {
    case Bf16Dot::kAmx:
      return text +
             ", AMX-BF16 tiles; bf16 prefill tiles run TDPBF16PS on AMX tiles (head_dim a "
             "multiple of 32; other head dims widen)";
    case Bf16Dot::kVdpbf16ps:
      return text + "; bf16 prefill tiles run VDPBF16PS on bf16 pairs";
    case Bf16Dot::kPairs:
      return text + "; bf16 prefill tiles run the pair kernels with the pairs split into FMAs";
    case Bf16Dot::kWidening:
      break;
  }
  return text + "; bf16 runs the widening path";
}

std::int64_t float_lanes() { return HWY_DYNAMIC_DISPATCH(float_lanes)(); }
std::int64_t row_granularity() { return HWY_DYNAMIC_DISPATCH(row_granularity)(); }
std::int64_t pair_granularity() { return HWY_DYNAMIC_DISPATCH(pair_granularity)(); }

std::int64_t score_tile_prefetch_steps(std::int64_t padded_rows, std::int64_t cols) {
  return HWY_DYNAMIC_DISPATCH(score_tile_prefetch_steps)(padded_rows, cols);
}

std::int64_t accumulate_tile_prefetch_steps(std::int64_t rows, std::int64_t padded_dim) {
  return HWY_DYNAMIC_DISPATCH(accumulate_tile_prefetch_steps)(rows, padded_dim);
}

void exp2_nonpositive(float* x, std::int64_t n) { HWY_DYNAMIC_DISPATCH(exp2_nonpositive)(x, n); }

void pack_queries(const float* q, std::int64_t q_stride, std::int64_t rows,
                  std::int64_t padded_rows, std::int64_t head_dim, float multiplier, float* q_t,
                  std::int64_t ld_q) {
  HWY_DYNAMIC_DISPATCH(pack_queries)
  (q, q_stride, rows, padded_rows, head_dim, multiplier, q_t, ld_q);
}

void signed_argmax(const float* p_t, std::int64_t ld, std::int64_t half, std::int64_t padded_rows,
                   std::int32_t* best) {
  HWY_DYNAMIC_DISPATCH(signed_argmax)(p_t, ld, half, padded_rows, best);
}

void score_tile(const float* q_t, std::int64_t ld_q, std::int64_t padded_rows, const float* k,
                std::int64_t k_stride, std::int64_t cols, std::int64_t head_dim, float* s_t,
                std::int64_t ld_s, PrefetchStream* prefetch) {
  HWY_DYNAMIC_DISPATCH(score_tile)
  (q_t, ld_q, padded_rows, k, k_stride, cols, head_dim, s_t, ld_s, prefetch);
}

void score_tile_few_rows(const float* q, std::int64_t q_stride, std::int64_t rows, const float* k,
                         std::int64_t k_stride, std::int64_t cols, std::int64_t head_dim,
                         float* s_t, std::int64_t ld_s, RowsAhead ahead) {
  HWY_DYNAMIC_DISPATCH(score_few_rows_f32)
  (q, q_stride, rows, k, k_stride, cols, head_dim, s_t, ld_s, ahead);
}

void score_tile_few_rows(const float* q, std::int64_t q_stride, std::int64_t rows, const bf16* k,
                         std::int64_t k_stride, std::int64_t cols, std::int64_t head_dim,
                         float* s_t, std::int64_t ld_s, RowsAhead ahead) {
  HWY_DYNAMIC_DISPATCH(score_few_rows_bf16)
  (q, q_stride, rows, k, k_stride, cols, head_dim, s_t, ld_s, ahead);
}

void score_tile_few_rows(const float* q, std::int64_t q_stride, std::int64_t rows,
                         const QuantizedRows& k, std::int64_t cols, std::int64_t head_dim,
                         float* s_t, std::int64_t ld_s, RowsAhead ahead) {
  HWY_DYNAMIC_DISPATCH(score_few_rows_quantized)
  (q, q_stride, rows, k, cols, head_dim, s_t, ld_s, ahead);
}

void score_tile_few_rows_pairs(const float* q, std::int64_t q_stride, std::int64_t rows,
                               const bf16* k, std::int64_t k_stride, std::int64_t cols,
                               std::int64_t head_dim, float* s_t, std::int64_t ld_s,
                               RowsAhead ahead) {
  HWY_DYNAMIC_DISPATCH(score_tile_few_rows_pairs)
  (q, q_stride, rows, k, k_stride, cols, head_dim, s_t, ld_s, ahead);
}

void softmax_tile(float* s_t, std::int64_t ld_s, std::int64_t cols, std::int64_t padded_rows,
                  float* row_max, float* row_sum, float* correction) {
  HWY_DYNAMIC_DISPATCH(softmax_tile)(s_t, ld_s, cols, padded_rows, row_max, row_sum, correction);
}

void accumulate_tile(const float* p_t, std::int64_t ld_s, std::int64_t rows, std::int64_t cols,
                     const float* correction, const float* v, std::int64_t v_stride,
                     std::int64_t padded_dim, float* acc, std::int64_t ld_acc,
                     PrefetchStream* prefetch, const float* ahead) {
  HWY_DYNAMIC_DISPATCH(accumulate_f32)
  (p_t, ld_s, rows, cols, correction, v, v_stride, padded_dim, acc, ld_acc, prefetch, ahead);
}

void accumulate_tile(const float* p_t, std::int64_t ld_s, std::int64_t rows, std::int64_t cols,
                     const float* correction, const bf16* v, std::int64_t v_stride,
                     std::int64_t padded_dim, float* acc, std::int64_t ld_acc,
                     PrefetchStream* prefetch, const bf16* ahead) {
  HWY_DYNAMIC_DISPATCH(accumulate_bf16)
  (p_t, ld_s, rows, cols, correction, v, v_stride, padded_dim, acc, ld_acc, prefetch, ahead);
}

void accumulate_tile(const float* p_t, std::int64_t ld_s, std::int64_t rows, std::int64_t cols,
                     const float* correction, const QuantizedRows& v, std::int64_t head_dim,
                     float* acc, std::int64_t ld_acc) {
  HWY_DYNAMIC_DISPATCH(accumulate_quantized)
  (p_t, ld_s, rows, cols, correction, v, head_dim, acc, ld_acc);
}

void accumulate_tile_few_rows(const float* p_t, std::int64_t ld_s, std::int64_t rows,
                              std::int64_t cols, const float* correction, const float* v,
                              std::int64_t v_stride, std::int64_t head_dim, float* acc,
                              std::int64_t ld_acc, const float* ahead) {
  HWY_DYNAMIC_DISPATCH(accumulate_tile_few_rows)
  (p_t, ld_s, rows, cols, correction, v, v_stride, head_dim, acc, ld_acc, ahead);
}

void accumulate_tile_few_rows_pairs(const float* p_t, std::int64_t ld_s, std::int64_t rows,
                                    std::int64_t cols, const float* correction, const bf16* v,
                                    std::int64_t v_stride, std::int64_t head_dim, float* acc,
                                    std::int64_t ld_acc, const bf16* ahead) {
  HWY_DYNAMIC_DISPATCH(accumulate_tile_few_rows_pairs)
  (p_t, ld_s, rows, cols, correction, v, v_stride, head_dim, acc, ld_acc, ahead);
}

void widen_bf16_rows(const bf16* src, std::int64_t src_stride, std::int64_t rows,
                     std::int64_t head_dim, std::int64_t padded_dim, float* dst,
                     std::int64_t ld_dst, const bf16* ahead) {
  HWY_DYNAMIC_DISPATCH(widen_bf16_rows)
  (src, src_stride, rows, head_dim, padded_dim, dst, ld_dst, ahead);
}

void widen_bf16(const bf16* src, std::int64_t count, float* dst) {
  HWY_DYNAMIC_DISPATCH(widen_bf16)(src, count, dst);
}

void round_tile_to_bf16(float* p_t, std::int64_t ld_s, std::int64_t cols,
                        std::int64_t padded_rows) {
  HWY_DYNAMIC_DISPATCH(round_tile_to_bf16)(p_t, ld_s, cols, padded_rows);
}

namespace {
// The dispatch names the target namespaces relative to attn::kernel.
void dispatch_dequantize_rows(const QuantizedRows& src, std::int64_t rows, std::int64_t head_dim,
                              std::int64_t padded_dim, float* dst, std::int64_t ld_dst,
                              std::int64_t prefetch_rows) {
  HWY_DYNAMIC_DISPATCH(dequantize_rows)
  (src, rows, head_dim, padded_dim, dst, ld_dst, prefetch_rows);
}
}  // namespace

}  // namespace attn::kernel

namespace attn {

void dequantize_rows(const QuantizedRows& src, std::int64_t rows, std::int64_t head_dim,
                     std::int64_t padded_dim, float* dst, std::int64_t ld_dst,
                     std::int64_t prefetch_rows) {
  kernel::dispatch_dequantize_rows(src, rows, head_dim, padded_dim, dst, ld_dst, prefetch_rows);
}

}  // namespace attn
#endif  // HWY_ONCE
