/* gradkit matrix products: the linear layer's forward and backward (see gradkit.h). */
#ifndef GRADKIT_LINEAR_H
#define GRADKIT_LINEAR_H
#include "gradkit/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* c (m x n, row stride ldc) = op(a) op(b) + bias, every matrix in C order.  op(a) (m x
 * k) is a (row stride lda), or with trans_a nonzero the transpose of a (a: k x m, row
 * stride lda); op(b) (k x n) likewise with ldb and trans_b.  bias: n elements added to
 * every row, or NULL.  row_sums: NULL, or m elements that receive the sums of op(a)'s
 * rows (in double, rounded once: a linear layer's bias gradient when op(a) = dy^T).
 * k == 0 gives c = bias (0 without).  c must not overlap a, b, bias or row_sums.
 * The AVX2 and AVX-512 tables compute the product themselves (gradkit's tiles of fused
 * multiply-adds, the same bits on both and for every thread count); the baseline table
 * calls blas->sgemm / dgemm, which must then be set.  GK_ENOMEM if the packed copies of
 * the operands cannot be allocated. */
int gk_matmul_f32(const float *a, gk_index lda, int trans_a, const float *b, gk_index ldb,
                  int trans_b, const float *bias, float *c, gk_index ldc, gk_index m,
                  gk_index n, gk_index k, float *row_sums, const gk_blas_fns *blas);
int gk_matmul_f64(const double *a, gk_index lda, int trans_a, const double *b,
                  gk_index ldb, int trans_b, const double *bias, double *c, gk_index ldc,
                  gk_index m, gk_index n, gk_index k, double *row_sums,
                  const gk_blas_fns *blas);

#ifdef __cplusplus
}
#endif
#endif
