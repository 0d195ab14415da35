/* Adafactor (torch.optim.Adafactor's single-tensor formulas) for element type T.
 * Included by optim.c once per dtype after optim_tmpl.h, whose conventions hold here
 * (per-array scalars in double, rounded to T once where torch rounds a Python float;
 * element arithmetic in T in torch's order).  Per array, t its step:
 *
 *   w = t^beta2_decay,  rho = min(lr, 1/sqrt(t)),  alpha = max(eps2, RMS(p)) rho
 *   p *= 1 - lr wd                                     (wd != 0; alpha is from p before)
 *   matrix (the last two dims, m x n, batched over the others):
 *     R = lerp(R, sqrt(sum_j g^2)^2 / n, w),  C = lerp(C, sqrt(sum_i g^2)^2 / m, w)
 *     V_ij = (R_i C_j) / max(mean_i R_i, eps1)
 *   vector (0-d, 1-d):  V = lerp(V, g g, w)
 *   U = (1 / sqrt(max(V, eps1^2))) g,  p += -(alpha / max(1, RMS(U) / d)) U
 *
 * torch rounds each norm (of p, of U, of g along a row or a column) to T: here each is
 * a double sum over fixed tiles and chunks, rounded once.
 *
 * Passes (the clipping by RMS(U) needs all of U before the first p is written, and a
 * matrix's U needs every R and C, known only after all of g was read):
 *   1. gk_multi_run's reduction, over tasks: a matrix in tiles of r rows x w columns,
 *      each writing its rows' and its columns' partial sums of g^2 and its sum of p^2
 *      (matrices small enough to be one tile, a conv weight's 3 x 3, go whole, many
 *      to a task, which finishes their R and C itself); a vector in GK_CHUNK chunks
 *      that update V and sum p^2 and U^2.  Reads p, g.
 *   -  on the calling thread: the partials added in tile order, R, C and the mean of R
 *      of each matrix (O(rows + columns) work per matrix, plus the partials).
 *   2. a reduction over GK_CHUNK chunks: sum U^2 of the matrices (reads g); then the
 *      elementwise pass writes p (reads p, g, and V for a vector), each thread walking
 *      its part backwards so that what its chunks read last is still in its caches.
 * So a matrix's g is read 3 times and p twice, a vector's g, p and V twice.  With a
 * work buffer (`work`, one value of T per element of the list; staged too), pass
 * 2's reduction stores a matrix's U there and the elementwise pass reads it instead of
 * computing it again (2 divisions and a root per element, which bound the step):
 * 28 bytes per float32 element instead of 24, the same U, the same bits.  The tiles
 * are fixed by the shape and every sum is combined in a fixed order: the results are
 * the same for any thread count.  A vector's V is only read by pass 1 and computed
 * again (the same operations on the same inputs: the same bits) and stored by pass 2,
 * so no value is read back after it was stored within a step.
 *
 * Staged (optim_half.c, GK_OPT_STAGED, T float): the same code on float32, float16 or
 * bfloat16 storage (gk_optim_storage).  Rows of g are widened into the gb buffers, the
 * spans run on optim_tmpl.h's staged blocks (p and V rounded once when stored, the
 * 16-bit model copy written with master weights), sums of p^2 are read straight from
 * 16-bit storage by reduce_tmpl.h's 16-bit chunk_sumsq (the float32 sum's lanes on the
 * widened values: the same bits), and 16-bit R and C are widened into float32 copies
 * for the step (O(rows + columns)), rounded into their storage once, after pass 1: so
 * each value is the float32 step's on the widened arrays, rounded once when stored. */

#ifndef GK_AF_TILE
#define GK_AF_TILE ((gk_index)1 << 16)   /* elements of a matrix tile (about) */
#define GK_AF_TILE_W ((gk_index)2048)    /* columns of a tile at most: rows at least 32 */
/* a matrix whole in one tile (then tasks of whole matrices, no partials) */
#define GK_AF_WHOLE(m, n) ((n) <= GK_AF_TILE_W && (m) <= GK_AF_TILE / (n))
#endif

/* the per-array layout: m == 0 marks a vector */
typedef struct {
    gk_index batch, m, n;
    gk_index per;               /* > 0: matrices small enough to be whole in one tile,
                                   `per` of them per task (a conv weight's 3 x 3) */
    gk_index w, r, nct, nrt;    /* tile width and height, tiles across and down */
    gk_index roff, coff, moff;  /* where its row partials, column partials, means start */
} GK_T(af_arr);

typedef struct {
    T *const *param;
    const T *const *grad;
    T *const *rvar, *const *cvar, *const *var;
    const gk_index *size;
    const int64_t *step;
    const gk_adafactor_options *o;
    const gk_optim_storage *st; /* staged: the lists' storage (else NULL) */
    const GK_T(af_arr) *arr;
    double *rpart, *cpart;      /* row partials [row][column tile], column [row tile][col] */
    T *mean;                    /* per matrix: max(mean_i R_i, eps1) */
    double *sums1;              /* per array: sum p^2, sum U^2 (vectors) */
    double *sums2;              /* per array: sum U^2 (matrices) */
    T *const *rsto, *const *csto; /* 16-bit R and C (staged; else NULL): rvar and cvar
                                     are then their float32 copies */
    T *work;                    /* NULL, or U of every element: array a's at work + start[a] */
    gk_index *start;
} GK_T(af_ctx);

typedef struct {
    T gs, lw, lomw, e1, e1sq;
    int small;
} GK_T(af_k);

static GK_T(af_k) GK_T(af_consts)(const gk_adafactor_options *o, int64_t step)
{
    GK_T(af_k) k;
    k.gs = GK_T(grad_factor)(o->maximize, o->scale, o->coef);
    k.lw = (T)pow((double)step, o->beta2_decay);  /* torch's one_minus_beta2_t */
    k.lomw = (T)1 - k.lw;
    k.small = fabs((double)k.lw) < 0.5;
    k.e1 = (T)o->eps1;
    k.e1sq = (T)(o->eps1 * o->eps1);
    return k;
}

/* torch's lerp(x, y, w) */
GK_INLINE T GK_T(af_lerp)(T x, T y, const GK_T(af_k) *k)
{
    T d = y - x;
    return k->small ? x + k->lw * d : y - d * k->lomw;
}

/* U of one element: clamp_min (NaN stays), rsqrt as 1/sqrt, times the gradient */
GK_INLINE T GK_T(af_u)(T v, T g, T e1sq)
{
    v = v < e1sq ? e1sq : v;
    return ((T)1 / SQRT(v)) * g;
}

/* a factor from its sum of g^2, as torch: lerp_(norm(g, dim).square_().div_(size), w) */
GK_INLINE T GK_T(af_factor)(T old, double sumsq, gk_index size, const GK_T(af_k) *k)
{
    T norm = (T)sqrt(sumsq);
    return GK_T(af_lerp)(old, (norm * norm) / (T)size, k);
}

/* sum of p^2 over elements [off, off + n) of parameter a, read from its storage; 16-bit
 * storage is widened a vector at a time into wbuf (n floats free) when given, else
 * summed where it is (element by element: the scalar float16 widening is ~20
 * instructions) -- the float32 sum's lanes on the same values either way */
GK_INLINE double GK_T(af_psumsq)(const GK_T(af_ctx) *c, gk_index a, gk_index off, gk_index n,
                                 T *GK_RESTRICT wbuf)
{
#if GK_OPT_STAGED
    const uint16_t *h = (const uint16_t *)(const void *)c->param[a] + off;
    if (c->st->param != GK_DTYPE_F32 && wbuf) {
        gk_half_to_f32_n(c->st->param == GK_DTYPE_BF16, h, wbuf, n);
        return GK_T(chunk_sumsq)(wbuf, n, 0.0);
    }
    if (c->st->param == GK_DTYPE_F16) return chunk_sumsq_f16(h, n, 0.0);
    if (c->st->param == GK_DTYPE_BF16) return chunk_sumsq_bf16(h, n, 0.0);
#else
    (void)wbuf;
#endif
    return GK_T(chunk_sumsq)(c->param[a] + off, n, 0.0);
}

/* gb[0, n) = the gradient factor times g[off, off + n) of array a (widened) */
GK_INLINE void GK_T(af_grow)(const GK_T(af_ctx) *c, gk_index a, gk_index off, gk_index n,
                             T gs, T *GK_RESTRICT gb)
{
#if GK_OPT_STAGED
    if (c->st->grad != GK_DTYPE_F32) {
        gk_half_to_f32_n(c->st->grad == GK_DTYPE_BF16,
                         (const uint16_t *)(const void *)c->grad[a] + off, gb, n);
        for (gk_index j = 0; j < n; ++j) gb[j] *= gs;
        return;
    }
#endif
    const T *GK_RESTRICT g = c->grad[a] + off;
    for (gk_index j = 0; j < n; ++j) gb[j] = g[j] * gs;
}

/* elements [b, e) of array a on optim_tmpl.h's blocks: roles 0 p (if with_p), 1 g,
 * 2 V (if with_v); wmask the roles written */
GK_INLINE void GK_T(af_stage)(GK_T(stage) *s, const GK_T(af_ctx) *c, int with_p, int with_v,
                              unsigned wmask, gk_index a, gk_index b, gk_index e)
{
    const void *const *tab[3] = {with_p ? (const void *const *)c->param : NULL,
                                 (const void *const *)c->grad,
                                 with_v ? (const void *const *)c->var : NULL};
    GK_T(stage_init)(s, c->st, tab, 3, wmask, a, b, e, 0);
}

/* C of matrix bt from its column sums cs (NULL: C is done), and the clamped mean of its
 * R (rsum: the sum of its new R, in row order) */
static void GK_T(af_finish)(const GK_T(af_ctx) *c, gk_index a, gk_index bt,
                            const GK_T(af_k) *k, double rsum, const double *cs)
{
    const GK_T(af_arr) *s = &c->arr[a];
    T *C = c->cvar[a] + bt * s->n;
    if (cs)
        for (gk_index j = 0; j < s->n; ++j) C[j] = GK_T(af_factor)(C[j], cs[j], s->m, k);
    T mean = (T)(rsum / (double)s->m);
    c->mean[s->moff + bt] = mean < k->e1 ? k->e1 : mean;  /* clamp_min: NaN stays */
}

/* pass 1 over whole small matrices, task t: matrices [t per, (t + 1) per), each one's
 * sums complete here (one tile each: the same sums as the tiled path's), so R and C
 * are finished in the task */
static void GK_T(af_whole)(const GK_T(af_ctx) *c, gk_index a, gk_index t,
                           const GK_T(af_k) *k, double *part)
{
    const GK_T(af_arr) *s = &c->arr[a];
    gk_index b0 = t * s->per, b1 = b0 + s->per < s->batch ? b0 + s->per : s->batch;
    const gk_index n = s->n;
    T *R = c->rvar[a];
    T gb[GK_AF_TILE_W];
    double col[GK_AF_TILE_W];  /* n <= GK_AF_TILE_W */
    for (gk_index bt = b0; bt < b1; ++bt) {
        double rsum = 0.0;
        for (gk_index j = 0; j < n; ++j) col[j] = 0.0;
        for (gk_index i = bt * s->m; i < (bt + 1) * s->m; ++i) {
            double x = 0.0;
            GK_T(af_grow)(c, a, i * n, n, k->gs, gb);
            if (n >= 4 * GK_LANES) {  /* a row long enough for the lanes */
                x = GK_T(chunk_sumsq)(gb, n, 0.0);
                for (gk_index j = 0; j < n; ++j) col[j] += (double)gb[j] * (double)gb[j];
            } else {  /* short rows (3 x 3 kernels): the lane sum's setup would dominate */
                for (gk_index j = 0; j < n; ++j) {
                    double q = (double)gb[j];
                    q *= q;
                    x += q;
                    col[j] += q;
                }
            }
            R[i] = GK_T(af_factor)(R[i], x, n, k);
            rsum += (double)R[i];
        }
        GK_T(af_finish)(c, a, bt, k, rsum, col);
    }
    /* RMS(p) of these matrices: contiguous, one lane sum */
    part[0] = GK_T(af_psumsq)(c, a, b0 * s->m * n, (b1 - b0) * s->m * n, NULL);
    part[1] = 0.0;
}

/* pass 1, task `t` of array a: a vector's chunk, or a matrix's tile */
static void GK_T(af_task)(void *vctx, gk_index a, gk_index t, double *part)
{
    const GK_T(af_ctx) *c = (const GK_T(af_ctx) *)vctx;
    const GK_T(af_arr) *s = &c->arr[a];
    const GK_T(af_k) k = GK_T(af_consts)(c->o, c->step[a]);
    if (s->m == 0) {  /* V only read here: pass 2 computes it again and stores it */
        gk_index b = t * GK_CHUNK, n = c->size[a] - b < GK_CHUNK ? c->size[a] - b : GK_CHUNK;
        T u[GK_CHUNK];
        GK_T(stage) sg;
        gk_index nb, at = 0;
        GK_T(af_stage)(&sg, c, 0, 1, 0u, a, b, b + n);
        while (GK_T(stage_next)(&sg, &nb)) {
            const T *GK_RESTRICT g = sg.ptr[1], *GK_RESTRICT v = sg.ptr[2];
            for (gk_index i = 0; i < nb; ++i) {
                T gi = g[i] * k.gs;
                u[at + i] = GK_T(af_u)(GK_T(af_lerp)(v[i], gi * gi, &k), gi, k.e1sq);
            }
            at += nb;
        }
        part[1] = GK_T(chunk_sumsq)(u, n, 0.0);
        part[0] = GK_T(af_psumsq)(c, a, b, n, u);  /* u is free again */
        return;
    }
    if (s->per) {
        GK_T(af_whole)(c, a, t, &k, part);
        return;
    }
    gk_index ct = t % s->nct, down = t / s->nct, rt = down % s->nrt, bt = down / s->nrt;
    gk_index j0 = ct * s->w, i0 = rt * s->r;
    gk_index w = s->n - j0 < s->w ? s->n - j0 : s->w;
    gk_index r = s->m - i0 < s->r ? s->m - i0 : s->r;
    /* one tile down (at most 32 rows): its columns are whole here, C is finished below,
     * with no partials (a 1 x 10^7 matrix would need 10^7 of them) */
    double own[GK_AF_TILE_W];
    double *GK_RESTRICT col = s->nrt == 1 ? own
                              : c->cpart + s->coff + (bt * s->nrt + rt) * s->n + j0;
    double *GK_RESTRICT row = c->rpart + s->roff + (bt * s->m + i0) * s->nct + ct;
    T gb[GK_AF_TILE_W];  /* a row of the tile, times the gradient factor */
    double psum = 0.0;
    for (gk_index j = 0; j < w; ++j) col[j] = 0.0;
    for (gk_index i = 0; i < r; ++i) {
        gk_index at = (bt * s->m + i0 + i) * s->n + j0;
        GK_T(af_grow)(c, a, at, w, k.gs, gb);
        row[i * s->nct] = GK_T(chunk_sumsq)(gb, w, 0.0);
        for (gk_index j = 0; j < w; ++j) col[j] += (double)gb[j] * (double)gb[j];
        psum += GK_T(af_psumsq)(c, a, at, w, gb);  /* gb is free again */
    }
    if (s->nrt == 1) {
        T *C = c->cvar[a] + bt * s->n + j0;
        for (gk_index j = 0; j < w; ++j) C[j] = GK_T(af_factor)(C[j], col[j], s->m, &k);
    }
    part[0] = psum;
    part[1] = 0.0;
}

/* between the passes: R, C and the clamped mean of R of every matrix */
/* between the passes: the tiled matrices' partials added in tile order, then R, C and
 * the clamped mean of R (af_whole did the small matrices' in pass 1) */
static void GK_T(af_factors)(const GK_T(af_ctx) *c, gk_index count)
{
    for (gk_index a = 0; a < count; ++a) {
        const GK_T(af_arr) *s = &c->arr[a];
        if (s->m == 0 || s->per) continue;
        const GK_T(af_k) k = GK_T(af_consts)(c->o, c->step[a]);
        const double *rp = c->rpart + s->roff;
        double *cp = c->cpart + s->coff;
        T *R = c->rvar[a];
        for (gk_index bt = 0; bt < s->batch; ++bt) {
            double rsum = 0.0;
            for (gk_index i = bt * s->m; i < (bt + 1) * s->m; ++i) {
                double x = 0.0;
                for (gk_index q = 0; q < s->nct; ++q) x += rp[i * s->nct + q];
                R[i] = GK_T(af_factor)(R[i], x, s->n, &k);
                rsum += (double)R[i];
            }
            if (s->nrt == 1) {  /* C finished by the tiles */
                GK_T(af_finish)(c, a, bt, &k, rsum, NULL);
                continue;
            }
            double *cb = cp + bt * s->nrt * s->n;  /* the sums into the first tile's slots */
            for (gk_index j = 0; j < s->n; ++j) {
                double x = 0.0;
                for (gk_index q = 0; q < s->nrt; ++q) x += cb[q * s->n + j];
                cb[j] = x;
            }
            GK_T(af_finish)(c, a, bt, &k, rsum, cb);
        }
    }
}

/* af_rows on float32 vectors, the row's elements [0, len) by whole vectors (the number
 * done is returned): af_u's operations in its order, with (ri cj) / mean by
 * gk_hdiv_const (a correctly rounded division by a constant without the divider on the
 * AVX2 and AVX-512 tables, gk_half.h), so the same bits.  U's two divisions and root
 * per element bound the step. */
GK_INLINE gk_index GK_T(af_row_vec)(T ri, const T *cj, const T *gr, const gk_hdivc *dmp,
                                    const GK_T(af_k) *k, T *u, T *p, T decay, T step_u,
                                    gk_index len)
{
    const gk_hdivc dm = *dmp;
    const gk_hf z = {0};
    const gk_hf rv = z + (float)ri, gs = z + (float)k->gs, e1 = z + (float)k->e1sq;
    const gk_hf one = z + 1.0f, dv = z + (float)decay, su = z + (float)step_u;
    const float *cf = (const float *)(const void *)cj, *gf = (const float *)(const void *)gr;
    float *uf = (float *)(void *)u, *pf = (float *)(void *)p;
    gk_index q = 0;
    for (; q + GK_HLEN <= len; q += GK_HLEN) {
        gk_hf cv, gv;
        __builtin_memcpy(&cv, cf + q, sizeof cv);
        __builtin_memcpy(&gv, gf + q, sizeof gv);
        gk_hf v = gk_hdiv_const(rv * cv, &dm);
        const gk_hi lt = v < e1;                     /* v < e1sq ? e1sq : v (NaN stays) */
        v = (gk_hf)(((gk_hi)e1 & lt) | ((gk_hi)v & ~lt));
        const gk_hf uv = (one / gk_hsqrt(v)) * (gv * gs);
        if (uf) {
            __builtin_memcpy(uf + q, &uv, sizeof uv);
        } else {
            gk_hf pv;
            __builtin_memcpy(&pv, pf + q, sizeof pv);
            pv = pv * dv + su * uv;
            __builtin_memcpy(pf + q, &pv, sizeof pv);
        }
    }
    return q;
}

/* elements [b, e) of matrix a, row by row, g (and p) their block (element b first): U
 * into u, or (u == NULL) the update of p */
GK_INLINE void GK_T(af_rows)(const GK_T(af_ctx) *c, gk_index a, gk_index b, gk_index e,
                             const T *GK_RESTRICT g, T *GK_RESTRICT p, T *GK_RESTRICT u,
                             T decay, T step_u)
{
    const GK_T(af_arr) *s = &c->arr[a];
    const GK_T(af_k) k = GK_T(af_consts)(c->o, c->step[a]);
    const T *R = c->rvar[a], *C = c->cvar[a];
    gk_index row = b / s->n, j = b - row * s->n, bt = row / s->m;
    T mean = c->mean[s->moff + bt];
    /* the divider's constants once per matrix, not per row (a division and two ldexpf:
     * as much as a 32-column row's own work; 3125x32 float32, 1 thread, AMD EPYC (Zen
     * 5) guest, interleaved: the step 101 -> 72 us, 15625x64 775 -> 569 us) */
    gk_hdivc dm = gk_hdivc_init((float)mean);
    while (b < e) {
        gk_index len = s->n - j < e - b ? s->n - j : e - b;
        const T ri = R[row];
        const T *GK_RESTRICT cj = C + bt * s->n + j;
        const T *GK_RESTRICT gr = g;
        gk_index q0 = 0;
        if (sizeof(T) == sizeof(float))   /* whole vectors: (ri cj) / mean without the divider */
            q0 = GK_T(af_row_vec)(ri, cj, gr, &dm, &k, u, p, decay, step_u, len);
        if (u) {
            for (gk_index q = q0; q < len; ++q)
                u[q] = GK_T(af_u)((ri * cj[q]) / mean, gr[q] * k.gs, k.e1sq);
            u += len;
        } else {
            for (gk_index q = q0; q < len; ++q)
                p[q] = p[q] * decay +
                       step_u * GK_T(af_u)((ri * cj[q]) / mean, gr[q] * k.gs, k.e1sq);
            p += len;
        }
        g += len;
        b += len;
        j = 0;
        if (++row == (bt + 1) * s->m && b < e) {
            mean = c->mean[s->moff + ++bt];
            dm = gk_hdivc_init((float)mean);
        }
    }
}

/* pass 2's reduction: a matrix chunk's sum of U^2 (vectors have theirs from pass 1) */
static void GK_T(af_chunk)(void *vctx, gk_index a, gk_index b, gk_index n, double *part)
{
    const GK_T(af_ctx) *c = (const GK_T(af_ctx) *)vctx;
    if (c->arr[a].m == 0) {
        part[0] = 0.0;
        return;
    }
    T ub[GK_CHUNK];
    T *u = c->work ? c->work + c->start[a] + b : ub;  /* kept for the update pass */
    GK_T(stage) sg;
    gk_index nb, at = b;
    GK_T(af_stage)(&sg, c, 0, 0, 0u, a, b, b + n);
    while (GK_T(stage_next)(&sg, &nb)) {
        GK_T(af_rows)(c, a, at, at + nb, sg.ptr[1], NULL, u + (at - b), (T)1, (T)0);
        at += nb;
    }
    part[0] = GK_T(chunk_sumsq)(u, n, 0.0);
}

/* the step of U, -alpha / max(1, RMS(U) / d), in torch's Python-float arithmetic
 * (Python's max(x, y) is y only when y > x: a NaN norm gives eps2 and 1) */
static double GK_T(af_step_u)(const GK_T(af_ctx) *c, gk_index a)
{
    const gk_adafactor_options *o = c->o;
    double t = (double)c->step[a], root = pow((double)c->size[a], 0.5);
    double rho = 1.0 / pow(t, 0.5);
    rho = rho < o->lr ? rho : o->lr;
    double rms = (double)(T)sqrt(c->sums1[2 * a]) / root;
    double alpha = (rms > o->eps2 ? rms : o->eps2) * rho;
    double usum = c->arr[a].m == 0 ? c->sums1[2 * a + 1] : c->sums2[a];
    double q = (double)(T)sqrt(usum) / (root * o->d);
    return -alpha / (q > 1.0 ? q : 1.0);
}

/* a vector's block in pass 2: V computed as pass 1 did, stored, and p updated */
GK_INLINE void GK_T(af_vloop)(T *GK_RESTRICT p, const T *GK_RESTRICT g, T *GK_RESTRICT v,
                              gk_index n, const GK_T(af_k) *k, T decay, T step_u)
{
    for (gk_index i = 0; i < n; ++i) {
        T gi = g[i] * k->gs;
        T vi = GK_T(af_lerp)(v[i], gi * gi, k);
        v[i] = vi;
        p[i] = p[i] * decay + step_u * GK_T(af_u)(vi, gi, k->e1sq);
    }
}

#if GK_OPT_STAGED
/* p = p decay + step_u u over the whole vector pairs of [b, e) of a 16-bit parameter of
 * storage `kind` (a constant at each call), converted in registers: the staged block's
 * operations (widen, this line, round once) without the block.  Returns where the rest
 * starts. */
GK_INLINE gk_index GK_T(af_vupdate)(char *pp, const float *GK_RESTRICT u, gk_index b,
                                    gk_index e, float decay, float step_u, const int kind)
{
    const gk_index stop = b + (e - b) / (2 * GK_HLEN) * (2 * GK_HLEN);
    const gk_hf z = {0}, dv = z + decay, su = z + step_u;
    for (gk_index i = b; i < stop; i += 2 * GK_HLEN) {
        gk_hf p[2], uv[2];
        gk_ld2_arith(kind, pp + i * 2, &p[0], &p[1]);
        __builtin_memcpy(&uv[0], u + i, sizeof uv[0]);
        __builtin_memcpy(&uv[1], u + i + GK_HLEN, sizeof uv[1]);
        for (int h = 0; h < 2; ++h) p[h] = p[h] * dv + su * uv[h];
        gk_st2_arith(kind, pp + i * 2, p[0], p[1]);
    }
    return stop;
}
#endif

static int GK_T(af_span)(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const GK_T(af_ctx) *c = (const GK_T(af_ctx) *)vctx;
    const gk_adafactor_options *o = c->o;
    const T decay = o->weight_decay != 0.0 ? (T)(1.0 - o->lr * o->weight_decay) : (T)1;
    const T step_u = (T)GK_T(af_step_u)(c, a);
    GK_T(stage) sg;
    gk_index nb, at = b;
    if (c->arr[a].m && c->work) {  /* U from pass 2's reduction: the parameter alone,
                                    * through the stage (the model copy too) */
        const T *GK_RESTRICT u = c->work + c->start[a];
        const void *const *tab[1] = {(const void *const *)c->param};
#if GK_OPT_STAGED
        /* a 16-bit parameter without a model copy: in registers (16384x1024 bfloat16
         * from memory, 2 threads, AMD EPYC (Zen 5) guest: the step 10.7 -> 9.1-9.4
         * ms, in runs of the case each beside the float32 step and its limit) */
        if (!c->st->model && c->st->param == GK_DTYPE_BF16)
            at = b = GK_T(af_vupdate)((char *)c->param[a], u, b, e, (float)decay,
                                      (float)step_u, GK_DTYPE_BF16);
        else if (!c->st->model && c->st->param == GK_DTYPE_F16)
            at = b = GK_T(af_vupdate)((char *)c->param[a], u, b, e, (float)decay,
                                      (float)step_u, GK_DTYPE_F16);
#endif
        GK_T(stage_init)(&sg, c->st, tab, 1, 1u, a, b, e, 0);
        while (GK_T(stage_next)(&sg, &nb)) {
            T *GK_RESTRICT p = sg.ptr[0];
            for (gk_index i = 0; i < nb; ++i) p[i] = p[i] * decay + step_u * u[at + i];
            at += nb;
        }
        return 0;
    }
    if (c->arr[a].m) {
        GK_T(af_stage)(&sg, c, 1, 0, 1u, a, b, e);
        while (GK_T(stage_next)(&sg, &nb)) {
            GK_T(af_rows)(c, a, at, at + nb, sg.ptr[1], sg.ptr[0], NULL, decay, step_u);
            at += nb;
        }
        return 0;
    }
    const GK_T(af_k) k = GK_T(af_consts)(o, c->step[a]);
    GK_T(af_stage)(&sg, c, 1, 1, 5u, a, b, e);
    while (GK_T(stage_next)(&sg, &nb))
        GK_T(af_vloop)(sg.ptr[0], sg.ptr[1], sg.ptr[2], nb, &k, decay, step_u);
    return 0;
}

/* staged, 16-bit R and C (c->rsto set): their float32 copies, `work`, widened from the
 * storage (before pass 1), and the copies rounded into it (after the factors) */
static void GK_T(af_widen)(GK_T(af_ctx) *c, gk_index count, T **rw, T *work)
{
#if GK_OPT_STAGED
    const int bf = c->st->state == GK_DTYPE_BF16;
    T **cw = rw + count;
    for (gk_index a = 0; a < count; ++a) {
        const GK_T(af_arr) *s = &c->arr[a];
        rw[a] = cw[a] = NULL;
        if (s->m == 0) continue;
        gk_half_to_f32_n(bf, (const uint16_t *)(const void *)c->rsto[a], work, s->batch * s->m);
        rw[a] = work;
        work += s->batch * s->m;
        gk_half_to_f32_n(bf, (const uint16_t *)(const void *)c->csto[a], work, s->batch * s->n);
        cw[a] = work;
        work += s->batch * s->n;
    }
    c->rvar = rw;
    c->cvar = cw;
#else
    (void)c, (void)count, (void)rw, (void)work;
#endif
}

static void GK_T(af_round)(const GK_T(af_ctx) *c, gk_index count)
{
#if GK_OPT_STAGED
    const int bf = c->st->state == GK_DTYPE_BF16;
    for (gk_index a = 0; a < count; ++a) {
        const GK_T(af_arr) *s = &c->arr[a];
        if (s->m == 0) continue;
        gk_f32_to_half_n(bf, c->rvar[a], (uint16_t *)(void *)c->rsto[a], s->batch * s->m);
        gk_f32_to_half_n(bf, c->cvar[a], (uint16_t *)(void *)c->csto[a], s->batch * s->n);
    }
#else
    (void)c, (void)count;
#endif
}

/* the layout of every array and the scratch it needs; returns NULL when out of memory */
static void *GK_T(af_layout)(gk_index count, const gk_index *size, const gk_index *rows,
                             const gk_index *cols, GK_T(af_ctx) *c, gk_index **ntask,
                             int *owned, int *matrices)
{
    gk_index nr = 0, nc = 0, nm = 0, nw = 0;
    /* the layout first, in a first scratch-free walk: offsets only */
    size_t head = ((sizeof(GK_T(af_arr)) + 2 * sizeof(gk_index) + 3 * sizeof(double) +
                    2 * sizeof(T *)) * (size_t)count + sizeof(gk_index) + 63) & ~(size_t)63;
    for (gk_index a = 0; a < count; ++a) {
        if (rows[a] == 0 || size[a] == 0) continue;
        gk_index m = rows[a], n = cols[a], batch = size[a] / (m * n);
        gk_index w = n < GK_AF_TILE_W ? n : GK_AF_TILE_W;
        gk_index r = GK_AF_TILE / w < m ? GK_AF_TILE / w : m;
        if (!GK_AF_WHOLE(m, n)) {
            nr += batch * m * ((n + w - 1) / w);
            nc += r < m ? batch * ((m + r - 1) / r) * n : 0;  /* none one tile down */
        }
        nm += batch;
        nw += batch * (m + n);
    }
    if (!c->rsto) nw = 0;  /* float32 R and C are stepped in place */
    size_t bytes = head + sizeof(double) * (size_t)(nr + nc) + sizeof(T) * (size_t)(nm + nw);
    char *mem = (char *)gk_scratch(bytes, owned);
    if (!mem) return NULL;
    GK_T(af_arr) *arr = (GK_T(af_arr) *)mem;
    *ntask = (gk_index *)(arr + count);
    c->sums1 = (double *)(*ntask + count);
    c->sums2 = c->sums1 + 2 * count;
    c->start = (gk_index *)(void *)((T **)(void *)(c->sums2 + count) + 2 * count);
    c->start[0] = 0;
    for (gk_index a = 0; a < count; ++a) c->start[a + 1] = c->start[a] + size[a];
    c->rpart = (double *)(mem + head);
    c->cpart = c->rpart + nr;
    c->mean = (T *)(c->cpart + nc);
    nr = nc = nm = 0;
    *matrices = 0;
    for (gk_index a = 0; a < count; ++a) {
        GK_T(af_arr) *s = &arr[a];
        s->m = 0;
        if (rows[a] == 0 || size[a] == 0) {
            (*ntask)[a] = (size[a] + GK_CHUNK - 1) / GK_CHUNK;
            continue;
        }
        s->m = rows[a];
        s->n = cols[a];
        s->batch = size[a] / (s->m * s->n);
        s->w = s->n < GK_AF_TILE_W ? s->n : GK_AF_TILE_W;
        s->r = GK_AF_TILE / s->w < s->m ? GK_AF_TILE / s->w : s->m;
        s->nct = (s->n + s->w - 1) / s->w;
        s->nrt = (s->m + s->r - 1) / s->r;
        s->roff = nr;
        s->coff = nc;
        s->moff = nm;
        nm += s->batch;
        *matrices = 1;
        s->per = GK_AF_WHOLE(s->m, s->n) ? GK_AF_TILE / (s->m * s->n) : 0;
        if (s->per) {
            (*ntask)[a] = (s->batch + s->per - 1) / s->per;
            continue;
        }
        nr += s->batch * s->m * s->nct;
        nc += s->nrt > 1 ? s->batch * s->nrt * s->n : 0;
        (*ntask)[a] = s->batch * s->nrt * s->nct;
    }
    c->arr = arr;
    if (c->rsto) GK_T(af_widen)(c, count, (T **)(void *)(c->sums2 + count), c->mean + nm);
    return mem;
}

static int GK_T(af_run)(gk_index count, T *const *param, const T *const *grad,
                        T *const *row_var, T *const *col_var, T *const *variance,
                        const gk_index *size, const gk_index *rows, const gk_index *cols,
                        const int64_t *step, const gk_adafactor_options *o, T *work,
                        const gk_optim_storage *st)
{
    GK_T(af_ctx) c = {.param = param, .grad = grad, .rvar = row_var, .cvar = col_var,
                      .var = variance, .size = size, .step = step, .o = o, .st = st,
                      .work = work};
#if GK_OPT_STAGED
    if (st->state != GK_DTYPE_F32) {
        c.rsto = row_var;
        c.csto = col_var;
    }
#endif
    gk_index *ntask;
    int owned, matrices;
    void *mem = GK_T(af_layout)(count, size, rows, cols, &c, &ntask, &owned, &matrices);
    if (!mem) return GK_ENOMEM;
    gk_multi_pass one = {.nacc = 2, .task = GK_T(af_task), .ntask = ntask,
                         .sums = c.sums1, .cost = 2, .ctx = &c};
    int err = gk_multi_run(count, size, &one);
    if (err == GK_OK) {
        GK_T(af_factors)(&c, count);
        if (c.rsto) GK_T(af_round)(&c, count);
        gk_multi_pass two = {.nacc = matrices, .chunk = GK_T(af_chunk), .sums = c.sums2,
                             .span = GK_T(af_span), .reverse = 1, .cost = 2, .ctx = &c};
        err = gk_multi_run(count, size, &two);
    }
    gk_scratch_done(mem, owned);
    return err;
}

#if GK_OPT_STAGED
/* work: NULL, or one float32 per element of the list (the matrices' U) */
static int GK_T(adafactor_multi)(gk_index count, T *const *param, const T *const *grad,
                                 T *const *row_var, T *const *col_var, T *const *variance,
                                 const gk_index *size, const gk_index *rows,
                                 const gk_index *cols, const int64_t *step,
                                 const gk_adafactor_options *o GK_OPT_ST_PARAM, T *work)
{
    return GK_T(af_run)(count, param, grad, row_var, col_var, variance, size, rows, cols,
                        step, o, work, st);
}
#else
/* work: NULL, or one T per element of the list (the matrices' U, between the passes) */
static int GK_T(adafactor_multi)(gk_index count, T *const *param, const T *const *grad,
                                 T *const *row_var, T *const *col_var, T *const *variance,
                                 const gk_index *size, const gk_index *rows,
                                 const gk_index *cols, const int64_t *step,
                                 const gk_adafactor_options *o, T *work)
{
    return GK_T(af_run)(count, param, grad, row_var, col_var, variance, size, rows, cols,
                        step, o, work, NULL);
}
#endif
