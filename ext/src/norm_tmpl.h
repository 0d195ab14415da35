/* LayerNorm and RMSNorm kernels for element type T.  Included by norm.c once per dtype.
 *
 * Statistics are accumulated in double (reduce_tmpl.h), from the centred data for the
 * variance (two passes over a row that sits in L1/L2 after the first), so rows with a
 * large mean (1e4 + N(0, 1)) keep full accuracy.  The output is computed in double and
 * rounded once. */

/* ---- row statistics -------------------------------------------------------------
 * Partial sums per GK_CHUNK chunk of a row, added in chunk order; with nt > 1 the chunks
 * of one long row run in parallel.  Same arithmetic either way, so same bits. */

#ifndef GK_ROW_KINDS
#define GK_ROW_KINDS
enum { GK_ROW_SUM, GK_ROW_SUMSQ, GK_ROW_SHIFTED };   /* see reduce_tmpl.h */
#define GK_ROW_STACK 64   /* chunks whose partials fit on the stack */
#endif

GK_INLINE void GK_T(chunk_moments)(int kind, const T *x, gk_index n, double s, double *r0,
                                   double *r1)
{
    switch (kind) {
    case GK_ROW_SUM: *r0 = GK_T(chunk_sum)(x, n, s); break;
    case GK_ROW_SUMSQ: *r0 = GK_T(chunk_sumsq)(x, n, s); break;
    default: GK_T(chunk_shifted)(x, n, s, r0, r1); break;
    }
}

static void GK_T(row_moments)(int kind, const T *x, gk_index n, double s, int nt,
                              double *r0, double *r1)
{
    if (n <= GK_CHUNK) {  /* one chunk: the common row */
        double p1 = 0.0;
        GK_T(chunk_moments)(kind, x, n, s, r0, &p1);
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
            GK_T(chunk_moments)(kind, x + off, len, s, &part[2 * c], &part[2 * c + 1]);
        }
        for (gk_index c = 0; c < nchunk; ++c) {
            a += part[2 * c];
            b += part[2 * c + 1];
        }
        if (part != stack) free(part);
    } else {  /* one thread (or no memory for the partials): the same sums in order */
        for (gk_index off = 0; off < n; off += GK_CHUNK) {
            double p0 = 0.0, p1 = 0.0;
            GK_T(chunk_moments)(kind, x + off, n - off < GK_CHUNK ? n - off : GK_CHUNK, s,
                                &p0, &p1);
            a += p0;
            b += p1;
        }
    }
    *r0 = a;
    if (r1) *r1 = b;
}

/* Mean and biased variance of a row (n > 0).
 * float32 rows: one pass of shifted sums d = x - x[0] in double, var = E[d^2] - E[d]^2,
 * kept under gk_shifted_ok (reduce.h) -- the usual case, since x[0] is a sample of the
 * row.  Otherwise (x[0] an outlier), and always for float64 rows, the exact two-pass
 * form: the mean, then the sum of squared deviations. */
static void GK_T(ln_row_stats)(const T *x, gk_index n, int nt, double *m, double *v)
{
    if (sizeof(T) == sizeof(float)) {
        double s = (double)x[0], sd, sd2;
        GK_T(row_moments)(GK_ROW_SHIFTED, x, n, s, nt, &sd, &sd2);
        double dm = sd / (double)n, var = sd2 / (double)n - dm * dm;
        if (gk_shifted_ok(dm * dm, var)) {
            *m = s + dm;
            *v = var;
            return;
        }
    }
    double sum, ssd;
    GK_T(row_moments)(GK_ROW_SUM, x, n, 0.0, nt, &sum, NULL);
    *m = sum / (double)n;
    GK_T(row_moments)(GK_ROW_SUMSQ, x, n, *m, nt, &ssd, NULL);
    *v = ssd / (double)n;
}

/* ---- forward: output of one row ---------------------------------------------------
 * LayerNorm: y = ((x - m) r) w + b, evaluated in T.  For float32 the mean is split into
 * a float head and tail (m = mh + ml exactly to ~2^-48), so x - mh - ml keeps the
 * accuracy of the double mean even for rows like 1e4 + N(0, 1); the result is within a
 * few ulps of the float64 formula at a quarter of its cost.  For float64 ml is 0.
 * RMSNorm: y = (x r) w.  x and y may be the same array (out=x): no restrict between
 * them. */
GK_INLINE void GK_T(ln_write)(const T *x, const T *GK_RESTRICT w, const T *GK_RESTRICT b,
                              T *y, gk_index n, double m, double r)
{
    const T mh = (T)m, ml = (T)(m - (double)mh), rt = (T)r;
    if (w && b) {
        for (gk_index j = 0; j < n; ++j)
            y[j] = ((x[j] - mh) - ml) * rt * w[j] + b[j];
    } else if (w) {
        for (gk_index j = 0; j < n; ++j)
            y[j] = ((x[j] - mh) - ml) * rt * w[j];
    } else if (b) {
        for (gk_index j = 0; j < n; ++j)
            y[j] = ((x[j] - mh) - ml) * rt + b[j];
    } else {
        for (gk_index j = 0; j < n; ++j)
            y[j] = ((x[j] - mh) - ml) * rt;
    }
}

GK_INLINE void GK_T(rms_write)(const T *x, const T *GK_RESTRICT w, T *y, gk_index n,
                               double r)
{
    const T rt = (T)r;
    if (w) {
        for (gk_index j = 0; j < n; ++j)
            y[j] = x[j] * rt * w[j];
    } else {
        for (gk_index j = 0; j < n; ++j)
            y[j] = x[j] * rt;
    }
}

/* elements [off, off + n) of a row into y; `rms` is a constant at every call */
GK_INLINE void GK_T(fwd_write)(const int rms, const T *x, const T *w, const T *b, T *y,
                               gk_index off, gk_index n, double m, double r)
{
    if (rms)
        GK_T(rms_write)(x + off, w ? w + off : NULL, y, n, r);
    else
        GK_T(ln_write)(x + off, w ? w + off : NULL, b ? b + off : NULL, y, n, m, r);
}

/* the row's mean m (0 for RMSNorm) and r = 1 / sqrt(var + eps), var = mean(x^2) for
 * RMSNorm */
GK_INLINE void GK_T(fwd_stats)(const int rms, const T *x, gk_index n, int nt, double eps,
                               double *m, double *r)
{
    double v;
    if (rms) {
        GK_T(row_moments)(GK_ROW_SUMSQ, x, n, 0.0, nt, &v, NULL);
        v /= (double)n;
        *m = 0.0;
    } else {
        GK_T(ln_row_stats)(x, n, nt, m, &v);
    }
    *r = 1.0 / sqrt(v + eps);
}

/* ---- forward: driver --------------------------------------------------------------
 * Rows are split across threads; a row longer than 2 chunks with fewer rows than
 * threads is itself split into chunks across threads (same sums, see row_moments). */
#define GK_SPLIT_ROWS(rows, cols, nt) ((rows) < (nt) && (cols) >= 2 * GK_CHUNK)

GK_INLINE void GK_T(norm_fwd)(const int rms, const T *x, const T *w, const T *b, T *y,
                              T *mean, T *rstd, gk_index rows, gk_index cols, double eps)
{
    int nt = gk_threads_for(rows * cols);
    int stream = gk_stream_output((size_t)(rows * cols) * sizeof(T), y, x, NULL);
    if (!GK_SPLIT_ROWS(rows, cols, nt)) {
        GK_PARALLEL_FOR(nt, i, rows,
            const T *xi = x + i * cols;
            double m, r;
            if (stream && i + 1 < rows)  /* start the next row's loads early */
                for (gk_index o = 0; o < cols; o += 64 / (gk_index)sizeof(T))
                    __builtin_prefetch(xi + cols + o, 0, 0);
            GK_T(fwd_stats)(rms, xi, cols, 1, eps, &m, &r);
            if (mean) mean[i] = (T)m;
            if (rstd) rstd[i] = (T)r;
            GK_WRITE_PIECES(T, y + i * cols, cols, stream, dst, off, len,
                            GK_T(fwd_write)(rms, xi, w, b, dst, off, len, m, r));
            if (stream) gk_sfence();  /* each thread orders its own streamed rows */
        );
        return;
    }
    gk_index nchunk = (cols + GK_CHUNK - 1) / GK_CHUNK;
    for (gk_index i = 0; i < rows; ++i) {
        const T *xi = x + i * cols;
        double m, r;
        GK_T(fwd_stats)(rms, xi, cols, nt, eps, &m, &r);
        if (mean) mean[i] = (T)m;
        if (rstd) rstd[i] = (T)r;
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (gk_index c = 0; c < nchunk; ++c) {
            gk_index off = c * GK_CHUNK, len = cols - off < GK_CHUNK ? cols - off : GK_CHUNK;
            GK_T(fwd_write)(rms, xi, w, b, y + i * cols + off, off, len, m, r);
        }
    }
}

static void GK_T(layer_norm_fwd)(const T *x, const T *w, const T *b, T *y, T *mean,
                                 T *rstd, gk_index rows, gk_index cols, double eps)
{
    GK_T(norm_fwd)(0, x, w, b, y, mean, rstd, rows, cols, eps);
}

static void GK_T(rms_norm_fwd)(const T *x, const T *w, T *y, T *rstd, gk_index rows,
                               gk_index cols, double eps)
{
    GK_T(norm_fwd)(1, x, w, NULL, y, NULL, rstd, rows, cols, eps);
}

/* ---- backward: shared driver -------------------------------------------------------
 * dx is per row; dweight and dbias are sums over rows, accumulated per task of a fixed
 * row partition (gk_row_tasks) in double and added task by task in order. */

/* Pass A of a backward row, in double lanes: sum g and sum g*h (h = xhat for LayerNorm,
 * x for RMSNorm), and the column partials pw += dy*xhat, pb += dy, with
 * xhat = (x - m) r, g = dy w.  The flags are compile-time constants at every call, so
 * each combination compiles to its own branch-free loop. */
GK_INLINE void GK_T(bwd_sums)(const T *GK_RESTRICT dy, const T *GK_RESTRICT x,
                              const T *GK_RESTRICT w, double *GK_RESTRICT pw,
                              double *GK_RESTRICT pb, gk_index n, double m, double r,
                              const int has_w, const int has_pw, const int has_pb,
                              const int h_is_xhat, double *sum_g, double *sum_gh)
{
    gk_vd a[GK_NACC], q[GK_NACC];
    GK_ZERO_ACC(a);
    GK_ZERO_ACC(q);
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int v = 0; v < GK_NACC; ++v) {
            gk_index o = j + v * GK_VW;
            gk_vd d = GK_T(ldv)(dy + o), xv = GK_T(ldv)(x + o);
            gk_vd xh = (xv - m) * r;
            gk_vd g = has_w ? d * GK_T(ldv)(w + o) : d;
            a[v] += g;
            q[v] += g * (h_is_xhat ? xh : xv);
            if (has_pw) {
                gk_vd p;
                __builtin_memcpy(&p, pw + o, sizeof p);
                p += d * xh;
                __builtin_memcpy(pw + o, &p, sizeof p);
            }
            if (has_pb) {
                gk_vd p;
                __builtin_memcpy(&p, pb + o, sizeof p);
                p += d;
                __builtin_memcpy(pb + o, &p, sizeof p);
            }
        }
    double la[GK_LANES], lq[GK_LANES];
    gk_spill(a, la);
    gk_spill(q, lq);
    for (int k = 0; j + k < n; ++k) {
        double d = (double)dy[j + k], xv = (double)x[j + k];
        double xh = (xv - m) * r;
        double g = has_w ? d * (double)w[j + k] : d;
        la[k] += g;
        lq[k] += g * (h_is_xhat ? xh : xv);
        if (has_pw) pw[j + k] += d * xh;
        if (has_pb) pb[j + k] += d;
    }
    *sum_g = gk_fold16(la);
    *sum_gh = gk_fold16(lq);
}

#define GK_BWD_SUMS_DISPATCH(h_is_xhat) \
    if (w) { \
        if (pw && pb) GK_T(bwd_sums)(dy, x, w, pw, pb, n, m, r, 1, 1, 1, h_is_xhat, &sg, &sgh); \
        else if (pw) GK_T(bwd_sums)(dy, x, w, pw, NULL, n, m, r, 1, 1, 0, h_is_xhat, &sg, &sgh); \
        else if (pb) GK_T(bwd_sums)(dy, x, w, NULL, pb, n, m, r, 1, 0, 1, h_is_xhat, &sg, &sgh); \
        else GK_T(bwd_sums)(dy, x, w, NULL, NULL, n, m, r, 1, 0, 0, h_is_xhat, &sg, &sgh); \
    } else { \
        if (pb) GK_T(bwd_sums)(dy, x, NULL, NULL, pb, n, m, r, 0, 0, 1, h_is_xhat, &sg, &sgh); \
        else GK_T(bwd_sums)(dy, x, NULL, NULL, NULL, n, m, r, 0, 0, 0, h_is_xhat, &sg, &sgh); \
    }

/* LayerNorm backward of one row.  xhat = (x - m) r, g = dy w,
 * dx = r (g - mean(g) - xhat mean(g xhat)); pw += dy xhat; pb += dy.
 * dx is evaluated in T (for float32 with the split mean, as the forward). */
static void GK_T(ln_bwd_row)(const T *GK_RESTRICT dy, const T *GK_RESTRICT x,
                             const T *GK_RESTRICT w, T *GK_RESTRICT dx,
                             double *GK_RESTRICT pw, double *GK_RESTRICT pb,
                             gk_index n, double m, double r)
{
    double sg, sgh;
    GK_BWD_SUMS_DISPATCH(1)
    const T mh = (T)m, ml = (T)(m - (double)mh), rt = (T)r;
    const T mg = (T)(sg / (double)n), mgx = (T)(sgh / (double)n);
    if (w) {
        for (gk_index j = 0; j < n; ++j) {
            T xh = ((x[j] - mh) - ml) * rt;
            dx[j] = rt * (dy[j] * w[j] - mg - xh * mgx);
        }
    } else {
        for (gk_index j = 0; j < n; ++j) {
            T xh = ((x[j] - mh) - ml) * rt;
            dx[j] = rt * (dy[j] - mg - xh * mgx);
        }
    }
}

/* RMSNorm backward of one row.  y = x r w, g = dy w,
 * dx = r (g - x r^2 mean(g x)); pw += dy x r. */
static void GK_T(rms_bwd_row)(const T *GK_RESTRICT dy, const T *GK_RESTRICT x,
                              const T *GK_RESTRICT w, T *GK_RESTRICT dx,
                              double *GK_RESTRICT pw, double *GK_RESTRICT pb,
                              gk_index n, double m, double r)
{
    double sg, sgh;
    (void)m;
    m = 0.0;  /* xhat = x r */
    GK_BWD_SUMS_DISPATCH(0)
    const T rt = (T)r, c = (T)(r * r * sgh / (double)n);
    if (w) {
        for (gk_index j = 0; j < n; ++j)
            dx[j] = rt * (dy[j] * w[j] - x[j] * c);
    } else {
        for (gk_index j = 0; j < n; ++j)
            dx[j] = rt * (dy[j] - x[j] * c);
    }
}

/* one row of either backward; `rms` is a constant at every call */
GK_INLINE void GK_T(bwd_row)(const int rms, const T *dy, const T *x, const T *w, T *dx,
                             double *pw, double *pb, gk_index n, double m, double r)
{
    if (rms)
        GK_T(rms_bwd_row)(dy, x, w, dx, pw, pb, n, m, r);
    else
        GK_T(ln_bwd_row)(dy, x, w, dx, pw, pb, n, m, r);
}

/* dweight/dbias of a backward: the per-task partials (task k's block of nacc * cols
 * doubles: dweight's cols, then dbias's) summed in task order, so the result does not
 * depend on the thread count.  Shared by norm_bwd and the fused backward. */
GK_INLINE void GK_T(fold_partials)(const double *part, gk_index ntask, int nacc,
                                   gk_index cols, T *dw, T *db)
{
    int nt = gk_threads_for(ntask * cols);
    GK_PARALLEL_FOR(nt, j, cols,
        double sw = 0.0, sb = 0.0;
        for (gk_index k = 0; k < ntask; ++k) {
            const double *pk = part + k * nacc * cols;
            if (dw) sw += pk[j];
            if (db) sb += pk[(dw ? cols : 0) + j];
        }
        if (dw) dw[j] = (T)sw;
        if (db) db[j] = (T)sb;
    );
}

/* mean is NULL for RMSNorm */
GK_INLINE int GK_T(norm_bwd)(const int rms, const T *dy, const T *x, const T *mean,
                             const T *rstd, const T *w, T *dx, T *dw, T *db, gk_index rows,
                             gk_index cols)
{
    int nt = gk_threads_for(rows * cols);
    int nacc = (dw != NULL) + (db != NULL);
    if (nacc == 0 || cols == 0) {
        GK_PARALLEL_FOR(nt, i, rows,
            GK_T(bwd_row)(rms, dy + i * cols, x + i * cols, w, dx + i * cols, NULL, NULL,
                          cols, mean ? (double)mean[i] : 0.0, (double)rstd[i]);
        );
        if (dw) for (gk_index j = 0; j < cols; ++j) dw[j] = 0;
        if (db) for (gk_index j = 0; j < cols; ++j) db[j] = 0;
        return GK_OK;
    }
    gk_index ntask = gk_row_tasks(rows, nacc * cols);
    int owned;
    double *part = (double *)gk_scratch(sizeof(double) * (size_t)(ntask * nacc * cols), &owned);
    if (!part)
        return GK_ENOMEM;
    GK_PARALLEL_FOR(nt, k, ntask,
        double *pw = dw ? part + k * nacc * cols : NULL;
        double *pb = db ? part + k * nacc * cols + (dw ? cols : 0) : NULL;
        for (gk_index j = 0; j < nacc * cols; ++j) part[k * nacc * cols + j] = 0.0;
        gk_index i1 = gk_task_begin(k + 1, ntask, rows);
        for (gk_index i = gk_task_begin(k, ntask, rows); i < i1; ++i)
            GK_T(bwd_row)(rms, dy + i * cols, x + i * cols, w, dx + i * cols, pw, pb,
                          cols, mean ? (double)mean[i] : 0.0, (double)rstd[i]);
    );
    GK_T(fold_partials)(part, ntask, nacc, cols, dw, db);
    gk_scratch_done(part, owned);
    return GK_OK;
}

static int GK_T(layer_norm_bwd)(const T *dy, const T *x, const T *mean, const T *rstd,
                                const T *w, T *dx, T *dw, T *db, gk_index rows,
                                gk_index cols)
{
    return GK_T(norm_bwd)(0, dy, x, mean, rstd, w, dx, dw, db, rows, cols);
}

static int GK_T(rms_norm_bwd)(const T *dy, const T *x, const T *rstd, const T *w, T *dx,
                              T *dw, gk_index rows, gk_index cols)
{
    return GK_T(norm_bwd)(1, dy, x, NULL, rstd, w, dx, dw, NULL, rows, cols);
}
