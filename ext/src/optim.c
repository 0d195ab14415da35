/* Optimizer update kernels (SGD, Adam/AdamW/AMSGrad, RMSprop, Adagrad, LARS), compiled
 * once per ISA.  One pass over memory per step, one parallel region per list of arrays
 * (multi.h). */
#include "multi.h"
#include "optim_kernels.h"

#define GK_TMPL_A "optim_tmpl.h"
#include "gk_each_dtype.h"

#define GK_OPTIM_ENTRIES(SFX) \
    .sgd_##SFX = sgd_multi_##SFX, \
    .adam_##SFX = adam_multi_##SFX, \
    .rmsprop_##SFX = rmsprop_multi_##SFX, \
    .adagrad_##SFX = adagrad_multi_##SFX, \
    .lars_##SFX = lars_multi_##SFX,

const gk_optim_table GK_ISA_SYM(gk_optim_table) = {
    GK_OPTIM_ENTRIES(f32)
    GK_OPTIM_ENTRIES(f64)
};
