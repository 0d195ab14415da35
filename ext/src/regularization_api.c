/* Public entry points of the regularization family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "kernels.h"
#include "regularization_kernels.h"

GK_DEFINE_TABLE_GETTER(regularization)

static int gk_reg_check(gk_index count, const void *const *x, const void *const *y,
                        const gk_index *size)
{
    if (count < 0) return GK_ESIZE;
    if (count == 0) return GK_OK;
    if (!x || !size) return GK_ENULL;
    for (gk_index a = 0; a < count; ++a) {
        if (size[a] < 0) return GK_ESIZE;
        if (size[a] > 0 && (!x[a] || (y && !y[a]))) return GK_ENULL;
    }
    return GK_OK;
}

/* the checks of a fused gradient add: grads and params aligned, lam >= 0 */
static int gk_reg_grad_check(gk_index count, const void *const *grad,
                             const void *const *param, const gk_index *size, double lam)
{
    int err = gk_reg_check(count, grad, param, size);
    if (err) return err;
    if (count > 0 && !param) return GK_ENULL;
    if (!(lam >= 0.0)) return GK_EVALUE;
    return GK_OK;
}

#define GK_DEFINE_REG(T, SFX) \
int gk_sum_squares_multi_##SFX(gk_index count, const T *const *x, const gk_index *size, \
                               double *out) \
{ \
    int err = gk_reg_check(count, (const void *const *)x, NULL, size); \
    if (err) return err; \
    if (count > 0 && !out) return GK_ENULL; \
    return count ? regularization_table()->sum_squares_##SFX(count, x, size, out) : GK_OK; \
} \
int gk_sum_abs_multi_##SFX(gk_index count, const T *const *x, const gk_index *size, \
                           double *out) \
{ \
    int err = gk_reg_check(count, (const void *const *)x, NULL, size); \
    if (err) return err; \
    if (count > 0 && !out) return GK_ENULL; \
    return count ? regularization_table()->sum_abs_##SFX(count, x, size, out) : GK_OK; \
} \
int gk_add_l2_grad_multi_##SFX(gk_index count, T *const *grad, const T *const *param, \
                               const gk_index *size, double lam) \
{ \
    int err = gk_reg_grad_check(count, (const void *const *)grad, \
                                (const void *const *)param, size, lam); \
    if (err) return err; \
    return count ? regularization_table()->add_l2_##SFX(count, grad, param, size, lam) \
                 : GK_OK; \
} \
int gk_add_l1_grad_multi_##SFX(gk_index count, T *const *grad, const T *const *param, \
                               const gk_index *size, double lam) \
{ \
    int err = gk_reg_grad_check(count, (const void *const *)grad, \
                                (const void *const *)param, size, lam); \
    if (err) return err; \
    return count ? regularization_table()->add_l1_##SFX(count, grad, param, size, lam) \
                 : GK_OK; \
}

GK_DEFINE_REG(float, f32)
GK_DEFINE_REG(double, f64)
