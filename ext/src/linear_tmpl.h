/* The linear family's kernels for element type T, included by linear.c once per
 * dtype. */

#ifndef GK_LIN_PAR_MACS
#define GK_LIN_PAR_MACS 3145728.0   /* 3 * 2^20 */
#endif

/* gk_matmul (arguments checked; m >= 1, n >= 1 or row sums wanted) */
static int GK_T(matmul)(const T *a, gk_index lda, int trans_a, const T *b, gk_index ldb,
                        int trans_b, const T *bias, T *c, gk_index ldc, gk_index m,
                        gk_index n, gk_index k, T *row_sums, const gk_blas_fns *blas)
{
    /* op(a)'s element (i, r) at a[i rsa + r csa], op(b)'s (r, j) at b[r rsb + j csb] */
    const gk_index rsa = trans_a ? 1 : lda, csa = trans_a ? lda : 1;
    const gk_index rsb = trans_b ? 1 : ldb, csb = trans_b ? ldb : 1;
#ifdef GK_FT
    const int tiles = 1;
#else
    const int tiles = 0;   /* BLAS: c = bias first, then c += op(a) op(b) (beta 1) */
#endif
    if (k == 0 || !tiles)  /* the bias (0 without), the whole result for an empty sum */
        for (gk_index i = 0; i < m; ++i)
            for (gk_index j = 0; j < n; ++j) c[i * ldc + j] = bias ? bias[j] : (T)0;
    if (k == 0) {
        if (row_sums)
            for (gk_index i = 0; i < m; ++i) row_sums[i] = 0;
        return GK_OK;
    }
    /* threads from GK_LIN_PAR_MACS multiply-adds on: below, the fork and join and the
     * split packing cost more than the second thread saves (Intel Xeon guest, float32,
     * 2 threads against 1: 1.05M multiply-adds 0.98-1.30x the time, 2.1M 1.16x, 4.2M
     * 0.89x, 8.4M 0.68-0.81x, 134M 0.75x; a 128x128 weight's gradient over a batch of
     * 64, 1M, took 2 threads by the old rule of m n (k/64 + 1) elements).  Results do not
     * depend on it. */
    const double macs = (double)m * (double)n * (double)k;
    const int nt = gk_threads_for(macs >= GK_LIN_PAR_MACS ? GK_PARALLEL_MIN : 0);
#ifdef GK_FT
    (void)blas;
    int owned = 0;
    T *work = (T *)gk_scratch(sizeof(T) * GK_T(gk_ft_gemm_scratch)(m, n, k, nt), &owned);
    if (!work)
        return GK_ERROR(GK_ENOMEM, GK_ARG_c);
    GK_T(gk_ft_gemm)(m, n, k, a, rsa, csa, b, rsb, csb, bias, c, ldc, row_sums, work, nt);
    gk_scratch_done(work, owned);
#else
    (void)rsb, (void)csb;
    GK_T(gk_gemm_rm)(GK_T(lin_gemm_of)(blas), trans_a ? 'T' : 'N', trans_b ? 'T' : 'N',
                     m, n, k, (T)1, a, lda, b, ldb, (T)(bias ? 1 : 0), c, ldc);
    if (row_sums) {
        GK_PARALLEL_FOR(nt, i, m, {
            double s = 0;
            for (gk_index r = 0; r < k; ++r) s += (double)a[i * rsa + r * csa];
            row_sums[i] = (T)s;
        });
    }
#endif
    return GK_OK;
}
