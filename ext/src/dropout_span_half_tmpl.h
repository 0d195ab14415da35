/* The dropout mask on a span of len <= GK_DROPOUT_SPAN elements in 16-bit storage (TS,
 * GK_HALF; included by dropout_half.c for float16 and bfloat16): the functions of
 * dropout_span_tmpl.h, same names and rules (dropout_span.h), with x widened exactly,
 * y = [r +] x * (kept ? scale : 0) computed in float32 and rounded once (reduce_tmpl.h's
 * loads and stores, gk_half.h's conversions).  The mask does not depend on the dtype:
 * element j is kept iff ws[j] <= keep_max, as for float32.
 *
 * Vectors of GK_TVLEN lanes (the float32 width of the ISA: 4, 8 or 16), GK_HBITS of them
 * per 16 elements, whose keep lanes make two mask bytes at once (movemask, gk_lane_bits);
 * the last len % 16 elements one by one.  nt: the vector stores are streamed
 * (stream_vec; y + j is then aligned to GK_SVBYTES, see drop_stream_half). */

/* v = [r +] x * (keep & scale) for one vector at j, stored (streamed when nt); every
 * load is an operand of arithmetic and every store its result (the _arith forms) */
GK_INLINE void GK_T(half_apply)(const TS *x, const TS *r, TS *y, gk_hi keep, gk_hf sc,
                                int nt)
{
    GK_T(tvec) v = GK_T(ldtv_arith)(x) * (GK_T(tvec))((gk_hu)sc & (gk_hu)keep);
    if (r)
        v = GK_T(ldtv_arith)(r) + v;
    if (nt) GK_T(stream_vec)(y, v);
    else GK_T(sttv_arith)(y, v);
}

/* one element: y = [r +] x * m, rounded once */
GK_INLINE void GK_T(half_apply1)(const TS *x, const TS *r, TS *y, T m)
{
    T v = GK_T(ld1)(x) * m;
    GK_T(st1)(y, r ? GK_T(ld1)(r) + v : v);
}

/* elements [j, j + 16) of a span (dropout_span_st): GK_HBITS vectors and two mask bytes */
GK_INLINE void GK_T(drop_step16)(const TS *xt, const TS *rt, TS *yt, const uint32_t *ws,
                                 unsigned char *bits, gk_index j, gk_hf sc, gk_hu km, int nt)
{
#if GK_TVBYTES == 64 && defined(__AVX512F__)
    /* one vector: the keep lanes a k-mask that selects the scale and is the two mask
     * bytes as it is (float16 from memory 3-4% faster than the lane mask's movemask) */
    const __mmask16 k = _mm512_cmple_epu32_mask(_mm512_loadu_si512(ws + j), (__m512i)km);
    gk_hf v = GK_T(ldtv_arith)(xt + j) * (gk_hf)_mm512_maskz_mov_ps(k, (__m512)sc);
    if (rt) v = GK_T(ldtv_arith)(rt + j) + v;
    if (nt) GK_T(stream_vec)(yt + j, v);
    else GK_T(sttv_arith)(yt + j, v);
    if (bits) {
        const uint16_t kb = (uint16_t)k;
        __builtin_memcpy(bits + j / 8, &kb, sizeof kb);
    }
#else
    unsigned b = 0;
    for (int k = 0; k < GK_HBITS; ++k) {
        gk_index o = j + k * GK_TVLEN;
        gk_hu w;
        __builtin_memcpy(&w, ws + o, sizeof w);
        const gk_hi keep = (gk_hi)(w <= km);
        b |= gk_lane_bits(keep) << (k * GK_TVLEN);
        GK_T(half_apply)(xt + o, rt ? rt + o : NULL, yt + o, keep, sc, nt);
    }
    if (bits) {
        bits[j / 8] = (unsigned char)b;
        bits[j / 8 + 1] = (unsigned char)(b >> 8);
    }
#endif
}

#if GK_HALF == 2 && GK_TVBYTES == 64 && defined(__AVX512BW__)
/* bfloat16 on AVX-512: elements [j, j + 32) of a span, their two vectors rounded
 * together and stored as one line (gk_bf16v2_pack: one check for AVX512_BF16, one
 * vcvtne2ps2bf16, one store; nt: y + j on a line), the keep lanes k-masks that select
 * the scale and are the 4 mask bytes as they are */
GK_INLINE void GK_T(drop_step32)(const TS *xt, const TS *rt, TS *yt, const uint32_t *ws,
                                 unsigned char *bits, gk_index j, __m512 sc, __m512i km,
                                 int nt)
{
    const __mmask16 k0 = _mm512_cmple_epu32_mask(_mm512_loadu_si512(ws + j), km);
    const __mmask16 k1 = _mm512_cmple_epu32_mask(_mm512_loadu_si512(ws + j + 16), km);
    gk_hf a = GK_T(ldtv_arith)(xt + j) * (gk_hf)_mm512_maskz_mov_ps(k0, sc);
    gk_hf b = GK_T(ldtv_arith)(xt + j + 16) * (gk_hf)_mm512_maskz_mov_ps(k1, sc);
    if (rt) {
        a = GK_T(ldtv_arith)(rt + j) + a;
        b = GK_T(ldtv_arith)(rt + j + 16) + b;
    }
    const __m512i pk = gk_bf16v2_pack(a, b);
    if (nt) _mm512_stream_si512((void *)(yt + j), pk);
    else _mm512_storeu_si512((void *)(yt + j), pk);
    if (bits) {
        const uint32_t kb = (uint32_t)k0 | ((uint32_t)k1 << 16);
        __builtin_memcpy(bits + j / 8, &kb, sizeof kb);
    }
}
#endif

/* y = [r +] x * m from the words ws of the span (unused when `none`: nothing kept);
 * bits (may be NULL) receive the span's mask bytes.  r may be NULL. */
GK_INLINE void GK_T(dropout_span_st)(const TS *xt, const TS *rt, TS *yt, const uint32_t *ws,
                                     unsigned char *bits, gk_index len, T scale,
                                     uint32_t keep_max, int none, int nt)
{
    if (none) {
        for (gk_index j = 0; j < len; ++j)
            GK_T(half_apply1)(xt + j, rt ? rt + j : NULL, yt + j, (T)0);
        if (bits)
            memset(bits, 0, (size_t)((len + 7) / 8));
        return;
    }
    const gk_hf sc = (gk_hf){0} + scale;
    const gk_hu km = (gk_hu){0} + keep_max;
    gk_index j = 0;
#if GK_HALF == 2 && GK_TVBYTES == 64 && defined(__AVX512BW__)
    /* a streamed y 32 bytes past a line: its first 16 elements alone, then pairs */
    if (nt && ((uintptr_t)yt & 63) && len >= 16) {
        GK_T(drop_step16)(xt, rt, yt, ws, bits, 0, sc, km, nt);
        j = 16;
    }
    for (; j + 32 <= len; j += 32)
        GK_T(drop_step32)(xt, rt, yt, ws, bits, j, (__m512)sc,
                          _mm512_set1_epi32((int)keep_max), nt);
#endif
    for (; j + 16 <= len; j += 16)
        GK_T(drop_step16)(xt, rt, yt, ws, bits, j, sc, km, nt);
    if (j == len)
        return;
    unsigned char keep[16];
    for (gk_index i = j; i < len; ++i) {
        keep[i - j] = (unsigned char)(ws[i] <= keep_max);
        GK_T(half_apply1)(xt + i, rt ? rt + i : NULL, yt + i, keep[i - j] ? scale : (T)0);
    }
    if (bits)
        gk_pack_bits(keep, bits + j / 8, len - j);
}

/* dx = dy * m from the span's stored mask bytes (the backward); nt as above */
GK_INLINE void GK_T(dropout_bits_span_st)(const TS *dyt, const unsigned char *bt, TS *dxt,
                                          gk_index len, T scale, int nt)
{
    const gk_hf sc = (gk_hf){0} + scale;
    gk_index j = 0;
    for (; j + 16 <= len; j += 16) {
        const unsigned b = bt[j / 8] | ((unsigned)bt[j / 8 + 1] << 8);
        for (int k = 0; k < GK_HBITS; ++k)
            GK_T(half_apply)(dyt + j + k * GK_TVLEN, NULL, dxt + j + k * GK_TVLEN,
                             gk_bits_lanes(b >> (k * GK_TVLEN)), sc, nt);
    }
    for (; j < len; ++j)
        GK_T(half_apply1)(dyt + j, NULL, dxt + j,
                          ((bt[j / 8] >> (j % 8)) & 1u) ? scale : (T)0);
}

/* y = x * s over a span (drop_path's samples): vectors from the first GK_SVBYTES
 * boundary of y on when streamed (nt), else from the start; the rest one by one */
GK_INLINE void GK_T(scale_span_st)(const TS *x, TS *y, gk_index len, T s, int nt)
{
    const gk_hi all = (gk_hi){0} - 1;
    const gk_hf sc = (gk_hf){0} + s;
    gk_index j = 0;
    if (nt)
        for (; j < len && ((uintptr_t)(y + j) % GK_SVBYTES); ++j)
            GK_T(half_apply1)(x + j, NULL, y + j, s);
    for (; j + GK_TVLEN <= len; j += GK_TVLEN)
        GK_T(half_apply)(x + j, NULL, y + j, all, sc, nt);
    for (; j < len; ++j)
        GK_T(half_apply1)(x + j, NULL, y + j, s);
}
