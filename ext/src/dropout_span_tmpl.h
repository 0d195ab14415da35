/* The dropout mask on a span of len <= GK_DROPOUT_SPAN elements, for element type T
 * (dropout_span.h has the rules; included once per dtype by dropout.c and norm.c). */

/* y = [r +] x * m from the words ws of the span (ws unused when `none`: nothing kept,
 * p = 1); bits (may be NULL) receive the span's mask bytes.  r may be NULL. */
GK_INLINE void GK_T(dropout_span)(const T *xt, const T *rt, T *yt, const uint32_t *ws,
                                  unsigned char *bits, gk_index len, T scale,
                                  uint32_t keep_max, int none)
{
    unsigned char keep[GK_DROPOUT_SPAN];
    if (none) {
        for (gk_index j = 0; j < len; ++j)
            yt[j] = rt ? rt[j] + xt[j] * (T)0 : xt[j] * (T)0;
        if (bits)
            memset(bits, 0, (size_t)((len + 7) / 8));
        return;
    }
#if defined(__AVX2__)
    {   /* the compare's sign bits are the mask byte: no keep array */
        gk_index full = len / 8;
        GK_T(dropout_avx2)(xt, rt, yt, ws, bits, full, scale, keep_max);
        if (len % 8 == 0)
            return;
        for (gk_index j = 8 * full; j < len; ++j)
            keep[j] = (unsigned char)(ws[j] <= keep_max);
        for (gk_index j = 8 * full; j < len; ++j) {
            T v = xt[j] * (keep[j] ? scale : (T)0);
            yt[j] = rt ? rt[j] + v : v;
        }
        if (bits)
            gk_pack_bits(keep + 8 * full, bits + full, len - 8 * full);
        return;
    }
#endif
    for (gk_index j = 0; j < len; ++j) {
        int k = ws[j] <= keep_max;
        keep[j] = (unsigned char)k;
        T v = xt[j] * (k ? scale : (T)0);
        yt[j] = rt ? rt[j] + v : v;
    }
    if (bits)
        gk_pack_bits(keep, bits, len);
}

/* dx = dy * m from the span's stored mask bytes (the backward) */
GK_INLINE void GK_T(dropout_bits_span)(const T *dyt, const unsigned char *bt, T *dxt,
                                       gk_index len, T scale)
{
    gk_index full = len / 8;
    for (gk_index b = 0; b < full; ++b) {
        unsigned v = bt[b];
        for (int k = 0; k < 8; ++k)
            dxt[8 * b + k] = dyt[8 * b + k] * (((v >> k) & 1u) ? scale : (T)0);
    }
    for (gk_index j = 8 * full; j < len; ++j)
        dxt[j] = dyt[j] * (((bt[j / 8] >> (j % 8)) & 1u) ? scale : (T)0);
}
