/* Row reductions in double for element type T (see GK_LANES in gk_internal.h).
 * Included once per dtype with T and SFX defined. */

/* sum_j x[j] over one chunk (n <= GK_CHUNK) */
GK_INLINE double GK_T(chunk_sum)(const T *GK_RESTRICT x, gk_index n)
{
    double acc[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k)
            acc[k] += (double)x[j + k];
    for (int k = 0; j + k < n; ++k)
        acc[k] += (double)x[j + k];
    return gk_fold16(acc);
}

/* sum_j (x[j] - m)^2 over one chunk */
GK_INLINE double GK_T(chunk_sumsqdev)(const T *GK_RESTRICT x, gk_index n, double m)
{
    double acc[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k) {
            double d = (double)x[j + k] - m;
            acc[k] += d * d;
        }
    for (int k = 0; j + k < n; ++k) {
        double d = (double)x[j + k] - m;
        acc[k] += d * d;
    }
    return gk_fold16(acc);
}

/* sum_j a[j] * b[j] over one chunk (b may equal a) */
GK_INLINE double GK_T(chunk_dot)(const T *GK_RESTRICT a, const T *GK_RESTRICT b, gk_index n)
{
    double acc[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k)
            acc[k] += (double)a[j + k] * (double)b[j + k];
    for (int k = 0; j + k < n; ++k)
        acc[k] += (double)a[j + k] * (double)b[j + k];
    return gk_fold16(acc);
}

static double GK_T(row_sum)(const T *x, gk_index n)
{
    double s = 0.0;
    for (gk_index c = 0; c < n; c += GK_CHUNK)
        s += GK_T(chunk_sum)(x + c, n - c < GK_CHUNK ? n - c : GK_CHUNK);
    return s;
}

static double GK_T(row_sumsqdev)(const T *x, gk_index n, double m)
{
    double s = 0.0;
    for (gk_index c = 0; c < n; c += GK_CHUNK)
        s += GK_T(chunk_sumsqdev)(x + c, n - c < GK_CHUNK ? n - c : GK_CHUNK, m);
    return s;
}

static double GK_T(row_dot)(const T *a, const T *b, gk_index n)
{
    double s = 0.0;
    for (gk_index c = 0; c < n; c += GK_CHUNK)
        s += GK_T(chunk_dot)(a + c, b + c, n - c < GK_CHUNK ? n - c : GK_CHUNK);
    return s;
}
