/* Public entry points of the norm family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "norm_kernels.h"
#include "dropout_span.h"

GK_DEFINE_TABLE_GETTER(norm)
GK_DEFINE_TABLE_GETTER(norm_half)

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

/* TS: the data arrays' storage, T: the rest (weight, bias, statistics); TAB: the table of
 * the dtype's kernels */
#define GK_DEFINE_NORM(TS, T, SFX, TAB) \
int gk_layer_norm_##SFX(const TS *x, const T *weight, const T *bias, TS *y, T *mean, \
                        T *rstd, gk_index rows, gk_index cols, double eps) \
{ \
    GK_CHECK_ROWS_FWD(rows, cols, eps, x, y); \
    if (rows > 0 && cols > 0) \
        TAB()->layer_norm_fwd_##SFX(x, weight, bias, y, mean, rstd, rows, \
                                                  cols, eps); \
    else if (rows > 0) { \
        for (gk_index i = 0; i < rows; ++i) { \
            if (mean) mean[i] = 0; \
            if (rstd) rstd[i] = (T)(1.0 / sqrt(eps)); \
        } \
    } \
    return GK_OK; \
} \
int gk_layer_norm_backward_##SFX(const TS *dy, const TS *x, const T *mean, const T *rstd, \
                                 const T *weight, TS *dx, T *dweight, T *dbias, \
                                 gk_index rows, gk_index cols) \
{ \
    GK_CHECK_ROWS_BWD(rows, cols, dy, x, dx); \
    GK_CHECK_PTR_IF(rows > 0, mean); \
    GK_CHECK_PTR_IF(rows > 0, rstd); \
    return TAB()->layer_norm_bwd_##SFX(dy, x, mean, rstd, weight, dx, \
                                                     dweight, dbias, rows, cols); \
} \
int gk_rms_norm_##SFX(const TS *x, const T *weight, TS *y, T *rstd, gk_index rows, \
                      gk_index cols, double eps) \
{ \
    GK_CHECK_ROWS_FWD(rows, cols, eps, x, y); \
    if (rows > 0 && cols > 0) \
        TAB()->rms_norm_fwd_##SFX(x, weight, y, rstd, rows, cols, eps); \
    else if (rows > 0 && rstd) \
        for (gk_index i = 0; i < rows; ++i) rstd[i] = (T)(1.0 / sqrt(eps)); \
    return GK_OK; \
} \
int gk_rms_norm_backward_##SFX(const TS *dy, const TS *x, const T *rstd, const T *weight, \
                               TS *dx, T *dweight, gk_index rows, gk_index cols) \
{ \
    GK_CHECK_ROWS_BWD(rows, cols, dy, x, dx); \
    GK_CHECK_PTR_IF(rows > 0, rstd); \
    return TAB()->rms_norm_bwd_##SFX(dy, x, rstd, weight, dx, dweight, \
                                                   rows, cols); \
}

GK_DEFINE_NORM(float, float, f32, norm_table)
GK_DEFINE_NORM(double, double, f64, norm_table)
GK_DEFINE_NORM(uint16_t, float, f16, norm_half_table)
GK_DEFINE_NORM(uint16_t, float, bf16, norm_half_table)

/* ---- fused residual add + dropout + normalization --------------------------------- */
/* the dropout of a fused call: none when p == 0 */
static gk_fused_drop fused_drop(double p, unsigned long long seed, unsigned long long counter)
{
    gk_fused_drop d = {0};
    if (p == 0.0)
        return d;
    d.on = 1;
    d.keep_max = gk_dropout_keep_max(p, &d.none);
    d.scale = d.none ? 0.0 : 1.0 / (1.0 - p);
    d.k0 = (uint32_t)seed;
    d.k1 = (uint32_t)((uint64_t)seed >> 32);
    d.w0 = (uint64_t)counter;
    return d;
}

#define GK_CHECK_FUSED_FWD(rows, cols, eps, p, x, residual, y, residual_out) \
    GK_CHECK_SHAPE(rows, cols); \
    GK_CHECK_EPS(eps); \
    GK_CHECK_VALUE(p >= 0.0 && p <= 1.0, p); \
    GK_CHECK_PTR_IF(rows * cols > 0, x); \
    GK_CHECK_PTR_IF(rows * cols > 0, residual); \
    GK_CHECK_PTR_IF(rows * cols > 0, y); \
    GK_CHECK_PTR_IF(rows * cols > 0, residual_out)
#define GK_CHECK_FUSED_BWD(rows, cols, p, dy, residual_out, rstd, dx, dresidual) \
    GK_CHECK_SHAPE(rows, cols); \
    GK_CHECK_VALUE(p >= 0.0 && p <= 1.0, p); \
    GK_CHECK_PTR_IF(rows * cols > 0, dy); \
    GK_CHECK_PTR_IF(rows * cols > 0, residual_out); \
    GK_CHECK_PTR_IF(rows * cols > 0, rstd); \
    GK_CHECK_PTR_IF(rows * cols > 0, dx); \
    GK_CHECK_PTR_IF(rows * cols > 0, dresidual)

/* an empty row's statistics (as gk_layer_norm_*), and nothing else to do */
#define GK_FUSED_EMPTY_ROWS(T, rows, mean, rstd, eps) \
    for (gk_index i = 0; i < (rows); ++i) { \
        if (mean) (mean)[i] = 0; \
        if (rstd) (rstd)[i] = (T)(1.0 / sqrt(eps)); \
    }

/* no rows (or empty rows): zero parameter gradients */
#define GK_FUSED_EMPTY_GRADS(cols, dweight, dbias) { \
        for (gk_index j = 0; j < (cols); ++j) { \
            if (dweight) (dweight)[j] = 0; \
            if (dbias) (dbias)[j] = 0; \
        } \
        return GK_OK; \
    }

/* TS: the data arrays' storage, T: the rest; TAB: the table of the dtype's kernels */
#define GK_DEFINE_FUSED(TS, T, SFX, TAB) \
int gk_add_dropout_layer_norm_##SFX(const TS *x, const TS *residual, const T *weight, \
                                    const T *bias, TS *y, TS *residual_out, T *mean, \
                                    T *rstd, unsigned char *mask_bits, gk_index rows, \
                                    gk_index cols, double eps, double p, \
                                    unsigned long long seed, unsigned long long counter) \
{ \
    GK_CHECK_FUSED_FWD(rows, cols, eps, p, x, residual, y, residual_out); \
    gk_fused_drop d = fused_drop(p, seed, counter); \
    if (rows * cols == 0) { \
        GK_FUSED_EMPTY_ROWS(T, rows, mean, rstd, eps) \
        return GK_OK; \
    } \
    return TAB()->add_dropout_norm_fwd_##SFX(0, x, residual, weight, bias, y, \
                                                    residual_out, mean, rstd, \
                                                    d.on ? mask_bits : NULL, rows, cols, \
                                                    eps, &d); \
} \
int gk_add_dropout_rms_norm_##SFX(const TS *x, const TS *residual, const T *weight, TS *y, \
                                  TS *residual_out, T *rstd, unsigned char *mask_bits, \
                                  gk_index rows, gk_index cols, double eps, double p, \
                                  unsigned long long seed, unsigned long long counter) \
{ \
    GK_CHECK_FUSED_FWD(rows, cols, eps, p, x, residual, y, residual_out); \
    gk_fused_drop d = fused_drop(p, seed, counter); \
    if (rows * cols == 0) { \
        GK_FUSED_EMPTY_ROWS(T, rows, (T *)NULL, rstd, eps) \
        return GK_OK; \
    } \
    return TAB()->add_dropout_norm_fwd_##SFX(1, x, residual, weight, NULL, y, \
                                                    residual_out, NULL, rstd, \
                                                    d.on ? mask_bits : NULL, rows, cols, \
                                                    eps, &d); \
} \
int gk_add_dropout_layer_norm_backward_##SFX( \
    const TS *dy, const TS *dresidual_out, const TS *residual_out, const T *mean, \
    const T *rstd, const T *weight, const unsigned char *mask_bits, TS *dx, TS *dresidual, \
    T *dweight, T *dbias, gk_index rows, gk_index cols, double p, \
    unsigned long long seed, unsigned long long counter) \
{ \
    GK_CHECK_FUSED_BWD(rows, cols, p, dy, residual_out, rstd, dx, dresidual); \
    GK_CHECK_PTR_IF(rows * cols > 0, mean); \
    gk_fused_drop d = fused_drop(p, seed, counter); \
    if (rows * cols == 0) \
        GK_FUSED_EMPTY_GRADS(cols, dweight, dbias) \
    return TAB()->add_dropout_norm_bwd_##SFX(0, dy, dresidual_out, residual_out, \
                                                    mean, rstd, weight, mask_bits, dx, \
                                                    dresidual, dweight, dbias, rows, cols, \
                                                    &d); \
} \
int gk_add_dropout_rms_norm_backward_##SFX( \
    const TS *dy, const TS *dresidual_out, const TS *residual_out, const T *rstd, \
    const T *weight, const unsigned char *mask_bits, TS *dx, TS *dresidual, T *dweight, \
    gk_index rows, gk_index cols, double p, unsigned long long seed, \
    unsigned long long counter) \
{ \
    GK_CHECK_FUSED_BWD(rows, cols, p, dy, residual_out, rstd, dx, dresidual); \
    gk_fused_drop d = fused_drop(p, seed, counter); \
    if (rows * cols == 0) \
        GK_FUSED_EMPTY_GRADS(cols, dweight, (T *)NULL) \
    return TAB()->add_dropout_norm_bwd_##SFX(1, dy, dresidual_out, residual_out, \
                                                    NULL, rstd, weight, mask_bits, dx, \
                                                    dresidual, dweight, NULL, rows, cols, \
                                                    &d); \
}

GK_DEFINE_FUSED(float, float, f32, norm_table)
GK_DEFINE_FUSED(double, double, f64, norm_table)
GK_DEFINE_FUSED(uint16_t, float, f16, norm_half_table)
GK_DEFINE_FUSED(uint16_t, float, bf16, norm_half_table)

/* ---- BatchNorm -------------------------------------------------------------------- */
/* TS: x, y, dy, dx; T: the rest; TAB: the table of the dtype's kernels */
#define GK_DEFINE_BATCH_NORM(TS, T, SFX, TAB) \
int gk_batch_norm_##SFX(const TS *x, const T *weight, const T *bias, TS *y, T *mean, \
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
    return TAB()->batch_norm_fwd_##SFX(x, weight, bias, y, mean, rstd, \
                                              running_mean, running_var, batch, channels, \
                                              inner, training, momentum, eps); \
} \
int gk_batch_norm_backward_##SFX(const TS *dy, const TS *x, const T *mean, const T *rstd, \
                                 const T *weight, TS *dx, T *dweight, T *dbias, \
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
    return TAB()->batch_norm_bwd_##SFX(dy, x, mean, rstd, weight, dx, dweight, \
                                              dbias, batch, channels, inner); \
}

GK_DEFINE_BATCH_NORM(float, float, f32, norm_table)
GK_DEFINE_BATCH_NORM(double, double, f64, norm_table)
GK_DEFINE_BATCH_NORM(uint16_t, float, f16, norm_half_table)
GK_DEFINE_BATCH_NORM(uint16_t, float, bf16, norm_half_table)

/* ---- BatchNorm in steps ----------------------------------------------------------- */
#define GK_CHECK_BN_SHAPE(batch, channels, inner) \
    GK_CHECK_SIZE(batch); \
    GK_CHECK_SIZE(channels); \
    GK_CHECK_SIZE(inner)

/* parts of per-channel statistics: the arrays, and every count >= 0 */
static int check_bn_parts(const int64_t *counts, const double *means, const double *m2s,
                          gk_index parts, gk_index channels)
{
    GK_CHECK_SIZE(parts);
    GK_CHECK_SIZE(channels);
    GK_CHECK_PTR_IF(parts > 0, counts);
    GK_CHECK_PTR_IF(parts * channels > 0, means);
    GK_CHECK_PTR_IF(parts * channels > 0, m2s);
    for (gk_index p = 0; p < parts; ++p)
        GK_CHECK_VALUE(counts[p] >= 0, counts);
    return GK_OK;
}

int gk_batch_norm_merge_stats(const int64_t *counts, const double *means, const double *m2s,
                              gk_index parts, gk_index channels, int64_t *count,
                              double *mean, double *m2)
{
    GK_RETURN_IF(check_bn_parts(counts, means, m2s, parts, channels));
    GK_CHECK_PTR(count);
    GK_CHECK_PTR_IF(channels > 0, mean);
    GK_CHECK_PTR_IF(channels > 0, m2);
    *count = (int64_t)norm_table()->batch_norm_merge(counts, means, m2s, parts, channels,
                                                     mean, m2);
    return GK_OK;
}

/* TS: x, y, dy, dx; T: weight, the saved mean/rstd, dweight, dbias; TAB as above */
#define GK_DEFINE_BATCH_NORM_STEPS(TS, T, SFX, TAB) \
int gk_batch_norm_stats_##SFX(const TS *x, double *mean, double *m2, gk_index batch, \
                              gk_index channels, gk_index inner) \
{ \
    GK_CHECK_BN_SHAPE(batch, channels, inner); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, x); \
    GK_CHECK_PTR_IF(channels > 0, mean); \
    GK_CHECK_PTR_IF(channels > 0, m2); \
    return TAB()->batch_norm_stats_##SFX(x, mean, m2, batch, channels, inner); \
} \
int gk_batch_norm_elemt_##SFX(const TS *x, const T *weight, const T *bias, \
                              const double *mean, const double *invstd, TS *y, \
                              gk_index batch, gk_index channels, gk_index inner) \
{ \
    GK_CHECK_BN_SHAPE(batch, channels, inner); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, x); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, y); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, mean); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, invstd); \
    return TAB()->batch_norm_elemt_##SFX(x, weight, bias, mean, invstd, y, batch, \
                                         channels, inner); \
} \
int gk_batch_norm_backward_reduce_##SFX(const TS *dy, const TS *x, const T *mean, \
                                        const T *rstd, T *dweight, T *dbias, \
                                        double *sum_dy, double *sum_dy_xmu, \
                                        gk_index batch, gk_index channels, gk_index inner) \
{ \
    GK_CHECK_BN_SHAPE(batch, channels, inner); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, dy); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, x); \
    GK_CHECK_PTR_IF(batch * channels * inner > 0, mean); \
    GK_CHECK_PTR_IF(channels > 0 && (batch * inner > 0 || dweight), rstd); \
    GK_CHECK_PTR_IF(channels > 0, sum_dy); \
    GK_CHECK_PTR_IF(channels > 0, sum_dy_xmu); \
    return TAB()->batch_norm_backward_reduce_##SFX(dy, x, mean, rstd, dweight, dbias, \
                                                   sum_dy, sum_dy_xmu, batch, channels, \
                                                   inner); \
} \
int gk_batch_norm_backward_elemt_##SFX(const TS *dy, const TS *x, const T *mean, \
                                       const T *rstd, const T *weight, \
                                       const double *sum_dy, const double *sum_dy_xmu, \
                                       gk_index count, TS *dx, gk_index batch, \
                                       gk_index channels, gk_index inner) \
{ \
    GK_CHECK_BN_SHAPE(batch, channels, inner); \
    /* the whole batch holds at least this part */ \
    GK_CHECK_VALUE(count >= batch * inner, count); \
    gk_index n = batch * channels * inner; \
    GK_CHECK_PTR_IF(n > 0, dy); \
    GK_CHECK_PTR_IF(n > 0, x); \
    GK_CHECK_PTR_IF(n > 0, dx); \
    GK_CHECK_PTR_IF(n > 0, mean); \
    GK_CHECK_PTR_IF(n > 0, rstd); \
    GK_CHECK_PTR_IF(n > 0, sum_dy); \
    GK_CHECK_PTR_IF(n > 0, sum_dy_xmu); \
    return TAB()->batch_norm_backward_elemt_##SFX(dy, x, mean, rstd, weight, sum_dy, \
                                                  sum_dy_xmu, count, dx, batch, channels, \
                                                  inner); \
}

GK_DEFINE_BATCH_NORM_STEPS(float, float, f32, norm_table)
GK_DEFINE_BATCH_NORM_STEPS(double, double, f64, norm_table)
GK_DEFINE_BATCH_NORM_STEPS(uint16_t, float, f16, norm_half_table)
GK_DEFINE_BATCH_NORM_STEPS(uint16_t, float, bf16, norm_half_table)

/* the gather has no data array: float32 and float64 running statistics */
#define GK_DEFINE_BATCH_NORM_GATHER(T, SFX) \
int gk_batch_norm_gather_stats_##SFX(const int64_t *counts, const double *means, \
                                     const double *m2s, gk_index parts, gk_index channels, \
                                     T *running_mean, T *running_var, double momentum, \
                                     double eps, double *mean, double *invstd) \
{ \
    GK_RETURN_IF(check_bn_parts(counts, means, m2s, parts, channels)); \
    GK_CHECK_EPS(eps); \
    GK_CHECK_PTR_IF(channels > 0, mean); \
    GK_CHECK_PTR_IF(channels > 0, invstd); \
    GK_CHECK_PTR_IF(running_mean != NULL, running_var); \
    GK_CHECK_PTR_IF(running_var != NULL, running_mean); \
    GK_CHECK_VALUE(!running_mean || (momentum >= 0.0 && momentum <= 1.0), momentum); \
    int64_t total = 0; \
    for (gk_index p = 0; p < parts; ++p) total += counts[p]; \
    /* one value per channel: no variance to normalize with (as gk_batch_norm) */ \
    GK_CHECK(channels == 0 || total != 1, GK_EVALUE, counts); \
    norm_table()->batch_norm_gather_##SFX(counts, means, m2s, parts, channels, \
                                          running_mean, running_var, momentum, eps, mean, \
                                          invstd); \
    return GK_OK; \
}

GK_DEFINE_BATCH_NORM_GATHER(float, f32)
GK_DEFINE_BATCH_NORM_GATHER(double, f64)
