/* The norm family's per-ISA table (see kernels.h). */
#ifndef GK_NORM_KERNELS_H
#define GK_NORM_KERNELS_H
#include <stdint.h>
#include "gradkit/common.h"

/* The dropout of the fused add + dropout + norm kernels (norm_fused_tmpl.h): on == 0
 * no dropout (s = r + x); otherwise element e (flat) is kept iff word w0 + e of the
 * Philox stream of key (k0, k1) <= keep_max (nothing kept when none), and scaled by
 * `scale` (rounded to T once, as dropout does). */
typedef struct {
    int on, none;
    uint32_t keep_max, k0, k1;
    uint64_t w0;
    double scale;
} gk_fused_drop;

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
                                gk_index channels, gk_index inner); \
    int (*add_dropout_norm_fwd_##SFX)(int rms, const T *x, const T *r, const T *w, \
                                      const T *b, T *y, T *s, T *mean, T *rstd, \
                                      unsigned char *bits, gk_index rows, gk_index cols, \
                                      double eps, const gk_fused_drop *d); \
    int (*add_dropout_norm_bwd_##SFX)(int rms, const T *dy, const T *dsn, const T *s, \
                                      const T *mean, const T *rstd, const T *w, \
                                      const unsigned char *bits, T *dx, T *dres, T *dw, \
                                      T *db, gk_index rows, gk_index cols, \
                                      const gk_fused_drop *d); \
    int (*batch_norm_stats_##SFX)(const T *x, double *mean, double *m2, gk_index batch, \
                                  gk_index channels, gk_index inner); \
    void (*batch_norm_gather_##SFX)(const int64_t *counts, const double *means, \
                                    const double *m2s, gk_index parts, gk_index channels, \
                                    T *running_mean, T *running_var, double momentum, \
                                    double eps, double *mean, double *invstd); \
    int (*batch_norm_elemt_##SFX)(const T *x, const T *w, const T *b, const double *mean, \
                                  const double *invstd, T *y, gk_index batch, \
                                  gk_index channels, gk_index inner); \
    int (*batch_norm_backward_reduce_##SFX)(const T *dy, const T *x, const T *mean, \
                                            const T *rstd, T *dw, T *db, double *sum_dy, \
                                            double *sum_dy_xmu, gk_index batch, \
                                            gk_index channels, gk_index inner); \
    int (*batch_norm_backward_elemt_##SFX)(const T *dy, const T *x, const T *mean, \
                                           const T *rstd, const T *w, \
                                           const double *sum_dy, const double *sum_dy_xmu, \
                                           gk_index count, T *dx, gk_index batch, \
                                           gk_index channels, gk_index inner);

/* 16-bit storage (gk_half.h): x, y, dy, dx are uint16_t; weight, bias, the statistics
 * and the parameter gradients float32 (the per-channel statistics and sums of the
 * BatchNorm steps double, as in every dtype; their gather has no data array: the
 * float32 one serves) */
#define GK_NORM_HALF_SIGS(SFX) \
    void (*layer_norm_fwd_##SFX)(const uint16_t *x, const float *w, const float *b, \
                                 uint16_t *y, float *mean, float *rstd, gk_index rows, \
                                 gk_index cols, double eps); \
    int (*layer_norm_bwd_##SFX)(const uint16_t *dy, const uint16_t *x, const float *mean, \
                                const float *rstd, const float *w, uint16_t *dx, float *dw, \
                                float *db, gk_index rows, gk_index cols); \
    void (*rms_norm_fwd_##SFX)(const uint16_t *x, const float *w, uint16_t *y, float *rstd, \
                               gk_index rows, gk_index cols, double eps); \
    int (*rms_norm_bwd_##SFX)(const uint16_t *dy, const uint16_t *x, const float *rstd, \
                              const float *w, uint16_t *dx, float *dw, gk_index rows, \
                              gk_index cols); \
    int (*add_dropout_norm_fwd_##SFX)(int rms, const uint16_t *x, const uint16_t *r, \
                                      const float *w, const float *b, uint16_t *y, \
                                      uint16_t *s, float *mean, float *rstd, \
                                      unsigned char *bits, gk_index rows, gk_index cols, \
                                      double eps, const gk_fused_drop *d); \
    int (*add_dropout_norm_bwd_##SFX)(int rms, const uint16_t *dy, const uint16_t *dsn, \
                                      const uint16_t *s, const float *mean, \
                                      const float *rstd, const float *w, \
                                      const unsigned char *bits, uint16_t *dx, \
                                      uint16_t *dres, float *dw, float *db, gk_index rows, \
                                      gk_index cols, const gk_fused_drop *d); \
    int (*batch_norm_fwd_##SFX)(const uint16_t *x, const float *w, const float *b, \
                                uint16_t *y, float *mean, float *rstd, float *running_mean, \
                                float *running_var, gk_index batch, gk_index channels, \
                                gk_index inner, int training, double momentum, double eps); \
    int (*batch_norm_bwd_##SFX)(const uint16_t *dy, const uint16_t *x, const float *mean, \
                                const float *rstd, const float *w, uint16_t *dx, float *dw, \
                                float *db, gk_index batch, gk_index channels, \
                                gk_index inner); \
    int (*batch_norm_stats_##SFX)(const uint16_t *x, double *mean, double *m2, \
                                  gk_index batch, gk_index channels, gk_index inner); \
    int (*batch_norm_elemt_##SFX)(const uint16_t *x, const float *w, const float *b, \
                                  const double *mean, const double *invstd, uint16_t *y, \
                                  gk_index batch, gk_index channels, gk_index inner); \
    int (*batch_norm_backward_reduce_##SFX)(const uint16_t *dy, const uint16_t *x, \
                                            const float *mean, const float *rstd, \
                                            float *dw, float *db, double *sum_dy, \
                                            double *sum_dy_xmu, gk_index batch, \
                                            gk_index channels, gk_index inner); \
    int (*batch_norm_backward_elemt_##SFX)(const uint16_t *dy, const uint16_t *x, \
                                           const float *mean, const float *rstd, \
                                           const float *w, const double *sum_dy, \
                                           const double *sum_dy_xmu, gk_index count, \
                                           uint16_t *dx, gk_index batch, \
                                           gk_index channels, gk_index inner);

typedef struct {
    GK_NORM_SIGS(float, f32)
    GK_NORM_SIGS(double, f64)
    gk_index (*batch_norm_merge)(const int64_t *counts, const double *means,
                                 const double *m2s, gk_index parts, gk_index channels,
                                 double *mean, double *m2);
} gk_norm_table;

/* the 16-bit kernels: a table of their own, from their own translation unit
 * (norm_half.c) */
typedef struct {
    GK_NORM_HALF_SIGS(f16)
    GK_NORM_HALF_SIGS(bf16)
} gk_norm_half_table;

#endif
