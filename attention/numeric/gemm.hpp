#pragma once

#include <cstdint>
#include <string>

namespace attn {

// Row-major single-precision GEMM through OpenBLAS: C = alpha · A · op(B) + beta · C, where
// op(B) is B (trans_b false) or Bᵀ. A is m×k; op(B) is k×n; C is m×n.
void sgemm(bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
           const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
           std::int64_t ldc);

// OpenBLAS runs single-threaded inside our oneTBB tasks, so threads are never oversubscribed.
// sgemm() calls it itself; idempotent.
void use_single_threaded_blas();

// The kernel family OpenBLAS chose at run time (e.g. "Haswell", "SkylakeX"), for the CSV.
std::string blas_core_name();

}  // namespace attn
