/* Preprocessing kernels for element type T.  Included by preprocessing.c once per dtype.
 *
 * Column statistics run over fixed row chunks (pp_chunk_rows, a function of the width
 * only).  Each chunk's mean and centred sum of squares are computed from the chunk while
 * it sits in L1/L2 (two short passes, so a large mean costs no accuracy), chunks are
 * folded into their task with Chan's update in order, and the tasks (a fixed partition,
 * pp_tasks) are folded in order: bitwise the same for any thread count. */

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

/* 1 if x[0..n) holds a NaN or an infinity: x * 0 is 0 for finite x, NaN otherwise,
 * summed in explicit lanes so the loop vectorizes (no reassociation needed). */
GK_INLINE int GK_T(pp_nonfinite)(const T *GK_RESTRICT x, gk_index n)
{
    double acc[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k)
            acc[k] += (double)x[j + k] * 0.0;
    for (int k = 0; j + k < n; ++k)
        acc[k] += (double)x[j + k] * 0.0;
    return gk_fold16(acc) != 0.0;
}

static int GK_T(col_moments)(const T *x, gk_index rows, gk_index cols, double *mean,
                             double *m2)
{
    gk_index chunk = pp_chunk_rows(cols);
    gk_index nchunk = (rows + chunk - 1) / chunk;
    gk_index ntask = pp_tasks(nchunk, 4 * cols);
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
            bad |= GK_T(pp_nonfinite)(xi, cols);
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
            bad |= GK_T(pp_nonfinite)(xi, cols);
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
