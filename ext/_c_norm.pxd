# Declarations of include/gradkit/norm.h for the Cython wrappers.
from _cgradkit cimport gk_index

cdef extern from "gradkit/norm.h" nogil:
    int gk_layer_norm_f32(const float *x, const float *weight, const float *bias, float *y,
                          float *mean, float *rstd, gk_index rows, gk_index cols, double eps)
    int gk_layer_norm_f64(const double *x, const double *weight, const double *bias, double *y,
                          double *mean, double *rstd, gk_index rows, gk_index cols, double eps)
    int gk_layer_norm_backward_f32(const float *dy, const float *x, const float *mean,
                                   const float *rstd, const float *weight, float *dx,
                                   float *dweight, float *dbias, gk_index rows, gk_index cols)
    int gk_layer_norm_backward_f64(const double *dy, const double *x, const double *mean,
                                   const double *rstd, const double *weight, double *dx,
                                   double *dweight, double *dbias, gk_index rows, gk_index cols)
    int gk_rms_norm_f32(const float *x, const float *weight, float *y, float *rstd,
                        gk_index rows, gk_index cols, double eps)
    int gk_rms_norm_f64(const double *x, const double *weight, double *y, double *rstd,
                        gk_index rows, gk_index cols, double eps)
    int gk_rms_norm_backward_f32(const float *dy, const float *x, const float *rstd,
                                 const float *weight, float *dx, float *dweight,
                                 gk_index rows, gk_index cols)
    int gk_rms_norm_backward_f64(const double *dy, const double *x, const double *rstd,
                                 const double *weight, double *dx, double *dweight,
                                 gk_index rows, gk_index cols)
    int gk_batch_norm_f32(const float *x, const float *weight, const float *bias, float *y,
                          float *mean, float *rstd, float *running_mean, float *running_var,
                          gk_index batch, gk_index channels, gk_index inner, int training,
                          double momentum, double eps)
    int gk_batch_norm_f64(const double *x, const double *weight, const double *bias,
                          double *y, double *mean, double *rstd, double *running_mean,
                          double *running_var, gk_index batch, gk_index channels,
                          gk_index inner, int training, double momentum, double eps)
    int gk_batch_norm_backward_f32(const float *dy, const float *x, const float *mean,
                                   const float *rstd, const float *weight, float *dx,
                                   float *dweight, float *dbias, gk_index batch,
                                   gk_index channels, gk_index inner)
    int gk_batch_norm_backward_f64(const double *dy, const double *x, const double *mean,
                                   const double *rstd, const double *weight, double *dx,
                                   double *dweight, double *dbias, gk_index batch,
                                   gk_index channels, gk_index inner)
