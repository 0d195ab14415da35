/* Public entry points of the optim family: validate everything (sizes, pointers,
 * steps), then call the ISA table.  Nothing is written on error.
 *
 * The multi-tensor kernels use their hyper-parameters as given, as torch.optim's step
 * does: the callers check the ranges where a user sets them (gradkit.optim: the
 * constructor, add_param_group, load_state_dict), and a scheduler may drive an lr a
 * rounding error below 0 (LinearLR to end_factor=0), which torch steps with.  Any
 * value is safe here: a NaN or an out-of-range one gives NaN or growing parameters,
 * never an out-of-bounds access.  The single-array gk_adam_* (gradkit.capi) checks
 * them, as its header states. */
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "optim_kernels.h"

GK_DEFINE_TABLE_GETTER(optim)
GK_DEFINE_TABLE_GETTER(optim_half)

#define GK_NONNEG(x) ((x) >= 0.0)              /* false for NaN too */
#define GK_UNIT(x) ((x) >= 0.0 && (x) < 1.0)  /* [0, 1) */

/* Sizes and pointers of a list of arrays: the state arrays named in `arg` (GK_ARG_*
 * ids), `nstate` of them, are given in `states` (each an array of count pointers). */
static int gk_check_lists(gk_index count, const void *const *param, const void *const *grad,
                          const gk_index *size, const void *const *const *states,
                          const int *arg, int nstate)
{
    GK_CHECK_SIZE(count);
    if (count == 0) return GK_OK;
    GK_CHECK_PTR(param);
    GK_CHECK_PTR(grad);
    GK_CHECK_PTR(size);
    for (int s = 0; s < nstate; ++s)
        if (!states[s]) return GK_ERROR(GK_ENULL, arg[s]);
    for (gk_index a = 0; a < count; ++a) {
        if (size[a] < 0) return GK_ERROR(GK_ESIZE, GK_ARG_size);
        if (size[a] == 0) continue;
        GK_CHECK(param[a] != NULL, GK_ENULL, param);
        GK_CHECK(grad[a] != NULL, GK_ENULL, grad);
        /* each array is updated through one pointer only */
        GK_CHECK(param[a] != grad[a], GK_EALIAS, grad);
        for (int s = 0; s < nstate; ++s) {
            if (!states[s][a]) return GK_ERROR(GK_ENULL, arg[s]);
            if (states[s][a] == param[a] || states[s][a] == grad[a])
                return GK_ERROR(GK_EALIAS, arg[s]);
            for (int r = 0; r < s; ++r)
                if (states[s][a] == states[r][a]) return GK_ERROR(GK_EALIAS, arg[s]);
        }
    }
    return GK_OK;
}

static int gk_check_steps(gk_index count, const int64_t *step)
{
    GK_CHECK_PTR_IF(count > 0, step);
    for (gk_index a = 0; a < count; ++a)
        GK_CHECK_VALUE(step[a] >= 1, step);
    return GK_OK;
}

static int gk_sgd_check(gk_index count, const void *const *param, const void *const *grad,
                        const void *const *momentum_buffer, const gk_index *size,
                        const gk_sgd_options *opt)
{
    GK_CHECK_PTR(opt);
    const void *const *states[1] = {momentum_buffer};
    const int arg[1] = {GK_ARG_momentum_buffer};
    return gk_check_lists(count, param, grad, size, states, arg, opt->momentum != 0.0);
}

static int gk_adam_check(gk_index count, const void *const *param, const void *const *grad,
                         const void *const *exp_avg, const void *const *exp_avg_sq,
                         const void *const *max_exp_avg_sq, const gk_index *size,
                         const int64_t *step, const gk_adam_options *opt)
{
    GK_CHECK_PTR(opt);
    const void *const *states[3] = {exp_avg, exp_avg_sq, max_exp_avg_sq};
    const int arg[3] = {GK_ARG_exp_avg, GK_ARG_exp_avg_sq, GK_ARG_max_exp_avg_sq};
    GK_RETURN_IF(gk_check_lists(count, param, grad, size, states, arg,
                                opt->amsgrad ? 3 : 2));
    return gk_check_steps(count, step);
}

static int gk_rmsprop_check(gk_index count, const void *const *param,
                            const void *const *grad, const void *const *square_avg,
                            const void *const *grad_avg, const void *const *momentum_buffer,
                            const gk_index *size, const gk_rmsprop_options *opt)
{
    GK_CHECK_PTR(opt);
    const void *const *states[3] = {square_avg, NULL, NULL};
    int arg[3] = {GK_ARG_square_avg, 0, 0};
    int n = 1;
    if (opt->centered) {
        arg[n] = GK_ARG_grad_avg;
        states[n++] = grad_avg;
    }
    if (opt->momentum > 0.0) {
        arg[n] = GK_ARG_momentum_buffer;
        states[n++] = momentum_buffer;
    }
    return gk_check_lists(count, param, grad, size, states, arg, n);
}

static int gk_adagrad_check(gk_index count, const void *const *param,
                            const void *const *grad, const void *const *state_sum,
                            const gk_index *size, const int64_t *step,
                            const gk_adagrad_options *opt)
{
    GK_CHECK_PTR(opt);
    const void *const *states[1] = {state_sum};
    const int arg[1] = {GK_ARG_state_sum};
    GK_RETURN_IF(gk_check_lists(count, param, grad, size, states, arg, 1));
    return gk_check_steps(count, step);
}

static int gk_lars_check(gk_index count, const void *const *param, const void *const *grad,
                         const void *const *trace, const gk_index *size,
                         const gk_lars_options *opt)
{
    GK_CHECK_PTR(opt);
    const void *const *states[1] = {trace};
    const int arg[1] = {GK_ARG_trace};
    return gk_check_lists(count, param, grad, size, states, arg, 1);
}

/* What Adam's relatives (NAdam, RAdam, Adamax, LAMB) check alike: exp_avg and a second
 * state list (named arg1), the steps.  (Their hyper-parameters are used as given: see
 * the top of this file.) */
static int gk_adam_like_check(gk_index count, const void *const *param,
                              const void *const *grad, const void *const *exp_avg,
                              const void *const *second, int arg1, const gk_index *size,
                              const int64_t *step)
{
    const void *const *states[2] = {exp_avg, second};
    const int arg[2] = {GK_ARG_exp_avg, arg1};
    GK_RETURN_IF(gk_check_lists(count, param, grad, size, states, arg, 2));
    return gk_check_steps(count, step);
}

static int gk_nadam_check(gk_index count, const void *const *param, const void *const *grad,
                          const void *const *exp_avg, const void *const *exp_avg_sq,
                          const float *mu_product, const gk_index *size, const int64_t *step,
                          const gk_nadam_options *opt)
{
    GK_CHECK_PTR(opt);
    GK_CHECK_PTR_IF(count > 0, mu_product);
    return gk_adam_like_check(count, param, grad, exp_avg, exp_avg_sq, GK_ARG_exp_avg_sq,
                              size, step);
}

static int gk_radam_check(gk_index count, const void *const *param, const void *const *grad,
                          const void *const *exp_avg, const void *const *exp_avg_sq,
                          const gk_index *size, const int64_t *step,
                          const gk_radam_options *opt)
{
    GK_CHECK_PTR(opt);
    return gk_adam_like_check(count, param, grad, exp_avg, exp_avg_sq, GK_ARG_exp_avg_sq,
                              size, step);
}

static int gk_adamax_check(gk_index count, const void *const *param, const void *const *grad,
                           const void *const *exp_avg, const void *const *exp_inf,
                           const gk_index *size, const int64_t *step,
                           const gk_adamax_options *opt)
{
    GK_CHECK_PTR(opt);
    return gk_adam_like_check(count, param, grad, exp_avg, exp_inf, GK_ARG_exp_inf, size,
                              step);
}

static int gk_adadelta_check(gk_index count, const void *const *param,
                             const void *const *grad, const void *const *square_avg,
                             const void *const *acc_delta, const gk_index *size,
                             const gk_adadelta_options *opt)
{
    GK_CHECK_PTR(opt);
    const void *const *states[2] = {square_avg, acc_delta};
    const int arg[2] = {GK_ARG_square_avg, GK_ARG_acc_delta};
    return gk_check_lists(count, param, grad, size, states, arg, 2);
}

static int gk_lion_check(gk_index count, const void *const *param, const void *const *grad,
                         const void *const *exp_avg, const gk_index *size,
                         const gk_lion_options *opt)
{
    GK_CHECK_PTR(opt);
    const void *const *states[1] = {exp_avg};
    const int arg[1] = {GK_ARG_exp_avg};
    return gk_check_lists(count, param, grad, size, states, arg, 1);
}

static int gk_lamb_check(gk_index count, const void *const *param, const void *const *grad,
                         const void *const *exp_avg, const void *const *exp_avg_sq,
                         const gk_index *size, const int64_t *step, const gk_lamb_options *opt)
{
    GK_CHECK_PTR(opt);
    return gk_adam_like_check(count, param, grad, exp_avg, exp_avg_sq, GK_ARG_exp_avg_sq,
                              size, step);
}

/* Adafactor: each array's state lists by its kind (rows[a] > 0: a matrix, row_var and
 * col_var; 0: a vector, variance), its matrix shape dividing its size. */
static int gk_adafactor_check(gk_index count, const void *const *param,
                              const void *const *grad, const void *const *row_var,
                              const void *const *col_var, const void *const *variance,
                              const gk_index *size, const gk_index *rows,
                              const gk_index *cols, const int64_t *step,
                              const gk_adafactor_options *opt)
{
    GK_CHECK_PTR(opt);
    GK_RETURN_IF(gk_check_lists(count, param, grad, size, NULL, NULL, 0));
    GK_CHECK_PTR_IF(count > 0, rows);
    GK_CHECK_PTR_IF(count > 0, cols);
    for (gk_index a = 0; a < count; ++a) {
        GK_CHECK(rows[a] >= 0, GK_ESIZE, rows);
        GK_CHECK(cols[a] >= 0, GK_ESIZE, cols);
        if (size[a] == 0) continue;
        const void *const *states[2] = {variance, NULL};
        int arg[2] = {GK_ARG_variance, 0}, n = 1;
        if (rows[a] > 0) {
            GK_CHECK(cols[a] > 0 && size[a] % cols[a] == 0 &&
                     (size[a] / cols[a]) % rows[a] == 0, GK_ESIZE, rows);
            states[0] = row_var;
            states[1] = col_var;
            arg[0] = GK_ARG_row_var;
            arg[1] = GK_ARG_col_var;
            n = 2;
        }
        for (int s = 0; s < n; ++s) {
            if (!states[s] || !states[s][a]) return GK_ERROR(GK_ENULL, arg[s]);
            if (states[s][a] == param[a] || states[s][a] == grad[a])
                return GK_ERROR(GK_EALIAS, arg[s]);
        }
        if (n == 2) GK_CHECK(row_var[a] != col_var[a], GK_EALIAS, col_var);
    }
    return gk_check_steps(count, step);
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
    GK_CHECK_VALUE(GK_NONNEG(lr), lr); \
    GK_CHECK_VALUE(GK_NONNEG(eps), eps); \
    GK_CHECK_VALUE(GK_UNIT(beta1), beta1); \
    GK_CHECK_VALUE(GK_UNIT(beta2), beta2); \
    GK_CHECK_VALUE(GK_NONNEG(weight_decay), weight_decay); \
    gk_adam_options o = {lr, beta1, beta2, eps, weight_decay, 0, decoupled != 0, 0, \
                         0, 0.0}; \
    int64_t st = (int64_t)step; \
    return gk_adam_multi_##SFX(1, &param, &grad, &exp_avg, &exp_avg_sq, NULL, &n, &st, &o); \
}

GK_DEFINE_OPTIM(float, f32)
GK_DEFINE_OPTIM(double, f64)

/* NAdam, RAdam, Adamax, Adadelta, Lion, LAMB, Adafactor */
#define GK_DEFINE_OPTIM_MORE(T, SFX) \
int gk_nadam_multi_##SFX(gk_index count, T *const *param, const T *const *grad, \
                         T *const *m, T *const *v, float *mu_product, const gk_index *size, \
                         const int64_t *step, const gk_nadam_options *o) \
{ \
    GK_RETURN_IF(gk_nadam_check(count, GK_VP(param), GK_VP(grad), GK_VP(m), GK_VP(v), \
                                mu_product, size, step, o)); \
    return count ? optim_table()->nadam_##SFX(count, param, grad, m, v, mu_product, size, \
                                              step, o) : GK_OK; \
} \
int gk_radam_multi_##SFX(gk_index count, T *const *param, const T *const *grad, \
                         T *const *m, T *const *v, const gk_index *size, \
                         const int64_t *step, const gk_radam_options *o) \
{ \
    GK_RETURN_IF(gk_radam_check(count, GK_VP(param), GK_VP(grad), GK_VP(m), GK_VP(v), size, \
                                step, o)); \
    return count ? optim_table()->radam_##SFX(count, param, grad, m, v, size, step, o) \
                 : GK_OK; \
} \
int gk_adamax_multi_##SFX(gk_index count, T *const *param, const T *const *grad, \
                          T *const *m, T *const *u, const gk_index *size, \
                          const int64_t *step, const gk_adamax_options *o) \
{ \
    GK_RETURN_IF(gk_adamax_check(count, GK_VP(param), GK_VP(grad), GK_VP(m), GK_VP(u), \
                                 size, step, o)); \
    return count ? optim_table()->adamax_##SFX(count, param, grad, m, u, size, step, o) \
                 : GK_OK; \
} \
int gk_adadelta_multi_##SFX(gk_index count, T *const *param, const T *const *grad, \
                            T *const *sq, T *const *acc, const gk_index *size, \
                            const gk_adadelta_options *o) \
{ \
    GK_RETURN_IF(gk_adadelta_check(count, GK_VP(param), GK_VP(grad), GK_VP(sq), GK_VP(acc), \
                                   size, o)); \
    return count ? optim_table()->adadelta_##SFX(count, param, grad, sq, acc, size, o) \
                 : GK_OK; \
} \
int gk_lion_multi_##SFX(gk_index count, T *const *param, const T *const *grad, \
                        T *const *m, const gk_index *size, const gk_lion_options *o) \
{ \
    GK_RETURN_IF(gk_lion_check(count, GK_VP(param), GK_VP(grad), GK_VP(m), size, o)); \
    return count ? optim_table()->lion_##SFX(count, param, grad, m, size, o) : GK_OK; \
} \
int gk_lamb_multi_work_##SFX(gk_index count, T *const *param, const T *const *grad, \
                             T *const *m, T *const *v, const gk_index *size, \
                             const int64_t *step, const gk_lamb_options *o, double *ratio, \
                             T *work) \
{ \
    GK_RETURN_IF(gk_lamb_check(count, GK_VP(param), GK_VP(grad), GK_VP(m), GK_VP(v), size, \
                               step, o)); \
    return count ? optim_table()->lamb_##SFX(count, param, grad, m, v, size, step, o, ratio, \
                                             work) \
                 : GK_OK; \
} \
int gk_lamb_multi_##SFX(gk_index count, T *const *param, const T *const *grad, \
                        T *const *m, T *const *v, const gk_index *size, \
                        const int64_t *step, const gk_lamb_options *o, double *ratio) \
{ \
    return gk_lamb_multi_work_##SFX(count, param, grad, m, v, size, step, o, ratio, NULL); \
} \
int gk_adafactor_multi_work_##SFX(gk_index count, T *const *param, const T *const *grad, \
                                  T *const *row_var, T *const *col_var, \
                                  T *const *variance, const gk_index *size, \
                                  const gk_index *rows, const gk_index *cols, \
                                  const int64_t *step, const gk_adafactor_options *o, \
                                  T *work) \
{ \
    GK_RETURN_IF(gk_adafactor_check(count, GK_VP(param), GK_VP(grad), GK_VP(row_var), \
                                    GK_VP(col_var), GK_VP(variance), size, rows, cols, \
                                    step, o)); \
    return count ? optim_table()->adafactor_##SFX(count, param, grad, row_var, col_var, \
                                                  variance, size, rows, cols, step, o, work) \
                 : GK_OK; \
} \
int gk_adafactor_multi_##SFX(gk_index count, T *const *param, const T *const *grad, \
                             T *const *row_var, T *const *col_var, T *const *variance, \
                             const gk_index *size, const gk_index *rows, \
                             const gk_index *cols, const int64_t *step, \
                             const gk_adafactor_options *o) \
{ \
    return gk_adafactor_multi_work_##SFX(count, param, grad, row_var, col_var, variance, \
                                         size, rows, cols, step, o, NULL); \
}

GK_DEFINE_OPTIM_MORE(float, f32)
GK_DEFINE_OPTIM_MORE(double, f64)

/* ---- mixed precision ------------------------------------------------------------------ */
#define GK_IS_STORAGE(d) ((d) == GK_DTYPE_F32 || (d) == GK_DTYPE_F16 || (d) == GK_DTYPE_BF16)

/* The storage of a mixed-precision step: known dtype codes; model (master weights) only
 * with float32 params, 16-bit, one array per non-empty entry that is no other list's
 * (the lists' own checks ran before).  Then, with found_inf, the gradients' check: 1 when
 * the step must be skipped (*found_inf set), 0 to run it, or a status. */
static int gk_storage_check(gk_index count, const void *const *param, const void *const *grad,
                            const gk_index *size, const gk_optim_storage *st)
{
    GK_CHECK(st != NULL, GK_ENULL, storage);
    GK_CHECK(GK_IS_STORAGE(st->param), GK_EDTYPE, param);
    GK_CHECK(GK_IS_STORAGE(st->grad), GK_EDTYPE, grad);
    GK_CHECK(GK_IS_STORAGE(st->state), GK_EDTYPE, state);
    if (!st->model) return GK_OK;
    GK_CHECK(st->param == GK_DTYPE_F32, GK_EDTYPE, param);
    GK_CHECK(st->model_dtype == GK_DTYPE_F16 || st->model_dtype == GK_DTYPE_BF16, GK_EDTYPE,
             model_dtype);
    for (gk_index a = 0; a < count; ++a) {
        if (size[a] == 0) continue;
        GK_CHECK(st->model[a] != NULL, GK_ENULL, model);
        GK_CHECK(st->model[a] != param[a] && st->model[a] != grad[a], GK_EALIAS, model);
    }
    return GK_OK;
}

/* after the checks, with found_inf: the gradients' finiteness (*skip = 1: an inf or NaN,
 * the step is skipped) */
static int gk_storage_skip(gk_index count, const void *const *grad, const gk_index *size,
                           const gk_optim_storage *st, int *skip)
{
    *skip = 0;
    if (!st->found_inf) return GK_OK;
    GK_RETURN_IF(optim_half_table()->grads_nonfinite(count, grad, size, st->grad, skip));
    *st->found_inf = *skip;
    return GK_OK;
}

/* the body of an _mp entry point: checks (the list check CHECK, then the storage's), the
 * finiteness of the gradients when asked, then the staged step CALL */
#define GK_MP_BODY(CHECK, CALL) \
    GK_RETURN_IF(CHECK); \
    GK_RETURN_IF(gk_storage_check(count, GK_VP(param), GK_VP(grad), size, storage)); \
    int skip_ = 0; \
    if (count == 0) { if (storage->found_inf) *storage->found_inf = 0; return GK_OK; } \
    GK_RETURN_IF(gk_storage_skip(count, GK_VP(grad), size, storage, &skip_)); \
    return skip_ ? GK_OK : CALL

#define GK_F(x) ((float *const *)(x))
#define GK_CF(x) ((const float *const *)(x))

int gk_sgd_multi_mp(gk_index count, void *const *param, const void *const *grad,
                    void *const *momentum_buffer, const unsigned char *fresh,
                    const gk_index *size, const gk_sgd_options *opt,
                    const gk_optim_storage *storage)
{
    GK_MP_BODY(gk_sgd_check(count, GK_VP(param), GK_VP(grad), GK_VP(momentum_buffer), size,
                            opt),
               optim_half_table()->sgd(count, GK_F(param), GK_CF(grad), GK_F(momentum_buffer),
                                       fresh, size, opt, storage));
}

int gk_adam_multi_mp(gk_index count, void *const *param, const void *const *grad,
                     void *const *exp_avg, void *const *exp_avg_sq,
                     void *const *max_exp_avg_sq, const gk_index *size,
                     const int64_t *step, const gk_adam_options *opt,
                     const gk_optim_storage *storage)
{
    GK_MP_BODY(gk_adam_check(count, GK_VP(param), GK_VP(grad), GK_VP(exp_avg),
                             GK_VP(exp_avg_sq), GK_VP(max_exp_avg_sq), size, step, opt),
               optim_half_table()->adam(count, GK_F(param), GK_CF(grad), GK_F(exp_avg),
                                        GK_F(exp_avg_sq), GK_F(max_exp_avg_sq), size, step,
                                        opt, storage));
}

int gk_rmsprop_multi_mp(gk_index count, void *const *param, const void *const *grad,
                        void *const *square_avg, void *const *grad_avg,
                        void *const *momentum_buffer, const gk_index *size,
                        const gk_rmsprop_options *opt, const gk_optim_storage *storage)
{
    GK_MP_BODY(gk_rmsprop_check(count, GK_VP(param), GK_VP(grad), GK_VP(square_avg),
                                GK_VP(grad_avg), GK_VP(momentum_buffer), size, opt),
               optim_half_table()->rmsprop(count, GK_F(param), GK_CF(grad), GK_F(square_avg),
                                           GK_F(grad_avg), GK_F(momentum_buffer), size, opt,
                                           storage));
}

int gk_adagrad_multi_mp(gk_index count, void *const *param, const void *const *grad,
                        void *const *state_sum, const gk_index *size, const int64_t *step,
                        const gk_adagrad_options *opt, const gk_optim_storage *storage)
{
    GK_MP_BODY(gk_adagrad_check(count, GK_VP(param), GK_VP(grad), GK_VP(state_sum), size,
                                step, opt),
               optim_half_table()->adagrad(count, GK_F(param), GK_CF(grad), GK_F(state_sum),
                                           size, step, opt, storage));
}

int gk_lars_multi_mp(gk_index count, void *const *param, const void *const *grad,
                     void *const *trace, const gk_index *size, const gk_lars_options *opt,
                     double *trust_ratio, const gk_optim_storage *storage)
{
    GK_MP_BODY(gk_lars_check(count, GK_VP(param), GK_VP(grad), GK_VP(trace), size, opt),
               optim_half_table()->lars(count, GK_F(param), GK_CF(grad), GK_F(trace), size,
                                        opt, trust_ratio, storage));
}

int gk_nadam_multi_mp(gk_index count, void *const *param, const void *const *grad,
                      void *const *exp_avg, void *const *exp_avg_sq, float *mu_product,
                      const gk_index *size, const int64_t *step,
                      const gk_nadam_options *opt, const gk_optim_storage *storage)
{
    GK_MP_BODY(gk_nadam_check(count, GK_VP(param), GK_VP(grad), GK_VP(exp_avg),
                              GK_VP(exp_avg_sq), mu_product, size, step, opt),
               optim_half_table()->nadam(count, GK_F(param), GK_CF(grad), GK_F(exp_avg),
                                         GK_F(exp_avg_sq), mu_product, size, step, opt, storage));
}

int gk_radam_multi_mp(gk_index count, void *const *param, const void *const *grad,
                      void *const *exp_avg, void *const *exp_avg_sq, const gk_index *size,
                      const int64_t *step, const gk_radam_options *opt,
                      const gk_optim_storage *storage)
{
    GK_MP_BODY(gk_radam_check(count, GK_VP(param), GK_VP(grad), GK_VP(exp_avg),
                              GK_VP(exp_avg_sq), size, step, opt),
               optim_half_table()->radam(count, GK_F(param), GK_CF(grad), GK_F(exp_avg),
                                         GK_F(exp_avg_sq), size, step, opt, storage));
}

int gk_adamax_multi_mp(gk_index count, void *const *param, const void *const *grad,
                       void *const *exp_avg, void *const *exp_inf, const gk_index *size,
                       const int64_t *step, const gk_adamax_options *opt,
                       const gk_optim_storage *storage)
{
    GK_MP_BODY(gk_adamax_check(count, GK_VP(param), GK_VP(grad), GK_VP(exp_avg),
                               GK_VP(exp_inf), size, step, opt),
               optim_half_table()->adamax(count, GK_F(param), GK_CF(grad), GK_F(exp_avg),
                                          GK_F(exp_inf), size, step, opt, storage));
}

int gk_adadelta_multi_mp(gk_index count, void *const *param, const void *const *grad,
                         void *const *square_avg, void *const *acc_delta,
                         const gk_index *size, const gk_adadelta_options *opt,
                         const gk_optim_storage *storage)
{
    GK_MP_BODY(gk_adadelta_check(count, GK_VP(param), GK_VP(grad), GK_VP(square_avg),
                                 GK_VP(acc_delta), size, opt),
               optim_half_table()->adadelta(count, GK_F(param), GK_CF(grad),
                                            GK_F(square_avg), GK_F(acc_delta), size, opt,
                                            storage));
}

int gk_lion_multi_mp(gk_index count, void *const *param, const void *const *grad,
                     void *const *exp_avg, const gk_index *size, const gk_lion_options *opt,
                     const gk_optim_storage *storage)
{
    GK_MP_BODY(gk_lion_check(count, GK_VP(param), GK_VP(grad), GK_VP(exp_avg), size, opt),
               optim_half_table()->lion(count, GK_F(param), GK_CF(grad), GK_F(exp_avg), size,
                                        opt, storage));
}

int gk_lamb_multi_mp_work(gk_index count, void *const *param, const void *const *grad,
                          void *const *exp_avg, void *const *exp_avg_sq,
                          const gk_index *size, const int64_t *step,
                          const gk_lamb_options *opt, double *trust_ratio,
                          const gk_optim_storage *storage, float *work)
{
    GK_MP_BODY(gk_lamb_check(count, GK_VP(param), GK_VP(grad), GK_VP(exp_avg),
                             GK_VP(exp_avg_sq), size, step, opt),
               optim_half_table()->lamb(count, GK_F(param), GK_CF(grad), GK_F(exp_avg),
                                        GK_F(exp_avg_sq), size, step, opt, trust_ratio,
                                        storage, work));
}

int gk_lamb_multi_mp(gk_index count, void *const *param, const void *const *grad,
                     void *const *exp_avg, void *const *exp_avg_sq, const gk_index *size,
                     const int64_t *step, const gk_lamb_options *opt, double *trust_ratio,
                     const gk_optim_storage *storage)
{
    return gk_lamb_multi_mp_work(count, param, grad, exp_avg, exp_avg_sq, size, step, opt,
                                 trust_ratio, storage, NULL);
}

int gk_adafactor_multi_mp_work(gk_index count, void *const *param, const void *const *grad,
                               void *const *row_var, void *const *col_var,
                               void *const *variance, const gk_index *size,
                               const gk_index *rows, const gk_index *cols,
                               const int64_t *step, const gk_adafactor_options *opt,
                               const gk_optim_storage *storage, float *work)
{
    GK_MP_BODY(gk_adafactor_check(count, GK_VP(param), GK_VP(grad), GK_VP(row_var),
                                  GK_VP(col_var), GK_VP(variance), size, rows, cols, step,
                                  opt),
               optim_half_table()->adafactor(count, GK_F(param), GK_CF(grad), GK_F(row_var),
                                             GK_F(col_var), GK_F(variance), size, rows, cols,
                                             step, opt, storage, work));
}

int gk_adafactor_multi_mp(gk_index count, void *const *param, const void *const *grad,
                          void *const *row_var, void *const *col_var, void *const *variance,
                          const gk_index *size, const gk_index *rows, const gk_index *cols,
                          const int64_t *step, const gk_adafactor_options *opt,
                          const gk_optim_storage *storage)
{
    return gk_adafactor_multi_mp_work(count, param, grad, row_var, col_var, variance, size,
                                      rows, cols, step, opt, storage, NULL);
}
