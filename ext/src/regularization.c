/* Regularization kernels (L2/L1 penalties and their gradients), compiled once per ISA. */
#include "reduce.h"
#include "multi.h"
#include "regularization_kernels.h"

#define T float
#define SFX f32
#include "regularization_tmpl.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "regularization_tmpl.h"
#undef T
#undef SFX

#define GK_REG_ENTRIES(SFX) \
    .sum_squares_##SFX = sum_squares_##SFX, \
    .sum_abs_##SFX = sum_abs_##SFX, \
    .add_l2_##SFX = add_l2_##SFX, \
    .add_l1_##SFX = add_l1_##SFX,

const gk_regularization_table GK_ISA_SYM(gk_regularization_table) = {
    GK_REG_ENTRIES(f32)
    GK_REG_ENTRIES(f64)
};
