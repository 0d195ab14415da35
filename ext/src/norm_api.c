/* Public entry points of the norm family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "kernels.h"
#include "norm_kernels.h"

GK_DEFINE_TABLE_GETTER(norm)

/* ---- normalization ---------------------------------------------------------------- */
#define GK_CHECK_SHAPE(rows, cols) \
    if ((rows) < 0 || (cols) < 0) return GK_ESIZE
#define GK_CHECK_EPS(eps) \
    if (!((eps) >= 0.0)) return GK_EVALUE

#define GK_DEFINE_NORM(T, SFX) \
int gk_layer_norm_##SFX(const T *x, const T *weight, const T *bias, T *y, T *mean, \
                        T *rstd, gk_index rows, gk_index cols, double eps) \
{ \
    GK_CHECK_SHAPE(rows, cols); \
    GK_CHECK_EPS(eps); \
    if (rows * cols > 0 && (!x || !y)) return GK_ENULL; \
    if (rows > 0 && cols > 0) \
        norm_table()->layer_norm_fwd_##SFX(x, weight, bias, y, mean, rstd, rows, \
                                                  cols, eps); \
    else if (rows > 0) { \
        for (gk_index i = 0; i < rows; ++i) { \
            if (mean) mean[i] = 0; \
            if (rstd) rstd[i] = (T)(1.0 / sqrt(eps)); \
        } \
    } \
    return GK_OK; \
} \
int gk_layer_norm_backward_##SFX(const T *dy, const T *x, const T *mean, const T *rstd, \
                                 const T *weight, T *dx, T *dweight, T *dbias, \
                                 gk_index rows, gk_index cols) \
{ \
    GK_CHECK_SHAPE(rows, cols); \
    if (rows * cols > 0 && (!dy || !x || !dx)) return GK_ENULL; \
    if (rows > 0 && (!mean || !rstd)) return GK_ENULL; \
    return norm_table()->layer_norm_bwd_##SFX(dy, x, mean, rstd, weight, dx, \
                                                     dweight, dbias, rows, cols); \
} \
int gk_rms_norm_##SFX(const T *x, const T *weight, T *y, T *rstd, gk_index rows, \
                      gk_index cols, double eps) \
{ \
    GK_CHECK_SHAPE(rows, cols); \
    GK_CHECK_EPS(eps); \
    if (rows * cols > 0 && (!x || !y)) return GK_ENULL; \
    if (rows > 0 && cols > 0) \
        norm_table()->rms_norm_fwd_##SFX(x, weight, y, rstd, rows, cols, eps); \
    else if (rows > 0 && rstd) \
        for (gk_index i = 0; i < rows; ++i) rstd[i] = (T)(1.0 / sqrt(eps)); \
    return GK_OK; \
} \
int gk_rms_norm_backward_##SFX(const T *dy, const T *x, const T *rstd, const T *weight, \
                               T *dx, T *dweight, gk_index rows, gk_index cols) \
{ \
    GK_CHECK_SHAPE(rows, cols); \
    if (rows * cols > 0 && (!dy || !x || !dx)) return GK_ENULL; \
    if (rows > 0 && !rstd) return GK_ENULL; \
    return norm_table()->rms_norm_bwd_##SFX(dy, x, rstd, weight, dx, dweight, \
                                                   rows, cols); \
}

GK_DEFINE_NORM(float, f32)
GK_DEFINE_NORM(double, f64)

/* ---- BatchNorm -------------------------------------------------------------------- */
#define GK_DEFINE_BATCH_NORM(T, SFX) \
int gk_batch_norm_##SFX(const T *x, const T *weight, const T *bias, T *y, T *mean, \
                        T *rstd, T *running_mean, T *running_var, gk_index batch, \
                        gk_index channels, gk_index inner, int training, double momentum, \
                        double eps) \
{ \
    if (batch < 0 || channels < 0 || inner < 0) return GK_ESIZE; \
    GK_CHECK_EPS(eps); \
    if (batch * channels * inner > 0 && (!x || !y)) return GK_ENULL; \
    if (channels == 0) return GK_OK; \
    if ((running_mean == NULL) != (running_var == NULL)) return GK_ENULL; \
    if (training) { \
        if (running_mean && !(momentum >= 0.0 && momentum <= 1.0)) return GK_EVALUE; \
        if (batch * inner == 1) return GK_EVALUE; \
    } else if (!running_mean) { \
        return GK_ENULL; \
    } \
    return norm_table()->batch_norm_fwd_##SFX(x, weight, bias, y, mean, rstd, \
                                              running_mean, running_var, batch, channels, \
                                              inner, training, momentum, eps); \
} \
int gk_batch_norm_backward_##SFX(const T *dy, const T *x, const T *mean, const T *rstd, \
                                 const T *weight, T *dx, T *dweight, T *dbias, \
                                 gk_index batch, gk_index channels, gk_index inner) \
{ \
    if (batch < 0 || channels < 0 || inner < 0) return GK_ESIZE; \
    if (batch * channels * inner > 0 && (!dy || !x || !dx)) return GK_ENULL; \
    if (channels > 0 && batch * inner > 0 && (!mean || !rstd)) return GK_ENULL; \
    return norm_table()->batch_norm_bwd_##SFX(dy, x, mean, rstd, weight, dx, dweight, \
                                              dbias, batch, channels, inner); \
}

GK_DEFINE_BATCH_NORM(float, f32)
GK_DEFINE_BATCH_NORM(double, f64)
