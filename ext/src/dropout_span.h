/* The dropout mask on a span of elements, shared by the dropout family and the fused
 * add + dropout + norm kernels (norm_fused_tmpl.h), so both draw and apply the mask
 * with the same code: element e is kept iff word e of the stream <= keep_max, and
 * y = x * (kept ? scale : 0), or y = r + x * (kept ? scale : 0) with a residual r (the
 * product rounded first: -ffp-contract=off keeps it a separate multiply).  Bits: element
 * j of a span in bit j % 8 of its byte j / 8; a span starts on a byte (its first element
 * index is a multiple of 8) unless it goes through gk_bits_put/gk_bits_get.
 * Per-dtype parts are in dropout_span_tmpl.h.
 *
 * The words: a caller either fills a span's words at once (gk_stream_words of
 * philox_bulk.h) or draws them a group at a time as it consumes them (gk_dropout_words_init,
 * gk_dropout_words_next), so the Philox rounds overlap the memory traffic of the
 * elements around them; both give the same words. */
#ifndef GK_DROPOUT_SPAN_H
#define GK_DROPOUT_SPAN_H
#include <string.h>
#include "gk_internal.h"
#include "philox_bulk.h"

/* keep iff word < keep_prob 2**32, i.e. word <= ceil(keep_prob 2**32) - 1 (the product
 * is exact: a power-of-two scaling); *none when that bound is 0 (nothing kept). */
static inline uint32_t gk_dropout_keep_max(double p, int *none)
{
    double thr = ceil((1.0 - p) * 4294967296.0);
    *none = thr < 1.0;
    return thr < 1.0 ? 0u : (uint32_t)(thr - 1.0);
}

/* The words of consecutive elements, GK_DROPOUT_CHUNK at a time (128 on AVX-512, 64
 * elsewhere): one Philox group per chunk; when the first word is not the first of a
 * block, a chunk straddles two groups and the second is kept for the next chunk. */
#define GK_DROPOUT_CHUNK (4 * GK_PHILOX_GROUP)
typedef struct {
    gk_philox_keys ks;  /* the round keys, formed once per span */
    uint64_t b;         /* the next group's first block */
    int o;              /* the first word's place in its block */
    int started;
    uint32_t ring[2 * GK_DROPOUT_CHUNK];
} gk_dropout_words;

GK_INLINE void gk_dropout_words_init(gk_dropout_words *s, uint32_t k0, uint32_t k1,
                                     uint64_t w)
{
    gk_philox_keys_init(&s->ks, k0, k1);
    s->b = w >> 2;
    s->o = (int)(w & 3);
    s->started = 0;
}

/* the words of the next GK_DROPOUT_CHUNK elements */
GK_INLINE const uint32_t *gk_dropout_words_next(gk_dropout_words *s)
{
    if (!s->o) {
        gk_philox_group_k(&s->ks, s->b, s->ring);
        s->b += GK_PHILOX_GROUP;
        return s->ring;
    }
    if (s->started) {
        memcpy(s->ring, s->ring + GK_DROPOUT_CHUNK, sizeof(uint32_t) * GK_DROPOUT_CHUNK);
    } else {
        gk_philox_group_k(&s->ks, s->b, s->ring);
        s->b += GK_PHILOX_GROUP;
        s->started = 1;
    }
    gk_philox_group_k(&s->ks, s->b, s->ring + GK_DROPOUT_CHUNK);
    s->b += GK_PHILOX_GROUP;
    return s->ring + s->o;
}

/* the longest span (stack buffers of the callers) */
#define GK_DROPOUT_SPAN ((gk_index)4096)

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

/* The len bits of src (a span starting on a byte) into dst from bit `at` on.  Bits of
 * dst below `at` in its first byte are kept (an earlier span of the same thread wrote
 * them), bits above the last one are zeroed: spans written in order, by one thread per
 * run of whole bytes, give the packed mask. */
GK_INLINE void gk_bits_put(unsigned char *GK_RESTRICT dst, gk_index at,
                           const unsigned char *GK_RESTRICT src, gk_index len)
{
    unsigned char *d = dst + at / 8;
    unsigned sh = (unsigned)(at % 8);
    if (sh == 0) {
        memcpy(d, src, (size_t)((len + 7) / 8));
        return;
    }
    unsigned acc = d[0] & ((1u << sh) - 1u);  /* the earlier span's bits */
    gk_index nsrc = (len + 7) / 8, nout = (len + sh + 7) / 8;
    for (gk_index b = 0; b < nout; ++b) {
        unsigned v = b < nsrc ? src[b] : 0u;
        d[b] = (unsigned char)(acc | (v << sh));
        acc = v >> (8 - sh);
    }
    if ((len + sh) % 8)  /* zero the bits past the span in its last byte */
        d[nout - 1] &= (unsigned char)((1u << ((len + sh) % 8)) - 1u);
}

/* The len bits of src from bit `at` on, into dst starting on a byte. */
GK_INLINE void gk_bits_get(const unsigned char *GK_RESTRICT src, gk_index at,
                           unsigned char *GK_RESTRICT dst, gk_index len)
{
    const unsigned char *s = src + at / 8;
    unsigned sh = (unsigned)(at % 8);
    gk_index nout = (len + 7) / 8, nin = (len + sh + 7) / 8;
    if (sh == 0) {
        memcpy(dst, s, (size_t)nout);
        return;
    }
    for (gk_index b = 0; b < nout; ++b) {
        unsigned v = (unsigned)s[b] >> sh;
        if (b + 1 < nin)
            v |= (unsigned)s[b + 1] << (8 - sh);
        dst[b] = (unsigned char)v;
    }
}

#if defined(__AVX512F__)
#include <immintrin.h>
/* AVX-512, for the passes that apply a stored mask or a constant: a 64-byte vector of
 * T per step, the keep lanes a k-mask.  The vectors are aligned on y: NumPy puts large
 * arrays 16 bytes past a line, where every 64-byte store would straddle two lines.  The
 * elements before y's first line boundary and after its last one are masked vectors
 * (masked loads do not fault past the data).  Their keep bits come from the mask
 * bytes, read at any bit. */

/* 16 bits of the mask bytes mb[0, nbytes) from bit `at` on (bits past the end: 0) */
GK_INLINE unsigned gk_bits16_at(const unsigned char *mb, gk_index at, gk_index nbytes)
{
    gk_index b = at / 8;
    uint32_t w = 0;
    if (b + 4 <= nbytes)
        __builtin_memcpy(&w, mb + b, 4);
    else
        for (gk_index i = 0; b + i < nbytes; ++i) w |= (uint32_t)mb[b + i] << (8 * i);
    return (unsigned)(w >> (at % 8)) & 0xFFFFu;
}

/* elements [j, j + count) with their keep bits k (bit i: element j + i), count <= the
 * lanes: y = [r +] x * (k ? scale : 0); full: a whole aligned vector (nt: streamed) */
GK_INLINE void gk_apply_v_f32(const float *x, const float *r, float *y, unsigned k,
                              __m512 sc, gk_index count, int full, int nt)
{
    __m512 s = _mm512_maskz_mov_ps((__mmask16)k, sc);
    if (full) {
        __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x), s);
        if (r) v = _mm512_add_ps(_mm512_loadu_ps(r), v);
        if (nt) _mm512_stream_ps(y, v);
        else _mm512_store_ps(y, v);
        return;
    }
    __mmask16 m = (__mmask16)((1u << count) - 1u);
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x), s);
    if (r) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, r), v);
    _mm512_mask_storeu_ps(y, m, v);
}

GK_INLINE void gk_apply_v_f64(const double *x, const double *r, double *y, unsigned k,
                              __m512d sc, gk_index count, int full, int nt)
{
    __m512d s = _mm512_maskz_mov_pd((__mmask8)k, sc);
    if (full) {
        __m512d v = _mm512_mul_pd(_mm512_loadu_pd(x), s);
        if (r) v = _mm512_add_pd(_mm512_loadu_pd(r), v);
        if (nt) _mm512_stream_pd(y, v);
        else _mm512_store_pd(y, v);
        return;
    }
    __mmask8 m = (__mmask8)((1u << count) - 1u);
    __m512d v = _mm512_mul_pd(_mm512_maskz_loadu_pd(m, x), s);
    if (r) v = _mm512_add_pd(_mm512_maskz_loadu_pd(m, r), v);
    _mm512_mask_storeu_pd(y, m, v);
}
#define GK_VSCALE512_f32(s) _mm512_set1_ps(s)
#define GK_VSCALE512_f64(s) _mm512_set1_pd(s)
#endif

#if defined(__AVX2__)
#include <immintrin.h>
/* 8 elements per step: keep = (word <= keep_max) as a lane mask (unsigned compare via
 * max), its sign bits are the mask byte (movemask; bits may be NULL), y = x * (keep &
 * scale), plus r when r is not NULL (a constant at every call).  nt: non-temporal
 * stores (y 32-byte aligned); a large output then costs its size in traffic, not
 * twice (gk_internal.h). */
GK_INLINE __m256i gk_keep8(const uint32_t *ws, __m256i km)
{
    __m256i w = _mm256_loadu_si256((const __m256i *)ws);
    return _mm256_cmpeq_epi32(_mm256_max_epu32(w, km), km);
}

/* the keep lanes of a stored mask byte (lane k: bit k) */
GK_INLINE __m256i gk_bits8(unsigned byte)
{
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)byte), sel), sel);
}

/* y = [r +] x * (keep & scale) for 8 elements */
GK_INLINE void gk_apply8_f32(const float *x, const float *r, float *y, __m256i keep,
                             __m256 sc, int nt)
{
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x), _mm256_and_ps(_mm256_castsi256_ps(keep), sc));
    if (r)
        v = _mm256_add_ps(_mm256_loadu_ps(r), v);
    if (nt)
        _mm256_stream_ps(y, v);
    else
        _mm256_storeu_ps(y, v);
}

GK_INLINE void gk_apply8_f64(const double *x, const double *r, double *y, __m256i keep,
                             __m256d sc, int nt)
{
    __m256d lo = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(keep)));
    __m256d hi = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(keep, 1)));
    __m256d v0 = _mm256_mul_pd(_mm256_loadu_pd(x), _mm256_and_pd(lo, sc));
    __m256d v1 = _mm256_mul_pd(_mm256_loadu_pd(x + 4), _mm256_and_pd(hi, sc));
    if (r) {
        v0 = _mm256_add_pd(_mm256_loadu_pd(r), v0);
        v1 = _mm256_add_pd(_mm256_loadu_pd(r + 4), v1);
    }
    if (nt) {
        _mm256_stream_pd(y, v0);
        _mm256_stream_pd(y + 4, v1);
    } else {
        _mm256_storeu_pd(y, v0);
        _mm256_storeu_pd(y + 4, v1);
    }
}

#define GK_VSCALE_f32(s) _mm256_set1_ps(s)
#define GK_VSCALE_f64(s) _mm256_set1_pd(s)
#endif

#endif
