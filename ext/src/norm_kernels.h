/* The norm family's per-ISA table (see kernels.h). */
#ifndef GK_NORM_KERNELS_H
#define GK_NORM_KERNELS_H
#include "gradkit/common.h"

#define GK_NORM_SIGS(T, SFX) \
    void (*layer_norm_fwd_##SFX)(const T *x, const T *w, const T *b, T *y, T *mean, \
                                 T *rstd, gk_index rows, gk_index cols, double eps); \
    int (*layer_norm_bwd_##SFX)(const T *dy, const T *x, const T *mean, const T *rstd, \
                                const T *w, T *dx, T *dw, T *db, gk_index rows, \
                                gk_index cols); \
    void (*rms_norm_fwd_##SFX)(const T *x, const T *w, T *y, T *rstd, gk_index rows, \
                               gk_index cols, double eps); \
    int (*rms_norm_bwd_##SFX)(const T *dy, const T *x, const T *rstd, const T *w, T *dx, \
                              T *dw, gk_index rows, gk_index cols); \
    int (*batch_norm_fwd_##SFX)(const T *x, const T *w, const T *b, T *y, T *mean, \
                                T *rstd, T *running_mean, T *running_var, gk_index batch, \
                                gk_index channels, gk_index inner, int training, \
                                double momentum, double eps); \
    int (*batch_norm_bwd_##SFX)(const T *dy, const T *x, const T *mean, const T *rstd, \
                                const T *w, T *dx, T *dw, T *db, gk_index batch, \
                                gk_index channels, gk_index inner);

typedef struct {
    GK_NORM_SIGS(float, f32)
    GK_NORM_SIGS(double, f64)
} gk_norm_table;

#endif
