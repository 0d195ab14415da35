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
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index k = 0; k < ntask; ++k) {
        double *tm = scratch + 4 * cols * k, *tm2 = tm + cols;
        double *cm = tm2 + cols, *cm2 = cm + cols;
        gk_index n_t = 0;
        gk_index c0 = gk_task_begin(k, ntask, nchunk), c1 = gk_task_begin(k + 1, ntask, nchunk);
        for (gk_index c = c0; c < c1; ++c) {
            gk_index r0 = c * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
            gk_index n_c = r1 - r0;
            for (gk_index j = 0; j < cols; ++j) cm[j] = 0.0, cm2[j] = 0.0;
            GK_T(pp_add_rows)(x, r0, r1, cols, cm);
            for (gk_index j = 0; j < cols; ++j) cm[j] /= (double)n_c;
            for (gk_index i = r0; i < r1; ++i) {
                const T *GK_RESTRICT xi = x + i * cols;
                for (gk_index j = 0; j < cols; ++j) {
                    double d = (double)xi[j] - cm[j];
                    cm2[j] += d * d;
                }
            }
            pp_chan_fold(&n_t, tm, tm2, n_c, cm, cm2, cols);
        }
        count[k] = n_t;
    }
    gk_index n = 0;
    for (gk_index k = 0; k < ntask; ++k) {
        double *tm = scratch + 4 * cols * k;
        pp_chan_fold(&n, mean, m2, count[k], tm, tm + cols, cols);
    }
    free(scratch);
    free(count);
    return GK_OK;
}

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

static int GK_T(standardize)(const T *x, T *y, gk_index rows, gk_index cols,
                             const double *mean, const double *scale, int *nonfinite)
{
    int nt = gk_threads_for(rows * cols);
    int bad = 0;
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1) reduction(|:bad)
    for (gk_index i = 0; i < rows; ++i) {
        const T *xi = x + i * cols;  /* may alias y: element-wise */
        T *yi = y + i * cols;
        if (nonfinite)  /* before the write: y may be x */
            bad |= GK_T(chunk_nonfinite)(xi, cols);
        if (mean && scale) {
            for (gk_index j = 0; j < cols; ++j)
                yi[j] = (T)(((double)xi[j] - mean[j]) / scale[j]);
        } else if (mean) {
            for (gk_index j = 0; j < cols; ++j)
                yi[j] = (T)((double)xi[j] - mean[j]);
        } else if (scale) {
            for (gk_index j = 0; j < cols; ++j)
                yi[j] = (T)((double)xi[j] / scale[j]);
        } else if (xi != yi) {
            for (gk_index j = 0; j < cols; ++j)
                yi[j] = xi[j];
        }
    }
    if (nonfinite) *nonfinite = bad;
    return GK_OK;
}

/* ---- BLAS-driven statistics and projection ---------------------------------------- */

/* Centre rows [r0, r0 + n) of x on their own mean (written to cm) into buf (n x cols,
 * double).  Returns 1 if they hold a NaN or an infinity. */
static int GK_T(pp_center_chunk)(const T *x, gk_index r0, gk_index n, gk_index cols,
                                 double *GK_RESTRICT cm, double *GK_RESTRICT buf)
{
    for (gk_index j = 0; j < cols; ++j) cm[j] = 0.0;
    GK_T(pp_add_rows)(x, r0, r0 + n, cols, cm);
    for (gk_index j = 0; j < cols; ++j) cm[j] /= (double)n;
    int bad = 0;
    for (gk_index i = 0; i < n; ++i) {
        const T *GK_RESTRICT xi = x + (r0 + i) * cols;
        double *GK_RESTRICT bi = buf + i * cols;
        for (gk_index j = 0; j < cols; ++j)
            bi[j] = (double)xi[j] - cm[j];
        bad |= GK_T(chunk_nonfinite)(xi, cols);
    }
    return bad;
}

static int GK_T(scatter)(const T *x, gk_index rows, gk_index cols, double *mean, double *s,
                         gk_dsyrk_fn syrk, int *nonfinite)
{
    gk_index chunk = pp_blas_chunk_rows(cols);
    gk_index nchunk = (rows + chunk - 1) / chunk;
    gk_index ntask = pp_scatter_tasks(rows, cols);
    gk_index per_task = cols * cols + cols;
    double *acc = (double *)calloc((size_t)(per_task * ntask), sizeof(double));
    gk_index *count = (gk_index *)calloc((size_t)ntask, sizeof(gk_index));
    if (!acc || !count) {
        free(acc);
        free(count);
        return GK_ENOMEM;
    }
    int nt = gk_threads_for(rows * cols);
    if (nt > ntask) nt = (int)ntask;
    int bad = 0, oom = 0;
    #pragma omp parallel num_threads(nt) if(nt > 1) reduction(|:bad, oom)
    {
        gk_index buf_rows = chunk < rows ? chunk : rows;
        double *buf = (double *)malloc(sizeof(double) * (size_t)(buf_rows * cols + cols));
        if (!buf) oom = 1;
        #pragma omp for schedule(static)
        for (gk_index k = 0; k < ntask; ++k) {
            if (!buf) continue;
            double *tm = acc + per_task * k, *ts = tm + cols, *cm = buf + buf_rows * cols;
            gk_index n_t = 0;
            gk_index c0 = gk_task_begin(k, ntask, nchunk), c1 = gk_task_begin(k + 1, ntask, nchunk);
            for (gk_index c = c0; c < c1; ++c) {
                gk_index r0 = c * chunk, nb = rows - r0 < chunk ? rows - r0 : chunk;
                bad |= GK_T(pp_center_chunk)(x, r0, nb, cols, cm, buf);
                merge_mean_scatter(n_t, tm, ts, nb, cm, cols);
                /* Fortran view: buf is cols x nb (lda cols); ts's upper is our lower */
                char uplo = 'U', trans = 'N';
                int n_ = (int)cols, k_ = (int)nb, ld = (int)cols;
                double one = 1.0;
                syrk(&uplo, &trans, &n_, &k_, &one, buf, &ld, &one, ts, &ld);
                n_t += nb;
            }
            count[k] = n_t;
        }
        free(buf);
    }
    if (oom) {
        free(acc);
        free(count);
        return GK_ENOMEM;
    }
    gk_index n = 0;
    for (gk_index k = 0; k < ntask; ++k) {
        double *tm = acc + per_task * k;
        if (n == 0) {
            for (gk_index j = 0; j < cols; ++j) mean[j] = tm[j];
            for (gk_index i = 0; i < cols; ++i)
                for (gk_index j = 0; j <= i; ++j)
                    s[i * cols + j] = tm[cols + i * cols + j];
            n = count[k];
        } else {
            pp_merge_full(&n, mean, s, count[k], tm, tm + cols, cols);
        }
    }
    if (nonfinite) *nonfinite = bad;
    free(acc);
    free(count);
    return GK_OK;
}

static int GK_T(project)(const T *x, gk_index rows, gk_index cols, const double *mean,
                         const double *m, gk_index k, T *y, gk_dgemm_fn gemm,
                         int *nonfinite)
{
    gk_index chunk = pp_blas_chunk_rows(cols > k ? cols : k);
    gk_index nchunk = (rows + chunk - 1) / chunk;
    int direct = sizeof(T) == sizeof(double);  /* gemm writes y itself */
    int nt = gk_threads_for(rows * (cols > k ? cols : k));
    if (nt > nchunk) nt = (int)nchunk;
    int bad = 0, oom = 0;
    #pragma omp parallel num_threads(nt) if(nt > 1) reduction(|:bad, oom)
    {
        gk_index buf_rows = chunk < rows ? chunk : rows;
        double *buf = (double *)malloc(sizeof(double) * (size_t)(buf_rows * (cols + (direct ? 0 : k))));
        if (!buf) oom = 1;
        #pragma omp for schedule(static)
        for (gk_index c = 0; c < nchunk; ++c) {
            if (!buf) continue;
            gk_index r0 = c * chunk, nb = rows - r0 < chunk ? rows - r0 : chunk;
            for (gk_index i = 0; i < nb; ++i) {
                const T *GK_RESTRICT xi = x + (r0 + i) * cols;
                double *GK_RESTRICT bi = buf + i * cols;
                for (gk_index j = 0; j < cols; ++j)
                    bi[j] = (double)xi[j] - mean[j];
                bad |= GK_T(chunk_nonfinite)(xi, cols);
            }
            if (k == 0) continue;
            double *out = direct ? (double *)(void *)(y + r0 * k) : buf + buf_rows * cols;
            /* Fortran: out^T (k x nb, ld k) = m^T (k x cols, ld k) * buf^T (cols x nb) */
            char tn = 'N';
            int m_ = (int)k, n_ = (int)nb, k_ = (int)cols, ldm = (int)k, ldb = (int)cols;
            double one = 1.0, zero = 0.0;
            gemm(&tn, &tn, &m_, &n_, &k_, &one, (double *)m, &ldm, buf, &ldb, &zero, out,
                 &ldm);
            if (!direct) {
                T *yc = y + r0 * k;
                for (gk_index i = 0; i < nb * k; ++i)
                    yc[i] = (T)out[i];
            }
        }
        free(buf);
    }
    if (oom) return GK_ENOMEM;
    if (nonfinite) *nonfinite = bad;
    return GK_OK;
}
