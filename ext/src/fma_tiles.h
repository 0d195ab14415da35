/* Tiles of fused multiply-adds: the products gradkit computes itself where the kernel
 * table has FMA (the AVX2 and AVX-512 tables), one copy for every family that uses them
 * (the preprocessing scatter and projections, init.orthogonal's reflector updates, the
 * linear family's products through gk_ft_gemm, fma_gemm_tmpl.h).
 *
 * Why: OpenBLAS picks its AVX2 (Haswell) kernels on some AVX-512 CPUs (an AMD Zen 5
 * guest here), where its dsyrk ran at 43 GFlop/s a core and dgemm at 53-55; a tile
 * below, held in registers while the steps stream through it, runs at about 100.
 *
 * A tile is GK_FT_MR vectors of GK_FT_W(T) lanes by GK_FT_NR broadcast operands:
 * GK_FT_MR * GK_FT_NR vector accumulators (24 of 32 zmm on AVX-512, 12 of 16 ymm on
 * AVX2), one fused multiply-add a step per pair.  Each lane of the result is the same
 * sequence of operations whatever the vector width (chains of GK_FT_KB steps from zero,
 * the chains added in order), so the AVX2 and AVX-512 tables give the same bits; the
 * baseline table has no FMA, and its callers use BLAS (GK_FT undefined). */
#ifndef GK_FMA_TILES_H
#define GK_FMA_TILES_H
#include "gk_internal.h"

#if defined(__AVX__) && defined(__FMA__)
#include <immintrin.h>
#define GK_FT 1
#if defined(__AVX512F__)
#define GK_FT_BYTES 64
#else
#define GK_FT_BYTES 32
#endif
#define GK_FT_W(T) ((gk_index)(GK_FT_BYTES / sizeof(T)))   /* lanes of a vector */
#define GK_FT_MR 3
#define GK_FT_NR (GK_FT_BYTES / 8)      /* 8 on AVX-512, 4 on AVX2 */
/* steps per chain: one chain over a whole 512-row chunk lost float32 PCA's smallest
 * singular values to 2e-4 relative (tests/test_preprocessing.py) */
#define GK_FT_KB 64
/* gk_ft_gemm (fma_gemm_tmpl.h): steps per block, a multiple of GK_FT_KB (the panels'
 * block, 3 vectors by 128 steps, is 24 KB: in L1 with room for the rows' steps), and
 * the bytes of A's packed steps a task's row block holds per block (in L2) */
#define GK_FG_KC 128
#define GK_FG_MC_BYTES ((size_t)256 << 10)

/* NAME3, NAME2, NAME1: tiles of 3, 2 and 1 vectors whose GK_FT_NR operands are
 * consecutive (operand jj at pj + jj), STEP elements a step (the scatter's panels, the
 * packed rows of gk_ft_gemm), each its own function with its strides constant: inlined
 * into the loop that stores them, GCC kept that loop's vector constants live and
 * spilled an operand of the fused multiply-adds (the scatter 1.50 s against 1.42).  For
 * the element type T of the template that expands it. */
#define GK_FT_SEQ_TILES(NAME, STEP) \
    GK_FT_SEQ_TILE(NAME, 3, STEP) GK_FT_SEQ_TILE(NAME, 2, STEP) GK_FT_SEQ_TILE(NAME, 1, STEP)
#define GK_FT_SEQ_TILE(NAME, MR, STEP)                                                   \
GK_FT_CALL void GK_T(NAME##MR)(const T *pi, gk_index ps, const T *pj, gk_index nb,       \
                               gk_ftv(SFX) t[GK_FT_MR][GK_FT_NR])                        \
{                                                                                        \
    const T *bp[GK_FT_NR];                                                               \
    for (int jj = 0; jj < GK_FT_NR; ++jj) bp[jj] = pj + jj;                              \
    GK_T(gk_ft_tile)(MR, pi, ps, GK_FT_W(T), bp, (STEP), nb, t);                         \
}

typedef float gk_ftv_f32 __attribute__((vector_size(GK_FT_BYTES)));
typedef double gk_ftv_f64 __attribute__((vector_size(GK_FT_BYTES)));
#define gk_ftv(SFX) GK_CAT(gk_ftv_, SFX)
#if defined(__GNUC__) || defined(__clang__)
#define GK_FT_CALL static __attribute__((noinline, unused))
#else
#define GK_FT_CALL static
#endif

/* Transposes for packing (fma_gemm_tmpl.h): dst[c ld + r] = src[r][c] for r, c < 8
 * (float) or < 4 (double), the src rows given by pointers (a last row group repeats its
 * last row).  Shuffles instead of one strided store per element: scalar, packing took
 * a fifth of a 512 x 1024 x 1024 product on an Intel Xeon guest. */
GK_INLINE void gk_ft_tr8_f32(const float *const *src, float *dst, gk_index ld)
{
    __m256 r0 = _mm256_loadu_ps(src[0]), r1 = _mm256_loadu_ps(src[1]);
    __m256 r2 = _mm256_loadu_ps(src[2]), r3 = _mm256_loadu_ps(src[3]);
    __m256 r4 = _mm256_loadu_ps(src[4]), r5 = _mm256_loadu_ps(src[5]);
    __m256 r6 = _mm256_loadu_ps(src[6]), r7 = _mm256_loadu_ps(src[7]);
    /* pairs of rows interleaved, then pairs of pairs, then the 128-bit halves */
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * ld, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * ld, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ld, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ld, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ld, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ld, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ld, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ld, _mm256_permute2f128_ps(u3, u7, 0x31));
}

GK_INLINE void gk_ft_tr4_f64(const double *const *src, double *dst, gk_index ld)
{
    __m256d r0 = _mm256_loadu_pd(src[0]), r1 = _mm256_loadu_pd(src[1]);
    __m256d r2 = _mm256_loadu_pd(src[2]), r3 = _mm256_loadu_pd(src[3]);
    __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
    __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    _mm256_storeu_pd(dst + 0 * ld, _mm256_permute2f128_pd(t0, t2, 0x20));
    _mm256_storeu_pd(dst + 1 * ld, _mm256_permute2f128_pd(t1, t3, 0x20));
    _mm256_storeu_pd(dst + 2 * ld, _mm256_permute2f128_pd(t0, t2, 0x31));
    _mm256_storeu_pd(dst + 3 * ld, _mm256_permute2f128_pd(t1, t3, 0x31));
}

GK_INLINE void gk_ft_tr4_f32(const float *const *src, float *dst, gk_index ld)
{
    __m128 r0 = _mm_loadu_ps(src[0]), r1 = _mm_loadu_ps(src[1]);
    __m128 r2 = _mm_loadu_ps(src[2]), r3 = _mm_loadu_ps(src[3]);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(dst + 0 * ld, r0);
    _mm_storeu_ps(dst + 1 * ld, r1);
    _mm_storeu_ps(dst + 2 * ld, r2);
    _mm_storeu_ps(dst + 3 * ld, r3);
}

/* the block transposes of T: GK_FT_TB(T) rows by GK_FT_TB(T) columns */
#define GK_FT_TB(T) (sizeof(T) == 4 ? 8 : 4)

#define T float
#define SFX f32
#include "fma_tiles_tmpl.h"
#include "fma_gemm_tmpl.h"
#undef T
#undef SFX
#define T double
#define SFX f64
#include "fma_tiles_tmpl.h"
#include "fma_gemm_tmpl.h"
#undef T
#undef SFX
#endif

#endif
