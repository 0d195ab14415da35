/* Haar-distributed orthogonal matrices (gradkit.init.orthogonal), included once by
 * random.c (compiled per ISA; the loops here have no sums whose order an ISA could
 * change, and fp contraction is off; the products below are the same operations on
 * every table with FMA, so those give the same bits, and BLAS on the baseline one).
 *
 * Q = H_0 H_1 ... H_{n-1} [I_n; 0] diag(d) from the columns of a standard normal m x n
 * matrix A (m >= n): reflector k is built from x = A[k:, k] (the Householder vector
 * v = x + s ||x|| e_0, s = sign(x_0), H_k = I - tau v v^T with tau = 2 / v^T v, acting on
 * rows k..m-1) and d_k = -s.  These are the reflectors and signs a Householder QR of a
 * Gaussian matrix produces (Q diag(sign(diag R)), torch.nn.init.orthogonal_'s recipe),
 * except that each reflector comes from fresh normal draws instead of from the
 * previous reflectors applied to the rest of A: the same (Haar) distribution (Stewart
 * 1980, "The efficient generation of random orthogonal matrices"), for the cost of
 * forming Q alone (no factorization).
 *
 * Q is formed by panels of GK_HAAR_PANEL reflectors, last panel first, each applied as
 * I - V T V^T (the compact WY form, T upper triangular from the LAPACK dlarft
 * recurrence) per tile of GK_HAAR_TILE columns of Q: W = V^T Q and Q -= V (T W) by the
 * fused multiply-add tiles of fma_tiles.h where the table has FMA (three dgemm calls on
 * the baseline table; T W is dgemm on every table): tiles of fixed positions, each one
 * fixed sequence of operations (BLAS on one thread: the caller pins it), in parallel, so
 * the bits do not depend on the thread count. */
#include "gk_gemm.h"
#include "fma_tiles.h"

#define GK_HAAR_PANEL ((gk_index)64)   /* reflectors per panel (fixed: the bits depend
                                          on the gemm shapes) */
#define GK_HAAR_TILE ((gk_index)256)   /* columns of Q per task (fixed, likewise) */

/* a (m x n, the normal draws) -> the reflectors: column k holds v_k in rows k..m-1 and
 * zeros above; tau[k], d[k] as above (tau 0, d +1 for an all-zero x: H_k = I).  ss: n
 * doubles of scratch.  The column sums of squares run over the rows in order. */
static void haar_reflectors(double *a, gk_index m, gk_index n, double *tau, double *d,
                            double *ss)
{
    for (gk_index k = 0; k < n; ++k)
        ss[k] = 0.0;
    for (gk_index i = 0; i < m; ++i) {
        double *GK_RESTRICT r = a + i * n;
        const gk_index top = i < n ? i + 1 : n;   /* columns k <= i hold x's entries */
        for (gk_index k = 0; k < top; ++k)
            ss[k] += r[k] * r[k];
        for (gk_index k = top; k < n; ++k)
            r[k] = 0.0;
    }
    for (gk_index k = 0; k < n; ++k) {
        const double x0 = a[k * n + k], nrm = sqrt(ss[k]);
        const double s = x0 < 0.0 ? -1.0 : 1.0;
        if (nrm == 0.0) {
            tau[k] = 0.0;
            d[k] = 1.0;
            continue;
        }
        a[k * n + k] = x0 + s * nrm;
        /* v^T v = (||x||^2 - x0^2) + (x0 + s ||x||)^2 = 2 ||x|| (||x|| + |x0|): no
         * cancellation */
        tau[k] = 2.0 / (2.0 * nrm * (nrm + fabs(x0)));
        d[k] = -s;
    }
}

/* t (b x b, row-major, upper) with H_j ... H_{j+b-1} = I - V t V^T, from s = V^T V (the
 * dlarft recurrence: t[:k, k] = -tau_k t[:k, :k] s[:k, k], t[k, k] = tau_k) */
static void haar_t(const double *s, const double *tau, gk_index b, double *t)
{
    for (gk_index k = 0; k < b; ++k) {
        for (gk_index i = k + 1; i < b; ++i)
            t[i * b + k] = 0.0;
        t[k * b + k] = tau[k];
        for (gk_index i = 0; i < k; ++i) {
            double acc = 0.0;
            for (gk_index l = i; l < k; ++l)
                acc += t[i * b + l] * s[l * b + k];
            t[i * b + k] = -tau[k] * acc;
        }
    }
}

#ifdef GK_FT
/* The two large products of a panel's update on the tables with FMA (fma_tiles.h; BLAS
 * dgemm on the baseline table, whose bits then differ).  A put's destination: rows of
 * ld doubles. */
typedef struct { double *d; gk_index ld; } haar_put_ctx;

static void haar_put_w(void *ctx, gk_index i0, int mr, gk_index j0, gk_index nj,
                       gk_ftv_f64 t[GK_FT_MR][GK_FT_NR])
{
    const haar_put_ctx *c = (const haar_put_ctx *)ctx;
    for (gk_index jj = 0; jj < nj; ++jj)
        for (int a = 0; a < mr; ++a)
            memcpy(c->d + (j0 + jj) * c->ld + i0 + a * GK_FT_W(double), &t[a][jj],
                   sizeof t[a][jj]);
}

static void haar_put_sub(void *ctx, gk_index i0, int mr, gk_index j0, gk_index nj,
                         gk_ftv_f64 t[GK_FT_MR][GK_FT_NR])
{
    const haar_put_ctx *c = (const haar_put_ctx *)ctx;
    for (gk_index rr = 0; rr < nj; ++rr)
        for (int a = 0; a < mr; ++a) {
            double *qr = c->d + (j0 + rr) * c->ld + i0 + a * GK_FT_W(double);
            gk_ftv_f64 x;
            memcpy(&x, qr, sizeof x);
            x -= t[a][rr];
            memcpy(qr, &x, sizeof x);
        }
}

/* w (b x c, ld c) = v^T q for v (nr x b) and q (nr x c), both ld n: q's rows the tiles'
 * vectors, v's columns the operands; the columns past q's last whole vector one by one */
static void haar_vtq(const double *v, const double *q, gk_index nr, gk_index b,
                     gk_index c, gk_index n, double *w)
{
    const gk_index vw = GK_FT_W(double), nv = c / vw;
    haar_put_ctx ctx = {w, c};
    gk_ft_tiles_f64(q, nv, vw, n, v, b, 1, n, nr, haar_put_w, &ctx);
    for (gk_index i = nv * vw; i < c; ++i)
        for (gk_index j = 0; j < b; ++j)
            w[j * c + i] = gk_ft_dot1_f64(q + i, n, v + j, n, nr);
}

/* q (nr x c, ld n) -= v (nr x b, ld n) w2 (b x c, ld c): w2's rows the tiles' vectors,
 * v's rows the operands */
static void haar_q_sub(const double *v, const double *w2, gk_index nr, gk_index b,
                       gk_index c, gk_index n, double *q)
{
    const gk_index vw = GK_FT_W(double), nv = c / vw;
    haar_put_ctx ctx = {q, n};
    gk_ft_tiles_f64(w2, nv, vw, c, v, nr, n, 1, b, haar_put_sub, &ctx);
    for (gk_index r = 0; r < nr; ++r)
        for (gk_index i = nv * vw; i < c; ++i)
            q[r * n + i] -= gk_ft_dot1_f64(w2 + i, c, v + r * n, 1, b);
}
#endif

/* q (m x n, row-major) = gain Q; a is overwritten by the reflectors.  Returns 0, or -1
 * when scratch memory could not be had (nothing written to q then). */
static int haar_q_f64(double *a, gk_index m, gk_index n, double gain, double *q,
                      gk_dgemm_fn dgemm)
{
    const gk_index nb = GK_HAAR_PANEL, ct = GK_HAAR_TILE;
    const gk_index npanel = (n + nb - 1) / nb;
    int nt = gk_threads_for(m * n);
    if (nt < 1) nt = 1;
    /* tau, d, scale: 3n; the panels' T: npanel nb^2; per task: S or W and T W */
    const size_t per = (size_t)(2 * nb * (ct > nb ? ct : nb));
    double *work = (double *)malloc(sizeof(double) * ((size_t)(3 * n + npanel * nb * nb)
                                                      + per * (size_t)nt));
    if (!work)
        return -1;
    double *tau = work, *d = tau + n, *ss = d + n, *ts = ss + n;
    double *scratch = ts + npanel * nb * nb;
    haar_reflectors(a, m, n, tau, d, ss);
    /* every panel's T (independent of the others), and q = [I; 0] */
#if GK_HAVE_OPENMP
    #pragma omp parallel num_threads(nt) if(nt > 1)
#endif
    {
#if GK_HAVE_OPENMP
        double *s = scratch + per * (size_t)omp_get_thread_num();
        #pragma omp for schedule(dynamic, 1) nowait
#else
        double *s = scratch;
#endif
        for (gk_index p = 0; p < npanel; ++p) {
            const gk_index j = p * nb, b = n - j < nb ? n - j : nb;
            const double *v = a + j * n + j;
            gk_gemm_rm_f64(dgemm, 'T', 'N', b, b, m - j, 1.0, v, n, v, n, 0.0, s, b);
            haar_t(s, tau + j, b, ts + p * nb * nb);
        }
#if GK_HAVE_OPENMP
        #pragma omp for schedule(static)
#endif
        for (gk_index i = 0; i < m; ++i) {
            double *r = q + i * n;
            for (gk_index k = 0; k < n; ++k)
                r[k] = 0.0;
            if (i < n)
                r[i] = 1.0;
        }
    }
    for (gk_index p = npanel - 1; p >= 0; --p) {
        const gk_index j = p * nb, b = n - j < nb ? n - j : nb, rows = m - j;
        const double *v = a + j * n + j;                   /* rows x b, ld n */
        const double *t = ts + p * nb * nb;                /* b x b, ld b */
        /* q[j:, j:] -= V (T (V^T q[j:, j:])), by tiles of columns: the panel's own b
         * columns (q[j:, j:j+b] = [I; 0] so far), then tiles of ct; rows j..j+b-1 of
         * the later columns are still zero, so their V^T q skips them */
        const gk_index ntile = 1 + (n - j - b + ct - 1) / ct;
#if GK_HAVE_OPENMP
        #pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if(nt > 1)
#endif
        for (gk_index tile = 0; tile < ntile; ++tile) {
#if GK_HAVE_OPENMP
            double *w = scratch + per * (size_t)omp_get_thread_num();
#else
            double *w = scratch;
#endif
            const gk_index c0 = tile == 0 ? j : j + b + (tile - 1) * ct;
            const gk_index c = tile == 0 ? b : (n - c0 < ct ? n - c0 : ct);
            const gk_index skip = tile == 0 ? 0 : b;
            double *w2 = w + nb * c, *qt = q + j * n + c0;
#ifdef GK_FT
            haar_vtq(v + skip * n, qt + skip * n, rows - skip, b, c, n, w);
            gk_gemm_rm_f64(dgemm, 'N', 'N', b, c, b, 1.0, t, b, w, c, 0.0, w2, c);
            haar_q_sub(v, w2, rows, b, c, n, qt);
#else
            gk_gemm_rm_f64(dgemm, 'T', 'N', b, c, rows - skip, 1.0, v + skip * n, n,
                      qt + skip * n, n, 0.0, w, c);
            gk_gemm_rm_f64(dgemm, 'N', 'N', b, c, b, 1.0, t, b, w, c, 0.0, w2, c);
            gk_gemm_rm_f64(dgemm, 'N', 'N', rows, c, b, -1.0, v, n, w2, c, 1.0, qt, n);
#endif
        }
    }
    /* column k times d_k gain (d_k gain = +-gain exactly: the bits of (Q d) gain) */
    for (gk_index k = 0; k < n; ++k)
        ss[k] = d[k] * gain;
    GK_PARALLEL_FOR(nt, i, m, {
        double *GK_RESTRICT r = q + i * n;
        for (gk_index k = 0; k < n; ++k)
            r[k] *= ss[k];
    });
    free(work);
    return 0;
}
