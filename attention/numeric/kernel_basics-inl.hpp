// What the kernels of every SIMD target share: the vector types, the register blocking and the
// compile-time counts. Included once per target by the kernel files after <hwy/highway.h>, so it
// is guarded per target (Highway's -inl convention), not once per file.
#if defined(ATTN_NUMERIC_KERNEL_BASICS_INL_HPP_) == defined(HWY_TARGET_TOGGLE)
#ifdef ATTN_NUMERIC_KERNEL_BASICS_INL_HPP_
#undef ATTN_NUMERIC_KERNEL_BASICS_INL_HPP_
#else
#define ATTN_NUMERIC_KERNEL_BASICS_INL_HPP_
#endif

#include <hwy/highway.h>

#include <cstdint>
#include <type_traits>

HWY_BEFORE_NAMESPACE();
namespace attn::kernel::HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;
using FloatTag = hn::ScalableTag<float>;
using Vec = hn::Vec<FloatTag>;
inline constexpr std::int64_t kLanes = HWY_LANES(float);

// Register blocking, sized for 16 vector registers: kBlocking × kBlockVecs (6 × 2) accumulators,
// two vector loads and one broadcast per step. With 32 vector registers (AVX-512) 8 × 2
// accumulators leave room for the operands and halve the loads per FMA, which a core with two
// 512-bit FMA ports (Sapphire Rapids) needs.
inline constexpr int kBlocking = HWY_LANES(float) >= 16 ? 8 : 6;
inline constexpr int kBlockVecs = 2;

// Calls f(std::integral_constant<int, n>()) for 1 <= n <= Max (nothing for other n): the
// register-blocked kernels take their row and key counts as template arguments.
template <int Max, class F>
HWY_INLINE void with_count(std::int64_t n, const F& f) {
  if constexpr (Max >= 1) {
    if (n == Max) return f(std::integral_constant<int, Max>());
    with_count<Max - 1>(n, f);
  }
}

}  // namespace attn::kernel::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
