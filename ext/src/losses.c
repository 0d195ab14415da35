/* Loss kernels (softmax cross-entropy, distillation KL, MSE), compiled once per ISA. */
#include "reduce.h"
#include "gk_exp.h"
#include "losses_kernels.h"

#define GK_TMPL_A "losses_tmpl.h"
#include "gk_each_dtype.h"

#define GK_LOSSES_ENTRIES(SFX) \
    .softmax_xent_##SFX = softmax_xent_##SFX, \
    .kl_div_##SFX = kl_div_##SFX, \
    .mse_##SFX = mse_##SFX,

const gk_losses_table GK_ISA_SYM(gk_losses_table) = {
    GK_LOSSES_ENTRIES(f32)
    GK_LOSSES_ENTRIES(f64)
};
