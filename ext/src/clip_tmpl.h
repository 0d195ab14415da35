/* The in-place passes of the clip family for element type T (the norms are
 * reduce_tmpl.h's).  Included by clip.c once per dtype, float16 and bfloat16 included:
 * the arrays are TS, read and written through reduce_tmpl.h's loads and stores (16-bit
 * values widened exactly, the float32 result rounded once), in vectors of GK_TVLEN
 * elements and then one by one, with the same arithmetic either way.  far: the arrays
 * come from memory, and the vector loops prefetch GK_PF_AHEAD bytes ahead (reduce_tmpl.h;
 * an in-place clamp of 64 MiB at 84% of its limit without, on an Intel Xeon guest). */

/* x *= c (c already in T, so float32 data multiply in float32); loads and stores are
 * operands and results of the multiply (the _arith forms) */
GK_INLINE void GK_T(chunk_scale)(TS *GK_RESTRICT x, gk_index n, T c, int far)
{
    gk_index j = 0;
    for (; j + GK_TVLEN <= n; j += GK_TVLEN) {
        if (far) GK_T(prefetch_ahead)(x + j, GK_TVLEN);
        GK_T(sttv_arith)(x + j, GK_T(ldtv_arith)(x + j) * c);
    }
    for (; j < n; ++j)
        GK_T(st1)(x + j, GK_T(ld1)(x + j) * c);
}

/* x = min(max(x, -c), c); comparisons with NaN are false, so NaN stays, bit for bit
 * (the exact loads and stores: a value passes through unchanged) */
GK_INLINE void GK_T(chunk_clamp)(TS *GK_RESTRICT x, gk_index n, T c, int far)
{
    gk_index j = 0;
    const GK_T(tvec) hi = (GK_T(tvec)){0} + c, lo = -hi;
    for (; j + GK_TVLEN <= n; j += GK_TVLEN) {
        if (far) GK_T(prefetch_ahead)(x + j, GK_TVLEN);
        GK_T(tvec) v = GK_T(ldtv)(x + j);
        v = GK_T(tsel)(v < lo, lo, v);
        GK_T(sttv)(x + j, GK_T(tsel)(v > hi, hi, v));
    }
    for (; j < n; ++j) {
        T v = GK_T(ld1)(x + j);
        v = v < -c ? -c : v;
        GK_T(st1)(x + j, v > c ? c : v);
    }
}

/* x *= inv; returns 1 if some x was inf or NaN.  x - x is 0 for a finite x and NaN for
 * inf/NaN; the lanes collect it without a branch. */
GK_INLINE int GK_T(chunk_unscale)(TS *GK_RESTRICT x, gk_index n, T inv, int far)
{
    GK_T(tvec) bad = {0};
    gk_index j = 0;
    for (; j + GK_TVLEN <= n; j += GK_TVLEN) {
        if (far) GK_T(prefetch_ahead)(x + j, GK_TVLEN);
        GK_T(tvec) v = GK_T(ldtv_arith)(x + j);
        bad += v - v;
        GK_T(sttv_arith)(x + j, v * inv);
    }
    T b = 0;
    for (; j < n; ++j) {
        T v = GK_T(ld1)(x + j);
        b += v - v;
        GK_T(st1)(x + j, v * inv);
    }
    int found = b != b;
    for (int k = 0; k < GK_TVLEN; ++k)
        found |= bad[k] != bad[k];
    return found;
}

/* one of clip.c's OP_*; returns OP_UNSCALE's flag */
static int GK_T(chunk_apply)(TS *x, gk_index n, int op, T c, int far)
{
    switch (op) {
        case OP_SCALE: GK_T(chunk_scale)(x, n, c, far); return 0;
        case OP_CLAMP: GK_T(chunk_clamp)(x, n, c, far); return 0;
        default: return GK_T(chunk_unscale)(x, n, c, far);
    }
}
