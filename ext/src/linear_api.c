/* Public entry points of the linear family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "linear_kernels.h"

GK_DEFINE_TABLE_GETTER(linear)

/* The largest dimension (leading dimensions too) the products take: far inside
 * gk_blas_int, as the baseline table hands them to BLAS. */
#define GK_LIN_MAX ((gk_index)1 << 30)

#define GK_DEFINE_LINEAR(T, SFX, GEMM) \
int gk_matmul_##SFX(const T *a, gk_index lda, int trans_a, const T *b, gk_index ldb, \
                    int trans_b, const T *bias, T *c, gk_index ldc, gk_index m, \
                    gk_index n, gk_index k, T *row_sums, const gk_blas_fns *blas) \
{ \
    GK_CHECK(m >= 0 && m <= GK_LIN_MAX, GK_ESIZE, m); \
    GK_CHECK(n >= 0 && n <= GK_LIN_MAX, GK_ESIZE, n); \
    GK_CHECK(k >= 0 && k <= GK_LIN_MAX, GK_ESIZE, k); \
    /* a row of a, b and c holds its matrix's row: at least one element (BLAS's rule) */ \
    GK_CHECK(lda >= (trans_a ? m : k) && lda >= 1 && lda <= GK_LIN_MAX, GK_ESIZE, lda); \
    GK_CHECK(ldb >= (trans_b ? k : n) && ldb >= 1 && ldb <= GK_LIN_MAX, GK_ESIZE, ldb); \
    GK_CHECK(ldc >= n && ldc >= 1 && ldc <= GK_LIN_MAX, GK_ESIZE, ldc); \
    GK_CHECK_PTR_IF(m > 0 && k > 0, a); \
    GK_CHECK_PTR_IF(n > 0 && k > 0, b); \
    GK_CHECK_PTR_IF(m > 0 && n > 0, c); \
    GK_CHECK_PTR_IF(m > 0 && n > 0 && k > 0, blas); \
    GK_CHECK(m == 0 || n == 0 || k == 0 || blas->GEMM != NULL, GK_ENULL, blas); \
    if (m == 0 || (n == 0 && !row_sums)) return GK_OK; \
    return linear_table()->matmul_##SFX(a, lda, trans_a, b, ldb, trans_b, bias, c, ldc, \
                                        m, n, k, row_sums, blas); \
}

GK_DEFINE_LINEAR(float, f32, sgemm)
GK_DEFINE_LINEAR(double, f64, dgemm)
