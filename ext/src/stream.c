/* STREAM-like probe of this machine's memory roofline, measured in the same run as the
 * benchmarks it scores (DESIGN.md, "Performance").  Compiled per ISA like the kernels so
 * it uses the same vector width. */
#include "gk_internal.h"
#include "stream_kernels.h"

static double stream_scale(double *a, gk_index n, int reps)
{
    int nt = gk_threads_for(n);
    double best = 1e300;
    const double s = 0.999999, t = 1e-7;
    for (int r = 0; r < reps; ++r) {
        double t0 = gk_wall_seconds();
        #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
        for (gk_index i = 0; i < n; ++i)
            a[i] = s * a[i] + t;
        double dt = gk_wall_seconds() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

static double stream_copy(const double *a, double *b, gk_index n, int reps)
{
    int nt = gk_threads_for(n);
    double best = 1e300;
    for (int r = 0; r < reps; ++r) {
        double t0 = gk_wall_seconds();
        #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
        for (gk_index i = 0; i < n; ++i)
            b[i] = a[i];
        double dt = gk_wall_seconds() - t0;
        if (dt < best) best = dt;
    }
    return best;
}


/* ---- per-case limit probe ------------------------------------------------------------
 * The streams of a benchmark case moved with no arithmetic (gk_probe_streams in
 * common.h): per vector, the inputs are loaded and OR-ed, and the result is stored to
 * every output.  The lines are split statically over the threads, as the kernels split
 * their rows. */
#if defined(__AVX512F__)
typedef __m512i pv;
#define PV_BYTES 64
#define PV_ZERO() _mm512_setzero_si512()
#define PV_LOAD(p) _mm512_loadu_si512((const void *)(p))
#define PV_OR(a, b) _mm512_or_si512(a, b)
#define PV_STORE(p, v) _mm512_storeu_si512((void *)(p), v)
#define PV_STREAM(p, v) _mm512_stream_si512((void *)(p), v)
#define PV_WORD(v) ((uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(v)))
#elif defined(__AVX2__)
typedef __m256i pv;
#define PV_BYTES 32
#define PV_ZERO() _mm256_setzero_si256()
#define PV_LOAD(p) _mm256_loadu_si256((const __m256i *)(p))
#define PV_OR(a, b) _mm256_or_si256(a, b)
#define PV_STORE(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#define PV_STREAM(p, v) _mm256_stream_si256((__m256i *)(p), v)
#define PV_WORD(v) ((uint64_t)_mm_cvtsi128_si64(_mm256_castsi256_si128(v)))
#elif defined(__SSE2__)
typedef __m128i pv;
#define PV_BYTES 16
#define PV_ZERO() _mm_setzero_si128()
#define PV_LOAD(p) _mm_loadu_si128((const __m128i *)(p))
#define PV_OR(a, b) _mm_or_si128(a, b)
#define PV_STORE(p, v) _mm_storeu_si128((__m128i *)(p), v)
#define PV_STREAM(p, v) _mm_stream_si128((__m128i *)(p), v)
#define PV_WORD(v) ((uint64_t)_mm_cvtsi128_si64(v))
#else
typedef uint64_t pv;
#define PV_BYTES 8
#define PV_ZERO() ((uint64_t)0)
#define PV_LOAD(p) (*(const uint64_t *)(p))
#define PV_OR(a, b) ((a) | (b))
#define PV_STORE(p, v) (*(uint64_t *)(p) = (v))
#define PV_STREAM(p, v) PV_STORE(p, v)
#define PV_WORD(v) (v)
#endif

#define PROBE_MAX_STREAMS 16

/* vectors [v0, v1) of every stream; nt_mask bit s: output s is stored non-temporally
 * (and is aligned to PV_BYTES) */
static uint64_t probe_range(const char *const *in, int n_in, char *const *out, int n_out,
                            size_t v0, size_t v1, unsigned nt_mask)
{
    pv acc = PV_ZERO();
    for (size_t v = v0; v < v1; ++v) {
        const size_t at = v * PV_BYTES;
        pv x = PV_ZERO();
        for (int s = 0; s < n_in; ++s)
            x = PV_OR(x, PV_LOAD(in[s] + at));
        acc = PV_OR(acc, x);
        for (int s = 0; s < n_out; ++s) {
            if (nt_mask >> s & 1u)
                PV_STREAM(out[s] + at, x);
            else
                PV_STORE(out[s] + at, x);
        }
    }
    return PV_WORD(acc);
}

static uint64_t probe_streams(const void *const *in, int n_in, void *const *out, int n_out,
                              size_t bytes, gk_index work, int store)
{
    const char *ins[PROBE_MAX_STREAMS];
    char *outs[PROBE_MAX_STREAMS];
    unsigned nt_mask = 0;
    if (n_in > PROBE_MAX_STREAMS) n_in = PROBE_MAX_STREAMS;
    if (n_out > PROBE_MAX_STREAMS) n_out = PROBE_MAX_STREAMS;
    for (int s = 0; s < n_in; ++s) ins[s] = (const char *)in[s];
    for (int s = 0; s < n_out; ++s) {
        outs[s] = (char *)out[s];
        int inplace = 0;
        for (int r = 0; r < n_in; ++r) inplace |= ins[r] == outs[s];
        int nt = store < 0 ? bytes >= GK_STREAM_MIN_BYTES : store > 0;
        if (nt && !inplace && ((uintptr_t)outs[s] & (PV_BYTES - 1)) == 0)
            nt_mask |= 1u << s;
    }
    const size_t nvec = bytes / PV_BYTES;
    uint64_t word = 0;
    int nt = gk_threads_for(work);
    (void)nt;
    #pragma omp parallel num_threads(nt) if(nt > 1) reduction(|:word)
    {
#if GK_HAVE_OPENMP
        const size_t t = (size_t)omp_get_thread_num(), T = (size_t)omp_get_num_threads();
#else
        const size_t t = 0, T = 1;
#endif
        word |= probe_range(ins, n_in, outs, n_out, nvec * t / T, nvec * (t + 1) / T,
                            nt_mask);
        if (nt_mask) gk_sfence();
    }
    /* the tail shorter than one vector */
    for (size_t b = nvec * PV_BYTES; b < bytes; ++b) {
        unsigned char x = 0;
        for (int s = 0; s < n_in; ++s) x |= (unsigned char)ins[s][b];
        for (int s = 0; s < n_out; ++s) outs[s][b] = (char)x;
        word |= x;
    }
    return word;
}

const gk_stream_table GK_ISA_SYM(gk_stream_table) = {
    .scale = stream_scale,
    .copy = stream_copy,
    .probe = probe_streams,
};
