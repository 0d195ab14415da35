# Declarations of include/gradkit/preprocessing.h for the Cython wrappers.
from _cgradkit cimport gk_index

cdef extern from "gradkit/preprocessing.h" nogil:
    int gk_col_moments_f32(const float *x, gk_index rows, gk_index cols, double *mean,
                           double *m2)
    int gk_col_moments_f64(const double *x, gk_index rows, gk_index cols, double *mean,
                           double *m2)
    int gk_center_f32(const float *x, gk_index rows, gk_index cols, const double *mean_in,
                      double *mean_out, double *xc, int *nonfinite)
    int gk_center_f64(const double *x, gk_index rows, gk_index cols, const double *mean_in,
                      double *mean_out, double *xc, int *nonfinite)
    int gk_merge_mean_scatter(gk_index n_a, double *mean_a, double *s_a, gk_index n_b,
                              const double *mean_b, gk_index cols)
    int gk_standardize_f32(const float *x, float *y, gk_index rows, gk_index cols,
                           const double *mean, const double *scale, int *nonfinite)
    int gk_standardize_f64(const double *x, double *y, gk_index rows, gk_index cols,
                           const double *mean, const double *scale, int *nonfinite)
    ctypedef void (*gk_dsyrk_fn)(char *uplo, char *trans, int *n, int *k, double *alpha,
                                 double *a, int *lda, double *beta, double *c, int *ldc)
    ctypedef void (*gk_dgemm_fn)(char *transa, char *transb, int *m, int *n, int *k,
                                 double *alpha, double *a, int *lda, double *b, int *ldb,
                                 double *beta, double *c, int *ldc)
    gk_index gk_scatter_tasks(gk_index rows, gk_index cols)
    int gk_scatter_f32(const float *x, gk_index rows, gk_index cols, double *mean,
                       double *s, gk_dsyrk_fn syrk, int *nonfinite)
    int gk_scatter_f64(const double *x, gk_index rows, gk_index cols, double *mean,
                       double *s, gk_dsyrk_fn syrk, int *nonfinite)
    int gk_project_f32(const float *x, gk_index rows, gk_index cols, const double *mean,
                       const double *m, gk_index k, float *y, gk_dgemm_fn gemm,
                       int *nonfinite)
    int gk_project_f64(const double *x, gk_index rows, gk_index cols, const double *mean,
                       const double *m, gk_index k, double *y, gk_dgemm_fn gemm,
                       int *nonfinite)
