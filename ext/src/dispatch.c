/* Run-time choice of the kernel ISA, threads, the wall clock and build facts.
 *
 * Compiled once, with no ISA flags.  On first use it asks the CPU (cpuid, and xgetbv for
 * the register state the OS saves) which of the built kernel tables it can run and takes
 * the widest; the environment variable GRADKIT_SIMD=baseline|avx2|avx512|avx512_bf16 lowers
 * the choice (the tests use it to run every path this CPU has). */
/* clock_gettime under -std=c11 (glibc hides POSIX in strict C mode; macOS would hide
 * it with the macro set, and shows it without) */
#if !defined(_WIN32) && !defined(__APPLE__) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200112L
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if !defined(_WIN32)
#include <unistd.h>
#endif
#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#endif
#include "gk_internal.h"
#include "kernels.h"

/* The levels GRADKIT_SIMD names, widest first: a kernel table (id), and whether its
 * bfloat16 stores may use AVX512_BF16 (bf16: 1 yes, 0 no, 2 when this CPU has it -- a
 * native build, compiled for this very CPU).  avx512_bf16 is the AVX-512 table with
 * those instructions (gk_half.h: the same bits, fewer instructions); avx512 the same
 * table without them, so both paths run on a CPU that has the extension. */
static const struct { const char *name; int id; int bf16; } gk_isas[] = {
#if GK_BUILD_ISA_AVX512_BF16
    {"avx512_bf16", GK_ISA_AVX512, 1},
#endif
#if GK_BUILD_ISA_AVX512
    {"avx512", GK_ISA_AVX512, 0},
#endif
#if GK_BUILD_ISA_AVX2
    {"avx2", GK_ISA_AVX2, 0},
#endif
#if GK_BUILD_ISA_NATIVE
    {"native", GK_ISA_NATIVE, 2},
#endif
#if GK_BUILD_ISA_BASELINE
    {"baseline", GK_ISA_BASELINE, 0},
#endif
};
#define GK_N_ISAS ((int)(sizeof(gk_isas) / sizeof(gk_isas[0])))

/* ---- what this CPU and OS can run --------------------------------------------------
 * cpuid directly rather than __builtin_cpu_supports: clang 14 does not know "f16c",
 * and neither builtin checks every extension the AVX2 table is compiled with (BMI,
 * LZCNT, POPCNT).  A vector extension is usable only when the OS saves its registers
 * on a context switch: OSXSAVE set, and XCR0 (read by xgetbv) holding the SSE and AVX
 * state, plus the opmask and upper-ZMM state for AVX-512. */
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
static void gk_cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    int v[4];
    __cpuidex(v, (int)leaf, (int)sub);
    for (int i = 0; i < 4; ++i) r[i] = (unsigned)v[i];
}
static unsigned long long gk_xgetbv0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void gk_cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    r[0] = r[1] = r[2] = r[3] = 0;
    if (leaf > __get_cpuid_max(leaf & 0x80000000u, NULL))
        return;  /* a leaf the CPU lacks reads as "no features" */
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
/* inline asm rather than _xgetbv(), which needs -mxsave on this file */
static unsigned long long gk_xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

/* cpuid bits: leaf 1 ecx, leaf 7 ebx, leaf 0x80000001 ecx */
#define GK_L1C_FMA (1u << 12)
#define GK_L1C_POPCNT (1u << 23)
#define GK_L1C_OSXSAVE (1u << 27)
#define GK_L1C_AVX (1u << 28)
#define GK_L1C_F16C (1u << 29)
#define GK_L7B_BMI1 (1u << 3)
#define GK_L7B_AVX2 (1u << 5)
#define GK_L7B_BMI2 (1u << 8)
#define GK_L7B_ERMS (1u << 9)
#define GK_L7B_AVX512F (1u << 16)
#define GK_L7B_AVX512DQ (1u << 17)
#define GK_L7B_AVX512BW (1u << 30)
#define GK_L7B_AVX512VL (1u << 31)
#define GK_LX1C_LZCNT (1u << 5)
#define GK_L71A_AVX512_BF16 (1u << 5)  /* leaf 7 subleaf 1 eax */
/* XCR0: x87|SSE|AVX state, and opmask|ZMM_Hi256|Hi16_ZMM for AVX-512 */
#define GK_XCR0_AVX 0x6ull
#define GK_XCR0_AVX512 0xE6ull
#define GK_HAS(word, bits) (((word) & (bits)) == (bits))

/* the AVX-512 table can run and the CPU has AVX512_BF16 (its registers are AVX-512's) */
static int gk_cpu_can_run(int id);
static int gk_cpu_has_bf16(void)
{
    unsigned l7[4], l71[4];
    gk_cpuid(7, 0, l7);
    if (l7[0] < 1 || !gk_cpu_can_run(GK_ISA_AVX512))
        return 0;  /* leaf 7 has no subleaf 1 */
    gk_cpuid(7, 1, l71);
    return GK_HAS(l71[0], GK_L71A_AVX512_BF16);
}

/* an AMD CPU of family 1Ah (Zen 5) or later: leaf 0 vendor "AuthenticAMD", leaf 1 eax
 * base family 0xF plus the extended family */
static int gk_cpu_amd_family_1ah(void)
{
    unsigned l0[4], l1[4];
    gk_cpuid(0, 0, l0);
    /* ebx, edx, ecx spell "Auth" "enti" "cAMD" */
    if (l0[1] != 0x68747541u || l0[3] != 0x69746e65u || l0[2] != 0x444d4163u)
        return 0;
    gk_cpuid(1, 0, l1);
    const unsigned base = (l1[0] >> 8) & 0xf, ext = (l1[0] >> 20) & 0xff;
    return (base == 0xf ? base + ext : base) >= 0x1a;
}

/* enhanced rep movsb/stosb: string stores are fast (gk_fill_string) */
static int gk_cpu_has_erms(void)
{
    unsigned l7[4];
    gk_cpuid(7, 0, l7);
    return GK_HAS(l7[1], GK_L7B_ERMS);
}

static int gk_cpu_can_run(int id)
{
    unsigned l1[4], l7[4], lx1[4];
    if (id != GK_ISA_AVX2 && id != GK_ISA_AVX512)
        return 1;  /* baseline, and native (built for this very machine) */
    gk_cpuid(1, 0, l1);
    gk_cpuid(7, 0, l7);
    gk_cpuid(0x80000001u, 0, lx1);
    if (!GK_HAS(l1[2], GK_L1C_OSXSAVE))
        return 0;
    unsigned long long xcr0 = gk_xgetbv0();
    int avx2 = GK_HAS(xcr0, GK_XCR0_AVX) &&
               GK_HAS(l1[2], GK_L1C_AVX | GK_L1C_FMA | GK_L1C_F16C | GK_L1C_POPCNT) &&
               GK_HAS(l7[1], GK_L7B_AVX2 | GK_L7B_BMI1 | GK_L7B_BMI2) &&
               GK_HAS(lx1[2], GK_LX1C_LZCNT);
    if (id == GK_ISA_AVX2)
        return avx2;
    return avx2 && GK_HAS(xcr0, GK_XCR0_AVX512) &&
           GK_HAS(l7[1], GK_L7B_AVX512F | GK_L7B_AVX512DQ | GK_L7B_AVX512BW |
                         GK_L7B_AVX512VL);
}
#else
static int gk_cpu_can_run(int id)
{
    (void)id;
    return 1;  /* no x86 tables are built for other CPUs */
}
static int gk_cpu_has_bf16(void) { return 0; }
static int gk_cpu_has_erms(void) { return 0; }
static int gk_cpu_amd_family_1ah(void) { return 0; }
#endif

static int gk_level_runs(int i)
{
    return gk_cpu_can_run(gk_isas[i].id) && (gk_isas[i].bf16 != 1 || gk_cpu_has_bf16());
}

static int gk_select(void)
{
    const char *want = getenv("GRADKIT_SIMD");
    int start = 0;
    if (want && *want)
        for (int i = 0; i < GK_N_ISAS; ++i)
            if (strcmp(gk_isas[i].name, want) == 0) { start = i; break; }
    for (int i = start; i < GK_N_ISAS; ++i)
        if (gk_level_runs(i))
            return i;
    return GK_N_ISAS - 1;
}

/* Index into gk_isas, +1 (0 = not chosen yet).  A race on first use is benign: every
 * thread computes the same value. */
static int gk_chosen;

int gk_bf16_hw_flag;
int gk_erms_flag;
int gk_alias_avoid_flag;   /* gk_internal.h */

static int gk_alias_avoid_default(void) { return gk_cpu_amd_family_1ah() ? 1 : 2; }

int gk_get_alias_avoidance(void)
{
    int f = __atomic_load_n(&gk_alias_avoid_flag, __ATOMIC_RELAXED);
    if (!f) {
        f = gk_alias_avoid_default();
        __atomic_store_n(&gk_alias_avoid_flag, f, __ATOMIC_RELAXED);
    }
    return f - 1;
}

void gk_set_alias_avoidance(int value)
{
    __atomic_store_n(&gk_alias_avoid_flag,
                     value < 0 ? gk_alias_avoid_default() : value ? 2 : 1, __ATOMIC_RELAXED);
}

static inline int gk_chosen_index(void)
{
    int c = __atomic_load_n(&gk_chosen, __ATOMIC_RELAXED);
    if (!c) {
        c = gk_select() + 1;
        const int b = gk_isas[c - 1].bf16;
        __atomic_store_n(&gk_bf16_hw_flag, b == 2 ? gk_cpu_has_bf16() : b, __ATOMIC_RELAXED);
        /* the baseline table keeps the vector loops: it runs them where ERMS is
         * missing, and its tests cover them on a CPU that has it */
        __atomic_store_n(&gk_erms_flag,
                         gk_isas[c - 1].id != GK_ISA_BASELINE && gk_cpu_has_erms(),
                         __ATOMIC_RELAXED);
        (void)gk_get_alias_avoidance();   /* its default, unless already set */
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
#if GK_BUILD_ISA_AVX512_BF16
        ",avx512_bf16"
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

/* ---- the streamed-store threshold (gk_stream_output) ------------------------------
 * Half the last-level cache, at most GK_STREAM_MAX_DEFAULT.  The cache size comes from
 * sysfs on Linux (cpu0's highest cache level), sysconf elsewhere glibc has it, else
 * GK_STREAM_MIN_BYTES.  Why the cap: a VM reports its host's whole L3, of which it gets
 * a share; and an output smaller than the cache still ends in memory when the program's
 * working set is larger -- on an Intel Xeon guest reporting 300 MiB, six LayerNorms
 * back to back and their backwards, as in training (benchmarks/stream_chain.py), were
 * 1.35-1.48x faster with their 16 and 32 MiB activations streamed, though a loop over
 * one 32 MiB output (which keeps it in cache) was 1.7x faster with ordinary stores.
 * 0 = not chosen yet; a race on first use is benign (every thread computes the same
 * value). */
#define GK_STREAM_MAX_DEFAULT ((size_t)16 << 20)
static size_t gk_stream_min;

size_t gk_llc_bytes(void)
{
    size_t best = 0;
#if defined(__linux__)
    for (int i = 0; i < 8; ++i) {
        char path[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen(path, "r");
        if (!f) break;
        unsigned long v = 0;
        char unit = 0;
        if (fscanf(f, "%lu%c", &v, &unit) >= 1) {
            size_t b = (size_t)v;
            if (unit == 'K') b <<= 10;
            else if (unit == 'M') b <<= 20;
            else if (unit == 'G') b <<= 30;
            if (b > best) best = b;
        }
        fclose(f);
    }
#endif
#if defined(_SC_LEVEL3_CACHE_SIZE)
    if (!best) {
        long v = sysconf(_SC_LEVEL3_CACHE_SIZE);
        if (v > 0) best = (size_t)v;
    }
#endif
    return best;
}

static size_t gk_stream_default(void)
{
    const char *env = getenv("GRADKIT_STREAM_MIN_BYTES");
    if (env && *env) {
        char *end;
        unsigned long long v = strtoull(env, &end, 10);
        if (*end == '\0' && v > 0) return (size_t)v;
    }
    size_t llc = gk_llc_bytes();
    if (llc < ((size_t)2 << 20)) return GK_STREAM_MIN_BYTES;
    return llc / 2 < GK_STREAM_MAX_DEFAULT ? llc / 2 : GK_STREAM_MAX_DEFAULT;
}

size_t gk_get_stream_min_bytes(void)
{
    size_t s = __atomic_load_n(&gk_stream_min, __ATOMIC_RELAXED);
    if (!s) {
        s = gk_stream_default();
        __atomic_store_n(&gk_stream_min, s, __ATOMIC_RELAXED);
    }
    return s;
}

void gk_set_stream_min_bytes(size_t bytes)
{
    __atomic_store_n(&gk_stream_min, bytes ? bytes : gk_stream_default(), __ATOMIC_RELAXED);
}

/* Seconds on a monotonic wall clock, for the roofline probe.  Not omp_get_wtime, so a
 * build without OpenMP times the same way (clock() would count CPU time, and at a
 * coarse resolution). */
double gk_wall_seconds(void)
{
#if defined(_WIN32)
    LARGE_INTEGER now, freq;
    QueryPerformanceCounter(&now);
    QueryPerformanceFrequency(&freq);
    return (double)now.QuadPart / (double)freq.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}
