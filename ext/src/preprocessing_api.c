/* Public entry points of the preprocessing family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "preprocessing_kernels.h"

GK_DEFINE_TABLE_GETTER(preprocessing)

#define GK_DEFINE_PREPROCESSING(T, SFX) \
int gk_col_moments_##SFX(const T *x, gk_index rows, gk_index cols, double *mean, \
                         double *m2) \
{ \
    GK_CHECK(rows >= 1, GK_ESIZE, rows); \
    GK_CHECK_SIZE(cols); \
    GK_CHECK_PTR_IF(cols > 0, x); \
    GK_CHECK_PTR_IF(cols > 0, mean); \
    GK_CHECK_PTR_IF(cols > 0, m2); \
    if (cols == 0) return GK_OK; \
    return preprocessing_table()->col_moments_##SFX(x, rows, cols, mean, m2); \
} \
int gk_center_##SFX(const T *x, gk_index rows, gk_index cols, const double *mean_in, \
                    double *mean_out, double *xc, int *nonfinite) \
{ \
    GK_CHECK_SIZE(rows); \
    GK_CHECK_SIZE(cols); \
    GK_CHECK(mean_in || rows >= 1, GK_ESIZE, rows);  /* no rows to take a mean of */ \
    GK_CHECK_PTR_IF(rows * cols > 0, x); \
    GK_CHECK_PTR_IF(rows * cols > 0, xc); \
    if (nonfinite) *nonfinite = 0; \
    if (cols == 0 || rows == 0) return GK_OK; \
    return preprocessing_table()->center_##SFX(x, rows, cols, mean_in, mean_out, xc, \
                                               nonfinite); \
} \
int gk_standardize_##SFX(const T *x, T *y, gk_index rows, gk_index cols, \
                         const double *mean, const double *scale, int *nonfinite) \
{ \
    GK_CHECK_SIZE(rows); \
    GK_CHECK_SIZE(cols); \
    GK_CHECK_PTR_IF(rows * cols > 0, x); \
    GK_CHECK_PTR_IF(rows * cols > 0, y); \
    if (nonfinite) *nonfinite = 0; \
    if (rows * cols == 0) return GK_OK; \
    return preprocessing_table()->standardize_##SFX(x, y, rows, cols, mean, scale, \
                                                    nonfinite); \
}

/* The largest BLAS dimension (leading dimensions too) the kernels pass: far inside
 * gk_blas_int, whose rows-times-cols products they never form. */
#define GK_BLAS_MAX ((gk_index)1 << 30)

/* The checks gk_project and gk_project_t share (x: rows x cols, m: rows or cols x k). */
#define GK_PROJECT_CHECKS(GEMM) \
    GK_CHECK_SIZE(rows); \
    GK_CHECK(cols >= 1 && cols <= GK_BLAS_MAX, GK_ESIZE, cols); \
    GK_CHECK(k >= 0 && k <= GK_BLAS_MAX, GK_ESIZE, k); \
    GK_CHECK_PTR_IF(rows > 0, x); \
    GK_CHECK_PTR_IF(rows > 0, mean); \
    GK_CHECK_PTR_IF(rows > 0, blas); \
    GK_CHECK(rows == 0 || blas->GEMM != NULL, GK_ENULL, blas); \
    GK_CHECK_PTR_IF(rows > 0 && k > 0, m)

#define GK_DEFINE_BLAS_DRIVEN(T, SFX, SYRK, GEMM) \
int gk_scatter_##SFX(const T *x, gk_index rows, gk_index cols, double *mean, double *s, \
                     const gk_blas_fns *blas, int *nonfinite) \
{ \
    GK_CHECK(rows >= 1, GK_ESIZE, rows); \
    GK_CHECK(cols >= 0 && cols <= GK_BLAS_MAX, GK_ESIZE, cols); \
    GK_CHECK_PTR_IF(cols > 0, x); \
    GK_CHECK_PTR_IF(cols > 0, mean); \
    GK_CHECK_PTR_IF(cols > 0, s); \
    GK_CHECK_PTR_IF(cols > 0, blas); \
    GK_CHECK(cols == 0 || blas->SYRK != NULL, GK_ENULL, blas); \
    if (nonfinite) *nonfinite = 0; \
    if (cols == 0) return GK_OK; \
    return preprocessing_table()->scatter_##SFX(x, rows, cols, mean, s, blas, nonfinite); \
} \
int gk_project_##SFX(const T *x, gk_index rows, gk_index cols, const double *mean, \
                     const T *m, gk_index k, T *y, const gk_blas_fns *blas, int *nonfinite) \
{ \
    GK_PROJECT_CHECKS(GEMM); \
    GK_CHECK_PTR_IF(rows > 0 && k > 0, y); \
    if (nonfinite) *nonfinite = 0; \
    if (rows == 0) return GK_OK; \
    return preprocessing_table()->project_##SFX(x, rows, cols, mean, m, k, y, blas, \
                                                nonfinite); \
} \
int gk_project_t_##SFX(const T *x, gk_index rows, gk_index cols, const double *mean, \
                       const T *m, gk_index k, T *y, const gk_blas_fns *blas, \
                       int *nonfinite) \
{ \
    GK_PROJECT_CHECKS(GEMM); \
    GK_CHECK_PTR_IF(k > 0, y); \
    if (nonfinite) *nonfinite = 0; \
    if (rows == 0) { \
        for (gk_index e = 0; e < cols * k; ++e) y[e] = 0; \
        return GK_OK; \
    } \
    return preprocessing_table()->project_t_##SFX(x, rows, cols, mean, m, k, y, blas, \
                                                  nonfinite); \
}

#define GK_DEFINE_WEIGHTED_MOMENTS(T, SFX) \
int gk_col_moments_weighted_##SFX(const T *x, gk_index rows, gk_index cols, \
                                  const double *w, double *count, double *mean, \
                                  double *m2) \
{ \
    GK_CHECK_SIZE(rows); \
    GK_CHECK_SIZE(cols); \
    GK_CHECK_PTR_IF(rows * cols > 0, x); \
    GK_CHECK_PTR_IF(cols > 0, count); \
    GK_CHECK_PTR_IF(cols > 0, mean); \
    GK_CHECK_PTR_IF(cols > 0, m2); \
    if (cols == 0) return GK_OK; \
    return preprocessing_table()->col_moments_weighted_##SFX(x, rows, cols, w, count, \
                                                             mean, m2); \
}

GK_DEFINE_WEIGHTED_MOMENTS(float, f32)
GK_DEFINE_WEIGHTED_MOMENTS(double, f64)

/* The checks of a compressed-row (FORM csr: lines = rows, index range cols) or
 * compressed-column (csc: lines = cols, range rows) matrix, then its kernel. */
#define GK_DEFINE_SPARSE_MOMENTS(T, SFX, FORM, LINES, RANGE, IS_CSR, IDX, ISFX) \
int gk_##FORM##_col_moments##ISFX##_##SFX(const T *data, const IDX *indptr, \
                                          const IDX *indices, const double *w, \
                                          gk_index rows, gk_index cols, double total, \
                                          double *count, double *mean, double *m2) \
{ \
    GK_CHECK_SIZE(rows); \
    GK_CHECK_SIZE(cols); \
    GK_CHECK_PTR(indptr); \
    GK_CHECK(indptr[0] == 0, GK_EVALUE, indptr); \
    for (gk_index l = 0; l < (LINES); ++l) \
        GK_CHECK(indptr[l + 1] >= indptr[l] && indptr[l + 1] - indptr[l] <= (RANGE), \
                 GK_EVALUE, indptr); \
    gk_index nnz_ = indptr[LINES]; \
    GK_CHECK_PTR_IF(nnz_ > 0, data); \
    GK_CHECK_PTR_IF(nnz_ > 0 && ((IS_CSR) || w), indices); \
    if ((IS_CSR) || w) { /* the indices the kernel reads: one branch-free pass (a \
                          * check per index took 7% of a CSR fit) */ \
        size_t bad_ = 0; \
        for (gk_index p = 0; p < nnz_; ++p) /* a negative index: a huge size_t */ \
            bad_ |= (size_t)((size_t)(gk_index)indices[p] >= (size_t)(RANGE)); \
        GK_CHECK(!bad_, GK_EVALUE, indices); \
    } \
    GK_CHECK_PTR_IF(cols > 0, count); \
    GK_CHECK_PTR_IF(cols > 0, mean); \
    GK_CHECK_PTR_IF(cols > 0, m2); \
    GK_CHECK(total >= 0 && total <= 1e300, GK_EVALUE, total); \
    if (cols == 0) return GK_OK; \
    return preprocessing_table()->FORM##_col_moments##ISFX##_##SFX(data, indptr, indices, w, \
                                                                   rows, cols, total, \
                                                                   count, mean, m2); \
}

GK_DEFINE_SPARSE_MOMENTS(float, f32, csc, cols, rows, 0, gk_index, )
GK_DEFINE_SPARSE_MOMENTS(double, f64, csc, cols, rows, 0, gk_index, )
GK_DEFINE_SPARSE_MOMENTS(float, f32, csr, rows, cols, 1, gk_index, )
GK_DEFINE_SPARSE_MOMENTS(double, f64, csr, rows, cols, 1, gk_index, )
GK_DEFINE_SPARSE_MOMENTS(float, f32, csc, cols, rows, 0, int32_t, _i32)
GK_DEFINE_SPARSE_MOMENTS(double, f64, csc, cols, rows, 0, int32_t, _i32)
GK_DEFINE_SPARSE_MOMENTS(float, f32, csr, rows, cols, 1, int32_t, _i32)
GK_DEFINE_SPARSE_MOMENTS(double, f64, csr, rows, cols, 1, int32_t, _i32)
GK_DEFINE_PREPROCESSING(float, f32)
GK_DEFINE_PREPROCESSING(double, f64)
GK_DEFINE_BLAS_DRIVEN(float, f32, ssyrk, sgemm)
GK_DEFINE_BLAS_DRIVEN(double, f64, dsyrk, dgemm)

gk_index gk_scatter_tasks(gk_index rows, gk_index cols)
{
    if (rows < 1 || cols < 1) return 1;
    return preprocessing_table()->scatter_tasks(rows, cols);
}

int gk_merge_mean_scatter(gk_index n_a, double *mean_a, double *s_a, gk_index n_b,
                          const double *mean_b, gk_index cols)
{
    GK_CHECK_SIZE(n_a);
    GK_CHECK_SIZE(n_b);
    GK_CHECK_SIZE(cols);
    GK_CHECK_PTR_IF(cols > 0, mean_a);
    GK_CHECK_PTR_IF(cols > 0, mean_b);
    if (cols > 0)
        preprocessing_table()->merge_mean_scatter(n_a, mean_a, s_a, n_b, mean_b, cols);
    return GK_OK;
}
