/* Loss kernels (softmax cross-entropy, distillation KL, pointwise KL, MSE), compiled
 * once per ISA. */
#include "reduce.h"
#include "gk_exp.h"
#include "losses_kernels.h"

#define GK_TMPL_A "losses_tmpl.h"
#include "gk_each_dtype.h"

#define GK_LOSSES_ENTRIES(SFX) \
    GK_KERNEL(softmax_xent, SFX) GK_KERNEL(kl_div, SFX) GK_KERNEL(kl_pointwise, SFX) \
    GK_KERNEL(mse, SFX)
GK_DEFINE_ISA_TABLE(losses, GK_LOSSES_ENTRIES, );
