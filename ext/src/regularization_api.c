/* Public entry points of the regularization family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "regularization_kernels.h"

GK_DEFINE_TABLE_GETTER(regularization)

/* a list of count arrays x (sizes size) and, when y_arg is not GK_ARG_NONE, a second
 * list y aligned with it (named y_arg) */
static int gk_reg_check(gk_index count, const void *const *x, int x_arg,
                        const void *const *y, int y_arg, const gk_index *size)
{
    GK_CHECK_SIZE(count);
    if (count == 0) return GK_OK;
    if (!x) return GK_ERROR(GK_ENULL, x_arg);
    if (y_arg != GK_ARG_NONE && !y) return GK_ERROR(GK_ENULL, y_arg);
    GK_CHECK_PTR(size);
    for (gk_index a = 0; a < count; ++a) {
        GK_CHECK(size[a] >= 0, GK_ESIZE, size);
        if (size[a] == 0) continue;
        if (!x[a]) return GK_ERROR(GK_ENULL, x_arg);
        if (y_arg != GK_ARG_NONE && !y[a]) return GK_ERROR(GK_ENULL, y_arg);
    }
    return GK_OK;
}

/* the checks of a fused gradient add: grads and params aligned, lam >= 0 */
static int gk_reg_grad_check(gk_index count, const void *const *grad,
                             const void *const *param, const gk_index *size, double lam)
{
    GK_RETURN_IF(gk_reg_check(count, grad, GK_ARG_grad, param, GK_ARG_param, size));
    GK_CHECK_VALUE(lam >= 0.0, lam);
    return GK_OK;
}

#define GK_DEFINE_REG(T, SFX) \
int gk_sum_squares_multi_##SFX(gk_index count, const T *const *x, const gk_index *size, \
                               double *out) \
{ \
    GK_RETURN_IF(gk_reg_check(count, (const void *const *)x, GK_ARG_x, NULL, GK_ARG_NONE, \
                              size)); \
    GK_CHECK_PTR_IF(count > 0, out); \
    return count ? regularization_table()->sum_squares_##SFX(count, x, size, out) : GK_OK; \
} \
int gk_sum_abs_multi_##SFX(gk_index count, const T *const *x, const gk_index *size, \
                           double *out) \
{ \
    GK_RETURN_IF(gk_reg_check(count, (const void *const *)x, GK_ARG_x, NULL, GK_ARG_NONE, \
                              size)); \
    GK_CHECK_PTR_IF(count > 0, out); \
    return count ? regularization_table()->sum_abs_##SFX(count, x, size, out) : GK_OK; \
} \
int gk_add_l2_grad_multi_##SFX(gk_index count, T *const *grad, const T *const *param, \
                               const gk_index *size, double lam) \
{ \
    GK_RETURN_IF(gk_reg_grad_check(count, (const void *const *)grad, \
                                   (const void *const *)param, size, lam)); \
    return count ? regularization_table()->add_l2_##SFX(count, grad, param, size, lam) \
                 : GK_OK; \
} \
int gk_add_l1_grad_multi_##SFX(gk_index count, T *const *grad, const T *const *param, \
                               const gk_index *size, double lam) \
{ \
    GK_RETURN_IF(gk_reg_grad_check(count, (const void *const *)grad, \
                                   (const void *const *)param, size, lam)); \
    return count ? regularization_table()->add_l1_##SFX(count, grad, param, size, lam) \
                 : GK_OK; \
}

GK_DEFINE_REG(float, f32)
GK_DEFINE_REG(double, f64)
GK_DEFINE_REG(uint16_t, f16)
GK_DEFINE_REG(uint16_t, bf16)
