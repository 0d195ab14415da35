/* Row-major matrix products through the column-major BLAS gemm the wrapper modules hand
 * the kernels (gk_blas_fns): C (m x n) = alpha op(A) op(B) + beta C with every matrix
 * in C order, leading dimensions in elements.  A row-major matrix is its transpose in
 * column-major order, so the call is C^T = op(B)^T op(A)^T: the operands swap.  Nothing
 * is called for an empty C. */
#ifndef GK_GEMM_H
#define GK_GEMM_H
#include "gk_internal.h"

#define GK_DEFINE_GEMM_RM(SFX, T, FN)                                                    \
GK_INLINE void gk_gemm_rm_##SFX(FN gemm, char ta, char tb, gk_index m, gk_index n,     \
                                gk_index k, T alpha, const T *a, gk_index lda,         \
                                const T *b, gk_index ldb, T beta, T *c, gk_index ldc)  \
{                                                                                        \
    gk_blas_int mm = (gk_blas_int)m, nn = (gk_blas_int)n, kk = (gk_blas_int)k;          \
    gk_blas_int la = (gk_blas_int)lda, lb = (gk_blas_int)ldb, lc = (gk_blas_int)ldc;    \
    if (m == 0 || n == 0)                                                                \
        return;                                                                          \
    gemm(&tb, &ta, &nn, &mm, &kk, &alpha, (T *)b, &lb, (T *)a, &la, &beta, c, &lc);     \
}
GK_DEFINE_GEMM_RM(f32, float, gk_sgemm_fn)
GK_DEFINE_GEMM_RM(f64, double, gk_dgemm_fn)
#undef GK_DEFINE_GEMM_RM

#endif
