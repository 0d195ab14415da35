/* The dropout mask on a span of len <= GK_DROPOUT_SPAN elements, for element type T
 * (dropout_span.h has the rules; included once per dtype by dropout.c and norm.c). */

#if defined(__AVX512F__)
/* y = [r +] x * (kept ? scale : 0) over a span of len elements, with 64-byte vectors
 * aligned on y (dropout_span.h), for the passes that read a mask (the backward) or
 * none (drop_path's scaling).  The keep bits come from the bytes mb[0, nbytes) (bit
 * j % 8 of byte j / 8), or every element is kept when mb is NULL.  nt: the aligned
 * vectors are streamed (drop_stream).  (The forward has its own 64-byte step in
 * dropout_span_st, the keep k-mask straight from the compare: these steps, fed the
 * mask bytes just computed, made it 10-15% slower than the 32-byte code then.) */
GK_INLINE void GK_T(apply_span_v)(const T *x, const T *r, T *y, const unsigned char *mb,
                                  gk_index nbytes, gk_index len, T scale, int nt)
{
    enum { L = 64 / (int)sizeof(T) };
    const unsigned lanes = (1u << L) - 1u;
    const __auto_type sc = GK_CAT(GK_VSCALE512_, SFX)(scale);
    const int aligned = ((uintptr_t)y % sizeof(T)) == 0;
    gk_index j = 0;
#define GK_KEEP_AT(j) (mb ? gk_bits16_at(mb, j, nbytes) & lanes : lanes)
    if (aligned) {
        gk_index head = (gk_index)(((64 - ((uintptr_t)y & 63)) & 63) / sizeof(T));
        j = head < len ? head : len;
        if (j)
            GK_CAT(gk_apply_v_, SFX)(x, r, y, GK_KEEP_AT(0), sc, j, 0, 0);
    }
    {   /* the whole vectors: forwards, or backwards when y is just past x or r modulo
         * 4 KiB (gk_alias_ahead) */
        const gk_index m = (len - j) / L;
        const int back = gk_alias_ahead(y, x) || (r && gk_alias_ahead(y, r));
        for (gk_index q = 0; q < m; ++q) {
            const gk_index o = back ? j + (m - 1 - q) * L : j + q * L;
            GK_CAT(gk_apply_v_, SFX)(x + o, r ? r + o : NULL, y + o, GK_KEEP_AT(o), sc, L,
                                     aligned, nt && aligned);
        }
        j += m * L;
    }
    if (j < len)
        GK_CAT(gk_apply_v_, SFX)(x + j, r ? r + j : NULL, y + j, GK_KEEP_AT(j), sc,
                                 len - j, 0, 0);
#undef GK_KEEP_AT
}
#endif

/* elements [j0, len) of a span one by one (j0 a multiple of 8: the vector steps' rest,
 * or the whole span without them), their mask bits into bits from byte j0 / 8 */
GK_INLINE void GK_T(drop_ones)(const T *xt, const T *rt, T *yt, const uint32_t *ws,
                               unsigned char *bits, gk_index j0, gk_index len, T scale,
                               uint32_t keep_max)
{
    unsigned char keep[GK_DROPOUT_SPAN];
    for (gk_index j = j0; j < len; ++j) {
        const int k = ws[j] <= keep_max;
        keep[j - j0] = (unsigned char)k;
        T v = xt[j] * (k ? scale : (T)0);
        yt[j] = rt ? rt[j] + v : v;
    }
    if (bits)
        gk_pack_bits(keep, bits + j0 / 8, len - j0);
}

/* y = [r +] x * m from the words ws of the span (ws unused when `none`: nothing kept,
 * p = 1); bits (may be NULL) receive the span's mask bytes.  r may be NULL. */
GK_INLINE void GK_T(dropout_span_st)(const T *xt, const T *rt, T *yt, const uint32_t *ws,
                                     unsigned char *bits, gk_index len, T scale,
                                     uint32_t keep_max, int none, int nt)
{
    if (none) {
        for (gk_index j = 0; j < len; ++j)
            yt[j] = rt ? rt[j] + xt[j] * (T)0 : xt[j] * (T)0;
        if (bits)
            memset(bits, 0, (size_t)((len + 7) / 8));
        return;
    }
#if defined(__AVX512F__)
    if (sizeof(T) == sizeof(float)) {
        /* float32 on AVX-512: 16 elements a step, the keep lanes a k-mask that selects
         * the scale and is the step's two mask bytes as it is.  A streamed y 32 bytes
         * past a line (drop_stream aligns it to 32) takes its first 8 elements by the
         * 8-lane step, then whole lines.  8192x1024 from memory, 2 threads, AMD EPYC
         * (Zen 5) guest: 2.36 -> 2.08 ms against the 8-lane steps (in cache 10%). */
        const __m512i km = _mm512_set1_epi32((int)keep_max);
        const __m512 sc = _mm512_set1_ps((float)scale);
        const float *x = (const float *)(const void *)xt;
        const float *r = (const float *)(const void *)rt;
        float *y = (float *)(void *)yt;
        gk_index j = 0;
        if (nt && ((uintptr_t)y & 63) && len >= 8) {
            __m256i k = gk_keep8(ws, _mm256_set1_epi32((int)keep_max));
            if (bits) bits[0] = (unsigned char)_mm256_movemask_ps(_mm256_castsi256_ps(k));
            gk_apply8_f32(x, r, y, k, _mm256_set1_ps((float)scale), nt);
            j = 8;
        }
        /* backwards when y is just past x or r modulo 4 KiB (gk_alias_ahead) */
        const int back = gk_alias_ahead(yt, xt) || (rt && gk_alias_ahead(yt, rt));
        const gk_index m = (len - j) / 16;
        for (gk_index q = 0; q < m; ++q) {
            const gk_index o = back ? j + (m - 1 - q) * 16 : j + q * 16;
            const __mmask16 k = _mm512_cmple_epu32_mask(_mm512_loadu_si512(ws + o), km);
            __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + o), _mm512_maskz_mov_ps(k, sc));
            if (r) v = _mm512_add_ps(_mm512_loadu_ps(r + o), v);
            if (nt) _mm512_stream_ps(y + o, v);
            else _mm512_storeu_ps(y + o, v);
            if (bits) {
                const uint16_t kb = (uint16_t)k;
                __builtin_memcpy(bits + o / 8, &kb, sizeof kb);
            }
        }
        GK_T(drop_ones)(xt, rt, yt, ws, bits, j + m * 16, len, scale, keep_max);
        return;
    }
#endif
#if defined(__AVX2__)
    {   /* the compare's sign bits are the mask byte: no keep array */
        gk_index full = len / 8;
        const __m256i km = _mm256_set1_epi32((int)keep_max);
        const __auto_type sc = GK_CAT(GK_VSCALE_, SFX)(scale);
        /* backwards when yt is just past xt or rt modulo 4 KiB (gk_alias_ahead) */
        const int back = gk_alias_ahead(yt, xt) || (rt && gk_alias_ahead(yt, rt));
        for (gk_index q = 0; q < full; ++q) {
            const gk_index g = back ? full - 1 - q : q;
            __m256i k = gk_keep8(ws + 8 * g, km);
            if (bits)
                bits[g] = (unsigned char)_mm256_movemask_ps(_mm256_castsi256_ps(k));
            GK_T(gk_apply8)(xt + 8 * g, rt ? rt + 8 * g : NULL, yt + 8 * g, k, sc, nt);
        }
        GK_T(drop_ones)(xt, rt, yt, ws, bits, 8 * full, len, scale, keep_max);
        return;
    }
#endif
    GK_T(drop_ones)(xt, rt, yt, ws, bits, 0, len, scale, keep_max);
    (void)nt;
}

/* the span with ordinary stores */
GK_INLINE void GK_T(dropout_span)(const T *xt, const T *rt, T *yt, const uint32_t *ws,
                                  unsigned char *bits, gk_index len, T scale,
                                  uint32_t keep_max, int none)
{
    GK_T(dropout_span_st)(xt, rt, yt, ws, bits, len, scale, keep_max, none, 0);
}

/* dx = dy * m from the span's stored mask bytes (the backward); nt as above */
GK_INLINE void GK_T(dropout_bits_span_st)(const T *dyt, const unsigned char *bt, T *dxt,
                                          gk_index len, T scale, int nt)
{
    gk_index full = len / 8, b0 = 0;
#if defined(__AVX512F__)
    GK_T(apply_span_v)(dyt, NULL, dxt, bt, (len + 7) / 8, len, scale, nt);
    return;
#elif defined(__AVX2__)
    const __auto_type sc = GK_CAT(GK_VSCALE_, SFX)(scale);
    const int back = gk_alias_ahead(dxt, dyt);   /* as apply_span_v */
    for (gk_index q = 0; q < full; ++q) {
        const gk_index b = back ? full - 1 - q : q;
        GK_T(gk_apply8)(dyt + 8 * b, NULL, dxt + 8 * b, gk_bits8(bt[b]), sc, nt);
    }
    b0 = full;
#endif
    (void)nt;
    for (gk_index b = b0; b < full; ++b) {
        unsigned v = bt[b];
        for (int k = 0; k < 8; ++k)
            dxt[8 * b + k] = dyt[8 * b + k] * (((v >> k) & 1u) ? scale : (T)0);
    }
    for (gk_index j = 8 * full; j < len; ++j)
        dxt[j] = dyt[j] * (((bt[j / 8] >> (j % 8)) & 1u) ? scale : (T)0);
}

GK_INLINE void GK_T(dropout_bits_span)(const T *dyt, const unsigned char *bt, T *dxt,
                                       gk_index len, T scale)
{
    GK_T(dropout_bits_span_st)(dyt, bt, dxt, len, scale, 0);
}

/* y = x * s over a span (drop_path's samples): vector stores from the first 32-byte
 * boundary of y on, the elements before it one by one (NumPy puts large arrays 16 bytes
 * past a line, where every other unaligned 32-byte store straddled two: an out= backward
 * on 1e5 elements took 8.1 us against 6.9 into an aligned buffer); nt: non-temporal */
GK_INLINE void GK_T(scale_span_st)(const T *x, T *y, gk_index len, T s, int nt)
{
    gk_index j = 0;
#if defined(__AVX512F__)
    GK_T(apply_span_v)(x, NULL, y, NULL, 0, len, s, nt);
    return;
#elif defined(__AVX2__)
    for (; j < len && ((uintptr_t)(y + j) & 31); ++j)
        y[j] = x[j] * s;
    const __auto_type sc = GK_CAT(GK_VSCALE_, SFX)(s);
    const __m256i all = _mm256_set1_epi32(-1);
    for (; j + 8 <= len; j += 8)
        GK_T(gk_apply8)(x + j, NULL, y + j, all, sc, nt);
#endif
    (void)nt;
    for (; j < len; ++j)
        y[j] = x[j] * s;
}
