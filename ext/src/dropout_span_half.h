/* The lane helpers of the 16-bit dropout spans (dropout_span_half_tmpl.h), shared by
 * the dropout family (dropout_half.c) and the fused add + dropout + norm kernels in
 * 16-bit storage (norm_half.c): mask bits to and from float32 lanes (gk_half.h's
 * vectors). */
#ifndef GK_DROPOUT_SPAN_HALF_H
#define GK_DROPOUT_SPAN_HALF_H
#include "dropout_span.h"
#include "reduce.h"

/* vectors of float32 lanes per 16 elements (two mask bytes) */
#define GK_HBITS (16 / GK_HLEN)

/* bit k: lane k of the lane mask m (all ones or all zeros per lane) */
GK_INLINE unsigned gk_lane_bits(gk_hi m)
{
#if GK_TVBYTES == 64 && defined(__AVX512DQ__)
    return (unsigned)_mm512_movepi32_mask((__m512i)m);
#elif GK_TVBYTES == 32 && defined(__AVX__)
    return (unsigned)_mm256_movemask_ps((__m256)m);
#elif GK_TVBYTES == 16 && defined(__SSE2__)
    return (unsigned)_mm_movemask_ps((__m128)m);
#else
    unsigned b = 0;
    for (int k = 0; k < GK_HLEN; ++k) b |= (unsigned)(m[k] & 1) << k;
    return b;
#endif
}

/* the lane mask of the low GK_HLEN bits of b (lane k: bit k) */
GK_INLINE gk_hi gk_bits_lanes(unsigned b)
{
    gk_hu sel;
    for (int k = 0; k < GK_HLEN; ++k) sel[k] = 1u << k;
    return (gk_hi)((((gk_hu){0} + b) & sel) == sel);
}

#endif
