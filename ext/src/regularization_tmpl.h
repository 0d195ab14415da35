/* Regularization kernels for element type T.  Included by regularization.c once per
 * dtype, with T and SFX defined. */

typedef struct {
    const T *const *x;
    T *const *grad;
    T lam;
} GK_T(reg_ctx);

/* sum of x^2 over one chunk, GK_LANES double accumulators folded in a fixed tree */
static void GK_T(sumsq_chunk)(void *vctx, gk_index a, gk_index b, gk_index n, double *part)
{
    const T *GK_RESTRICT x = ((const GK_T(reg_ctx) *)vctx)->x[a] + b;
    double acc[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k)
            acc[k] += (double)x[j + k] * (double)x[j + k];
    for (int k = 0; j + k < n; ++k)
        acc[k] += (double)x[j + k] * (double)x[j + k];
    part[0] = gk_fold16(acc);
}

static void GK_T(sumabs_chunk)(void *vctx, gk_index a, gk_index b, gk_index n, double *part)
{
    const T *GK_RESTRICT x = ((const GK_T(reg_ctx) *)vctx)->x[a] + b;
    double acc[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k)
            acc[k] += fabs((double)x[j + k]);
    for (int k = 0; j + k < n; ++k)
        acc[k] += fabs((double)x[j + k]);
    part[0] = gk_fold16(acc);
}

static int GK_T(sum_squares)(gk_index count, const T *const *x, const gk_index *size,
                             double *out)
{
    GK_T(reg_ctx) c = {x, NULL, 0};
    return gk_multi_run(count, size, 1, GK_T(sumsq_chunk), out, NULL, &c);
}

static int GK_T(sum_abs)(gk_index count, const T *const *x, const gk_index *size,
                         double *out)
{
    GK_T(reg_ctx) c = {x, NULL, 0};
    return gk_multi_run(count, size, 1, GK_T(sumabs_chunk), out, NULL, &c);
}

static void GK_T(l2_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(reg_ctx) *c = (const GK_T(reg_ctx) *)vctx;
    T *GK_RESTRICT g = c->grad[a] + b;
    const T *GK_RESTRICT w = c->x[a] + b;
    const T lam = c->lam;
    for (gk_index i = 0; i < e - b; ++i)
        g[i] = g[i] + lam * w[i];
}

static void GK_T(l1_span)(void *vctx, gk_index a, gk_index b, gk_index e)
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
}

static int GK_T(add_l2)(gk_index count, T *const *grad, const T *const *param,
                        const gk_index *size, double lam)
{
    GK_T(reg_ctx) c = {param, grad, (T)lam};
    return gk_multi_run(count, size, 0, NULL, NULL, GK_T(l2_span), &c);
}

static int GK_T(add_l1)(gk_index count, T *const *grad, const T *const *param,
                        const gk_index *size, double lam)
{
    GK_T(reg_ctx) c = {param, grad, (T)lam};
    return gk_multi_run(count, size, 0, NULL, NULL, GK_T(l1_span), &c);
}
