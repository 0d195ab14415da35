/* Regularization kernels for element type T.  Included by regularization.c once per
 * dtype, with T and SFX defined.  The penalties are multi_norm.h's per-array sums. */

typedef struct {
    T *const *grad;
    const T *const *x;
    T lam;
} GK_T(reg_ctx);

/* g += lam w */
static int GK_T(l2_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(reg_ctx) *c = (const GK_T(reg_ctx) *)vctx;
    T *GK_RESTRICT g = c->grad[a] + b;
    const T *GK_RESTRICT w = c->x[a] + b;
    const T lam = c->lam;
    for (gk_index i = 0; i < e - b; ++i)
        g[i] = g[i] + lam * w[i];
    return 0;
}

/* g += lam sign(w), sign(NaN) = NaN */
static int GK_T(l1_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(reg_ctx) *c = (const GK_T(reg_ctx) *)vctx;
    T *GK_RESTRICT g = c->grad[a] + b;
    const T *GK_RESTRICT w = c->x[a] + b;
    const T lam = c->lam;
    for (gk_index i = 0; i < e - b; ++i) {
        T wi = w[i];
        T s = wi > 0 ? (T)1 : (wi < 0 ? (T)-1 : (wi == wi ? (T)0 : wi));
        g[i] = g[i] + lam * s;
    }
    return 0;
}

static int GK_T(add_grad)(gk_index count, T *const *grad, const T *const *param,
                          const gk_index *size, double lam, gk_span_fn span)
{
    GK_T(reg_ctx) c = {grad, param, (T)lam};
    gk_multi_pass pass = {.span = span, .ctx = &c};
    return gk_multi_run(count, size, &pass);
}

static int GK_T(add_l2)(gk_index count, T *const *grad, const T *const *param,
                        const gk_index *size, double lam)
{
    return GK_T(add_grad)(count, grad, param, size, lam, GK_T(l2_span));
}

static int GK_T(add_l1)(gk_index count, T *const *grad, const T *const *param,
                        const gk_index *size, double lam)
{
    return GK_T(add_grad)(count, grad, param, size, lam, GK_T(l1_span));
}
