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

#endif
