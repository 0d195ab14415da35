/* Internal helpers shared by the C kernels: ISA name mangling, templating by dtype,
 * thread choice.  Not installed. */
#ifndef GK_INTERNAL_H
#define GK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include "gradkit/gradkit.h"

#if GK_HAVE_OPENMP
#include <omp.h>
#endif

#define GK_CAT_(a, b) a##b
#define GK_CAT(a, b) GK_CAT_(a, b)
/* name_<isa>: the per-ISA symbols a kernel file exports (only its tables). */
#define GK_ISA_SYM(name) GK_CAT(GK_CAT(name, _), GK_ISA)
/* name_<sfx>: templated by dtype, SFX is f32 or f64 while a *_tmpl.h is included. */
#define GK_T(name) GK_CAT(GK_CAT(name, _), SFX)

#if defined(__GNUC__) || defined(__clang__)
#define GK_RESTRICT __restrict__
#define GK_INLINE static inline __attribute__((always_inline))
#else
#define GK_RESTRICT
#define GK_INLINE static inline
#endif

/* Seconds on a monotonic wall clock (dispatch.c), with or without OpenMP. */
double gk_wall_seconds(void);

/* Below this many elements of work a kernel runs on the calling thread: the fork/join
 * of a parallel region (~2-5 us) would cost more than it saves. */
#define GK_PARALLEL_MIN ((gk_index)1 << 15)

/* Threads a kernel uses for `work` elements: 1 for small work or when already inside a
 * parallel region, otherwise OpenMP's current setting.  Results never depend on it. */
static inline int gk_threads_for(gk_index work)
{
#if GK_HAVE_OPENMP
    if (work < GK_PARALLEL_MIN || omp_in_parallel())
        return 1;
    return omp_get_max_threads();
#else
    (void)work;
    return 1;
#endif
}

/* Reductions use GK_LANES independent double accumulators (the compiler maps them onto
 * vector registers: 4 AVX2 or 2 AVX-512 registers, so the adds do not wait on each
 * other) folded in a fixed tree, over fixed chunks of GK_CHUNK elements summed in
 * order.  The grouping is explicit, so the result is the same whatever the ISA, the
 * vector width or the way a long row is split across threads. */
#define GK_LANES 16
#define GK_CHUNK ((gk_index)4096)

/* Native-width vectors of doubles (GCC/Clang vector extensions): GK_VW doubles per
 * vector for the ISA this file is compiled for, GK_NACC of them hold the GK_LANES lanes
 * of a reduction.  Lane k always sums elements j + k, so the result is the same on
 * every ISA, and the code always vectorizes (the auto-vectorizer spills on the two-sum
 * loops). */
/* (GK_VD_BYTES, not GK_VBYTES: the templates that need vectors of their own element
 * type define and undefine GK_VBYTES themselves) */
#if defined(__AVX512F__)
#define GK_VD_BYTES 64
#elif defined(__AVX__)
#define GK_VD_BYTES 32
#else
#define GK_VD_BYTES 16
#endif
typedef double gk_vd __attribute__((vector_size(GK_VD_BYTES)));
typedef float gk_vf __attribute__((vector_size(GK_VD_BYTES / 2)));
#define GK_VW (GK_VD_BYTES / 8)
#define GK_NACC (GK_LANES / GK_VW)

/* kinds of row reductions (norm_tmpl.h row_moments) */
enum { GK_SUM, GK_SUMSQDEV, GK_SHIFTED, GK_SUMSQ };

GK_INLINE double gk_fold16(double *acc)
{
    for (int s = GK_LANES / 2; s > 0; s /= 2)
        for (int k = 0; k < s; ++k)
            acc[k] += acc[k + s];
    return acc[0];
}


/* A fixed partition of `rows` into tasks for reductions across rows (dweight, dbias,
 * BatchNorm statistics): each task accumulates its rows in order into its own double
 * partials, and the partials are added task by task in order.  It depends only on the
 * shape, never on the thread count, so the sums are bitwise reproducible.  At most 64
 * tasks, and at most 32 MiB of partials. */
static inline gk_index gk_row_tasks(gk_index rows, gk_index partial_doubles_per_task)
{
    gk_index t = rows / 16;
    if (t > 64) t = 64;
    if (partial_doubles_per_task > 0) {
        gk_index cap = ((gk_index)1 << 22) / partial_doubles_per_task;
        if (t > cap) t = cap;
    }
    return t < 1 ? 1 : t;
}

/* first row of task k of ntask over rows */
static inline gk_index gk_task_begin(gk_index k, gk_index ntask, gk_index rows)
{
    return (rows / ntask) * k + ((rows % ntask) * k) / ntask;
}

/* GK_VW floats from p (unaligned) as doubles.  GCC splits __builtin_convertvector into
 * halves, so the one-instruction conversion is spelled out where the ISA has it. */
#if defined(__AVX512F__) || defined(__AVX__) || defined(__SSE2__)
#include <immintrin.h>
#endif
GK_INLINE gk_vd gk_cvt_f32(const void *p)
{
#if defined(__AVX512F__)
    return (gk_vd)_mm512_cvtps_pd(_mm256_loadu_ps((const float *)p));
#elif defined(__AVX__)
    return (gk_vd)_mm256_cvtps_pd(_mm_loadu_ps((const float *)p));
#elif defined(__SSE2__)
    return (gk_vd)_mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)p)));
#else
    gk_vf f;
    __builtin_memcpy(&f, p, sizeof f);
    return __builtin_convertvector(f, gk_vd);
#endif
}

/* gk_fold16 of the lanes of GK_NACC accumulators, folding whole vectors first: lanes k
 * and k + 8, then k + 4, ... exactly as gk_fold16, so the same result. */
GK_INLINE double gk_fold_vec(gk_vd *a)
{
    for (int nv = GK_NACC; nv > 1; nv /= 2)
        for (int v = 0; v < nv / 2; ++v)
            a[v] += a[v + nv / 2];
    double l[GK_VW];
    __builtin_memcpy(l, &a[0], sizeof l);
    for (int s = GK_VW / 2; s > 0; s /= 2)
        for (int k = 0; k < s; ++k)
            l[k] += l[k + s];
    return l[0];
}

/* A loop over i in [0, n), on nt OpenMP threads, or inline without entering the OpenMP
 * runtime when nt == 1 (a parallel region, even with if(0), costs ~1 us). `nt` must be
 * a variable of that name. */
#define GK_PARALLEL_FOR(nt, i, n, ...) \
    do { \
        if ((nt) > 1) { \
            _Pragma("omp parallel for num_threads(nt) schedule(static)") \
            for (gk_index i = 0; i < (n); ++i) { __VA_ARGS__ } \
        } else { \
            for (gk_index i = 0; i < (n); ++i) { __VA_ARGS__ } \
        } \
    } while (0)

/* Non-temporal (streaming) copies for outputs larger than the last-level cache: the
 * stores go straight to memory instead of first reading each destination line into the
 * cache (write-allocate), so an output costs its own size in bus traffic, not twice.
 * Used above GK_STREAM_MIN_BYTES only: a smaller output is better left in cache for
 * whoever reads it next.  Callers issue gk_sfence() before their results are used. */
#define GK_STREAM_MIN_BYTES ((size_t)16 << 20)

GK_INLINE void gk_stream_f32(float *GK_RESTRICT dst, const float *GK_RESTRICT src,
                             gk_index n)
{
    gk_index j = 0;
#if defined(__AVX__)
    for (; j < n && ((uintptr_t)(dst + j) & 31); ++j) dst[j] = src[j];
    for (; j + 8 <= n; j += 8) _mm256_stream_ps(dst + j, _mm256_loadu_ps(src + j));
#elif defined(__SSE2__)
    for (; j < n && ((uintptr_t)(dst + j) & 15); ++j) dst[j] = src[j];
    for (; j + 4 <= n; j += 4) _mm_stream_ps(dst + j, _mm_loadu_ps(src + j));
#endif
    for (; j < n; ++j) dst[j] = src[j];
}

GK_INLINE void gk_stream_f64(double *GK_RESTRICT dst, const double *GK_RESTRICT src,
                             gk_index n)
{
    gk_index j = 0;
#if defined(__AVX__)
    for (; j < n && ((uintptr_t)(dst + j) & 31); ++j) dst[j] = src[j];
    for (; j + 4 <= n; j += 4) _mm256_stream_pd(dst + j, _mm256_loadu_pd(src + j));
#elif defined(__SSE2__)
    for (; j < n && ((uintptr_t)(dst + j) & 15); ++j) dst[j] = src[j];
    for (; j + 2 <= n; j += 2) _mm_stream_pd(dst + j, _mm_loadu_pd(src + j));
#endif
    for (; j < n; ++j) dst[j] = src[j];
}

GK_INLINE void gk_sfence(void)
{
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

/* the lanes of GK_NACC accumulators, for the scalar tail and the final fold */
GK_INLINE void gk_spill(const gk_vd *acc, double *lanes)
{
    for (int v = 0; v < GK_NACC; ++v)
        __builtin_memcpy(lanes + v * GK_VW, &acc[v], sizeof(gk_vd));
}

#endif
