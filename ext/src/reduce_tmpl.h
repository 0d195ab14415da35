/* Chunk reductions in double for element type T, on the lane loop of reduce.h.
 * Included once per dtype (gk_each_dtype.h) with T and SFX defined.  Each sums over
 * x[0..n), normally one chunk; callers add the chunks in order. */

/* GK_VW consecutive elements as doubles (unaligned load) */
GK_INLINE gk_vd GK_T(ldv)(const T *p)
{
    if (sizeof(T) == sizeof(float))
        return gk_ldv_f32((const float *)(const void *)p);
    return gk_ldv_f64((const double *)(const void *)p);
}

/* GK_TVLEN elements of T in a vector, for the exact reductions; GCC does not vectorize
 * a min/max reduction written as a loop without -ffinite-math-only */
typedef T GK_T(tvec) __attribute__((vector_size(GK_TVBYTES)));
typedef GK_TI GK_T(tmask) __attribute__((vector_size(GK_TVBYTES)));
#define GK_TVLEN ((int)(GK_TVBYTES / sizeof(T)))

/* m ? a : b, lane by lane */
GK_INLINE GK_T(tvec) GK_T(tsel)(GK_T(tmask) m, GK_T(tvec) a, GK_T(tvec) b)
{
    return (GK_T(tvec))(((GK_T(tmask))a & m) | ((GK_T(tmask))b & ~m));
}

/* the terms of the sums below: V for GK_VW elements from o, S for element o */
#define GK_X_V(o) GK_T(ldv)(x + (o))
#define GK_X_S(o) ((double)x[o])
#define GK_D_V(o) (GK_X_V(o) - s)            /* x - s */
#define GK_D_S(o) (GK_X_S(o) - s)
#define GK_D2_V(o) (GK_D_V(o) * GK_D_V(o))   /* (x - s)^2 */
#define GK_D2_S(o) (GK_D_S(o) * GK_D_S(o))
#define GK_ABS_V(o) gk_vabs(GK_X_V(o))       /* |x| */
#define GK_ABS_S(o) fabs(GK_X_S(o))
#define GK_AB_V(o) (GK_T(ldv)(a + (o)) * GK_T(ldv)(b + (o)))   /* a b */
#define GK_AB_S(o) ((double)a[o] * (double)b[o])
#define GK_GD_V(o) (GK_T(ldv)(g + (o)) * GK_D_V(o))            /* g (x - s) */
#define GK_GD_S(o) ((double)g[o] * GK_D_S(o))
#define GK_G_V(o) GK_T(ldv)(g + (o))
#define GK_G_S(o) ((double)g[o])

/* sum_j (x[j] - s); s = 0 gives the plain sum */
GK_INLINE double GK_T(chunk_sum)(const T *GK_RESTRICT x, gk_index n, double s)
{
    double r;
    GK_LANE_SUM(n, r, GK_D_V, GK_D_S);
    return r;
}

/* sum_j (x[j] - s)^2; s = 0 gives the sum of squares */
GK_INLINE double GK_T(chunk_sumsq)(const T *GK_RESTRICT x, gk_index n, double s)
{
    double r;
    GK_LANE_SUM(n, r, GK_D2_V, GK_D2_S);
    return r;
}

/* sum_j |x[j]| */
GK_INLINE double GK_T(chunk_sumabs)(const T *GK_RESTRICT x, gk_index n)
{
    double r;
    GK_LANE_SUM(n, r, GK_ABS_V, GK_ABS_S);
    return r;
}

/* sum_j a[j] b[j] */
GK_INLINE double GK_T(chunk_dot)(const T *GK_RESTRICT a, const T *GK_RESTRICT b, gk_index n)
{
    double r;
    GK_LANE_SUM(n, r, GK_AB_V, GK_AB_S);
    return r;
}

/* sum_j g[j] (x[j] - s) */
GK_INLINE double GK_T(chunk_dot_shifted)(const T *GK_RESTRICT g, const T *GK_RESTRICT x,
                                         gk_index n, double s)
{
    double r;
    GK_LANE_SUM(n, r, GK_GD_V, GK_GD_S);
    return r;
}

/* sum_j d and sum_j d^2 with d = x[j] - s (one pass of shifted sums) */
GK_INLINE void GK_T(chunk_shifted)(const T *GK_RESTRICT x, gk_index n, double s,
                                   double *sum_d, double *sum_d2)
{
    GK_LANE_SUM2(n, *sum_d, GK_D_V, GK_D_S, *sum_d2, GK_D2_V, GK_D2_S);
}

/* sum_j g[j] and sum_j g[j] (x[j] - s) (BatchNorm's backward sums) */
GK_INLINE void GK_T(chunk_grad_sums)(const T *GK_RESTRICT g, const T *GK_RESTRICT x,
                                     gk_index n, double s, double *sum_g, double *sum_gd)
{
    GK_LANE_SUM2(n, *sum_g, GK_G_V, GK_G_S, *sum_gd, GK_GD_V, GK_GD_S);
}

/* 1 if x[0..n) holds a NaN or an infinity: x * 0 is 0 for finite x, NaN otherwise */
GK_INLINE int GK_T(chunk_nonfinite)(const T *GK_RESTRICT x, gk_index n)
{
    const double s = 0.0;   /* x * 0 = (x - 0) * 0, the same bits */
    double r;
#define GK_Z_V(o) (GK_D_V(o) * 0.0)
#define GK_Z_S(o) (GK_D_S(o) * 0.0)
    GK_LANE_SUM(n, r, GK_Z_V, GK_Z_S);
#undef GK_Z_V
#undef GK_Z_S
    return r != 0.0;
}

/* sum_j |x[j]|^p for any p > 0 (pow per element: compute-bound) */
GK_INLINE gk_vd GK_T(vpow_abs)(gk_vd v, double p)
{
    for (int k = 0; k < GK_VW; ++k) v[k] = pow(fabs(v[k]), p);
    return v;
}
static inline double GK_T(chunk_sumpow)(const T *GK_RESTRICT x, gk_index n, double p)
{
    double r;
#define GK_P_V(o) GK_T(vpow_abs)(GK_X_V(o), p)
#define GK_P_S(o) pow(fabs(GK_X_S(o)), p)
    GK_LANE_SUM(n, r, GK_P_V, GK_P_S);
#undef GK_P_V
#undef GK_P_S
    return r;
}

/* max_j |x[j]|, NaN if any element is NaN (as torch's max propagates NaN).  Computed on
 * the bit patterns with the sign cleared, as GK_TI integers: for non-negative IEEE
 * values the integer order is the numeric order, and every NaN pattern is above +inf's,
 * so one integer max (which vectorizes, unlike a NaN-aware float max) gives the answer;
 * the lanes are exact, so their grouping does not matter. */
GK_INLINE double GK_T(chunk_maxabs)(const T *GK_RESTRICT x, gk_index n)
{
    GK_TI m[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k) {
            GK_TI u;
            __builtin_memcpy(&u, &x[j + k], sizeof u);
            u &= GK_TI_MAX;
            m[k] = u > m[k] ? u : m[k];
        }
    for (int k = 0; j + k < n; ++k) {
        GK_TI u;
        __builtin_memcpy(&u, &x[j + k], sizeof u);
        u &= GK_TI_MAX;
        m[k] = u > m[k] ? u : m[k];
    }
    GK_TI r = 0;
    for (int k = 0; k < GK_LANES; ++k)
        r = m[k] > r ? m[k] : r;
    T v;
    __builtin_memcpy(&v, &r, sizeof v);
    return (double)v;
}

#undef GK_X_V
#undef GK_X_S
#undef GK_D_V
#undef GK_D_S
#undef GK_D2_V
#undef GK_D2_S
#undef GK_ABS_V
#undef GK_ABS_S
#undef GK_AB_V
#undef GK_AB_S
#undef GK_GD_V
#undef GK_GD_S
#undef GK_G_V
#undef GK_G_S
