/* Optimizer update kernels for element type T.  Included by optim.c once per dtype
 * (gk_each_dtype.h: T, SFX and SQRT, sqrtf or sqrt).
 *
 * Each optimizer has a loop over one span of one array, written once with its options
 * as constant arguments and instantiated for each combination by a switch, so every
 * instance is a branch-free loop the compiler vectorizes; and a span function (the
 * callback of gk_multi_run) that computes the array's scalars in double, rounds them to
 * T once, and picks the instance.  The order of operations is torch's (see optim.h):
 *   add(x, y, alpha)        x + alpha*y
 *   addcmul(x, y, z, value) x + (value*y)*z
 *   addcdiv(x, y, z, value) x + (value*y)/z
 *   lerp(x, y, w)           |w| < 0.5 ? x + w*(y - x) : y - (y - x)*(1 - w)
 * Multiplying the gradient by +-1 (maximize) and the parameter by 1 (no decoupled decay)
 * is exact, so those need no separate instances.  The clipping coefficient of a fused
 * clip (options' scale/coef, optim.h) rides on the same factor: g * (+-c) is (g * c) * +-1
 * bitwise (rounding is symmetric), which is what clip_grad_norm_ followed by the step
 * computes, so the fused step equals the two calls bit for bit. */

/* ---- the arrays of a span, block by block ------------------------------------------
 * A span function names the arrays it updates (roles: 0 the parameter, 1 the gradient,
 * 2.. the states) and runs its loop on what GK_T(stage_next) hands out.  In the float32
 * and float64 instantiations that is the span itself, once, in place.  In the staged
 * instantiation (optim_half.c, T float32, GK_OPT_STAGED) each role has its own storage
 * (gk_optim_storage: float32 used in place, float16 or bfloat16 widened exactly into a
 * block of GK_OPT_BLOCK floats on the stack); after the loop ran on a block, the
 * written roles are rounded once back to their storage, and with master weights the
 * parameter (the float32 master) is rounded into the 16-bit model copy.  So one loop,
 * the float32 one, serves every storage, and a value is rounded once, when stored. */
#ifndef GK_OPT_ROLES
#define GK_OPT_ROLES 5
#define GK_OPT_BLOCK 512
#define GK_OPT_LAG_BLOCK 128   /* elements per block of the float32/float64 lagged staging
                                  (64 and 256 to 512 cost more, Intel Xeon) */
/* Software prefetch past the cache: when a step's arrays together reach the streaming
 * size (gk_multi_far over the roles: GK_OPT_FAR), every array of a span is prefetched
 * GK_OPT_PF_AHEAD bytes ahead of the block the loop gets next, the in-place loop
 * getting blocks of GK_OPT_PF_BLOCK bytes.  With 4 to 7 streams and a division or a
 * root per element, the loop alone kept too few lines in flight: Adam on 16M float32
 * parameters from memory 8.75 -> 7.28 ms (its probe, which prefetches 2 KiB ahead,
 * 8.5 ms), RMSprop 6.75 -> 5.65, Lion 7.41 -> 5.81, SGD with momentum 5.58 -> 5.19 (2
 * threads, Intel Xeon guest); a 64K-element Adam, in L2, took 1.15x as long with it.
 * Blocks of 1 and 2 KiB, and 2 or 8 KiB ahead, were no better.  Adafactor's second
 * pass walks backwards to reuse what it just read, and LARS's norm pass prefetches on
 * its own: their stages pass far = 0 there.  Speed only: no bit depends on it. */
#define GK_OPT_PF_AHEAD ((size_t)4096)
#define GK_OPT_PF_BLOCK ((size_t)512)
/* a step over these lists past the cache, nrole arrays of T per element (staged: T is
 * float32 whatever the storage, an estimate) */
#define GK_OPT_FAR(count, size, nrole) \
    gk_multi_far(count, size, NULL, sizeof(T) == sizeof(float) ? GK_DTYPE_F32 : GK_DTYPE_F64, \
                 nrole)
#if GK_OPT_STAGED  /* the staged *_multi functions take the storage */
#define GK_OPT_ST_PARAM , const gk_optim_storage *st
#define GK_OPT_ST_ARG st
#define GK_OPT_ST_PASS , st
#else
#define GK_OPT_ST_PARAM
#define GK_OPT_ST_ARG NULL
#define GK_OPT_ST_PASS
#endif
#endif

typedef struct {
    int nrole, left;
    int pf;                         /* prefetch ahead (a step past the cache, GK_OPT_FAR) */
    gk_index pos, end;              /* next element of the array, end of the span */
    T *ptr[GK_OPT_ROLES];           /* what the loop works on (in place: at pos) */
#if GK_OPT_STAGED
    gk_index nb;                    /* elements in the current block */
    unsigned wmask;                 /* roles written back */
    int kind[GK_OPT_ROLES];         /* storage of each role (GK_DTYPE_*) */
    char *base[GK_OPT_ROLES];       /* array of each role at element 0 */
    uint16_t *model;                /* master weights: the 16-bit copy, else NULL */
    int model_bf16;
    float buf[GK_OPT_ROLES][GK_OPT_BLOCK] __attribute__((aligned(64)));
#else
    /* lagged staging (stage_lagged): each block is copied into lbuf, the loop runs there,
     * and the block is written back after the next one was copied in */
    int lag, cur;                   /* staging on; lbuf[cur]: the block last handed out */
    gk_index nb;                    /* its length (0: none) */
    unsigned wmask;
    T *base[GK_OPT_ROLES];          /* array of each role at element 0 */
    T lbuf[2][GK_OPT_ROLES][GK_OPT_LAG_BLOCK] __attribute__((aligned(64)));
#endif
} GK_T(stage);

#if !GK_OPT_STAGED
/* n <= GK_OPT_LAG_BLOCK elements from s to d: a whole block by a loop of fixed length
 * (vector moves inline; a call of memcpy per role and block cost more than the loop) */
GK_INLINE void GK_T(stage_copy)(T *GK_RESTRICT d, const T *GK_RESTRICT s, gk_index n)
{
    if (n == GK_OPT_LAG_BLOCK)
        for (gk_index i = 0; i < GK_OPT_LAG_BLOCK; ++i) d[i] = s[i];
    else
        for (gk_index i = 0; i < n; ++i) d[i] = s[i];
}

/* Whether a span runs staged: when an array the loop writes lies 1-255 bytes past one
 * it only reads (the gradient) modulo 4 KiB (gk_alias_near), which is where malloc puts
 * arrays allocated one after another (16 bytes of header apart).  In place, every load
 * of the read array's next vector then waits on the store just made to the one ahead.
 * Measured on the Intel Xeon guest (AdamW, 1M elements, in cache; offsets of param,
 * grad, exp_avg, exp_avg_sq modulo 1 MiB, in place / staged, ms; apart: 0.375 / 0.419):
 * param 16 past grad 0.957 / 0.437, exp_avg 16 past grad 0.571 / 0.434, all four 16
 * apart 0.591 / 0.439; but exp_avg_sq 16 or 64 past exp_avg 0.412-0.420 / 0.416-0.442,
 * exp_avg 64 past param 0.378 / 0.428: a written array just past another written one
 * costs little in place, and staging costs something itself (the copies), so those
 * stay in place (a torch model's AdamW had such pairs: 3.1-3.2 ms a step in place,
 * 3.8 staged).  Staged, each role's block is copied into an L1 buffer, and the stores
 * of a block (its copy back) come after the loads of the next block, a block away. */
GK_INLINE int GK_T(stage_lagged)(const GK_T(stage) *s)
{
    for (int r = 0; r < s->nrole; ++r) {
        if (!s->base[r] || !(s->wmask >> r & 1u)) continue;
        for (int q = 0; q < s->nrole; ++q)
            if (s->base[q] && !(s->wmask >> q & 1u) && gk_alias_near(s->base[r], s->base[q]))
                return 1;
    }
    return 0;
}
#endif

/* elements [b, e) of array a of the role lists tab[0..nrole) (NULL: the role is unused);
 * wmask: the roles the loop writes; far: prefetch ahead (GK_OPT_FAR) */
GK_INLINE void GK_T(stage_init)(GK_T(stage) *s, const gk_optim_storage *st,
                                const void *const *const *tab, int nrole, unsigned wmask,
                                gk_index a, gk_index b, gk_index e, int far)
{
    s->nrole = nrole;
    s->left = e > b;
    s->pos = b;
    s->end = e;
    s->pf = far;
#if GK_OPT_STAGED
    s->nb = 0;
    s->wmask = wmask;
    s->model = (wmask & 1u) && st->model ? (uint16_t *)st->model[a] : NULL;
    s->model_bf16 = st->model_dtype == GK_DTYPE_BF16;
    for (int r = 0; r < nrole; ++r) {
        s->kind[r] = r == 0 ? st->param : r == 1 ? st->grad : st->state;
        s->base[r] = tab[r] ? (char *)(uintptr_t)tab[r][a] : NULL;
    }
#else
    (void)st;
    s->wmask = wmask;
    s->nb = 0;
    s->cur = 0;
    for (int r = 0; r < nrole; ++r) {
        s->base[r] = tab[r] ? (T *)(uintptr_t)tab[r][a] : NULL;
        s->ptr[r] = s->base[r] ? s->base[r] + b : NULL;
    }
    s->lag = e - b >= 2 * GK_OPT_LAG_BLOCK && GK_T(stage_lagged)(s);
#endif
}

#if GK_OPT_STAGED
/* the block [pos - nb, pos) back to its storage: written roles rounded, the model copy */
GK_INLINE void GK_T(stage_flush)(GK_T(stage) *s)
{
    gk_index o = s->pos - s->nb;
    for (int r = 0; r < s->nrole; ++r)
        if (s->base[r] && (s->wmask >> r & 1u) && s->kind[r] != GK_DTYPE_F32)
            gk_f32_to_half_n(s->kind[r] == GK_DTYPE_BF16, s->buf[r],
                             (uint16_t *)(void *)s->base[r] + o, s->nb);
    if (s->model)
        gk_f32_to_half_n(s->model_bf16, s->ptr[0], s->model + o, s->nb);
}
#endif

/* the next block to run the loop on: 1 and its length in *n, or 0 when the span is done
 * (the last block written back) */
GK_INLINE int GK_T(stage_next)(GK_T(stage) *s, gk_index *n)
{
#if GK_OPT_STAGED
    if (s->nb) GK_T(stage_flush)(s);
    if (s->pos >= s->end) return 0;
    gk_index o = s->pos, nb = s->end - o < GK_OPT_BLOCK ? s->end - o : GK_OPT_BLOCK;
    for (int r = 0; r < s->nrole; ++r) {
        if (s->pf && s->base[r]) {   /* the block GK_OPT_PF_AHEAD bytes on */
            const size_t es = s->kind[r] == GK_DTYPE_F32 ? 4u : 2u;
            const size_t from = (size_t)o * es + GK_OPT_PF_AHEAD;
            const size_t to = (size_t)s->end * es < from + (size_t)nb * es
                              ? (size_t)s->end * es : from + (size_t)nb * es;
            gk_prefetch_bytes(s->base[r], from, to);
        }
        if (!s->base[r]) {
            s->ptr[r] = NULL;
        } else if (s->kind[r] == GK_DTYPE_F32) {
            s->ptr[r] = (float *)(void *)s->base[r] + o;
        } else {
            gk_half_to_f32_n(s->kind[r] == GK_DTYPE_BF16,
                             (const uint16_t *)(const void *)s->base[r] + o, s->buf[r], nb);
            s->ptr[r] = s->buf[r];
        }
    }
    s->nb = nb;
    s->pos = o + nb;
    *n = nb;
    return 1;
#else
    if (!s->lag && !s->pf) {
        if (!s->left) return 0;
        s->left = 0;
        *n = s->end - s->pos;
        return 1;
    }
    const gk_index o = s->pos;
    const gk_index blk = s->lag ? GK_OPT_LAG_BLOCK : (gk_index)(GK_OPT_PF_BLOCK / sizeof(T));
    const gk_index nb = s->end - o < blk ? s->end - o : blk;
    if (s->pf && nb > 0) {   /* the block GK_OPT_PF_AHEAD bytes on */
        const size_t from = (size_t)o * sizeof(T) + GK_OPT_PF_AHEAD;
        const size_t to = (size_t)s->end * sizeof(T) < from + (size_t)nb * sizeof(T)
                          ? (size_t)s->end * sizeof(T) : from + (size_t)nb * sizeof(T);
        for (int r = 0; r < s->nrole; ++r)
            if (s->base[r])
                gk_prefetch_bytes((const char *)s->base[r], from, to);
    }
    if (!s->lag) {   /* in place, block by block */
        if (nb == 0) return 0;
        for (int r = 0; r < s->nrole; ++r)
            if (s->base[r])
                s->ptr[r] = s->base[r] + o;
        s->pos = o + nb;
        *n = nb;
        return 1;
    }
    /* lagged: the next block in first, then the last one back */
    const int nxt = s->cur ^ 1;
    for (int r = 0; r < s->nrole && nb > 0; ++r)
        if (s->base[r]) {   /* an unused role's ptr stays NULL (stage_init) */
            s->ptr[r] = s->lbuf[nxt][r];
            GK_T(stage_copy)(s->lbuf[nxt][r], s->base[r] + o, nb);
        }
    if (s->nb)
        for (int r = 0; r < s->nrole; ++r)
            if (s->base[r] && (s->wmask >> r & 1u))
                GK_T(stage_copy)(s->base[r] + o - s->nb, s->lbuf[s->cur][r], s->nb);
    s->nb = nb;
    if (nb == 0) return 0;
    s->cur = nxt;
    s->pos = o + nb;
    *n = nb;
    return 1;
#endif
}

/* the factor every gradient element is multiplied by first: +-1, or +-coef rounded to T
 * when the options ask for scaling (clip_grad_norm_'s coefficient, applied on the fly) */
GK_INLINE T GK_T(grad_factor)(int maximize, int scale, double coef)
{
    T c = scale ? (T)coef : (T)1;
    return maximize ? -c : c;
}

/* ---- SGD --------------------------------------------------------------------------- */
typedef struct {
    T *const *param;
    const T *const *grad;
    T *const *buf;
    const unsigned char *fresh;
    const gk_sgd_options *o;
    const gk_optim_storage *st;
    int far;    /* GK_OPT_FAR */
} GK_T(sgd_ctx);

/* mode: 0 no momentum, 1 fresh buffer (buf = g), 2 buf = momentum*buf + (1-dampening)*g */
GK_INLINE void GK_T(sgd_loop)(T *GK_RESTRICT p, const T *GK_RESTRICT g, T *GK_RESTRICT buf,
                              gk_index n, T gs, T wd, T mom, T damp1, T neg_lr,
                              const int coupled, const int mode, const int nesterov)
{
    for (gk_index i = 0; i < n; ++i) {
        T gi = g[i] * gs;
        T pi = p[i];
        if (coupled) gi = gi + wd * pi;
        T d = gi;
        if (mode) {
            T b = mode == 1 ? gi : buf[i] * mom + damp1 * gi;
            buf[i] = b;
            d = nesterov ? gi + mom * b : b;
        }
        p[i] = pi + neg_lr * d;
    }
}

static int GK_T(sgd_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(sgd_ctx) *c = (const GK_T(sgd_ctx) *)vctx;
    const gk_sgd_options *o = c->o;
    T gs = GK_T(grad_factor)(o->maximize, o->scale, o->coef);
    T wd = (T)o->weight_decay, mom = (T)o->momentum;
    T damp1 = (T)(1.0 - o->dampening), neg_lr = (T)(-o->lr);
    int coupled = o->weight_decay != 0.0;
    int mode = o->momentum == 0.0 ? 0 : (c->fresh && c->fresh[a] ? 1 : 2);
    int nest = mode && o->nesterov;
    const void *const *tab[3] = {(const void *const *)c->param, (const void *const *)c->grad,
                                 o->momentum != 0.0 ? (const void *const *)c->buf : NULL};
    GK_T(stage) s;
    gk_index n;
    GK_T(stage_init)(&s, c->st, tab, 3, 5u, a, b, e, c->far);
    while (GK_T(stage_next)(&s, &n)) {
#define GK_SGD(C, M, N) GK_T(sgd_loop)(s.ptr[0], s.ptr[1], s.ptr[2], n, gs, wd, mom, damp1, \
                                       neg_lr, C, M, N)
    switch (coupled * 6 + mode * 2 + nest) {
    case 0: GK_SGD(0, 0, 0); break;
    case 2: GK_SGD(0, 1, 0); break;
    case 3: GK_SGD(0, 1, 1); break;
    case 4: GK_SGD(0, 2, 0); break;
    case 5: GK_SGD(0, 2, 1); break;
    case 6: GK_SGD(1, 0, 0); break;
    case 8: GK_SGD(1, 1, 0); break;
    case 9: GK_SGD(1, 1, 1); break;
    case 10: GK_SGD(1, 2, 0); break;
    default: GK_SGD(1, 2, 1); break;
    }
    }
#undef GK_SGD
    return 0;
}

static int GK_T(sgd_multi)(gk_index count, T *const *param, const T *const *grad,
                           T *const *buf, const unsigned char *fresh, const gk_index *size,
                           const gk_sgd_options *o GK_OPT_ST_PARAM)
{
    GK_T(sgd_ctx) c = {param, grad, buf, fresh, o, GK_OPT_ST_ARG, GK_OPT_FAR(count, size, 3)};
    gk_multi_pass pass = {.span = GK_T(sgd_span), .ctx = &c};
    return gk_multi_run(count, size, &pass);
}

/* ---- Adam, AdamW, AMSGrad ---------------------------------------------------------- */
typedef struct {
    T *const *param;
    const T *const *grad;
    T *const *m, *const *v, *const *vmax;
    const int64_t *step;
    const gk_adam_options *o;
    const gk_optim_storage *st;
    int far;    /* GK_OPT_FAR */
} GK_T(adam_ctx);

typedef struct {
    T gs, decay, wd, lw, lomw, b2, c2, bc2s, neg_step, eps;
    int small;
} GK_T(adam_k);

/* Adam's arithmetic for one element or one vector of them (gk_hf), written once for
 * adam_loop and the fused adam_vloop, with adam_k's constants in scope under their names
 * (vectors there): gi, pi in, the scaled gradient and the decayed parameter out; mi, vi
 * the moments, updated; then the parameter from the root of the second moment */
#define GK_ADAM_MOMENTS(gi, pi, mi, vi)                                                  \
    do {                                                                                 \
        gi = gi * gs;                                                                    \
        pi = pi * decay;                                                                 \
        if (coupled) gi = gi + wd * pi;                                                  \
        const __typeof__(gi) dm_ = gi - mi;                                              \
        mi = small ? mi + lw * dm_ : gi - dm_ * lomw;                                    \
        vi = vi * b2 + (c2 * gi) * gi;                                                   \
    } while (0)
#define GK_ADAM_PARAM(pi, mi, root) ((pi) + (nss * (mi)) / ((root) / bc2s + eps))

GK_INLINE void GK_T(adam_loop)(T *GK_RESTRICT p, const T *GK_RESTRICT g, T *GK_RESTRICT m,
                               T *GK_RESTRICT v, T *GK_RESTRICT vmax, gk_index n,
                               const GK_T(adam_k) *k, const int coupled, const int ams)
{
    const T gs = k->gs, decay = k->decay, wd = k->wd, lw = k->lw, lomw = k->lomw;
    const T b2 = k->b2, c2 = k->c2, bc2s = k->bc2s, nss = k->neg_step, eps = k->eps;
    const int small = k->small;
    for (gk_index i = 0; i < n; ++i) {
        T gi = g[i], pi = p[i], mi = m[i], vi = v[i];
        GK_ADAM_MOMENTS(gi, pi, mi, vi);
        m[i] = mi;
        v[i] = vi;
        T root;
        if (ams) {
            T x = vmax[i];
            x = (x > vi || x != x) ? x : vi;  /* torch.maximum: NaN wins */
            vmax[i] = x;
            root = SQRT(x);
        } else {
            root = SQRT(vi);
        }
        p[i] = GK_ADAM_PARAM(pi, mi, root);
    }
}

/* ---- Adam on the storages themselves: the conversions fused into the loop -----------
 * The staged blocks widen every array into the stack and round it back: three passes
 * over L1 per block, ~1.5x the instructions of the step.  For the storages a
 * mixed-precision run uses (pure 16-bit; float32 master weights with a 16-bit model
 * copy; float32 with 16-bit states) this loop converts in registers, two vectors at a
 * time, with adam_loop's operations in its order (no FMA contraction: the same bits). The
 * kinds are constants of each instance.  The float32 step runs it too (every kind
 * float32), for root / bc2s without the divider (gk_hdiv_const); float64 never calls
 * it (its float32 casts below are then never run). */
GK_INLINE void GK_T(adam_vloop)(char *pp, const char *gp, char *mp, char *vp, uint16_t *mo,
                                gk_index b, gk_index e, const GK_T(adam_k) *k,
                                const int coupled, const int kp0, const int kg0,
                                const int ks0, const int km, const int pf)
{
    /* pure bfloat16: every array is read and written in even/odd order, which costs
     * fewer conversions than the natural one (gk_ld_bf16v2_eo) */
    const int eo = kp0 == GK_DTYPE_BF16 && kg0 == GK_DTYPE_BF16 && ks0 == GK_DTYPE_BF16
                   && km < 0;
    const int kp = eo ? GK_KIND_BF16_EO : kp0, kg = eo ? GK_KIND_BF16_EO : kg0;
    const int ks = eo ? GK_KIND_BF16_EO : ks0;
    const gk_hf z = {0};
    const gk_hf gs = z + (float)k->gs, decay = z + (float)k->decay, wd = z + (float)k->wd;
    const gk_hf lw = z + (float)k->lw, lomw = z + (float)k->lomw, b2 = z + (float)k->b2;
    const gk_hf c2 = z + (float)k->c2, nss = z + (float)k->neg_step, eps = z + (float)k->eps;
    const gk_hdivc dc = gk_hdivc_init((float)k->bc2s);   /* root / bc2s without the divider */
    const int small = k->small;
    const int bp = GK_KIND_BYTES(kp), bg = GK_KIND_BYTES(kg), bs = GK_KIND_BYTES(ks);
    for (gk_index i = b; i < e; i += 2 * GK_HLEN) {
        if (pf) {   /* past the cache: these vectors' lines GK_OPT_PF_AHEAD bytes on (the
                       staged blocks' prefetch, GK_OPT_FAR) */
            for (int q = 0; q < 2 * GK_HLEN * bp; q += 64)
                __builtin_prefetch(pp + i * bp + GK_OPT_PF_AHEAD + q, 0, 3);
            for (int q = 0; q < 2 * GK_HLEN * bg; q += 64)
                __builtin_prefetch(gp + i * bg + GK_OPT_PF_AHEAD + q, 0, 3);
            for (int q = 0; q < 2 * GK_HLEN * bs; q += 64) {
                __builtin_prefetch(mp + i * bs + GK_OPT_PF_AHEAD + q, 0, 3);
                __builtin_prefetch(vp + i * bs + GK_OPT_PF_AHEAD + q, 0, 3);
            }
            if (km >= 0)   /* the model copy, only written */
                __builtin_prefetch((char *)(mo + i) + GK_OPT_PF_AHEAD, 1, 3);
        }
        gk_hf g[2], p[2], m[2], v[2];
        gk_ld2_arith(kg, gp + i * bg, &g[0], &g[1]);
        gk_ld2_arith(kp, pp + i * bp, &p[0], &p[1]);
        gk_ld2_arith(ks, mp + i * bs, &m[0], &m[1]);
        gk_ld2_arith(ks, vp + i * bs, &v[0], &v[1]);
        for (int h = 0; h < 2; ++h) {
            GK_ADAM_MOMENTS(g[h], p[h], m[h], v[h]);
            p[h] = p[h] + (nss * m[h]) / (gk_hdiv_const(gk_hsqrt(v[h]), &dc) + eps);
        }
        gk_st2_arith(ks, mp + i * bs, m[0], m[1]);
        gk_st2_arith(ks, vp + i * bs, v[0], v[1]);
        gk_st2_arith(kp, pp + i * bp, p[0], p[1]);
        if (km >= 0) gk_st2_arith(km, mo + i, p[0], p[1]);
    }
}

#if GK_OPT_STAGED
/* runs the fused loop on the whole vector pairs of [b, e) when the storages are one of
 * the instantiated combinations; returns where the staged path takes over */
static gk_index GK_T(adam_fused)(const gk_optim_storage *st, const void *const *const *tab,
                                 gk_index a, gk_index b, gk_index e, const GK_T(adam_k) *k,
                                 int coupled, int pf)
{
    const gk_index stop = b + (e - b) / (2 * GK_HLEN) * (2 * GK_HLEN);
    if (stop == b) return b;
    char *pp = (char *)(uintptr_t)tab[0][a];
    const char *gp = (const char *)tab[1][a];
    char *mp = (char *)(uintptr_t)tab[2][a], *vp = (char *)(uintptr_t)tab[3][a];
    uint16_t *mo = st->model ? (uint16_t *)st->model[a] : NULL;
    const int km = mo ? st->model_dtype : -1;
    const int key = ((st->param * 4 + st->grad) * 4 + st->state) * 8 + km + 1;
#define GK_ADAM_KEY(kp, kg, ks, km) ((((kp) * 4 + (kg)) * 4 + (ks)) * 8 + (km) + 1)
#define GK_ADAM_CASE(kp, kg, ks, km)                                                     \
    case GK_ADAM_KEY(kp, kg, ks, km):                                                    \
        if (coupled)                                                                     \
            GK_T(adam_vloop)(pp, gp, mp, vp, mo, b, stop, k, 1, kp, kg, ks, km, pf);       \
        else                                                                             \
            GK_T(adam_vloop)(pp, gp, mp, vp, mo, b, stop, k, 0, kp, kg, ks, km, pf);       \
        return stop;
    enum { F32 = GK_DTYPE_F32, F16 = GK_DTYPE_F16, BF16 = GK_DTYPE_BF16 };
    switch (key) {
    GK_ADAM_CASE(BF16, BF16, BF16, -1)   /* pure bfloat16 (even/odd order) */
    GK_ADAM_CASE(F16, F16, F16, -1)      /* pure float16 */
    GK_ADAM_CASE(F32, BF16, F32, BF16)   /* bfloat16 model, float32 master and states */
    GK_ADAM_CASE(F32, F16, F32, F16)     /* float16 model, float32 master and states */
    GK_ADAM_CASE(F32, F32, BF16, -1)     /* float32, bfloat16 states */
    default: return b;
    }
#undef GK_ADAM_CASE
#undef GK_ADAM_KEY
}
#endif

static int GK_T(adam_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(adam_ctx) *c = (const GK_T(adam_ctx) *)vctx;
    const gk_adam_options *o = c->o;
    double step = (double)c->step[a];
    double bc1 = 1.0 - pow(o->beta1, step);
    double bc2 = 1.0 - pow(o->beta2, step);
    double w = 1.0 - o->beta1;
    GK_T(adam_k) k;
    k.gs = GK_T(grad_factor)(o->maximize, o->scale, o->coef);
    k.decay = (o->decoupled && o->weight_decay != 0.0) ? (T)(1.0 - o->lr * o->weight_decay) : (T)1;
    k.wd = (T)o->weight_decay;
    k.lw = (T)w;
    k.lomw = (T)1 - k.lw;
    k.small = fabs((double)k.lw) < 0.5;
    k.b2 = (T)o->beta2;
    k.c2 = (T)(1.0 - o->beta2);
    k.bc2s = (T)pow(bc2, 0.5);
    k.neg_step = (T)(-(o->lr / bc1));
    k.eps = (T)o->eps;
    int coupled = !o->decoupled && o->weight_decay != 0.0;
    const void *const *tab[5] = {(const void *const *)c->param, (const void *const *)c->grad,
                                 (const void *const *)c->m, (const void *const *)c->v,
                                 o->amsgrad ? (const void *const *)c->vmax : NULL};
    GK_T(stage) s;
    gk_index n;
#if GK_OPT_STAGED
    if (!o->amsgrad)  /* AMSGrad's max copies a loaded value: the staged path's exact widening */
        b = GK_T(adam_fused)(c->st, tab, a, b, e, &k, coupled, c->far);
#endif
    GK_T(stage_init)(&s, c->st, tab, 5, 29u, a, b, e, c->far);
#if !GK_OPT_STAGED
    if (sizeof(T) == sizeof(float) && !o->amsgrad && !s.lag) {
        /* float32 in place: the whole vector pairs by the fused loop (root / bc2s without
         * the divider, its own prefetch), the rest below */
        const gk_index stop = b + (e - b) / (2 * GK_HLEN) * (2 * GK_HLEN);
        enum { F32 = GK_DTYPE_F32 };
        char *pp = (char *)c->param[a], *mp = (char *)c->m[a], *vp = (char *)c->v[a];
        const char *gp = (const char *)c->grad[a];
        if (coupled)
            GK_T(adam_vloop)(pp, gp, mp, vp, NULL, b, stop, &k, 1, F32, F32, F32, -1, c->far);
        else
            GK_T(adam_vloop)(pp, gp, mp, vp, NULL, b, stop, &k, 0, F32, F32, F32, -1, c->far);
        GK_T(stage_init)(&s, c->st, tab, 5, 29u, a, stop, e, c->far);
    }
#endif
    while (GK_T(stage_next)(&s, &n)) {
    T *p = s.ptr[0], *m = s.ptr[2], *v = s.ptr[3], *vm = s.ptr[4];
    const T *g = s.ptr[1];
    switch (coupled * 2 + (o->amsgrad != 0)) {
    case 0: GK_T(adam_loop)(p, g, m, v, vm, n, &k, 0, 0); break;
    case 1: GK_T(adam_loop)(p, g, m, v, vm, n, &k, 0, 1); break;
    case 2: GK_T(adam_loop)(p, g, m, v, vm, n, &k, 1, 0); break;
    default: GK_T(adam_loop)(p, g, m, v, vm, n, &k, 1, 1); break;
    }
    }
    return 0;
}

static int GK_T(adam_multi)(gk_index count, T *const *param, const T *const *grad,
                            T *const *m, T *const *v, T *const *vmax, const gk_index *size,
                            const int64_t *step, const gk_adam_options *o GK_OPT_ST_PARAM)
{
    GK_T(adam_ctx) c = {param, grad, m, v, vmax, step, o, GK_OPT_ST_ARG,
                        GK_OPT_FAR(count, size, o->amsgrad ? 5 : 4)};
    gk_multi_pass pass = {.span = GK_T(adam_span), .ctx = &c};
    return gk_multi_run(count, size, &pass);
}

/* ---- RMSprop ----------------------------------------------------------------------- */
typedef struct {
    T *const *param;
    const T *const *grad;
    T *const *sq, *const *ga, *const *buf;
    const gk_rmsprop_options *o;
    const gk_optim_storage *st;
    int far;    /* GK_OPT_FAR */
} GK_T(rmsprop_ctx);

typedef struct {
    T gs, wd, alpha, c, lw, lomw, eps, mom, neg_lr;
    int small;
} GK_T(rmsprop_k);

GK_INLINE void GK_T(rmsprop_loop)(T *GK_RESTRICT p, const T *GK_RESTRICT g,
                                  T *GK_RESTRICT sq, T *GK_RESTRICT ga, T *GK_RESTRICT buf,
                                  gk_index n, const GK_T(rmsprop_k) *k, const int coupled,
                                  const int centered, const int momentum)
{
    const T gs = k->gs, wd = k->wd, alpha = k->alpha, cc = k->c, lw = k->lw;
    const T lomw = k->lomw, eps = k->eps, mom = k->mom, neg_lr = k->neg_lr;
    const int small = k->small;
    for (gk_index i = 0; i < n; ++i) {
        T gi = g[i] * gs;
        T pi = p[i];
        if (coupled) gi = gi + wd * pi;
        T s = sq[i] * alpha + (cc * gi) * gi;
        sq[i] = s;
        T avg;
        if (centered) {
            T a = ga[i];
            T d = gi - a;
            a = small ? a + lw * d : gi - d * lomw;
            ga[i] = a;
            avg = SQRT(s + ((T)-1 * a) * a);
        } else {
            avg = SQRT(s);
        }
        avg = avg + eps;
        if (momentum) {
            T bi = buf[i] * mom + gi / avg;
            buf[i] = bi;
            p[i] = pi + neg_lr * bi;
        } else {
            p[i] = pi + (neg_lr * gi) / avg;
        }
    }
}

static int GK_T(rmsprop_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(rmsprop_ctx) *c = (const GK_T(rmsprop_ctx) *)vctx;
    const gk_rmsprop_options *o = c->o;
    GK_T(rmsprop_k) k;
    k.gs = GK_T(grad_factor)(o->maximize, o->scale, o->coef);
    k.wd = (T)o->weight_decay;
    k.alpha = (T)o->alpha;
    k.c = (T)(1.0 - o->alpha);
    k.lw = k.c;
    k.lomw = (T)1 - k.lw;
    k.small = fabs((double)k.lw) < 0.5;
    k.eps = (T)o->eps;
    k.mom = (T)o->momentum;
    k.neg_lr = (T)(-o->lr);
    int coupled = o->weight_decay != 0.0, cen = o->centered != 0, mo = o->momentum > 0.0;
    const void *const *tab[5] = {(const void *const *)c->param, (const void *const *)c->grad,
                                 (const void *const *)c->sq,
                                 cen ? (const void *const *)c->ga : NULL,
                                 mo ? (const void *const *)c->buf : NULL};
    GK_T(stage) s;
    gk_index n;
    GK_T(stage_init)(&s, c->st, tab, 5, 29u, a, b, e, c->far);
    while (GK_T(stage_next)(&s, &n)) {
#define GK_RMS(C, Z, M) GK_T(rmsprop_loop)(s.ptr[0], s.ptr[1], s.ptr[2], s.ptr[3], s.ptr[4], \
                                           n, &k, C, Z, M)
    switch (coupled * 4 + cen * 2 + mo) {
    case 0: GK_RMS(0, 0, 0); break;
    case 1: GK_RMS(0, 0, 1); break;
    case 2: GK_RMS(0, 1, 0); break;
    case 3: GK_RMS(0, 1, 1); break;
    case 4: GK_RMS(1, 0, 0); break;
    case 5: GK_RMS(1, 0, 1); break;
    case 6: GK_RMS(1, 1, 0); break;
    default: GK_RMS(1, 1, 1); break;
    }
    }
#undef GK_RMS
    return 0;
}

static int GK_T(rmsprop_multi)(gk_index count, T *const *param, const T *const *grad,
                               T *const *sq, T *const *ga, T *const *buf,
                               const gk_index *size, const gk_rmsprop_options *o
                               GK_OPT_ST_PARAM)
{
    GK_T(rmsprop_ctx) c = {param, grad, sq, ga, buf, o, GK_OPT_ST_ARG,
                           GK_OPT_FAR(count, size, 3)};
    gk_multi_pass pass = {.span = GK_T(rmsprop_span), .ctx = &c};
    return gk_multi_run(count, size, &pass);
}

/* ---- Adagrad ----------------------------------------------------------------------- */
typedef struct {
    T *const *param;
    const T *const *grad;
    T *const *sum;
    const int64_t *step;
    const gk_adagrad_options *o;
    const gk_optim_storage *st;
    int far;    /* GK_OPT_FAR */
} GK_T(adagrad_ctx);

GK_INLINE void GK_T(adagrad_loop)(T *GK_RESTRICT p, const T *GK_RESTRICT g,
                                  T *GK_RESTRICT sum, gk_index n, T gs, T wd, T eps,
                                  T neg_clr, const int coupled)
{
    for (gk_index i = 0; i < n; ++i) {
        T gi = g[i] * gs;
        T pi = p[i];
        if (coupled) gi = gi + wd * pi;
        T s = sum[i] + gi * gi;
        sum[i] = s;
        T std = SQRT(s) + eps;
        p[i] = pi + (neg_clr * gi) / std;
    }
}

static int GK_T(adagrad_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(adagrad_ctx) *c = (const GK_T(adagrad_ctx) *)vctx;
    const gk_adagrad_options *o = c->o;
    double clr = o->lr / (1.0 + ((double)c->step[a] - 1.0) * o->lr_decay);
    T gs = GK_T(grad_factor)(o->maximize, o->scale, o->coef);
    T wd = (T)o->weight_decay, eps = (T)o->eps;
    T neg_clr = (T)(-clr);
    const void *const *tab[3] = {(const void *const *)c->param, (const void *const *)c->grad,
                                 (const void *const *)c->sum};
    GK_T(stage) s;
    gk_index n;
    GK_T(stage_init)(&s, c->st, tab, 3, 5u, a, b, e, c->far);
    while (GK_T(stage_next)(&s, &n)) {
        if (o->weight_decay != 0.0)
            GK_T(adagrad_loop)(s.ptr[0], s.ptr[1], s.ptr[2], n, gs, wd, eps, neg_clr, 1);
        else
            GK_T(adagrad_loop)(s.ptr[0], s.ptr[1], s.ptr[2], n, gs, wd, eps, neg_clr, 0);
    }
    return 0;
}

static int GK_T(adagrad_multi)(gk_index count, T *const *param, const T *const *grad,
                               T *const *sum, const gk_index *size, const int64_t *step,
                               const gk_adagrad_options *o GK_OPT_ST_PARAM)
{
    GK_T(adagrad_ctx) c = {param, grad, sum, step, o, GK_OPT_ST_ARG, GK_OPT_FAR(count, size, 3)};
    gk_multi_pass pass = {.span = GK_T(adagrad_span), .ctx = &c};
    return gk_multi_run(count, size, &pass);
}

/* ---- LARS (optax.lars) ------------------------------------------------------------- */
/* u = g*c + wd*p (c: the fused clip's coefficient, else 1, and g*1 is g);
 * r = tc*||p|| / (||u|| + eps), or 1 if ||p|| or ||u|| is 0;
 * t = -lr*(u*r) + momentum*t;  p += nesterov ? -lr*(u*r) + momentum*t : t */
typedef struct {
    T *const *param;
    const T *const *grad;
    T *const *trace;
    const gk_lars_options *o;
    double *sums;    /* per array: sum p^2, sum u^2 */
    double *ratio;   /* per array trust ratio, filled by the span pass (may be NULL) */
    int far;         /* past the cache: the norm pass prefetches ahead (chunk_sumsq_far) */
    const gk_optim_storage *st;
} GK_T(lars_ctx);

/* (double)(g c + wd p), computed in T as the update does, for GK_VW elements, then
 * converted to double lanes */
GK_INLINE gk_vd GK_T(lars_u)(const T *g, const T *p, T c, T wd)
{
    T u[GK_VW];
    for (int k = 0; k < GK_VW; ++k) u[k] = g[k] * c + wd * p[k];
    return GK_T(ldv)(u);
}

/* per chunk: sum p^2, sum u^2 */
static void GK_T(lars_chunk)(void *vctx, gk_index a, gk_index b, gk_index n, double *part)
{
    const GK_T(lars_ctx) *c = (const GK_T(lars_ctx) *)vctx;
    const T wd = (T)c->o->weight_decay;
    const T gc = GK_T(grad_factor)(0, c->o->scale, c->o->coef);
    const void *const *tab[2] = {(const void *const *)c->param, (const void *const *)c->grad};
    GK_T(stage) s;
    gk_index len = n;
    GK_T(stage_init)(&s, c->st, tab, 2, 0u, a, b, b + len, 0);
    part[0] = part[1] = 0.0;
    while (GK_T(stage_next)(&s, &n)) {
    const T *GK_RESTRICT p = s.ptr[0];
    const T *GK_RESTRICT g = s.ptr[1];
    double sp, su;
#define GK_P2_V(o) (GK_T(ldv)(p + (o)) * GK_T(ldv)(p + (o)))
#define GK_P2_S(o) ((double)p[o] * (double)p[o])
#define GK_U2_V(o) __extension__({ gk_vd u_ = GK_T(lars_u)(g + (o), p + (o), gc, wd); u_ * u_; })
#define GK_U2_S(o) ((double)(g[o] * gc + wd * p[o]) * (double)(g[o] * gc + wd * p[o]))
#define GK_P2F_V(o) GK_PF_THEN(p, o, GK_P2_V)
#define GK_U2F_V(o) GK_PF_THEN(g, o, GK_U2_V)
    if (c->far)
        GK_LANE_SUM2(n, sp, GK_P2F_V, GK_P2_S, su, GK_U2F_V, GK_U2_S);
    else
        GK_LANE_SUM2(n, sp, GK_P2_V, GK_P2_S, su, GK_U2_V, GK_U2_S);
    part[0] += sp;  /* one block (in place) but in the staged instantiation: 0 + sp is sp */
    part[1] += su;
    }
#undef GK_P2F_V
#undef GK_U2F_V
#undef GK_P2_V
#undef GK_P2_S
#undef GK_U2_V
#undef GK_U2_S
}

GK_INLINE void GK_T(lars_loop)(T *GK_RESTRICT p, const T *GK_RESTRICT g, T *GK_RESTRICT t,
                               gk_index n, T gc, T wd, T r, T neg_lr, T mom,
                               const int nesterov)
{
    for (gk_index i = 0; i < n; ++i) {
        T pi = p[i];
        T u = neg_lr * ((g[i] * gc + wd * pi) * r);
        T ti = u + mom * t[i];
        t[i] = ti;
        p[i] = pi + (nesterov ? u + mom * ti : ti);
    }
}

static double GK_T(lars_ratio)(const gk_lars_options *o, const double *sums)
{
    double pn = sqrt(sums[0]), un = sqrt(sums[1]);
    if (pn == 0.0 || un == 0.0) return 1.0;
    return o->trust_coefficient * pn / (un + o->eps);
}

static int GK_T(lars_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(lars_ctx) *c = (const GK_T(lars_ctx) *)vctx;
    const gk_lars_options *o = c->o;
    double r = GK_T(lars_ratio)(o, c->sums + 2 * a);
    if (c->ratio && b == 0) c->ratio[a] = r;  /* the span holding element 0 reports it */
    T gc = GK_T(grad_factor)(0, o->scale, o->coef);
    const void *const *tab[3] = {(const void *const *)c->param, (const void *const *)c->grad,
                                 (const void *const *)c->trace};
    GK_T(stage) s;
    gk_index n;
    GK_T(stage_init)(&s, c->st, tab, 3, 5u, a, b, e, c->far);
    while (GK_T(stage_next)(&s, &n)) {
        if (o->nesterov)
            GK_T(lars_loop)(s.ptr[0], s.ptr[1], s.ptr[2], n, gc, (T)o->weight_decay, (T)r,
                            (T)(-o->lr), (T)o->momentum, 1);
        else
            GK_T(lars_loop)(s.ptr[0], s.ptr[1], s.ptr[2], n, gc, (T)o->weight_decay, (T)r,
                            (T)(-o->lr), (T)o->momentum, 0);
    }
    return 0;
}

static int GK_T(lars_multi)(gk_index count, T *const *param, const T *const *grad,
                            T *const *trace, const gk_index *size, const gk_lars_options *o,
                            double *ratio GK_OPT_ST_PARAM)
{
    double stack_sums[2 * GK_MULTI_STACK];
    double *sums = count <= GK_MULTI_STACK ? stack_sums
                                           : (double *)malloc(sizeof(double) * 2 * (size_t)count);
    if (!sums) return GK_ENOMEM;
    const int dtype = sizeof(T) == sizeof(float) ? GK_DTYPE_F32 : GK_DTYPE_F64;
    GK_T(lars_ctx) c = {param, grad, trace, o, sums, ratio,
                        gk_multi_far(count, size, NULL, dtype, 2),  /* p and g */
                        GK_OPT_ST_ARG};
    gk_multi_pass pass = {.nacc = 2, .chunk = GK_T(lars_chunk), .sums = sums,
                          .span = GK_T(lars_span), .ctx = &c};
    int err = gk_multi_run(count, size, &pass);
    if (err == GK_OK && ratio)  /* arrays with no elements have no span */
        for (gk_index a = 0; a < count; ++a)
            if (size[a] == 0) ratio[a] = 1.0;
    if (sums != stack_sums) free(sums);
    return err;
}
