/* Fixed-order reductions, the one copy every family uses: the lanes and chunks of a sum,
 * the lane loop, the fold, Chan's merge of (count, mean, M2), and the fixed partition
 * of rows into tasks.  The per-dtype chunk kernels built on them are in reduce_tmpl.h.
 * Internal, not installed.
 *
 * A sum runs over fixed chunks of GK_CHUNK elements, summed in chunk order.  Within a
 * chunk, GK_LANES independent double accumulators (the compiler maps them onto vector
 * registers: 4 AVX2 or 2 AVX-512 registers, so the adds do not wait on each other):
 * lane k sums the terms of elements j + k, j a multiple of GK_LANES, and the lanes
 * fold in a fixed tree.  The grouping is explicit, so the result is the same whatever
 * the ISA, the vector width or the way the chunks are split across threads. */
#ifndef GK_REDUCE_H
#define GK_REDUCE_H
#include "gk_internal.h"

#define GK_LANES 16
#define GK_CHUNK ((gk_index)4096)

/* Native-width vectors of doubles (GCC/Clang vector extensions): GK_VW doubles per
 * vector for the ISA this file is compiled for, GK_NACC of them hold the GK_LANES lanes
 * of a sum.  Written with vectors, not as loops over lane arrays, because the
 * auto-vectorizer spills on the loops that keep two sums. */
#if defined(__AVX512F__)
#define GK_VBYTES 64
#elif defined(__AVX__)
#define GK_VBYTES 32
#else
#define GK_VBYTES 16
#endif
typedef double gk_vd __attribute__((vector_size(GK_VBYTES)));
/* vectors of the element type (reduce_tmpl.h), GK_TVBYTES wide: the ISA's full width.
 * For exact reductions (max, min: any grouping gives the same result), the float32
 * block sums (lanes fixed by the element index, so any width gives the same bits) and
 * element-wise passes.  64 bytes on AVX-512: 32 took a LayerNorm forward from 0.23 to
 * 0.34 ns per element in cache on an Intel Xeon guest. */
#if defined(__AVX512F__)
#define GK_TVBYTES 64
#elif defined(__AVX__)
#define GK_TVBYTES 32
#else
#define GK_TVBYTES 16
#endif
typedef int64_t gk_vl __attribute__((vector_size(GK_VBYTES)));
#define GK_VW (GK_VBYTES / 8)
#define GK_NACC (GK_LANES / GK_VW)

/* GK_VW floats from p (unaligned) as doubles.  GCC splits __builtin_convertvector into
 * halves, so the one-instruction conversion is spelled out where the ISA has it. */
#if defined(__AVX512F__) || defined(__AVX__) || defined(__SSE2__)
#include <immintrin.h>
#endif
GK_INLINE gk_vd gk_ldv_f32(const float *p)
{
#if defined(__AVX512F__)
    return (gk_vd)_mm512_cvtps_pd(_mm256_loadu_ps(p));
#elif defined(__AVX__)
    return (gk_vd)_mm256_cvtps_pd(_mm_loadu_ps(p));
#elif defined(__SSE2__)
    return (gk_vd)_mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)p)));
#else
    typedef float gk_vf __attribute__((vector_size(GK_VBYTES / 2)));
    gk_vf f;
    __builtin_memcpy(&f, p, sizeof f);
    return __builtin_convertvector(f, gk_vd);
#endif
}

/* GK_VW doubles from p (unaligned) */
GK_INLINE gk_vd gk_ldv_f64(const double *p)
{
    gk_vd d;
    __builtin_memcpy(&d, p, sizeof d);
    return d;
}

/* d[0, n) += t[0, n) widened to double (sub: -=), n a multiple of GK_VW, in vectors of
 * doubles: the float partial sums of a vector loop onto their double totals, the same
 * additions lane by lane as a scalar loop (which GCC leaves scalar) */
GK_INLINE void gk_add_f32_to_f64(double *GK_RESTRICT d, const float *GK_RESTRICT t, int n,
                                 const int sub)
{
    for (int h = 0; h < n; h += GK_VW) {
        const gk_vd a = gk_ldv_f64(d + h), b = gk_ldv_f32(t + h);
        const gk_vd r = sub ? a - b : a + b;
        __builtin_memcpy(d + h, &r, sizeof r);
    }
}

/* m ? a : b lane by lane (m from a vector comparison: all ones or all zeros) */
GK_INLINE gk_vd gk_vsel(gk_vl m, gk_vd a, gk_vd b)
{
    return (gk_vd)(((gk_vl)a & m) | ((gk_vl)b & ~m));
}

/* |v| lane by lane: the sign bit cleared, as fabs does */
GK_INLINE gk_vd gk_vabs(gk_vd v)
{
    return (gk_vd)((gk_vl)v & ((gk_vl){0} + INT64_MAX));
}

/* d / c lane by lane, correctly rounded, without the divider (which a per-element
 * division keeps busy at 16 cycles per 8 doubles on AVX-512: twice a memory-bound
 * pass's budget): from r = 1 / c rounded to nearest, q = d r and two Markstein
 * corrections q -= (q c - d) r by FMAs, the scheme of gk_hdiv_const (gk_half.h) in
 * double: once q is within an ulp of d / c, the FMA residual is exact and the second
 * correction rounds to d / c (Markstein's theorem), provided nothing underflows or
 * overflows: every c must lie in [GK_DIV_C_MIN, 1 / GK_DIV_C_MIN] (gk_div_c_ok, the
 * caller's check), and every d must be 0 or within [2^-500, 2^500].  `range`: d is
 * checked for that; without it the caller knows it (d = x - m of a float32 x and an m
 * that is 0 or within [2^-400, 2^400], gk_div_m_narrow: |d| <= 2^128 + 2^400, and a
 * nonzero d is a multiple of 2^-203) and only NaN and infinity are looked for.  The
 * signs of zero come out as the division's: q = -0 gives q c - d = +0 and
 * -0 - (+0) r = -0.  Returns 0, *q untouched, when a lane fails the check or without
 * FMA (the baseline table): the caller divides. */
#define GK_DIV_C_MIN 0x1p-400
GK_INLINE int gk_div_c_ok(double c)
{
    return c >= GK_DIV_C_MIN && c <= 1.0 / GK_DIV_C_MIN;
}

GK_INLINE int gk_div_m_narrow(double m)
{
    return m == 0.0 || (fabs(m) >= GK_DIV_C_MIN && fabs(m) <= 1.0 / GK_DIV_C_MIN);
}

GK_INLINE int gk_vdiv_recip(const int range, gk_vd d, gk_vd c, gk_vd r, gk_vd *q)
{
#if defined(__AVX512F__)
    __mmask8 ok;
    if (range) {
        const __m512d ad = (__m512d)gk_vabs(d);
        ok = (_mm512_cmp_pd_mask(ad, _mm512_set1_pd(0x1p-500), _CMP_GE_OQ)
              & _mm512_cmp_pd_mask(ad, _mm512_set1_pd(0x1p500), _CMP_LE_OQ))
             | _mm512_cmp_pd_mask(ad, _mm512_setzero_pd(), _CMP_EQ_OQ);
    } else {
#if defined(__AVX512DQ__)
        ok = (__mmask8)~_mm512_fpclass_pd_mask((__m512d)d, 0x99);  /* NaN, +-inf */
#else
        const __m512d ad = (__m512d)gk_vabs(d);
        ok = _mm512_cmp_pd_mask(ad, _mm512_set1_pd(INFINITY), _CMP_LT_OQ);
#endif
    }
    if (ok != (__mmask8)0xFF) return 0;
    const __m512d x = (__m512d)d, cv = (__m512d)c, rv = (__m512d)r;
    __m512d v = _mm512_mul_pd(x, rv);
    v = _mm512_fnmadd_pd(_mm512_fmsub_pd(v, cv, x), rv, v);
    v = _mm512_fnmadd_pd(_mm512_fmsub_pd(v, cv, x), rv, v);
    *q = (gk_vd)v;
    return 1;
#elif defined(__AVX__) && defined(__FMA__)
    const __m256d ad = (__m256d)gk_vabs(d);
    __m256d ok;
    if (range)
        ok = _mm256_or_pd(
            _mm256_and_pd(_mm256_cmp_pd(ad, _mm256_set1_pd(0x1p-500), _CMP_GE_OQ),
                          _mm256_cmp_pd(ad, _mm256_set1_pd(0x1p500), _CMP_LE_OQ)),
            _mm256_cmp_pd(ad, _mm256_setzero_pd(), _CMP_EQ_OQ));
    else
        ok = _mm256_cmp_pd(ad, _mm256_set1_pd(INFINITY), _CMP_LT_OQ);
    if (_mm256_movemask_pd(ok) != 0xF) return 0;
    const __m256d x = (__m256d)d, cv = (__m256d)c, rv = (__m256d)r;
    __m256d v = _mm256_mul_pd(x, rv);
    v = _mm256_fnmadd_pd(_mm256_fmsub_pd(v, cv, x), rv, v);
    v = _mm256_fnmadd_pd(_mm256_fmsub_pd(v, cv, x), rv, v);
    *q = (gk_vd)v;
    return 1;
#else
    (void)range, (void)d, (void)c, (void)r, (void)q;
    return 0;
#endif
}

#define GK_ZERO_ACC(a) for (int v_ = 0; v_ < GK_NACC; ++v_) a[v_] = (gk_vd){0}

/* the lanes of GK_NACC accumulators, for the scalar tail */
GK_INLINE void gk_spill(const gk_vd *acc, double *lanes)
{
    for (int v = 0; v < GK_NACC; ++v)
        __builtin_memcpy(lanes + v * GK_VW, &acc[v], sizeof(gk_vd));
}

/* the fixed tree: lanes k and k + 8, then k + 4, k + 2, k + 1 */
GK_INLINE double gk_fold16(double *acc)
{
    for (int s = GK_LANES / 2; s > 0; s /= 2)
        for (int k = 0; k < s; ++k)
            acc[k] += acc[k + s];
    return acc[0];
}

/* gk_fold16 of the lanes of GK_NACC accumulators, folding whole vectors first: the
 * same pairs in the same order, so the same result. */
GK_INLINE double gk_fold_vec(gk_vd *a)
{
    for (int nv = GK_NACC; nv > 1; nv /= 2)
        for (int v = 0; v < nv / 2; ++v)
            a[v] += a[v + nv / 2];
    double l[GK_VW];
    __builtin_memcpy(l, &a[0], sizeof l);
    for (int s = GK_VW / 2; s > 0; s /= 2)
        for (int k = 0; k < s; ++k)
            l[k] += l[k + s];
    return l[0];
}

/* The lane loop of every sum over elements [0, n) (normally one chunk): r0 (and r1 for
 * GK_LANE_SUM2) receive the sums of the terms V0/S0 (V1/S1).  V(o) is the term of the
 * GK_VW elements from o on, as a gk_vd; S(o) the term of element o alone, as a double,
 * with the same arithmetic, for the n % GK_LANES elements of the tail.  Both are
 * macros of the caller, so the loop is inlined into each kernel. */
#define GK_LANE_SUM(n, r0, V0, S0) \
    do { \
        gk_vd a0_[GK_NACC]; \
        GK_ZERO_ACC(a0_); \
        gk_index j_ = 0; \
        for (; j_ + GK_LANES <= (n); j_ += GK_LANES) \
            for (int v_ = 0; v_ < GK_NACC; ++v_) \
                a0_[v_] += V0(j_ + v_ * GK_VW); \
        if (j_ == (n)) { \
            (r0) = gk_fold_vec(a0_); \
            break; \
        } \
        double l0_[GK_LANES]; \
        gk_spill(a0_, l0_); \
        for (int k_ = 0; j_ + k_ < (n); ++k_) \
            l0_[k_] += S0(j_ + k_); \
        (r0) = gk_fold16(l0_); \
    } while (0)

#define GK_LANE_SUM2(n, r0, V0, S0, r1, V1, S1) \
    do { \
        gk_vd a0_[GK_NACC], a1_[GK_NACC]; \
        GK_ZERO_ACC(a0_); \
        GK_ZERO_ACC(a1_); \
        gk_index j_ = 0; \
        for (; j_ + GK_LANES <= (n); j_ += GK_LANES) \
            for (int v_ = 0; v_ < GK_NACC; ++v_) { \
                a0_[v_] += V0(j_ + v_ * GK_VW); \
                a1_[v_] += V1(j_ + v_ * GK_VW); \
            } \
        if (j_ == (n)) { \
            (r0) = gk_fold_vec(a0_); \
            (r1) = gk_fold_vec(a1_); \
            break; \
        } \
        double l0_[GK_LANES], l1_[GK_LANES]; \
        gk_spill(a0_, l0_); \
        gk_spill(a1_, l1_); \
        for (int k_ = 0; j_ + k_ < (n); ++k_) { \
            l0_[k_] += S0(j_ + k_); \
            l1_[k_] += S1(j_ + k_); \
        } \
        (r0) = gk_fold16(l0_); \
        (r1) = gk_fold16(l1_); \
    } while (0)

/* sum of v[0..n) over GK_CHUNK chunks added in order (a list of per-row results) */
static inline double gk_sum_f64(const double *v, gk_index n)
{
    double s = 0.0;
    for (gk_index c = 0; c < n; c += GK_CHUNK) {
        const double *GK_RESTRICT x = v + c;
        gk_index len = n - c < GK_CHUNK ? n - c : GK_CHUNK;
        double r;
#define GK_V_(o) gk_ldv_f64(x + (o))
#define GK_S_(o) x[o]
        GK_LANE_SUM(len, r, GK_V_, GK_S_);
#undef GK_V_
#undef GK_S_
        s += r;
    }
    return s;
}

/* ---- Chan's merge ---------------------------------------------------------------
 * Chan, Golub & LeVeque: group b (nb, mean mb, M2 qb) folded into group a (na, ma, qa),
 * w independent columns at once (column j of b at mb[j * sb]):
 *   d = mb - ma,  ma += d nb / (na + nb),  qa += qb + d^2 na nb / (na + nb).
 * qb NULL means b's M2 is already in qa (it was accumulated there); only the spread
 * between the means is added.  na = 0 gives ma + mb - ma, which is mb only when ma is
 * finite: start a merge from zeroed groups. */
GK_INLINE void gk_chan_merge(gk_index w, double na, double nb, double *GK_RESTRICT ma,
                             double *GK_RESTRICT qa, const double *GK_RESTRICT mb,
                             const double *GK_RESTRICT qb, gk_index sb)
{
    double fb = nb / (na + nb), fab = na * fb;
    if (qb) {
        for (gk_index j = 0; j < w; ++j) {
            double d = mb[j * sb] - ma[j];
            ma[j] += d * fb;
            qa[j] += qb[j * sb] + d * d * fab;
        }
        return;
    }
    for (gk_index j = 0; j < w; ++j) {
        double d = mb[j * sb] - ma[j];
        ma[j] += d * fb;
        qa[j] += d * d * fab;
    }
}

/* The merge of plain sums in the same shape: a0 += b0, a1 += b1. */
GK_INLINE void gk_sum_merge(gk_index w, double *GK_RESTRICT a0, double *GK_RESTRICT a1,
                            const double *GK_RESTRICT b0, const double *GK_RESTRICT b1,
                            gk_index sb)
{
    for (gk_index j = 0; j < w; ++j) {
        a0[j] += b0[j * sb];
        a1[j] += b1[j * sb];
    }
}

/* Chan's merge when the pair (a0, a1) is (mean, M2) of na and nb elements, else (when
 * !chan) plain sums; `chan` is a constant at every call. */
GK_INLINE void gk_merge_pair(const int chan, gk_index w, double na, double nb,
                             double *GK_RESTRICT a0, double *GK_RESTRICT a1,
                             const double *GK_RESTRICT b0, const double *GK_RESTRICT b1,
                             gk_index sb)
{
    if (chan)
        gk_chan_merge(w, na, nb, a0, a1, b0, b1, sb);
    else
        gk_sum_merge(w, a0, a1, b0, b1, sb);
}

/* Chan's merge of group b (n_b values, mean_b, m2_b) into group a, counting the
 * values: an empty b is skipped and an empty a takes b's statistics as they are (so a
 * single group comes through exactly, infinities included). */
GK_INLINE void gk_chan_fold(gk_index *n_a, double *GK_RESTRICT mean_a,
                            double *GK_RESTRICT m2_a, gk_index n_b,
                            const double *GK_RESTRICT mean_b,
                            const double *GK_RESTRICT m2_b, gk_index cols)
{
    if (n_b == 0) return;
    if (*n_a == 0) {
        for (gk_index j = 0; j < cols; ++j) mean_a[j] = mean_b[j], m2_a[j] = m2_b[j];
    } else {
        gk_chan_merge(cols, (double)*n_a, (double)n_b, mean_a, m2_a, mean_b, m2_b, 1);
    }
    *n_a += n_b;
}

/* One pass of shifted sums, d = x - s, gives M2 = sum d^2 - (sum d)^2 / n with a
 * rounding error relative to M2 of about 1e-16 (mean - s)^2 / var.  It is kept when
 * that ratio is at most GK_SHIFTED_MAX_RATIO (an error far below a float32 ulp, which
 * is why only float32 data take this path); otherwise, with the shift far out in the
 * distribution, the exact two passes (mean, then squared deviations) run instead.
 * shift2 = (mean - s)^2 and m2 on the same scale (both per element, or both times n).
 * A NaN keeps the one pass (its result is NaN either way). */
#define GK_SHIFTED_MAX_RATIO 1e4
GK_INLINE int gk_shifted_ok(double shift2, double m2)
{
    return !(shift2 > GK_SHIFTED_MAX_RATIO * m2);
}

/* ---- the fixed task partition ---------------------------------------------------
 * Reductions across rows (dweight, dbias, BatchNorm and column statistics) split the
 * rows into a fixed partition of tasks: each task accumulates its rows in order into
 * its own double partials, and the partials are merged task by task in order.  The
 * partition depends only on the shape, never on the thread count, so the sums are
 * bitwise reproducible. */
#define GK_MAX_TASKS 64                          /* enough for any core count we run on */
#define GK_TASK_ROWS_MIN 16                      /* fewer rows per task cost more than they save */
#define GK_TASK_SCRATCH_DOUBLES ((gk_index)1 << 22)  /* 32 MiB of partials at most */

/* tasks over `units` units of work, each task holding partial_doubles doubles */
static inline gk_index gk_tasks(gk_index units, gk_index partial_doubles)
{
    gk_index t = units < GK_MAX_TASKS ? units : GK_MAX_TASKS;
    if (partial_doubles > 0 && t > GK_TASK_SCRATCH_DOUBLES / partial_doubles)
        t = GK_TASK_SCRATCH_DOUBLES / partial_doubles;
    return t < 1 ? 1 : t;
}

/* tasks over `rows` rows: at least GK_TASK_ROWS_MIN rows each */
static inline gk_index gk_row_tasks(gk_index rows, gk_index partial_doubles)
{
    return gk_tasks(rows / GK_TASK_ROWS_MIN, partial_doubles);
}

/* first unit of task k of ntask over n units (ntask + 1 gives n) */
static inline gk_index gk_task_begin(gk_index k, gk_index ntask, gk_index n)
{
    return (n / ntask) * k + ((n % ntask) * k) / ntask;
}

/* the 16-bit storage conversions, on the vector widths above */
#include "gk_half.h"

#endif
