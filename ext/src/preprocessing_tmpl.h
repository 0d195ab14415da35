/* Preprocessing kernels for element type T.  Included by preprocessing.c once per dtype.
 *
 * Column statistics run over fixed row chunks (pp_chunk_rows, a function of the width
 * only).  Each chunk's mean and centred sum of squares are computed from the chunk while
 * it sits in L1/L2 (two short passes, so a large mean costs no accuracy), chunks are
 * folded into their task with Chan's update in order, and the tasks (a fixed partition,
 * gk_tasks) are folded in order: bitwise the same for any thread count. */

/* Column sums of rows [r0, r1) of x, in double, added to acc (length cols). */
GK_INLINE void GK_T(pp_add_rows)(const T *GK_RESTRICT x, gk_index r0, gk_index r1,
                                  gk_index cols, double *GK_RESTRICT acc)
{
    for (gk_index i = r0; i < r1; ++i) {
        const T *GK_RESTRICT xi = x + i * cols;
        for (gk_index j = 0; j < cols; ++j)
            acc[j] += (double)xi[j];
    }
}

/* The mean and centred sum of squares of each column over rows [r0, r1) of x (a chunk:
 * it stays in L1/L2 for the second pass), into cm and cm2: the mean as the first row
 * plus the mean offset from it (a constant column gives its value exactly, offsets 0,
 * so its M2 and every Chan delta are exactly 0: a plain sum / n can miss the value by
 * an ulp, whose square the merges then add up: var 1.9e-34 for 0.1 repeated), then
 * the squared deviations from it.  Each column's sums run row after row; the columns go
 * PP_CB vectors at a time with their sums in registers (a loop over the whole row
 * loaded and stored every sum for every element: twice the time of a read of x).
 * pf (data from memory): the second pass prefetches the block's columns of the next
 * chunk into L2, so memory keeps streaming while this chunk is summed from L1 (100000
 * x 256 float64 at 2 threads on an Intel Xeon guest: 4.65 -> 4.09 ms, the read probe
 * 3.38; in pass 1 instead, in both, or two chunks ahead: no better). */
#ifndef PP_CB
#if GK_VBYTES == 64
#define PP_CB 8
#else
#define PP_CB 4
#endif
#endif
GK_INLINE void GK_T(pp_chunk_block)(const int nv, const int pf, const T *GK_RESTRICT x,
                                    gk_index n_c, gk_index cols, double *GK_RESTRICT cm,
                                    double *GK_RESTRICT cm2)
{
    gk_vd b[PP_CB], s[PP_CB];
    const double n = (double)n_c;
    for (int v = 0; v < nv; ++v) b[v] = GK_T(ldvt)(x + v * GK_VW), s[v] = (gk_vd){0};
    for (gk_index i = 1; i < n_c; ++i)
        for (int v = 0; v < nv; ++v) s[v] += GK_T(ldvt)(x + i * cols + v * GK_VW) - b[v];
    for (int v = 0; v < nv; ++v) b[v] = b[v] + s[v] / n, s[v] = (gk_vd){0};
    for (gk_index i = 0; i < n_c; ++i) {
        if (pf)   /* the same columns of the next chunk, into L2 (L1 holds this one) */
            for (size_t o = 0; o < (size_t)nv * GK_VW * sizeof(T); o += 64)
                __builtin_prefetch((const char *)(x + (n_c + i) * cols) + o, 0, 2);
        for (int v = 0; v < nv; ++v) {
            const gk_vd d = GK_T(ldvt)(x + i * cols + v * GK_VW) - b[v];
            s[v] += d * d;
        }
    }
    for (int v = 0; v < nv; ++v) {
        __builtin_memcpy(cm + v * GK_VW, &b[v], sizeof(gk_vd));
        __builtin_memcpy(cm2 + v * GK_VW, &s[v], sizeof(gk_vd));
    }
}

GK_INLINE void GK_T(pp_chunk_moments)(const int pf, const T *GK_RESTRICT x0, gk_index n_c,
                                      gk_index cols, double *GK_RESTRICT cm,
                                      double *GK_RESTRICT cm2)
{
    gk_index j = 0;
    if (pf)
        for (; j + PP_CB * GK_VW <= cols; j += PP_CB * GK_VW)
            GK_T(pp_chunk_block)(PP_CB, 1, x0 + j, n_c, cols, cm + j, cm2 + j);
    for (; j + PP_CB * GK_VW <= cols; j += PP_CB * GK_VW)
        GK_T(pp_chunk_block)(PP_CB, 0, x0 + j, n_c, cols, cm + j, cm2 + j);
    for (; j + GK_VW <= cols; j += GK_VW)
        GK_T(pp_chunk_block)(1, 0, x0 + j, n_c, cols, cm + j, cm2 + j);
    for (; j < cols; ++j) {   /* the same operations, one column at a time */
        double s = 0.0, q = 0.0;
        for (gk_index i = 1; i < n_c; ++i) s += (double)x0[i * cols + j] - (double)x0[j];
        const double m = (double)x0[j] + s / (double)n_c;
        for (gk_index i = 0; i < n_c; ++i) {
            const double d = (double)x0[i * cols + j] - m;
            q += d * d;
        }
        cm[j] = m, cm2[j] = q;
    }
}

static int GK_T(col_moments)(const T *x, gk_index rows, gk_index cols, double *mean,
                             double *m2)
{
    gk_index chunk = pp_chunk_rows(cols);
    gk_index nchunk = (rows + chunk - 1) / chunk;
    gk_index ntask = gk_tasks(nchunk, 4 * cols);
    /* per task: its mean and M2, and one chunk's mean and M2 */
    double *scratch = (double *)malloc(sizeof(double) * (size_t)(4 * cols * ntask));
    gk_index *count = (gk_index *)malloc(sizeof(gk_index) * (size_t)ntask);
    if (!scratch || !count) {
        free(scratch);
        free(count);
        return GK_ENOMEM;
    }
    int nt = gk_threads_for(rows * cols);
    /* data from memory: each chunk's second pass prefetches the next chunk */
    const int far = sizeof(T) * (size_t)(rows * cols) >= gk_get_stream_min_bytes();
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index k = 0; k < ntask; ++k) {
        double *tm = scratch + 4 * cols * k, *tm2 = tm + cols;
        double *cm = tm2 + cols, *cm2 = cm + cols;
        gk_index n_t = 0;
        gk_index c0 = gk_task_begin(k, ntask, nchunk), c1 = gk_task_begin(k + 1, ntask, nchunk);
        for (gk_index c = c0; c < c1; ++c) {
            gk_index r0 = c * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
            GK_T(pp_chunk_moments)(far && c + 1 < c1, x + r0 * cols, r1 - r0, cols, cm, cm2);
            gk_chan_fold(&n_t, tm, tm2, r1 - r0, cm, cm2, cols);
        }
        count[k] = n_t;
    }
    gk_index n = 0;
    for (gk_index k = 0; k < ntask; ++k) {
        double *tm = scratch + 4 * cols * k;
        gk_chan_fold(&n, mean, m2, count[k], tm, tm + cols, cols);
    }
    free(scratch);
    free(count);
    return GK_OK;
}

/* The weighted, NaN-ignoring sums of one chunk (n_c rows of x from x0, weights wt or
 * none), about the shifts cs: per column the weight count cn, the mean cm and the
 * weighted squared deviations cq.  A NaN value is replaced by the centre, so it adds 0
 * (see GK_CSC_SUM on why not a conditional sum), and its weight is left out of the
 * count.  As pp_chunk_block, the columns go PP_CB vectors at a time with their sums in
 * registers over the rows (the same operations per column in the same order as a
 * column at a time: the same bits), and pf prefetches the next chunk's columns. */
GK_INLINE void GK_T(pp_wchunk_block)(const int nv, const int pf, const T *GK_RESTRICT x,
                                     const double *GK_RESTRICT wt, gk_index n_c,
                                     gk_index cols, const double *GK_RESTRICT cs,
                                     double *GK_RESTRICT cn, double *GK_RESTRICT cm,
                                     double *GK_RESTRICT cq)
{
    gk_vd sh[PP_CB], n[PP_CB], a[PP_CB];
    const gk_vl one = (gk_vl)((gk_vd){0} + 1.0);
    for (int v = 0; v < nv; ++v)
        sh[v] = gk_ldv_f64(cs + v * GK_VW), n[v] = (gk_vd){0}, a[v] = (gk_vd){0};
    for (gk_index i = 0; i < n_c; ++i) {
        const gk_vd wi = (gk_vd){0} + (wt ? wt[i] : 1.0);
        for (int v = 0; v < nv; ++v) {
            const gk_vd xv = GK_T(ldvt)(x + i * cols + v * GK_VW);
            const gk_vl ok = (gk_vl)(xv == xv);
            n[v] += (gk_vd)(ok & one) * wi;
            a[v] += (gk_vsel(ok, xv, sh[v]) - sh[v]) * wi;
        }
    }
    for (int v = 0; v < nv; ++v) {
        const gk_vl pos = (gk_vl)(n[v] > 0.0);
        sh[v] = gk_vsel(pos, sh[v] + a[v] / n[v], (gk_vd){0});   /* the mean, now */
        a[v] = (gk_vd){0};
    }
    for (gk_index i = 0; i < n_c; ++i) {
        if (pf)
            for (size_t o = 0; o < (size_t)nv * GK_VW * sizeof(T); o += 64)
                __builtin_prefetch((const char *)(x + (n_c + i) * cols) + o, 0, 2);
        const gk_vd wi = (gk_vd){0} + (wt ? wt[i] : 1.0);
        for (int v = 0; v < nv; ++v) {
            const gk_vd xv = GK_T(ldvt)(x + i * cols + v * GK_VW);
            const gk_vd d = gk_vsel((gk_vl)(xv == xv), xv, sh[v]) - sh[v];
            a[v] += d * d * wi;
        }
    }
    for (int v = 0; v < nv; ++v) {
        __builtin_memcpy(cn + v * GK_VW, &n[v], sizeof(gk_vd));
        __builtin_memcpy(cm + v * GK_VW, &sh[v], sizeof(gk_vd));
        __builtin_memcpy(cq + v * GK_VW, &a[v], sizeof(gk_vd));
    }
}

GK_INLINE void GK_T(pp_wchunk)(const int pf, const T *GK_RESTRICT x0,
                               const double *GK_RESTRICT wt, gk_index n_c, gk_index cols,
                               const double *GK_RESTRICT cs, double *GK_RESTRICT cn,
                               double *GK_RESTRICT cm, double *GK_RESTRICT cq)
{
    gk_index j = 0;
    if (pf)
        for (; j + PP_CB * GK_VW <= cols; j += PP_CB * GK_VW)
            GK_T(pp_wchunk_block)(PP_CB, 1, x0 + j, wt, n_c, cols, cs + j, cn + j, cm + j,
                                  cq + j);
    for (; j + PP_CB * GK_VW <= cols; j += PP_CB * GK_VW)
        GK_T(pp_wchunk_block)(PP_CB, 0, x0 + j, wt, n_c, cols, cs + j, cn + j, cm + j, cq + j);
    for (; j + GK_VW <= cols; j += GK_VW)
        GK_T(pp_wchunk_block)(1, 0, x0 + j, wt, n_c, cols, cs + j, cn + j, cm + j, cq + j);
    for (; j < cols; ++j) {   /* the same operations, one column at a time */
        double nn = 0.0, aa = 0.0, qq = 0.0;
        for (gk_index i = 0; i < n_c; ++i) {
            const double wi = wt ? wt[i] : 1.0;
            double v = (double)x0[i * cols + j];
            const double ok = v == v ? 1.0 : 0.0;
            v = v == v ? v : cs[j];
            nn += ok * wi;
            aa += (v - cs[j]) * wi;
        }
        const double m = nn > 0.0 ? cs[j] + aa / nn : 0.0;
        for (gk_index i = 0; i < n_c; ++i) {
            const double wi = wt ? wt[i] : 1.0;
            double v = (double)x0[i * cols + j];
            v = v == v ? v : m;
            const double d = v - m;
            qq += d * d * wi;
        }
        cn[j] = nn, cm[j] = m, cq[j] = qq;
    }
}

/* gk_col_moments_weighted.  Scratch per task: its counts, means and sums of squares,
 * and one chunk's shifts, counts, sums, means and sums of squares (8 x cols). */
static int GK_T(col_moments_weighted)(const T *x, gk_index rows, gk_index cols,
                                      const double *w, double *count, double *mean,
                                      double *m2)
{
    gk_index chunk = pp_chunk_rows(cols);
    gk_index nchunk = (rows + chunk - 1) / chunk;
    gk_index ntask = gk_tasks(nchunk, 8 * cols);
    double *scratch = (double *)malloc(sizeof(double) * (size_t)(8 * cols * ntask));
    if (!scratch) return GK_ENOMEM;
    int nt = gk_threads_for(rows * cols);
    const int far = sizeof(T) * (size_t)(rows * cols) >= gk_get_stream_min_bytes();
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index k = 0; k < ntask; ++k) {
        double *tn = scratch + 8 * cols * k, *tm = tn + cols, *tq = tm + cols;
        double *cs = tq + cols, *cn = cs + cols, *ca = cn + cols, *cm = ca + cols;
        double *cq = cm + cols;
        for (gk_index j = 0; j < cols; ++j) tn[j] = 0.0, tm[j] = 0.0, tq[j] = 0.0;
        gk_index c0 = gk_task_begin(k, ntask, nchunk), c1 = gk_task_begin(k + 1, ntask, nchunk);
        for (gk_index c = c0; c < c1; ++c) {
            gk_index r0 = c * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
            /* the shift: each column's first value in the chunk that is not NaN (0 for
             * a column of NaN only); usually the first row's */
            gk_index missing = 0;
            for (gk_index j = 0; j < cols; ++j) {
                double v = (double)x[r0 * cols + j];
                cs[j] = v;
                missing += v != v;
            }
            for (gk_index i = r0 + 1; missing > 0 && i < r1; ++i) {
                const T *xi = x + i * cols;
                for (gk_index j = 0; j < cols; ++j)
                    if (cs[j] != cs[j] && xi[j] == xi[j])
                        cs[j] = (double)xi[j], --missing;
            }
            for (gk_index j = 0; j < cols; ++j) {
                if (cs[j] != cs[j]) cs[j] = 0.0;
                cn[j] = 0.0, ca[j] = 0.0, cq[j] = 0.0;
            }
            GK_T(pp_wchunk)(far && c + 1 < c1, x + r0 * cols, w ? w + r0 : NULL, r1 - r0,
                            cols, cs, cn, cm, cq);
            pp_wchan(cols, tn, tm, tq, cn, cm, cq);
        }
    }
    for (gk_index j = 0; j < cols; ++j) count[j] = 0.0, mean[j] = 0.0, m2[j] = 0.0;
    for (gk_index k = 0; k < ntask; ++k) {
        double *tn = scratch + 8 * cols * k;
        pp_wchan(cols, count, mean, m2, tn, tn + cols, tn + 2 * cols);
    }
    free(scratch);
    return GK_OK;
}

#define GK_SIDX gk_index
#define GK_SP(name) GK_T(name)
#include "sparse_moments_tmpl.h"
#undef GK_SP
#undef GK_SIDX
#define GK_SIDX int32_t
#define GK_SP(name) GK_T(name##_i32)
#include "sparse_moments_tmpl.h"
#undef GK_SP
#undef GK_SIDX

static int GK_T(center)(const T *x, gk_index rows, gk_index cols, const double *mean_in,
                        double *mean_out, double *xc, int *nonfinite)
{
    int nt = gk_threads_for(rows * cols);
    const double *mu = mean_in;
    double *own = NULL;
    if (!mu) {
        /* column means: fixed row tasks summed in order */
        gk_index ntask = gk_row_tasks(rows, cols);
        double *part = (double *)calloc((size_t)(cols * (ntask + 1)), sizeof(double));
        if (!part) return GK_ENOMEM;
        #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
        for (gk_index k = 0; k < ntask; ++k)
            GK_T(pp_add_rows)(x, gk_task_begin(k, ntask, rows),
                              gk_task_begin(k + 1, ntask, rows), cols, part + cols * (k + 1));
        own = part;  /* part[0..cols) receives the mean */
        for (gk_index k = 0; k < ntask; ++k) {
            const double *p = part + cols * (k + 1);
            for (gk_index j = 0; j < cols; ++j) own[j] += p[j];
        }
        for (gk_index j = 0; j < cols; ++j) own[j] /= (double)rows;
        mu = own;
        if (mean_out)
            for (gk_index j = 0; j < cols; ++j) mean_out[j] = own[j];
    }
    int bad = 0;
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1) reduction(|:bad)
    for (gk_index i = 0; i < rows; ++i) {
        const T *GK_RESTRICT xi = x + i * cols;
        double *GK_RESTRICT ci = xc + i * cols;
        for (gk_index j = 0; j < cols; ++j)
            ci[j] = (double)xi[j] - mu[j];
        if (nonfinite)
            bad |= GK_T(chunk_nonfinite)(xi, cols);
    }
    if (nonfinite) *nonfinite = bad;
    free(own);
    return GK_OK;
}

/* ---- standardization ----------------------------------------------------------------
 * y = (x - mean) / scale walks x and y as flat arrays, one vector of y at a time from
 * y's first address aligned to a vector (so no store straddles two lines, and a large
 * output goes out with non-temporal stores: a row-by-row walk left the partial lines at
 * every row end to ordinary stores).  The per-column values are read from tables of
 * cols + GK_TVLEN entries, entry k holding column k mod cols, so the columns of a vector
 * that wraps past a row end are consecutive entries.  Element-wise: any split over the
 * threads gives the same bits. */

/* modes: subtract only; divide by gk_vdiv_recip, with its range check or (float32 x
 * and means gk_div_m_narrow) without; divide (a scale outside gk_div_c_ok's range, or
 * no FMA); copy (neither mean nor scale: the bits as they are) */
#ifndef GK_STD_ONCE
#define GK_STD_ONCE
enum { GK_STD_SUB = 0, GK_STD_RECIP = 1, GK_STD_DIV = 2, GK_STD_COPY = 3,
       GK_STD_RECIP_NARROW = 4 };
#endif

GK_INLINE T GK_T(std_one)(const int mode, T x, double m, double c)
{
    double d = (double)x - m;
    if (mode != GK_STD_SUB) d = d / c;
    return (T)d;
}

/* count elements one by one from x into y, the first in column j (the ends before y's
 * first aligned vector and after its last): the vector walk's operations; returns 1 if
 * their x holds a NaN or an infinity */
GK_INLINE int GK_T(std_ends)(const int mode, const T *x, T *y, gk_index j, gk_index count,
                             gk_index cols, const double *mt, const double *ct)
{
    int bad = 0;
    for (gk_index e = 0; e < count; ++e, j = j + 1 == cols ? 0 : j + 1) {
        bad |= x[e] * (T)0 != (T)0;
        y[e] = mode == GK_STD_COPY ? x[e] : GK_T(std_one)(mode, x[e], mt[j], ct[j]);
    }
    return bad;
}

/* GK_VW doubles rounded to T and stored at p (aligned to their width when `stream`:
 * then with a non-temporal store where the ISA has one) */
GK_INLINE void GK_T(std_store)(const int stream, T *p, gk_vd d)
{
    if (sizeof(T) == sizeof(double)) {
        if (stream) GK_T(stream_vec)(p, (GK_T(tvec))d);
        else __builtin_memcpy(p, &d, sizeof d);
        return;
    }
    typedef float gk_vfh __attribute__((vector_size(GK_VBYTES / 2)));
    const gk_vfh f = __builtin_convertvector(d, gk_vfh);
#if defined(__AVX512F__)
    if (stream) {
        _mm256_stream_ps((float *)(void *)p, (__m256)f);
        return;
    }
#elif defined(__AVX__)
    if (stream) {
        _mm_stream_ps((float *)(void *)p, (__m128)f);
        return;
    }
#endif
    __builtin_memcpy(p, &f, sizeof f);
}

/* GK_TVLEN elements from x into y, their columns' tables at m, c, r (the arithmetic in
 * double, GK_VW elements at a time: loaded widened, stored rounded, so nothing is
 * assembled in registers lane by lane); x * 0 added to *nf (NaN once x holds a NaN or
 * an infinity) */
GK_INLINE void GK_T(std_vec)(const int mode, const int stream, const T *x, T *y,
                             const double *m, const double *c, const double *r,
                             gk_vd *nf)
{
    for (int h = 0; h < GK_TVLEN; h += GK_VW) {
        const gk_vd xv = GK_T(ldvt)(x + h);
        gk_vd d = xv - gk_ldv_f64(m + h), q;
        if (mode == GK_STD_SUB) {
            *nf += xv * 0.0;
        } else if (mode == GK_STD_DIV || !gk_vdiv_recip(mode == GK_STD_RECIP, d,
                                                         gk_ldv_f64(c + h),
                                                         gk_ldv_f64(r + h), &q)) {
            *nf += xv * 0.0;   /* a lane failed the check: NaN and infinity land here */
            q = d / gk_ldv_f64(c + h);
        }
        GK_T(std_store)(stream, y + h, mode == GK_STD_SUB ? d : q);
    }
}

/* nv vectors from x into y (GK_TVLEN elements each, the first in column j); returns 1
 * if their x holds a NaN or an infinity.  pf (x from memory: the same bytes as x, or
 * where a realigned x was copied from) is prefetched PP_PF_AHEAD bytes ahead -- the
 * chain of FMAs per vector kept too few loads in flight for the hardware prefetcher
 * alone (100000 x 256 float64 at 2 threads on an Intel Xeon guest, alternated in one
 * process: 7.1-11.2 ms without, 6.0-6.5 with 4 KiB, the probe 6.2-7.7; 2 KiB about the
 * same, steadier at 4).  Non-temporal stores (stream) are left unfenced: the caller
 * fences once. */
#ifndef PP_PF_AHEAD
#define PP_PF_AHEAD 4096
#endif
GK_INLINE int GK_T(std_run)(const int mode, const int stream, const char *pf,
                            const T *x, T *y, gk_index cols, gk_index j, gk_index nv,
                            const double *mt, const double *ct, const double *rt)
{
    gk_vd nf = (gk_vd){0};
    GK_T(tvec) nft = (GK_T(tvec)){0};
    for (gk_index v = 0, e = 0; v < nv; ++v, e += GK_TVLEN) {
        if (pf) __builtin_prefetch(pf + sizeof(T) * (size_t)e + PP_PF_AHEAD, 0, 3);
        if (mode == GK_STD_COPY) {   /* the bits as they are */
            const GK_T(tvec) xt = GK_T(ldtv)(x + e);
            nft += xt * (T)0;
            if (stream) GK_T(stream_vec)(y + e, xt);
            else GK_T(sttv)(y + e, xt);
            continue;
        }
        GK_T(std_vec)(mode, stream, x + e, y + e, mt + j, ct + j, rt + j, &nf);
        j += GK_TVLEN;
        if (j >= cols) j = cols >= GK_TVLEN ? j - cols : j % cols;
    }
    int bad = 0;
    for (int k = 0; k < GK_VW; ++k) bad |= nf[k] != 0.0;
    for (int k = 0; k < GK_TVLEN; ++k) bad |= nft[k] != (T)0;
    return bad;
}

/* std_run, std_ends for x not aligned to its elements (a block of a dask array received
 * over the network is deserialized where its frame lies): x is taken as bytes, never
 * through a T pointer, copied PP_REALIGN bytes at a time into an aligned buffer that
 * stays in L1, and the aligned walk runs from there -- no second pass over memory, no
 * copy of the whole array.  Elements [e0, e0 + count) of the walk; `whole`: in whole
 * vectors (count a multiple of GK_TVLEN), else one by one. */
#ifndef PP_REALIGN
#define PP_REALIGN 4096
#endif
GK_INLINE int GK_T(std_realigned)(const int mode, const int stream, const int far,
                                  const int whole, const unsigned char *xb, T *y,
                                  gk_index cols, gk_index e0, gk_index count,
                                  const double *mt, const double *ct, const double *rt)
{
    T buf[PP_REALIGN / sizeof(T)] __attribute__((aligned(64)));
    const gk_index piece = PP_REALIGN / sizeof(T);
    int bad = 0;
    for (gk_index e = e0, e1 = e0 + count; e < e1; e += piece) {
        const gk_index m = e1 - e < piece ? e1 - e : piece;
        const unsigned char *src = xb + sizeof(T) * (size_t)e;
        gk_copy_unaligned(buf, src, sizeof(T) * (size_t)m);
        bad |= whole ? GK_T(std_run)(mode, stream, far ? (const char *)src : NULL, buf,
                                     y + e, cols, e % cols, m / GK_TVLEN, mt, ct, rt)
                     : GK_T(std_ends)(mode, buf, y + e, e % cols, m, cols, mt, ct);
    }
    return bad;
}

static int GK_T(standardize)(const T *x, T *y, gk_index rows, gk_index cols,
                             const double *mean, const double *scale, int *nonfinite)
{
    const gk_index n = rows * cols;
    int nt = gk_threads_for(n);
    int bad = 0;
    if (!mean && !scale && x == y) {   /* nothing to write */
        if (nonfinite) {
            #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1) reduction(|:bad)
            for (gk_index i = 0; i < rows; ++i)
                bad |= GK_T(chunk_nonfinite)(x + i * cols, cols);
            *nonfinite = bad;
        }
        return GK_OK;
    }
    const gk_index len = cols + GK_TVLEN;
    int owned;
    double *tab = (double *)gk_scratch(sizeof(double) * (size_t)(3 * len), &owned);
    if (!tab) return GK_ENOMEM;
    double *mt = tab, *ct = tab + len, *rt = tab + 2 * len;
    int mode = scale ? GK_STD_RECIP : mean ? GK_STD_SUB : GK_STD_COPY;
#if !(defined(__AVX512F__) || (defined(__AVX__) && defined(__FMA__)))
    if (scale) mode = GK_STD_DIV;
#endif
    int narrow = sizeof(T) == sizeof(float);
    for (gk_index k = 0, j = 0; k < len; ++k, j = j + 1 == cols ? 0 : j + 1) {
        mt[k] = mean ? mean[j] : 0.0;
        ct[k] = scale ? scale[j] : 1.0;
        rt[k] = 1.0 / ct[k];
        if (!gk_div_c_ok(ct[k]) && mode == GK_STD_RECIP) mode = GK_STD_DIV;
        narrow &= gk_div_m_narrow(mt[k]);
    }
    if (mode == GK_STD_RECIP && narrow) mode = GK_STD_RECIP_NARROW;
    gk_index head = GK_T(vec_head)(y);
    const int aligned = head >= 0;
    if (!aligned) head = 0;
    if (head > n) head = n;
    const gk_index nvec = (n - head) / GK_TVLEN, tail = head + nvec * GK_TVLEN;
    const int stream = aligned && gk_stream_output(sizeof(T) * (size_t)n, y, x, NULL);
    const int far = sizeof(T) * (size_t)n >= gk_get_stream_min_bytes();
    if (nt > 1 && nvec < 2 * (gk_index)nt) nt = 1;
    /* x not aligned to its elements: read as bytes only (std_realigned) */
    const int xmis = (uintptr_t)x % sizeof(T) != 0;
    const unsigned char *xb = (const unsigned char *)(const void *)x;
    #pragma omp parallel num_threads(nt) if(nt > 1) reduction(|:bad)
    {
#if GK_HAVE_OPENMP
        const gk_index t = omp_get_thread_num(), tn = omp_get_num_threads();
#else
        const gk_index t = 0, tn = 1;
#endif
        const gk_index v0 = nvec * t / tn, v1 = nvec * (t + 1) / tn;
        const gk_index e0 = head + v0 * GK_TVLEN, nv = v1 - v0;
        const char *pf = far ? (const char *)xb + sizeof(T) * (size_t)e0 : NULL;
        /* elements [e, e + count) one by one */
#define GK_STD_ENDS(e, count) \
        (xmis ? GK_T(std_realigned)(mode, 0, 0, 0, xb, y, cols, e, count, mt, ct, rt) \
              : GK_T(std_ends)(mode, x + (e), y + (e), (e) % cols, count, cols, mt, ct))
        /* this thread's vectors, in mode M, streamed or not (S) */
#define GK_STD_VECS(M, S) \
        (xmis ? GK_T(std_realigned)(M, S, far, 1, xb, y, cols, e0, nv * GK_TVLEN, mt, ct, rt) \
              : GK_T(std_run)(M, S, pf, x + e0, y + e0, cols, e0 % cols, nv, mt, ct, rt))
#define GK_STD_RUN(M) (stream ? GK_STD_VECS(M, 1) : GK_STD_VECS(M, 0))
        if (t == 0)
            bad |= GK_STD_ENDS(0, head);
        switch (mode) {
        case GK_STD_SUB: bad |= GK_STD_RUN(GK_STD_SUB); break;
        case GK_STD_RECIP: bad |= GK_STD_RUN(GK_STD_RECIP); break;
        case GK_STD_RECIP_NARROW: bad |= GK_STD_RUN(GK_STD_RECIP_NARROW); break;
        case GK_STD_COPY: bad |= GK_STD_RUN(GK_STD_COPY); break;
        default: bad |= GK_STD_RUN(GK_STD_DIV);
        }
        if (t == tn - 1)
            bad |= GK_STD_ENDS(tail, n - tail);
#undef GK_STD_RUN
#undef GK_STD_VECS
#undef GK_STD_ENDS
        if (stream) gk_sfence();
    }
    gk_scratch_done(tab, owned);
    if (nonfinite) *nonfinite = bad;
    return GK_OK;
}

/* ---- BLAS-driven statistics and projection ---------------------------------------- */

/* Column mean of rows [r0, r0 + n) of x (double) into cm. */
static void GK_T(pp_chunk_mean)(const T *x, gk_index r0, gk_index n, gk_index cols,
                                double *GK_RESTRICT cm)
{
    for (gk_index j = 0; j < cols; ++j) cm[j] = 0.0;
    GK_T(pp_add_rows)(x, r0, r0 + n, cols, cm);
    for (gk_index j = 0; j < cols; ++j) cm[j] /= (double)n;
}

/* buf (n x cols, T) = rows [r0, r0 + n) of x minus shift (in double, rounded once);
 * the double differences are summed into csum when it is not NULL.  Returns 1 if the
 * rows hold a NaN or an infinity.  x is read as bytes, each row copied into its row of
 * buf (which stays in cache) and shifted there: an x not aligned to its elements (a
 * dask block received over the network) takes the same path, with no T pointer into it
 * and no copy of the whole array. */
static int GK_T(pp_shift_rows)(const T *x, gk_index r0, gk_index n, gk_index cols,
                               const double *GK_RESTRICT shift, T *GK_RESTRICT buf,
                               double *GK_RESTRICT csum)
{
    const unsigned char *xb = (const unsigned char *)(const void *)x;
    int bad = 0;
    for (gk_index i = 0; i < n; ++i) {
        T *GK_RESTRICT bi = buf + i * cols;
        gk_copy_unaligned(bi, xb + sizeof(T) * (size_t)((r0 + i) * cols),
                          sizeof(T) * (size_t)cols);
        bad |= GK_T(chunk_nonfinite)(bi, cols);
        if (csum) {
            for (gk_index j = 0; j < cols; ++j) {
                double d = (double)bi[j] - shift[j];
                bi[j] = (T)d;
                csum[j] += d;
            }
        } else {
            for (gk_index j = 0; j < cols; ++j)
                bi[j] = (T)((double)bi[j] - shift[j]);
        }
    }
    return bad;
}

/* c (+)= buf^T buf for buf (n x cols, T): BLAS syrk into c's lower triangle (C order;
 * Fortran's upper), c overwritten when `first`, else added to. */
GK_INLINE void GK_T(pp_syrk)(GK_T(gk_pp_syrk) syrk, const T *buf, gk_index n,
                             gk_index cols, T *c, int first)
{
    char uplo = 'U', trans = 'N';
    int n_ = (int)cols, k_ = (int)n, ld = (int)cols;
    T one = 1, beta = first ? 0 : 1;
    syrk(&uplo, &trans, &n_, &k_, &one, (T *)buf, &ld, &beta, c, &ld);
}

#if defined(GK_FT) && GK_HALF == 0
/* ---- the scatter's and the projections' own products (fma_tiles.h) -----------------
 * The scatter c (+)= buf^T buf: the centred chunk is stored as panels of W =
 * GK_FT_W(T) columns, each its rows one after the other (panel p, row r at pan + (p nb
 * + r) W), zero past the last column; a tile of c is GK_FT_MR panels of rows by GK_FT_NR
 * columns.  On the AMD Zen 5 guest, 100000 x 1024 float64 on one thread: 1.27 s against
 * OpenBLAS dsyrk's 2.45 s (its Haswell kernels there).  The AVX2 and AVX-512 tables give
 * the same bits (fma_tiles.h); the baseline table calls BLAS syrk and gemm. */
#define PP_PANELS 1
#define PP_W GK_FT_W(T)
/* p rounded up to a 64-byte line (its allocation 64 bytes larger), NULL for NULL */
#define PP_LINE(TYPE, p) ((p) ? (TYPE *)(((uintptr_t)(p) + 63) & ~(uintptr_t)63) : NULL)
#define PP_MR GK_FT_MR
#define PP_NR GK_FT_NR

/* The scatter's tiles of 3, 2 and 1 row panels (columns pj.. of a panel, W a step) */
GK_FT_SEQ_TILES(pp_stile, PP_W)

/* Rows [r0, r0 + n) of x minus shift (as pp_shift_rows, whose row pass it runs into the
 * cols_w-element row scratch `row`, zero past cols) stored as the panels of `pan`. */
static int GK_T(pp_shift_panels)(const T *x, gk_index r0, gk_index n, gk_index cols,
                                 const double *GK_RESTRICT shift, T *GK_RESTRICT pan,
                                 T *GK_RESTRICT row, double *GK_RESTRICT csum)
{
    const gk_index np = (cols + PP_W - 1) / PP_W;
    int bad = 0;
    for (gk_index i = 0; i < n; ++i) {
        bad |= GK_T(pp_shift_rows)(x, r0 + i, 1, cols, shift, row, csum);
        for (gk_index p = 0; p < np; ++p)
            __builtin_memcpy(pan + (p * n + i) * PP_W, row + p * PP_W,
                             sizeof(T) * PP_W);
    }
    return bad;
}

/* c's lower triangle (C order, cols x cols) = (first) or += the sums of pan (nb rows
 * of panels) */
static void GK_T(pp_panel_syrk)(const T *pan, gk_index nb, gk_index cols, T *c, int first)
{
    const gk_index np = (cols + PP_W - 1) / PP_W, ps = nb * PP_W;
    gk_ftv(SFX) t[PP_MR][PP_NR];
    for (gk_index ip = 0; ip < np; ip += PP_MR) {
        const int mr = (int)(np - ip < PP_MR ? np - ip : PP_MR);
        const gk_index i0 = ip * PP_W;
        const gk_index i1 = (ip + mr) * PP_W < cols ? (ip + mr) * PP_W : cols;
        for (gk_index j0 = 0; j0 < i1; j0 += PP_NR) {
            const T *pj = pan + (j0 / PP_W) * ps + j0 % PP_W;
            if (mr == 3) GK_T(pp_stile3)(pan + ip * ps, ps, pj, nb, t);
            else if (mr == 2) GK_T(pp_stile2)(pan + ip * ps, ps, pj, nb, t);
            else GK_T(pp_stile1)(pan + ip * ps, ps, pj, nb, t);
            /* row i of the tile: lane i - i0 of the accumulators of its columns, those
             * up to the diagonal */
            for (gk_index i = i0 < j0 ? j0 : i0; i < i1; ++i) {
                const T *ti = (const T *)(const void *)t[(i - i0) / PP_W]
                              + (i - i0) % PP_W;
                T *GK_RESTRICT ci = c + i * cols + j0;
                if (i - j0 >= PP_NR - 1) {
                    if (first)
                        for (int jj = 0; jj < PP_NR; ++jj) ci[jj] = ti[jj * PP_W];
                    else
                        for (int jj = 0; jj < PP_NR; ++jj) ci[jj] += ti[jj * PP_W];
                } else {
                    for (gk_index jj = 0; jj <= i - j0; ++jj)
                        ci[jj] = first ? ti[jj * PP_W] : ci[jj] + ti[jj * PP_W];
                }
            }
        }
    }
}

/* m (cols x k) as the projection's panels: nq = ceil(k / W) panels of W columns, each
 * its cols rows one after the other (panel q, row i at mp + (q cols + i) W), zero past
 * column k; mp aligned to a vector */
static void GK_T(pp_pack_m)(const T *m, gk_index cols, gk_index k, T *mp)
{
    const gk_index nq = (k + PP_W - 1) / PP_W;
    for (gk_index q = 0; q < nq; ++q)
        for (gk_index i = 0; i < cols; ++i)
            for (gk_index l = 0; l < PP_W; ++l) {
                const gk_index j = q * PP_W + l;
                mp[(q * cols + i) * PP_W + l] = j < k ? m[i * k + j] : (T)0;
            }
}

/* the projection's put: rows j0.. of y (k wide), its columns of the tile's panels */
typedef struct { T *y; gk_index k; } GK_T(pp_yput);
static void GK_T(pp_put_y)(void *ctx, gk_index i0, int mr, gk_index j0, gk_index nj,
                           gk_ftv(SFX) t[PP_MR][PP_NR])
{
    const GK_T(pp_yput) *c = (const GK_T(pp_yput) *)ctx;
    for (gk_index rr = 0; rr < nj; ++rr)
        for (int a = 0; a < mr; ++a) {
            const gk_index j = i0 + a * PP_W;
            T *yr = c->y + (j0 + rr) * c->k + j;
            if (c->k - j >= PP_W)
                __builtin_memcpy(yr, &t[a][rr], sizeof t[a][rr]);
            else
                for (gk_index l = 0; l < c->k - j; ++l) yr[l] = t[a][rr][l];
        }
}

/* y (nb x k, C order) = buf (nb x cols, C order) times m, from m's panels mp (the
 * tiles' vectors; buf's rows the broadcast operands) */
static void GK_T(pp_panel_gemm)(const T *buf, gk_index nb, gk_index cols, const T *mp,
                                gk_index k, T *y)
{
    GK_T(pp_yput) c = {y, k};
    GK_T(gk_ft_tiles)(mp, (k + PP_W - 1) / PP_W, cols * PP_W, PP_W, buf, nb, cols, 1,
                      cols, GK_T(pp_put_y), &c);
}

/* the transposed projection's put: added in double to acc (cols x k) */
typedef struct { double *acc; gk_index k; } GK_T(pp_accput);
static void GK_T(pp_put_acc)(void *ctx, gk_index i0, int mr, gk_index j0, gk_index nj,
                             gk_ftv(SFX) t[PP_MR][PP_NR])
{
    const GK_T(pp_accput) *c = (const GK_T(pp_accput) *)ctx;
    for (gk_index i = i0; i < i0 + mr * PP_W; ++i) {
        const T *ti = (const T *)(const void *)t[(i - i0) / PP_W] + (i - i0) % PP_W;
        double *ai = c->acc + i * c->k + j0;
        for (gk_index jj = 0; jj < nj; ++jj) ai[jj] += (double)ti[jj * PP_W];
    }
}

/* acc (cols x k, C order, double) += buf^T m for the centred chunk buf (nb x cols, C
 * order) and m (nb x k, C order): the tiles' vectors from buf's rows (stepping down
 * them: laid out as panels, the copy cost more than the tiles gained at these few flops
 * an element), m's columns the operands; each element the chunk's chains in T, then
 * added in double */
static void GK_T(pp_panel_gemm_t)(const T *buf, gk_index nb, gk_index cols, const T *m,
                                  gk_index k, double *acc)
{
    const gk_index nv = cols / PP_W;   /* whole vectors of a row; the rest below */
    GK_T(pp_accput) c = {acc, k};
    GK_T(gk_ft_tiles)(buf, nv, PP_W, cols, m, k, 1, k, nb, GK_T(pp_put_acc), &c);
    /* the columns past the last whole vector one by one, in the tile's operations: the
     * same bits for every vector width */
    for (gk_index i = nv * PP_W; i < cols; ++i)
        for (gk_index j = 0; j < k; ++j)
            acc[i * k + j] += (double)GK_T(gk_ft_dot1)(buf + i, cols, m + j, k, nb);
}
#endif

/* Chan's merge of group b (n_b rows, mean_b, scatter sb in double, or cb in T less
 * n_b dm dm^T) into group a (n_a, mean_a, s_a; group a may be empty), one pass over
 * the lower triangles (C order). */
static void GK_T(pp_fold)(gk_index *n_a, double *mean_a, double *s_a, gk_index n_b,
                          const double *mean_b, const double *sb, const T *cb,
                          const double *dm, gk_index cols)
{
    double n = (double)(*n_a + n_b);
    double f = (double)n_b / n, g = (double)*n_a * f, nb = (double)n_b;
    int first = *n_a == 0;
    for (gk_index i = 0; i < cols; ++i) {
        double gdi = g * (mean_b[i] - mean_a[i]), ndi = dm ? nb * dm[i] : 0.0;
        double *GK_RESTRICT si = s_a + i * cols;
        const double *sbi = sb ? sb + i * cols : NULL;
        const T *cbi = cb + i * cols;
        for (gk_index j = 0; j <= i; ++j) {
            double own = sbi ? sbi[j] : dm ? (double)cbi[j] - ndi * dm[j] : (double)cbi[j];
            si[j] = first ? own : si[j] + (own + gdi * (mean_b[j] - mean_a[j]));
        }
    }
    for (gk_index j = 0; j < cols; ++j)
        mean_a[j] = first ? mean_b[j] : mean_a[j] + (mean_b[j] - mean_a[j]) * f;
    *n_a += n_b;
}

/* Scratch of one thread of the scatter. */
typedef struct {
    T *buf;         /* chunk x cols: a centred chunk (its panels, PP_PANELS) */
    T *row;         /* PP_PANELS: one centred row, zero past cols to a whole panel */
    T *c;           /* cols x cols: syrk's sums */
    double *acc;    /* cols x cols: a task's double scatter (exact mode) */
    double *shift;  /* cols: the task's shift (its first chunk's mean); then the chunk mean */
    double *dm;     /* cols: task mean - shift */
    double *tm;     /* cols: the task's mean */
} GK_T(pp_scratch);

/* sc->c (+)= the centred rows [r0, r0 + nb) of x (minus shift; their differences
 * summed into csum when not NULL) times their transpose: the panels' own product where
 * the ISA has it, else BLAS syrk.  Returns 1 if the rows hold a NaN or an infinity. */
GK_INLINE int GK_T(pp_chunk_scatter)(const T *x, gk_index r0, gk_index nb, gk_index cols,
                                     const double *shift, GK_T(pp_scratch) *sc,
                                     double *csum, GK_T(gk_pp_syrk) syrk, int first)
{
#ifdef PP_PANELS
    (void)syrk;
    int bad = GK_T(pp_shift_panels)(x, r0, nb, cols, shift, sc->buf, sc->row, csum);
    GK_T(pp_panel_syrk)(sc->buf, nb, cols, sc->c, first);
#else
    int bad = GK_T(pp_shift_rows)(x, r0, nb, cols, shift, sc->buf, csum);
    GK_T(pp_syrk)(syrk, sc->buf, nb, cols, sc->c, first);
#endif
    return bad;
}

/* One task, chunks [c0, c1): its count (returned), mean sc->tm and scatter, the latter
 * either as sc->c (sums in T about sc->shift, less n dm dm^T; *exact = 0) or as sc->acc
 * (double, chunks centred on their own means and merged with Chan's update; *exact = 1,
 * taken when the shift is too far from the mean, see PP_SHIFT_RATIO_*). */
static gk_index GK_T(pp_scatter_task)(const T *x, gk_index rows, gk_index cols,
                                      gk_index chunk, gk_index c0, gk_index c1,
                                      const gk_blas_fns *blas, GK_T(pp_scratch) *sc,
                                      int *exact, int *bad)
{
    gk_index n_t = 0;
    double *sum = sc->tm;
    GK_T(gk_pp_syrk) syrk = GK_T(gk_pp_syrk_of)(blas);
    GK_T(pp_chunk_mean)(x, c0 * chunk, rows - c0 * chunk < chunk ? rows - c0 * chunk : chunk,
                        cols, sc->shift);
    for (gk_index j = 0; j < cols; ++j) sum[j] = 0.0;
    for (gk_index c = c0; c < c1; ++c) {
        gk_index r0 = c * chunk, nb = rows - r0 < chunk ? rows - r0 : chunk;
        *bad |= GK_T(pp_chunk_scatter)(x, r0, nb, cols, sc->shift, sc, sum, syrk, c == c0);
        n_t += nb;
    }
    double ratio = sizeof(T) == sizeof(float) ? PP_SHIFT_RATIO_F32 : PP_SHIFT_RATIO_F64;
    int far = 0;
    for (gk_index j = 0; j < cols; ++j) {
        double d = sum[j] / (double)n_t, nd2 = (double)n_t * d * d;
        sc->dm[j] = d;
        sc->tm[j] = sc->shift[j] + d;
        far |= nd2 > ratio * ((double)sc->c[j * cols + j] - nd2);
    }
    *exact = far && !*bad;
    if (!*exact) return n_t;
    n_t = 0;
    for (gk_index c = c0; c < c1; ++c) {
        gk_index r0 = c * chunk, nb = rows - r0 < chunk ? rows - r0 : chunk;
        GK_T(pp_chunk_mean)(x, r0, nb, cols, sc->shift);
        GK_T(pp_chunk_scatter)(x, r0, nb, cols, sc->shift, sc, NULL, syrk, 1);
        GK_T(pp_fold)(&n_t, sc->tm, sc->acc, nb, sc->shift, NULL, sc->c, NULL, cols);
    }
    return n_t;
}

static int GK_T(scatter)(const T *x, gk_index rows, gk_index cols, double *mean, double *s,
                         const gk_blas_fns *blas, int *nonfinite)
{
    gk_index chunk = pp_blas_chunk_rows(cols);
    gk_index nchunk = (rows + chunk - 1) / chunk;
    gk_index ntask = pp_scatter_tasks(rows, cols);
    gk_index buf_rows = chunk < rows ? chunk : rows;
    int nt = gk_threads_for(rows * cols);
    if (nt > ntask) nt = (int)ntask;
    gk_index n = 0;
    int bad = 0, oom = 0;
    /* Tasks run in parallel, each thread in its own scratch; each folds its task into
     * the total in task order (ordered), so the sums do not depend on the threads. */
    #pragma omp parallel num_threads(nt) if(nt > 1) reduction(|:bad, oom)
    {
        GK_T(pp_scratch) sc;
        size_t cc = (size_t)(cols * cols);
#ifdef PP_PANELS
        /* whole panels, 64-byte aligned, then the row scratch */
        const gk_index cols_w = (cols + PP_W - 1) / PP_W * PP_W;
        void *raw = malloc(sizeof(T) * (size_t)((buf_rows + 1) * cols_w) + 64);
        sc.buf = PP_LINE(T, raw);
        sc.row = raw ? sc.buf + buf_rows * cols_w : NULL;
        if (raw)
            for (gk_index j = cols; j < cols_w; ++j) sc.row[j] = 0;
#else
        void *raw = malloc(sizeof(T) * (size_t)(buf_rows * cols));
        sc.buf = (T *)raw;
        sc.row = NULL;
#endif
        sc.c = (T *)malloc(sizeof(T) * cc);
        sc.acc = (double *)malloc(sizeof(double) * (cc + 4 * (size_t)cols));
        int ok = sc.buf && sc.c && sc.acc;
        if (!ok) oom = 1;
        sc.shift = ok ? sc.acc + cc : NULL;
        sc.dm = ok ? sc.shift + cols : NULL;
        sc.tm = ok ? sc.dm + cols : NULL;
        #pragma omp for ordered schedule(static, 1)
        for (gk_index k = 0; k < ntask; ++k) {
            int exact = 0;
            gk_index n_t = 0;
            if (ok)
                n_t = GK_T(pp_scatter_task)(x, rows, cols, chunk,
                                            gk_task_begin(k, ntask, nchunk),
                                            gk_task_begin(k + 1, ntask, nchunk), blas, &sc,
                                            &exact, &bad);
            #pragma omp ordered
            {
                if (ok)
                    GK_T(pp_fold)(&n, mean, s, n_t, sc.tm, exact ? sc.acc : NULL, sc.c,
                                  exact ? NULL : sc.dm, cols);
            }
        }
        free(raw);
        free(sc.c);
        free(sc.acc);
    }
    if (oom) return GK_ENOMEM;
    if (nonfinite) *nonfinite = bad;
    return GK_OK;
}

static int GK_T(project)(const T *x, gk_index rows, gk_index cols, const double *mean,
                         const T *m, gk_index k, T *y, const gk_blas_fns *blas,
                         int *nonfinite)
{
    gk_index chunk = pp_project_chunk_rows(cols, k);
    gk_index nchunk = (rows + chunk - 1) / chunk;
    int nt = gk_threads_for(rows * (cols > k ? cols : k));
    if (nt > nchunk) nt = (int)nchunk;
    int bad = 0, oom = 0;
#ifdef PP_PANELS
    /* m's panels, once for every chunk (pp_panel_gemm) */
    const gk_index nq = (k + PP_W - 1) / PP_W;
    void *mraw = malloc(sizeof(T) * (size_t)(nq * PP_W * cols) + 64);
    if (!mraw) return GK_ENOMEM;
    T *mp = PP_LINE(T, mraw);
    GK_T(pp_pack_m)(m, cols, k, mp);
    (void)blas;
#else
    GK_T(gk_pp_gemm) gemm = GK_T(gk_pp_gemm_of)(blas);
#endif
    #pragma omp parallel num_threads(nt) if(nt > 1) reduction(|:bad, oom)
    {
        gk_index buf_rows = chunk < rows ? chunk : rows;
        T *buf = (T *)malloc(sizeof(T) * (size_t)(buf_rows * cols));
        if (!buf) oom = 1;
        #pragma omp for schedule(static)
        for (gk_index c = 0; c < nchunk; ++c) {
            if (!buf) continue;
            gk_index r0 = c * chunk, nb = rows - r0 < chunk ? rows - r0 : chunk;
            bad |= GK_T(pp_shift_rows)(x, r0, nb, cols, mean, buf, NULL);
            if (k == 0) continue;
#ifdef PP_PANELS
            GK_T(pp_panel_gemm)(buf, nb, cols, mp, k, y + r0 * k);
#else
            /* Fortran: y^T (k x nb, ld k) = m^T (k x cols, ld k) * buf^T (cols x nb) */
            char tn = 'N';
            int m_ = (int)k, n_ = (int)nb, k_ = (int)cols, ldm = (int)k, ldb = (int)cols;
            T one = 1, zero = 0;
            gemm(&tn, &tn, &m_, &n_, &k_, &one, (T *)m, &ldm, buf, &ldb, &zero, y + r0 * k,
                 &ldm);
#endif
        }
        free(buf);
    }
#ifdef PP_PANELS
    free(mraw);
#endif
    if (oom) return GK_ENOMEM;
    if (nonfinite) *nonfinite = bad;
    return GK_OK;
}

/* y = (x - mean)^T m, the transposed projection (the other half of a power iteration
 * of the randomized PCA): a reduction over the rows.  Fixed row chunks (those of
 * project) are centred into a cache-resident buffer and multiplied by BLAS gemm of x's
 * type into a k x cols product, which is added in double to the partial sums of the
 * chunk's task; tasks (a fixed partition of the chunks, gk_tasks) run in parallel and
 * their partials are summed in task order, then rounded once to x's type: bitwise the
 * same for any thread count. */
static int GK_T(project_t)(const T *x, gk_index rows, gk_index cols, const double *mean,
                           const T *m, gk_index k, T *y, const gk_blas_fns *blas,
                           int *nonfinite)
{
#ifdef PP_PANELS
    /* 4 times the rows a chunk: the float64 sums of a chunk's products (an add per
     * element of y) are then fewer beside its multiply-adds; no product buffer (the
     * tiles add into the task's sums) */
    gk_index chunk = pp_project_chunk_rows(cols, k) * 4, nprod = 0;
    (void)blas;
#else
    GK_T(gk_pp_gemm) gemm = GK_T(gk_pp_gemm_of)(blas);
    gk_index chunk = pp_project_chunk_rows(cols, k), nprod = cols * k;  /* gemm's k x cols */
#endif
    gk_index nchunk = (rows + chunk - 1) / chunk;
    gk_index ck = cols * k;
    gk_index ntask = gk_tasks(nchunk, ck);
    int nt = gk_threads_for(rows * (cols > k ? cols : k));
    if (nt > ntask) nt = (int)ntask;
    double *part = (double *)malloc(sizeof(double) * (size_t)(ck * ntask));
    if (!part) return GK_ENOMEM;
    int bad = 0, oom = 0;
    #pragma omp parallel num_threads(nt) if(nt > 1) reduction(|:bad, oom)
    {
        gk_index buf_rows = chunk < rows ? chunk : rows;
        T *buf = (T *)malloc(sizeof(T) * (size_t)(buf_rows * cols + nprod));
#ifndef PP_PANELS
        T *prod = buf ? buf + buf_rows * cols : NULL;
#endif
        if (!buf) oom = 1;
        #pragma omp for schedule(static)
        for (gk_index t = 0; t < ntask; ++t) {
            double *GK_RESTRICT acc = part + ck * t;
            for (gk_index e = 0; e < ck; ++e) acc[e] = 0.0;
            if (!buf) continue;
            gk_index c1 = gk_task_begin(t + 1, ntask, nchunk);
            for (gk_index c = gk_task_begin(t, ntask, nchunk); c < c1; ++c) {
                gk_index r0 = c * chunk, nb = rows - r0 < chunk ? rows - r0 : chunk;
                bad |= GK_T(pp_shift_rows)(x, r0, nb, cols, mean, buf, NULL);
#ifdef PP_PANELS
                if (k > 0)
                    GK_T(pp_panel_gemm_t)(buf, nb, cols, m + r0 * k, k, acc);
#else
                if (k == 0) continue;
                /* Fortran: prod (k x cols, ld k) = m_c^T (k x nb, ld k) * buf (nb x cols) */
                char tn = 'N', tt = 'T';
                int m_ = (int)k, n_ = (int)cols, k_ = (int)nb, ldp = (int)k, ldb = (int)cols;
                T one = 1, zero = 0;
                gemm(&tn, &tt, &m_, &n_, &k_, &one, (T *)m + r0 * k, &ldp, buf, &ldb, &zero,
                     prod, &ldp);
                /* prod holds y^T: y[j, i] = prod[i + k j], i.e. y row-major is prod as is */
                for (gk_index e = 0; e < ck; ++e) acc[e] += (double)prod[e];
#endif
            }
        }
        free(buf);
    }
    if (oom) {
        free(part);
        return GK_ENOMEM;
    }
    /* partials summed in task order, element by element (parallel over elements) */
    int ne = gk_threads_for(ck * ntask);
    #pragma omp parallel for num_threads(ne) schedule(static) if(ne > 1)
    for (gk_index e = 0; e < ck; ++e) {
        double s = 0.0;
        for (gk_index t = 0; t < ntask; ++t) s += part[ck * t + e];
        y[e] = (T)s;
    }
    free(part);
    if (nonfinite) *nonfinite = bad;
    return GK_OK;
}
