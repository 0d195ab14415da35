/* The losses family's per-ISA table (see kernels.h). */
#ifndef GK_LOSSES_KERNELS_H
#define GK_LOSSES_KERNELS_H
#include <stdint.h>
#include "gradkit/common.h"

#define GK_LOSSES_SIGS(T, SFX) \
    int (*softmax_xent_##SFX)(const T *z, const int64_t *labels, const T *probs, \
                              const T *weight, T *row_loss, double *total, T *dz, \
                              gk_index rows, gk_index cols, double smoothing, \
                              int64_t ignore_index, int reduction); \
    int (*kl_div_##SFX)(const T *s, const T *t, double *total, T *ds, gk_index rows, \
                        gk_index cols, double temperature); \
    int (*kl_pointwise_##SFX)(const T *x, const T *t, T *elem, double *total, T *dx, \
                              gk_index n, gk_index batch, int log_target, int reduction); \
    int (*mse_##SFX)(const T *p, const T *t, T *elem, double *total, T *dp, gk_index n, \
                     int reduction);

/* 16-bit storage (float32 arithmetic): logits, target probabilities and the gradient
 * float16/bfloat16, weight and row losses float32 */
#define GK_LOSSES_HALF_SIGS(SFX) \
    int (*softmax_xent_##SFX)(const uint16_t *z, const int64_t *labels, \
                              const uint16_t *probs, const float *weight, \
                              float *row_loss, double *total, uint16_t *dz, gk_index rows, \
                              gk_index cols, double smoothing, int64_t ignore_index, \
                              int reduction);

typedef struct {
    GK_LOSSES_SIGS(float, f32)
    GK_LOSSES_SIGS(double, f64)
    GK_LOSSES_HALF_SIGS(f16)
    GK_LOSSES_HALF_SIGS(bf16)
} gk_losses_table;

#endif
