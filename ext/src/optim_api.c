/* Public entry points of the optim family: validate everything (sizes, pointers,
 * hyper-parameters, steps), then call the ISA table.  Nothing is written on error. */
#include "gk_internal.h"
#include "kernels.h"
#include "optim_kernels.h"

GK_DEFINE_TABLE_GETTER(optim)

#define GK_NONNEG(x) ((x) >= 0.0)              /* false for NaN too */
#define GK_UNIT(x) ((x) >= 0.0 && (x) < 1.0)  /* [0, 1) */

/* Sizes and pointers of a list of arrays: state arrays `nstate` of which are given in
 * `states` (each an array of count pointers, or NULL when not required). */
static int gk_check_lists(gk_index count, const void *const *param, const void *const *grad,
                          const gk_index *size, const void *const *const *states,
                          int nstate)
{
    if (count < 0) return GK_ESIZE;
    if (count == 0) return GK_OK;
    if (!param || !grad || !size) return GK_ENULL;
    for (int s = 0; s < nstate; ++s)
        if (!states[s]) return GK_ENULL;
    for (gk_index a = 0; a < count; ++a) {
        if (size[a] < 0) return GK_ESIZE;
        if (size[a] == 0) continue;
        if (!param[a] || !grad[a]) return GK_ENULL;
        for (int s = 0; s < nstate; ++s)
            if (!states[s][a]) return GK_ENULL;
    }
    return GK_OK;
}

static int gk_check_steps(gk_index count, const int64_t *step)
{
    if (count > 0 && !step) return GK_ENULL;
    for (gk_index a = 0; a < count; ++a)
        if (step[a] < 1) return GK_EVALUE;
    return GK_OK;
}

#define GK_RETURN_IF(err) do { int e_ = (err); if (e_) return e_; } while (0)

static int gk_sgd_check(gk_index count, const void *const *param, const void *const *grad,
                        const void *const *buf, const gk_index *size, const gk_sgd_options *o)
{
    if (!o) return GK_ENULL;
    if (!GK_NONNEG(o->lr) || !GK_NONNEG(o->momentum) || !GK_NONNEG(o->weight_decay) ||
        o->dampening != o->dampening)
        return GK_EVALUE;
    if (o->nesterov && (o->momentum <= 0.0 || o->dampening != 0.0)) return GK_EVALUE;
    const void *const *states[1] = {buf};
    return gk_check_lists(count, param, grad, size, states, o->momentum != 0.0);
}

static int gk_adam_check(gk_index count, const void *const *param, const void *const *grad,
                         const void *const *m, const void *const *v, const void *const *vmax,
                         const gk_index *size, const int64_t *step, const gk_adam_options *o)
{
    if (!o) return GK_ENULL;
    if (!GK_NONNEG(o->lr) || !GK_NONNEG(o->eps) || !GK_UNIT(o->beta1) ||
        !GK_UNIT(o->beta2) || !GK_NONNEG(o->weight_decay))
        return GK_EVALUE;
    const void *const *states[3] = {m, v, vmax};
    GK_RETURN_IF(gk_check_lists(count, param, grad, size, states, o->amsgrad ? 3 : 2));
    return gk_check_steps(count, step);
}

static int gk_rmsprop_check(gk_index count, const void *const *param,
                            const void *const *grad, const void *const *sq,
                            const void *const *ga, const void *const *buf,
                            const gk_index *size, const gk_rmsprop_options *o)
{
    if (!o) return GK_ENULL;
    if (!GK_NONNEG(o->lr) || !GK_NONNEG(o->eps) || !GK_NONNEG(o->momentum) ||
        !GK_NONNEG(o->weight_decay) || !GK_NONNEG(o->alpha))
        return GK_EVALUE;
    const void *const *states[3] = {sq, NULL, NULL};
    int n = 1;
    if (o->centered) states[n++] = ga;
    if (o->momentum > 0.0) states[n++] = buf;
    return gk_check_lists(count, param, grad, size, states, n);
}

static int gk_adagrad_check(gk_index count, const void *const *param,
                            const void *const *grad, const void *const *sum,
                            const gk_index *size, const int64_t *step,
                            const gk_adagrad_options *o)
{
    if (!o) return GK_ENULL;
    if (!GK_NONNEG(o->lr) || !GK_NONNEG(o->lr_decay) || !GK_NONNEG(o->weight_decay) ||
        !GK_NONNEG(o->eps))
        return GK_EVALUE;
    const void *const *states[1] = {sum};
    GK_RETURN_IF(gk_check_lists(count, param, grad, size, states, 1));
    return gk_check_steps(count, step);
}

static int gk_lars_check(gk_index count, const void *const *param, const void *const *grad,
                         const void *const *trace, const gk_index *size,
                         const gk_lars_options *o)
{
    if (!o) return GK_ENULL;
    if (!GK_NONNEG(o->lr) || !GK_NONNEG(o->momentum) || !GK_NONNEG(o->weight_decay) ||
        !GK_NONNEG(o->trust_coefficient) || !GK_NONNEG(o->eps))
        return GK_EVALUE;
    const void *const *states[1] = {trace};
    return gk_check_lists(count, param, grad, size, states, 1);
}

#define GK_VP(x) ((const void *const *)(x))

#define GK_DEFINE_OPTIM(T, SFX) \
int gk_sgd_multi_##SFX(gk_index count, T *const *param, const T *const *grad, \
                       T *const *buf, const unsigned char *fresh, const gk_index *size, \
                       const gk_sgd_options *o) \
{ \
    GK_RETURN_IF(gk_sgd_check(count, GK_VP(param), GK_VP(grad), GK_VP(buf), size, o)); \
    return count ? optim_table()->sgd_##SFX(count, param, grad, buf, fresh, size, o) : GK_OK; \
} \
int gk_adam_multi_##SFX(gk_index count, T *const *param, const T *const *grad, \
                        T *const *m, T *const *v, T *const *vmax, const gk_index *size, \
                        const int64_t *step, const gk_adam_options *o) \
{ \
    GK_RETURN_IF(gk_adam_check(count, GK_VP(param), GK_VP(grad), GK_VP(m), GK_VP(v), \
                               GK_VP(vmax), size, step, o)); \
    return count ? optim_table()->adam_##SFX(count, param, grad, m, v, vmax, size, step, o) \
                 : GK_OK; \
} \
int gk_rmsprop_multi_##SFX(gk_index count, T *const *param, const T *const *grad, \
                           T *const *sq, T *const *ga, T *const *buf, \
                           const gk_index *size, const gk_rmsprop_options *o) \
{ \
    GK_RETURN_IF(gk_rmsprop_check(count, GK_VP(param), GK_VP(grad), GK_VP(sq), GK_VP(ga), \
                                  GK_VP(buf), size, o)); \
    return count ? optim_table()->rmsprop_##SFX(count, param, grad, sq, ga, buf, size, o) \
                 : GK_OK; \
} \
int gk_adagrad_multi_##SFX(gk_index count, T *const *param, const T *const *grad, \
                           T *const *sum, const gk_index *size, const int64_t *step, \
                           const gk_adagrad_options *o) \
{ \
    GK_RETURN_IF(gk_adagrad_check(count, GK_VP(param), GK_VP(grad), GK_VP(sum), size, \
                                  step, o)); \
    return count ? optim_table()->adagrad_##SFX(count, param, grad, sum, size, step, o) \
                 : GK_OK; \
} \
int gk_lars_multi_##SFX(gk_index count, T *const *param, const T *const *grad, \
                        T *const *trace, const gk_index *size, const gk_lars_options *o, \
                        double *ratio) \
{ \
    GK_RETURN_IF(gk_lars_check(count, GK_VP(param), GK_VP(grad), GK_VP(trace), size, o)); \
    return count ? optim_table()->lars_##SFX(count, param, grad, trace, size, o, ratio) \
                 : GK_OK; \
} \
int gk_adam_##SFX(T *param, const T *grad, T *exp_avg, T *exp_avg_sq, gk_index n, \
                  long step, double lr, double beta1, double beta2, double eps, \
                  double weight_decay, int decoupled) \
{ \
    gk_adam_options o = {lr, beta1, beta2, eps, weight_decay, 0, decoupled != 0, 0}; \
    int64_t st = (int64_t)step; \
    return gk_adam_multi_##SFX(1, &param, &grad, &exp_avg, &exp_avg_sq, NULL, &n, &st, &o); \
}

GK_DEFINE_OPTIM(float, f32)
GK_DEFINE_OPTIM(double, f64)
