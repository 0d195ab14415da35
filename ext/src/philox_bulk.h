/* Bulk Philox4x32-10 for the kernels: GK_PHILOX_GROUP blocks per call, vectorized
 * across blocks (every 32x32->64 multiply of a round is independent: pmuludq).  Same
 * numbers as gk_philox4x32_10 in gradkit/philox.h; the stream of words is the one
 * documented there.  Not installed. */
#ifndef GK_PHILOX_BULK_H
#define GK_PHILOX_BULK_H

#include <stdint.h>
#include <string.h>
#include "gradkit/philox.h"
#include "gk_internal.h"

#define GK_PHILOX_GROUP 16  /* blocks generated together */

/* Blocks b0 .. b0 + GK_PHILOX_GROUP - 1 (counter (lo32(b), hi32(b), 0, 0)), word r of
 * block b0 + j written to out[4 * j + r].
 *
 * x86 uses intrinsics: the compiler's own vectorization of the 32x32->64 products
 * (widen, multiply, narrow) measured 10x slower than this.  Each vector holds one word
 * of 8 (AVX2) or 4 (SSE2) blocks; the products of the even and odd lanes come from two
 * pmuludq (AVX2: kept apart for all 10 rounds, SSE2: recombined with masks); the
 * result is transposed into the block order of the stream.  Other targets run the portable block function. */
/* The counters of blocks b0 .. b0 + GK_PHILOX_GROUP - 1; block numbers wrap modulo
 * 2**62, as the word positions w (64-bit) they come from. */
GK_INLINE void gk_philox_counters(uint64_t b0, uint32_t *lo, uint32_t *hi)
{
    for (int j = 0; j < GK_PHILOX_GROUP; ++j) {
        uint64_t b = (b0 + (uint64_t)j) & (((uint64_t)1 << 62) - 1);
        lo[j] = (uint32_t)b;
        hi[j] = (uint32_t)(b >> 32);
    }
}

#if defined(__AVX2__)
#include <immintrin.h>
/* The rounds work on each 8-lane word vector X split in two: Xe = X (64-bit lane i has
 * block 2i's word in its low half) and Xo = X >> 32 (block 2i + 1's).  pmuludq reads
 * only the low halves, so a product's 64-bit lane holds both halves of the result: lo
 * as it is (the junk above it is never read) and hi = product >> 32.  A round is 4
 * products, 4 shifts and 8 xors per 8 blocks, no blends; the halves are joined once
 * at the end. */
GK_INLINE void gk_philox_group(uint32_t k0, uint32_t k1, uint64_t b0,
                               uint32_t *GK_RESTRICT out)
{
    enum { H = GK_PHILOX_GROUP / 8 };
    __m256i clo[H], chi[H];
    const uint64_t m62 = ((uint64_t)1 << 62) - 1;
    uint64_t bm = b0 & m62;
    if ((uint32_t)bm <= UINT32_MAX - (GK_PHILOX_GROUP - 1) && bm + GK_PHILOX_GROUP <= m62) {
        /* no carry into the high word and no wrap: counters base + j */
        const __m256i base = _mm256_set1_epi32((int)(uint32_t)bm);
        for (int h = 0; h < H; ++h) {
            clo[h] = _mm256_add_epi32(base, _mm256_setr_epi32(8 * h, 8 * h + 1, 8 * h + 2,
                                                              8 * h + 3, 8 * h + 4, 8 * h + 5,
                                                              8 * h + 6, 8 * h + 7));
            chi[h] = _mm256_set1_epi32((int)(uint32_t)(bm >> 32));
        }
    } else {
        uint32_t lo[GK_PHILOX_GROUP], hi[GK_PHILOX_GROUP];
        gk_philox_counters(b0, lo, hi);
        for (int h = 0; h < H; ++h) {
            clo[h] = _mm256_loadu_si256((const __m256i *)(lo + 8 * h));
            chi[h] = _mm256_loadu_si256((const __m256i *)(hi + 8 * h));
        }
    }
    const __m256i M0 = _mm256_set1_epi64x(GK_PHILOX_M0), M1 = _mm256_set1_epi64x(GK_PHILOX_M1);
    __m256i c0e[H], c0o[H], c1e[H], c1o[H], c2e[H], c2o[H], c3e[H], c3o[H];
    for (int h = 0; h < H; ++h) {
        c0e[h] = clo[h];
        c0o[h] = _mm256_srli_epi64(clo[h], 32);
        c1e[h] = chi[h];
        c1o[h] = _mm256_srli_epi64(chi[h], 32);
        c2e[h] = c2o[h] = c3e[h] = c3o[h] = _mm256_setzero_si256();
    }
    /* the round keys once (a vector in memory is a free operand of vpxor) */
    __m256i K0[GK_PHILOX_ROUNDS], K1[GK_PHILOX_ROUNDS];
    for (int r = 0; r < GK_PHILOX_ROUNDS; ++r) {
        K0[r] = _mm256_set1_epi32((int)(k0 + (uint32_t)r * GK_PHILOX_W0));
        K1[r] = _mm256_set1_epi32((int)(k1 + (uint32_t)r * GK_PHILOX_W1));
    }
    /* both sets of 8 blocks in each round: two independent chains hide the latency of
     * the products (a round of one set is 5 cycles deep) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 10
#endif
    for (int r = 0; r < GK_PHILOX_ROUNDS; ++r) {
        for (int h = 0; h < H; ++h) {
            __m256i pe0 = _mm256_mul_epu32(c0e[h], M0), po0 = _mm256_mul_epu32(c0o[h], M0);
            __m256i pe2 = _mm256_mul_epu32(c2e[h], M1), po2 = _mm256_mul_epu32(c2o[h], M1);
            /* c0 = hi(c2 M1) ^ c1 ^ K0, c1 = lo(c2 M1), c2 = hi(c0 M0) ^ c3 ^ K1,
             * c3 = lo(c0 M0) */
            c0e[h] = _mm256_xor_si256(_mm256_srli_epi64(pe2, 32), _mm256_xor_si256(c1e[h], K0[r]));
            c0o[h] = _mm256_xor_si256(_mm256_srli_epi64(po2, 32), _mm256_xor_si256(c1o[h], K0[r]));
            c2e[h] = _mm256_xor_si256(_mm256_srli_epi64(pe0, 32), _mm256_xor_si256(c3e[h], K1[r]));
            c2o[h] = _mm256_xor_si256(_mm256_srli_epi64(po0, 32), _mm256_xor_si256(c3o[h], K1[r]));
            c1e[h] = pe2;
            c1o[h] = po2;
            c3e[h] = pe0;
            c3o[h] = po0;
        }
    }
    for (int h = 0; h < H; ++h) {
        /* join the halves: word vectors of blocks 0..7 */
        __m256i c0 = _mm256_blend_epi32(c0e[h], _mm256_slli_epi64(c0o[h], 32), 0xAA);
        __m256i c1 = _mm256_blend_epi32(c1e[h], _mm256_slli_epi64(c1o[h], 32), 0xAA);
        __m256i c2 = _mm256_blend_epi32(c2e[h], _mm256_slli_epi64(c2o[h], 32), 0xAA);
        __m256i c3 = _mm256_blend_epi32(c3e[h], _mm256_slli_epi64(c3o[h], 32), 0xAA);
        __m256i t0 = _mm256_unpacklo_epi32(c0, c1);  /* blocks 0 1 | 4 5: words 0 1 */
        __m256i t1 = _mm256_unpackhi_epi32(c0, c1);  /* blocks 2 3 | 6 7 */
        __m256i t2 = _mm256_unpacklo_epi32(c2, c3);  /* words 2 3 */
        __m256i t3 = _mm256_unpackhi_epi32(c2, c3);
        __m256i u0 = _mm256_unpacklo_epi64(t0, t2);  /* block 0 | block 4 */
        __m256i u1 = _mm256_unpackhi_epi64(t0, t2);  /* block 1 | block 5 */
        __m256i u2 = _mm256_unpacklo_epi64(t1, t3);  /* block 2 | block 6 */
        __m256i u3 = _mm256_unpackhi_epi64(t1, t3);  /* block 3 | block 7 */
        __m256i *o = (__m256i *)(out + 32 * h);
        _mm256_storeu_si256(o + 0, _mm256_permute2x128_si256(u0, u1, 0x20));
        _mm256_storeu_si256(o + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
        _mm256_storeu_si256(o + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
        _mm256_storeu_si256(o + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
    }
}
#elif defined(__SSE2__)
#include <emmintrin.h>
GK_INLINE void gk_mulhilo4(__m128i a, __m128i m, __m128i lomask, __m128i *hi, __m128i *lo)
{
    __m128i pe = _mm_mul_epu32(a, m);
    __m128i po = _mm_mul_epu32(_mm_srli_epi64(a, 32), m);
    *lo = _mm_or_si128(_mm_and_si128(pe, lomask), _mm_slli_epi64(po, 32));
    *hi = _mm_or_si128(_mm_srli_epi64(pe, 32), _mm_andnot_si128(lomask, po));
}

GK_INLINE void gk_philox_group(uint32_t k0, uint32_t k1, uint64_t b0,
                               uint32_t *GK_RESTRICT out)
{
    enum { H = GK_PHILOX_GROUP / 4 };
    uint32_t lo[GK_PHILOX_GROUP], hi[GK_PHILOX_GROUP];
    gk_philox_counters(b0, lo, hi);
    const __m128i M0 = _mm_set1_epi64x(GK_PHILOX_M0), M1 = _mm_set1_epi64x(GK_PHILOX_M1);
    const __m128i lomask = _mm_set1_epi64x(0xffffffffLL);
    __m128i c0[H], c1[H], c2[H], c3[H];
    for (int h = 0; h < H; ++h) {
        c0[h] = _mm_loadu_si128((const __m128i *)(lo + 4 * h));
        c1[h] = _mm_loadu_si128((const __m128i *)(hi + 4 * h));
        c2[h] = _mm_setzero_si128();
        c3[h] = _mm_setzero_si128();
    }
    for (int r = 0; r < GK_PHILOX_ROUNDS; ++r) {
        const __m128i K0 = _mm_set1_epi32((int)(k0 + (uint32_t)r * GK_PHILOX_W0));
        const __m128i K1 = _mm_set1_epi32((int)(k1 + (uint32_t)r * GK_PHILOX_W1));
        for (int h = 0; h < H; ++h) {
            __m128i hi0, lo0, hi1, lo1;
            gk_mulhilo4(c0[h], M0, lomask, &hi0, &lo0);
            gk_mulhilo4(c2[h], M1, lomask, &hi1, &lo1);
            c0[h] = _mm_xor_si128(_mm_xor_si128(hi1, c1[h]), K0);
            c1[h] = lo1;
            c2[h] = _mm_xor_si128(_mm_xor_si128(hi0, c3[h]), K1);
            c3[h] = lo0;
        }
    }
    for (int h = 0; h < H; ++h) {
        __m128i t0 = _mm_unpacklo_epi32(c0[h], c1[h]);
        __m128i t1 = _mm_unpackhi_epi32(c0[h], c1[h]);
        __m128i t2 = _mm_unpacklo_epi32(c2[h], c3[h]);
        __m128i t3 = _mm_unpackhi_epi32(c2[h], c3[h]);
        __m128i *o = (__m128i *)(out + 16 * h);
        _mm_storeu_si128(o + 0, _mm_unpacklo_epi64(t0, t2));
        _mm_storeu_si128(o + 1, _mm_unpackhi_epi64(t0, t2));
        _mm_storeu_si128(o + 2, _mm_unpacklo_epi64(t1, t3));
        _mm_storeu_si128(o + 3, _mm_unpackhi_epi64(t1, t3));
    }
}
#else
GK_INLINE void gk_philox_group(uint32_t k0, uint32_t k1, uint64_t b0,
                               uint32_t *GK_RESTRICT out)
{
    uint32_t key[2] = {k0, k1};
    for (int j = 0; j < GK_PHILOX_GROUP; ++j) {
        uint64_t b = (b0 + (uint64_t)j) & (((uint64_t)1 << 62) - 1);
        uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), 0, 0};
        gk_philox4x32_10(ctr, key, out + 4 * j);
    }
}
#endif

/* Room (in words) a buffer needs for gk_stream_words(..., nw, ...). */
#define GK_STREAM_BUF(nw) ((nw) + 4 * GK_PHILOX_GROUP + 4)

/* Words w .. w + nw - 1 of the stream of key (k0, k1): fills buf (GK_STREAM_BUF(nw)
 * words) and returns the pointer to word w inside it. */
GK_INLINE const uint32_t *gk_stream_words(uint32_t k0, uint32_t k1, uint64_t w,
                                          gk_index nw, uint32_t *buf)
{
    uint64_t b = w >> 2;
    gk_index need = (gk_index)(w & 3) + nw;           /* words from block b on */
    for (gk_index done = 0; done < need; done += 4 * GK_PHILOX_GROUP)
        gk_philox_group(k0, k1, b + (uint64_t)(done / 4), buf + done);
    return buf + (w & 3);
}

/* Word j (0..3) of the block with counter (lo32(b), hi32(b), c2, c3): used for the few
 * words outside the main stream (integer retries). */
static inline uint32_t gk_philox_word_at(uint32_t k0, uint32_t k1, uint64_t b, uint32_t c2,
                                         uint32_t c3, int j)
{
    uint32_t key[2] = {k0, k1};
    uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), c2, c3};
    uint32_t out[4];
    gk_philox4x32_10(ctr, key, out);
    return out[j];
}

#endif
