/* Dropout kernels over Philox4x32-10, compiled once per ISA.  Tiles of GK_TILE
 * elements (a multiple of 8, so a tile owns whole mask bytes) are fixed by the element
 * index and threads take whole tiles: the output never depends on the thread count.
 * The mask itself comes from dropout_mask.h (shared with the fused kernels). */
#include "gk_internal.h"
#include "dropout_mask.h"
#include "dropout_kernels.h"

#define GK_TILE ((gk_index)4096)

#if defined(__AVX2__)
#include <immintrin.h>
/* An output of at least GK_STREAM_MIN_BYTES, not over an input and 32-byte aligned
 * (tiles start at multiples of 8 elements, so every vector store is aligned) is
 * written with non-temporal stores: it costs its size in traffic, not twice
 * (gk_internal.h).  The probe of a case makes the same choice. */
GK_INLINE int drop_stream(size_t bytes, const void *y, const void *x)
{
    return gk_stream_output(bytes, y, x, NULL) && ((uintptr_t)y & 31) == 0;
}

GK_INLINE void st8_f32(float *p, __m256 v, int nt)
{
    if (nt) _mm256_stream_ps(p, v); else _mm256_storeu_ps(p, v);
}

/* y = x * (keep & scale) for 8 float elements (keep: all-ones lanes) */
GK_INLINE void apply8_f32(const float *x, float *y, __m256i keep, __m256 sc, int nt)
{
    st8_f32(y, _mm256_mul_ps(_mm256_loadu_ps(x), _mm256_and_ps(_mm256_castsi256_ps(keep), sc)),
            nt);
}

GK_INLINE void apply8_f64(const double *x, double *y, __m256i keep, __m256d sc, int nt)
{
    __m256d lo = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(keep)));
    __m256d hi = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(keep, 1)));
    __m256d a = _mm256_mul_pd(_mm256_loadu_pd(x), _mm256_and_pd(lo, sc));
    __m256d b = _mm256_mul_pd(_mm256_loadu_pd(x + 4), _mm256_and_pd(hi, sc));
    if (nt) {
        _mm256_stream_pd(y, a);
        _mm256_stream_pd(y + 4, b);
    } else {
        _mm256_storeu_pd(y, a);
        _mm256_storeu_pd(y + 4, b);
    }
}

#define GK_VSCALE_f32(s) _mm256_set1_ps(s)
#define GK_VSCALE_f64(s) _mm256_set1_pd(s)
#endif

#define GK_TMPL_A "dropout_tmpl.h"
#include "gk_each_dtype.h"

const gk_dropout_table GK_ISA_SYM(gk_dropout_table) = {
    .fwd_f32 = dropout_fwd_f32,
    .bwd_f32 = dropout_bwd_f32,
    .fwd_f64 = dropout_fwd_f64,
    .bwd_f64 = dropout_bwd_f64,
};
