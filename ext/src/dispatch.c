/* Run-time choice of the kernel ISA, threads and build facts.
 *
 * Compiled once, with no ISA flags.  On first use it asks the CPU (cpuid through
 * __builtin_cpu_supports) which of the built kernel tables it can run and takes the
 * widest; the environment variable GRADKIT_SIMD=baseline|avx2|avx512 lowers the choice
 * (the tests use it to run every path this CPU has). */
#include <stdlib.h>
#include <string.h>
#include "gk_internal.h"
#include "kernels.h"

static const struct { const char *name; int id; } gk_isas[] = {  /* widest first */
#if GK_BUILD_ISA_AVX512
    {"avx512", GK_ISA_AVX512},
#endif
#if GK_BUILD_ISA_AVX2
    {"avx2", GK_ISA_AVX2},
#endif
#if GK_BUILD_ISA_NATIVE
    {"native", GK_ISA_NATIVE},
#endif
#if GK_BUILD_ISA_BASELINE
    {"baseline", GK_ISA_BASELINE},
#endif
};
#define GK_N_ISAS ((int)(sizeof(gk_isas) / sizeof(gk_isas[0])))

static int gk_cpu_can_run(int id)
{
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (id == GK_ISA_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi2");
    if (id == GK_ISA_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c");
#else
    (void)id;
#endif
    return 1;  /* baseline, and native (built for this very machine) */
}

static int gk_select(void)
{
    const char *want = getenv("GRADKIT_SIMD");
    int start = 0;
    if (want && *want)
        for (int i = 0; i < GK_N_ISAS; ++i)
            if (strcmp(gk_isas[i].name, want) == 0) { start = i; break; }
    for (int i = start; i < GK_N_ISAS; ++i)
        if (gk_cpu_can_run(gk_isas[i].id))
            return i;
    return GK_N_ISAS - 1;
}

/* Index into gk_isas, +1 (0 = not chosen yet).  A race on first use is benign: every
 * thread computes the same value. */
static int gk_chosen;

static inline int gk_chosen_index(void)
{
    int c = __atomic_load_n(&gk_chosen, __ATOMIC_RELAXED);
    if (!c) {
        c = gk_select() + 1;
        __atomic_store_n(&gk_chosen, c, __ATOMIC_RELAXED);
    }
    return c - 1;
}

int gk_isa_id(void) { return gk_isas[gk_chosen_index()].id; }

const char *gk_simd_level(void) { return gk_isas[gk_chosen_index()].name; }

const char *gk_simd_compiled(void)
{
    static const char *names =
#if GK_BUILD_ISA_BASELINE
        "baseline"
#endif
#if GK_BUILD_ISA_NATIVE
        "native"
#endif
#if GK_BUILD_ISA_AVX2
        ",avx2"
#endif
#if GK_BUILD_ISA_AVX512
        ",avx512"
#endif
        ;
    return names;
}

int gk_get_num_threads(void)
{
#if GK_HAVE_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void gk_set_num_threads(int n)
{
#if GK_HAVE_OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

int gk_have_openmp(void) { return GK_HAVE_OPENMP; }
