/* Per-chunk kernels of the clip family for element type T (n <= one chunk).  Included
 * by clip.c once per dtype.  Sums accumulate in double over GK_LANES lanes folded in a
 * fixed tree (gk_fold16), so a chunk's partial does not depend on the vector width. */

/* sum x^2 */
GK_INLINE double GK_T(chunk_sumsq)(const T *GK_RESTRICT x, gk_index n)
{
    double acc[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k) {
            double v = (double)x[j + k];
            acc[k] += v * v;
        }
    for (int k = 0; j + k < n; ++k) {
        double v = (double)x[j + k];
        acc[k] += v * v;
    }
    return gk_fold16(acc);
}

/* sum |x| */
GK_INLINE double GK_T(chunk_sumabs)(const T *GK_RESTRICT x, gk_index n)
{
    double acc[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k)
            acc[k] += fabs((double)x[j + k]);
    for (int k = 0; j + k < n; ++k)
        acc[k] += fabs((double)x[j + k]);
    return gk_fold16(acc);
}

/* sum |x|^p for any other finite p > 0 (pow per element: compute-bound) */
static double GK_T(chunk_sumpow)(const T *GK_RESTRICT x, gk_index n, double p)
{
    double acc[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k)
            acc[k] += pow(fabs((double)x[j + k]), p);
    for (int k = 0; j + k < n; ++k)
        acc[k] += pow(fabs((double)x[j + k]), p);
    return gk_fold16(acc);
}

/* max |x|, NaN if any element is NaN (as torch's max propagates NaN).  Computed on the
 * bit patterns with the sign cleared (UT, an unsigned/positive integer of T's width):
 * for non-negative IEEE values the integer order is the numeric order, and every NaN
 * pattern is above +inf's, so one integer max (which vectorizes, unlike a NaN-aware
 * float max) gives the answer. */
GK_INLINE double GK_T(chunk_maxabs)(const T *GK_RESTRICT x, gk_index n)
{
    UT m[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k) {
            UT u;
            memcpy(&u, &x[j + k], sizeof u);
            u &= UT_ABS_MASK;
            m[k] = u > m[k] ? u : m[k];
        }
    for (int k = 0; j + k < n; ++k) {
        UT u;
        memcpy(&u, &x[j + k], sizeof u);
        u &= UT_ABS_MASK;
        m[k] = u > m[k] ? u : m[k];
    }
    UT r = 0;
    for (int k = 0; k < GK_LANES; ++k)
        r = m[k] > r ? m[k] : r;
    T v;
    memcpy(&v, &r, sizeof v);
    return (double)v;
}

/* x *= c (c already in T, so float32 data multiplies in float32) */
GK_INLINE void GK_T(chunk_scale)(T *GK_RESTRICT x, gk_index n, T c)
{
    for (gk_index j = 0; j < n; ++j)
        x[j] = x[j] * c;
}

/* x = min(max(x, -c), c); comparisons with NaN are false, so NaN stays */
GK_INLINE void GK_T(chunk_clamp)(T *GK_RESTRICT x, gk_index n, T c)
{
    for (gk_index j = 0; j < n; ++j) {
        T v = x[j];
        v = v < -c ? -c : v;
        x[j] = v > c ? c : v;
    }
}

/* x *= inv; returns 1 if some x was inf or NaN.  x - x is 0 for a finite x and NaN for
 * inf/NaN; the lanes collect it without a branch so the loop vectorizes. */
GK_INLINE int GK_T(chunk_unscale)(T *GK_RESTRICT x, gk_index n, T inv)
{
    T bad[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES)
        for (int k = 0; k < GK_LANES; ++k) {
            T v = x[j + k];
            bad[k] += v - v;
            x[j + k] = v * inv;
        }
    for (int k = 0; j + k < n; ++k) {
        T v = x[j + k];
        bad[k] += v - v;
        x[j + k] = v * inv;
    }
    int found = 0;
    for (int k = 0; k < GK_LANES; ++k)
        found |= bad[k] != bad[k];
    return found;
}
