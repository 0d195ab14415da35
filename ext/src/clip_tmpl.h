/* The in-place passes of the clip family for element type T (the norms are
 * reduce_tmpl.h's).  Included by clip.c once per dtype. */

/* x *= c (c already in T, so float32 data multiply in float32) */
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

/* one of clip.c's OP_*; returns OP_UNSCALE's flag */
static int GK_T(chunk_apply)(T *x, gk_index n, int op, T c)
{
    switch (op) {
        case OP_SCALE: GK_T(chunk_scale)(x, n, c); return 0;
        case OP_CLAMP: GK_T(chunk_clamp)(x, n, c); return 0;
        default: return GK_T(chunk_unscale)(x, n, c);
    }
}
