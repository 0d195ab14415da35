/* The linear family's per-ISA table (see kernels.h). */
#ifndef GK_LINEAR_KERNELS_H
#define GK_LINEAR_KERNELS_H
#include "gradkit/linear.h"

#define GK_LINEAR_SIGS(T, SFX) \
    int (*matmul_##SFX)(const T *a, gk_index lda, int trans_a, const T *b, gk_index ldb, \
                        int trans_b, const T *bias, T *c, gk_index ldc, gk_index m, \
                        gk_index n, gk_index k, T *row_sums, const gk_blas_fns *blas);

typedef struct {
    GK_LINEAR_SIGS(float, f32)
    GK_LINEAR_SIGS(double, f64)
} gk_linear_table;

#endif
