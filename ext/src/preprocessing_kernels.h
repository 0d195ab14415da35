/* The preprocessing family's per-ISA table (see kernels.h). */
#ifndef GK_PREPROCESSING_KERNELS_H
#define GK_PREPROCESSING_KERNELS_H
#include "gradkit/preprocessing.h"

#define GK_PREPROCESSING_SIGS(T, SFX) \
    int (*col_moments_##SFX)(const T *x, gk_index rows, gk_index cols, double *mean, \
                             double *m2); \
    int (*center_##SFX)(const T *x, gk_index rows, gk_index cols, const double *mean_in, \
                        double *mean_out, double *xc, int *nonfinite); \
    int (*scatter_##SFX)(const T *x, gk_index rows, gk_index cols, double *mean, \
                         double *s, gk_dsyrk_fn syrk, int *nonfinite); \
    int (*project_##SFX)(const T *x, gk_index rows, gk_index cols, const double *mean, \
                         const double *m, gk_index k, T *y, gk_dgemm_fn gemm, \
                         int *nonfinite); \
    int (*standardize_##SFX)(const T *x, T *y, gk_index rows, gk_index cols, \
                              const double *mean, const double *scale, int *nonfinite);

typedef struct {
    GK_PREPROCESSING_SIGS(float, f32)
    GK_PREPROCESSING_SIGS(double, f64)
    gk_index (*scatter_tasks)(gk_index rows, gk_index cols);
    void (*merge_mean_scatter)(gk_index n_a, double *mean_a, double *s_a, gk_index n_b,
                               const double *mean_b, gk_index cols);
} gk_preprocessing_table;

#endif
