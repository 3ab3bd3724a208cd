#include "attention/numeric/bf16_pairs.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "attention/numeric/amx_tiles.hpp"
#include "attention/numeric/microkernel.hpp"

#include "attention/numeric/kernel_targets.hpp"  // before foreach_target.h: microkernel.cpp's
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention/numeric/bf16_pairs.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include "attention/numeric/kernel_basics-inl.hpp"

HWY_BEFORE_NAMESPACE();
namespace attn::kernel::HWY_NAMESPACE {
namespace {

using PairTag = hn::RebindToUnsigned<FloatTag>;
using PairVec = hn::Vec<PairTag>;
// Keys (score) or queries (P·V) per call come from kBlocking, by kBlockVecs vectors of queries
// (score) or of head_dim (P·V), as in microkernel.cpp.

HWY_INLINE std::uint32_t load_pair(const bf16* p) {
  std::uint32_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return bits;
}

HWY_INLINE std::uint32_t bits_of(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

// acc + a·b over each lane's pair with two FMAs, the odd products first as VDPBF16PS adds them
// (a product of two bf16 values is exact in fp32, so each FMA rounds where the instruction does).
struct SplitPairDot {
  HWY_INLINE Vec operator()(Vec acc, PairVec a, PairVec b) const {
    const FloatTag df;
    const PairTag du;
    const auto high = hn::Set(du, 0xFFFF0000u);
    const Vec odd =
        hn::MulAdd(hn::BitCast(df, hn::And(a, high)), hn::BitCast(df, hn::And(b, high)), acc);
    return hn::MulAdd(hn::BitCast(df, hn::ShiftLeft<16>(a)), hn::BitCast(df, hn::ShiftLeft<16>(b)),
                      odd);
  }
};

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// VDPBF16PS itself, written as assembly so that the AVX-512 target needs no AVX512_BF16 code
// generation around it; only ever called where the CPU reports AVX512_BF16 (can_run).
struct NativePairDot {
  HWY_INLINE Vec operator()(Vec acc, PairVec a, PairVec b) const {
    __m512 sum = acc.raw;
    asm("vdpbf16ps %2, %1, %0" : "+v"(sum) : "v"(a.raw), "v"(b.raw));
    return Vec{sum};
  }
};
#endif

template <class F>
HWY_INLINE void with_dot(Bf16Dot dot, const F& f) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  if (dot == Bf16Dot::kVdpbf16ps) return f(NativePairDot());
#else
  (void)dot;
#endif
  f(SplitPairDot());
}

template <int Keys, class Dot>
HWY_INLINE void score_pairs_micro(const std::uint32_t* HWY_RESTRICT q2, std::int64_t ld_q,
                                  const bf16* HWY_RESTRICT k, std::int64_t k_stride,
                                  std::int64_t half, Vec multiplier, float* HWY_RESTRICT s_t,
                                  std::int64_t ld_s, Dot dot) {
  const FloatTag df;
  const PairTag du;
  Vec acc[Keys][kBlockVecs];
  for (int i = 0; i < Keys; ++i)
    for (int j = 0; j < kBlockVecs; ++j) acc[i][j] = hn::Zero(df);
  for (std::int64_t e2 = 0; e2 < half; ++e2) {
    PairVec q[kBlockVecs];
    for (int j = 0; j < kBlockVecs; ++j) q[j] = hn::LoadU(du, q2 + e2 * ld_q + j * kLanes);
    for (int i = 0; i < Keys; ++i) {
      const PairVec key = hn::Set(du, load_pair(k + i * k_stride + 2 * e2));
      for (int j = 0; j < kBlockVecs; ++j) acc[i][j] = dot(acc[i][j], q[j], key);
    }
  }
  for (int i = 0; i < Keys; ++i)
    for (int j = 0; j < kBlockVecs; ++j)
      hn::StoreU(hn::Mul(acc[i][j], multiplier), df, s_t + i * ld_s + j * kLanes);
}

// Vecs vectors of head_dim (kBlockVecs, or 1 for the last strip of an odd number of vectors).
template <int Rows, int Vecs, class Dot>
HWY_INLINE void value_pairs_micro(const std::uint32_t* HWY_RESTRICT p2, std::int64_t ld_p,
                                  std::int64_t pairs, const float* HWY_RESTRICT correction,
                                  const std::uint32_t* HWY_RESTRICT v2, std::int64_t ld_v,
                                  float* HWY_RESTRICT acc, std::int64_t ld_acc, Dot dot) {
  const FloatTag df;
  const PairTag du;
  Vec o[Rows][Vecs];
  for (int r = 0; r < Rows; ++r) {
    const Vec c = hn::Set(df, correction[r]);
    for (int j = 0; j < Vecs; ++j)
      o[r][j] = hn::Mul(hn::LoadU(df, acc + r * ld_acc + j * kLanes), c);
  }
  for (std::int64_t c2 = 0; c2 < pairs; ++c2) {
    PairVec v[Vecs];
    for (int j = 0; j < Vecs; ++j) v[j] = hn::LoadU(du, v2 + c2 * ld_v + j * kLanes);
    for (int r = 0; r < Rows; ++r) {
      const PairVec p = hn::Set(du, p2[c2 * ld_p + r]);
      for (int j = 0; j < Vecs; ++j) o[r][j] = dot(o[r][j], p, v[j]);
    }
  }
  for (int r = 0; r < Rows; ++r)
    for (int j = 0; j < Vecs; ++j) hn::StoreU(o[r][j], df, acc + r * ld_acc + j * kLanes);
}

template <int Rows, class Dot>
HWY_INLINE void value_pairs_rows(const std::uint32_t* p2, std::int64_t ld_p, std::int64_t pairs,
                                 const float* correction, const std::uint32_t* v2,
                                 std::int64_t ld_v, std::int64_t head_dim, float* acc,
                                 std::int64_t ld_acc, Dot dot, PrefetchStream* prefetch) {
  constexpr std::int64_t strip = kBlockVecs * kLanes;
  std::int64_t e = 0;
  for (; e + strip <= head_dim; e += strip) {
    value_pairs_micro<Rows, kBlockVecs>(p2, ld_p, pairs, correction, v2 + e, ld_v, acc + e, ld_acc,
                                        dot);
    if (prefetch) prefetch->issue(kPrefetchPerStep);
  }
  if (e < head_dim)
    value_pairs_micro<Rows, 1>(p2, ld_p, pairs, correction, v2 + e, ld_v, acc + e, ld_acc, dot);
}

}  // namespace

void pack_query_pairs(const float* q, std::int64_t q_stride, std::int64_t rows,
                      std::int64_t padded_rows, std::int64_t head_dim, std::uint32_t* q2,
                      std::int64_t ld_q) {
  // Once per block of queries: scalar is enough (the block's keys cost thousands of times more).
  for (std::int64_t e = 0; e < head_dim; e += 2) {
    std::uint32_t* dst = q2 + (e / 2) * ld_q;
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* row = q + r * q_stride;
      dst[r] = (bits_of(row[e]) >> 16) | (bits_of(row[e + 1]) & 0xFFFF0000u);
    }
    for (std::int64_t r = rows; r < padded_rows; ++r) dst[r] = 0;
  }
}

void score_tile_pairs(const std::uint32_t* q2, std::int64_t ld_q, std::int64_t padded_rows,
                      const bf16* k, std::int64_t k_stride, std::int64_t cols,
                      std::int64_t head_dim, float multiplier, float* s_t, std::int64_t ld_s,
                      Bf16Dot dot, PrefetchStream* prefetch) {
  const Vec m = hn::Set(FloatTag(), multiplier);
  const std::int64_t half = head_dim / 2;
  with_dot(dot, [&](auto pair_dot) {
    for (std::int64_t r = 0; r < padded_rows; r += kBlockVecs * kLanes) {
      std::int64_t c = 0;
      for (; c + kBlocking <= cols; c += kBlocking) {
        score_pairs_micro<kBlocking>(q2 + r, ld_q, k + c * k_stride, k_stride, half, m,
                                     s_t + c * ld_s + r, ld_s, pair_dot);
        if (prefetch) prefetch->issue(kPrefetchPerStep);
      }
      with_count<kBlocking - 1>(cols - c, [&](auto keys) {
        score_pairs_micro<keys()>(q2 + r, ld_q, k + c * k_stride, k_stride, half, m,
                                  s_t + c * ld_s + r, ld_s, pair_dot);
      });
    }
  });
}

void pack_probability_pairs(const float* p_t, std::int64_t ld_s, std::int64_t cols,
                            std::int64_t padded_rows, std::uint32_t* p2, std::int64_t ld_p) {
  const FloatTag df;
  const PairTag du;
  const auto bias = hn::Set(du, 0x7FFFu);
  const auto one = hn::Set(du, 1u);
  const auto upper = hn::Set(du, 0xFFFF0000u);
  // Round to nearest even on the bits: probabilities are finite and non-negative.
  const auto rounded = [&](const float* p) {
    const auto u = hn::BitCast(du, hn::LoadU(df, p));
    return hn::And(hn::Add(u, hn::Add(bias, hn::And(hn::ShiftRight<16>(u), one))), upper);
  };
  for (std::int64_t c = 0; c < cols; c += 2)
    for (std::int64_t r = 0; r < padded_rows; r += kLanes) {
      const auto even = rounded(p_t + c * ld_s + r);
      const auto odd = c + 1 < cols ? rounded(p_t + (c + 1) * ld_s + r) : hn::Zero(du);
      hn::StoreU(hn::Or(hn::ShiftRight<16>(even), odd), du, p2 + (c / 2) * ld_p + r);
    }
}

void interleave_key_pairs(const bf16* v, std::int64_t v_stride, std::int64_t cols,
                          std::int64_t head_dim, std::uint32_t* v2, std::int64_t ld_v) {
  const PairTag du;
  const hn::Rebind<std::uint16_t, PairTag> du16;
  for (std::int64_t c = 0; c < cols; c += 2) {
    const auto* even = reinterpret_cast<const std::uint16_t*>(v + c * v_stride);
    const auto* odd = reinterpret_cast<const std::uint16_t*>(v + (c + 1) * v_stride);
    std::uint32_t* dst = v2 + (c / 2) * ld_v;
    if (c + 1 < cols)
      for (std::int64_t e = 0; e < head_dim; e += kLanes)
        hn::StoreU(hn::Or(hn::PromoteTo(du, hn::LoadU(du16, even + e)),
                          hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(du16, odd + e)))),
                   du, dst + e);
    else
      for (std::int64_t e = 0; e < head_dim; e += kLanes)
        hn::StoreU(hn::PromoteTo(du, hn::LoadU(du16, even + e)), du, dst + e);
  }
}

void accumulate_tile_pairs(const std::uint32_t* p2, std::int64_t ld_p, std::int64_t rows,
                           std::int64_t cols, const float* correction, const std::uint32_t* v2,
                           std::int64_t ld_v, std::int64_t head_dim, float* acc,
                           std::int64_t ld_acc, Bf16Dot dot, PrefetchStream* prefetch) {
  const std::int64_t pairs = (cols + 1) / 2;
  with_dot(dot, [&](auto pair_dot) {
    std::int64_t r = 0;
    for (; r + kBlocking <= rows; r += kBlocking)
      value_pairs_rows<kBlocking>(p2 + r, ld_p, pairs, correction + r, v2, ld_v, head_dim,
                                  acc + r * ld_acc, ld_acc, pair_dot, r == 0 ? prefetch : nullptr);
    with_count<kBlocking - 1>(rows - r, [&](auto n) {
      value_pairs_rows<n()>(p2 + r, ld_p, pairs, correction + r, v2, ld_v, head_dim,
                            acc + r * ld_acc, ld_acc, pair_dot, r == 0 ? prefetch : nullptr);
    });
  });
}

}  // namespace attn::kernel::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace attn::kernel {

HWY_EXPORT(pack_query_pairs);
HWY_EXPORT(score_tile_pairs);
HWY_EXPORT(pack_probability_pairs);
HWY_EXPORT(interleave_key_pairs);
HWY_EXPORT(accumulate_tile_pairs);

std::string_view bf16_dot_name(Bf16Dot dot) {
  switch (dot) {
    case Bf16Dot::kPairs:
      return "pairs";
    case Bf16Dot::kVdpbf16ps:
      return "vdpbf16ps";
    case Bf16Dot::kAmx:
      return "amx";
    case Bf16Dot::kWidening:
      break;
  }
  return "widening";
}

bool can_run(Bf16Dot dot) {
  if (dot == Bf16Dot::kWidening || dot == Bf16Dot::kPairs) return true;
#if defined(__x86_64__)
  if (path_name(Dtype::kFp32) != "avx512") return false;
  return dot == Bf16Dot::kAmx ? amx_usable() : __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

namespace {
// The vector pair kernels for what the tiles do not take (VDPBF16PS on every AMX CPU so far).
Bf16Dot amx_fallback() {
  return can_run(Bf16Dot::kVdpbf16ps) ? Bf16Dot::kVdpbf16ps : Bf16Dot::kPairs;
}
}  // namespace

Bf16Dot bf16_dot() {
  // Chosen on first use, after the kernel path (ATTN_KERNEL_PATH) is settled.
  static const Bf16Dot chosen = [] {
    const char* wanted = std::getenv("ATTN_BF16_DOT");
    if (wanted == nullptr || *wanted == '\0' || std::string_view(wanted) == "auto") {
#if defined(__x86_64__)
      if (can_run(Bf16Dot::kAmx)) return Bf16Dot::kAmx;
      // AMD's AVX512_BF16 (Zen 4, Zen 5) runs VDPBF16PS on both 512-bit pipes, twice the FP32
      // FMA rate; Intel's (Cooper Lake, Sapphire Rapids) at half the FMA rate.
      if (can_run(Bf16Dot::kVdpbf16ps) && __builtin_cpu_is("amd")) return Bf16Dot::kVdpbf16ps;
#endif
      return Bf16Dot::kWidening;
    }
    for (const Bf16Dot dot :
         {Bf16Dot::kWidening, Bf16Dot::kPairs, Bf16Dot::kVdpbf16ps, Bf16Dot::kAmx})
      if (bf16_dot_name(dot) == wanted && can_run(dot)) return dot;
    std::fprintf(stderr,
                 "ATTN_BF16_DOT=%s is not a bf16 dot-product path this CPU can run; allowed: auto, "
                 "widening, pairs%s%s\n",
                 wanted, can_run(Bf16Dot::kVdpbf16ps) ? ", vdpbf16ps" : "",
                 can_run(Bf16Dot::kAmx) ? ", amx" : "");
    std::exit(2);
  }();
  return chosen;
}

void pack_query_pairs(const float* q, std::int64_t q_stride, std::int64_t rows,
                      std::int64_t padded_rows, std::int64_t head_dim, std::uint32_t* q2,
                      std::int64_t ld_q) {
  HWY_DYNAMIC_DISPATCH(pack_query_pairs)(q, q_stride, rows, padded_rows, head_dim, q2, ld_q);
}

void score_tile_pairs(const std::uint32_t* q2, std::int64_t ld_q, std::int64_t padded_rows,
                      const bf16* k, std::int64_t k_stride, std::int64_t cols,
                      std::int64_t head_dim, float multiplier, float* s_t, std::int64_t ld_s,
                      Bf16Dot dot, PrefetchStream* prefetch) {
  if (dot == Bf16Dot::kAmx) {
    // The tiles take whole groups of 16 keys; the rest, and head dims they do not take, go to
    // the vector pair kernels.
    const std::int64_t done = amx_fits(head_dim) && padded_rows % 16 == 0
                                  ? score_tile_amx(q2, ld_q, padded_rows, k, k_stride, cols,
                                                   head_dim, multiplier, s_t, ld_s)
                                  : 0;
    if (done == cols) return;
    k += done * k_stride;
    s_t += done * ld_s;
    cols -= done;
    dot = amx_fallback();
  }
  HWY_DYNAMIC_DISPATCH(score_tile_pairs)
  (q2, ld_q, padded_rows, k, k_stride, cols, head_dim, multiplier, s_t, ld_s, dot, prefetch);
}

void pack_probability_pairs(const float* p_t, std::int64_t ld_s, std::int64_t cols,
                            std::int64_t padded_rows, std::uint32_t* p2, std::int64_t ld_p) {
  HWY_DYNAMIC_DISPATCH(pack_probability_pairs)(p_t, ld_s, cols, padded_rows, p2, ld_p);
}

void interleave_key_pairs(const bf16* v, std::int64_t v_stride, std::int64_t cols,
                          std::int64_t head_dim, std::uint32_t* v2, std::int64_t ld_v) {
  HWY_DYNAMIC_DISPATCH(interleave_key_pairs)(v, v_stride, cols, head_dim, v2, ld_v);
}

void accumulate_tile_pairs(const std::uint32_t* p2, std::int64_t ld_p, std::int64_t rows,
                           std::int64_t cols, const float* correction, const std::uint32_t* v2,
                           std::int64_t ld_v, std::int64_t head_dim, float* acc,
                           std::int64_t ld_acc, Bf16Dot dot, PrefetchStream* prefetch) {
  if (dot == Bf16Dot::kAmx) {
    if (amx_fits(head_dim))
      return accumulate_tile_amx(p2, ld_p, rows, cols, correction, v2, ld_v, head_dim, acc, ld_acc);
    dot = amx_fallback();
  }
  HWY_DYNAMIC_DISPATCH(accumulate_tile_pairs)
  (p2, ld_p, rows, cols, correction, v2, ld_v, head_dim, acc, ld_acc, dot, prefetch);
}

}  // namespace attn::kernel
#endif  // HWY_ONCE
