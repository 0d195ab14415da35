/* The preprocessing family's per-ISA table (see kernels.h). */
#ifndef GK_PREPROCESSING_KERNELS_H
#define GK_PREPROCESSING_KERNELS_H
#include "gradkit/preprocessing.h"

/* the BLAS of each data type, by suffix (for the templates) */
typedef gk_ssyrk_fn gk_pp_syrk_f32;
typedef gk_dsyrk_fn gk_pp_syrk_f64;
typedef gk_sgemm_fn gk_pp_gemm_f32;
typedef gk_dgemm_fn gk_pp_gemm_f64;
static inline gk_ssyrk_fn gk_pp_syrk_of_f32(const gk_blas_fns *b) { return b->ssyrk; }
static inline gk_dsyrk_fn gk_pp_syrk_of_f64(const gk_blas_fns *b) { return b->dsyrk; }
static inline gk_sgemm_fn gk_pp_gemm_of_f32(const gk_blas_fns *b) { return b->sgemm; }
static inline gk_dgemm_fn gk_pp_gemm_of_f64(const gk_blas_fns *b) { return b->dgemm; }

#define GK_PREPROCESSING_SIGS(T, SFX) \
    int (*col_moments_##SFX)(const T *x, gk_index rows, gk_index cols, double *mean, \
                             double *m2); \
    int (*center_##SFX)(const T *x, gk_index rows, gk_index cols, const double *mean_in, \
                        double *mean_out, double *xc, int *nonfinite); \
    int (*scatter_##SFX)(const T *x, gk_index rows, gk_index cols, double *mean, \
                         double *s, const gk_blas_fns *blas, int *nonfinite); \
    int (*project_##SFX)(const T *x, gk_index rows, gk_index cols, const double *mean, \
                         const T *m, gk_index k, T *y, const gk_blas_fns *blas, \
                         int *nonfinite); \
    int (*project_t_##SFX)(const T *x, gk_index rows, gk_index cols, const double *mean, \
                           const T *m, gk_index k, T *y, const gk_blas_fns *blas, \
                           int *nonfinite); \
    int (*standardize_##SFX)(const T *x, T *y, gk_index rows, gk_index cols, \
                              const double *mean, const double *scale, int *nonfinite); \
    int (*col_moments_weighted_##SFX)(const T *x, gk_index rows, gk_index cols, \
                                      const double *w, double *count, double *mean, \
                                      double *m2); \
    int (*csc_col_moments_##SFX)(const T *data, const gk_index *indptr, \
                                 const gk_index *indices, const double *w, gk_index rows, \
                                 gk_index cols, double total, double *count, \
                                 double *mean, double *m2); \
    int (*csr_col_moments_##SFX)(const T *data, const gk_index *indptr, \
                                 const gk_index *indices, const double *w, gk_index rows, \
                                 gk_index cols, double total, double *count, \
                                 double *mean, double *m2); \
    int (*csc_col_moments_i32_##SFX)(const T *data, const int32_t *indptr, \
                                     const int32_t *indices, const double *w, \
                                     gk_index rows, gk_index cols, double total, \
                                     double *count, double *mean, double *m2); \
    int (*csr_col_moments_i32_##SFX)(const T *data, const int32_t *indptr, \
                                     const int32_t *indices, const double *w, \
                                     gk_index rows, gk_index cols, double total, \
                                     double *count, double *mean, double *m2);

typedef struct {
    GK_PREPROCESSING_SIGS(float, f32)
    GK_PREPROCESSING_SIGS(double, f64)
    gk_index (*scatter_tasks)(gk_index rows, gk_index cols);
    void (*merge_mean_scatter)(gk_index n_a, double *mean_a, double *s_a, gk_index n_b,
                               const double *mean_b, gk_index cols);
} gk_preprocessing_table;

#endif
