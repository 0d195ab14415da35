/* Regularization kernels (L2/L1 penalties and their gradients), compiled once per ISA. */
#include "multi.h"
#include "regularization_kernels.h"

#define GK_TMPL_A "regularization_tmpl.h"
#include "gk_each_dtype.h"

#include "multi_norm.h"

/* the penalties: per-array sums of x^2 or |x| */
#define GK_REG_SUMS(SFX, T, DT) \
    static int sum_squares_##SFX(gk_index count, const T *const *x, const gk_index *size, \
                                 double *out) \
    { \
        return gk_norm_sums(count, (const void *const *)x, NULL, DT, size, GK_NORM_TWO, \
                            2.0, out); \
    } \
    static int sum_abs_##SFX(gk_index count, const T *const *x, const gk_index *size, \
                             double *out) \
    { \
        return gk_norm_sums(count, (const void *const *)x, NULL, DT, size, GK_NORM_ONE, \
                            1.0, out); \
    }
GK_REG_SUMS(f32, float, GK_DTYPE_F32)
GK_REG_SUMS(f64, double, GK_DTYPE_F64)

#define GK_REG_ENTRIES(SFX) \
    .sum_squares_##SFX = sum_squares_##SFX, \
    .sum_abs_##SFX = sum_abs_##SFX, \
    .add_l2_##SFX = add_l2_##SFX, \
    .add_l1_##SFX = add_l1_##SFX,

const gk_regularization_table GK_ISA_SYM(gk_regularization_table) = {
    GK_REG_ENTRIES(f32)
    GK_REG_ENTRIES(f64)
};
