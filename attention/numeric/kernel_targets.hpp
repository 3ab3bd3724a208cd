// The SIMD targets the kernel files (microkernel.cpp, bf16_pairs.cpp) are compiled for. Included
// before <hwy/foreach_target.h>, so both files have the same targets and one dispatch choice, made
// when the process starts (microkernel.hpp), serves them both.
#pragma once

// Only macros: Highway's headers read them when they are included, so this comes first.

// Scalable-vector targets (SVE, RVV) cannot hold arrays of vectors, which the register-blocked
// kernels need; excluding them makes an Arm build use NEON instead. SSSE3 adds nothing over the
// scalar fallback and SSE4 here, and AVX3_DL nothing over AVX3 for these kernels.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS \
  (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV | HWY_SSSE3 | HWY_AVX3_DL)
#endif
// Every target the compiler can build, unless the build asks for its baseline target alone
// (ATTN_KERNELS_ALL_TARGETS=OFF defines HWY_COMPILE_ONLY_STATIC).
#ifndef HWY_COMPILE_ONLY_STATIC
#define HWY_COMPILE_ALL_ATTAINABLE
#endif
