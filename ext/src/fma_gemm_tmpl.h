/* A whole matrix product on the tiles (fma_tiles_tmpl.h) for element type T, included
 * twice by fma_tiles.h: C (m x n) = A (m x k) B (k x n), plus a bias row, any strides.
 *
 * Both operands are packed once per call, by every thread its share: B as panels of W =
 * GK_FT_W(T) columns (panel q, step r at bp + (q k + r) W, zero past column n), the
 * tiles' vectors; A as groups of GK_FT_NR rows (group g, step r at ap + (g k + r) NR,
 * the last row repeated past m), the broadcast operands.  A task is a group of GK_FT_MR
 * panels (3 W columns) by a block of rows; for every block of GK_FG_KC steps it runs
 * its row groups' tiles, so the panels' block (24 KB) stays in L1 while the rows' block
 * streams from L2, and adds each tile to the sum of the blocks before it (kept in the
 * thread's buffer, C written on the last block).  Every element of C is thus the same
 * operations whoever computes it: the tile's chains of GK_FT_KB steps within a block
 * of GK_FG_KC, the blocks added in order, the bias last.  The result does not depend on
 * the thread count nor on the vector width (AVX2 or AVX-512: the same bits).
 *
 * 512 x 1024 x 1024 float32, packing included: on the AMD Zen 5 guest 175 GFlop/s on
 * one thread, 362 on two (torch's MKL sgemm ran 90 a core there, OpenBLAS's AVX2
 * kernels about 100); on the Intel Xeon guest 110-127 on one thread (MKL 135-152, the
 * FMA peak 163), 206-242 on two. */

typedef struct {
    gk_index m, n, k;
    const T *a; gk_index rsa, csa;
    const T *b; gk_index rsb, csb;
    const T *bias;
    T *c; gk_index ldc;
    T *row_sums;        /* NULL, or the sums of A's rows (in double, rounded once) */
    T *ap, *bp;         /* the packed operands */
    T *kept;            /* the threads' buffers of sums over the blocks before the last */
    gk_index nq, ng;    /* B's panels, A's row groups */
    gk_index ncg, rows_per_task, ntask;
} GK_T(gk_fg_job);

/* dst[c ld + r] = src[r][c] for r, c < u (u = GK_FT_TB(T), or 4 for float) */
GK_INLINE void GK_T(gk_fg_tr)(int u, const T *const *src, T *dst, gk_index ld)
{
    if (sizeof(T) == 8)
        gk_ft_tr4_f64((const double *const *)src, (double *)dst, ld);
    else if (u == 8)
        gk_ft_tr8_f32((const float *const *)src, (float *)dst, ld);
    else
        gk_ft_tr4_f32((const float *const *)src, (float *)dst, ld);
}

/* out[r ld + l] = src[l][r] for l < nl (a multiple of u) and r < k: blocks of u by u
 * transposed, the last k % u steps one at a time */
GK_INLINE void GK_T(gk_fg_pack_tr)(int u, const T *const *src, int nl, gk_index k, T *out,
                                   gk_index ld)
{
    const gk_index kb = k / u * u;
    for (int l0 = 0; l0 < nl; l0 += u) {
        const T *p[8];
        for (int l = 0; l < u; ++l) p[l] = src[l0 + l];
        for (gk_index r0 = 0; r0 < kb; r0 += u) {
            const T *q[8];
            for (int l = 0; l < u; ++l) q[l] = p[l] + r0;
            GK_T(gk_fg_tr)(u, q, out + r0 * ld + l0, ld);
        }
        for (gk_index r = kb; r < k; ++r)
            for (int l = 0; l < u; ++l) out[r * ld + l0 + l] = p[l][r];
    }
}

/* B's panels [q0, q1) */
static void GK_T(gk_fg_pack_b)(const GK_T(gk_fg_job) *j, gk_index q0, gk_index q1)
{
    const gk_index W = GK_FT_W(T), k = j->k, n = j->n, rsb = j->rsb, csb = j->csb;
    for (gk_index q = q0; q < q1; ++q) {
        T *GK_RESTRICT out = j->bp + q * k * W;
        const gk_index c0 = q * W, w = n - c0 < W ? n - c0 : W;
        const T *src = j->b + c0 * csb;
        if (csb == 1 && w == W) {           /* rows of B contiguous: a vector a step */
            for (gk_index r = 0; r < k; ++r)
                __builtin_memcpy(out + r * W, src + r * rsb, sizeof(T) * (size_t)W);
        } else if (rsb == 1 && w == W) {    /* B's columns contiguous (B a transpose) */
            const T *cols[GK_FT_BYTES / 4];
            for (gk_index l = 0; l < W; ++l) cols[l] = src + l * csb;
            GK_T(gk_fg_pack_tr)(GK_FT_TB(T), cols, (int)W, k, out, W);
        } else if (rsb == 1) {
            for (gk_index l = 0; l < W; ++l) {
                if (l < w) {
                    const T *col = src + l * csb;
                    for (gk_index r = 0; r < k; ++r) out[r * W + l] = col[r];
                } else {
                    for (gk_index r = 0; r < k; ++r) out[r * W + l] = (T)0;
                }
            }
        } else {
            for (gk_index r = 0; r < k; ++r)
                for (gk_index l = 0; l < W; ++l)
                    out[r * W + l] = l < w ? src[r * rsb + l * csb] : (T)0;
        }
    }
}

/* A's row groups [g0, g1), and their rows' sums */
static void GK_T(gk_fg_pack_a)(const GK_T(gk_fg_job) *j, gk_index g0, gk_index g1)
{
    const gk_index NR = GK_FT_NR, k = j->k, m = j->m, rsa = j->rsa, csa = j->csa;
    for (gk_index g = g0; g < g1; ++g) {
        T *GK_RESTRICT out = j->ap + g * k * NR;
        const T *rows[GK_FT_NR];
        for (gk_index l = 0; l < NR; ++l)
            rows[l] = j->a + (g * NR + l < m ? g * NR + l : m - 1) * rsa;
        if (csa == 1) {
            GK_T(gk_fg_pack_tr)(NR < GK_FT_TB(T) ? (int)NR : GK_FT_TB(T), rows, (int)NR, k,
                                out, NR);
        } else {
            for (gk_index r = 0; r < k; ++r)
                for (gk_index l = 0; l < NR; ++l) out[r * NR + l] = rows[l][r * csa];
        }
        if (j->row_sums)
            for (gk_index l = 0; l < NR && g * NR + l < m; ++l) {
                double s = 0;
                for (gk_index r = 0; r < k; ++r) s += (double)out[r * NR + l];
                j->row_sums[g * NR + l] = (T)s;
            }
    }
}

/* C's rows i0.. (at most NR) and the columns of the tile's mr panels from column j0, on
 * the last block: the tile plus the blocks before it (`kept`, NULL on a first block),
 * then the bias */
GK_INLINE void GK_T(gk_fg_put)(const GK_T(gk_fg_job) *j, gk_index i0, gk_index j0, int mr,
                               const T *kept, gk_ftv(SFX) t[GK_FT_MR][GK_FT_NR])
{
    const gk_index W = GK_FT_W(T), ni = j->m - i0 < GK_FT_NR ? j->m - i0 : GK_FT_NR;
    for (gk_index ii = 0; ii < ni; ++ii) {
        T *ci = j->c + (i0 + ii) * j->ldc + j0;
        for (int a = 0; a < mr; ++a) {
            const gk_index c0 = j0 + a * W, w = j->n - c0 < W ? j->n - c0 : W;
            gk_ftv(SFX) v = t[a][ii];
            if (kept) {
                gk_ftv(SFX) old;
                __builtin_memcpy(&old, kept + (ii * GK_FT_MR + a) * W, sizeof old);
                v = old + v;
            }
            if (w == W) {
                if (j->bias) {
                    gk_ftv(SFX) bv;
                    __builtin_memcpy(&bv, j->bias + c0, sizeof bv);
                    v = v + bv;
                }
                __builtin_memcpy(ci + a * W, &v, sizeof v);
            } else {
                for (gk_index l = 0; l < w; ++l)
                    ci[a * W + l] = j->bias ? v[l] + j->bias[c0 + l] : v[l];
            }
        }
    }
}

/* A tile's sum over the blocks so far, before the last, kept in the task's own buffer
 * (a tile's vectors side by side), not in C: C's rows, a row apart, fall in the same
 * few L1 sets as the panels' block and evicted it (on an Intel Xeon guest the stores
 * into C took 13% of a 512 x 1024 x 1024 product).  The same additions, in the same
 * order, as when C held them. */
GK_INLINE void GK_T(gk_fg_keep)(T *GK_RESTRICT kept, int mr, int first,
                                gk_ftv(SFX) t[GK_FT_MR][GK_FT_NR])
{
    const gk_index W = GK_FT_W(T);
    for (int ii = 0; ii < GK_FT_NR; ++ii)
        for (int a = 0; a < mr; ++a) {
            T *p = kept + (ii * GK_FT_MR + a) * W;
            gk_ftv(SFX) v = t[a][ii];
            if (!first) {
                gk_ftv(SFX) old;
                __builtin_memcpy(&old, p, sizeof old);
                v = old + v;
            }
            __builtin_memcpy(p, &v, sizeof v);
        }
}

/* The tiles of 3, 2 and 1 panels, A's packed steps (GK_FT_NR rows a step) the operands */
GK_FT_SEQ_TILES(gk_fg_tile, GK_FT_NR)

/* task t: panels' group t % ncg by row block t / ncg; `kept` the thread's buffer */
static void GK_T(gk_fg_task)(const GK_T(gk_fg_job) *j, gk_index t, T *kept)
{
    const gk_index W = GK_FT_W(T), NR = GK_FT_NR, k = j->k;
    const gk_index cg = t % j->ncg, rb = t / j->ncg;
    const gk_index q0 = cg * GK_FT_MR;
    const int mr = (int)(j->nq - q0 < GK_FT_MR ? j->nq - q0 : GK_FT_MR);
    const gk_index g0 = rb * j->rows_per_task / NR;
    const gk_index g1 = (rb + 1) * j->rows_per_task >= j->m ? j->ng
                        : (rb + 1) * j->rows_per_task / NR;
    gk_ftv(SFX) acc[GK_FT_MR][GK_FT_NR];
    for (gk_index k0 = 0; k0 < k; k0 += GK_FG_KC) {
        const gk_index kc = k - k0 < GK_FG_KC ? k - k0 : GK_FG_KC;
        const int first = k0 == 0, last = k0 + kc == k;
        const T *pi = j->bp + (q0 * k + k0) * W;
        for (gk_index g = g0; g < g1; ++g) {
            const T *pa = j->ap + (g * k + k0) * NR;
            T *kg = kept + (g - g0) * (NR * GK_FT_MR * W);
            if (mr == 3) GK_T(gk_fg_tile3)(pi, k * W, pa, kc, acc);
            else if (mr == 2) GK_T(gk_fg_tile2)(pi, k * W, pa, kc, acc);
            else GK_T(gk_fg_tile1)(pi, k * W, pa, kc, acc);
            if (last) GK_T(gk_fg_put)(j, g * NR, q0 * W, mr, first ? NULL : kg, acc);
            else GK_T(gk_fg_keep)(kg, mr, first, acc);
        }
    }
}

/* A task's rows at most: GK_FG_MC_BYTES of A's packed steps per block, whole groups */
#define GK_FG_ROWS(T) \
    ((gk_index)(GK_FG_MC_BYTES / (sizeof(T) * GK_FG_KC) + GK_FT_NR - 1) / GK_FT_NR * GK_FT_NR)

/* Elements of a thread's buffer of kept sums: a task's rows by GK_FT_MR panels */
static inline size_t GK_T(gk_fg_kept_elems)(void)
{
    return (size_t)GK_FG_ROWS(T) * GK_FT_MR * GK_FT_W(T);
}

/* thread `tid` of nt: its share of the packing, then (after every thread's packing) of
 * the tasks; contiguous static shares */
static void GK_T(gk_fg_share)(const GK_T(gk_fg_job) *j, int tid, int nt)
{
    GK_T(gk_fg_pack_b)(j, j->nq * tid / nt, j->nq * (tid + 1) / nt);
    GK_T(gk_fg_pack_a)(j, j->ng * tid / nt, j->ng * (tid + 1) / nt);
#if GK_HAVE_OPENMP
    if (nt > 1) {
        #pragma omp barrier
    }
#endif
    T *kept = j->kept + (size_t)tid * GK_T(gk_fg_kept_elems)();
    for (gk_index t = j->ntask * tid / nt; t < j->ntask * (tid + 1) / nt; ++t)
        GK_T(gk_fg_task)(j, t, kept);
}

/* Elements of scratch gk_ft_gemm needs for an m x n x k product on nt threads (128 more
 * bytes for the alignments). */
static inline size_t GK_T(gk_ft_gemm_scratch)(gk_index m, gk_index n, gk_index k, int nt)
{
    const gk_index W = GK_FT_W(T), NR = GK_FT_NR;
    return (size_t)(((m + NR - 1) / NR) * NR * k + ((n + W - 1) / W) * W * k)
           + (k > GK_FG_KC ? (size_t)(nt > 1 ? nt : 1) * GK_T(gk_fg_kept_elems)() : 0)
           + 128 / sizeof(T);
}

/* C (m x n, row stride ldc) = A B + bias (bias: n elements or NULL), A's element (i, r)
 * at a[i rsa + r csa], B's (r, j) at b[r rsb + j csb]; row_sums (m elements or NULL)
 * receives the sums of A's rows.  m, k >= 1, n >= 0 (n == 0: the row sums alone).
 * `work`: gk_ft_gemm_scratch(m, n, k, nt) elements.  nt threads (results the same for
 * any). */
GK_FT_CALL void GK_T(gk_ft_gemm)(gk_index m, gk_index n, gk_index k, const T *a, gk_index rsa,
                             gk_index csa, const T *b, gk_index rsb, gk_index csb,
                             const T *bias, T *c, gk_index ldc, T *row_sums, T *work,
                             int nt)
{
    const gk_index W = GK_FT_W(T), NR = GK_FT_NR;
    GK_T(gk_fg_job) j = {m, n, k, a, rsa, csa, b, rsb, csb, bias, c, ldc, row_sums,
                         NULL, NULL, NULL, 0, 0, 0, 0, 0};
    j.nq = (n + W - 1) / W;
    j.ng = (m + NR - 1) / NR;
    j.ncg = (j.nq + GK_FT_MR - 1) / GK_FT_MR;
    T *w = (T *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    j.bp = w;
    j.ap = w + j.nq * W * k;
    j.kept = (T *)(((uintptr_t)(j.ap + j.ng * NR * k) + 63) & ~(uintptr_t)63);
    /* row blocks: at most GK_FG_MC_BYTES of A's packed steps per block of GK_FG_KC (in
     * L2 while the panels pass), and enough tasks for every thread to get a few */
    gk_index rows = GK_FG_ROWS(T);
    const gk_index want = 4 * (gk_index)nt;
    if (j.ncg > 0 && j.ncg < want) {
        const gk_index nrb = (want + j.ncg - 1) / j.ncg;
        const gk_index r = (m + nrb - 1) / nrb;
        if (r < rows) rows = r;
    }
    rows = (rows + NR - 1) / NR * NR;
    j.rows_per_task = rows;
    j.ntask = j.ncg * ((m + rows - 1) / rows);
    if (nt <= 1) {
        GK_T(gk_fg_share)(&j, 0, 1);
        return;
    }
#if GK_HAVE_OPENMP
    #pragma omp parallel num_threads(nt)
    GK_T(gk_fg_share)(&j, omp_get_thread_num(), omp_get_num_threads());
#endif
}
