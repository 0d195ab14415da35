/* Public entry points of the gradcheck family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "gradcheck_kernels.h"

GK_DEFINE_TABLE_GETTER(gradcheck)

#define GK_DEFINE_GRADCHECK(T, SFX) \
int gk_gradcheck_stack_##SFX(const T *x, gk_index n, const int64_t *idx, const double *h, \
                             gk_index k, T *stack, double *step) \
{ \
    GK_CHECK_SIZE(n); \
    GK_CHECK_SIZE(k); \
    GK_CHECK_PTR_IF(k > 0, x); \
    GK_CHECK_PTR_IF(k > 0, idx); \
    GK_CHECK_PTR_IF(k > 0, h); \
    GK_CHECK_PTR_IF(k > 0, stack); \
    GK_CHECK_PTR_IF(k > 0, step); \
    for (gk_index j = 0; j < k; ++j) \
        GK_CHECK_VALUE(idx[j] >= 0 && idx[j] < n, idx); \
    gradcheck_table()->stack_##SFX(x, n, idx, h, k, stack, step); \
    return GK_OK; \
} \
int gk_gradcheck_stack_dir_##SFX(const T *x, gk_index n, const T *v, double h, \
                                 gk_index k, T *stack) \
{ \
    GK_CHECK_SIZE(n); \
    GK_CHECK_SIZE(k); \
    GK_CHECK_PTR_IF(k > 0 && n > 0, x); \
    GK_CHECK_PTR_IF(k > 0 && n > 0, v); \
    GK_CHECK_PTR_IF(k > 0 && n > 0, stack); \
    gradcheck_table()->stack_dir_##SFX(x, n, v, h, k, stack); \
    return GK_OK; \
}

GK_DEFINE_GRADCHECK(float, f32)
GK_DEFINE_GRADCHECK(double, f64)

int gk_gradcheck_difference(const double *loss, const double *step, gk_index k, double *g)
{
    GK_CHECK_SIZE(k);
    GK_CHECK_PTR_IF(k > 0, loss);
    GK_CHECK_PTR_IF(k > 0, step);
    GK_CHECK_PTR_IF(k > 0, g);
    gradcheck_table()->difference(loss, step, k, g);
    return GK_OK;
}
