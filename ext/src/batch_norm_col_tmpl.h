/* BatchNorm, column layout (inner < GK_BN_ROW_MIN; the (N, C) case), for element type
 * T.  Included by batch_norm_tmpl.h, which describes the layouts.
 *
 * x is (N, K) with K = channels * inner (or R such rows folded into one, gk_bn_fold);
 * per-column reductions run over contiguous rows, vectorized across columns.  Rows
 * are split into a fixed partition of tasks (gk_row_tasks), columns into chunks of at
 * most GK_BN_CW; each (task, chunk) item walks its rows, and items are merged task by
 * task, then the columns of each channel, in a fixed order. */

/* ---- forward: statistics of one item ------------------------------------------------
 * Means are kept relative to a pivot per column (its channel's first value), so that
 * the means merged by Chan's formula are of the size of the spread, not of the offset:
 * a mean of 1e4 would carry an absolute rounding error of ulp(1e4) into every merge. */

#ifndef GK_BN_ADD_LANES
#define GK_BN_ADD_LANES
/* d[k] += (double)v[k] (sub: -=) for the GK_HLEN lanes of a float32 vector: the
 * float16 column sums onto their double sums (gk_add_f32_to_f64; a per-lane loop here
 * stayed scalar) */
GK_INLINE void gk_bn_add_lanes(double *GK_RESTRICT d, gk_hf v, const int sub)
{
    float t[GK_HLEN];
    __builtin_memcpy(t, &v, sizeof t);
    gk_add_f32_to_f64(d, t, GK_HLEN, sub);
}
#endif

/* float32 data: the sums of d = x - pf[j] and d^2 over rows [0, nb) of xb into
 * s[0..w), q[0..w) (double).  Eight rows at a time are added in float32, one lane per
 * column in a fixed tree, and the eight-row sum goes into the double sums: a quarter
 * of the conversions and adds of summing in double, and the tree's error (a few
 * float32 ulps of terms of the size of the spread, as pf is near the mean) stays far
 * below what the float32 results resolve.  Rows left over go one by one, in double.
 * Every column takes the same steps whatever the vector width: the same bits on every
 * ISA. */
GK_INLINE void GK_T(bn_col_sums8)(const TS *GK_RESTRICT xb, const T *GK_RESTRICT pf,
                                  gk_index K, gk_index nb, gk_index w, gk_index ahead,
                                  double *GK_RESTRICT s, double *GK_RESTRICT q)
{
    gk_index i;
    for (gk_index j = 0; j < w; ++j) s[j] = q[j] = 0.0;
    for (i = 0; i + 8 <= nb; i += 8) {
        const TS *p0 = xb + i * K, *p1 = p0 + K, *p2 = p1 + K, *p3 = p2 + K;
        const TS *p4 = p3 + K, *p5 = p4 + K, *p6 = p5 + K, *p7 = p6 + K;
        gk_index j = 0;
        if (ahead && i + 8 + ahead <= nb)
            gk_bn_fetch8(p0 + ahead * K, K, w, sizeof(TS));
#if GK_HALF == 1
        /* float16: GK_HLEN columns at a time through F16C, the scalar loop's operations
         * lane by lane (GCC does not vectorize ld1_arith's one-element conversions) */
        for (; j + GK_HLEN <= w; j += GK_HLEN) {
            gk_hf f, sd, sq;
            __builtin_memcpy(&f, pf + j, sizeof f);
            const gk_hf d0 = f - gk_ld_f16v_arith(p0 + j), d1 = f - gk_ld_f16v_arith(p1 + j);
            const gk_hf d2 = f - gk_ld_f16v_arith(p2 + j), d3 = f - gk_ld_f16v_arith(p3 + j);
            const gk_hf d4 = f - gk_ld_f16v_arith(p4 + j), d5 = f - gk_ld_f16v_arith(p5 + j);
            const gk_hf d6 = f - gk_ld_f16v_arith(p6 + j), d7 = f - gk_ld_f16v_arith(p7 + j);
            sd = ((d0 + d1) + (d2 + d3)) + ((d4 + d5) + (d6 + d7));
            sq = ((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3))
               + ((d4 * d4 + d5 * d5) + (d6 * d6 + d7 * d7));
            gk_bn_add_lanes(s + j, sd, 1);
            gk_bn_add_lanes(q + j, sq, 0);
        }
#endif
        for (; j < w; ++j) {
            /* -d (pf - x takes x straight from memory), negated exactly when added */
            T d0 = pf[j] - GK_T(ld1_arith)(p0 + j), d1 = pf[j] - GK_T(ld1_arith)(p1 + j), d2 = pf[j] - GK_T(ld1_arith)(p2 + j), d3 = pf[j] - GK_T(ld1_arith)(p3 + j);
            T d4 = pf[j] - GK_T(ld1_arith)(p4 + j), d5 = pf[j] - GK_T(ld1_arith)(p5 + j), d6 = pf[j] - GK_T(ld1_arith)(p6 + j), d7 = pf[j] - GK_T(ld1_arith)(p7 + j);
            T sd = ((d0 + d1) + (d2 + d3)) + ((d4 + d5) + (d6 + d7));
            T sq = ((d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3))
                 + ((d4 * d4 + d5 * d5) + (d6 * d6 + d7 * d7));
            s[j] -= (double)sd;
            q[j] += (double)sq;
        }
    }
    for (; i < nb; ++i) {
        const TS *p0 = xb + i * K;
        for (gk_index j = 0; j < w; ++j) {
            double d0 = (double)(GK_T(ld1_arith)(p0 + j) - pf[j]);
            s[j] += d0;
            q[j] += d0 * d0;
        }
    }
}

/* float32 data: the mean of each column over rows [0, nb) of xb into m[0..w), eight
 * rows at a time added in float32 (only a shift: its rounding does not matter) */
GK_INLINE void GK_T(bn_col_mean8)(const TS *GK_RESTRICT xb, gk_index K, gk_index nb,
                                  gk_index w, double *GK_RESTRICT m)
{
    gk_index i;
    for (gk_index j = 0; j < w; ++j) m[j] = 0.0;
    for (i = 0; i + 8 <= nb; i += 8) {
        const TS *p0 = xb + i * K, *p1 = p0 + K, *p2 = p1 + K, *p3 = p2 + K;
        const TS *p4 = p3 + K, *p5 = p4 + K, *p6 = p5 + K, *p7 = p6 + K;
        gk_index j = 0;
#if GK_HALF == 1  /* float16: as in bn_col_sums8 */
        for (; j + GK_HLEN <= w; j += GK_HLEN) {
            const gk_hf t = ((gk_ld_f16v_arith(p0 + j) + gk_ld_f16v_arith(p1 + j))
                             + (gk_ld_f16v_arith(p2 + j) + gk_ld_f16v_arith(p3 + j)))
                            + ((gk_ld_f16v_arith(p4 + j) + gk_ld_f16v_arith(p5 + j))
                               + (gk_ld_f16v_arith(p6 + j) + gk_ld_f16v_arith(p7 + j)));
            gk_bn_add_lanes(m + j, t, 0);
        }
#endif
        for (; j < w; ++j)
            m[j] += (double)(((GK_T(ld1_arith)(p0 + j) + GK_T(ld1_arith)(p1 + j)) + (GK_T(ld1_arith)(p2 + j) + GK_T(ld1_arith)(p3 + j)))
                             + ((GK_T(ld1_arith)(p4 + j) + GK_T(ld1_arith)(p5 + j)) + (GK_T(ld1_arith)(p6 + j) + GK_T(ld1_arith)(p7 + j))));
    }
    for (; i < nb; ++i)
        for (gk_index j = 0; j < w; ++j) m[j] += GK_T(ld1_d)(xb + i * K + j);
    for (gk_index j = 0; j < w; ++j) m[j] /= (double)nb;
}

/* Mean (relative to pivot[c0 + j]) and M2 of columns [c0, c0 + w) over rows [r0, r1)
 * of x (K columns), into mean_out[0..w) and m2_out[0..w).  The rows go in blocks of rb
 * rows (about GK_BN_TILE elements, so a block is read again from L2), merged into the
 * item's statistics with Chan's formula. */
static void GK_T(bn_col_stats)(const TS *GK_RESTRICT x, const double *GK_RESTRICT pivot,
                               gk_index K, gk_index r0, gk_index r1, gk_index c0,
                               gk_index w, gk_index rb, gk_index ahead,
                               double *GK_RESTRICT mean_out, double *GK_RESTRICT m2_out)
{
    double s[GK_BN_CW], q[GK_BN_CW], ma[GK_BN_CW], qa[GK_BN_CW], pv[GK_BN_CW];
    T pf[GK_BN_CW];
    for (gk_index j = 0; j < w; ++j) {
        ma[j] = qa[j] = 0.0;
        pv[j] = pivot[c0 + j];
    }
    if (sizeof(T) == sizeof(float)) {
        /* float32: one pass over the item's rows of float32 shifted sums (bn_col_sums8)
         * with the item's own shift pf, the mean of its first GK_BN_SHIFT_ROWS rows
         * rounded to T (read again from L2), so that the differences are of the size
         * of the spread.  Kept when for every column the item's mean is within
         * GK_BN_F32_MAX_RATIO of the spread from the shift (then M2 = q - s^2 / n
         * loses at most a few float32 ulps; with i.i.d. rows the ratio is about
         * 1 / GK_BN_SHIFT_ROWS) and the squares neither overflow nor come near
         * float32's subnormals (a column whose differences are all 0, e.g. a dead
         * ReLU, is exact); else the blocks below run in double. */
        gk_index n = r1 - r0;
        const TS *xi = x + r0 * K + c0;
        GK_T(bn_col_mean8)(xi, K, n < GK_BN_SHIFT_ROWS ? n : GK_BN_SHIFT_ROWS, w, s);
        for (gk_index j = 0; j < w; ++j) pf[j] = (T)s[j];
        GK_T(bn_col_sums8)(xi, pf, K, n, w, ahead, s, q);
        double dn = (double)n;
        int ok = 1;
        for (gk_index j = 0; j < w; ++j) {
            double mb = s[j] / dn, m2 = q[j] - s[j] * mb;
            int in_range = (q[j] >= dn * 0x1p-96 && q[j] <= dn * 0x1p96)
                           || (q[j] == 0.0 && s[j] == 0.0);
            ok &= in_range & !(mb * mb * dn > GK_BN_F32_MAX_RATIO * m2);
            mean_out[j] = ((double)pf[j] - pv[j]) + mb;   /* relative to the pivot */
            m2_out[j] = m2;
        }
        if (ok) return;
    }
    double na = 0.0;
    for (gk_index b0 = r0; b0 < r1; b0 += rb) {
        gk_index nb = r1 - b0 < rb ? r1 - b0 : rb;
        const TS *xb = x + b0 * K + c0;
        gk_index i;
        double dnb = (double)nb;
        int one_pass = 0;
        if (sizeof(T) == sizeof(float)) {
            /* float32 data: one pass of shifted sums d = x - pivot, kept under
             * gk_shifted_ok for every column of the block (reduce.h) */
            for (gk_index j = 0; j < w; ++j) s[j] = q[j] = 0.0;
            for (i = 0; i + 4 <= nb; i += 4) {
                const TS *p0 = xb + i * K, *p1 = p0 + K, *p2 = p1 + K, *p3 = p2 + K;
                for (gk_index j = 0; j < w; ++j) {
                    double d0 = GK_T(ld1_d)(p0 + j) - pv[j], d1 = GK_T(ld1_d)(p1 + j) - pv[j];
                    double d2 = GK_T(ld1_d)(p2 + j) - pv[j], d3 = GK_T(ld1_d)(p3 + j) - pv[j];
                    s[j] += (d0 + d1) + (d2 + d3);
                    q[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
                }
            }
            for (; i < nb; ++i) {
                const TS *p0 = xb + i * K;
                for (gk_index j = 0; j < w; ++j) {
                    double d0 = GK_T(ld1_d)(p0 + j) - pv[j];
                    s[j] += d0;
                    q[j] += d0 * d0;
                }
            }
            one_pass = 1;
            for (gk_index j = 0; j < w; ++j) {
                double mb = s[j] / dnb, m2 = q[j] - s[j] * mb;
                one_pass &= gk_shifted_ok(mb * mb * dnb, m2);
                s[j] = mb;
                q[j] = m2;
            }
            if (one_pass)
                for (gk_index j = 0; j < w; ++j) qa[j] += q[j];
        }
        if (!one_pass) {
            /* pass 1: block sums of x - pivot, four rows added pairwise per step */
            for (gk_index j = 0; j < w; ++j) s[j] = 0.0;
            for (i = 0; i + 4 <= nb; i += 4) {
                const TS *p0 = xb + i * K, *p1 = p0 + K, *p2 = p1 + K, *p3 = p2 + K;
                for (gk_index j = 0; j < w; ++j)
                    s[j] += ((GK_T(ld1_d)(p0 + j) - pv[j]) + (GK_T(ld1_d)(p1 + j) - pv[j]))
                          + ((GK_T(ld1_d)(p2 + j) - pv[j]) + (GK_T(ld1_d)(p3 + j) - pv[j]));
            }
            for (; i < nb; ++i) {
                const TS *p0 = xb + i * K;
                for (gk_index j = 0; j < w; ++j) s[j] += GK_T(ld1_d)(p0 + j) - pv[j];
            }
            for (gk_index j = 0; j < w; ++j) {
                s[j] /= dnb;                 /* block mean, relative to the pivot */
                q[j] = pv[j] + s[j];         /* its absolute value (rounded): the centre */
            }
            /* pass 2 (the block is in cache): squared deviations from the centre, which
             * is within an ulp of the block mean, so their sum is M2 to a relative
             * ulp^2; they go straight into qa */
            for (i = 0; i + 4 <= nb; i += 4) {
                const TS *p0 = xb + i * K, *p1 = p0 + K, *p2 = p1 + K, *p3 = p2 + K;
                if (b0 + nb + i + 4 <= r1)  /* fetch the next block while this one computes */
                    for (int r = 0; r < 4; ++r)
                        for (gk_index j = 0; j < w; j += 64 / (gk_index)sizeof(TS))
                            __builtin_prefetch(xb + (nb + i + r) * K + j);
                for (gk_index j = 0; j < w; ++j) {
                    double d0 = GK_T(ld1_d)(p0 + j) - q[j], d1 = GK_T(ld1_d)(p1 + j) - q[j];
                    double d2 = GK_T(ld1_d)(p2 + j) - q[j], d3 = GK_T(ld1_d)(p3 + j) - q[j];
                    qa[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
                }
            }
            for (; i < nb; ++i) {
                const TS *p0 = xb + i * K;
                for (gk_index j = 0; j < w; ++j) {
                    double d0 = GK_T(ld1_d)(p0 + j) - q[j];
                    qa[j] += d0 * d0;
                }
            }
        }
        /* the block's M2 is in qa already: the merge adds the spread of the means */
        gk_chan_merge(w, na, dnb, ma, qa, s, NULL, 1);
        na += dnb;
    }
    for (gk_index j = 0; j < w; ++j) {
        mean_out[j] = ma[j];
        m2_out[j] = qa[j];
    }
}

/* ---- backward: sums of one item ------------------------------------------------------ */

/* sum dy and sum dy (x - m[j]) of columns [c0, c0 + w) over rows [r0, r1) */
static void GK_T(bn_col_grad_sums)(const TS *GK_RESTRICT dy, const TS *GK_RESTRICT x,
                                   const double *GK_RESTRICT m, gk_index K, gk_index r0,
                                   gk_index r1, gk_index c0, gk_index w,
                                   double *GK_RESTRICT s1_out, double *GK_RESTRICT s2_out)
{
    double s1[GK_BN_CW], s2[GK_BN_CW], mm[GK_BN_CW];
    for (gk_index j = 0; j < w; ++j) {
        s1[j] = s2[j] = 0.0;
        mm[j] = m[c0 + j];
    }
    gk_index i = r0;
    if (sizeof(T) == sizeof(float)) {
        /* float32: eight rows at a time in a float32 tree per column, the eight-row
         * sums added in double (as bn_col_sums8; the saved mean m is a T already) */
        T mf[GK_BN_CW];
        for (gk_index j = 0; j < w; ++j) mf[j] = (T)mm[j];
        for (; i + 8 <= r1; i += 8) {
            const TS *g0 = dy + i * K + c0, *g1 = g0 + K, *g2 = g1 + K, *g3 = g2 + K;
            const TS *g4 = g3 + K, *g5 = g4 + K, *g6 = g5 + K, *g7 = g6 + K;
            const TS *p0 = x + i * K + c0, *p1 = p0 + K, *p2 = p1 + K, *p3 = p2 + K;
            const TS *p4 = p3 + K, *p5 = p4 + K, *p6 = p5 + K, *p7 = p6 + K;
            gk_index j = 0;
#if GK_HALF == 1
            /* float16: GK_HLEN columns at a time through F16C, the scalar loop's
             * operations lane by lane (as bn_col_sums8: GCC leaves ld1_arith's
             * one-element conversions scalar, and this loop took a float16 (N, C)
             * backward to 2.4x bfloat16's time, Intel Xeon) */
            for (; j + GK_HLEN <= w; j += GK_HLEN) {
                gk_hf f;
                __builtin_memcpy(&f, mf + j, sizeof f);
#define GK_BN_A(k) const gk_hf a##k = gk_ld_f16v_arith(g##k + j)
#define GK_BN_E(k) const gk_hf e##k = a##k * (f - gk_ld_f16v_arith(p##k + j))
                GK_BN_A(0); GK_BN_A(1); GK_BN_A(2); GK_BN_A(3);
                GK_BN_A(4); GK_BN_A(5); GK_BN_A(6); GK_BN_A(7);
                GK_BN_E(0); GK_BN_E(1); GK_BN_E(2); GK_BN_E(3);
                GK_BN_E(4); GK_BN_E(5); GK_BN_E(6); GK_BN_E(7);
#undef GK_BN_A
#undef GK_BN_E
                const gk_hf sa = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
                const gk_hf se = ((e0 + e1) + (e2 + e3)) + ((e4 + e5) + (e6 + e7));
                gk_bn_add_lanes(s1 + j, sa, 0);
                gk_bn_add_lanes(s2 + j, se, 1);
            }
#endif
            for (; j < w; ++j) {
                T a0 = GK_T(ld1_arith)(g0 + j), a1 = GK_T(ld1_arith)(g1 + j), a2 = GK_T(ld1_arith)(g2 + j), a3 = GK_T(ld1_arith)(g3 + j);
                T a4 = GK_T(ld1_arith)(g4 + j), a5 = GK_T(ld1_arith)(g5 + j), a6 = GK_T(ld1_arith)(g6 + j), a7 = GK_T(ld1_arith)(g7 + j);
                /* m - x (x straight from memory): the products' tree is negated
                 * exactly when added */
                T e0 = a0 * (mf[j] - GK_T(ld1_arith)(p0 + j)), e1 = a1 * (mf[j] - GK_T(ld1_arith)(p1 + j));
                T e2 = a2 * (mf[j] - GK_T(ld1_arith)(p2 + j)), e3 = a3 * (mf[j] - GK_T(ld1_arith)(p3 + j));
                T e4 = a4 * (mf[j] - GK_T(ld1_arith)(p4 + j)), e5 = a5 * (mf[j] - GK_T(ld1_arith)(p5 + j));
                T e6 = a6 * (mf[j] - GK_T(ld1_arith)(p6 + j)), e7 = a7 * (mf[j] - GK_T(ld1_arith)(p7 + j));
                s1[j] += (double)(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)));
                s2[j] -= (double)(((e0 + e1) + (e2 + e3)) + ((e4 + e5) + (e6 + e7)));
            }
        }
    }
    for (; i + 4 <= r1; i += 4) {
        const TS *g0 = dy + i * K + c0, *g1 = g0 + K, *g2 = g1 + K, *g3 = g2 + K;
        const TS *p0 = x + i * K + c0, *p1 = p0 + K, *p2 = p1 + K, *p3 = p2 + K;
        for (gk_index j = 0; j < w; ++j) {
            double a0 = GK_T(ld1_d)(g0 + j), a1 = GK_T(ld1_d)(g1 + j), a2 = GK_T(ld1_d)(g2 + j), a3 = GK_T(ld1_d)(g3 + j);
            s1[j] += (a0 + a1) + (a2 + a3);
            s2[j] += (a0 * (GK_T(ld1_d)(p0 + j) - mm[j]) + a1 * (GK_T(ld1_d)(p1 + j) - mm[j]))
                   + (a2 * (GK_T(ld1_d)(p2 + j) - mm[j]) + a3 * (GK_T(ld1_d)(p3 + j) - mm[j]));
        }
    }
    for (; i < r1; ++i) {
        const TS *g0 = dy + i * K + c0, *p0 = x + i * K + c0;
        for (gk_index j = 0; j < w; ++j) {
            double a0 = GK_T(ld1_d)(g0 + j);
            s1[j] += a0;
            s2[j] += a0 * (GK_T(ld1_d)(p0 + j) - mm[j]);
        }
    }
    for (gk_index j = 0; j < w; ++j) {
        s1_out[j] = s1[j];
        s2_out[j] = s2[j];
    }
}

/* ---- both directions: items, then tasks, then channels ------------------------------
 * Merge into (na, ca, cb) the reductions of rows [0, N) of x (and dy) seen as (N, K),
 * K = R * C * inner (R rows folded per row): column k belongs to channel
 * (k / inner) % C, ref[k] is its pivot (forward) or its channel's mean (backward).
 * Forward (!grad): (ca, cb) are each channel's mean relative to its pivot and M2, merged
 * with Chan's formula; backward: sum dy and sum dy (x - mean), added.  part holds
 * 2 K ntask doubles.  Returns the new count. */
GK_INLINE double GK_T(bn_col_reduce)(const int grad, const TS *dy, const TS *x, gk_index N,
                                     gk_index R, gk_index C, gk_index inner, double *part,
                                     const double *ref, double na, double *ca, double *cb)
{
    gk_index K = R * C * inner;
    gk_bn_plan p = gk_bn_column_plan(N, K);
    gk_index items = p.ntask * p.nchunk;
    int nt = gk_threads_for(N * K);
    #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
    for (gk_index it = 0; it < items; ++it) {
        gk_index t = it / p.nchunk, c0 = (it % p.nchunk) * p.cw;
        gk_index w = K - c0 < p.cw ? K - c0 : p.cw;
        gk_index r0 = gk_task_begin(t, p.ntask, N), r1 = gk_task_begin(t + 1, p.ntask, N);
        double *pt = part + 2 * t * K;
        if (grad)
            GK_T(bn_col_grad_sums)(dy, x, ref, K, r0, r1, c0, w, pt + c0, pt + K + c0);
        else
            GK_T(bn_col_stats)(x, ref, K, r0, r1, c0, w, p.rb, gk_bn_ahead(N, K, w, sizeof(TS)),
                               pt + c0, pt + K + c0);
    }
    /* merge each column's tasks in order into task 0's slots (vectorized across
     * columns; how the columns are split among threads changes no column's result) */
    int ntc = gk_threads_for(K * p.ntask);
    #pragma omp parallel for num_threads(ntc) schedule(static) if(ntc > 1)
    for (gk_index ch = 0; ch < p.nchunk; ++ch) {
        gk_index c0 = ch * p.cw;
        gk_index w = K - c0 < p.cw ? K - c0 : p.cw;
        double n0 = (double)gk_task_begin(1, p.ntask, N);
        for (gk_index t = 1; t < p.ntask; ++t) {
            double nb = (double)(gk_task_begin(t + 1, p.ntask, N) - gk_task_begin(t, p.ntask, N));
            const double *pt = part + 2 * t * K + c0;
            gk_merge_pair(!grad, w, n0, nb, part + c0, part + K + c0, pt, pt + K, 1);
            n0 += nb;
        }
    }
    /* then the R * inner columns of each channel, in order (each holds N values) */
    for (gk_index r = 0; r < R; ++r)
        for (gk_index i = 0; i < inner; ++i) {
            const double *pc = part + r * C * inner + i;
            gk_merge_pair(!grad, C, na, (double)N, ca, cb, pc, pc + K, inner);
            na += (double)N;
        }
    return na;
}

/* Per-channel (ca, cb) of all N rows: the folded rows, then the N % R left over.
 * ref holds R K doubles. */
GK_INLINE void GK_T(bn_col_channels)(const int grad, const TS *dy, const TS *x, gk_index N,
                                     gk_index C, gk_index inner, double *part,
                                     const double *ref, double *ca, double *cb)
{
    gk_index K = C * inner, R = gk_bn_fold(K), Nf = N / R * R;
    double na = 0.0;
    if (Nf > 0)
        na = GK_T(bn_col_reduce)(grad, dy, x, N / R, R, C, inner, part, ref, na, ca, cb);
    if (N > Nf)
        GK_T(bn_col_reduce)(grad, grad ? dy + Nf * K : NULL, x + Nf * K, N - Nf, 1, C,
                            inner, part, ref, na, ca, cb);
}

/* ---- both directions: output ---------------------------------------------------------
 * Row by row (four rows at a time in cache), vectorized across the K columns, with
 * per-column constants (see bn_out in batch_norm_tmpl.h). */

/* Four rows of bn_col_apply's output at once, in cache (not streamed, out neither x nor
 * dy, rows of whole GK_SVBYTES so that every row's vectors are aligned alike, no
 * backward walk; float32/float64): each column vector's constants loaded once for the
 * four rows, where bn_out_a loads them (4 loads beside x's one) for every row.  Every
 * element is bn_vec's operations on the same constants: the bits of bn_out_a.  On the
 * AMD EPYC (Zen 5) guest, timed interleaved against the row loop, out= given: forward
 * 390x256 1 thread 28.0-28.8 -> 24.2-24.8 us, 3906x256 203-243 -> 163-202 us, 8192x1024
 * at 2 threads 1.59-2.00 -> 1.33-1.87 ms; the backward within 5% either way, float64
 * 1000x1000 1.20 -> 0.89 ms. */
GK_INLINE int GK_T(bn_rows4_ok)(const int grad, const TS *dy, const TS *x, TS *out,
                                gk_index K)
{
    return !GK_HALF && K >= GK_TVLEN && ((size_t)K * sizeof(TS)) % GK_SVBYTES == 0
           && (const void *)out != (const void *)x && (const void *)out != (const void *)dy
           && GK_T(vec_head)(out) >= 0 && !gk_alias_ahead(out, x)
           && !(grad && gk_alias_ahead(out, dy));
}

GK_INLINE void GK_T(bn_out_rows4)(const int grad, const TS *dy, const TS *x, TS *out,
                                  gk_index K, GK_T(bn_coef) cf)
{
    typedef GK_T(bnv) V;
    const gk_index head = GK_T(vec_head)(out);   /* < GK_TVLEN <= K (bn_rows4_ok) */
    const int tail = (K - head) % GK_TVLEN != 0;  /* columns past the last whole vector */
    const V z = {0}, unused[5] = {{0}};           /* bn_vec's broadcasts: none with cs 1 */
    for (int r = 0; r < 4; ++r) {  /* the ends: bn_out_a's unaligned vectors */
        const TS *xr = x + r * K, *gr = grad ? dy + r * K : NULL;
        if (head)
            GK_T(sttv_arith)(out + r * K, GK_T(bn_vec)(grad, 1, gr, xr, 0, cf, 0, unused));
        if (tail)
            GK_T(sttv_arith)(out + r * K + K - GK_TVLEN,
                             GK_T(bn_vec)(grad, 1, gr, xr, K - GK_TVLEN, cf, 0, unused));
    }
    for (gk_index j = head; j + GK_TVLEN <= K; j += GK_TVLEN) {
        V c[5];
        c[0] = GK_T(bn_ld)(cf.mh + j);
        c[1] = GK_T(bn_ld)(cf.s + j);
        c[2] = GK_T(bn_ld)(cf.b + j);
        c[3] = grad ? GK_T(bn_ld)(cf.k + j) : z;
        c[4] = grad ? z : GK_T(bn_ld)(cf.ml + j);
        for (int r = 0; r < 4; ++r)
            GK_T(sttv_arith)(out + r * K + j,
                             GK_T(bn_vec)(grad, 0, grad ? dy + r * K : NULL, x + r * K, j,
                                          cf, 0, c));
    }
}

GK_INLINE void GK_T(bn_col_apply)(const int grad, const TS *dy, const TS *x, TS *out,
                                  gk_index N, gk_index K, GK_T(bn_coef) cf)
{
    int nt = gk_threads_for(N * K);
    const int stream = gk_stream_output((size_t)(N * K) * sizeof(TS), out, x, dy);
    if (nt > N) nt = N > 0 ? (int)N : 1;
    /* each thread a contiguous run of rows, fenced once at its end: a fence per row
     * (1 KiB of a 256-column row) waited for the write-combining buffers every row and
     * cost half the time of a streamed (N, 256) pass */
    GK_PARALLEL_FOR(nt, t, nt,
        const gk_index i1 = gk_task_begin(t + 1, nt, N);
        GK_T(carry) cy = {0};   /* a streamed row's last line, for the next (reduce_tmpl.h) */
        gk_index i = gk_task_begin(t, nt, N);
        if (!stream && GK_T(bn_rows4_ok)(grad, dy, x, out, K))
            for (; i + 4 <= i1; i += 4)
                GK_T(bn_out_rows4)(grad, grad ? dy + i * K : NULL, x + i * K, out + i * K,
                                   K, cf);
        for (; i < i1; ++i) {
            const TS *xi = x + i * K, *gi = grad ? dy + i * K : NULL;
            cy.keep = i + 1 < i1;
            if (stream)
                GK_T(bn_out_a)(grad, 1, 1, gi, xi, out + i * K, K, cf, 0, &cy);
            else
                GK_T(bn_out_a)(grad, 1, 0, gi, xi, out + i * K, K, cf, 0, NULL);
        }
        GK_T(carry_flush)(&cy);
        if (stream) gk_sfence();
    );
}
