/* gradkit normalization kernels (see gradkit.h for the conventions). */
#ifndef GRADKIT_NORM_H
#define GRADKIT_NORM_H
#include "gradkit/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---- normalization ---------------------------------------------------------------- */
/* LayerNorm over rows of `cols` elements: y = (x - mean) * rstd * weight + bias with
 * rstd = 1 / sqrt(var + eps), var the biased variance.  weight/bias may be NULL;
 * mean/rstd (length rows) may be NULL. */
int gk_layer_norm_f32(const float *x, const float *weight, const float *bias, float *y,
                      float *mean, float *rstd, gk_index rows, gk_index cols, double eps);
int gk_layer_norm_f64(const double *x, const double *weight, const double *bias, double *y,
                      double *mean, double *rstd, gk_index rows, gk_index cols, double eps);

/* RMSNorm: y = x * rstd * weight with rstd = 1 / sqrt(mean(x^2) + eps). */
int gk_rms_norm_f32(const float *x, const float *weight, float *y, float *rstd,
                    gk_index rows, gk_index cols, double eps);
int gk_rms_norm_f64(const double *x, const double *weight, double *y, double *rstd,
                    gk_index rows, gk_index cols, double eps);

/* Backward of LayerNorm through its statistics (mean, rstd as the forward returned
 * them).  dweight/dbias (length cols) may be NULL; weight may be NULL. */
int gk_layer_norm_backward_f32(const float *dy, const float *x, const float *mean,
                               const float *rstd, const float *weight, float *dx,
                               float *dweight, float *dbias, gk_index rows, gk_index cols);
int gk_layer_norm_backward_f64(const double *dy, const double *x, const double *mean,
                               const double *rstd, const double *weight, double *dx,
                               double *dweight, double *dbias, gk_index rows, gk_index cols);
int gk_rms_norm_backward_f32(const float *dy, const float *x, const float *rstd,
                             const float *weight, float *dx, float *dweight,
                             gk_index rows, gk_index cols);
int gk_rms_norm_backward_f64(const double *dy, const double *x, const double *rstd,
                             const double *weight, double *dx, double *dweight,
                             gk_index rows, gk_index cols);

#ifdef __cplusplus
}
#endif
#endif
