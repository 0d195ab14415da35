/* Regularization kernels for element type T.  Included by regularization.c once per
 * dtype, float16 and bfloat16 included: grad and param are TS, read and written through
 * reduce_tmpl.h's loads and stores (16-bit values widened exactly, the float32 result
 * rounded once), in vectors of GK_TVLEN elements and then one by one, with the same
 * arithmetic either way.  The penalties are multi_norm.h's per-array sums. */

typedef struct {
    TS *const *grad;
    const TS *const *x;
    T lam;
} GK_T(reg_ctx);

/* g += lam w; every load is an operand of the arithmetic and the store its result (the
 * _arith forms) */
static int GK_T(l2_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(reg_ctx) *c = (const GK_T(reg_ctx) *)vctx;
    TS *GK_RESTRICT g = c->grad[a] + b;
    const TS *GK_RESTRICT w = c->x[a] + b;
    const T lam = c->lam;
    const gk_index n = e - b, m = n / GK_TVLEN;
    /* backwards when g lies just past w modulo 4 KiB (gk_alias_ahead: malloc's
     * back-to-back arrays; 8 MiB arrays 16 bytes apart took 1.9x the time of arrays a
     * page apart forwards, Intel Xeon); the same values either way */
    const int back = gk_alias_ahead(g, w);
    for (gk_index q = 0; q < m; ++q) {
        const gk_index o = (back ? m - 1 - q : q) * GK_TVLEN;
        GK_T(sttv_arith)(g + o, GK_T(ldtv_arith)(g + o) + lam * GK_T(ldtv_arith)(w + o));
    }
    gk_index i = m * GK_TVLEN;
    for (; i < n; ++i)
        GK_T(st1)(g + i, GK_T(ld1)(g + i) + lam * GK_T(ld1)(w + i));
    return 0;
}

/* g += lam sign(w), sign(NaN) = NaN (w itself: the NaN flows into the sum) */
static int GK_T(l1_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(reg_ctx) *c = (const GK_T(reg_ctx) *)vctx;
    TS *GK_RESTRICT g = c->grad[a] + b;
    const TS *GK_RESTRICT w = c->x[a] + b;
    const T lam = c->lam;
    const gk_index n = e - b;
    const GK_T(tvec) one = (GK_T(tvec)){0} + (T)1, zero = {0};
    const gk_index m = n / GK_TVLEN;
    const int back = gk_alias_ahead(g, w);   /* as l2_span */
    for (gk_index q = 0; q < m; ++q) {
        const gk_index i = (back ? m - 1 - q : q) * GK_TVLEN;
        GK_T(tvec) wi = GK_T(ldtv_arith)(w + i);
        GK_T(tvec) s = GK_T(tsel)(wi > zero, one,
                                  GK_T(tsel)(wi < zero, -one,
                                             GK_T(tsel)(wi == wi, zero, wi)));
        GK_T(sttv_arith)(g + i, GK_T(ldtv_arith)(g + i) + lam * s);
    }
    for (gk_index i = m * GK_TVLEN; i < n; ++i) {
        T wi = GK_T(ld1)(w + i);
        T s = wi > 0 ? (T)1 : (wi < 0 ? (T)-1 : (wi == wi ? (T)0 : wi));
        GK_T(st1)(g + i, GK_T(ld1)(g + i) + lam * s);
    }
    return 0;
}

static int GK_T(add_grad)(gk_index count, TS *const *grad, const TS *const *param,
                          const gk_index *size, double lam, gk_span_fn span)
{
    GK_T(reg_ctx) c = {grad, param, (T)lam};
    gk_multi_pass pass = {.span = span, .ctx = &c};
    return gk_multi_run(count, size, &pass);
}

static int GK_T(add_l2)(gk_index count, TS *const *grad, const TS *const *param,
                        const gk_index *size, double lam)
{
    return GK_T(add_grad)(count, grad, param, size, lam, GK_T(l2_span));
}

static int GK_T(add_l1)(gk_index count, TS *const *grad, const TS *const *param,
                        const gk_index *size, double lam)
{
    return GK_T(add_grad)(count, grad, param, size, lam, GK_T(l1_span));
}
