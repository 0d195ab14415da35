/* Row reductions in double for element type T (see GK_LANES in gk_internal.h).
 * Included once per dtype with T and SFX defined. */

/* GK_VW consecutive elements as doubles (unaligned load) */
GK_INLINE gk_vd GK_T(ldv)(const T *p)
{
    if (sizeof(T) == sizeof(float))
        return gk_cvt_f32(p);
    gk_vd d;
    __builtin_memcpy(&d, p, sizeof d);
    return d;
}

#define GK_ZERO_ACC(a) for (int v_ = 0; v_ < GK_NACC; ++v_) a[v_] = (gk_vd){0}

/* sum_j x[j] over one chunk (n <= GK_CHUNK) */
GK_INLINE double GK_T(chunk_sum)(const T *GK_RESTRICT x, gk_index n)
{
    gk_vd a[GK_NACC];
    GK_ZERO_ACC(a);
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int v = 0; v < GK_NACC; ++v)
            a[v] += GK_T(ldv)(x + j + v * GK_VW);
    if (j == n)
        return gk_fold_vec(a);
    double acc[GK_LANES];
    gk_spill(a, acc);
    for (int k = 0; j + k < n; ++k)
        acc[k] += (double)x[j + k];
    return gk_fold16(acc);
}

/* sum_j (x[j] - m)^2 over one chunk */
GK_INLINE double GK_T(chunk_sumsqdev)(const T *GK_RESTRICT x, gk_index n, double m)
{
    gk_vd a[GK_NACC];
    GK_ZERO_ACC(a);
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int v = 0; v < GK_NACC; ++v) {
            gk_vd d = GK_T(ldv)(x + j + v * GK_VW) - m;
            a[v] += d * d;
        }
    if (j == n)
        return gk_fold_vec(a);
    double acc[GK_LANES];
    gk_spill(a, acc);
    for (int k = 0; j + k < n; ++k) {
        double d = (double)x[j + k] - m;
        acc[k] += d * d;
    }
    return gk_fold16(acc);
}

/* sum_j a[j] * b[j] over one chunk (b may equal a) */
GK_INLINE double GK_T(chunk_dot)(const T *GK_RESTRICT a, const T *GK_RESTRICT b, gk_index n)
{
    gk_vd s[GK_NACC];
    GK_ZERO_ACC(s);
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int v = 0; v < GK_NACC; ++v)
            s[v] += GK_T(ldv)(a + j + v * GK_VW) * GK_T(ldv)(b + j + v * GK_VW);
    if (j == n)
        return gk_fold_vec(s);
    double acc[GK_LANES];
    gk_spill(s, acc);
    for (int k = 0; j + k < n; ++k)
        acc[k] += (double)a[j + k] * (double)b[j + k];
    return gk_fold16(acc);
}

/* sum_j d and sum_j d^2 with d = x[j] - s, over one chunk */
GK_INLINE void GK_T(chunk_shifted)(const T *GK_RESTRICT x, gk_index n, double s,
                                   double *sum_d, double *sum_d2)
{
    gk_vd a[GK_NACC], q[GK_NACC];
    GK_ZERO_ACC(a);
    GK_ZERO_ACC(q);
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int v = 0; v < GK_NACC; ++v) {
            gk_vd d = GK_T(ldv)(x + j + v * GK_VW) - s;
            a[v] += d;
            q[v] += d * d;
        }
    if (j == n) {
        *sum_d = gk_fold_vec(a);
        *sum_d2 = gk_fold_vec(q);
        return;
    }
    double acc[GK_LANES], acq[GK_LANES];
    gk_spill(a, acc);
    gk_spill(q, acq);
    for (int k = 0; j + k < n; ++k) {
        double d = (double)x[j + k] - s;
        acc[k] += d;
        acq[k] += d * d;
    }
    *sum_d = gk_fold16(acc);
    *sum_d2 = gk_fold16(acq);
}
