/* LayerNorm and RMSNorm kernels for element type T.  Included by norm.c once per dtype.
 *
 * Statistics are accumulated in double (reduce_tmpl.h), from the centred data for the
 * variance (two passes over a row that sits in L1/L2 after the first), so rows with a
 * large mean (1e4 + N(0, 1)) keep full accuracy.  The output is computed in double and
 * rounded once. */

/* ---- LayerNorm forward ------------------------------------------------------------ */

GK_INLINE void GK_T(ln_write)(const T *GK_RESTRICT x, const T *GK_RESTRICT w,
                              const T *GK_RESTRICT b, T *GK_RESTRICT y, gk_index n,
                              double m, double r)
{
    if (w && b) {
        for (gk_index j = 0; j < n; ++j)
            y[j] = (T)(((double)x[j] - m) * r * (double)w[j] + (double)b[j]);
    } else if (w) {
        for (gk_index j = 0; j < n; ++j)
            y[j] = (T)(((double)x[j] - m) * r * (double)w[j]);
    } else if (b) {
        for (gk_index j = 0; j < n; ++j)
            y[j] = (T)(((double)x[j] - m) * r + (double)b[j]);
    } else {
        for (gk_index j = 0; j < n; ++j)
            y[j] = (T)(((double)x[j] - m) * r);
    }
}

static void GK_T(layer_norm_fwd)(const T *x, const T *w, const T *b, T *y, T *mean,
                                 T *rstd, gk_index rows, gk_index cols, double eps)
{
    int nt = gk_threads_for(rows * cols);
    if (rows >= nt || cols < 2 * GK_CHUNK) {
        /* one row per iteration: the usual case */
        #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
        for (gk_index i = 0; i < rows; ++i) {
            const T *xi = x + i * cols;
            double m = cols > 0 ? GK_T(row_sum)(xi, cols) / (double)cols : 0.0;
            double v = cols > 0 ? GK_T(row_sumsqdev)(xi, cols, m) / (double)cols : 0.0;
            double r = 1.0 / sqrt(v + eps);
            if (mean) mean[i] = (T)m;
            if (rstd) rstd[i] = (T)r;
            GK_T(ln_write)(xi, w, b, y + i * cols, cols, m, r);
        }
        return;
    }
    /* few huge rows: split each row into GK_CHUNK chunks across threads; the chunk
     * partials are added in order, exactly as row_sum does, so the result is the same */
    gk_index nchunk = (cols + GK_CHUNK - 1) / GK_CHUNK;
    double part[256];
    double *p = nchunk <= 256 ? part : (double *)malloc(sizeof(double) * (size_t)nchunk);
    for (gk_index i = 0; i < rows; ++i) {
        const T *xi = x + i * cols;
        double m = 0.0, v = 0.0;
        if (!p) {  /* out of memory for the partials: same sums, on one thread */
            m = GK_T(row_sum)(xi, cols) / (double)cols;
            v = GK_T(row_sumsqdev)(xi, cols, m) / (double)cols;
        } else {
            #pragma omp parallel for num_threads(nt) schedule(static)
            for (gk_index c = 0; c < nchunk; ++c) {
                gk_index len = cols - c * GK_CHUNK < GK_CHUNK ? cols - c * GK_CHUNK : GK_CHUNK;
                p[c] = GK_T(chunk_sum)(xi + c * GK_CHUNK, len);
            }
            for (gk_index c = 0; c < nchunk; ++c) m += p[c];
            m /= (double)cols;
            #pragma omp parallel for num_threads(nt) schedule(static)
            for (gk_index c = 0; c < nchunk; ++c) {
                gk_index len = cols - c * GK_CHUNK < GK_CHUNK ? cols - c * GK_CHUNK : GK_CHUNK;
                p[c] = GK_T(chunk_sumsqdev)(xi + c * GK_CHUNK, len, m);
            }
            for (gk_index c = 0; c < nchunk; ++c) v += p[c];
            v /= (double)cols;
        }
        double r = 1.0 / sqrt(v + eps);
        if (mean) mean[i] = (T)m;
        if (rstd) rstd[i] = (T)r;
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (gk_index c = 0; c < nchunk; ++c) {
            gk_index off = c * GK_CHUNK;
            gk_index len = cols - off < GK_CHUNK ? cols - off : GK_CHUNK;
            GK_T(ln_write)(xi + off, w ? w + off : NULL, b ? b + off : NULL,
                           y + i * cols + off, len, m, r);
        }
    }
    if (p != part) free(p);
}

/* ---- RMSNorm forward -------------------------------------------------------------- */

GK_INLINE void GK_T(rms_write)(const T *GK_RESTRICT x, const T *GK_RESTRICT w,
                               T *GK_RESTRICT y, gk_index n, double r)
{
    if (w) {
        for (gk_index j = 0; j < n; ++j)
            y[j] = (T)((double)x[j] * r * (double)w[j]);
    } else {
        for (gk_index j = 0; j < n; ++j)
            y[j] = (T)((double)x[j] * r);
    }
}

static void GK_T(rms_norm_fwd)(const T *x, const T *w, T *y, T *rstd, gk_index rows,
                               gk_index cols, double eps)
{
    int nt = gk_threads_for(rows * cols);
    if (rows >= nt || cols < 2 * GK_CHUNK) {
        #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
        for (gk_index i = 0; i < rows; ++i) {
            const T *xi = x + i * cols;
            double ms = cols > 0 ? GK_T(row_dot)(xi, xi, cols) / (double)cols : 0.0;
            double r = 1.0 / sqrt(ms + eps);
            if (rstd) rstd[i] = (T)r;
            GK_T(rms_write)(xi, w, y + i * cols, cols, r);
        }
        return;
    }
    gk_index nchunk = (cols + GK_CHUNK - 1) / GK_CHUNK;
    double part[256];
    double *p = nchunk <= 256 ? part : (double *)malloc(sizeof(double) * (size_t)nchunk);
    for (gk_index i = 0; i < rows; ++i) {
        const T *xi = x + i * cols;
        double ms = 0.0;
        if (!p) {
            ms = GK_T(row_dot)(xi, xi, cols);
        } else {
            #pragma omp parallel for num_threads(nt) schedule(static)
            for (gk_index c = 0; c < nchunk; ++c) {
                gk_index len = cols - c * GK_CHUNK < GK_CHUNK ? cols - c * GK_CHUNK : GK_CHUNK;
                p[c] = GK_T(chunk_dot)(xi + c * GK_CHUNK, xi + c * GK_CHUNK, len);
            }
            for (gk_index c = 0; c < nchunk; ++c) ms += p[c];
        }
        double r = 1.0 / sqrt(ms / (double)cols + eps);
        if (rstd) rstd[i] = (T)r;
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (gk_index c = 0; c < nchunk; ++c) {
            gk_index off = c * GK_CHUNK;
            gk_index len = cols - off < GK_CHUNK ? cols - off : GK_CHUNK;
            GK_T(rms_write)(xi + off, w ? w + off : NULL, y + i * cols + off, len, r);
        }
    }
    if (p != part) free(p);
}

/* ---- backward: shared driver -------------------------------------------------------
 * dx is per row; dweight and dbias are sums over rows, accumulated per task of a fixed
 * row partition (gk_row_tasks) in double and added task by task in order. */

/* LayerNorm backward of one row.  xh = (x - m) r, g = dy * w,
 * dx = r (g - mean(g) - xh mean(g xh)); pw += dy xh; pb += dy. */
static void GK_T(ln_bwd_row)(const T *GK_RESTRICT dy, const T *GK_RESTRICT x,
                             const T *GK_RESTRICT w, T *GK_RESTRICT dx,
                             double *GK_RESTRICT pw, double *GK_RESTRICT pb,
                             gk_index n, double m, double r)
{
    double a1[GK_LANES] = {0}, a2[GK_LANES] = {0};
    for (gk_index j0 = 0; j0 < n; j0 += GK_LANES) {
        int len = n - j0 < GK_LANES ? (int)(n - j0) : GK_LANES;
        if (len == GK_LANES) {
            for (int k = 0; k < GK_LANES; ++k) {
                double d = (double)dy[j0 + k];
                double xh = ((double)x[j0 + k] - m) * r;
                double g = w ? d * (double)w[j0 + k] : d;
                a1[k] += g;
                a2[k] += g * xh;
            }
        } else {
            for (int k = 0; k < len; ++k) {
                double d = (double)dy[j0 + k];
                double xh = ((double)x[j0 + k] - m) * r;
                double g = w ? d * (double)w[j0 + k] : d;
                a1[k] += g;
                a2[k] += g * xh;
            }
        }
    }
    if (pw)
        for (gk_index j = 0; j < n; ++j)
            pw[j] += (double)dy[j] * (((double)x[j] - m) * r);
    if (pb)
        for (gk_index j = 0; j < n; ++j)
            pb[j] += (double)dy[j];
    double mg = n > 0 ? gk_fold16(a1) / (double)n : 0.0;
    double mgx = n > 0 ? gk_fold16(a2) / (double)n : 0.0;
    if (w) {
        for (gk_index j = 0; j < n; ++j) {
            double xh = ((double)x[j] - m) * r;
            dx[j] = (T)(r * ((double)dy[j] * (double)w[j] - mg - xh * mgx));
        }
    } else {
        for (gk_index j = 0; j < n; ++j) {
            double xh = ((double)x[j] - m) * r;
            dx[j] = (T)(r * ((double)dy[j] - mg - xh * mgx));
        }
    }
}

/* RMSNorm backward of one row.  y = x r w, g = dy * w,
 * dx = r (g - x r^2 mean(g x)); pw += dy x r. */
static void GK_T(rms_bwd_row)(const T *GK_RESTRICT dy, const T *GK_RESTRICT x,
                              const T *GK_RESTRICT w, T *GK_RESTRICT dx,
                              double *GK_RESTRICT pw, double *GK_RESTRICT pb,
                              gk_index n, double m, double r)
{
    (void)pb; (void)m;
    double a[GK_LANES] = {0};
    for (gk_index j0 = 0; j0 < n; j0 += GK_LANES) {
        int len = n - j0 < GK_LANES ? (int)(n - j0) : GK_LANES;
        if (len == GK_LANES) {
            for (int k = 0; k < GK_LANES; ++k) {
                double d = (double)dy[j0 + k];
                double g = w ? d * (double)w[j0 + k] : d;
                a[k] += g * (double)x[j0 + k];
            }
        } else {
            for (int k = 0; k < len; ++k) {
                double d = (double)dy[j0 + k];
                double g = w ? d * (double)w[j0 + k] : d;
                a[k] += g * (double)x[j0 + k];
            }
        }
    }
    if (pw)
        for (gk_index j = 0; j < n; ++j)
            pw[j] += (double)dy[j] * ((double)x[j] * r);
    double c = n > 0 ? r * r * gk_fold16(a) / (double)n : 0.0;
    if (w) {
        for (gk_index j = 0; j < n; ++j)
            dx[j] = (T)(r * ((double)dy[j] * (double)w[j] - (double)x[j] * c));
    } else {
        for (gk_index j = 0; j < n; ++j)
            dx[j] = (T)(r * ((double)dy[j] - (double)x[j] * c));
    }
}

typedef void (*GK_T(bwd_row_fn))(const T *, const T *, const T *, T *, double *, double *,
                                 gk_index, double, double);

/* mean may be NULL (RMSNorm) */
static int GK_T(norm_bwd)(GK_T(bwd_row_fn) row_fn, const T *dy, const T *x, const T *mean,
                          const T *rstd, const T *w, T *dx, T *dw, T *db, gk_index rows,
                          gk_index cols)
{
    int nt = gk_threads_for(rows * cols);
    int nacc = (dw != NULL) + (db != NULL);
    if (nacc == 0 || cols == 0) {
        #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
        for (gk_index i = 0; i < rows; ++i)
            row_fn(dy + i * cols, x + i * cols, w, dx + i * cols, NULL, NULL, cols,
                   mean ? (double)mean[i] : 0.0, (double)rstd[i]);
        if (dw) for (gk_index j = 0; j < cols; ++j) dw[j] = 0;
        if (db) for (gk_index j = 0; j < cols; ++j) db[j] = 0;
        return GK_OK;
    }
    gk_index ntask = gk_row_tasks(rows, nacc * cols);
    double *part = (double *)calloc((size_t)(ntask * nacc * cols), sizeof(double));
    if (!part)
        return GK_ENOMEM;
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index k = 0; k < ntask; ++k) {
        double *pw = dw ? part + k * nacc * cols : NULL;
        double *pb = db ? part + k * nacc * cols + (dw ? cols : 0) : NULL;
        gk_index i1 = gk_task_begin(k + 1, ntask, rows);
        for (gk_index i = gk_task_begin(k, ntask, rows); i < i1; ++i)
            row_fn(dy + i * cols, x + i * cols, w, dx + i * cols, pw, pb, cols,
                   mean ? (double)mean[i] : 0.0, (double)rstd[i]);
    }
    int ntc = gk_threads_for(ntask * cols);
    #pragma omp parallel for num_threads(ntc) schedule(static) if(ntc > 1)
    for (gk_index j = 0; j < cols; ++j) {
        double sw = 0.0, sb = 0.0;
        for (gk_index k = 0; k < ntask; ++k) {
            const double *pk = part + k * nacc * cols;
            if (dw) sw += pk[j];
            if (db) sb += pk[(dw ? cols : 0) + j];
        }
        if (dw) dw[j] = (T)sw;
        if (db) db[j] = (T)sb;
    }
    free(part);
    return GK_OK;
}

static int GK_T(layer_norm_bwd)(const T *dy, const T *x, const T *mean, const T *rstd,
                                const T *w, T *dx, T *dw, T *db, gk_index rows,
                                gk_index cols)
{
    return GK_T(norm_bwd)(GK_T(ln_bwd_row), dy, x, mean, rstd, w, dx, dw, db, rows, cols);
}

static int GK_T(rms_norm_bwd)(const T *dy, const T *x, const T *rstd, const T *w, T *dx,
                              T *dw, gk_index rows, gk_index cols)
{
    return GK_T(norm_bwd)(GK_T(rms_bwd_row), dy, x, NULL, rstd, w, dx, dw, NULL, rows, cols);
}
