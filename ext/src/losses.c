/* Loss kernels (softmax cross-entropy, distillation KL, pointwise KL, MSE), compiled
 * once per ISA. */
#include "reduce.h"
#include "gk_exp.h"
#include "losses_kernels.h"

#define GK_TMPL_A "losses_tmpl.h"
#include "gk_each_dtype.h"

/* 16-bit storage: the float32 driver with its rows widened and rounded (losses_tmpl.h;
 * a few lines each, so they stay in this translation unit) */
#define GK_LOSSES_HALF(SFX, HALF) \
static int softmax_xent_##SFX(const uint16_t *z, const int64_t *labels, \
                              const uint16_t *probs, const float *weight, \
                              float *row_loss, double *total, uint16_t *dz, gk_index rows, \
                              gk_index cols, double smooth, int64_t ignore_index, \
                              int reduction) \
{ \
    return softmax_xent_h_f32(HALF, z, labels, probs, weight, row_loss, total, dz, rows, \
                              cols, smooth, ignore_index, reduction); \
}
GK_LOSSES_HALF(f16, 1)
GK_LOSSES_HALF(bf16, 2)

#define GK_LOSSES_ENTRIES(SFX) \
    GK_KERNEL(softmax_xent, SFX) GK_KERNEL(kl_div, SFX) GK_KERNEL(kl_pointwise, SFX) \
    GK_KERNEL(mse, SFX)
GK_DEFINE_ISA_TABLE(losses, GK_LOSSES_ENTRIES,
                    GK_KERNEL(softmax_xent, f16) GK_KERNEL(softmax_xent, bf16));
