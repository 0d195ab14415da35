/* BatchNorm kernels for element type T.  Included by norm.c once per dtype (after
 * reduce_tmpl.h), and by norm_half.c for float16/bfloat16 storage: x, y, dy, dx are TS,
 * read and written through reduce_tmpl.h's loads and stores (exact widening, one
 * rounding of each output), everything else T (float32): the float32 arithmetic, so
 * the bits of the float32 kernel on the widened x rounded once.
 *
 * x is seen as (batch, channels, inner) with inner = prod(spatial), in one of two
 * layouts, each in its own file with both directions:
 *
 * - column path (inner < GK_BN_ROW_MIN; the (N, C) case, batch_norm_col_tmpl.h): x is
 *   (batch, K) with K = channels * inner, reduced per column over contiguous rows,
 *   vectorized across columns; rows of fewer than 64 columns are folded R at a time
 *   into longer rows (gk_bn_fold).
 * - plane path (inner >= GK_BN_ROW_MIN, batch_norm_plane_tmpl.h): each (n, c) plane of
 *   `inner` contiguous elements is reduced segment by segment.
 *
 * Statistics are accumulated in double, from centred data, so x = 1e4 + N(0, 1) keeps
 * its variance to a few ulps, and every partition depends only on the shape, so the
 * results are bitwise identical for any thread count.  The backward accumulates sum(dy)
 * and sum(dy (x - mean)) the same way (plain sums: the data are already centred by the
 * saved mean).
 *
 * Output passes run in T with per-channel constants rounded to T (8 float lanes per
 * AVX2 register, no conversions), except that the mean is split in two, mh + ml, so
 * that x - mean = (x - mh) - ml keeps full accuracy for data with a large mean (x - mh
 * is exact by Sterbenz's lemma when x is near the mean).  The error is a few ulps of
 * the largest term rather than the half ulp of a float64 computation rounded once; the
 * statistics themselves are float64 sums. */

#ifndef GK_BN_COMMON
#define GK_BN_COMMON
#define GK_BN_ROW_MIN ((gk_index)128)    /* inner size from which planes are reduced alone */
#define GK_BN_CW ((gk_index)1024)        /* columns per chunk in the column path */
#define GK_BN_TILE ((gk_index)32768)     /* elements per block in the column path */
#define GK_BN_FOLD_MIN 64                /* narrower rows are folded (gk_bn_fold) */
/* float32 column statistics (bn_col_stats): the shift is the mean of this many rows,
 * and the one pass is kept while (mean - shift)^2 <= GK_BN_F32_MAX_RATIO variances */
#define GK_BN_SHIFT_ROWS 32
#define GK_BN_F32_MAX_RATIO 1.0
/* Rows per task of the column path at least (the other reductions' tasks take
 * GK_TASK_ROWS_MIN = 16): a task pays for its own shift (GK_BN_SHIFT_ROWS rows read
 * twice: all of a 16-row task's), its columns' finishing and one merge, which at 16
 * rows cost a third of the forward.  On the AMD EPYC (Zen 5) guest, timed interleaved
 * against 16-row tasks, forward (out= given): 390x256 1 thread 25.0-28.2 -> 17.3-20.5
 * us, 976x1024 276-316 -> 190-220 us, 2 threads 148-275 -> 100-150 us, 3906x256 2
 * threads 110-128 -> 99-108 us; backward 976x1024 315-386 -> 271-344 us; 8192x1024
 * (64 tasks either way) unchanged. */
#define GK_BN_TASK_ROWS 128
/* A batch of fewer rows (one or two tasks) splits its columns into chunks of at least
 * GK_BN_CW_MIN, for GK_BN_MIN_ITEMS (task, chunk) items, so that small batches still
 * use the threads (columns are independent: no bit changes).  2 threads, interleaved
 * against whole 1024-column chunks: 97x1024 backward 32.6 -> 28.2 us, 200x512 forward
 * 15.5 -> 13.2, backward 19.6 -> 14.6; no case slower at 1 thread (chunks of 64
 * columns were: 200x512 backward 26.8 -> 30.8). */
#define GK_BN_MIN_ITEMS 4
#define GK_BN_CW_MIN ((gk_index)256)

typedef struct {
    gk_index ntask;   /* row tasks (fixed partition of the batch) */
    gk_index cw;      /* columns per chunk */
    gk_index nchunk;  /* column chunks */
    gk_index rb;      /* rows per block, a multiple of 4 */
} gk_bn_plan;

static inline gk_bn_plan gk_bn_column_plan(gk_index rows, gk_index cols)
{
    gk_bn_plan p;
    p.ntask = gk_tasks(rows / GK_BN_TASK_ROWS, 2 * cols);
    p.cw = cols < GK_BN_CW ? (cols > 0 ? cols : 1) : GK_BN_CW;
    if (p.ntask * ((cols + p.cw - 1) / p.cw) < GK_BN_MIN_ITEMS) {
        /* few row tasks: narrower column chunks, so that the items still spread */
        gk_index want = (GK_BN_MIN_ITEMS + p.ntask - 1) / p.ntask;
        gk_index cw = ((cols + want - 1) / want + 15) & ~(gk_index)15;
        if (cw < GK_BN_CW_MIN) cw = GK_BN_CW_MIN;
        if (cw < p.cw) p.cw = cw;
    }
    p.nchunk = (cols + p.cw - 1) / p.cw;
    p.rb = (GK_BN_TILE / p.cw) & ~(gk_index)3;
    if (p.rb < 4) p.rb = 4;
    return p;
}

/* The forward statistics of narrow rows (at most GK_BN_PF_ROW_BYTES) from memory (x
 * beyond twice the streaming threshold): the eight rows a group of bn_col_sums8 reads
 * are fetched `ahead` rows early (0: none); eight row streams a fraction of a page
 * each are more than the hardware prefetchers follow.  On the AMD EPYC (Zen 5) guest,
 * 8 rows ahead, timed interleaved against none: 39062x256 float32 4.03-4.52 -> 3.57-3.68
 * ms (1 thread), 1.61-2.73 -> 1.39-2.38 (2 threads); rows of 4 KiB (16384x1024,
 * 4096x4096) gained nothing (within 2%), data in cache (3906x256) lost 6%, and the
 * backward's sums (16 streams) lost 3-5%: none of those fetch. */
#define GK_BN_PF_ROW_BYTES 1024
GK_INLINE gk_index gk_bn_ahead(gk_index N, gk_index K, gk_index w, size_t es)
{
    return (size_t)N * (size_t)K * es / 2 >= gk_get_stream_min_bytes()
           && (size_t)w * es <= GK_BN_PF_ROW_BYTES ? 8 : 0;
}

GK_INLINE void gk_bn_fetch8(const void *row0, gk_index K, gk_index w, size_t es)
{
    for (int r = 0; r < 8; ++r)
        gk_prefetch_bytes((const char *)row0 + (size_t)r * (size_t)K * es, 0, (size_t)w * es);
}

/* Rows folded into one row of the column path: a narrow x (K < GK_BN_FOLD_MIN
 * columns, e.g. an (N, 3) batch) is reduced as (N / R, R K) plus the N % R rows left
 * over, so that the loops across columns are long enough to vectorize. */
static inline gk_index gk_bn_fold(gk_index K)
{
    return K >= GK_BN_FOLD_MIN || K < 1 ? 1 : (GK_BN_FOLD_MIN + K - 1) / K;
}

/* Expand per-channel values (entries [0, C) of a, es bytes each) to one per column of
 * the column path's rows of R C inner, in place, walking backwards so nothing is
 * overwritten before it is read. */
GK_INLINE void gk_bn_expand(void *a, const size_t es, gk_index C, gk_index inner,
                            gk_index R)
{
    char *p = (char *)a;
    gk_index K = C * inner;
    if (inner > 1)
        for (gk_index c = C - 1; c >= 0; --c) {
            char v[sizeof(double)];
            __builtin_memcpy(v, p + c * es, es);
            for (gk_index j = inner - 1; j >= 0; --j)
                __builtin_memcpy(p + (c * inner + j) * es, v, es);
        }
    for (gk_index r = 1; r < R; ++r)
        __builtin_memcpy(p + r * K * es, p, (size_t)K * es);
}

/* Chan's merge (reduce.h) of `parts` per-channel (count, mean, M2), part p's channel c
 * at p C + c, in part order into (mean, m2); empty parts are skipped, so one non-empty
 * part comes through exactly.  Returns the total count. */
static inline gk_index gk_bn_merge(const int64_t *counts, const double *means, const double *m2s,
                            gk_index parts, gk_index C, double *mean, double *m2)
{
    gk_index n = 0;
    for (gk_index c = 0; c < C; ++c) mean[c] = m2[c] = 0.0;
    for (gk_index p = 0; p < parts; ++p)
        gk_chan_fold(&n, mean, m2, (gk_index)counts[p], means + p * C, m2s + p * C, C);
    return n;
}
#endif

/* Per-channel constants of the output pass, one entry per column in the column path. */
typedef struct {
    T *mh, *ml, *s, *b, *k;
} GK_T(bn_coef);

/* n outputs: forward (!grad) ((x - mh) - ml) s + b, backward k ((dy - b) - (x - mh) s),
 * the constants at index at + j cs of cf (cs 1: one per column, 0: one for the run).
 * out may be x or dy: no restrict between them. */
GK_INLINE void GK_T(bn_out)(const int grad, const gk_index cs, const TS *dy, const TS *x,
                            TS *out, gk_index n, GK_T(bn_coef) cf, gk_index at)
{
    const T *GK_RESTRICT mh = cf.mh + at, *GK_RESTRICT s = cf.s + at;
    const T *GK_RESTRICT b = cf.b + at;
    if (grad) {
        const T *GK_RESTRICT k = cf.k + at;
        for (gk_index j = 0; j < n; ++j)
            GK_T(st1)(out + j, k[j * cs] * ((GK_T(ld1)(dy + j) - b[j * cs])
                                            - (GK_T(ld1)(x + j) - mh[j * cs]) * s[j * cs]));
    } else {
        const T *GK_RESTRICT ml = cf.ml + at;
        for (gk_index j = 0; j < n; ++j)
            GK_T(st1)(out + j, ((GK_T(ld1)(x + j) - mh[j * cs]) - ml[j * cs]) * s[j * cs]
                               + b[j * cs]);
    }
}

/* bn_out with the stores aligned: the vectors of GK_TVLEN elements are stored at
 * addresses aligned to their width (GK_SVBYTES), with the same operations element by
 * element as bn_out, so the same bits.  NumPy puts large arrays 16 bytes past a line,
 * where every 64-byte store (every other 32-byte one) would straddle two lines.  The
 * elements before out's first aligned vector are one unaligned vector, those after the
 * last one more ending at n: the overlapped elements are computed twice, the same way
 * (norm_tmpl.h's fwd_write_v).  When out is x or dy (in place), or the run is shorter
 * than a vector, the ends go element by element through bn_out instead: one by one,
 * a 16-bit element costs a scalar rounding, and the 24 + 8 of every 1024-column row
 * (aligned to 64 bytes then) took an out= bfloat16 forward from 1.43 to 1.84 ms
 * (8192 x 1024, Intel Xeon).
 * nt: non-temporal stores straight from the registers (no L1 buffer and copy, as
 * GK_WRITE_PIECES does); out must then not be x nor dy (gk_stream_output), and the
 * caller fences.  Otherwise out may be x or dy. */
typedef T GK_T(bnv) __attribute__((vector_size(GK_TVBYTES)));

GK_INLINE GK_T(bnv) GK_T(bn_ld)(const T *p)
{
    GK_T(bnv) v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

GK_INLINE void GK_T(bn_stream)(TS *p, GK_T(bnv) v)
{
    GK_T(stream_vec)(p, v);   /* reduce_tmpl.h */
}

/* bn_out's GK_TVLEN outputs from element j: the constants at j (cs 1), or the run's
 * (cs 0, broadcast in c[]: mh, s, b, k, ml) */
GK_INLINE GK_T(bnv) GK_T(bn_vec)(const int grad, const gk_index cs, const TS *dy,
                                 const TS *x, gk_index j, GK_T(bn_coef) cf, gk_index at,
                                 const GK_T(bnv) *c)
{
    GK_T(bnv) vmh = c[0], vs = c[1], vb = c[2], vk = c[3], vml = c[4];
    if (cs) {
        vmh = GK_T(bn_ld)(cf.mh + at + j);
        vs = GK_T(bn_ld)(cf.s + at + j);
        vb = GK_T(bn_ld)(cf.b + at + j);
        if (grad) vk = GK_T(bn_ld)(cf.k + at + j);
        else vml = GK_T(bn_ld)(cf.ml + at + j);
    }
    const GK_T(bnv) vx = GK_T(ldtv_arith)(x + j);
    if (grad) return vk * ((GK_T(ldtv_arith)(dy + j) - vb) - (vx - vmh) * vs);
    return ((vx - vmh) - vml) * vs + vb;
}

GK_INLINE void GK_T(bn_out_a)(const int grad, const gk_index cs, const int nt, const TS *dy,
                              const TS *x, TS *out, gk_index n, GK_T(bn_coef) cf, gk_index at,
                              GK_T(carry) *cy)
{
    const int ends_v = n >= GK_TVLEN && (const void *)out != (const void *)x
                       && (const void *)out != (const void *)dy;
    gk_index head = GK_T(vec_head)(out);
    if (head > n || head < 0) head = nt ? n : 0;
    const GK_T(bnv) z = {0};
    const GK_T(bnv) c[5] = {z + cf.mh[at], z + cf.s[at], z + cf.b[at],
                            z + (grad ? cf.k[at] : 0), z + (grad ? 0 : cf.ml[at])};
    if (head && ends_v && head < GK_TVLEN) {
        const GK_T(bnv) v = GK_T(bn_vec)(grad, cs, dy, x, 0, cf, at, c);
        if (nt && GK_CARRY_ON && cy) GK_T(carry_head)(cy, out, v, head);
        else if (nt) GK_T(store_lanes)(out, v, 0, head);
        else GK_T(sttv_arith)(out, v);
    } else
        GK_T(bn_out)(grad, cs, dy, x, out, head, cf, at);
    gk_index j = head;
    /* the whole vectors from j on: forwards, or backwards when out is just past x or dy
     * modulo 4 KiB (gk_alias_ahead).  malloc puts arrays allocated one after another
     * 16 bytes apart, past its header: 8192 x 1024 float32 (N, C) into such a dx took
     * 3.8 ms forwards against 2.8 backwards, the forward 3.1 against 1.85 (Intel Xeon,
     * one process); the same values either way */
    const int back = gk_alias_ahead(out, x) || (grad && gk_alias_ahead(out, dy));
#if GK_HALF == 2  /* bfloat16: two vectors per pack and store (gk_st_bf16v2) */
    if (!nt) {
        const gk_index np = (n - j) / GK_TVLEN / 2, step = back ? -2 * GK_TVLEN : 2 * GK_TVLEN;
        gk_index o = back ? j + (np - 1) * 2 * GK_TVLEN : j;
        for (gk_index q = 0; q < np; ++q, o += step)
            gk_st_bf16v2(out + o, GK_T(bn_vec)(grad, cs, dy, x, o, cf, at, c),
                         GK_T(bn_vec)(grad, cs, dy, x, o + GK_TVLEN, cf, at, c));
        j += np * 2 * GK_TVLEN;
    }
#endif
    /* bfloat16 streamed: a line per store (stream_vec2; 8192x1024 (N,C) forward from
     * memory, 2 threads of the Intel Xeon guest: 1.42 -> 1.33-1.36 ms, the backward and
     * the (N,C,*) layout unchanged), each pair's line of x (and dy) prefetched */
    if (GK_STREAM_PAIR && nt && !back) {
        if (n - j >= 3 * GK_TVLEN && ((uintptr_t)(out + j) & 63)) {
            GK_T(bn_stream)(out + j, GK_T(bn_vec)(grad, cs, dy, x, j, cf, at, c));
            j += GK_TVLEN;
        }
        if (!((uintptr_t)(out + j) & 63))  /* out + j on a line */
            for (; j + 2 * GK_TVLEN <= n; j += 2 * GK_TVLEN) {
                __builtin_prefetch((const char *)(x + j) + GK_PF_AHEAD, 0, 3);
                if (grad) __builtin_prefetch((const char *)(dy + j) + GK_PF_AHEAD, 0, 3);
                GK_T(stream_vec2)(out + j, GK_T(bn_vec)(grad, cs, dy, x, j, cf, at, c),
                                  GK_T(bn_vec)(grad, cs, dy, x, j + GK_TVLEN, cf, at, c));
            }
    }
    {
        const gk_index m = (n - j) / GK_TVLEN, step = back ? -GK_TVLEN : GK_TVLEN;
        gk_index o = back ? j + (m - 1) * GK_TVLEN : j;
        /* streamed (the inputs come from memory too): x and dy prefetched GK_PF_AHEAD
         * bytes ahead in the direction of the walk (reduce_tmpl.h; 8192x1024 float32
         * from memory, 2 threads: the forward 2.07 -> 1.80 ms, the backward 2.82 ->
         * 2.56, Intel Xeon guest) */
        const ptrdiff_t pf = back ? -GK_PF_AHEAD : GK_PF_AHEAD;
        for (gk_index q = 0; q < m; ++q, o += step) {
            if (nt) {
                __builtin_prefetch((const char *)(x + o) + pf, 0, 3);
                if (grad) __builtin_prefetch((const char *)(dy + o) + pf, 0, 3);
            }
            const GK_T(bnv) v = GK_T(bn_vec)(grad, cs, dy, x, o, cf, at, c);
            if (nt) GK_T(bn_stream)(out + o, v);
            else GK_T(sttv_arith)(out + o, v);
        }
        j += m * GK_TVLEN;
    }
    if (j < n && ends_v) {
        const GK_T(bnv) v = GK_T(bn_vec)(grad, cs, dy, x, n - GK_TVLEN, cf, at, c);
        if (nt && GK_CARRY_ON && cy) GK_T(carry_tail)(cy, out + n - GK_TVLEN, v, j - (n - GK_TVLEN));
        else if (nt) GK_T(store_lanes)(out + n - GK_TVLEN, v, j - (n - GK_TVLEN), GK_TVLEN);
        else GK_T(sttv_arith)(out + n - GK_TVLEN, v);
    } else
        GK_T(bn_out)(grad, cs, grad ? dy + j : NULL, x + j, out + j, n - j, cf, at + j * cs);
}

#include "batch_norm_col_tmpl.h"
#include "batch_norm_plane_tmpl.h"

/* ---- both directions: drivers ------------------------------------------------------ */

/* Scratch of one call, allocated before anything is written so that running out of
 * memory leaves the outputs alone: the partial statistics, 2 C per-channel sums, a
 * double per column (ref: the pivots of the forward, the saved mean in the backward)
 * and the output pass's constants. */
typedef struct {
    double *part, *stat, *ref;
    GK_T(bn_coef) cf;
    int owned;   /* see gk_scratch */
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
    char *buf = (char *)gk_scratch(bytes, &wk->owned);
    if (!buf) return NULL;
    wk->part = (double *)buf;
    wk->stat = wk->part + npart;
    wk->ref = wk->stat + 2 * C;
    T *t = (T *)(buf + sizeof(double) * (size_t)ndouble);
    wk->cf.mh = t;
    wk->cf.ml = t + ncolumn;
    wk->cf.s = t + 2 * ncolumn;
    wk->cf.b = t + 3 * ncolumn;
    wk->cf.k = t + 4 * ncolumn;
    return buf;
}

/* Per-channel reductions (see bn_col_reduce, bn_plane_reduce) into ca, cb; ref holds
 * one value per channel and room for one per column. */
GK_INLINE void GK_T(bn_reduce)(const int grad, const TS *dy, const TS *x, gk_index N,
                               gk_index C, gk_index inner, GK_T(bn_work) *wk, double *ca,
                               double *cb)
{
    for (gk_index c = 0; c < C; ++c) ca[c] = cb[c] = 0.0;
    if (inner < GK_BN_ROW_MIN) {
        gk_bn_expand(wk->ref, sizeof(double), C, inner, gk_bn_fold(C * inner));
        GK_T(bn_col_channels)(grad, dy, x, N, C, inner, wk->part, wk->ref, ca, cb);
    } else {
        GK_T(bn_plane_reduce)(grad, dy, x, N, C, inner, wk->part, wk->ref, ca, cb);
    }
}

/* The output pass with the per-channel constants cf (expanded per column here). */
GK_INLINE void GK_T(bn_apply)(const int grad, const TS *dy, const TS *x, TS *out, gk_index N,
                              gk_index C, gk_index inner, GK_T(bn_coef) cf)
{
    if (inner >= GK_BN_ROW_MIN) {
        GK_T(bn_plane_apply)(grad, dy, x, out, N, C, inner, cf);
        return;
    }
    gk_index K = C * inner, R = gk_bn_fold(K), Nf = N / R * R;
    gk_bn_expand(cf.mh, sizeof(T), C, inner, R);
    gk_bn_expand(cf.s, sizeof(T), C, inner, R);
    gk_bn_expand(cf.b, sizeof(T), C, inner, R);
    gk_bn_expand(grad ? cf.k : cf.ml, sizeof(T), C, inner, R);
    GK_T(bn_col_apply)(grad, dy, x, out, N / R, R * K, cf);
    GK_T(bn_col_apply)(grad, grad ? dy + Nf * K : NULL, x + Nf * K, out + Nf * K, N - Nf,
                       K, cf);
}

/* ---- forward ------------------------------------------------------------------------ */

/* Per-channel mean and M2 of x (N inner > 0 values per channel) into cmean, cm2: the
 * means are taken relative to a pivot per channel, its first value (see bn_col_stats),
 * which is added back at the end. */
static void GK_T(bn_moments)(const TS *x, gk_index N, gk_index C, gk_index inner,
                             GK_T(bn_work) *wk, double *cmean, double *cm2)
{
    for (gk_index c = 0; c < C; ++c) wk->ref[c] = (double)GK_T(ld1)(x + c * inner);
    GK_T(bn_reduce)(0, NULL, x, N, C, inner, wk, cmean, cm2);
    for (gk_index c = 0; c < C; ++c) cmean[c] += (double)GK_T(ld1)(x + c * inner);
}

/* Training mode, channels [0, C) of a batch of `count` values per channel with means
 * m[c] and M2s r[c] (0 and 0 when empty): r[c] becomes 1 / sqrt(var + eps) with the
 * biased variance; the running statistics (if any) move towards the mean and the
 * unbiased variance.  An empty batch leaves them alone, as torch does (count 1 is
 * refused before this).  Loops over the channels with nothing else in them, so that
 * the divisions and square roots run as vectors: one channel at a time, the divider's
 * four scalar operations per channel took 40% of a 2x2048 float32 forward (12 us of
 * 20 on an Intel Xeon guest).  Each value is the same correctly rounded operation
 * either way, so the same bits. */
static void GK_T(bn_train_finish)(gk_index count, const double *GK_RESTRICT m,
                                  double *GK_RESTRICT r, gk_index C, double eps,
                                  T *running_mean, T *running_var, double momentum)
{
    if (running_mean && count > 1) {
        const double dn1 = (double)(count - 1), keep = 1.0 - momentum;
        for (gk_index c = 0; c < C; ++c)
            running_mean[c] = (T)(keep * (double)running_mean[c] + momentum * m[c]);
        for (gk_index c = 0; c < C; ++c)
            running_var[c] = (T)(keep * (double)running_var[c] + momentum * (r[c] / dn1));
    }
    const double dn = (double)count;
    if (count > 0)
        for (gk_index c = 0; c < C; ++c) r[c] = 1.0 / sqrt(r[c] / dn + eps);
    else
        for (gk_index c = 0; c < C; ++c) r[c] = 1.0 / sqrt(0.0 + eps);
}

/* The output pass y = (x - m) r w + b with per-channel m and r in double (the mean
 * split in two, see the top of this file). */
static void GK_T(bn_normalize)(const TS *x, const T *w, const T *b, const double *m,
                               const double *r, TS *y, gk_index N, gk_index C,
                               gk_index inner, GK_T(bn_coef) cf)
{
    /* the constants through restrict pointers, in loops of their own: through the
     * struct's pointers GCC assumed they might alias and went channel by channel */
    T *GK_RESTRICT mh = cf.mh, *GK_RESTRICT ml = cf.ml, *GK_RESTRICT s = cf.s;
    T *GK_RESTRICT cb = cf.b;
    for (gk_index c = 0; c < C; ++c) {
        mh[c] = (T)m[c];
        ml[c] = (T)(m[c] - (double)mh[c]);
    }
    if (w)
        for (gk_index c = 0; c < C; ++c) s[c] = (T)(r[c] * (double)w[c]);
    else
        for (gk_index c = 0; c < C; ++c) s[c] = (T)r[c];
    for (gk_index c = 0; c < C; ++c) cb[c] = b ? b[c] : (T)0;
    if (N * inner > 0)
        GK_T(bn_apply)(0, NULL, x, y, N, C, inner, cf);
}

static int GK_T(batch_norm_fwd)(const TS *x, const T *w, const T *b, TS *y, T *mean, T *rstd,
                                T *running_mean, T *running_var, gk_index N, gk_index C,
                                gk_index inner, int training, double momentum, double eps)
{
    gk_index count = N * inner;
    if (C == 0) return GK_OK;
    GK_T(bn_work) wk;
    void *buf = GK_T(bn_scratch)(N, C, inner, &wk);
    if (!buf) return GK_ENOMEM;
    double *cmean = wk.stat, *cr = wk.stat + C;   /* the channel's m2, then its rstd */
    if (training && count > 0)
        GK_T(bn_moments)(x, N, C, inner, &wk, cmean, cr);
    if (training) {
        if (count == 0)
            for (gk_index c = 0; c < C; ++c) cmean[c] = cr[c] = 0.0;
        GK_T(bn_train_finish)(count, cmean, cr, C, eps, running_mean, running_var, momentum);
    } else {
        for (gk_index c = 0; c < C; ++c) cmean[c] = (double)running_mean[c];
        for (gk_index c = 0; c < C; ++c) cr[c] = 1.0 / sqrt((double)running_var[c] + eps);
    }
    if (mean)
        for (gk_index c = 0; c < C; ++c) mean[c] = (T)cmean[c];
    if (rstd)
        for (gk_index c = 0; c < C; ++c) rstd[c] = (T)cr[c];
    GK_T(bn_normalize)(x, w, b, cmean, cr, y, N, C, inner, wk.cf);
    gk_scratch_done(buf, wk.owned);
    return GK_OK;
}

/* ---- backward ----------------------------------------------------------------------- */

/* sum dy and sum dy (x - mean) per channel (N inner > 0), mean the saved one (a T) */
static void GK_T(bn_grad_sums)(const TS *dy, const TS *x, const T *mean, gk_index N,
                               gk_index C, gk_index inner, GK_T(bn_work) *wk,
                               double *sdy, double *sdyx)
{
    for (gk_index c = 0; c < C; ++c) wk->ref[c] = (double)mean[c];
    GK_T(bn_reduce)(1, dy, x, N, C, inner, wk, sdy, sdyx);
}

/* dw = r sum dy (x - m) (= sum dy xhat), db = sum dy, either may be NULL */
GK_INLINE void GK_T(bn_param_grads)(const T *rstd, const double *sdy, const double *sdyx,
                                    T *dw, T *db, gk_index C)
{
    if (dw)
        for (gk_index c = 0; c < C; ++c) dw[c] = (T)((double)rstd[c] * sdyx[c]);
    if (db)
        for (gk_index c = 0; c < C; ++c) db[c] = (T)sdy[c];
}

/* dx = w r (dy - mean(dy) - xhat mean(dy xhat)) with xhat = (x - m) r and the means
 * over `count` values per channel (all the ranks' in a synchronized BatchNorm):
 * k = w r, b = mean(dy), s = r^2 mean(dy (x - m)); m is the saved mean, already a T */
static void GK_T(bn_grad_input)(const TS *dy, const TS *x, const T *mean, const T *rstd,
                                const T *w, const double *sdy, const double *sdyx,
                                gk_index count, TS *dx, gk_index N, gk_index C,
                                gk_index inner, GK_T(bn_coef) cf)
{
    double inv = 1.0 / (double)count;
    T *GK_RESTRICT mh = cf.mh, *GK_RESTRICT k = cf.k, *GK_RESTRICT cb = cf.b;
    T *GK_RESTRICT s = cf.s;   /* restrict and loops of their own: see bn_normalize */
    for (gk_index c = 0; c < C; ++c) mh[c] = mean[c];
    if (w)
        for (gk_index c = 0; c < C; ++c) k[c] = (T)((double)w[c] * (double)rstd[c]);
    else
        for (gk_index c = 0; c < C; ++c) k[c] = rstd[c];
    for (gk_index c = 0; c < C; ++c) {
        double r = (double)rstd[c];
        cb[c] = (T)(sdy[c] * inv);
        s[c] = (T)(r * r * (sdyx[c] * inv));
    }
    GK_T(bn_apply)(1, dy, x, dx, N, C, inner, cf);
}

static int GK_T(batch_norm_bwd)(const TS *dy, const TS *x, const T *mean, const T *rstd,
                                const T *w, TS *dx, T *dw, T *db, gk_index N, gk_index C,
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
    GK_T(bn_work) wk;
    void *buf = GK_T(bn_scratch)(N, C, inner, &wk);
    if (!buf) return GK_ENOMEM;
    double *sdy = wk.stat, *sdyx = wk.stat + C;
    GK_T(bn_grad_sums)(dy, x, mean, N, C, inner, &wk, sdy, sdyx);
    GK_T(bn_param_grads)(rstd, sdy, sdyx, dw, db, C);
    GK_T(bn_grad_input)(dy, x, mean, rstd, w, sdy, sdyx, count, dx, N, C, inner, wk.cf);
    gk_scratch_done(buf, wk.owned);
    return GK_OK;
}

/* ---- the split kernels of a synchronized BatchNorm ------------------------------------
 * The steps of batch_norm_fwd / batch_norm_bwd one by one, so that the per-channel
 * statistics and sums can be combined across processes between them (norm.h).  Each
 * does what its part of the one-process kernel does, with the same code, so in 16-bit
 * storage too (TS x, y, dy, dx; float32 parameters and saved statistics). */

static int GK_T(batch_norm_stats)(const TS *x, double *mean, double *m2, gk_index N,
                                  gk_index C, gk_index inner)
{
    if (C == 0) return GK_OK;
    if (N * inner == 0) {
        for (gk_index c = 0; c < C; ++c) mean[c] = m2[c] = 0.0;
        return GK_OK;
    }
    GK_T(bn_work) wk;
    void *buf = GK_T(bn_scratch)(N, C, inner, &wk);
    if (!buf) return GK_ENOMEM;
    GK_T(bn_moments)(x, N, C, inner, &wk, mean, m2);
    gk_scratch_done(buf, wk.owned);
    return GK_OK;
}

#if !GK_HALF  /* no data array: 16-bit storage uses float32's (float32 running stats) */
/* merged (count, mean, M2) of the parts, then mean and rstd as batch_norm_fwd: invstd
 * holds the merged M2 until it is replaced by the rstd */
static void GK_T(batch_norm_gather)(const int64_t *counts, const double *means,
                                    const double *m2s, gk_index parts, gk_index C,
                                    T *running_mean, T *running_var, double momentum,
                                    double eps, double *mean, double *invstd)
{
    gk_index count = gk_bn_merge(counts, means, m2s, parts, C, mean, invstd);
    GK_T(bn_train_finish)(count, mean, invstd, C, eps, running_mean, running_var, momentum);
}
#endif

static int GK_T(batch_norm_elemt)(const TS *x, const T *w, const T *b, const double *mean,
                                  const double *invstd, TS *y, gk_index N, gk_index C,
                                  gk_index inner)
{
    if (C == 0 || N * inner == 0) return GK_OK;
    GK_T(bn_work) wk;
    void *buf = GK_T(bn_scratch)(N, C, inner, &wk);
    if (!buf) return GK_ENOMEM;
    GK_T(bn_normalize)(x, w, b, mean, invstd, y, N, C, inner, wk.cf);
    gk_scratch_done(buf, wk.owned);
    return GK_OK;
}

static int GK_T(batch_norm_backward_reduce)(const TS *dy, const TS *x, const T *mean,
                                            const T *rstd, T *dw, T *db, double *sum_dy,
                                            double *sum_dy_xmu, gk_index N, gk_index C,
                                            gk_index inner)
{
    if (C == 0) return GK_OK;
    if (N * inner == 0) {
        for (gk_index c = 0; c < C; ++c) sum_dy[c] = sum_dy_xmu[c] = 0.0;
    } else {
        GK_T(bn_work) wk;
        void *buf = GK_T(bn_scratch)(N, C, inner, &wk);
        if (!buf) return GK_ENOMEM;
        GK_T(bn_grad_sums)(dy, x, mean, N, C, inner, &wk, sum_dy, sum_dy_xmu);
        gk_scratch_done(buf, wk.owned);
    }
    GK_T(bn_param_grads)(rstd, sum_dy, sum_dy_xmu, dw, db, C);
    return GK_OK;
}

static int GK_T(batch_norm_backward_elemt)(const TS *dy, const TS *x, const T *mean,
                                           const T *rstd, const T *w, const double *sum_dy,
                                           const double *sum_dy_xmu, gk_index count, TS *dx,
                                           gk_index N, gk_index C, gk_index inner)
{
    if (C == 0 || N * inner == 0) return GK_OK;
    GK_T(bn_work) wk;
    void *buf = GK_T(bn_scratch)(N, C, inner, &wk);
    if (!buf) return GK_ENOMEM;
    GK_T(bn_grad_input)(dy, x, mean, rstd, w, sum_dy, sum_dy_xmu, count, dx, N, C, inner,
                        wk.cf);
    gk_scratch_done(buf, wk.owned);
    return GK_OK;
}
