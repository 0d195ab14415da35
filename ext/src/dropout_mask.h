/* The dropout mask, written once for every kernel that draws one (dropout.c and the
 * fused add+dropout+norm kernels): element e of a call is kept iff word w0 + e of the
 * Philox stream of (k0, k1) is <= keep_max (gradkit/dropout.h states the rule), its
 * bit is bit e % 8 of byte e / 8, and a kept element is multiplied by the scale, a
 * dropped one by 0.  Everything here is always inline, so a fused kernel that calls
 * these gets the same bits as gk_dropout_* at no call cost.  Not installed.
 *
 *   gk_dropout_keep_max(p, &none)            the threshold (none: p = 1, nothing kept)
 *   gk_dropout_words_init(&s, k0, k1, w)     then gk_dropout_words_next(&s): the
 *                                            words of the next 64 elements from word w
 *                                            on (generated as they are consumed, so
 *                                            the Philox rounds overlap the memory
 *                                            traffic of the elements around them)
 *   gk_dropout_keep8(ws, km)                 AVX2: the keep lanes of 8 elements
 *   gk_dropout_byte(ws, keep_max)            the mask byte of 8 elements (any ISA)
 *   gk_dropout_bits8(byte)                   AVX2: mask byte -> keep lanes */
#ifndef GK_DROPOUT_MASK_H
#define GK_DROPOUT_MASK_H

#include <math.h>
#include <stdint.h>
#include "gk_internal.h"
#include "philox_bulk.h"

/* keep iff word < keep_prob 2**32, i.e. word <= ceil(keep_prob 2**32) - 1 (the product
 * is exact: a power-of-two scaling); *none when that bound is 0 (nothing kept). */
GK_INLINE uint32_t gk_dropout_keep_max(double p, int *none)
{
    double thr = ceil((1.0 - p) * 4294967296.0);
    *none = thr < 1.0;
    return thr < 1.0 ? 0u : (uint32_t)(thr - 1.0);
}

/* The words of consecutive elements, 64 (GK_DROPOUT_CHUNK) at a time: one Philox group
 * (philox_bulk.h) per chunk; when the first word is not the first of a block, the
 * chunk straddles two groups and the second is kept for the next chunk. */
#define GK_DROPOUT_CHUNK (4 * GK_PHILOX_GROUP)
typedef struct {
    uint32_t k0, k1;
    uint64_t b;       /* the next group's first block */
    int o;            /* the first word's place in its block */
    int started;
    uint32_t ring[2 * GK_DROPOUT_CHUNK];
} gk_dropout_words;

GK_INLINE void gk_dropout_words_init(gk_dropout_words *s, uint32_t k0, uint32_t k1,
                                     uint64_t w)
{
    s->k0 = k0;
    s->k1 = k1;
    s->b = w >> 2;
    s->o = (int)(w & 3);
    s->started = 0;
}

/* the words of the next GK_DROPOUT_CHUNK elements */
GK_INLINE const uint32_t *gk_dropout_words_next(gk_dropout_words *s)
{
    if (!s->o) {
        gk_philox_group(s->k0, s->k1, s->b, s->ring);
        s->b += GK_PHILOX_GROUP;
        return s->ring;
    }
    if (s->started) {
        memcpy(s->ring, s->ring + GK_DROPOUT_CHUNK, sizeof(uint32_t) * GK_DROPOUT_CHUNK);
    } else {
        gk_philox_group(s->k0, s->k1, s->b, s->ring);
        s->b += GK_PHILOX_GROUP;
        s->started = 1;
    }
    gk_philox_group(s->k0, s->k1, s->b, s->ring + GK_DROPOUT_CHUNK);
    s->b += GK_PHILOX_GROUP;
    return s->ring + s->o;
}

/* the mask byte of the 8 elements whose words are ws[0..7] (element k in bit k) */
GK_INLINE unsigned gk_dropout_byte(const uint32_t *ws, uint32_t keep_max)
{
    unsigned v = 0;
    for (int k = 0; k < 8; ++k)
        v |= (unsigned)(ws[k] <= keep_max) << k;
    return v;
}

#if defined(__AVX2__)
#include <immintrin.h>
/* keep lanes (all ones) of 8 elements: word <= keep_max as an unsigned compare (max);
 * km = _mm256_set1_epi32(keep_max).  _mm256_movemask_ps of the lanes is the mask
 * byte. */
GK_INLINE __m256i gk_dropout_keep8(const uint32_t *ws, __m256i km)
{
    __m256i w = _mm256_loadu_si256((const __m256i *)ws);
    return _mm256_cmpeq_epi32(_mm256_max_epu32(w, km), km);
}

/* the keep lanes of a stored mask byte (lane k: bit k) */
GK_INLINE __m256i gk_dropout_bits8(unsigned byte)
{
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)byte), sel), sel);
}
#endif

#endif
