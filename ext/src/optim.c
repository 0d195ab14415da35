/* Optimizer update kernels (SGD, Adam/AdamW/AMSGrad, RMSprop, Adagrad, LARS), compiled
 * once per ISA.  One pass over memory per step, one parallel region per list of arrays
 * (multi.h). */
#include "reduce.h"
#include "multi.h"
#include "optim_kernels.h"

#define T float
#define SFX f32
#define SQRT sqrtf
#include "optim_tmpl.h"
#undef T
#undef SFX
#undef SQRT

#define T double
#define SFX f64
#define SQRT sqrt
#include "optim_tmpl.h"
#undef T
#undef SFX
#undef SQRT

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
