/* NAdam, RAdam, Adamax, Adadelta (torch.optim's single-tensor formulas), Lion and LAMB
 * (optax.lion, optax.lamb) for element type T.  Included by optim.c once per dtype after
 * optim_tmpl.h, whose conventions hold here: a loop per optimizer instantiated for each
 * combination of its options, a span function computing the array's scalars in double
 * (rounded to T once, where torch rounds a Python float), torch's order of operations. */

/* ---- NAdam ------------------------------------------------------------------------- */
typedef struct {
    T *const *param;
    const T *const *grad;
    T *const *m, *const *v;
    const float *mu_product;  /* before this step */
    const int64_t *step;
    const gk_nadam_options *o;
    const gk_optim_storage *st;
    int far;    /* GK_OPT_FAR */
} GK_T(nadam_ctx);

/* the per-array scalars; torch: mu_t = beta1 (1 - 0.5 * 0.96^(t psi)), the product
 * mu_product *= mu_t in float32, and the two addcdiv values */
typedef struct {
    double mu, mu_next;
    float mu_product;
} GK_T(nadam_mu_t);

static GK_T(nadam_mu_t) GK_T(nadam_mu)(const gk_nadam_options *o, double step, float before)
{
    GK_T(nadam_mu_t) r;
    r.mu = o->beta1 * (1.0 - 0.5 * pow(0.96, step * o->momentum_decay));
    r.mu_next = o->beta1 * (1.0 - 0.5 * pow(0.96, (step + 1.0) * o->momentum_decay));
    r.mu_product = before * (float)r.mu;  /* a float32 tensor times a Python float */
    return r;
}

/* Adam's first part of an element's step, as adam_loop does it: the gradient (times
 * +-1 or the clip's coefficient, plus the coupled decay), the parameter (times the
 * decoupled decay), and the two moments, stored */
GK_INLINE void GK_T(adam_moments)(const GK_T(adam_k) *k, T g, T p, T *m, T *v,
                                  const int coupled, T *g_out, T *p_out, T *m_out,
                                  T *v_out)
{
    T gi = g * k->gs;
    T pi = p * k->decay;
    if (coupled) gi = gi + k->wd * pi;
    T mi = *m;
    T dm = gi - mi;
    mi = k->small ? mi + k->lw * dm : gi - dm * k->lomw;
    T vi = *v * k->b2 + (k->c2 * gi) * gi;
    *m = mi;
    *v = vi;
    *g_out = gi;
    *p_out = pi;
    *m_out = mi;
    *v_out = vi;
}

GK_INLINE void GK_T(nadam_loop)(T *GK_RESTRICT p, const T *GK_RESTRICT g, T *GK_RESTRICT m,
                                T *GK_RESTRICT v, gk_index n, const GK_T(adam_k) *k,
                                T bc2, T cg, T cm, const int coupled)
{
    const T eps = k->eps;
    for (gk_index i = 0; i < n; ++i) {
        T gi, pi, mi, vi;
        GK_T(adam_moments)(k, g[i], p[i], m + i, v + i, coupled, &gi, &pi, &mi, &vi);
        T den = SQRT(vi / bc2) + eps;
        pi = pi + (cg * gi) / den;
        p[i] = pi + (cm * mi) / den;
    }
}

/* Adam's per-array constants that NAdam and RAdam share (the bias corrections aside) */
static void GK_T(adam_like_k)(GK_T(adam_k) *k, double lr, double beta1, double beta2,
                              double eps, double wd, int decoupled, int maximize, int scale,
                              double coef)
{
    k->gs = GK_T(grad_factor)(maximize, scale, coef);
    k->decay = (decoupled && wd != 0.0) ? (T)(1.0 - lr * wd) : (T)1;
    k->wd = (T)wd;
    k->lw = (T)(1.0 - beta1);
    k->lomw = (T)1 - k->lw;
    k->small = fabs((double)k->lw) < 0.5;
    k->b2 = (T)beta2;
    k->c2 = (T)(1.0 - beta2);
    k->eps = (T)eps;
}

static int GK_T(nadam_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(nadam_ctx) *c = (const GK_T(nadam_ctx) *)vctx;
    const gk_nadam_options *o = c->o;
    double step = (double)c->step[a];
    GK_T(nadam_mu_t) mu = GK_T(nadam_mu)(o, step, c->mu_product[a]);
    double mp = (double)mu.mu_product, mp_next = mp * mu.mu_next;
    GK_T(adam_k) k;
    GK_T(adam_like_k)(&k, o->lr, o->beta1, o->beta2, o->eps, o->weight_decay, o->decoupled,
                      o->maximize, o->scale, o->coef);
    T bc2 = (T)(1.0 - pow(o->beta2, step));
    T cg = (T)(-o->lr * (1.0 - mu.mu) / (1.0 - mp));
    T cm = (T)((-o->lr * mu.mu_next) / (1.0 - mp_next));
    int coupled = !o->decoupled && o->weight_decay != 0.0;
    const void *const *tab[4] = {(const void *const *)c->param, (const void *const *)c->grad,
                                 (const void *const *)c->m, (const void *const *)c->v};
    GK_T(stage) s;
    gk_index n;
    GK_T(stage_init)(&s, c->st, tab, 4, 13u, a, b, e, c->far);
    while (GK_T(stage_next)(&s, &n)) {
        if (coupled)
            GK_T(nadam_loop)(s.ptr[0], s.ptr[1], s.ptr[2], s.ptr[3], n, &k, bc2, cg, cm, 1);
        else
            GK_T(nadam_loop)(s.ptr[0], s.ptr[1], s.ptr[2], s.ptr[3], n, &k, bc2, cg, cm, 0);
    }
    return 0;
}

static int GK_T(nadam_multi)(gk_index count, T *const *param, const T *const *grad,
                             T *const *m, T *const *v, float *mu_product,
                             const gk_index *size, const int64_t *step,
                             const gk_nadam_options *o GK_OPT_ST_PARAM)
{
    GK_T(nadam_ctx) c = {param, grad, m, v, mu_product, step, o, GK_OPT_ST_ARG,
                         GK_OPT_FAR(count, size, 4)};
    gk_multi_pass pass = {.span = GK_T(nadam_span), .ctx = &c};
    int err = gk_multi_run(count, size, &pass);
    if (err == GK_OK)  /* every span read the old products: update them now */
        for (gk_index a = 0; a < count; ++a)
            mu_product[a] = GK_T(nadam_mu)(o, (double)step[a], mu_product[a]).mu_product;
    return err;
}

/* ---- the context of RAdam, Adamax and Adadelta: two state lists, the step numbers
 * (NULL for Adadelta) and the options (o, cast back by each span function) */
typedef struct {
    T *const *param;
    const T *const *grad;
    T *const *s0, *const *s1;
    const int64_t *step;
    const void *o;
    const gk_optim_storage *st;
    int far;    /* GK_OPT_FAR */
} GK_T(two_ctx);

static int GK_T(two_run)(gk_span_fn span, gk_index count, T *const *param,
                         const T *const *grad, T *const *s0, T *const *s1,
                         const gk_index *size, const int64_t *step, const void *o
                         GK_OPT_ST_PARAM)
{
    GK_T(two_ctx) c = {param, grad, s0, s1, step, o, GK_OPT_ST_ARG, GK_OPT_FAR(count, size, 4)};
    gk_multi_pass pass = {.span = span, .ctx = &c};
    return gk_multi_run(count, size, &pass);
}

/* the stage of a two_ctx span: param, grad and both states */
GK_INLINE void GK_T(two_stage)(GK_T(stage) *s, const GK_T(two_ctx) *c, gk_index a,
                               gk_index b, gk_index e)
{
    const void *const *tab[4] = {(const void *const *)c->param, (const void *const *)c->grad,
                                 (const void *const *)c->s0, (const void *const *)c->s1};
    GK_T(stage_init)(s, c->st, tab, 4, 13u, a, b, e, c->far);
}

/* ---- RAdam ------------------------------------------------------------------------- */

/* rect: the variance is tractable (rho_t > 5); then
 *   p -= ((m / bc1) * lr) * ((1 / (sqrt(v) + eps)) * sqrt(bc2)) * r
 * (torch's bias_corrected_exp_avg * lr * adaptive_lr * rect, where adaptive_lr =
 * bc2**0.5 / (sqrt(v) + eps) is Tensor.__rdiv__: a reciprocal times the scalar), else
 *   p -= (m / bc1) * lr */
GK_INLINE void GK_T(radam_loop)(T *GK_RESTRICT p, const T *GK_RESTRICT g, T *GK_RESTRICT m,
                                T *GK_RESTRICT v, gk_index n, const GK_T(adam_k) *k,
                                T bc1, T lr, T bc2s, T r, const int coupled, const int rect)
{
    const T eps = k->eps;
    for (gk_index i = 0; i < n; ++i) {
        T gi, pi, mi, vi;
        GK_T(adam_moments)(k, g[i], p[i], m + i, v + i, coupled, &gi, &pi, &mi, &vi);
        T u = (mi / bc1) * lr;
        if (rect) {
            T ad = ((T)1 / (SQRT(vi) + eps)) * bc2s;
            u = (u * ad) * r;
        }
        p[i] = pi - u;
    }
}

static int GK_T(radam_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(two_ctx) *c = (const GK_T(two_ctx) *)vctx;
    const gk_radam_options *o = (const gk_radam_options *)c->o;
    double step = (double)c->step[a];
    double bc1 = 1.0 - pow(o->beta1, step), bc2 = 1.0 - pow(o->beta2, step);
    double rho_inf = 2.0 / (1.0 - o->beta2) - 1.0;
    double rho_t = rho_inf - 2.0 * step * pow(o->beta2, step) / bc2;
    int rect = rho_t > 5.0;
    double r = rect ? pow((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                          ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t), 0.5) : 1.0;
    GK_T(adam_k) k;
    GK_T(adam_like_k)(&k, o->lr, o->beta1, o->beta2, o->eps, o->weight_decay, o->decoupled,
                      o->maximize, o->scale, o->coef);
    int coupled = !o->decoupled && o->weight_decay != 0.0;
    GK_T(stage) s;
    gk_index n;
    GK_T(two_stage)(&s, c, a, b, e);
    while (GK_T(stage_next)(&s, &n)) {
#define GK_RADAM(C, R) GK_T(radam_loop)(s.ptr[0], s.ptr[1], s.ptr[2], s.ptr[3], n, &k, \
                                        (T)bc1, (T)o->lr, (T)pow(bc2, 0.5), (T)r, C, R)
    switch (coupled * 2 + rect) {
    case 0: GK_RADAM(0, 0); break;
    case 1: GK_RADAM(0, 1); break;
    case 2: GK_RADAM(1, 0); break;
    default: GK_RADAM(1, 1); break;
    }
    }
#undef GK_RADAM
    return 0;
}

static int GK_T(radam_multi)(gk_index count, T *const *param, const T *const *grad,
                             T *const *m, T *const *v, const gk_index *size,
                             const int64_t *step, const gk_radam_options *o GK_OPT_ST_PARAM)
{
    return GK_T(two_run)(GK_T(radam_span), count, param, grad, m, v, size, step, o
                         GK_OPT_ST_PASS);
}

/* ---- Adamax ------------------------------------------------------------------------ */

GK_INLINE void GK_T(adamax_loop)(T *GK_RESTRICT p, const T *GK_RESTRICT g,
                                 T *GK_RESTRICT m, T *GK_RESTRICT u, gk_index n,
                                 const GK_T(adam_k) *k, T neg_clr, const int coupled)
{
    const T gs = k->gs, wd = k->wd, lw = k->lw, lomw = k->lomw, b2 = k->b2, eps = k->eps;
    const int small = k->small;
    for (gk_index i = 0; i < n; ++i) {
        T gi = g[i] * gs;
        T pi = p[i];
        if (coupled) gi = gi + wd * pi;
        T mi = m[i];
        T dm = gi - mi;
        mi = small ? mi + lw * dm : gi - dm * lomw;
        m[i] = mi;
        T x = u[i] * b2;
        T y = (gi < 0 ? -gi : gi) + eps;  /* |g| + eps (|NaN| is NaN) */
        x = (x > y || x != x) ? x : y;     /* torch.maximum: NaN wins */
        u[i] = x;
        p[i] = pi + (neg_clr * mi) / x;
    }
}

static int GK_T(adamax_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(two_ctx) *c = (const GK_T(two_ctx) *)vctx;
    const gk_adamax_options *o = (const gk_adamax_options *)c->o;
    double clr = o->lr / (1.0 - pow(o->beta1, (double)c->step[a]));
    GK_T(adam_k) k;
    GK_T(adam_like_k)(&k, o->lr, o->beta1, o->beta2, o->eps, o->weight_decay, 0,
                      o->maximize, o->scale, o->coef);
    GK_T(stage) s;
    gk_index n;
    GK_T(two_stage)(&s, c, a, b, e);
    while (GK_T(stage_next)(&s, &n)) {
        if (o->weight_decay != 0.0)
            GK_T(adamax_loop)(s.ptr[0], s.ptr[1], s.ptr[2], s.ptr[3], n, &k, (T)(-clr), 1);
        else
            GK_T(adamax_loop)(s.ptr[0], s.ptr[1], s.ptr[2], s.ptr[3], n, &k, (T)(-clr), 0);
    }
    return 0;
}

static int GK_T(adamax_multi)(gk_index count, T *const *param, const T *const *grad,
                              T *const *m, T *const *u, const gk_index *size,
                              const int64_t *step, const gk_adamax_options *o GK_OPT_ST_PARAM)
{
    return GK_T(two_run)(GK_T(adamax_span), count, param, grad, m, u, size, step, o
                         GK_OPT_ST_PASS);
}

/* ---- Adadelta ---------------------------------------------------------------------- */

GK_INLINE void GK_T(adadelta_loop)(T *GK_RESTRICT p, const T *GK_RESTRICT g,
                                   T *GK_RESTRICT sq, T *GK_RESTRICT acc, gk_index n, T gs,
                                   T wd, T rho, T c, T eps, T neg_lr, const int coupled)
{
    for (gk_index i = 0; i < n; ++i) {
        T gi = g[i] * gs;
        T pi = p[i];
        if (coupled) gi = gi + wd * pi;
        T s = sq[i] * rho + (c * gi) * gi;
        sq[i] = s;
        T std = SQRT(s + eps);
        T d = SQRT(acc[i] + eps);
        d = (d / std) * gi;
        acc[i] = acc[i] * rho + (c * d) * d;
        p[i] = pi + neg_lr * d;
    }
}

static int GK_T(adadelta_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(two_ctx) *c = (const GK_T(two_ctx) *)vctx;
    const gk_adadelta_options *o = (const gk_adadelta_options *)c->o;
    T gs = GK_T(grad_factor)(o->maximize, o->scale, o->coef);
    T wd = (T)o->weight_decay, rho = (T)o->rho, cc = (T)(1.0 - o->rho), eps = (T)o->eps;
    GK_T(stage) s;
    gk_index n;
    GK_T(two_stage)(&s, c, a, b, e);
    while (GK_T(stage_next)(&s, &n)) {
        if (o->weight_decay != 0.0)
            GK_T(adadelta_loop)(s.ptr[0], s.ptr[1], s.ptr[2], s.ptr[3], n, gs, wd, rho, cc,
                                eps, (T)(-o->lr), 1);
        else
            GK_T(adadelta_loop)(s.ptr[0], s.ptr[1], s.ptr[2], s.ptr[3], n, gs, wd, rho, cc,
                                eps, (T)(-o->lr), 0);
    }
    return 0;
}

static int GK_T(adadelta_multi)(gk_index count, T *const *param, const T *const *grad,
                                T *const *sq, T *const *acc, const gk_index *size,
                                const gk_adadelta_options *o GK_OPT_ST_PARAM)
{
    return GK_T(two_run)(GK_T(adadelta_span), count, param, grad, sq, acc, size, NULL, o
                         GK_OPT_ST_PASS);
}

/* ---- Lion (optax.lion) ------------------------------------------------------------- */
/* u = sign((1 - b1) g + b1 m) + wd p;  p += -lr u;  m = (1 - b2) g + b2 m
 * (optax adds the decay term even when wd is 0, so an infinite parameter gives NaN as
 * there) */
typedef struct {
    T *const *param;
    const T *const *grad;
    T *const *m;
    const gk_lion_options *o;
    const gk_optim_storage *st;
    int far;    /* GK_OPT_FAR */
} GK_T(lion_ctx);

GK_INLINE void GK_T(lion_loop)(T *GK_RESTRICT p, const T *GK_RESTRICT g, T *GK_RESTRICT m,
                               gk_index n, T gs, T c1, T b1, T c2, T b2, T wd, T neg_lr)
{
    for (gk_index i = 0; i < n; ++i) {
        T gi = g[i] * gs;
        T mi = m[i];
        T x = c1 * gi + b1 * mi;
        T s = x != x ? x : (T)((x > 0) - (x < 0));  /* jnp.sign: NaN stays NaN */
        T pi = p[i];
        p[i] = pi + neg_lr * (s + wd * pi);
        m[i] = c2 * gi + b2 * mi;
    }
}

static int GK_T(lion_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(lion_ctx) *c = (const GK_T(lion_ctx) *)vctx;
    const gk_lion_options *o = c->o;
    const void *const *tab[3] = {(const void *const *)c->param, (const void *const *)c->grad,
                                 (const void *const *)c->m};
    GK_T(stage) s;
    gk_index n;
    GK_T(stage_init)(&s, c->st, tab, 3, 5u, a, b, e, c->far);
    while (GK_T(stage_next)(&s, &n))
        GK_T(lion_loop)(s.ptr[0], s.ptr[1], s.ptr[2], n,
                        GK_T(grad_factor)(o->maximize, o->scale, o->coef), (T)(1.0 - o->beta1),
                        (T)o->beta1, (T)(1.0 - o->beta2), (T)o->beta2, (T)o->weight_decay,
                        (T)(-o->lr));
    return 0;
}

static int GK_T(lion_multi)(gk_index count, T *const *param, const T *const *grad,
                            T *const *m, const gk_index *size, const gk_lion_options *o
                            GK_OPT_ST_PARAM)
{
    GK_T(lion_ctx) c = {param, grad, m, o, GK_OPT_ST_ARG, GK_OPT_FAR(count, size, 3)};
    gk_multi_pass pass = {.span = GK_T(lion_span), .ctx = &c};
    return gk_multi_run(count, size, &pass);
}

/* ---- LAMB (optax.lamb) ------------------------------------------------------------- */
/* optax chains scale_by_adam(b1, b2, eps, eps_root), add_decayed_weights(wd),
 * scale_by_trust_ratio() and scale_by_learning_rate(lr):
 *   m = (1 - b1) g + b1 m;  v = (1 - b2) g^2 + b2 v
 *   u = (m / bc1) / (sqrt(v / bc2 + eps_root) + eps) + wd p
 *   r = ||p|| / ||u||, or 1 if either norm is 0;  p += -lr (u r)
 * The reduction pass (as LARS's) only reads: it computes each element's new moments and
 * u, and sums p^2 and u^2 in double over fixed chunks; the elementwise pass computes the
 * same moments and u again (the same operations on the same inputs: the same bits),
 * stores the moments and moves p.  So every value written comes from the step's inputs
 * alone, and the staged (16-bit) instantiation rounds each once, when stored, as the
 * float32 step on the widened arrays would: a 16-bit moment is never read back rounded
 * within its step.
 * With a work buffer (`work`, one value of T per element of the list; the staged
 * instantiation's new moments are then rounded once when the reduction pass stores
 * them), u is computed once: the reduction pass stores the new moments and u, and the
 * elementwise pass reads u to move p -- 40 bytes per float32 element instead of 44, and
 * half the divisions and square roots, which bound the step (3 divisions and a root per
 * u).  The same u, so the same bits. */
typedef struct {
    T *const *param;
    const T *const *grad;
    T *const *m, *const *v;
    const int64_t *step;
    const gk_lamb_options *o;
    double *sums;    /* per array: sum p^2, sum u^2 */
    double *ratio;   /* per array trust ratio (may be NULL) */
    const gk_optim_storage *st;
    T *work;                /* NULL, or u of every element: array a's at work + start[a] */
    const gk_index *start;
    int far;                /* GK_OPT_FAR: both passes prefetch (the second starts after
                               the first has gone through every array) */
} GK_T(lamb_ctx);

typedef struct {
    T gs, c1, b1, c2, b2, bc1, bc2, eps, eps_root, wd;
} GK_T(lamb_k);

static GK_T(lamb_k) GK_T(lamb_consts)(const gk_lamb_options *o, int64_t step)
{
    GK_T(lamb_k) k;
    k.gs = GK_T(grad_factor)(o->maximize, o->scale, o->coef);
    k.c1 = (T)(1.0 - o->beta1);
    k.b1 = (T)o->beta1;
    k.c2 = (T)(1.0 - o->beta2);
    k.b2 = (T)o->beta2;
    k.bc1 = (T)(1.0 - pow(o->beta1, (double)step));
    k.bc2 = (T)(1.0 - pow(o->beta2, (double)step));
    k.eps = (T)o->eps;
    k.eps_root = (T)o->eps_root;
    k.wd = (T)o->weight_decay;
    return k;
}

/* an element's new moments (into *m, *v) and its u, from g, the old moments and p */
GK_INLINE T GK_T(lamb_u)(const GK_T(lamb_k) *k, T g, T p, T *m, T *v)
{
    T gi = g * k->gs;
    T mi = k->c1 * gi + k->b1 * *m;
    T vi = k->c2 * (gi * gi) + k->b2 * *v;
    *m = mi;
    *v = vi;
    return (mi / k->bc1) / (SQRT(vi / k->bc2 + k->eps_root) + k->eps) + k->wd * p;
}

/* lamb_u on float32 vectors, elements [0, n) of the arrays by whole vectors (the number
 * done is returned; 0 for float64): the same operations in the same order, with m / bc1
 * and v / bc2 by gk_hdiv_const (a correctly rounded division by a constant without the
 * divider on the AVX2 and AVX-512 tables, gk_half.h), so the same bits.  LAMB's u took
 * three divisions and a root per element, and the divider bound the step.  The new
 * moments are stored when store_m. */
GK_INLINE gk_index GK_T(lamb_u_vec)(const GK_T(lamb_k) *k, const T *g, const T *p, T *m,
                                    T *v, T *u, gk_index n, const int store_m, const int pf)
{
    if (sizeof(T) != sizeof(float))
        return 0;
    const gk_hdivc d1 = gk_hdivc_init((float)k->bc1), d2 = gk_hdivc_init((float)k->bc2);
    const gk_hf z = {0};
    const gk_hf gs = z + (float)k->gs, c1 = z + (float)k->c1, b1 = z + (float)k->b1;
    const gk_hf c2 = z + (float)k->c2, b2 = z + (float)k->b2;
    const gk_hf er = z + (float)k->eps_root, eps = z + (float)k->eps, wd = z + (float)k->wd;
    const float *gf = (const float *)(const void *)g, *pf_ = (const float *)(const void *)p;
    float *mf = (float *)(void *)m, *vf = (float *)(void *)v, *uf = (float *)(void *)u;
    gk_index i = 0;
    for (; i + GK_HLEN <= n; i += GK_HLEN) {
        if (pf && (i * (gk_index)sizeof(float)) % 64 == 0) {   /* GK_OPT_PF_AHEAD bytes on */
            __builtin_prefetch((const char *)(gf + i) + GK_OPT_PF_AHEAD, 0, 3);
            __builtin_prefetch((const char *)(pf_ + i) + GK_OPT_PF_AHEAD, 0, 3);
            __builtin_prefetch((const char *)(mf + i) + GK_OPT_PF_AHEAD, 0, 3);
            __builtin_prefetch((const char *)(vf + i) + GK_OPT_PF_AHEAD, 0, 3);
            __builtin_prefetch((const char *)(uf + i) + GK_OPT_PF_AHEAD, 1, 3);
        }
        gk_hf gv, pv, mv, vv;
        __builtin_memcpy(&gv, gf + i, sizeof gv);
        __builtin_memcpy(&pv, pf_ + i, sizeof pv);
        __builtin_memcpy(&mv, mf + i, sizeof mv);
        __builtin_memcpy(&vv, vf + i, sizeof vv);
        gv = gv * gs;
        mv = c1 * gv + b1 * mv;
        vv = c2 * (gv * gv) + b2 * vv;
        if (store_m) {
            __builtin_memcpy(mf + i, &mv, sizeof mv);
            __builtin_memcpy(vf + i, &vv, sizeof vv);
        }
        const gk_hf uv = gk_hdiv_const(mv, &d1) / (gk_hsqrt(gk_hdiv_const(vv, &d2) + er) + eps)
                         + wd * pv;
        __builtin_memcpy(uf + i, &uv, sizeof uv);
    }
    return i;
}

#if GK_OPT_STAGED
/* ---- LAMB on pure 16-bit storage: the conversions fused into the loop -------------
 * (as adam_vloop.)  The staged blocks widen all four arrays into the stack and round
 * three back, in both passes: the pure bfloat16 step took about as long as the float32
 * one, twice its limit.  This loop converts in registers, two vectors at a time, with
 * lamb_u_vec's operations in its order and the update of lamb_loop: the same bits.
 * update 0 (the reduction pass): u and the widened p into ub and pw, for the lane sums
 * that follow (in the natural order: the sums' order is the float32 step's), and with
 * store_m the new moments stored (ub is then the work buffer); update 1 (the
 * elementwise pass without work): the moments and p stored, bfloat16 in even/odd
 * order.  16M bfloat16 parameters from memory, 2 threads, AMD EPYC (Zen 5) guest: 12.4
 * ms in a whole table (51% of its limit), 8.1 ms after, timed beside its limit (72%;
 * float32 11.8). */
GK_INLINE void GK_T(lamb_vloop)(char *pp, const char *gp, char *mp, char *vp, gk_index b,
                                gk_index e, const GK_T(lamb_k) *k, float tr, float neg_lr,
                                float *GK_RESTRICT ub, float *GK_RESTRICT pw, const int kind,
                                const int update, const int store_m, const int pf)
{
    const gk_hdivc d1 = gk_hdivc_init((float)k->bc1), d2 = gk_hdivc_init((float)k->bc2);
    const gk_hf z = {0};
    const gk_hf gs = z + (float)k->gs, c1 = z + (float)k->c1, b1 = z + (float)k->b1;
    const gk_hf c2 = z + (float)k->c2, b2 = z + (float)k->b2;
    const gk_hf er = z + (float)k->eps_root, eps = z + (float)k->eps, wd = z + (float)k->wd;
    const gk_hf trv = z + tr, nlr = z + neg_lr;
    for (gk_index i = b; i < e; i += 2 * GK_HLEN) {
        if (pf)   /* past the cache: these vectors' lines GK_OPT_PF_AHEAD bytes on */
            for (int q = 0; q < 2 * GK_HLEN * 2; q += 64) {
                __builtin_prefetch(pp + i * 2 + GK_OPT_PF_AHEAD + q, 0, 3);
                __builtin_prefetch(gp + i * 2 + GK_OPT_PF_AHEAD + q, 0, 3);
                __builtin_prefetch(mp + i * 2 + GK_OPT_PF_AHEAD + q, 0, 3);
                __builtin_prefetch(vp + i * 2 + GK_OPT_PF_AHEAD + q, 0, 3);
            }
        gk_hf g[2], p[2], m[2], v[2];
        gk_ld2_arith(kind, gp + i * 2, &g[0], &g[1]);
        gk_ld2_arith(kind, pp + i * 2, &p[0], &p[1]);
        gk_ld2_arith(kind, mp + i * 2, &m[0], &m[1]);
        gk_ld2_arith(kind, vp + i * 2, &v[0], &v[1]);
        for (int h = 0; h < 2; ++h) {
            const gk_hf gv = g[h] * gs;
            m[h] = c1 * gv + b1 * m[h];
            v[h] = c2 * (gv * gv) + b2 * v[h];
            const gk_hf uv = gk_hdiv_const(m[h], &d1) /
                             (gk_hsqrt(gk_hdiv_const(v[h], &d2) + er) + eps) + wd * p[h];
            if (update) {
                p[h] = p[h] + nlr * (uv * trv);
            } else {
                __builtin_memcpy(ub + (i - b) + h * GK_HLEN, &uv, sizeof uv);
                __builtin_memcpy(pw + (i - b) + h * GK_HLEN, &p[h], sizeof p[h]);
            }
        }
        if (update || store_m) {
            gk_st2_arith(kind, mp + i * 2, m[0], m[1]);
            gk_st2_arith(kind, vp + i * 2, v[0], v[1]);
        }
        if (update)
            gk_st2_arith(kind, pp + i * 2, p[0], p[1]);
    }
}

/* the elementwise pass with work: p + neg_lr (u tr) on pure 16-bit p, u float32 */
GK_INLINE void GK_T(lamb_vupdate)(char *pp, const float *GK_RESTRICT u, gk_index b,
                                  gk_index e, float tr, float neg_lr, const int kind,
                                  const int pf)
{
    const gk_hf z = {0}, trv = z + tr, nlr = z + neg_lr;
    for (gk_index i = b; i < e; i += 2 * GK_HLEN) {
        if (pf)
            for (int q = 0; q < 2 * GK_HLEN * 4; q += 64) {
                __builtin_prefetch((const char *)(u + i) + GK_OPT_PF_AHEAD + q, 0, 3);
                if (q < 2 * GK_HLEN * 2)
                    __builtin_prefetch(pp + i * 2 + GK_OPT_PF_AHEAD + q, 0, 3);
            }
        gk_hf p[2], uv[2];
        gk_ld2_arith(kind, pp + i * 2, &p[0], &p[1]);
        __builtin_memcpy(&uv[0], u + i, sizeof uv[0]);
        __builtin_memcpy(&uv[1], u + i + GK_HLEN, sizeof uv[1]);
        for (int h = 0; h < 2; ++h) p[h] = p[h] + nlr * (uv[h] * trv);
        gk_st2_arith(kind, pp + i * 2, p[0], p[1]);
    }
}

/* runs lamb_vloop (or lamb_vupdate) on the whole vector pairs of [b, e) of array a
 * when every array of the list is 16-bit of one dtype (no model copy); ub and pw: where
 * element b's u (the chunk's buffer, or work) and widened p go in the reduction pass.
 * Returns where the staged path takes over. */
static gk_index GK_T(lamb_fused)(const GK_T(lamb_ctx) *c, gk_index a, gk_index b, gk_index e,
                                 const GK_T(lamb_k) *k, float tr, float neg_lr, float *ub,
                                 float *pw, const int update)
{
    const gk_optim_storage *st = c->st;
    const gk_index stop = b + (e - b) / (2 * GK_HLEN) * (2 * GK_HLEN);
    if (stop == b || st->model || st->param == GK_DTYPE_F32 || st->grad != st->param
        || st->state != st->param)
        return b;
    char *pp = (char *)c->param[a], *mp = (char *)c->m[a], *vp = (char *)c->v[a];
    const char *gp = (const char *)c->grad[a];
    const int bf = st->param == GK_DTYPE_BF16, kind = bf ? GK_DTYPE_BF16 : GK_DTYPE_F16;
    if (update && c->work)    /* u from the reduction pass */
        GK_T(lamb_vupdate)(pp, (const float *)(const void *)(c->work + c->start[a]), b,
                           stop, tr, neg_lr, kind, c->far);
    else if (update)          /* u again, the moments stored */
        GK_T(lamb_vloop)(pp, gp, mp, vp, b, stop, k, tr, neg_lr, NULL, NULL,
                         bf ? GK_KIND_BF16_EO : GK_DTYPE_F16, 1, 1, c->far);
    else                      /* u into ub, and with work the moments stored */
        GK_T(lamb_vloop)(pp, gp, mp, vp, b, stop, k, 0.0f, 0.0f, ub, pw, kind, 0,
                         c->work != NULL, c->far);
    return stop;
}
#endif

/* the array tab of a LAMB span: param, grad, both moments */
GK_INLINE void GK_T(lamb_stage)(GK_T(stage) *s, const GK_T(lamb_ctx) *c, unsigned wmask,
                                gk_index a, gk_index b, gk_index e)
{
    const void *const *tab[4] = {(const void *const *)c->param, (const void *const *)c->grad,
                                 (const void *const *)c->m, (const void *const *)c->v};
    GK_T(stage_init)(s, c->st, tab, 4, wmask, a, b, e, c->far);
}

static void GK_T(lamb_chunk)(void *vctx, gk_index a, gk_index b, gk_index n, double *part)
{
    const GK_T(lamb_ctx) *c = (const GK_T(lamb_ctx) *)vctx;
    const GK_T(lamb_k) k = GK_T(lamb_consts)(c->o, c->step[a]);
    T ub[GK_CHUNK];  /* n <= GK_CHUNK: this chunk's updates, for the norm */
    const T *GK_RESTRICT u = ub;
#if GK_OPT_STAGED
    T pw[GK_CHUNK];  /* and its parameters, widened: one lane sum over the chunk, as the
                        float32 step's (blocks summed apart would round otherwise) */
    const T *GK_RESTRICT p = pw;
#else
    const T *GK_RESTRICT p = c->param[a] + b;
    if (c->work) {  /* moments stored, u kept for the update pass */
        T *GK_RESTRICT uw = c->work + c->start[a] + b;
        T *GK_RESTRICT m = c->m[a] + b, *GK_RESTRICT v = c->v[a] + b;
        const T *GK_RESTRICT g = c->grad[a] + b;
        gk_index i = GK_T(lamb_u_vec)(&k, g, p, m, v, uw, n, 1, c->far);
        for (; i < n; ++i) uw[i] = GK_T(lamb_u)(&k, g[i], p[i], m + i, v + i);
        u = uw;
    } else
#endif
    {
        GK_T(stage) s;
        gk_index nb, at = 0;
        /* staged with work: the new moments written back (rounded once) and u kept in
         * work, as the float32 step's work does */
        T *GK_RESTRICT uw = c->work ? c->work + c->start[a] + b : NULL;
#if GK_OPT_STAGED  /* pure 16-bit: the whole vector pairs converted in registers */
        at = GK_T(lamb_fused)(c, a, b, b + n, &k, 0.0f, 0.0f, uw ? uw : ub, pw, 0) - b;
#endif
        GK_T(lamb_stage)(&s, c, uw ? 12u : 0u, a, b + at, b + n);
        while (GK_T(stage_next)(&s, &nb)) {
            const T *GK_RESTRICT sp = s.ptr[0], *GK_RESTRICT sg = s.ptr[1];
            T *GK_RESTRICT sm = s.ptr[2], *GK_RESTRICT sv = s.ptr[3];
            if (uw) {
                gk_index i = GK_T(lamb_u_vec)(&k, sg, sp, sm, sv, uw + at, nb, 1, 0);
                for (; i < nb; ++i)
                    uw[at + i] = GK_T(lamb_u)(&k, sg[i], sp[i], sm + i, sv + i);
            } else {
                gk_index i = GK_T(lamb_u_vec)(&k, sg, sp, sm, sv, ub + at, nb, 0, 0);
                for (; i < nb; ++i) {
                    T mi = sm[i], vi = sv[i];
                    ub[at + i] = GK_T(lamb_u)(&k, sg[i], sp[i], &mi, &vi);
                }
            }
#if GK_OPT_STAGED
            __builtin_memcpy(pw + at, sp, (size_t)nb * sizeof(T));
#endif
            at += nb;
        }
        if (uw) u = uw;
    }
#define GK_P2_V(o) (GK_T(ldv)(p + (o)) * GK_T(ldv)(p + (o)))
#define GK_P2_S(o) ((double)p[o] * (double)p[o])
#define GK_U2_V(o) (GK_T(ldv)(u + (o)) * GK_T(ldv)(u + (o)))
#define GK_U2_S(o) ((double)u[o] * (double)u[o])
    GK_LANE_SUM2(n, part[0], GK_P2_V, GK_P2_S, part[1], GK_U2_V, GK_U2_S);
#undef GK_P2_V
#undef GK_P2_S
#undef GK_U2_V
#undef GK_U2_S
}

GK_INLINE void GK_T(lamb_loop)(T *GK_RESTRICT p, const T *GK_RESTRICT g, T *GK_RESTRICT m,
                               T *GK_RESTRICT v, gk_index n, const GK_T(lamb_k) *k, T tr,
                               T neg_lr)
{
    gk_index i = 0;
    if (sizeof(T) == sizeof(float)) {   /* u by vectors into a block, then the update */
        enum { B = 256 };
        T ub[B];
        while (i + GK_HLEN <= n) {
            const gk_index len = n - i < B ? n - i : B;
            const gk_index done = GK_T(lamb_u_vec)(k, g + i, p + i, m + i, v + i, ub, len, 1,
                                                   0);
            for (gk_index j = 0; j < done; ++j)
                p[i + j] = p[i + j] + neg_lr * (ub[j] * tr);
            i += done;
        }
    }
    for (; i < n; ++i) {
        T pi = p[i];
        p[i] = pi + neg_lr * (GK_T(lamb_u)(k, g[i], pi, m + i, v + i) * tr);
    }
}

static int GK_T(lamb_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(lamb_ctx) *c = (const GK_T(lamb_ctx) *)vctx;
    const GK_T(lamb_k) k = GK_T(lamb_consts)(c->o, c->step[a]);
    double pn = sqrt(c->sums[2 * a]), un = sqrt(c->sums[2 * a + 1]);
    double r = (pn == 0.0 || un == 0.0) ? 1.0 : pn / un;
    if (c->ratio && b == 0) c->ratio[a] = r;  /* the span holding element 0 reports it */
    const T tr = (T)r, neg_lr = (T)(-c->o->lr);
    GK_T(stage) s;
    gk_index n;
    if (c->work) {  /* u from the reduction pass: the parameter alone moves (through the
                     * stage: in place blocks, or widened and rounded back with its
                     * 16-bit model copy), u prefetched as the stage prefetches p */
        const T *GK_RESTRICT u = c->work + c->start[a];
        const void *const *tab[1] = {(const void *const *)c->param};
#if GK_OPT_STAGED
        b = GK_T(lamb_fused)(c, a, b, e, &k, (float)tr, (float)neg_lr, NULL, NULL, 1);
#endif
        GK_T(stage_init)(&s, c->st, tab, 1, 1u, a, b, e, c->far);
        for (gk_index i0 = b; GK_T(stage_next)(&s, &n); i0 += n) {
            if (c->far)
                gk_prefetch_bytes((const char *)u, (size_t)i0 * sizeof(T) + GK_OPT_PF_AHEAD,
                                  (size_t)(i0 + n) * sizeof(T) + GK_OPT_PF_AHEAD);
            T *GK_RESTRICT p = s.ptr[0];
            for (gk_index i = 0; i < n; ++i) p[i] = p[i] + neg_lr * (u[i0 + i] * tr);
        }
        return 0;
    }
#if GK_OPT_STAGED
    b = GK_T(lamb_fused)(c, a, b, e, &k, (float)tr, (float)neg_lr, NULL, NULL, 1);
#endif
    GK_T(lamb_stage)(&s, c, 13u, a, b, e);
    while (GK_T(stage_next)(&s, &n))
        GK_T(lamb_loop)(s.ptr[0], s.ptr[1], s.ptr[2], s.ptr[3], n, &k, tr, neg_lr);
    return 0;
}

static int GK_T(lamb_run)(gk_index count, T *const *param, const T *const *grad,
                          T *const *m, T *const *v, const gk_index *size,
                          const int64_t *step, const gk_lamb_options *o, double *ratio,
                          T *work, const gk_optim_storage *st)
{
    /* per array: its two sums, and where its u starts in work */
    double stack_sums[3 * GK_MULTI_STACK + 1];
    double *sums = count <= GK_MULTI_STACK
                       ? stack_sums : (double *)malloc(sizeof(double) * (3 * (size_t)count + 1));
    if (!sums) return GK_ENOMEM;
    gk_index *start = (gk_index *)(void *)(sums + 2 * count);
    start[0] = 0;
    for (gk_index a = 0; a < count; ++a) start[a + 1] = start[a] + size[a];
    GK_T(lamb_ctx) c = {param, grad, m, v, step, o, sums, ratio, st, work, start,
                        GK_OPT_FAR(count, size, 4)};
    gk_multi_pass pass = {.nacc = 2, .chunk = GK_T(lamb_chunk), .sums = sums,
                          .span = GK_T(lamb_span), .ctx = &c};
    int err = gk_multi_run(count, size, &pass);
    if (err == GK_OK && ratio)  /* arrays with no elements have no span */
        for (gk_index a = 0; a < count; ++a)
            if (size[a] == 0) ratio[a] = 1.0;
    if (sums != stack_sums) free(sums);
    return err;
}

#if GK_OPT_STAGED
/* work: NULL, or one float32 per element of the list (u, between the passes) */
static int GK_T(lamb_multi)(gk_index count, T *const *param, const T *const *grad,
                            T *const *m, T *const *v, const gk_index *size,
                            const int64_t *step, const gk_lamb_options *o, double *ratio
                            GK_OPT_ST_PARAM, T *work)
{
    return GK_T(lamb_run)(count, param, grad, m, v, size, step, o, ratio, work, st);
}
#else
/* work: NULL, or one T per element of the list (u, between the passes) */
static int GK_T(lamb_multi)(gk_index count, T *const *param, const T *const *grad,
                            T *const *m, T *const *v, const gk_index *size,
                            const int64_t *step, const gk_lamb_options *o, double *ratio,
                            T *work)
{
    return GK_T(lamb_run)(count, param, grad, m, v, size, step, o, ratio, work, NULL);
}
#endif
