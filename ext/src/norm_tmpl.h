/* LayerNorm and RMSNorm kernels for element type T.  Included by norm.c once per dtype,
 * float16 and bfloat16 included: data arrays (x, y, dy, dx) are TS, read and written
 * through reduce_tmpl.h's loads and stores, everything else (weight, bias, statistics,
 * their gradients) is T, float32 for 16-bit storage.
 *
 * Statistics are accumulated in double (reduce_tmpl.h) from shifted data, so rows with
 * a large mean (1e4 + N(0, 1)) keep full accuracy; float32 rows add their terms in
 * float32 over short blocks first (chunk_blk_moments), float64 rows in double.  The
 * output is computed in T with the mean split into a head and a tail. */

/* ---- row statistics -------------------------------------------------------------
 * Partial sums per GK_CHUNK chunk of a row, added in chunk order; with nt > 1 the chunks
 * of one long row run in parallel.  Same arithmetic either way, so same bits. */

#ifndef GK_ROW_KINDS
#define GK_ROW_KINDS
/* see reduce_tmpl.h; the _BLK kinds add in T over blocks (chunk_blk_moments) */
enum { GK_ROW_SUM, GK_ROW_SUMSQ, GK_ROW_SHIFTED, GK_ROW_SHIFTED_BLK, GK_ROW_SUMSQ_BLK };
#define GK_ROW_STACK 64   /* chunks whose partials fit on the stack */
#endif

/* 16-bit: out of line, one copy for row_moments' three call sites */
#if GK_HALF
static __attribute__((noinline))
#else
GK_INLINE
#endif
void GK_T(chunk_moments)(int kind, int pf, const TS *x, gk_index n, double s, double *r0,
                         double *r1)
{
    switch (kind) {
    case GK_ROW_SUM: *r0 = GK_T(chunk_sum)(x, n, s); break;
    case GK_ROW_SUMSQ: *r0 = GK_T(chunk_sumsq)(x, n, s); break;
    case GK_ROW_SHIFTED_BLK: (pf ? GK_T(chunk_blk_moments)(1, 1, x, n, (T)s, r0, r1)
                                : GK_T(chunk_blk_moments)(1, 0, x, n, (T)s, r0, r1)); break;
    case GK_ROW_SUMSQ_BLK: (pf ? GK_T(chunk_blk_moments)(0, 1, x, n, (T)0, NULL, r0)
                              : GK_T(chunk_blk_moments)(0, 0, x, n, (T)0, NULL, r0)); break;
    default: GK_T(chunk_shifted)(x, n, s, r0, r1); break;
    }
}

/* chunk_moments, called: the many-chunk paths below share one copy of it */
GK_TASK void GK_T(chunk_moments_call)(int kind, int pf, const TS *x, gk_index n, double s,
                                      double *r0, double *r1)
{
    GK_T(chunk_moments)(kind, pf, x, n, s, r0, r1);
}

static void GK_T(row_moments)(int kind, int pf, const TS *x, gk_index n, double s, int nt,
                              double *r0, double *r1)
{
    if (n <= GK_CHUNK) {  /* one chunk: the common row */
        double p1 = 0.0;
        GK_T(chunk_moments)(kind, pf, x, n, s, r0, &p1);
        if (r1) *r1 = p1;
        return;
    }
    gk_index nchunk = (n + GK_CHUNK - 1) / GK_CHUNK;
    double a = 0.0, b = 0.0;
    double stack[2 * GK_ROW_STACK];
    double *part = NULL;
    if (nt > 1)
        part = nchunk <= GK_ROW_STACK ? stack
                                      : (double *)malloc(sizeof(double) * 2 * (size_t)nchunk);
    if (part) {
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (gk_index c = 0; c < nchunk; ++c) {
            gk_index off = c * GK_CHUNK, len = n - off < GK_CHUNK ? n - off : GK_CHUNK;
            part[2 * c + 1] = 0.0;
            GK_T(chunk_moments_call)(kind, pf, x + off, len, s, &part[2 * c],
                                     &part[2 * c + 1]);
        }
        for (gk_index c = 0; c < nchunk; ++c) {
            a += part[2 * c];
            b += part[2 * c + 1];
        }
        if (part != stack) free(part);
    } else {  /* one thread (or no memory for the partials): the same sums in order */
        for (gk_index off = 0; off < n; off += GK_CHUNK) {
            double p0 = 0.0, p1 = 0.0;
            GK_T(chunk_moments_call)(kind, pf, x + off,
                                     n - off < GK_CHUNK ? n - off : GK_CHUNK, s, &p0, &p1);
            a += p0;
            b += p1;
        }
    }
    *r0 = a;
    if (r1) *r1 = b;
}

/* float32 rows: block sums (chunk_blk_moments) are used when the sum of squares is
 * finite and at least GK_BLK_MIN_SQ per element (no float32 term overflowed, and
 * terms that underflow to float32 subnormals are negligible); otherwise the double
 * path runs.  Shifted sums also need (mean - s)^2 <= GK_BLK_SHIFT_MAX_RATIO var, the
 * condition of the error bound in docs/norm.md. */
#ifndef GK_BLK_MIN_SQ
#define GK_BLK_MIN_SQ 0x1p-100
#define GK_BLK_SHIFT_MAX_RATIO 1.0
#define GK_SHIFT_HEAD 16   /* elements whose mean is the shift of a float32 row (row_shift's tree) */
GK_INLINE int gk_blk_sq_ok(double sum_sq, gk_index n)
{
    return sum_sq >= GK_BLK_MIN_SQ * (double)n && sum_sq <= 0x1p1000;
}
#endif

/* the shift of a float32 row: the mean of its first GK_SHIFT_HEAD elements (fewer for a
 * shorter row), summed in T in a fixed tree, rounded to T.  Near the row's mean, so
 * (mean - s)^2 / var is about 1 / GK_SHIFT_HEAD for i.i.d. elements.  Any fixed
 * summation order does: the shift only has to be near the mean. */
GK_INLINE T GK_T(row_shift)(const TS *x, gk_index n)
{
    if (n < GK_SHIFT_HEAD) {
        T t = 0;
        for (gk_index j = 0; j < n; ++j) t += GK_T(ld1)(x + j);
        return t / (T)n;
    }
    T a[8], b[4], h[GK_SHIFT_HEAD];   /* the tree of 16, level by level (loops of constant length) */
#if GK_HALF  /* widened a vector at a time: the scalar float16 formula is ~20 instructions */
    for (int k = 0; k < GK_SHIFT_HEAD; k += GK_TVLEN) {
        GK_T(tvec) v = GK_T(ldtv_arith)(x + k);
        __builtin_memcpy(h + k, &v, sizeof v);
    }
#else
    for (int k = 0; k < GK_SHIFT_HEAD; ++k) h[k] = x[k];
#endif
    for (int k = 0; k < 8; ++k) a[k] = h[k] + h[k + 8];
    for (int k = 0; k < 4; ++k) b[k] = a[k] + a[k + 4];
    return ((b[0] + b[2]) + (b[1] + b[3])) / (T)GK_SHIFT_HEAD;
}

/* Mean and biased variance of a row (n > 0).
 * float32 rows: one pass of shifted sums d = x - s (row_shift) added in float32 blocks
 * folded into double, var = E[d^2] - E[d]^2, kept under the conditions above -- the
 * usual case.  Otherwise, and always for float64 rows, the exact two-pass form: the
 * mean, then the sum of squared deviations, in double. */
static void GK_T(ln_row_stats)(const TS *x, gk_index n, int nt, int pf, double *m, double *v)
{
    if (sizeof(T) == sizeof(float)) {
        const T st = GK_T(row_shift)(x, n);
        double s = (double)st, sd, sd2;
        if (n <= GK_CHUNK)  /* one chunk, inline: row_moments' per-call cost is a tenth
                             * of a 256-element row's */
            pf ? GK_T(chunk_blk_moments)(1, 1, x, n, st, &sd, &sd2)
               : GK_T(chunk_blk_moments)(1, 0, x, n, st, &sd, &sd2);
        else
            GK_T(row_moments)(GK_ROW_SHIFTED_BLK, pf, x, n, s, nt, &sd, &sd2);
        double dm = sd / (double)n, var = sd2 / (double)n - dm * dm;
        if (gk_blk_sq_ok(sd2, n) && dm * dm <= GK_BLK_SHIFT_MAX_RATIO * var) {
            *m = s + dm;
            *v = var;
            return;
        }
    }
    double sum, ssd;
    GK_T(row_moments)(GK_ROW_SUM, 0, x, n, 0.0, nt, &sum, NULL);
    *m = sum / (double)n;
    GK_T(row_moments)(GK_ROW_SUMSQ, 0, x, n, *m, nt, &ssd, NULL);
    *v = ssd / (double)n;
}

/* mean(x^2) of a row: float32 in blocks when gk_blk_sq_ok, else (and float64) in double */
static double GK_T(rms_row_ms)(const TS *x, gk_index n, int nt, int pf)
{
    double v;
    if (sizeof(T) == sizeof(float)) {
        if (n <= GK_CHUNK)  /* one chunk, inline (as ln_row_stats) */
            pf ? GK_T(chunk_blk_moments)(0, 1, x, n, (T)0, NULL, &v)
               : GK_T(chunk_blk_moments)(0, 0, x, n, (T)0, NULL, &v);
        else
            GK_T(row_moments)(GK_ROW_SUMSQ_BLK, pf, x, n, 0.0, nt, &v, NULL);
        if (gk_blk_sq_ok(v, n))
            return v / (double)n;
    }
    GK_T(row_moments)(GK_ROW_SUMSQ, 0, x, n, 0.0, nt, &v, NULL);
    return v / (double)n;
}

/* ---- forward: output of one row ---------------------------------------------------
 * LayerNorm: y = ((x - m) r) w + b, evaluated in T.  For float32 the mean is split into
 * a float head and tail (m = mh + ml exactly to ~2^-48), so x - mh - ml keeps the
 * accuracy of the double mean even for rows like 1e4 + N(0, 1); the result is within a
 * few ulps of the float64 formula at a quarter of its cost.  For float64 ml is 0.
 * RMSNorm: y = (x r) w.  x and y may be the same array (out=x): no restrict between
 * them. */
typedef struct {
    T mh, ml, rt;
} GK_T(fwd_k);

GK_INLINE T GK_T(fwd_one)(const int rms, const int hw, const int hb, T x, const T *w,
                          const T *b, gk_index j, GK_T(fwd_k) k)
{
    T v = rms ? x * k.rt : ((x - k.mh) - k.ml) * k.rt;
    if (hw) v = v * w[j];
    if (hb) v = v + b[j];
    return v;
}

/* the output vector of elements [j, j + GK_TVLEN): fwd_one's operations lane by lane.
 * ((x - mh) - ml) rt as ((mh - x) + ml) (-rt): the same value exactly (rounding to
 * nearest is symmetric), with x straight from memory as the subtraction's operand. */
GK_INLINE GK_T(tvec) GK_T(fwd_vec)(const int rms, const int hw, const int hb, const TS *x,
                                   const T *GK_RESTRICT w, const T *GK_RESTRICT b,
                                   gk_index j, GK_T(tvec) vmh, GK_T(tvec) vml,
                                   GK_T(tvec) vrt, GK_T(tvec) vnrt)
{
    GK_T(tvec) v = GK_T(ldtv_arith)(x + j), t;
    v = rms ? v * vrt : ((vmh - v) + vml) * vnrt;
    if (hw) {
        __builtin_memcpy(&t, w + j, sizeof t);
        v = v * t;
    }
    if (hb) {
        __builtin_memcpy(&t, b + j, sizeof t);
        v = v + t;
    }
    return v;
}

/* y[0, n) of a row, whole vectors of GK_TVLEN in one loop per (rms, w, b) variant.  The
 * loop's stores are aligned to GK_TVBYTES: NumPy puts large arrays 16 bytes past a
 * line, where every 64-byte store would straddle two lines (an out= LayerNorm forward
 * ran at 52% of its limit against 67% into an aligned buffer on an Intel Xeon guest).
 * The elements before y's first aligned vector are one unaligned vector, those after
 * the last one more ending at n: the overlapped elements are computed twice, with the
 * same operations, so the same bits.  When y is x (in place), or the row is shorter
 * than a vector, the ends go element by element instead.  stream: the aligned vectors
 * go to y with non-temporal stores straight from the registers (y must not be x,
 * gk_stream_output; the caller fences). */
GK_INLINE void GK_T(fwd_write_v)(const int rms, const int hw, const int hb, const int stream,
                                 const TS *x, const T *GK_RESTRICT w, const T *GK_RESTRICT b,
                                 TS *y, gk_index n, GK_T(fwd_k) k, GK_T(carry) *cy)
{
    typedef GK_T(tvec) V;
    const V vmh = (V){0} + k.mh, vml = (V){0} + k.ml, vrt = (V){0} + k.rt;
    const V vnrt = -vrt;
    const int ends_v = n >= GK_TVLEN && (const void *)x != (const void *)y;
    gk_index j = 0;
    gk_index head = GK_T(vec_head)(y);
    if (head > n || head < 0) head = stream ? n : 0;
    if (head && ends_v) {
        V v = GK_T(fwd_vec)(rms, hw, hb, x, w, b, 0, vmh, vml, vrt, vnrt);
        if (stream && GK_CARRY_ON && cy) GK_T(carry_head)(cy, y, v, head);
        else if (stream) GK_T(store_lanes)(y, v, 0, head);
        else GK_T(sttv_arith)(y, v);
        j = head;
    }
    for (; j < head; ++j)
        GK_T(st1)(y + j, GK_T(fwd_one)(rms, hw, hb, GK_T(ld1)(x + j), w, b, j, k));
    /* the whole vectors from j on: forwards, or backwards when y is just past x modulo
     * 4 KiB (gk_alias_ahead); the same values either way */
    const int back = gk_alias_ahead(y, x);
#if GK_HALF == 2  /* bfloat16: two vectors per pack and store (gk_st_bf16v2) */
    if (!stream) {
        const gk_index np = (n - j) / GK_TVLEN / 2, step = back ? -2 * GK_TVLEN : 2 * GK_TVLEN;
        gk_index o = back ? j + (np - 1) * 2 * GK_TVLEN : j;
        for (gk_index q = 0; q < np; ++q, o += step)
            gk_st_bf16v2(y + o, GK_T(fwd_vec)(rms, hw, hb, x, w, b, o, vmh, vml, vrt, vnrt),
                         GK_T(fwd_vec)(rms, hw, hb, x, w, b, o + GK_TVLEN, vmh, vml, vrt,
                                       vnrt));
        j += np * 2 * GK_TVLEN;
    }
#endif
    if (GK_STREAM_PAIR && stream && !back) {  /* bfloat16: a line per store (stream_vec2) */
        if (n - j >= 3 * GK_TVLEN && ((uintptr_t)(y + j) & 63)) {
            GK_T(stream_vec)(y + j, GK_T(fwd_vec)(rms, hw, hb, x, w, b, j, vmh, vml, vrt,
                                                  vnrt));
            j += GK_TVLEN;
        }
        if (!((uintptr_t)(y + j) & 63))  /* y + j on a line */
            for (; j + 2 * GK_TVLEN <= n; j += 2 * GK_TVLEN)
                GK_T(stream_vec2)(y + j,
                                  GK_T(fwd_vec)(rms, hw, hb, x, w, b, j, vmh, vml, vrt,
                                                vnrt),
                                  GK_T(fwd_vec)(rms, hw, hb, x, w, b, j + GK_TVLEN, vmh,
                                                vml, vrt, vnrt));
    }
    {
        const gk_index m = (n - j) / GK_TVLEN, step = back ? -GK_TVLEN : GK_TVLEN;
        gk_index o = back ? j + (m - 1) * GK_TVLEN : j;
#pragma GCC unroll 2
        for (gk_index q = 0; q < m; ++q, o += step) {
            V v = GK_T(fwd_vec)(rms, hw, hb, x, w, b, o, vmh, vml, vrt, vnrt);
            if (stream) GK_T(stream_vec)(y + o, v);
            else GK_T(sttv_arith)(y + o, v);
        }
        j += m * GK_TVLEN;
    }
    if (j < n && ends_v) {
        V v = GK_T(fwd_vec)(rms, hw, hb, x, w, b, n - GK_TVLEN, vmh, vml, vrt, vnrt);
        if (stream && GK_CARRY_ON && cy)
            GK_T(carry_tail)(cy, y + n - GK_TVLEN, v, j - (n - GK_TVLEN));
        else if (stream) GK_T(store_lanes)(y + n - GK_TVLEN, v, j - (n - GK_TVLEN), GK_TVLEN);
        else GK_T(sttv_arith)(y + n - GK_TVLEN, v);
        j = n;
    }
    for (; j < n; ++j)
        GK_T(st1)(y + j, GK_T(fwd_one)(rms, hw, hb, GK_T(ld1)(x + j), w, b, j, k));
}

/* a row's output y[0, n) (x, w, b from the row's first column): fwd_write_v's variant */
GK_INLINE void GK_T(fwd_write_in)(const int rms, const TS *x, const T *w, const T *b, TS *y,
                                  gk_index n, double m, double r, int stream,
                                  GK_T(carry) *cy)
{
    const T mh = (T)m;
    GK_T(fwd_k) k = {mh, (T)(m - (double)mh), (T)r};
#define GK_FWD_W(hw, hb) \
    (stream ? GK_T(fwd_write_v)(rms, hw, hb, 1, x, w, b, y, n, k, cy) \
            : GK_T(fwd_write_v)(rms, hw, hb, 0, x, w, b, y, n, k, NULL))
    if (w && b && !rms) GK_FWD_W(1, 1);
    else if (w) GK_FWD_W(1, 0);
    else if (b && !rms) GK_FWD_W(0, 1);
    else GK_FWD_W(0, 0);
#undef GK_FWD_W
}

#if GK_HALF
/* 16-bit: one out-of-line copy of the output loops for every call site (a call per row
 * costs nothing next to the row; inlined at each of the four sites, their 16 variants
 * per dtype and ISA were a third of the 16-bit code to compile) */
static __attribute__((noinline)) void GK_T(fwd_write_out)(int rms, const TS *x, const T *w,
                                                          const T *b, TS *y, gk_index n,
                                                          double m, double r, int stream)
{
    if (rms) GK_T(fwd_write_in)(1, x, w, b, y, n, m, r, stream, NULL);
    else GK_T(fwd_write_in)(0, x, w, b, y, n, m, r, stream, NULL);
}
#endif

GK_INLINE void GK_T(fwd_write)(const int rms, const TS *x, const T *w, const T *b, TS *y,
                               gk_index n, double m, double r, int stream, GK_T(carry) *cy)
{
#if GK_HALF
    (void)cy;   /* 16-bit: no carry (GK_CARRY_ON) */
    GK_T(fwd_write_out)(rms, x, w, b, y, n, m, r, stream);
#else
    GK_T(fwd_write_in)(rms, x, w, b, y, n, m, r, stream, cy);
#endif
}

/* the row's mean m (0 for RMSNorm) and r = 1 / sqrt(var + eps), var = mean(x^2) for
 * RMSNorm */
GK_INLINE void GK_T(fwd_stats)(const int rms, const TS *x, gk_index n, int nt, int pf,
                               double eps, double *m, double *r)
{
    double v;
    if (rms) {
        v = GK_T(rms_row_ms)(x, n, nt, pf);
        *m = 0.0;
    } else {
        GK_T(ln_row_stats)(x, n, nt, pf, m, &v);
    }
    *r = 1.0 / sqrt(v + eps);
}

/* ---- forward: driver --------------------------------------------------------------
 * Rows are split across threads in contiguous runs; a row longer than 2 chunks with
 * fewer rows than threads is itself split into chunks across threads (same sums, see
 * row_moments). */
#define GK_SPLIT_ROWS(rows, cols, nt) ((rows) < (nt) && (cols) >= 2 * GK_CHUNK)
#define GK_FWD_PAIR_COLS ((gk_index)1024)  /* rows up to this long go in pairs (fwd_row2) */

/* row i; far: x is past the cache, and the statistics pass (the one that reads x from
 * memory) prefetches GK_PF_AHEAD bytes ahead, into the next rows (prefetching the whole
 * next row at once, 1 KB to 16 KB in a burst, was 5-10 points of the probe slower);
 * streamed: the fence is the caller's, once per run */
GK_INLINE void GK_T(fwd_row)(const int rms, const TS *x, const T *w, const T *b, TS *y,
                             T *mean, T *rstd, gk_index i, gk_index cols, double eps,
                             int far, int stream, GK_T(carry) *cy)
{
    const TS *xi = x + i * cols;
    double m, r;
    GK_T(fwd_stats)(rms, xi, cols, 1, far, eps, &m, &r);
    if (mean) mean[i] = (T)m;
    if (rstd) rstd[i] = (T)r;
    GK_T(fwd_write)(rms, xi, w, b, y + i * cols, cols, m, r, stream, cy);
}

/* rows i and i + 1: both rows' statistics first, then both outputs.  A row's statistics
 * are a chain of dependent steps (the block sums, the folds, a division, a square root
 * and another division, ~140 cycles for a 256-column row); two independent chains side
 * by side overlap, where a row's output loop between them kept them apart.  For rows
 * in cache only: past the cache the pairs took a streamed 16384x1024 forward from 48%
 * to 41% of its probe on an Intel Xeon guest. */
GK_INLINE void GK_T(fwd_row2)(const int rms, const TS *x, const T *w, const T *b, TS *y,
                              T *mean, T *rstd, gk_index i, gk_index cols, double eps,
                              int stream)
{
    const TS *x0 = x + i * cols, *x1 = x0 + cols;
    double m0, r0, m1, r1;
    GK_T(fwd_stats)(rms, x0, cols, 1, 0, eps, &m0, &r0);   /* in cache: no prefetch */
    GK_T(fwd_stats)(rms, x1, cols, 1, 0, eps, &m1, &r1);
    if (mean) {
        mean[i] = (T)m0;
        mean[i + 1] = (T)m1;
    }
    if (rstd) {
        rstd[i] = (T)r0;
        rstd[i + 1] = (T)r1;
    }
    GK_T(fwd_write)(rms, x0, w, b, y + i * cols, cols, m0, r0, stream, NULL);
    GK_T(fwd_write)(rms, x1, w, b, y + (i + 1) * cols, cols, m1, r1, stream, NULL);
}

/* rows [i0, i1) of a forward: one task's share */
GK_TASK void GK_T(fwd_rows)(const int rms, const TS *x, const T *w, const T *b, TS *y,
                            T *mean, T *rstd, gk_index i0, gk_index i1, gk_index cols,
                            double eps, int far, int stream)
{
    gk_index i = i0;
    if (cols <= GK_FWD_PAIR_COLS && !far)  /* short rows in cache: the statistics set the pace */
        for (; i + 2 <= i1; i += 2)
            GK_T(fwd_row2)(rms, x, w, b, y, mean, rstd, i, cols, eps, stream);
    GK_T(carry) cy = {0};   /* a streamed row's last line, for the next row (reduce_tmpl.h) */
    for (; i < i1; ++i) {
        cy.keep = i + 1 < i1;
        GK_T(fwd_row)(rms, x, w, b, y, mean, rstd, i, cols, eps, far, stream, &cy);
    }
    GK_T(carry_flush)(&cy);
    if (stream) gk_sfence();  /* each thread orders its own streamed rows */
}

GK_INLINE void GK_T(norm_fwd)(const int rms, const TS *x, const T *w, const T *b, TS *y,
                              T *mean, T *rstd, gk_index rows, gk_index cols, double eps)
{
    int nt = gk_threads_for(rows * cols);
    const size_t bytes = (size_t)(rows * cols) * sizeof(TS);
    const int stream = gk_stream_output(bytes, y, x, NULL);
    const int far = bytes >= gk_get_stream_min_bytes();
    if (!GK_SPLIT_ROWS(rows, cols, nt)) {
        if (nt > rows) nt = (int)rows;
        GK_PARALLEL_FOR(nt, t, nt,
            GK_T(fwd_rows)(rms, x, w, b, y, mean, rstd, gk_task_begin(t, nt, rows),
                           gk_task_begin(t + 1, nt, rows), cols, eps, far, stream);
        );
        return;
    }
    gk_index nchunk = (cols + GK_CHUNK - 1) / GK_CHUNK;
    for (gk_index i = 0; i < rows; ++i) {
        const TS *xi = x + i * cols;
        double m, r;
        GK_T(fwd_stats)(rms, xi, cols, nt, far, eps, &m, &r);
        if (mean) mean[i] = (T)m;
        if (rstd) rstd[i] = (T)r;
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (gk_index c = 0; c < nchunk; ++c) {
            gk_index off = c * GK_CHUNK, len = cols - off < GK_CHUNK ? cols - off : GK_CHUNK;
            GK_T(fwd_write)(rms, xi + off, w ? w + off : NULL, b ? b + off : NULL,
                            y + i * cols + off, len, m, r, 0, NULL);
        }
    }
}

static void GK_T(layer_norm_fwd)(const TS *x, const T *w, const T *b, TS *y, T *mean,
                                 T *rstd, gk_index rows, gk_index cols, double eps)
{
    GK_T(norm_fwd)(0, x, w, b, y, mean, rstd, rows, cols, eps);
}

static void GK_T(rms_norm_fwd)(const TS *x, const T *w, TS *y, T *rstd, gk_index rows,
                               gk_index cols, double eps)
{
    GK_T(norm_fwd)(1, x, w, NULL, y, NULL, rstd, rows, cols, eps);
}

/* ---- backward: shared driver -------------------------------------------------------
 * dx is per row; dweight and dbias are sums over rows, accumulated per task of a fixed
 * row partition (gk_row_tasks) in double and added task by task in order.
 *
 * Within a task the rows go in groups of 4 or 2 (gk_bwd_group_for; the last few one by
 * one), so the grouping, like the partition, depends only on the shape.  For each row of a
 * group, pass A sums g and g h in double (h = xhat for LayerNorm, x for RMSNorm); then
 * pass B sweeps the columns once for the whole group, in T: dx of every row, and the
 * group's dweight/dbias terms dy xhat and dy added to the task's double partials with
 * one load and one store per column for the group, not per row:
 *   float32: the group's terms summed in float (xhat as dx uses it), that sum added to
 *            the double partial -- a few float roundings per group of 4 rows, far
 *            below the rounding of the float32 result;
 *   float64: the terms added to the partial row after row (xhat as pass A has it), so
 *            the sums are those of one row at a time.
 * A float32 row of 1024 elements is 4 KiB: the group's rows are still in L1/L2 when
 * pass B reads them again, so the second pass costs instructions, not traffic. */
#ifndef GK_BWD_ONCE
#define GK_BWD_ONCE
#define GK_BWD_GROUP 4
/* columns of a group per streamed piece: its dx rows are written out (non-temporal)
 * before the next piece, so smaller pieces spread the stores over pass B.  8192x1024
 * float32 from memory, 2 threads (Intel Xeon guest): LayerNorm backward 2.87 -> 2.65 ms
 * and RMSNorm 2.75 -> 2.51 with 128 columns against 512 (64 no better) */
#define GK_BWD_PIECE ((gk_index)128)
/* Whether pass B prefetches the next group's rows (bwd_ctx.pf), for rows of `row_bytes`
 * bytes, `bytes` in all: past the streaming size, and from GK_BWD_PF_MIN_BYTES (past L2:
 * the rows come from L3) for rows of at most GK_BWD_PF_MAX_ROW bytes.  On the AMD EPYC
 * guest (docs/performance.md, "Norm backward's weight gradient") it took a 512x1024
 * float32 RMSNorm backward (2 MiB rows in L3) from 0.40 to 0.34 ms at 1 thread, but
 * 64x8192 (32 KiB rows: the next group's rows prefetched into L1 push out the current
 * ones) was 6-15% slower with it at 2 threads.  Speed only: no bit depends on it. */
#define GK_BWD_PF_MIN_BYTES ((size_t)1 << 20)
#define GK_BWD_PF_MAX_ROW ((size_t)8192)
static inline int gk_bwd_pf(size_t row_bytes, size_t bytes)
{
    return bytes >= GK_STREAM_MIN_BYTES
           || (bytes >= GK_BWD_PF_MIN_BYTES && row_bytes <= GK_BWD_PF_MAX_ROW);
}

/* The group size for rows of `row_bytes` bytes, `bytes` in all: 4, or 2 when the rows
 * are a multiple of 4 KiB apart, give or take a few lines (1024 float32 columns) and
 * the data are in cache: the same column of 4 rows of dy, x and dx then falls in one
 * L1 set, more lines than its 8 ways.  From GK_STREAM_MIN_BYTES on the inputs come
 * from memory, which costs more than the conflicts (a streamed dx, like the fused
 * backward's rows, goes through a buffer whose rows are spaced apart): 4.  It depends
 * on the shape only, as the grouping must (a fixed size, not the machine's streaming
 * threshold). */
static inline int gk_bwd_group_for(size_t row_bytes, size_t bytes)
{
    size_t off = row_bytes % 4096;
    if (bytes >= GK_STREAM_MIN_BYTES)
        return GK_BWD_GROUP;
    return off < 256 || off > 4096 - 256 ? 2 : GK_BWD_GROUP;
}

/* the size of the group starting at row i of a task ending at i1, groups of gs */
static inline int gk_bwd_group_size(gk_index i, gk_index i1, int gs)
{
    return i1 - i >= gs ? gs : 1;
}
#endif

/* What every group of one backward call shares.  wd: the weight as doubles (pass A
 * multiplies by it: a load instead of a conversion per element), NULL without weight.
 * pf: the inputs are past L2 (gk_bwd_pf), so pass B prefetches the next group's rows
 * while this group's are in cache (the hardware prefetcher stops when the misses
 * stop). */
typedef struct {
    const TS *dy, *x;
    const T *mean, *rstd, *w;   /* mean NULL for RMSNorm */
    const double *wd;
    gk_index rows, cols;
    int stream, pf;
    int group;     /* gk_bwd_group_for */
    int buffered;  /* dx through an L1 buffer, copied out after each piece (with
                    * non-temporal stores when stream): when stream, or when dx lies one
                    * row past x or dy modulo 1 MiB (gk_alias_line_at: writing dx in
                    * place then took 1.3-1.45x as long, through the buffer 1.05x the
                    * time of other placements).  Not otherwise: on 8192x1024 float32
                    * (past 16 MiB, under the streaming threshold) the buffer and its
                    * copy took the LayerNorm backward from 75% of its limit to 57% on an
                    * Intel Xeon guest (5% slower on the same guest since).  A store path
                    * only: no bit depends on it. */
} GK_T(bwd_ctx);

/* Pass A of a backward row, in double lanes: sum g and sum g h, with
 * xhat = (x - m) r, g = dy w.  The flags are compile-time constants at every call, so
 * each combination compiles to its own branch-free loop. */
GK_INLINE void GK_T(bwd_sums)(const TS *GK_RESTRICT dy, const TS *GK_RESTRICT x,
                              const double *GK_RESTRICT wd, gk_index n, double m,
                              double r, const int has_w, const int h_is_xhat,
                              double *sum_g, double *sum_gh)
{
    gk_vd a[GK_NACC], q[GK_NACC];
    GK_ZERO_ACC(a);
    GK_ZERO_ACC(q);
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int v = 0; v < GK_NACC; ++v) {
            gk_index o = j + v * GK_VW;
            gk_vd d = GK_T(ldv)(dy + o), xv = GK_T(ldv)(x + o);
            gk_vd g = has_w ? d * gk_ldv_f64(wd + o) : d;
            a[v] += g;
            q[v] += g * (h_is_xhat ? (xv - m) * r : xv);
        }
    double la[GK_LANES], lq[GK_LANES];
    gk_spill(a, la);
    gk_spill(q, lq);
    for (int k = 0; j + k < n; ++k) {
        double d = (double)GK_T(ld1)(dy + j + k), xv = (double)GK_T(ld1)(x + j + k);
        double g = has_w ? d * wd[j + k] : d;
        la[k] += g;
        lq[k] += g * (h_is_xhat ? (xv - m) * r : xv);
    }
    *sum_g = gk_fold16(la);
    *sum_gh = gk_fold16(lq);
}

/* the constants of a row in pass B: LayerNorm xhat = ((x - mh) - ml) rt (the split
 * mean, as the forward), dx = rt (g - mg - xhat mgx); RMSNorm xhat = x rt,
 * dx = rt (g - x mgx) */
typedef struct {
    T mh, ml, rt, mg, mgx;
} GK_T(bwd_k);

/* the terms g and g h of bwd_blk_sums for the vector of elements from o */
GK_INLINE void GK_T(bwd_blk_terms)(const TS *GK_RESTRICT dy, const TS *GK_RESTRICT x,
                                   const T *GK_RESTRICT w, gk_index o, T mh, T ml, T rt,
                                   const int has_w, const int h_is_xhat, GK_T(tvec) *g,
                                   GK_T(tvec) *gh)
{
    GK_T(tvec) d = GK_T(ldtv_arith)(dy + o), xv = GK_T(ldtv_arith)(x + o), wv;
    if (has_w) __builtin_memcpy(&wv, w + o, sizeof wv);
    *g = has_w ? d * wv : d;
    *gh = *g * (h_is_xhat ? ((xv - mh) - ml) * rt : xv);
}

/* Pass A of a float32 row in T blocks, as chunk_blk_moments (reduce_tmpl.h) adds a
 * row's statistics: sum g and sum g h with g = dy w and h = ((x - mh) - ml) rt (h_is_xhat;
 * RMSNorm: h = x), each term computed in T exactly as pass B computes it, added in T
 * over blocks of GK_BLK_LEN elements (lane k of a block sums elements 16 i + k), each
 * block's lanes added to double lanes folded in a fixed order: bits independent of the
 * SIMD path.  A block sum of GK_BLK_TERMS terms is off by at most (GK_BLK_TERMS - 1) u of
 * the sum of its terms' magnitudes (u = 2^-24); with g's own rounding that is
 * GK_BLK_TERMS u sum |g| for sum g and (GK_BLK_TERMS + 4) u sum |g h| for sum g h:
 * see docs/norm.md for what it does to dx.  Returns 0 when a sum is not finite (a
 * float32 term or block sum overflowed, or the inputs hold one): the caller then sums
 * in double. */
GK_INLINE int GK_T(bwd_blk_sums)(const TS *GK_RESTRICT dy, const TS *GK_RESTRICT x,
                                 const T *GK_RESTRICT w, gk_index n, const GK_T(bwd_k) *k,
                                 const int has_w, const int h_is_xhat, double *sum_g,
                                 double *sum_gh)
{
    typedef GK_T(tvec) V;
    const T mh = k->mh, ml = k->ml, rt = k->rt;
    gk_vd a[GK_NACC], q[GK_NACC];
    GK_ZERO_ACC(a);
    GK_ZERO_ACC(q);
    V bg[GK_BLK_NV], bh[GK_BLK_NV];
    gk_index j = 0;
    /* two whole blocks at a time, as chunk_blk_moments: independent chains, the same
     * sums, folded in block order */
    for (; j + 2 * GK_BLK_LEN <= n; j += 2 * GK_BLK_LEN) {
        V bg2[2][GK_BLK_NV], bh2[2][GK_BLK_NV];
        for (int i = 0; i < GK_BLK_TERMS; ++i)
            for (int h = 0; h < 2; ++h)
                for (int v = 0; v < GK_BLK_NV; ++v) {
                    V g, gh;
                    GK_T(bwd_blk_terms)(dy, x, w,
                                        j + h * GK_BLK_LEN + i * GK_LANES + v * GK_TVLEN,
                                        mh, ml, rt, has_w, h_is_xhat, &g, &gh);
                    bg2[h][v] = i ? bg2[h][v] + g : g;
                    bh2[h][v] = i ? bh2[h][v] + gh : gh;
                }
        for (int h = 0; h < 2; ++h) {
            GK_T(blk_fold)(bg2[h], a);
            GK_T(blk_fold)(bh2[h], q);
        }
    }
    for (; j + GK_BLK_LEN <= n; j += GK_BLK_LEN) {  /* a whole block left */
        for (int i = 0; i < GK_BLK_TERMS; ++i)
            for (int v = 0; v < GK_BLK_NV; ++v) {
                V g, gh;
                GK_T(bwd_blk_terms)(dy, x, w, j + i * GK_LANES + v * GK_TVLEN, mh, ml, rt,
                                    has_w, h_is_xhat, &g, &gh);
                bg[v] = i ? bg[v] + g : g;
                bh[v] = i ? bh[v] + gh : gh;
            }
        GK_T(blk_fold)(bg, a);
        GK_T(blk_fold)(bh, q);
    }
    if (j < n) {  /* the last, partial block: whole groups, then one by one */
        for (int v = 0; v < GK_BLK_NV; ++v) bg[v] = bh[v] = (V){0};
        for (; j + GK_LANES <= n; j += GK_LANES)
            for (int v = 0; v < GK_BLK_NV; ++v) {
                V g, gh;
                GK_T(bwd_blk_terms)(dy, x, w, j + v * GK_TVLEN, mh, ml, rt, has_w,
                                    h_is_xhat, &g, &gh);
                bg[v] += g;
                bh[v] += gh;
            }
        if (j < n) {
            T lg[GK_LANES], lh[GK_LANES];
            __builtin_memcpy(lg, bg, sizeof lg);
            __builtin_memcpy(lh, bh, sizeof lh);
            for (int l = 0; j + l < n; ++l) {
                const T d = GK_T(ld1)(dy + j + l), xv = GK_T(ld1)(x + j + l);
                const T g = has_w ? d * w[j + l] : d;
                const T h = h_is_xhat ? ((xv - mh) - ml) * rt : xv;
                lg[l] += g;
                lh[l] += g * h;
            }
            __builtin_memcpy(bg, lg, sizeof lg);
            __builtin_memcpy(bh, lh, sizeof lh);
        }
        GK_T(blk_fold)(bg, a);
        GK_T(blk_fold)(bh, q);
    }
    *sum_g = gk_fold_vec(a);
    *sum_gh = gk_fold_vec(q);
    return isfinite(*sum_g) && isfinite(*sum_gh);
}

/* Pass B on column j (offset c0 + j) of a group of G rows: the vector loop's arithmetic,
 * one column at a time (so the same bits), for the columns around bwd_apply's vectors */
GK_INLINE void GK_T(bwd_col)(const int rms, const int G, const int has_w, const int has_pw,
                             const int has_pb, const TS *const *dy, const TS *const *x,
                             const T *GK_RESTRICT w, TS *const *dst, double *GK_RESTRICT pw,
                             double *GK_RESTRICT pb, gk_index c0, gk_index j,
                             const GK_T(bwd_k) *k)
{
    const int f32 = sizeof(T) == sizeof(float);
    const gk_index o = c0 + j;
    const T wj = has_w ? w[o] : (T)1;
    T sw = 0, sb = 0;
    double qw = has_pw ? pw[o] : 0.0, qb = has_pb ? pb[o] : 0.0;
    for (int i = 0; i < G; ++i) {
        const T d = GK_T(ld1)(dy[i] + o), xv = GK_T(ld1)(x[i] + o);
        const T g = has_w ? d * wj : d;
        T xh;
        if (rms) {
            xh = xv * k[i].rt;
            GK_T(st1)(dst[i] + j, k[i].rt * (g - xv * k[i].mgx));
        } else {
            xh = ((xv - k[i].mh) - k[i].ml) * k[i].rt;
            GK_T(st1)(dst[i] + j, k[i].rt * (g - k[i].mg - xh * k[i].mgx));
        }
        if (f32) {
            sw += d * xh;
            sb += d;
        } else {
            qw += (double)d * (double)xh;
            qb += (double)d;
        }
    }
    if (f32) {
        qw += (double)sw;
        qb += (double)sb;
    }
    if (has_pw) pw[o] = qw;
    if (has_pb) pb[o] = qb;
}

/* Pass B on columns [ja, jb) (offsets c0 + j) of a group of G rows: the vector loop's
 * arithmetic, one column at a time (so the same bits), for the few columns around
 * bwd_apply's vectors.  Called, with the flags as values: one copy serves every variant
 * of bwd_apply (specialized and inlined into each, it doubled the family's code). */
GK_COLD void GK_T(bwd_cols)(const int rms, const int G, const int has_w, const int has_pw,
                            const int has_pb, const TS *const *dy, const TS *const *x,
                            const T *GK_RESTRICT w, TS *const *dst, double *GK_RESTRICT pw,
                            double *GK_RESTRICT pb, gk_index c0, gk_index ja, gk_index jb,
                            const GK_T(bwd_k) *k)
{
    for (gk_index j = ja; j < jb; ++j)
        GK_T(bwd_col)(rms, G, has_w, has_pw, has_pb, dy, x, w, dst, pw, pb, c0, j, k);
}

/* Columns of dst before the first whose vectors are aligned to GK_TVBYTES in every row
 * (0 when the rows are not equally aligned, or not aligned to T) */
GK_INLINE gk_index GK_T(bwd_head)(const int G, TS *const *dst, gk_index len)
{
    const uintptr_t a = (uintptr_t)dst[0];
    const gk_index head = GK_T(vec_head)(dst[0]);
    if (head < 0)
        return 0;
    for (int i = 1; i < G; ++i)
        if (((uintptr_t)dst[i] - a) % GK_SVBYTES)
            return 0;
    return head < len ? head : len;
}

/* Pass B on the nv GK_TVLEN columns from j (offsets c0 + j) of a group of G rows, nv
 * vectors each (1, or 2 where GK_STREAM_PAIR: bfloat16 rounded and stored a pair at a
 * time, gk_st_bf16v2, one AVX512_BF16 check and one 64-byte store for the two): dx of
 * row i into dst[i] + j (all its columns), the terms of lanes [la, lb) only into pw/pb
 * (bwd_apply's ends, nv 1: the other lanes' columns are another vector's, whose dx this
 * one rewrites with the same bits); pfdy/pfx as bwd_apply's.  Each column's operations
 * are the same whatever nv: the same bits. */
GK_INLINE void GK_T(bwd_vec)(const int rms, const int G, const int nv, const int has_w,
                             const int has_pw, const int has_pb, const TS *const *dy,
                             const TS *const *x, const T *GK_RESTRICT w, TS *const *dst,
                             double *GK_RESTRICT pw, double *GK_RESTRICT pb, gk_index c0,
                             gk_index j, const GK_T(bwd_k) *k, const TS *pfdy,
                             const TS *pfx, TS *pfo, const int la, const int lb)
{
    typedef GK_T(tvec) V;
    const int f32 = sizeof(T) == sizeof(float);
    const int all = la == 0 && lb == GK_TVLEN;
    V wv[2] = {{0}, {0}}, sw[2] = {{0}, {0}}, sb[2] = {{0}, {0}};
    for (int v = 0; v < nv; ++v) {
        const gk_index o = c0 + j + v * GK_TVLEN;
        if (has_w) __builtin_memcpy(&wv[v], w + o, sizeof wv[v]);
        if (!f32) {  /* float64: the partials themselves, row after row */
            if (has_pw) __builtin_memcpy(&sw[v], pw + o, sizeof sw[v]);
            if (has_pb) __builtin_memcpy(&sb[v], pb + o, sizeof sb[v]);
        }
    }
    for (int i = 0; i < G; ++i) {
        V out[2];
        for (int v = 0; v < nv; ++v) {
            const gk_index o = c0 + j + v * GK_TVLEN;
            V d = GK_T(ldtv_arith)(dy[i] + o), xv = GK_T(ldtv_arith)(x[i] + o), xh;
            V g = has_w ? d * wv[v] : d;
            if (rms) {
                xh = xv * k[i].rt;
                out[v] = k[i].rt * (g - xv * k[i].mgx);
            } else {
                xh = ((xv - k[i].mh) - k[i].ml) * k[i].rt;
                out[v] = k[i].rt * (g - k[i].mg - xh * k[i].mgx);
            }
            if (has_pw) sw[v] += d * xh;
            if (has_pb) sb[v] += d;
        }
#if GK_STREAM_PAIR
        if (nv == 2) {
            gk_st_bf16v2(dst[i] + j, out[0], out[1]);
            continue;
        }
#endif
        for (int v = 0; v < nv; ++v)
            GK_T(sttv_arith)(dst[i] + j + v * GK_TVLEN, out[v]);
    }
    const gk_index o = c0 + j;
    /* the next group's rows into L2 (prefetcht1), not L1: they are as large as this
     * group's (4 rows of dy and x, 32 KiB in float32), which pass B is still reading
     * from a 48 KiB L1.  Intel Xeon guest, 2 threads, interleaved against prefetcht0:
     * 8192x1024 after a cache scrub 2-6% faster (float32 and bfloat16, LayerNorm and
     * RMSNorm), the same in L3 7-13%; two groups ahead instead of one gained nothing */
    if (pfdy) {
        const char *pa = (const char *)(pfdy + G * o), *pc = (const char *)(pfx + G * o);
        for (int l = 0; l < nv * G * GK_SVBYTES; l += 64) {
            __builtin_prefetch(pa + l, 0, 2);
            __builtin_prefetch(pc + l, 0, 2);
        }
        if (pfo) {
            char *pd = (char *)(pfo + G * o);
            for (int l = 0; l < nv * G * GK_SVBYTES; l += 64)
                __builtin_prefetch(pd + l, 1, 3);
        }
    }
    for (int v = 0; v < nv; ++v)
        for (int s = 0; s < 2; ++s) {
            if (!(s ? has_pb : has_pw)) continue;
            double *p = (s ? pb : pw) + v * GK_TVLEN;
            T t[GK_TVLEN];
            __builtin_memcpy(t, s ? &sb[v] : &sw[v], sizeof t);
            if (!f32) {
                __builtin_memcpy(p + o + la, t + la, (size_t)(lb - la) * sizeof(T));
            } else if (all) {  /* the group's float sums onto the double partials */
                gk_add_f32_to_f64(p + o, (const float *)(const void *)t, GK_TVLEN, 0);
            } else {
                for (int l = la; l < lb; ++l) p[o + l] += (double)t[l];
            }
        }
}

/* Pass B over columns [c0, c0 + len) of a group of G rows: dx of row i into dst[i]
 * (offset 0 is column c0), the terms into pw/pb (may be NULL, columns absolute);
 * pfdy/pfx (may be NULL): the next group's rows, G * GK_TVLEN elements of each
 * prefetched per step; pfo (may be NULL): the next group's dx rows, prefetched for
 * writing alike.  The vectors' stores are aligned on dst (NumPy puts large arrays
 * 16 bytes past a line, where every 64-byte store straddles two: 8192x1024 float32
 * backwards took 8-12% longer into such an array than into an aligned one).  The
 * columns before the first aligned vector are one unaligned vector, those after the
 * last one more ending at len, each adding only its own columns' terms (bwd_vec); in
 * place (dst is dy or x), or in runs shorter than a vector, they go one by one
 * (bwd_cols) instead.  One by one, a 16-bit column costs scalar conversions: the 16
 * such columns of each 1024-column row took an out= float16 backward 1.56-1.70x the
 * time into an aligned array (8192 x 1024, Intel Xeon). */
GK_INLINE void GK_T(bwd_apply)(const int rms, const int G, const int has_w,
                               const int has_pw, const int has_pb, const TS *const *dy,
                               const TS *const *x, const T *GK_RESTRICT w, TS *const *dst,
                               double *GK_RESTRICT pw, double *GK_RESTRICT pb,
                               gk_index c0, gk_index len, const GK_T(bwd_k) *k,
                               const TS *pfdy, const TS *pfx, TS *pfo)
{
    const gk_index head = GK_T(bwd_head)(G, dst, len);
    const int ends_v = len >= GK_TVLEN && (const void *)dst[0] != (const void *)dy[0]
                       && (const void *)dst[0] != (const void *)x[0];
    if (head && ends_v)
        GK_T(bwd_vec)(rms, G, 1, has_w, has_pw, has_pb, dy, x, w, dst, pw, pb, c0, 0, k,
                      NULL, NULL, NULL, 0, (int)head);
    else
        GK_T(bwd_cols)(rms, G, has_w, has_pw, has_pb, dy, x, w, dst, pw, pb, c0, 0, head,
                       k);
    gk_index j = head;
    /* bfloat16 on AVX-512: two vectors a row per step (8192x1024 from memory, 2 threads
     * of the Intel Xeon guest: LayerNorm backward 2.10-2.12 -> 2.00-2.05 ms, RMSNorm 1%) */
    if (GK_STREAM_PAIR)
        for (; j + 2 * GK_TVLEN <= len; j += 2 * GK_TVLEN)
            GK_T(bwd_vec)(rms, G, 2, has_w, has_pw, has_pb, dy, x, w, dst, pw, pb, c0, j, k,
                          pfdy, pfx, pfo, 0, GK_TVLEN);
    for (; j + GK_TVLEN <= len; j += GK_TVLEN)
        GK_T(bwd_vec)(rms, G, 1, has_w, has_pw, has_pb, dy, x, w, dst, pw, pb, c0, j, k,
                      pfdy, pfx, pfo, 0, GK_TVLEN);
    if (j < len && ends_v)
        GK_T(bwd_vec)(rms, G, 1, has_w, has_pw, has_pb, dy, x, w, dst, pw, pb, c0,
                      len - GK_TVLEN, k, NULL, NULL, NULL, (int)(j - (len - GK_TVLEN)),
                      GK_TVLEN);
    else
        GK_T(bwd_cols)(rms, G, has_w, has_pw, has_pb, dy, x, w, dst, pw, pb, c0, j, len, k);
}

/* The backward of the G rows from row i on: dx of row i + q into out[q] -- through an
 * L1 buffer when c->buffered, copied out with non-temporal stores when c->stream (the
 * caller fences) -- and the terms into pw/pb (may be NULL). */
/* pass A of row i: its constants in pass B (sums g and g h, see bwd_blk_sums) */
GK_INLINE void GK_T(bwd_consts_in)(const int rms, const GK_T(bwd_ctx) *c, gk_index i,
                                   GK_T(bwd_k) *k)
{
    const gk_index n = c->cols;
    const TS *dy = c->dy + i * n, *x = c->x + i * n;
    double sg, sgh, m = rms ? 0.0 : (double)c->mean[i], r = (double)c->rstd[i];
    k->rt = (T)r;
    k->mh = (T)m;
    k->ml = (T)(m - (double)k->mh);
    /* float32: pass A in T blocks (the terms pass B uses), double if they overflow */
    int done = 0;
    if (sizeof(T) == sizeof(float)) {
        if (c->w)
            done = GK_T(bwd_blk_sums)(dy, x, c->w, n, k, 1, !rms, &sg, &sgh);
        else
            done = GK_T(bwd_blk_sums)(dy, x, NULL, n, k, 0, !rms, &sg, &sgh);
    }
    if (!done) {
        if (c->wd)
            GK_T(bwd_sums)(dy, x, c->wd, n, m, r, 1, !rms, &sg, &sgh);
        else
            GK_T(bwd_sums)(dy, x, NULL, n, m, r, 0, !rms, &sg, &sgh);
    }
    if (rms) {
        k->mg = 0;
        k->mgx = (T)(r * r * sgh / (double)n);
    } else {
        k->mg = (T)(sg / (double)n);
        k->mgx = (T)(sgh / (double)n);
    }
}

#if GK_HALF
/* 16-bit: one out-of-line copy of pass A for every group size (as fwd_write_out) */
static __attribute__((noinline)) void GK_T(bwd_consts_out)(int rms, const GK_T(bwd_ctx) *c,
                                                           gk_index i, GK_T(bwd_k) *k)
{
    if (rms) GK_T(bwd_consts_in)(1, c, i, k);
    else GK_T(bwd_consts_in)(0, c, i, k);
}
#endif

GK_INLINE void GK_T(bwd_rows)(const int rms, const int G, const GK_T(bwd_ctx) *c,
                              gk_index i, TS *const *out, double *pw, double *pb)
{
    const gk_index n = c->cols;
    const TS *dy[GK_BWD_GROUP], *x[GK_BWD_GROUP];
    GK_T(bwd_k) k[GK_BWD_GROUP];
    for (int q = 0; q < G; ++q) {
        dy[q] = c->dy + (i + q) * n;
        x[q] = c->x + (i + q) * n;
#if GK_HALF
        GK_T(bwd_consts_out)(rms, c, i + q, &k[q]);
#else
        GK_T(bwd_consts_in)(rms, c, i + q, &k[q]);
#endif
    }
    const TS *pfdy = NULL, *pfx = NULL;
    TS *pfo = NULL;
    if (c->pf && i + 2 * G <= c->rows) {
        pfdy = c->dy + (i + G) * n;
        pfx = c->x + (i + G) * n;
        /* and dx's, for writing: from memory, the stores' reads for ownership stalled
         * pass B (8192x1024 float32 from a clean cache, 2 threads of the Intel Xeon
         * guest: LayerNorm backward 3.64-3.87 -> 3.41-3.53 ms, RMSNorm 3.31-3.64 ->
         * 3.11-3.41, the probe 3.54-3.88; in cache unchanged) */
        if (!c->buffered && out[G - 1] == out[0] + (G - 1) * n)
            pfo = out[0] + G * n;
    }
    /* buffered: pieces of the rows in a buffer whose rows are a line apart beyond the
     * piece, so they do not share L1 sets with each other */
    TS buf[GK_BWD_GROUP * (GK_BWD_PIECE + 64 / sizeof(TS))] __attribute__((aligned(64)));
    TS *dst[GK_BWD_GROUP];
    const gk_index piece = c->buffered ? GK_BWD_PIECE : n;
    for (gk_index c0 = 0, len; c0 < n; c0 += len) {
        len = n - c0 < piece ? n - c0 : piece;
        if (c->buffered && c0 + len < n) {
            /* a piece of dx ends on a line (of row 0; rows 4 KiB apart all do): a line
             * split between two pieces is written in two parts, which with dx 16 bytes
             * past a line (NumPy's) and 128-column pieces took the out= backward from
             * 2.9 to 4.6 ms */
            const gk_index past = gk_past_line(out[0] + c0 + len, sizeof(TS));
            if (past < len) len -= past;
            /* and takes the rest of the row when less than a line would be left (the
             * buffer's rows have room for it): those columns went one by one
             * (bwd_cols), a 16-bit column through scalar conversions -- 8192x1024
             * bfloat16 from memory, 2 threads of the Intel Xeon guest: LayerNorm
             * backward 2.15 -> 2.05 ms, RMSNorm 1.94 -> 1.84; float32 2-3% */
            if (n - c0 - len < 64 / (gk_index)sizeof(TS))
                len = n - c0;
        }
        for (int q = 0; q < G; ++q)
            dst[q] = c->buffered ? buf + q * (GK_BWD_PIECE + 64 / sizeof(TS)) : out[q] + c0;
#define GK_BWD_APPLY(hw, hpw, hpb) \
        GK_T(bwd_apply)(rms, G, hw, hpw, hpb, dy, x, c->w, dst, pw, pb, c0, len, k, \
                        pfdy, pfx, pfo)
#if GK_HALF  /* 16-bit: pw whenever there is a weight, pb always for LayerNorm, never
              * for RMSNorm (norm_bwd's lw, lb): two variants for each rms */
        if (rms) {
            if (c->w) GK_BWD_APPLY(1, 1, 0);
            else GK_BWD_APPLY(0, 0, 0);
        } else {
            if (c->w) GK_BWD_APPLY(1, 1, 1);
            else GK_BWD_APPLY(0, 0, 1);
        }
#else
        if (c->w) {
            if (pw && pb) GK_BWD_APPLY(1, 1, 1);
            else if (pw) GK_BWD_APPLY(1, 1, 0);
            else if (pb && !rms) GK_BWD_APPLY(1, 0, 1);
            else GK_BWD_APPLY(1, 0, 0);
        } else {
            if (pb && !rms) GK_BWD_APPLY(0, 0, 1);
            else GK_BWD_APPLY(0, 0, 0);
        }
#endif
#undef GK_BWD_APPLY
        if (c->buffered)
            for (int q = 0; q < G; ++q) {
                if (c->stream)
                    gk_copy_nt(out[q] + c0, dst[q], sizeof(TS) * (size_t)len);
                else
                    memcpy(out[q] + c0, dst[q], sizeof(TS) * (size_t)len);
            }
    }
}

/* rows i .. i + g - 1 of a backward (g = 4, 2 or 1), dx of row i + q into out[q] (the
 * caller's row pointers) */
static void GK_T(bwd_group)(const GK_T(bwd_ctx) *c, int rms, int g, gk_index i,
                            TS *const *out, double *pw, double *pb)
{
#if GK_HALF
    /* 16-bit: groups of 4 and single rows only (a group of 2 as two rows: the same dx,
     * dweight/dbias summed in another fixed order), a third less code to compile */
    if (g == 2) {
        GK_T(bwd_group)(c, rms, 1, i, out, pw, pb);
        GK_T(bwd_group)(c, rms, 1, i + 1, out + 1, pw, pb);
    } else if (rms) {
        if (g == 4) GK_T(bwd_rows)(1, 4, c, i, out, pw, pb);
        else GK_T(bwd_rows)(1, 1, c, i, out, pw, pb);
    } else {
        if (g == 4) GK_T(bwd_rows)(0, 4, c, i, out, pw, pb);
        else GK_T(bwd_rows)(0, 1, c, i, out, pw, pb);
    }
    return;
#endif
    if (rms) {
        if (g == 4) GK_T(bwd_rows)(1, 4, c, i, out, pw, NULL);
        else if (g == 2) GK_T(bwd_rows)(1, 2, c, i, out, pw, NULL);
        else GK_T(bwd_rows)(1, 1, c, i, out, pw, NULL);
    } else {
        if (g == 4) GK_T(bwd_rows)(0, 4, c, i, out, pw, pb);
        else if (g == 2) GK_T(bwd_rows)(0, 2, c, i, out, pw, pb);
        else GK_T(bwd_rows)(0, 1, c, i, out, pw, pb);
    }
}

/* The scratch of a backward call: the task partials (ntask blocks of nacc * cols
 * doubles), then the running total and the working block of bwd_part_begin (nacc * cols
 * each; the total zeroed here) and, for a float32 weight, its double copy (c->wd); NULL
 * when out of memory.  Release with gk_scratch_done(result, *owned). */
static double *GK_T(bwd_scratch)(GK_T(bwd_ctx) *c, gk_index ntask, int nacc, int *owned)
{
    const int copy_w = c->w && sizeof(T) != sizeof(double);
    const gk_index len = nacc * c->cols;
    size_t nd = (size_t)((ntask + 2) * len) + (copy_w ? (size_t)c->cols : 0);
    double *part = (double *)gk_scratch(sizeof(double) * nd, owned);
    c->wd = (const double *)(const void *)c->w;
    if (!part)
        return NULL;
    for (gk_index j = 0; j < len; ++j) part[ntask * len + j] = 0.0;
    if (copy_w) {
        double *wd = part + (ntask + 2) * len;
        for (gk_index j = 0; j < c->cols; ++j) wd[j] = (double)c->w[j];
        c->wd = wd;
    }
    return part;
}

/* The partials of task k (len doubles, zeroed), in task order into the running total:
 * when every task before k is already in the total (*folded == k: the tasks of the
 * thread that holds the first ones, all of them on one thread), in the working block,
 * added to the total by bwd_part_end as soon as the task is done; otherwise in the
 * task's own block, added after the loop (fold_partials from *folded on).  Either way
 * the total is ((0 + p0) + p1) + ... in task order, so the bits do not depend on the
 * thread count, while one thread touches two blocks instead of ntask (512x1024 float32:
 * 16 KiB instead of 256 KiB of partials streamed through the cache per call).  Only the
 * thread whose task is *folded can advance it, so one thread at a time uses the
 * working block. */
GK_INLINE double *GK_T(bwd_part_begin)(double *part, gk_index ntask, gk_index len,
                                      gk_index k, const gk_index *folded)
{
    double *pk = __atomic_load_n(folded, __ATOMIC_ACQUIRE) == k ? part + (ntask + 1) * len
                                                                : part + k * len;
    for (gk_index j = 0; j < len; ++j) pk[j] = 0.0;
    return pk;
}

GK_INLINE void GK_T(bwd_part_end)(double *part, gk_index ntask, gk_index len, gk_index k,
                                  const double *pk, gk_index *folded)
{
    if (len == 0 || pk != part + (ntask + 1) * len)
        return;
    double *GK_RESTRICT total = part + ntask * len;
    for (gk_index j = 0; j < len; ++j) total[j] += pk[j];
    __atomic_store_n(folded, k + 1, __ATOMIC_RELEASE);
}

/* dweight/dbias of a backward: the running total (bwd_part_begin: tasks before k0)
 * plus the partials of tasks k0 .. ntask - 1 (task k's block of nacc * cols doubles:
 * dweight's cols when lw -- written to dw unless it is NULL --, then dbias's) in task
 * order, so the result does not depend on the thread count.  Blocks of columns, each
 * summed over the tasks into a small array: contiguous loads that vectorize.  Shared by
 * norm_bwd and the fused backward. */
#ifndef GK_FOLD_COLS
#define GK_FOLD_COLS ((gk_index)256)
#endif
GK_INLINE void GK_T(fold_partials)(const double *part, gk_index k0, gk_index ntask,
                                   int nacc, gk_index cols, int lw, T *dw, T *db)
{
    const gk_index nblk = (nacc * cols + GK_FOLD_COLS - 1) / GK_FOLD_COLS;
    const double *total = part + ntask * nacc * cols;
    /* threads as for all the partials (not just those from k0): the tasks left are those
     * of the other threads, each as large as the first thread's, and the first thread
     * has already spent the time of its own folds */
    int nt = gk_threads_for(ntask * nacc * cols);
    if (nt > nblk) nt = (int)nblk;
    GK_PARALLEL_FOR(nt, bk, nblk,
        const gk_index j0 = bk * GK_FOLD_COLS;
        const gk_index len = nacc * cols - j0 < GK_FOLD_COLS ? nacc * cols - j0 : GK_FOLD_COLS;
        double acc[GK_FOLD_COLS];
        for (gk_index j = 0; j < len; ++j) acc[j] = total[j0 + j];
        for (gk_index k = k0; k < ntask; ++k) {
            const double *GK_RESTRICT pk = part + k * nacc * cols + j0;
            for (gk_index j = 0; j < len; ++j) acc[j] += pk[j];
        }
        for (gk_index j = 0; j < len; ++j) {  /* dweight's columns (lw), then dbias's */
            const gk_index col = j0 + j;
            if (lw && col < cols) {
                if (dw) dw[col] = (T)acc[j];
            } else if (db) {
                db[col - (lw ? cols : 0)] = (T)acc[j];
            }
        }
    );
}

/* mean is NULL for RMSNorm.  dx is streamed past the cache (gk_stream_output). */
GK_INLINE int GK_T(norm_bwd)(const int rms, const TS *dy, const TS *x, const T *mean,
                             const T *rstd, const T *w, TS *dx, T *dw, T *db, gk_index rows,
                             gk_index cols)
{
    const size_t bytes = (size_t)(rows * cols) * sizeof(TS);
    const int stream = gk_stream_output(bytes, dx, dy, x);
    const size_t row_bytes = (size_t)cols * sizeof(TS);
    const int buffered = stream || gk_alias_line_at(dx, x, row_bytes)
                         || gk_alias_line_at(dx, dy, row_bytes);
    GK_T(bwd_ctx) c = {dy, x, mean, rstd, w, NULL, rows, cols, stream,
                       gk_bwd_pf(row_bytes, bytes), gk_bwd_group_for(row_bytes, bytes),
                       buffered};
    /* lw, lb: the partials have dweight's, dbias's columns.  16-bit: dweight's whenever
     * there is a weight, and a LayerNorm's dbias's always, asked for or not (the C API's
     * callers may not want them), so pass B has fewer variants to compile.  RMSNorm has
     * no dbias: its unwanted sum, once kept too, took 11% of a bfloat16 backward (8192 x
     * 1024, 2 threads, AMD EPYC (Zen 5) guest: 1.01 -> 0.90 ms) */
    const int lw = dw != NULL || (GK_HALF && w != NULL), lb = db != NULL || (GK_HALF && !rms);
    const int nacc = cols > 0 ? lw + lb : 0;
    const gk_index ntask = gk_row_tasks(rows, nacc * cols);
    int owned, nt = gk_threads_for(rows * cols);
    double *part = GK_T(bwd_scratch)(&c, ntask, nacc, &owned);
    if (!part)
        return GK_ENOMEM;
    if (nt > ntask) nt = (int)ntask;
    gk_index folded = 0;   /* tasks in the running total (bwd_part_begin) */
    GK_PARALLEL_FOR(nt, k, ntask,
        double *pk = GK_T(bwd_part_begin)(part, ntask, nacc * cols, k, &folded);
        double *pw = lw && nacc ? pk : NULL, *pb = lb && nacc ? pk + (lw ? cols : 0) : NULL;
        gk_index i1 = gk_task_begin(k + 1, ntask, rows);
        for (gk_index i = gk_task_begin(k, ntask, rows), g; i < i1; i += g) {
            TS *out[GK_BWD_GROUP];
            g = gk_bwd_group_size(i, i1, c.group);
            for (gk_index q = 0; q < g; ++q) out[q] = dx + (i + q) * cols;
            GK_T(bwd_group)(&c, rms, (int)g, i, out, pw, pb);
        }
        if (c.stream) gk_sfence();  /* each thread orders its own streamed rows */
        GK_T(bwd_part_end)(part, ntask, nacc * cols, k, pk, &folded);
    );
    if (nacc) {
        GK_T(fold_partials)(part, folded, ntask, nacc, cols, lw, dw, db);
    } else {
        if (dw) for (gk_index j = 0; j < cols; ++j) dw[j] = 0;
        if (db) for (gk_index j = 0; j < cols; ++j) db[j] = 0;
    }
    gk_scratch_done(part, owned);
    return GK_OK;
}

static int GK_T(layer_norm_bwd)(const TS *dy, const TS *x, const T *mean, const T *rstd,
                                const T *w, TS *dx, T *dw, T *db, gk_index rows,
                                gk_index cols)
{
    return GK_T(norm_bwd)(0, dy, x, mean, rstd, w, dx, dw, db, rows, cols);
}

static int GK_T(rms_norm_bwd)(const TS *dy, const TS *x, const T *rstd, const T *w, TS *dx,
                              T *dw, gk_index rows, gk_index cols)
{
    return GK_T(norm_bwd)(1, dy, x, NULL, rstd, w, dx, dw, NULL, rows, cols);
}
