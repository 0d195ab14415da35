/* BatchNorm kernels for element type T.  Included by norm.c once per dtype, after
 * reduce_tmpl.h.
 *
 * x is seen as (batch, channels, inner) with inner = prod(spatial).  Two layouts:
 *
 * - column path (inner < GK_BN_ROW_MIN; the (N, C) case): x is (batch, K) with
 *   K = channels * inner, and per-column reductions run over contiguous rows, vectorized
 *   across columns.  Rows are split into a fixed partition of tasks (gk_row_tasks) and
 *   columns into chunks of at most GK_BN_CW; each (task, chunk) walks its rows in blocks
 *   of about GK_BN_TILE elements.  A block is read twice while it sits in L2: once for
 *   its mean, once for its sum of squared deviations; blocks, then tasks, then the inner
 *   columns of a channel are merged with Chan's formula in a fixed order.  Rows of
 *   fewer than 64 columns are folded R at a time into longer rows (gk_bn_fold).
 * - plane path (inner >= GK_BN_ROW_MIN): each (n, c) plane of `inner` contiguous
 *   elements is cut into segments of GK_CHUNK elements; a segment's mean and squared
 *   deviations come from two passes over it in L1 (reduce_tmpl.h), and a channel merges
 *   its segments in (n, segment) order.
 *
 * Statistics are accumulated in double, from centred data, so x = 1e4 + N(0, 1) keeps
 * its variance to a few ulps, and every partition depends only on the shape, so the
 * results are bitwise identical for any thread count.  The backward accumulates sum(dy)
 * and sum(dy (x - mean)) the same way (plain sums: the data are already centred by the
 * saved mean).  The passes that write y and dx run in T (see "output passes"). */

#ifndef GK_BN_COMMON
#define GK_BN_COMMON
#define GK_BN_ROW_MIN ((gk_index)128)    /* inner size from which planes are reduced alone */
#define GK_BN_CW ((gk_index)1024)        /* columns per chunk in the column path */
#define GK_BN_TILE ((gk_index)32768)     /* elements per block in the column path */
#if defined(__GNUC__) || defined(__clang__)
#define GK_BN_PREFETCH(p) __builtin_prefetch(p)
#else
#define GK_BN_PREFETCH(p) ((void)(p))
#endif

/* Merge the statistics (nb, mb, qb) of w blocks into (na, ma, qa): count, mean and
 * sum of squared deviations (Chan, Golub & LeVeque), one block per column. */
GK_INLINE void gk_bn_merge_vec(double *GK_RESTRICT ma, double *GK_RESTRICT qa,
                               const double *GK_RESTRICT mb, const double *GK_RESTRICT qb,
                               gk_index w, double na, double nb)
{
    double fb = nb / (na + nb), fab = na * fb;
    for (gk_index j = 0; j < w; ++j) {
        double d = mb[j] - ma[j];
        ma[j] += d * fb;
        qa[j] += qb[j] + d * d * fab;
    }
}

typedef struct {
    gk_index ntask;   /* row tasks (fixed partition of the batch) */
    gk_index cw;      /* columns per chunk */
    gk_index nchunk;  /* column chunks */
    gk_index rb;      /* rows per block, a multiple of 4 */
} gk_bn_plan;

static inline gk_bn_plan gk_bn_column_plan(gk_index rows, gk_index cols)
{
    gk_bn_plan p;
    p.ntask = gk_row_tasks(rows, 2 * cols);
    p.cw = cols < GK_BN_CW ? (cols > 0 ? cols : 1) : GK_BN_CW;
    p.nchunk = (cols + p.cw - 1) / p.cw;
    p.rb = (GK_BN_TILE / p.cw) & ~(gk_index)3;
    if (p.rb < 4) p.rb = 4;
    return p;
}

/* Rows folded into one row of the column path: a narrow x (K < 64 columns, e.g. an
 * (N, 3) batch) is reduced as (N / R, R K) plus the N % R rows left over, so that the
 * loops across columns are long enough to vectorize. */
static inline gk_index gk_bn_fold(gk_index K)
{
    return K >= 64 || K < 1 ? 1 : (64 + K - 1) / K;
}

#endif

/* ---- forward statistics: column path ----------------------------------------------
 * All means are kept relative to a pivot per channel, its first value, so that the
 * means merged by Chan's formula are of the size of the spread, not of the offset: a
 * mean of 1e4 would carry an absolute rounding error of ulp(1e4) into every merge. */

/* Mean (relative to pv[j]) and squared deviations of columns [c0, c0 + w) over rows
 * [r0, r1) of x (K columns), written to mean_out[0..w) and m2_out[0..w). */
static void GK_T(bn_col_stats)(const T *GK_RESTRICT x, const double *GK_RESTRICT pivot,
                               gk_index K, gk_index r0, gk_index r1, gk_index c0,
                               gk_index w, gk_index rb, double *GK_RESTRICT mean_out,
                               double *GK_RESTRICT m2_out)
{
    double s[GK_BN_CW], q[GK_BN_CW], ma[GK_BN_CW], qa[GK_BN_CW], pv[GK_BN_CW];
    for (gk_index j = 0; j < w; ++j) {
        ma[j] = qa[j] = 0.0;
        pv[j] = pivot[c0 + j];
    }
    double na = 0.0;
    for (gk_index b0 = r0; b0 < r1; b0 += rb) {
        gk_index nb = r1 - b0 < rb ? r1 - b0 : rb;
        const T *xb = x + b0 * K + c0;
        gk_index i;
        double dnb = (double)nb;
        if (sizeof(T) == sizeof(float)) {
            /* float32 data: one pass of shifted sums, M2 = sum d^2 - (sum d)^2 / n with
             * d = x - pivot.  Its rounding error relative to M2 is about 1e-16 times
             * (mean - pivot)^2 / var, so the block is kept when that ratio is at most
             * 1e4 (an error far below a float32 ulp); otherwise, with the pivot far out
             * in the distribution, the exact two passes below run instead. */
            for (gk_index j = 0; j < w; ++j) s[j] = q[j] = 0.0;
            for (i = 0; i + 4 <= nb; i += 4) {
                const T *p0 = xb + i * K, *p1 = p0 + K, *p2 = p1 + K, *p3 = p2 + K;
                for (gk_index j = 0; j < w; ++j) {
                    double d0 = (double)p0[j] - pv[j], d1 = (double)p1[j] - pv[j];
                    double d2 = (double)p2[j] - pv[j], d3 = (double)p3[j] - pv[j];
                    s[j] += (d0 + d1) + (d2 + d3);
                    q[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
                }
            }
            for (; i < nb; ++i) {
                const T *p0 = xb + i * K;
                for (gk_index j = 0; j < w; ++j) {
                    double d0 = (double)p0[j] - pv[j];
                    s[j] += d0;
                    q[j] += d0 * d0;
                }
            }
            int exact = 1;
            for (gk_index j = 0; j < w; ++j) {
                double mb = s[j] / dnb, m2 = q[j] - s[j] * mb;
                exact &= !(mb * mb * dnb > 1e4 * m2);
                s[j] = mb;
                q[j] = m2;
            }
            if (exact) {
                for (gk_index j = 0; j < w; ++j) qa[j] += q[j];
                goto merge;
            }
        }
        /* pass 1: block sums of x - pivot, four rows added pairwise per step */
        for (gk_index j = 0; j < w; ++j) s[j] = 0.0;
        for (i = 0; i + 4 <= nb; i += 4) {
            const T *p0 = xb + i * K, *p1 = p0 + K, *p2 = p1 + K, *p3 = p2 + K;
            for (gk_index j = 0; j < w; ++j)
                s[j] += (((double)p0[j] - pv[j]) + ((double)p1[j] - pv[j]))
                      + (((double)p2[j] - pv[j]) + ((double)p3[j] - pv[j]));
        }
        for (; i < nb; ++i) {
            const T *p0 = xb + i * K;
            for (gk_index j = 0; j < w; ++j) s[j] += (double)p0[j] - pv[j];
        }
        for (gk_index j = 0; j < w; ++j) {
            s[j] /= dnb;                 /* block mean, relative to the pivot */
            q[j] = pv[j] + s[j];         /* its absolute value (rounded): the centre */
        }
        /* pass 2 (the block is in cache): squared deviations from the centre, which is
         * within an ulp of the block mean, so their sum is M2 to a relative ulp^2 */
        for (i = 0; i + 4 <= nb; i += 4) {
            const T *p0 = xb + i * K, *p1 = p0 + K, *p2 = p1 + K, *p3 = p2 + K;
            if (b0 + nb + i + 4 <= r1)  /* fetch the next block while this one computes */
                for (int r = 0; r < 4; ++r)
                    for (gk_index j = 0; j < w; j += 64 / (gk_index)sizeof(T))
                        GK_BN_PREFETCH(xb + (nb + i + r) * K + j);
            for (gk_index j = 0; j < w; ++j) {
                double d0 = (double)p0[j] - q[j], d1 = (double)p1[j] - q[j];
                double d2 = (double)p2[j] - q[j], d3 = (double)p3[j] - q[j];
                qa[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
            }
        }
        for (; i < nb; ++i) {
            const T *p0 = xb + i * K;
            for (gk_index j = 0; j < w; ++j) {
                double d0 = (double)p0[j] - q[j];
                qa[j] += d0 * d0;
            }
        }
        /* merge the block's mean into the running one; its M2 went straight into qa,
         * the merge adds the spread between the two means */
    merge:;
        double fb = dnb / (na + dnb), fab = na * fb;
        for (gk_index j = 0; j < w; ++j) {
            double d = s[j] - ma[j];
            ma[j] += d * fb;
            qa[j] += d * d * fab;
        }
        na += dnb;
    }
    for (gk_index j = 0; j < w; ++j) {
        mean_out[j] = ma[j];
        m2_out[j] = qa[j];
    }
}

/* Merge into (na, cmean, cm2) the statistics of rows [0, N) of x seen as (N, K), with
 * K = R * C * inner (R rows folded per row): column k belongs to channel
 * (k / inner) % C and its mean is relative to pivot[k].  part holds 2 K ntask doubles.
 * Returns the new count. */
static double GK_T(bn_col_stats_into)(const T *x, gk_index N, gk_index R, gk_index C,
                                      gk_index inner, double *part, const double *pivot,
                                      double na, double *cmean, double *cm2)
{
    gk_index K = R * C * inner;
    gk_bn_plan p = gk_bn_column_plan(N, K);
    gk_index items = p.ntask * p.nchunk;
    int nt = gk_threads_for(N * K);
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index it = 0; it < items; ++it) {
        gk_index t = it / p.nchunk, ch = it % p.nchunk;
        gk_index c0 = ch * p.cw;
        gk_index w = K - c0 < p.cw ? K - c0 : p.cw;
        double *pm = part + 2 * t * K;
        GK_T(bn_col_stats)(x, pivot, K, gk_task_begin(t, p.ntask, N),
                           gk_task_begin(t + 1, p.ntask, N), c0, w, p.rb, pm + c0,
                           pm + K + c0);
    }
    /* merge each column's tasks in order into task 0's slots (vectorized across
     * columns; how the columns are split among threads changes no column's result) */
    int ntc = gk_threads_for(K * p.ntask);
    #pragma omp parallel for num_threads(ntc) schedule(static) if(ntc > 1)
    for (gk_index ch = 0; ch < p.nchunk; ++ch) {
        gk_index c0 = ch * p.cw;
        gk_index w = K - c0 < p.cw ? K - c0 : p.cw;
        double nt0 = (double)gk_task_begin(1, p.ntask, N);
        for (gk_index t = 1; t < p.ntask; ++t) {
            double nb = (double)(gk_task_begin(t + 1, p.ntask, N) - gk_task_begin(t, p.ntask, N));
            gk_bn_merge_vec(part + c0, part + K + c0, part + 2 * t * K + c0,
                            part + 2 * t * K + K + c0, w, nt0, nb);
            nt0 += nb;
        }
    }
    /* then the R * inner columns of each channel, in order (each holds N values) */
    for (gk_index r = 0; r < R; ++r)
        for (gk_index i = 0; i < inner; ++i) {
            double nb = (double)N;
            double fb = nb / (na + nb), fab = na * fb;
            const double *pm = part + r * C * inner + i, *pq = pm + K;
            for (gk_index c = 0; c < C; ++c) {
                double d = pm[c * inner] - cmean[c];
                cmean[c] += d * fb;
                cm2[c] += pq[c * inner] + d * d * fab;
            }
            na += nb;
        }
    return na;
}

/* Per-channel (mean, M2) over the column path; pivot has R K doubles (scratch). */
static void GK_T(bn_col_channel_stats)(const T *x, gk_index N, gk_index C, gk_index inner,
                                       double *part, double *pivot, double *cmean,
                                       double *cm2)
{
    gk_index K = C * inner, R = gk_bn_fold(K);
    for (gk_index k = 0; k < R * K; ++k)
        pivot[k] = (double)x[((k / inner) % C) * inner];
    for (gk_index c = 0; c < C; ++c) cmean[c] = cm2[c] = 0.0;
    double na = 0.0;
    if (N / R > 0)
        na = GK_T(bn_col_stats_into)(x, N / R, R, C, inner, part, pivot, na, cmean, cm2);
    if (N % R > 0)
        GK_T(bn_col_stats_into)(x + (N / R) * R * K, N % R, 1, C, inner, part, pivot, na,
                                cmean, cm2);
    for (gk_index c = 0; c < C; ++c)
        cmean[c] += pivot[c * inner];
}

/* ---- forward statistics: plane path ----------------------------------------------- */

/* sum_j (x[j] - p) over one chunk */
GK_INLINE double GK_T(bn_chunk_sum_shifted)(const T *GK_RESTRICT x, gk_index n, double p)
{
    double acc[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k)
            acc[k] += (double)x[j + k] - p;
    for (int k = 0; j + k < n; ++k)
        acc[k] += (double)x[j + k] - p;
    return gk_fold16(acc);
}

static void GK_T(bn_plane_channel_stats)(const T *x, gk_index N, gk_index C, gk_index inner,
                                         double *seg, double *pivot, double *cmean,
                                         double *cm2)
{
    gk_index nseg = (inner + GK_CHUNK - 1) / GK_CHUNK;
    gk_index total = N * C * nseg;
    for (gk_index c = 0; c < C; ++c)
        pivot[c] = (double)x[c * inner];
    int nt = gk_threads_for(N * C * inner);
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index sg = 0; sg < total; ++sg) {
        gk_index plane = sg / nseg, off = (sg % nseg) * GK_CHUNK;
        gk_index len = inner - off < GK_CHUNK ? inner - off : GK_CHUNK;
        const T *p = x + plane * inner + off;
        double pv = pivot[plane % C];
        if (sizeof(T) == sizeof(float)) {
            /* one pass of shifted sums, kept under the same condition as the column
             * path's (see bn_col_stats); else the exact two passes */
            double sd, sd2;
            GK_T(chunk_shifted)(p, len, pv, &sd, &sd2);
            double mb = sd / (double)len, m2 = sd2 - sd * mb;
            if (!(mb * mb * (double)len > 1e4 * m2)) {
                seg[2 * sg] = mb;
                seg[2 * sg + 1] = m2;
                continue;
            }
        }
        double m = GK_T(bn_chunk_sum_shifted)(p, len, pv) / (double)len;
        seg[2 * sg] = m;
        seg[2 * sg + 1] = GK_T(chunk_sumsqdev)(p, len, pv + m);
    }
    /* merge in (n, segment) order; every channel holds the same counts, so the merge
     * runs across channels */
    double na = 0.0;
    for (gk_index c = 0; c < C; ++c) cmean[c] = cm2[c] = 0.0;
    for (gk_index n = 0; n < N; ++n)
        for (gk_index s = 0; s < nseg; ++s) {
            gk_index off = s * GK_CHUNK;
            double nb = (double)(inner - off < GK_CHUNK ? inner - off : GK_CHUNK);
            double fb = nb / (na + nb), fab = na * fb;
            const double *sg = seg + 2 * (n * C * nseg + s);
            for (gk_index c = 0; c < C; ++c) {
                double d = sg[2 * nseg * c] - cmean[c];
                cmean[c] += d * fb;
                cm2[c] += sg[2 * nseg * c + 1] + d * d * fab;
            }
            na += nb;
        }
    for (gk_index c = 0; c < C; ++c)
        cmean[c] += pivot[c];
}

/* ---- output passes ----------------------------------------------------------------
 * They run in T with per-column constants rounded to T (8 float lanes per AVX2
 * register, no conversions), except that the mean is split in two, mh + ml, so that
 * x - mean = (x - mh) - ml keeps full accuracy for data with a large mean (x - mh is
 * exact by Sterbenz's lemma when x is near the mean).  The error is a few ulps of the
 * largest term rather than the half ulp of a float64 computation rounded once; the
 * statistics themselves are float64 sums (above). */

/* Per-channel constants, one entry per column in the column path. */
typedef struct {
    T *mh, *ml, *s, *b, *k;
} GK_T(bn_coef);

/* forward, column path: y = ((x - mh) - ml) s + b, row by row, vectorized across the
 * K columns */
static void GK_T(bn_col_fwd_apply)(const T *x, T *y, gk_index N, gk_index K,
                                   GK_T(bn_coef) cf)
{
    int nt = gk_threads_for(N * K);
    const T *GK_RESTRICT mh = cf.mh, *GK_RESTRICT ml = cf.ml;
    const T *GK_RESTRICT s = cf.s, *GK_RESTRICT b = cf.b;
    const int stream = (size_t)(N * K) * sizeof(T) >= GK_STREAM_MIN_BYTES && y != x;
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index i = 0; i < N; ++i) {
        const T *GK_RESTRICT xi = x + i * K;
        T *GK_RESTRICT yi = y + i * K;
        T buf[GK_STREAM_PIECE];
        for (gk_index o = 0; o < K; o += GK_STREAM_PIECE) {
            gk_index len = K - o < GK_STREAM_PIECE ? K - o : GK_STREAM_PIECE;
            T *GK_RESTRICT dst = stream ? buf : yi + o;  /* see gk_stream_f32 */
            for (gk_index j = 0; j < len; ++j)
                dst[j] = ((xi[o + j] - mh[o + j]) - ml[o + j]) * s[o + j] + b[o + j];
            if (stream) GK_T(stream_out)(yi + o, buf, len);
        }
        if (stream) gk_sfence();
    }
}

/* backward, column path: dx = k ((dy - b) - (x - mh) s) */
static void GK_T(bn_col_bwd_apply)(const T *dy, const T *x, T *dx, gk_index N, gk_index K,
                                   GK_T(bn_coef) cf)
{
    int nt = gk_threads_for(N * K);
    const T *GK_RESTRICT mh = cf.mh, *GK_RESTRICT s = cf.s;
    const T *GK_RESTRICT b = cf.b, *GK_RESTRICT k = cf.k;
    const int stream = (size_t)(N * K) * sizeof(T) >= GK_STREAM_MIN_BYTES && dx != x &&
                       dx != dy;
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index i = 0; i < N; ++i) {
        const T *GK_RESTRICT gi = dy + i * K;
        const T *GK_RESTRICT xi = x + i * K;
        T *GK_RESTRICT oi = dx + i * K;
        T buf[GK_STREAM_PIECE];
        for (gk_index o = 0; o < K; o += GK_STREAM_PIECE) {
            gk_index len = K - o < GK_STREAM_PIECE ? K - o : GK_STREAM_PIECE;
            T *GK_RESTRICT dst = stream ? buf : oi + o;
            for (gk_index j = 0; j < len; ++j)
                dst[j] = k[o + j] * ((gi[o + j] - b[o + j]) - (xi[o + j] - mh[o + j]) * s[o + j]);
            if (stream) GK_T(stream_out)(oi + o, buf, len);
        }
        if (stream) gk_sfence();
    }
}

/* Plane path, both directions (dy NULL: forward): segment by segment with the
 * channel's scalars. */
static void GK_T(bn_plane_apply)(const T *dy, const T *x, T *out, gk_index N, gk_index C,
                                 gk_index inner, GK_T(bn_coef) cf)
{
    gk_index nseg = (inner + GK_CHUNK - 1) / GK_CHUNK;
    gk_index total = N * C * nseg;
    int nt = gk_threads_for(N * C * inner);
    const int stream = (size_t)(N * C * inner) * sizeof(T) >= GK_STREAM_MIN_BYTES &&
                       out != x && out != dy;
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index sg = 0; sg < total; ++sg) {
        gk_index plane = sg / nseg, off = (sg % nseg) * GK_CHUNK;
        gk_index len = inner - off < GK_CHUNK ? inner - off : GK_CHUNK;
        gk_index c = plane % C;
        const T *GK_RESTRICT xi = x + plane * inner + off;
        T *GK_RESTRICT oi = out + plane * inner + off;
        T mh = cf.mh[c], s = cf.s[c], b = cf.b[c];
        T buf[GK_CHUNK];
        T *GK_RESTRICT dst = stream ? buf : oi;  /* see gk_stream_f32 */
        if (dy) {
            const T *GK_RESTRICT gi = dy + plane * inner + off;
            T k = cf.k[c];
            for (gk_index j = 0; j < len; ++j)
                dst[j] = k * ((gi[j] - b) - (xi[j] - mh) * s);
        } else {
            T ml = cf.ml[c];
            for (gk_index j = 0; j < len; ++j)
                dst[j] = ((xi[j] - mh) - ml) * s + b;
        }
        if (stream) {
            GK_T(stream_out)(oi, buf, len);
            gk_sfence();
        }
    }
}

/* Scratch of one call, allocated before anything is written so that running out of
 * memory leaves the outputs alone: the partial statistics, 2 * C per-channel sums, a
 * double per column (the pivots of the forward, the saved mean in the backward) and
 * the output pass's constants. */
typedef struct {
    double *part, *stat, *m;
    GK_T(bn_coef) cf;
} GK_T(bn_work);

static void *GK_T(bn_scratch)(gk_index N, gk_index C, gk_index inner, GK_T(bn_work) *wk)
{
    int cols = inner < GK_BN_ROW_MIN;
    gk_index K = C * inner, R = gk_bn_fold(K);
    gk_index npart, ncolumn;    /* ncolumn: length of each (expanded) constant */
    if (cols) {
        gk_index folded = N / R > 0 ? 2 * R * K * gk_bn_column_plan(N / R, R * K).ntask : 0;
        gk_index rest = N % R > 0 ? 2 * K * gk_bn_column_plan(N % R, K).ntask : 0;
        npart = folded > rest ? folded : rest;
        ncolumn = R * K > C ? R * K : C;
    } else {
        npart = 2 * N * C * ((inner + GK_CHUNK - 1) / GK_CHUNK);
        ncolumn = C;
    }
    gk_index ndouble = npart + 2 * C + ncolumn;
    size_t bytes = sizeof(double) * (size_t)ndouble + sizeof(T) * (size_t)(5 * ncolumn);
    char *buf = (char *)malloc(bytes > 0 ? bytes : 1);
    if (!buf) return NULL;
    wk->part = (double *)buf;
    wk->stat = wk->part + npart;
    wk->m = wk->stat + 2 * C;
    T *t = (T *)(buf + sizeof(double) * (size_t)ndouble);
    wk->cf.mh = t;
    wk->cf.ml = t + ncolumn;
    wk->cf.s = t + 2 * ncolumn;
    wk->cf.b = t + 3 * ncolumn;
    wk->cf.k = t + 4 * ncolumn;
    return buf;
}

/* Expand per-channel constants (entries [0, C) of each array) to one per column of
 * the column path's rows of R C inner, in place, walking backwards so nothing is
 * overwritten before it is read. */
static void GK_T(bn_expand)(T *a, gk_index C, gk_index inner, gk_index R)
{
    gk_index K = C * inner;
    if (inner > 1)
        for (gk_index c = C - 1; c >= 0; --c) {
            T v = a[c];
            for (gk_index j = inner - 1; j >= 0; --j) a[c * inner + j] = v;
        }
    for (gk_index r = 1; r < R; ++r)
        for (gk_index k = 0; k < K; ++k) a[r * K + k] = a[k];
}

static void GK_T(bn_expand_double)(double *a, gk_index C, gk_index inner, gk_index R)
{
    gk_index K = C * inner;
    if (inner > 1)
        for (gk_index c = C - 1; c >= 0; --c) {
            double v = a[c];
            for (gk_index j = inner - 1; j >= 0; --j) a[c * inner + j] = v;
        }
    for (gk_index r = 1; r < R; ++r)
        for (gk_index k = 0; k < K; ++k) a[r * K + k] = a[k];
}

/* ---- forward ---------------------------------------------------------------------- */

static int GK_T(batch_norm_fwd)(const T *x, const T *w, const T *b, T *y, T *mean, T *rstd,
                                T *running_mean, T *running_var, gk_index N, gk_index C,
                                gk_index inner, int training, double momentum, double eps)
{
    gk_index count = N * inner;
    if (C == 0) return GK_OK;
    int cols = inner < GK_BN_ROW_MIN;
    GK_T(bn_work) wk;
    void *buf = GK_T(bn_scratch)(N, C, inner, &wk);
    if (!buf) return GK_ENOMEM;
    double *cmean = wk.stat, *cm2 = wk.stat + C;
    GK_T(bn_coef) cf = wk.cf;
    if (training && count > 0) {
        if (cols)
            GK_T(bn_col_channel_stats)(x, N, C, inner, wk.part, wk.m, cmean, cm2);
        else
            GK_T(bn_plane_channel_stats)(x, N, C, inner, wk.part, wk.m, cmean, cm2);
    }
    for (gk_index c = 0; c < C; ++c) {
        double m, r;
        if (training) {
            m = count > 0 ? cmean[c] : 0.0;
            double var = count > 0 ? cm2[c] / (double)count : 0.0;
            r = 1.0 / sqrt(var + eps);
            /* running stats: an empty batch leaves them alone, as torch does */
            if (running_mean && count > 1) {
                double unbiased = cm2[c] / (double)(count - 1);
                running_mean[c] = (T)((1.0 - momentum) * (double)running_mean[c] + momentum * m);
                running_var[c] = (T)((1.0 - momentum) * (double)running_var[c] + momentum * unbiased);
            }
        } else {
            m = (double)running_mean[c];
            r = 1.0 / sqrt((double)running_var[c] + eps);
        }
        if (mean) mean[c] = (T)m;
        if (rstd) rstd[c] = (T)r;
        cf.mh[c] = (T)m;
        cf.ml[c] = (T)(m - (double)cf.mh[c]);
        cf.s[c] = (T)(w ? r * (double)w[c] : r);
        cf.b[c] = b ? b[c] : (T)0;
    }
    if (count > 0) {
        if (cols) {
            gk_index K = C * inner, R = gk_bn_fold(K), Nf = N / R * R;
            GK_T(bn_expand)(cf.mh, C, inner, R);
            GK_T(bn_expand)(cf.ml, C, inner, R);
            GK_T(bn_expand)(cf.s, C, inner, R);
            GK_T(bn_expand)(cf.b, C, inner, R);
            GK_T(bn_col_fwd_apply)(x, y, N / R, R * K, cf);
            GK_T(bn_col_fwd_apply)(x + Nf * K, y + Nf * K, N - Nf, K, cf);
        } else {
            GK_T(bn_plane_apply)(NULL, x, y, N, C, inner, cf);
        }
    }
    free(buf);
    return GK_OK;
}

/* ---- backward --------------------------------------------------------------------- */

/* sum dy and sum dy (x - m[j]) of columns [c0, c0 + w) over rows [r0, r1). */
static void GK_T(bn_col_grad_sums)(const T *GK_RESTRICT dy, const T *GK_RESTRICT x,
                                   const double *GK_RESTRICT m, gk_index K, gk_index r0,
                                   gk_index r1, gk_index c0, gk_index w,
                                   double *GK_RESTRICT s1_out, double *GK_RESTRICT s2_out)
{
    double s1[GK_BN_CW], s2[GK_BN_CW], mm[GK_BN_CW];
    for (gk_index j = 0; j < w; ++j) {
        s1[j] = s2[j] = 0.0;
        mm[j] = m[c0 + j];
    }
    gk_index i = r0;
    for (; i + 4 <= r1; i += 4) {
        const T *g0 = dy + i * K + c0, *g1 = g0 + K, *g2 = g1 + K, *g3 = g2 + K;
        const T *p0 = x + i * K + c0, *p1 = p0 + K, *p2 = p1 + K, *p3 = p2 + K;
        for (gk_index j = 0; j < w; ++j) {
            double a0 = (double)g0[j], a1 = (double)g1[j], a2 = (double)g2[j], a3 = (double)g3[j];
            s1[j] += (a0 + a1) + (a2 + a3);
            s2[j] += (a0 * ((double)p0[j] - mm[j]) + a1 * ((double)p1[j] - mm[j]))
                   + (a2 * ((double)p2[j] - mm[j]) + a3 * ((double)p3[j] - mm[j]));
        }
    }
    for (; i < r1; ++i) {
        const T *g0 = dy + i * K + c0, *p0 = x + i * K + c0;
        for (gk_index j = 0; j < w; ++j) {
            double a0 = (double)g0[j];
            s1[j] += a0;
            s2[j] += a0 * ((double)p0[j] - mm[j]);
        }
    }
    for (gk_index j = 0; j < w; ++j) {
        s1_out[j] = s1[j];
        s2_out[j] = s2[j];
    }
}

/* sum dy and sum dy (x - m) over one segment (n <= GK_CHUNK), 16 lanes each */
static void GK_T(bn_seg_grad_sums)(const T *GK_RESTRICT dy, const T *GK_RESTRICT x,
                                   gk_index n, double m, double *s1, double *s2)
{
    /* native-width vectors with the 16-lane semantics of reduce_tmpl.h */
    gk_vd a[GK_NACC], q[GK_NACC];
    GK_ZERO_ACC(a);
    GK_ZERO_ACC(q);
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int v = 0; v < GK_NACC; ++v) {
            gk_vd g = GK_T(ldv)(dy + j + v * GK_VW);
            a[v] += g;
            q[v] += g * (GK_T(ldv)(x + j + v * GK_VW) - m);
        }
    double a1[GK_LANES], a2[GK_LANES];
    gk_spill(a, a1);
    gk_spill(q, a2);
    for (int k = 0; j + k < n; ++k) {
        double g = (double)dy[j + k];
        a1[k] += g;
        a2[k] += g * ((double)x[j + k] - m);
    }
    *s1 = gk_fold16(a1);
    *s2 = gk_fold16(a2);
}

/* Add into (sdy, sdyx) the sums of rows [0, N) of dy and x seen as (N, K), with
 * K = R * C * inner (R rows folded per row, column k in channel (k / inner) % C, m[k]
 * its channel's mean).  part holds 2 K ntask doubles. */
static void GK_T(bn_col_grad_into)(const T *dy, const T *x, gk_index N, gk_index R,
                                   gk_index C, gk_index inner, double *part, const double *m,
                                   double *sdy, double *sdyx)
{
    gk_index K = R * C * inner;
    gk_bn_plan p = gk_bn_column_plan(N, K);
    gk_index items = p.ntask * p.nchunk;
    int nt = gk_threads_for(N * K);
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index it = 0; it < items; ++it) {
        gk_index t = it / p.nchunk, ch = it % p.nchunk;
        gk_index c0 = ch * p.cw;
        gk_index wd = K - c0 < p.cw ? K - c0 : p.cw;
        double *pt = part + 2 * t * K;
        GK_T(bn_col_grad_sums)(dy, x, m, K, gk_task_begin(t, p.ntask, N),
                               gk_task_begin(t + 1, p.ntask, N), c0, wd, pt + c0,
                               pt + K + c0);
    }
    /* add the tasks in order into task 0's slots, then each channel's columns */
    int ntc = gk_threads_for(K * p.ntask);
    #pragma omp parallel for num_threads(ntc) schedule(static) if(ntc > 1)
    for (gk_index ch = 0; ch < p.nchunk; ++ch) {
        gk_index c0 = ch * p.cw;
        gk_index wd = K - c0 < p.cw ? K - c0 : p.cw;
        double *GK_RESTRICT a1 = part + c0, *GK_RESTRICT a2 = part + K + c0;
        for (gk_index t = 1; t < p.ntask; ++t) {
            const double *GK_RESTRICT b1 = part + 2 * t * K + c0;
            const double *GK_RESTRICT b2 = b1 + K;
            for (gk_index j = 0; j < wd; ++j) {
                a1[j] += b1[j];
                a2[j] += b2[j];
            }
        }
    }
    for (gk_index r = 0; r < R; ++r)
        for (gk_index i = 0; i < inner; ++i) {
            const double *p1 = part + r * C * inner + i, *p2 = p1 + K;
            for (gk_index c = 0; c < C; ++c) {
                sdy[c] += p1[c * inner];
                sdyx[c] += p2[c * inner];
            }
        }
}

static int GK_T(batch_norm_bwd)(const T *dy, const T *x, const T *mean, const T *rstd,
                                const T *w, T *dx, T *dw, T *db, gk_index N, gk_index C,
                                gk_index inner)
{
    gk_index count = N * inner;
    if (C == 0) return GK_OK;
    if (count == 0) {
        for (gk_index c = 0; c < C; ++c) {
            if (dw) dw[c] = 0;
            if (db) db[c] = 0;
        }
        return GK_OK;
    }
    int cols = inner < GK_BN_ROW_MIN;
    gk_index K = C * inner;
    GK_T(bn_work) wk;
    void *buf = GK_T(bn_scratch)(N, C, inner, &wk);
    if (!buf) return GK_ENOMEM;
    double *part = wk.part, *sdy = wk.stat, *sdyx = wk.stat + C, *dm = wk.m;
    GK_T(bn_coef) cf = wk.cf;
    for (gk_index c = 0; c < C; ++c) dm[c] = (double)mean[c];
    if (cols) {
        gk_index R = gk_bn_fold(K);
        GK_T(bn_expand_double)(dm, C, inner, R);
        for (gk_index c = 0; c < C; ++c) sdy[c] = sdyx[c] = 0.0;
        if (N / R > 0)
            GK_T(bn_col_grad_into)(dy, x, N / R, R, C, inner, part, dm, sdy, sdyx);
        if (N % R > 0)
            GK_T(bn_col_grad_into)(dy + (N / R) * R * K, x + (N / R) * R * K, N % R, 1, C,
                                   inner, part, dm, sdy, sdyx);
    } else {
        gk_index nseg = (inner + GK_CHUNK - 1) / GK_CHUNK;
        gk_index total = N * C * nseg;
        int nt = gk_threads_for(count * C);
        #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
        for (gk_index sg = 0; sg < total; ++sg) {
            gk_index plane = sg / nseg, off = (sg % nseg) * GK_CHUNK;
            gk_index len = inner - off < GK_CHUNK ? inner - off : GK_CHUNK;
            GK_T(bn_seg_grad_sums)(dy + plane * inner + off, x + plane * inner + off, len,
                                   dm[plane % C], part + 2 * sg, part + 2 * sg + 1);
        }
        for (gk_index c = 0; c < C; ++c) sdy[c] = sdyx[c] = 0.0;
        for (gk_index n = 0; n < N; ++n)
            for (gk_index s = 0; s < nseg; ++s) {
                const double *sg = part + 2 * (n * C * nseg + s);
                for (gk_index c = 0; c < C; ++c) {
                    sdy[c] += sg[2 * nseg * c];
                    sdyx[c] += sg[2 * nseg * c + 1];
                }
            }
    }
    /* dx = w r (dy - mean(dy) - xhat mean(dy xhat)) with xhat = (x - m) r:
     * k = w r, b = mean(dy), s = r^2 mean(dy (x - m)); m is the saved mean, already a T */
    double inv = 1.0 / (double)count;
    for (gk_index c = 0; c < C; ++c) {
        double r = (double)rstd[c];
        if (dw) dw[c] = (T)(r * sdyx[c]);
        if (db) db[c] = (T)sdy[c];
        cf.mh[c] = mean[c];
        cf.k[c] = (T)(w ? (double)w[c] * r : r);
        cf.b[c] = (T)(sdy[c] * inv);
        cf.s[c] = (T)(r * r * (sdyx[c] * inv));
    }
    if (cols) {
        gk_index R = gk_bn_fold(K), Nf = N / R * R;
        GK_T(bn_expand)(cf.mh, C, inner, R);
        GK_T(bn_expand)(cf.k, C, inner, R);
        GK_T(bn_expand)(cf.b, C, inner, R);
        GK_T(bn_expand)(cf.s, C, inner, R);
        GK_T(bn_col_bwd_apply)(dy, x, dx, N / R, R * K, cf);
        GK_T(bn_col_bwd_apply)(dy + Nf * K, x + Nf * K, dx + Nf * K, N - Nf, K, cf);
    } else {
        GK_T(bn_plane_apply)(dy, x, dx, N, C, inner, cf);
    }
    free(buf);
    return GK_OK;
}
