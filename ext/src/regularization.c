/* Regularization kernels (L2/L1 penalties and their gradients), compiled once per ISA,
 * float16 and bfloat16 storage included (float32 arithmetic: the template and the
 * penalties' chunk sums are small, so the 16-bit instantiations stay in this unit). */
#include "multi.h"
#include "regularization_kernels.h"

#define GK_TMPL_A "regularization_tmpl.h"
#define GK_TMPL_HALF_A "regularization_tmpl.h"
#include "gk_each_dtype.h"

#define GK_MULTI_NORM_HALF
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
GK_REG_SUMS(f16, uint16_t, GK_DTYPE_F16)
GK_REG_SUMS(bf16, uint16_t, GK_DTYPE_BF16)

#define GK_REG_ENTRIES(SFX) \
    GK_KERNEL(sum_squares, SFX) GK_KERNEL(sum_abs, SFX) GK_KERNEL(add_l2, SFX) \
    GK_KERNEL(add_l1, SFX)
GK_DEFINE_ISA_TABLE(regularization, GK_REG_ENTRIES, GK_REG_ENTRIES(f16) GK_REG_ENTRIES(bf16));
