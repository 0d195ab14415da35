/* Public entry points of the norm family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "norm_kernels.h"

GK_DEFINE_TABLE_GETTER(norm)

/* ---- normalization ---------------------------------------------------------------- */
#define GK_CHECK_SHAPE(rows, cols) GK_CHECK_SIZE(rows); GK_CHECK_SIZE(cols)
#define GK_CHECK_EPS(eps) GK_CHECK_VALUE((eps) >= 0.0, eps)
/* the checks LayerNorm and RMSNorm share, in the order they report */
#define GK_CHECK_ROWS_FWD(rows, cols, eps, x, y) \
    GK_CHECK_SHAPE(rows, cols); \
    GK_CHECK_EPS(eps); \
    GK_CHECK_PTR_IF(rows * cols > 0, x); \
    GK_CHECK_PTR_IF(rows * cols > 0, y)
#define GK_CHECK_ROWS_BWD(rows, cols, dy, x, dx) \
    GK_CHECK_SHAPE(rows, cols); \
    GK_CHECK_PTR_IF(rows * cols > 0, dy); \
    GK_CHECK_PTR_IF(rows * cols > 0, x); \
    GK_CHECK_PTR_IF(rows * cols > 0, dx)

#define GK_DEFINE_NORM(T, SFX) \
int gk_layer_norm_##SFX(const T *x, const T *weight, const T *bias, T *y, T *mean, \
                        T *rstd, gk_index rows, gk_index cols, double eps) \
{ \
    GK_CHECK_ROWS_FWD(rows, cols, eps, x, y); \
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
    GK_CHECK_ROWS_BWD(rows, cols, dy, x, dx); \
    GK_CHECK_PTR_IF(rows > 0, mean); \
    GK_CHECK_PTR_IF(rows > 0, rstd); \
    return norm_table()->layer_norm_bwd_##SFX(dy, x, mean, rstd, weight, dx, \
                                                     dweight, dbias, rows, cols); \
} \
int gk_rms_norm_##SFX(const T *x, const T *weight, T *y, T *rstd, gk_index rows, \
                      gk_index cols, double eps) \
{ \
    GK_CHECK_ROWS_FWD(rows, cols, eps, x, y); \
    if (rows > 0 && cols > 0) \
        norm_table()->rms_norm_fwd_##SFX(x, weight, y, rstd, rows, cols, eps); \
    else if (rows > 0 && rstd) \
        for (gk_index i = 0; i < rows; ++i) rstd[i] = (T)(1.0 / sqrt(eps)); \
    return GK_OK; \
} \
int gk_rms_norm_backward_##SFX(const T *dy, const T *x, const T *rstd, const T *weight, \
                               T *dx, T *dweight, gk_index rows, gk_index cols) \
{ \
    GK_CHECK_ROWS_BWD(rows, cols, dy, x, dx); \
    GK_CHECK_PTR_IF(rows > 0, rstd); \
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
    GK_CHECK_SIZE(batch); \
    GK_CHECK_SIZE(channels); \
    GK_CHECK_SIZE(inner); \
    GK_CHECK_EPS(eps); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, x); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, y); \
    if (channels == 0) return GK_OK; \
    /* both running statistics or neither; eval mode needs them */ \
    GK_CHECK_PTR_IF(running_mean != NULL || !training, running_var); \
    GK_CHECK_PTR_IF(running_var != NULL || !training, running_mean); \
    if (training) { \
        GK_CHECK_VALUE(!running_mean || (momentum >= 0.0 && momentum <= 1.0), momentum); \
        /* one value per channel: no variance to normalize with */ \
        GK_CHECK(batch * inner != 1, GK_EVALUE, batch); \
    } \
    return norm_table()->batch_norm_fwd_##SFX(x, weight, bias, y, mean, rstd, \
                                              running_mean, running_var, batch, channels, \
                                              inner, training, momentum, eps); \
} \
int gk_batch_norm_backward_##SFX(const T *dy, const T *x, const T *mean, const T *rstd, \
                                 const T *weight, T *dx, T *dweight, T *dbias, \
                                 gk_index batch, gk_index channels, gk_index inner) \
{ \
    GK_CHECK_SIZE(batch); \
    GK_CHECK_SIZE(channels); \
    GK_CHECK_SIZE(inner); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, dy); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, x); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, dx); \
    GK_CHECK_PTR_IF(channels > 0 && batch * inner > 0, mean); \
    GK_CHECK_PTR_IF(channels > 0 && batch * inner > 0, rstd); \
    return norm_table()->batch_norm_bwd_##SFX(dy, x, mean, rstd, weight, dx, dweight, \
                                              dbias, batch, channels, inner); \
}

GK_DEFINE_BATCH_NORM(float, f32)
GK_DEFINE_BATCH_NORM(double, f64)
