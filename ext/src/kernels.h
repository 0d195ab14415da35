/* Per-ISA kernel tables and run-time selection.
 *
 * A family's kernels (<family>.c) are compiled once per ISA; each build exports one
 * table gk_<family>_table_<isa> (its type is declared in <family>_kernels.h).  The
 * family's public entry points (<family>_api.c, compiled once) validate arguments and
 * call the table that GK_TABLE(<family>) selects for this CPU. */
#ifndef GK_KERNELS_H
#define GK_KERNELS_H

#include "gradkit/common.h"

enum { GK_ISA_BASELINE = 0, GK_ISA_AVX2 = 1, GK_ISA_AVX512 = 2, GK_ISA_NATIVE = 3 };

/* The ISA whose tables run here: the widest built one this CPU supports, lowered by
 * GRADKIT_SIMD=baseline|avx2|avx512|avx512_bf16 if set.  Chosen once (dispatch.c). */
int gk_isa_id(void);

#if GK_BUILD_ISA_AVX512
#define GK_CASE_AVX512(fam) case GK_ISA_AVX512: return &gk_##fam##_table_avx512;
#else
#define GK_CASE_AVX512(fam)
#endif
#if GK_BUILD_ISA_AVX2
#define GK_CASE_AVX2(fam) case GK_ISA_AVX2: return &gk_##fam##_table_avx2;
#else
#define GK_CASE_AVX2(fam)
#endif
#if GK_BUILD_ISA_BASELINE
#define GK_DEFAULT_TABLE(fam) &gk_##fam##_table_baseline
#else
#define GK_DEFAULT_TABLE(fam) &gk_##fam##_table_native
#endif

/* Declares the ISA tables of a family and defines `fam_table()` returning the one in
 * use.  Use once per family, in its _api.c. */
#define GK_DEFINE_TABLE_GETTER(fam) \
    extern const gk_##fam##_table gk_##fam##_table_baseline, gk_##fam##_table_avx2, \
        gk_##fam##_table_avx512, gk_##fam##_table_native; \
    static inline const gk_##fam##_table *fam##_table(void) \
    { \
        switch (gk_isa_id()) { \
            GK_CASE_AVX512(fam) \
            GK_CASE_AVX2(fam) \
            default: return GK_DEFAULT_TABLE(fam); \
        } \
    }

#endif
