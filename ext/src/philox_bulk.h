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

/* blocks generated together: AVX-512 keeps GK_PHILOX_GROUP / 8 independent sets of 8
 * blocks in flight (below); the other paths 16 */
#if defined(__AVX512F__)
#define GK_PHILOX_GROUP 32
#else
#define GK_PHILOX_GROUP 16
#endif

/* gk_philox_group_k(keys, b0, out): blocks b0 .. b0 + GK_PHILOX_GROUP - 1 (counter
 * (lo32(b), hi32(b), 0, 0)), word r of block b0 + j written to out[4 * j + r]; keys from
 * gk_philox_keys_init(&keys, k0, k1).
 *
 * x86 uses intrinsics: the compiler's own vectorization of the 32x32->64 products
 * (widen, multiply, narrow) measured 10x slower than this.  AVX2: each vector holds one
 * word of 4 blocks, one per 64-bit lane (below); SSE2: one word of 4 blocks per 32-bit
 * lane, the products of the even and odd lanes from two pmuludq recombined with masks.
 * The result is transposed into the block order of the stream.  Other targets run the
 * portable block function. */
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

#if defined(__AVX512F__) || !defined(__AVX2__)
/* the key itself: AVX-512 broadcasts its round keys per round, the SSE2 rounds form
 * theirs on the fly (the AVX2 assembly's table of round keys is below) */
typedef struct {
    uint32_t k0, k1;
} gk_philox_keys;

GK_INLINE void gk_philox_keys_init(gk_philox_keys *ks, uint32_t k0, uint32_t k1)
{
    ks->k0 = k0;
    ks->k1 = k1;
}
#endif

#if defined(__AVX512F__)
#include <immintrin.h>
/* AVX-512: the 32 blocks in 4 sets of 8, one block per 64-bit lane of a zmm register,
 * each word (c0..c3) in the low half of its lanes as in the AVX2 version below (vpmuludq
 * reads only the low halves).  32 registers hold the state and the temporaries, so
 * intrinsics do not spill here, and the round keys are broadcast per round.  Measured
 * 0.41 ns per word against the AVX2 assembly's 0.81 on an Intel Xeon guest (2 sets).
 * A round is a chain of product, swap and xor, about 5 cycles on an AMD EPYC (Zen 5)
 * guest, which 2 sets left the vector pipes idle for: alone (a C loop over groups)
 * 2 sets took 0.25 ns a word there, 3 sets 0.22, 4 sets 0.19, 6 sets 0.15, 8 sets 0.17
 * (spills); inside the kernels 6 and 8 spilled, and a group of 6 sets (192 words) does
 * not divide the fused norms' 256-element spans.  With 4 sets, 1 thread in cache:
 * dropout float32 0.355 -> 0.296 ns per element, bfloat16 0.469 -> 0.325, float16 0.374
 * -> 0.299, add_dropout_layer_norm forward float32 0.591 -> 0.554, normal 0.606 ->
 * 0.563.  On the Intel Xeon guest, whose multiplies share one port, 32 blocks against
 * 16 measured 0.277 ns a word against 0.293 (2026-12-06). */
/* The high half of each 64-bit product moved into the low half of its lane by swapping
 * the lane's 32-bit halves (vpshufd, the shuffle port) rather than by a shift (vpsrlq,
 * which on Intel shares port 0 with vpmuludq).  Alone the generator runs as fast either
 * way (0.29 ns a word on the Intel Xeon guest); inside dropout, whose own operations
 * crowd port 0 too, the swap took 8192x1024 from memory at 2 threads from 1.99 to 1.94
 * ms (float32, seed only), 2.17 -> 2.06 with the mask, bfloat16 2.53 -> 2.34, float16
 * 1.93 -> 1.84.  The high halves of c0..c3 are never read (vpmuludq reads the low ones,
 * the output keeps the low ones only), so what the swap leaves there does not matter:
 * the same words. */
#define GK_PHILOX_HI(p) _mm512_shuffle_epi32((p), _MM_PERM_CDAB)
GK_INLINE void gk_philox_group_k(const gk_philox_keys *GK_RESTRICT ks, uint64_t b0,
                                 uint32_t *GK_RESTRICT out)
{
    enum { NS = GK_PHILOX_GROUP / 8 };
    _Static_assert(GK_PHILOX_GROUP % 8 == 0, "sets of 8 blocks");
    const uint32_t k0 = ks->k0, k1 = ks->k1;
    const uint64_t m62 = ((uint64_t)1 << 62) - 1;
    uint64_t bm = b0 & m62;
    __m512i c0[NS], c1[NS], c2[NS], c3[NS];
    if ((uint32_t)bm <= UINT32_MAX - (GK_PHILOX_GROUP - 1) && bm + GK_PHILOX_GROUP <= m62) {
        /* no carry into the high word and no wrap: counters base + j */
        const __m512i base = _mm512_add_epi64(_mm512_set1_epi64((long long)(uint32_t)bm),
                                              _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
        const __m512i hi = _mm512_set1_epi64((long long)(uint32_t)(bm >> 32));
        for (int s = 0; s < NS; ++s) {
            c0[s] = _mm512_add_epi64(base, _mm512_set1_epi64(8 * s));
            c1[s] = hi;
        }
    } else {
        uint32_t lo[GK_PHILOX_GROUP], hi[GK_PHILOX_GROUP];
        gk_philox_counters(b0, lo, hi);
        for (int s = 0; s < NS; ++s) {
            c0[s] = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(lo + 8 * s)));
            c1[s] = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(hi + 8 * s)));
        }
    }
    const __m512i M0 = _mm512_set1_epi64(GK_PHILOX_M0), M1 = _mm512_set1_epi64(GK_PHILOX_M1);
    /* round 0 (c2 = c3 = 0): c0 = c1 ^ K0, c1 = 0, c2 = hi(c0 M0) ^ K1, c3 = lo(c0 M0) */
    {
        const __m512i K0 = _mm512_set1_epi32((int)k0), K1 = _mm512_set1_epi32((int)k1);
        for (int s = 0; s < NS; ++s) {
            __m512i p0 = _mm512_mul_epu32(c0[s], M0);
            c0[s] = _mm512_xor_si512(c1[s], K0);          /* hi(c2 M1) = 0 */
            c1[s] = _mm512_setzero_si512();
            c2[s] = _mm512_xor_si512(GK_PHILOX_HI(p0), K1);
            c3[s] = p0;
        }
    }
    /* round r >= 1: c0 = hi(c2 M1) ^ c1 ^ K0, c1 = lo(c2 M1), c2 = hi(c0 M0) ^ c3 ^ K1,
     * c3 = lo(c0 M0), the three-way xors in one vpternlog (0x96) */
    for (int r = 1; r < GK_PHILOX_ROUNDS; ++r) {
        const __m512i K0 = _mm512_set1_epi32((int)(k0 + (uint32_t)r * GK_PHILOX_W0));
        const __m512i K1 = _mm512_set1_epi32((int)(k1 + (uint32_t)r * GK_PHILOX_W1));
        for (int s = 0; s < NS; ++s) {
            __m512i p0 = _mm512_mul_epu32(c0[s], M0), p1 = _mm512_mul_epu32(c2[s], M1);
            c0[s] = _mm512_ternarylogic_epi64(GK_PHILOX_HI(p1), c1[s], K0, 0x96);
            c1[s] = p1;
            c2[s] = _mm512_ternarylogic_epi64(GK_PHILOX_HI(p0), c3[s], K1, 0x96);
            c3[s] = p0;
        }
    }
    /* stream order: (c0, c1) and (c2, c3) of a block side by side in a 64-bit lane,
     * then the lanes of A and C interleaved, block by block */
    const __m512i i0 = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
    const __m512i i1 = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    for (int s = 0; s < NS; ++s) {
        __m512i A = _mm512_mask_blend_epi32(0xAAAA, c0[s], _mm512_slli_epi64(c1[s], 32));
        __m512i C = _mm512_mask_blend_epi32(0xAAAA, c2[s], _mm512_slli_epi64(c3[s], 32));
        _mm512_storeu_si512((void *)(out + 32 * s), _mm512_permutex2var_epi64(A, i0, C));
        _mm512_storeu_si512((void *)(out + 32 * s + 16), _mm512_permutex2var_epi64(A, i1, C));
    }
}
#elif defined(__AVX2__)
#include <immintrin.h>
/* The round keys of a key, computed once per kernel call or tile instead of once per
 * group (20 broadcasts per 64 words were a tenth of the work); in memory, they are
 * free operands of vpxor. */
typedef struct {
    __m256i K0[GK_PHILOX_ROUNDS], K1[GK_PHILOX_ROUNDS];  /* K1 at byte 320 (assembly) */
    uint32_t k0, k1;
} gk_philox_keys;

GK_INLINE void gk_philox_keys_init(gk_philox_keys *ks, uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < GK_PHILOX_ROUNDS; ++r) {
        ks->K0[r] = _mm256_set1_epi32((int)(k0 + (uint32_t)r * GK_PHILOX_W0));
        ks->K1[r] = _mm256_set1_epi32((int)(k1 + (uint32_t)r * GK_PHILOX_W1));
    }
    ks->k0 = k0;
    ks->k1 = k1;
}

/* The blocks go in 4 sets of 4 consecutive blocks, one block per 64-bit lane, each word
 * (c0..c3) of a set in the low half of its lanes: pmuludq reads only the low halves, so
 * a product's lane holds lo(product) as it is (the junk above it is never read) and
 * hi = product >> 32.  A round is, per set, 2 products, 2 shifts and 4 xors, no blends;
 * 4 sets keep 4 independent chains in flight, which the 5-cycle latency of a round
 * needs.  The words are put in stream order once at the end.
 *
 * The rounds are written in assembly: 16 state vectors need all 16 registers of AVX2
 * plus a temporary, and GCC, left to allocate them, spilled and reloaded 50-150 vectors
 * per group (more once inlined into a kernel); here one vector (c3 of the last set)
 * lives in a stack slot, read as a free memory operand of vpxor, and the round keys and
 * multipliers are memory operands too.  Measured 1.25x the previous intrinsics per word.
 *
 * Register names rotate instead of moving values: a set in registers (a, b, c, d)
 * holding (c0, c1, c2, c3) ends a round with (c0, c1, c2, c3) in (b, c, d, a), so round
 * r uses the names rotated r times.  The last set keeps c3 in the slot and its fourth
 * register is the round's temporary (the other sets use it before the last set writes
 * it); it ends a round the same way rotated. */
#define GK_PX_Y(n) "%%ymm" #n
#define GK_PX_K0(r) #r "*32(%[k])"
#define GK_PX_K1(r) "320+" #r "*32(%[k])"
#define GK_PX_M0 "(%[m])"
#define GK_PX_M1 "32(%[m])"
#define GK_PX_SLOT "64(%[m])"
#define GK_PX_I(op, x, y, z) op " " x ", " y ", " z "\n\t"
/* round 0 (c2 = c3 = 0): c0 = c1 ^ K0, c1 = 0, c2 = hi(c0 M0) ^ K1, c3 = lo(c0 M0) */
#define GK_PX_SET_R0(a, b, c, d) \
    GK_PX_I("vpxor", GK_PX_K0(0), GK_PX_Y(b), GK_PX_Y(b)) \
    GK_PX_I("vpmuludq", GK_PX_M0, GK_PX_Y(a), GK_PX_Y(a)) \
    GK_PX_I("vpsrlq", "$32", GK_PX_Y(a), GK_PX_Y(d)) \
    GK_PX_I("vpxor", GK_PX_K1(0), GK_PX_Y(d), GK_PX_Y(d)) \
    GK_PX_I("vpxor", GK_PX_Y(c), GK_PX_Y(c), GK_PX_Y(c))
/* round r >= 1: c0 = hi(c2 M1) ^ c1 ^ K0, c1 = lo(c2 M1), c2 = hi(c0 M0) ^ c3 ^ K1,
 * c3 = lo(c0 M0); t is the temporary */
#define GK_PX_SET(r, a, b, c, d, t) \
    GK_PX_I("vpxor", GK_PX_K0(r), GK_PX_Y(b), GK_PX_Y(b)) \
    GK_PX_I("vpxor", GK_PX_K1(r), GK_PX_Y(d), GK_PX_Y(d)) \
    GK_PX_I("vpmuludq", GK_PX_M1, GK_PX_Y(c), GK_PX_Y(c)) \
    GK_PX_I("vpmuludq", GK_PX_M0, GK_PX_Y(a), GK_PX_Y(a)) \
    GK_PX_I("vpsrlq", "$32", GK_PX_Y(c), GK_PX_Y(t)) \
    GK_PX_I("vpxor", GK_PX_Y(t), GK_PX_Y(b), GK_PX_Y(b)) \
    GK_PX_I("vpsrlq", "$32", GK_PX_Y(a), GK_PX_Y(t)) \
    GK_PX_I("vpxor", GK_PX_Y(t), GK_PX_Y(d), GK_PX_Y(d))
/* the last set: c3 in the slot, d free on entry; c2 is formed in d, c3 leaves a */
#define GK_PX_SET3_R0(a, b, c, d) \
    GK_PX_SET_R0(a, b, c, d) \
    "vmovdqa " GK_PX_Y(a) ", " GK_PX_SLOT "\n\t"
#define GK_PX_SET3(r, a, b, c, d) \
    GK_PX_I("vpxor", GK_PX_K0(r), GK_PX_Y(b), GK_PX_Y(b)) \
    GK_PX_I("vpmuludq", GK_PX_M1, GK_PX_Y(c), GK_PX_Y(c)) \
    GK_PX_I("vpmuludq", GK_PX_M0, GK_PX_Y(a), GK_PX_Y(a)) \
    GK_PX_I("vpsrlq", "$32", GK_PX_Y(c), GK_PX_Y(d)) \
    GK_PX_I("vpxor", GK_PX_Y(d), GK_PX_Y(b), GK_PX_Y(b)) \
    GK_PX_I("vpsrlq", "$32", GK_PX_Y(a), GK_PX_Y(d)) \
    GK_PX_I("vpxor", GK_PX_SLOT, GK_PX_Y(d), GK_PX_Y(d)) \
    GK_PX_I("vpxor", GK_PX_K1(r), GK_PX_Y(d), GK_PX_Y(d)) \
    "vmovdqa " GK_PX_Y(a) ", " GK_PX_SLOT "\n\t"
/* round r with the names rotated 1, 2, 3, 0 times (round r >= 1 rotates r % 4 times) */
#define GK_PX_ROUND1(r) GK_PX_SET(r, 1, 2, 3, 0, 12) GK_PX_SET(r, 5, 6, 7, 4, 12) \
    GK_PX_SET(r, 9, 10, 11, 8, 12) GK_PX_SET3(r, 13, 14, 15, 12)
#define GK_PX_ROUND2(r) GK_PX_SET(r, 2, 3, 0, 1, 13) GK_PX_SET(r, 6, 7, 4, 5, 13) \
    GK_PX_SET(r, 10, 11, 8, 9, 13) GK_PX_SET3(r, 14, 15, 12, 13)
#define GK_PX_ROUND3(r) GK_PX_SET(r, 3, 0, 1, 2, 14) GK_PX_SET(r, 7, 4, 5, 6, 14) \
    GK_PX_SET(r, 11, 8, 9, 10, 14) GK_PX_SET3(r, 15, 12, 13, 14)
#define GK_PX_ROUND0(r) GK_PX_SET(r, 0, 1, 2, 3, 15) GK_PX_SET(r, 4, 5, 6, 7, 15) \
    GK_PX_SET(r, 8, 9, 10, 11, 15) GK_PX_SET3(r, 12, 13, 14, 15)
/* a set's (c0, c1, c2, c3) in (A, B, C, D) -> its 4 blocks in stream order at out + off
 * bytes: words 0 1 and 2 3 of each block side by side, then whole blocks */
#define GK_PX_OUT(A, B, C, D, off) \
    GK_PX_I("vpsllq", "$32", GK_PX_Y(B), GK_PX_Y(B)) \
    "vpblendd $0xAA, " GK_PX_Y(B) ", " GK_PX_Y(A) ", " GK_PX_Y(A) "\n\t" \
    GK_PX_I("vpsllq", "$32", GK_PX_Y(D), GK_PX_Y(D)) \
    "vpblendd $0xAA, " GK_PX_Y(D) ", " GK_PX_Y(C) ", " GK_PX_Y(C) "\n\t" \
    GK_PX_I("vpunpcklqdq", GK_PX_Y(C), GK_PX_Y(A), GK_PX_Y(B)) \
    GK_PX_I("vpunpckhqdq", GK_PX_Y(C), GK_PX_Y(A), GK_PX_Y(D)) \
    "vperm2i128 $0x20, " GK_PX_Y(D) ", " GK_PX_Y(B) ", " GK_PX_Y(A) "\n\t" \
    "vperm2i128 $0x31, " GK_PX_Y(D) ", " GK_PX_Y(B) ", " GK_PX_Y(C) "\n\t" \
    "vmovdqu " GK_PX_Y(A) ", " #off "(%[o])\n\t" \
    "vmovdqu " GK_PX_Y(C) ", " #off "+32(%[o])\n\t"
#define GK_PX_LOAD(s, a, b) \
    "vmovdqa 96+" #s "*64(%[m]), " GK_PX_Y(a) "\n\t" \
    "vmovdqa 128+" #s "*64(%[m]), " GK_PX_Y(b) "\n\t"

GK_INLINE void gk_philox_group_k(const gk_philox_keys *GK_RESTRICT ks, uint64_t b0,
                                 uint32_t *GK_RESTRICT out)
{
    _Static_assert(GK_PHILOX_GROUP == 16 && GK_PHILOX_ROUNDS == 10, "the assembly's shape");
    /* M0, M1, the slot, then the counters (lo, hi) of each set */
    __m256i m[3 + 8];
    const uint64_t m62 = ((uint64_t)1 << 62) - 1;
    uint64_t bm = b0 & m62;
    m[0] = _mm256_set1_epi64x(GK_PHILOX_M0);
    m[1] = _mm256_set1_epi64x(GK_PHILOX_M1);
    if ((uint32_t)bm <= UINT32_MAX - (GK_PHILOX_GROUP - 1) && bm + GK_PHILOX_GROUP <= m62) {
        /* no carry into the high word and no wrap: counters base + j */
        const __m256i base = _mm256_set1_epi64x((long long)(uint32_t)bm);
        const __m256i hi = _mm256_set1_epi64x((long long)(uint32_t)(bm >> 32));
        for (int s = 0; s < 4; ++s) {
            m[3 + 2 * s] = _mm256_add_epi64(base, _mm256_setr_epi64x(4 * s, 4 * s + 1,
                                                                    4 * s + 2, 4 * s + 3));
            m[4 + 2 * s] = hi;
        }
    } else {
        uint32_t lo[GK_PHILOX_GROUP], hi[GK_PHILOX_GROUP];
        gk_philox_counters(b0, lo, hi);
        for (int s = 0; s < 4; ++s) {
            m[3 + 2 * s] = _mm256_setr_epi64x(lo[4 * s], lo[4 * s + 1], lo[4 * s + 2],
                                              lo[4 * s + 3]);
            m[4 + 2 * s] = _mm256_setr_epi64x(hi[4 * s], hi[4 * s + 1], hi[4 * s + 2],
                                              hi[4 * s + 3]);
        }
    }
    __asm__ volatile(
        GK_PX_LOAD(0, 0, 1) GK_PX_LOAD(1, 4, 5) GK_PX_LOAD(2, 8, 9) GK_PX_LOAD(3, 12, 13)
        GK_PX_SET_R0(0, 1, 2, 3) GK_PX_SET_R0(4, 5, 6, 7) GK_PX_SET_R0(8, 9, 10, 11)
        GK_PX_SET3_R0(12, 13, 14, 15)
        GK_PX_ROUND1(1) GK_PX_ROUND2(2) GK_PX_ROUND3(3) GK_PX_ROUND0(4)
        GK_PX_ROUND1(5) GK_PX_ROUND2(6) GK_PX_ROUND3(7) GK_PX_ROUND0(8)
        GK_PX_ROUND1(9)
        /* rotated twice: (c0, c1, c2, c3) in names 2, 3, 0, 1; the last set's c3 from
         * the slot into its free register */
        "vmovdqa " GK_PX_SLOT ", %%ymm13\n\t"
        GK_PX_OUT(2, 3, 0, 1, 0) GK_PX_OUT(6, 7, 4, 5, 64) GK_PX_OUT(10, 11, 8, 9, 128)
        GK_PX_OUT(14, 15, 12, 13, 192)
        :
        : [k] "r"(ks->K0), [m] "r"(m), [o] "r"(out)
        : "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
          "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}
#endif

#if defined(__AVX2__)
#elif defined(__SSE2__)
#include <emmintrin.h>
GK_INLINE void gk_mulhilo4(__m128i a, __m128i m, __m128i lomask, __m128i *hi, __m128i *lo)
{
    __m128i pe = _mm_mul_epu32(a, m);
    __m128i po = _mm_mul_epu32(_mm_srli_epi64(a, 32), m);
    *lo = _mm_or_si128(_mm_and_si128(pe, lomask), _mm_slli_epi64(po, 32));
    *hi = _mm_or_si128(_mm_srli_epi64(pe, 32), _mm_andnot_si128(lomask, po));
}

GK_INLINE void gk_philox_group_k(const gk_philox_keys *GK_RESTRICT ks, uint64_t b0,
                                 uint32_t *GK_RESTRICT out)
{
    enum { H = GK_PHILOX_GROUP / 4 };
    const uint32_t k0 = ks->k0, k1 = ks->k1;
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
GK_INLINE void gk_philox_group_k(const gk_philox_keys *GK_RESTRICT ks, uint64_t b0,
                                 uint32_t *GK_RESTRICT out)
{
    uint32_t key[2] = {ks->k0, ks->k1};
    for (int j = 0; j < GK_PHILOX_GROUP; ++j) {
        uint64_t b = (b0 + (uint64_t)j) & (((uint64_t)1 << 62) - 1);
        uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), 0, 0};
        gk_philox4x32_10(ctr, key, out + 4 * j);
    }
}
#endif

/* The group of one key (forms its round keys: for a few groups; loops over many groups
 * call gk_philox_keys_init once and gk_philox_group_k). */
GK_INLINE void gk_philox_group(uint32_t k0, uint32_t k1, uint64_t b0,
                               uint32_t *GK_RESTRICT out)
{
    gk_philox_keys ks;
    gk_philox_keys_init(&ks, k0, k1);
    gk_philox_group_k(&ks, b0, out);
}

/* Room (in words) a buffer needs for gk_stream_words(..., nw, ...). */
#define GK_STREAM_BUF(nw) ((nw) + 4 * GK_PHILOX_GROUP + 4)

/* Words w .. w + nw - 1 of the stream of key (k0, k1): fills buf (GK_STREAM_BUF(nw)
 * words) and returns the pointer to word w inside it. */
GK_INLINE const uint32_t *gk_stream_words(uint32_t k0, uint32_t k1, uint64_t w,
                                          gk_index nw, uint32_t *buf)
{
    uint64_t b = w >> 2;
    gk_index need = (gk_index)(w & 3) + nw;           /* words from block b on */
    gk_philox_keys ks;
    gk_philox_keys_init(&ks, k0, k1);
    for (gk_index done = 0; done < need; done += 4 * GK_PHILOX_GROUP)
        gk_philox_group_k(&ks, b + (uint64_t)(done / 4), buf + done);
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
