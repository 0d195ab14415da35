/* Dropout kernels over Philox4x32-10, compiled once per ISA.  Tiles of GK_TILE
 * elements (a multiple of 8, so a tile owns whole mask bytes) are fixed by the element
 * index and threads take whole tiles: the output never depends on the thread count. */
#include "gk_internal.h"
#include "philox_bulk.h"
#include "dropout_kernels.h"

#define GK_TILE ((gk_index)4096)

/* keep flags (0/1 bytes) -> bits, element j in bit j % 8 of byte j / 8 */
GK_INLINE void gk_pack_bits(const unsigned char *GK_RESTRICT keep,
                            unsigned char *GK_RESTRICT bits, gk_index len)
{
    gk_index full = len / 8;
    for (gk_index b = 0; b < full; ++b) {
        const unsigned char *k = keep + 8 * b;
        bits[b] = (unsigned char)(k[0] | (k[1] << 1) | (k[2] << 2) | (k[3] << 3) |
                                  (k[4] << 4) | (k[5] << 5) | (k[6] << 6) | (k[7] << 7));
    }
    if (len % 8) {
        unsigned v = 0;
        for (gk_index j = 8 * full; j < len; ++j)
            v |= (unsigned)keep[j] << (j % 8);
        bits[full] = (unsigned char)v;
    }
}

#if defined(__AVX2__)
#include <immintrin.h>
/* 8 elements per step: keep = (word <= keep_max) as a lane mask (unsigned compare via
 * max), its sign bits are the mask byte (movemask; bits may be NULL), y = x * (keep &
 * scale). */
GK_INLINE __m256i gk_keep8(const uint32_t *ws, __m256i km)
{
    __m256i w = _mm256_loadu_si256((const __m256i *)ws);
    return _mm256_cmpeq_epi32(_mm256_max_epu32(w, km), km);
}

static inline void dropout_avx2_f32(const float *x, float *y, const uint32_t *ws,
                                    unsigned char *bits, gk_index groups, float scale,
                                    uint32_t keep_max)
{
    const __m256i km = _mm256_set1_epi32((int)keep_max);
    const __m256 sc = _mm256_set1_ps(scale);
    for (gk_index g = 0; g < groups; ++g) {
        __m256 k = _mm256_castsi256_ps(gk_keep8(ws + 8 * g, km));
        if (bits)
            bits[g] = (unsigned char)_mm256_movemask_ps(k);
        _mm256_storeu_ps(y + 8 * g, _mm256_mul_ps(_mm256_loadu_ps(x + 8 * g),
                                                  _mm256_and_ps(k, sc)));
    }
}

static inline void dropout_avx2_f64(const double *x, double *y, const uint32_t *ws,
                                    unsigned char *bits, gk_index groups, double scale,
                                    uint32_t keep_max)
{
    const __m256i km = _mm256_set1_epi32((int)keep_max);
    const __m256d sc = _mm256_set1_pd(scale);
    for (gk_index g = 0; g < groups; ++g) {
        __m256i k = gk_keep8(ws + 8 * g, km);
        if (bits)
            bits[g] = (unsigned char)_mm256_movemask_ps(_mm256_castsi256_ps(k));
        __m256d lo = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(k)));
        __m256d hi = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(k, 1)));
        _mm256_storeu_pd(y + 8 * g, _mm256_mul_pd(_mm256_loadu_pd(x + 8 * g),
                                                  _mm256_and_pd(lo, sc)));
        _mm256_storeu_pd(y + 8 * g + 4, _mm256_mul_pd(_mm256_loadu_pd(x + 8 * g + 4),
                                                      _mm256_and_pd(hi, sc)));
    }
}
#endif

#define GK_TMPL_A "dropout_tmpl.h"
#include "gk_each_dtype.h"

const gk_dropout_table GK_ISA_SYM(gk_dropout_table) = {
    .fwd_f32 = dropout_fwd_f32,
    .bwd_f32 = dropout_bwd_f32,
    .fwd_f64 = dropout_fwd_f64,
    .bwd_f64 = dropout_bwd_f64,
};
