/* The tile of fused multiply-adds for element type T (float or double, SFX f32 or
 * f64), included twice by fma_tiles.h. */

GK_INLINE gk_ftv(SFX) GK_T(gk_ft_fma)(gk_ftv(SFX) a, gk_ftv(SFX) b, gk_ftv(SFX) c)
{
#if GK_FT_BYTES == 64
    if (sizeof(T) == 8)
        return (gk_ftv(SFX))_mm512_fmadd_pd((__m512d)a, (__m512d)b, (__m512d)c);
    return (gk_ftv(SFX))_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#else
    if (sizeof(T) == 8)
        return (gk_ftv(SFX))_mm256_fmadd_pd((__m256d)a, (__m256d)b, (__m256d)c);
    return (gk_ftv(SFX))_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#endif
}

/* s in every lane: with set1, GCC broadcasts from memory (a load, not a shuffle of a
 * loaded vector, which took the scatter's tiles from 110 to 65 GFlop/s a core) */
GK_INLINE gk_ftv(SFX) GK_T(gk_ft_splat)(T s)
{
#if GK_FT_BYTES == 64
    if (sizeof(T) == 8) return (gk_ftv(SFX))_mm512_set1_pd((double)s);
    return (gk_ftv(SFX))_mm512_set1_ps((float)s);
#else
    if (sizeof(T) == 8) return (gk_ftv(SFX))_mm256_set1_pd((double)s);
    return (gk_ftv(SFX))_mm256_set1_ps((float)s);
#endif
}

/* a b + c rounded once, in T: a tile's lane, one element at a time */
GK_INLINE T GK_T(gk_ft_fma1)(T a, T b, T c)
{
    if (sizeof(T) == 8) return (T)__builtin_fma((double)a, (double)b, (double)c);
    return (T)__builtin_fmaf((float)a, (float)b, (float)c);
}

/* One tile: t[a][jj] (lane l) = the sum over the steps r < nb of pi[a ps + r xstep + l]
 * times bp[jj][r bstep], for the mr (<= GK_FT_MR, a constant where inlined) vectors at
 * pi (ps elements apart; aligned to their width when xstep and ps keep them so, or not)
 * and the GK_FT_NR broadcast operands bp.  The sum runs in chains of GK_FT_KB steps of
 * fused multiply-adds, from zero, the chains added in order. */
GK_INLINE void GK_T(gk_ft_tile)(const int mr, const T *pi, gk_index ps,
                                const gk_index xstep, const T *const *bp,
                                const gk_index bstep, gk_index nb,
                                gk_ftv(SFX) t[GK_FT_MR][GK_FT_NR])
{
    for (gk_index r0 = 0; r0 < nb; r0 += GK_FT_KB) {
        const gk_index r1 = nb - r0 < GK_FT_KB ? nb : r0 + GK_FT_KB;
        gk_ftv(SFX) acc[GK_FT_MR][GK_FT_NR];
        for (int a = 0; a < mr; ++a)
            for (int jj = 0; jj < GK_FT_NR; ++jj) acc[a][jj] = (gk_ftv(SFX)){0};
        for (gk_index r = r0; r < r1; ++r) {
            gk_ftv(SFX) x[GK_FT_MR];
            for (int a = 0; a < mr; ++a)
                __builtin_memcpy(&x[a], pi + a * ps + r * xstep, sizeof x[a]);
            for (int jj = 0; jj < GK_FT_NR; ++jj) {
                const gk_ftv(SFX) bj = GK_T(gk_ft_splat)(bp[jj][r * bstep]);
                for (int a = 0; a < mr; ++a)
                    acc[a][jj] = GK_T(gk_ft_fma)(x[a], bj, acc[a][jj]);
            }
        }
        for (int a = 0; a < mr; ++a)
            for (int jj = 0; jj < GK_FT_NR; ++jj)
                t[a][jj] = r0 ? t[a][jj] + acc[a][jj] : acc[a][jj];
    }
}

/* The same sum for one element, x[r xstep] times b[r bstep]: a tile's lane in its
 * operations, for the elements past a tile's last whole vector */
GK_INLINE T GK_T(gk_ft_dot1)(const T *x, gk_index xstep, const T *b, gk_index bstep,
                             gk_index nb)
{
    T tot = 0;
    for (gk_index r0 = 0; r0 < nb; r0 += GK_FT_KB) {
        const gk_index r1 = nb - r0 < GK_FT_KB ? nb : r0 + GK_FT_KB;
        T c = 0;
        for (gk_index r = r0; r < r1; ++r)
            c = GK_T(gk_ft_fma1)(x[r * xstep], b[r * bstep], c);
        tot = r0 ? tot + c : c;
    }
    return tot;
}

/* The tile as a function of its own (mr 1..3): a caller's loop around it keeps its own
 * registers (inlined into the scatter's store loop, GCC spilled an FMA operand) */
GK_FT_CALL void GK_T(gk_ft_tile_call)(int mr, const T *pi, gk_index ps, gk_index xstep,
                                      const T *const *bp, gk_index bstep, gk_index nb,
                                      gk_ftv(SFX) t[GK_FT_MR][GK_FT_NR])
{
    if (mr == 3) GK_T(gk_ft_tile)(3, pi, ps, xstep, bp, bstep, nb, t);
    else if (mr == 2) GK_T(gk_ft_tile)(2, pi, ps, xstep, bp, bstep, nb, t);
    else GK_T(gk_ft_tile)(1, pi, ps, xstep, bp, bstep, nb, t);
}

/* put(ctx, i0, mr, j0, nj, t): store a tile's results, lanes of vectors i0 .. i0 + mr W
 * by operands j0 .. j0 + nj */
typedef void (*GK_T(gk_ft_put_fn))(void *ctx, gk_index i0, int mr, gk_index j0,
                                   gk_index nj, gk_ftv(SFX) t[GK_FT_MR][GK_FT_NR]);

/* Every tile of a product: the nv vectors at pi (vector v at pi + v ps, a step xstep
 * apart; lanes i0 = v W on) by groups of GK_FT_NR of the nj broadcast operands (operand
 * j at bq + j jstride, a step bstep apart; a last group short of GK_FT_NR repeats its
 * last operand, whose lanes put leaves alone), over nb steps.  The vectors outermost:
 * they stay in cache while the operands pass. */
GK_FT_CALL void GK_T(gk_ft_tiles)(const T *pi, gk_index nv, gk_index ps, gk_index xstep,
                                  const T *bq, gk_index nj, gk_index jstride,
                                  gk_index bstep, gk_index nb, GK_T(gk_ft_put_fn) put,
                                  void *ctx)
{
    gk_ftv(SFX) t[GK_FT_MR][GK_FT_NR];
    for (gk_index v = 0; v < nv; v += GK_FT_MR) {
        const int mr = (int)(nv - v < GK_FT_MR ? nv - v : GK_FT_MR);
        for (gk_index j0 = 0; j0 < nj; j0 += GK_FT_NR) {
            const gk_index n = nj - j0 < GK_FT_NR ? nj - j0 : GK_FT_NR;
            const T *bp[GK_FT_NR];
            for (int jj = 0; jj < GK_FT_NR; ++jj)
                bp[jj] = bq + (j0 + (jj < n ? jj : n - 1)) * jstride;
            GK_T(gk_ft_tile_call)(mr, pi + v * ps, ps, xstep, bp, bstep, nb, t);
            put(ctx, v * GK_FT_W(T), mr, j0, n, t);
        }
    }
}
