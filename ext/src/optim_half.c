/* The mixed-precision optimizer steps (gk_*_multi_mp), compiled once per ISA in a
 * translation unit of their own: ONE more instantiation of the float32 templates
 * (optim_tmpl.h, optim_more_tmpl.h, adafactor_tmpl.h) with GK_OPT_STAGED, whose span
 * functions run the float32 loops on blocks widened from each list's storage (float32
 * in place, float16, bfloat16) and round what they wrote once (optim_tmpl.h's stage).
 * Every combination of storages (16-bit everything, master weights, bfloat16 states)
 * is this one code. */
#include "multi.h"
#include "gk_half.h"
#include "optim_kernels.h"

/* reduce_tmpl.h on 16-bit storage, for Adafactor's sums of p^2 read straight from a
 * 16-bit parameter (chunk_sumsq_f16/_bf16: the float32 sum's lanes on the widened
 * values, so the same bits; a whole small matrix's sum spans up to 65,536 elements,
 * too many to widen into a block on the stack first) */
#define GK_EACH_HALF_REDUCE 1
#include "gk_each_dtype.h"

#define GK_OPT_STAGED 1
#define T float
#define TS float
#define GK_HALF 0
#define SFX mp
#define GK_TI int32_t
#define GK_TI_MAX INT32_MAX
#define SQRT sqrtf
#include "reduce_tmpl.h"
#include "optim_tmpl.h"
#include "optim_more_tmpl.h"
#include "adafactor_tmpl.h"

/* the check of the loss scaler's fused step: whether an element of grad is inf or NaN
 * (a span returns 1; gk_multi_run ORs them) */
typedef struct {
    const void *const *grad;
    int dtype;
} gk_finite_ctx;

static int gk_finite_span(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const gk_finite_ctx *c = (const gk_finite_ctx *)vctx;
    unsigned bad = 0;
    if (c->dtype == GK_DTYPE_F32) {
        const uint32_t *g = (const uint32_t *)c->grad[a];
        for (gk_index i = b; i < e; ++i) bad |= (g[i] & 0x7f800000u) == 0x7f800000u;
    } else {  /* float16: exponent 0x7c00; bfloat16: 0x7f80 */
        const uint16_t *g = (const uint16_t *)c->grad[a];
        const uint16_t ex = c->dtype == GK_DTYPE_F16 ? 0x7c00u : 0x7f80u;
        for (gk_index i = b; i < e; ++i) bad |= (g[i] & ex) == ex;
    }
    return bad != 0;
}

/* *found = 1 when an element of the gradients is inf or NaN, else 0 */
static int gk_grads_nonfinite(gk_index count, const void *const *grad, const gk_index *size,
                              int dtype, int *found)
{
    gk_finite_ctx c = {grad, dtype};
    gk_multi_pass pass = {.span = gk_finite_span, .ctx = &c};
    int err = gk_multi_run(count, size, &pass);
    *found = pass.flags != 0;
    return err;
}

const gk_optim_half_table GK_ISA_SYM(gk_optim_half_table) = {
    .grads_nonfinite = gk_grads_nonfinite,
    .sgd = sgd_multi_mp, .adam = adam_multi_mp, .rmsprop = rmsprop_multi_mp,
    .adagrad = adagrad_multi_mp, .lars = lars_multi_mp, .nadam = nadam_multi_mp,
    .radam = radam_multi_mp, .adamax = adamax_multi_mp, .adadelta = adadelta_multi_mp,
    .lion = lion_multi_mp, .lamb = lamb_multi_mp, .adafactor = adafactor_multi_mp,
};
