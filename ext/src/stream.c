/* STREAM-like probe of this machine's memory roofline, measured in the same run as the
 * benchmarks it scores (DESIGN.md, "Performance").  Compiled per ISA like the kernels so
 * it uses the same vector width. */
#include "gk_internal.h"
#include "stream_kernels.h"
#include "gk_half.h"

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
#define PV_LOAD_BYTE(x) _mm512_set1_epi8((char)(x))
#elif defined(__AVX2__)
typedef __m256i pv;
#define PV_BYTES 32
#define PV_ZERO() _mm256_setzero_si256()
#define PV_LOAD(p) _mm256_loadu_si256((const __m256i *)(p))
#define PV_OR(a, b) _mm256_or_si256(a, b)
#define PV_STORE(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#define PV_STREAM(p, v) _mm256_stream_si256((__m256i *)(p), v)
#define PV_WORD(v) ((uint64_t)_mm_cvtsi128_si64(_mm256_castsi256_si128(v)))
#define PV_LOAD_BYTE(x) _mm256_set1_epi8((char)(x))
#elif defined(__SSE2__)
typedef __m128i pv;
#define PV_BYTES 16
#define PV_ZERO() _mm_setzero_si128()
#define PV_LOAD(p) _mm_loadu_si128((const __m128i *)(p))
#define PV_OR(a, b) _mm_or_si128(a, b)
#define PV_STORE(p, v) _mm_storeu_si128((__m128i *)(p), v)
#define PV_STREAM(p, v) _mm_stream_si128((__m128i *)(p), v)
#define PV_WORD(v) ((uint64_t)_mm_cvtsi128_si64(v))
#define PV_LOAD_BYTE(x) _mm_set1_epi8((char)(x))
#else
typedef uint64_t pv;
#define PV_BYTES 8
#define PV_ZERO() ((uint64_t)0)
#define PV_LOAD(p) (*(const uint64_t *)(p))
#define PV_OR(a, b) ((a) | (b))
#define PV_STORE(p, v) (*(uint64_t *)(p) = (v))
#define PV_STREAM(p, v) PV_STORE(p, v)
#define PV_WORD(v) (v)
#define PV_LOAD_BYTE(x) ((uint64_t)(unsigned char)(x))
#endif

#define PROBE_MAX_STREAMS 16
#define PROBE_BLOCK 64      /* vectors of the longest stream per step */
/* A phased step: 2 KiB of the longest stream.  On an AMD EPYC (Zen 5) guest, reading
 * each step's inputs before walking it moved LayerNorm's forward streams (x -> y,
 * 8192x1024 float32 from memory) in 1.33 ms against the walk's 1.61 and the kernel's
 * 1.41 (which reads a row for its statistics, then writes it); steps of 1 KiB were
 * slower for two inputs, of 4 and 16 KiB slower for one. */
#define PROBE_PHASE_BYTES ((size_t)2048)

/* bytes [b0, b1) of a stream: vectors, then the bytes short of one */
static inline pv probe_read(const char *p, size_t b0, size_t b1, pv acc)
{
    size_t b = b0;
    for (; b + PV_BYTES <= b1; b += PV_BYTES)
        acc = PV_OR(acc, PV_LOAD(p + b));
    unsigned char x = 0;
    for (; b < b1; ++b) x |= (unsigned char)p[b];
    return PV_OR(acc, PV_LOAD_BYTE(x));
}

static inline void probe_write(char *p, size_t b0, size_t b1, pv x, int nt)
{
    size_t b = b0;
    if (nt)
        for (; b + PV_BYTES <= b1; b += PV_BYTES) PV_STREAM(p + b, x);
    else
        for (; b + PV_BYTES <= b1; b += PV_BYTES) PV_STORE(p + b, x);
    /* the bytes short of a vector: byte b of the vector's position, so that elements
     * keep their bytes (an output's start is element-aligned, and so is its first
     * vector-aligned byte) */
    unsigned char xb[PV_BYTES];
    __builtin_memcpy(xb, &x, sizeof xb);
    for (; b < b1; ++b) p[b] = (char)xb[b % PV_BYTES];
}

/* the share [num/den, (num+1)/den) of `bytes`, in whole vectors but for the last */
static inline size_t probe_cut(size_t bytes, size_t num, size_t den)
{
    if (num >= den) return bytes;
    return (size_t)((double)(bytes / PV_BYTES) * (double)num / (double)den) * PV_BYTES;
}

#define PROBE_WALK_OUT 4
/* the byte an output-only probe stores: not zero, which this machine (an AMD EPYC
 * guest) writes about twice as fast as other data, while the kernels write data */
#define PROBE_NO_INPUT 0x3f
/* Inputs (and ordinary-store outputs) are prefetched PROBE_AHEAD bytes ahead into every
 * cache level (locality 3, prefetcht0).  Not prefetchnta: on an Intel Xeon guest the
 * non-temporal hint kept lines out of the large L3, and the probe of a LayerNorm
 * forward on 64 MiB took 6.1 ms against the kernel's 4.6 (3.0 ms with prefetcht0). */
#ifndef PROBE_AHEAD
#define PROBE_AHEAD 2048
#endif

/* bytes [*b, b1) of the first n_in inputs and n_out outputs, which are all that long,
 * in steps of four vectors: every input is loaded and the OR stored to every output;
 * *b ends on the bytes short of a step (probe_read/probe_write take them) */
/* the cache lines of one walk step (four vectors), each prefetched.  Until 2026-12-07
 * two lines a step: where a vector is a line (AVX-512) half of every stream's lines
 * went unprefetched, and kernels that prefetch every line ran past their limit.  On an
 * AMD EPYC (Zen 5) guest, interleaved from memory: SGD with momentum on 16M float32
 * parameters, kernel 5.82 ms, limit 6.74 -> 5.79; AdamW 7.82, limit 9.79 -> 8.41;
 * LayerNorm backward 8192x1024 2.97, limit 2.69 -> 2.32 */
#define PROBE_STEP_LINES ((4 * PV_BYTES + 63) / 64)

GK_INLINE pv probe_walk(const char *const *ins, char *const *outs, const int *nts,
                        size_t *bp, size_t b1, pv x, int n_in, int n_out)
{
    size_t b = *bp;
    /* four vectors (128 or 256 bytes) of a stream before the next stream, as unrolled
     * kernels load them: one vector per stream in turn is slower on the same bytes */
    for (; b + 4 * PV_BYTES <= b1; b += 4 * PV_BYTES) {
        pv v0 = PV_LOAD_BYTE(n_in ? 0 : PROBE_NO_INPUT), v1 = v0, v2 = v0, v3 = v0;
        for (int s = 0; s < n_in; ++s) {
            for (size_t q = 0; q < PROBE_STEP_LINES * 64; q += 64)
                __builtin_prefetch(ins[s] + b + PROBE_AHEAD + q, 0, 3);
            v0 = PV_OR(v0, PV_LOAD(ins[s] + b));
            v1 = PV_OR(v1, PV_LOAD(ins[s] + b + PV_BYTES));
            v2 = PV_OR(v2, PV_LOAD(ins[s] + b + 2 * PV_BYTES));
            v3 = PV_OR(v3, PV_LOAD(ins[s] + b + 3 * PV_BYTES));
        }
        for (int s = 0; s < n_out; ++s) {
            char *o = outs[s] + b;
            if (nts[s]) {
                PV_STREAM(o, v0); PV_STREAM(o + PV_BYTES, v1);
                PV_STREAM(o + 2 * PV_BYTES, v2); PV_STREAM(o + 3 * PV_BYTES, v3);
            } else {
                for (size_t q = 0; q < PROBE_STEP_LINES * 64; q += 64)
                    __builtin_prefetch(o + PROBE_AHEAD + q, 1, 3);
                PV_STORE(o, v0); PV_STORE(o + PV_BYTES, v1);
                PV_STORE(o + 2 * PV_BYTES, v2); PV_STORE(o + 3 * PV_BYTES, v3);
            }
        }
        x = PV_OR(x, PV_OR(PV_OR(v0, v1), PV_OR(v2, v3)));
    }
    *bp = b;
    return x;
}

/* order[0..n): the streams of `longest` bytes first, then the others, each group in
 * its given order; returns how many are that long */
static int probe_longest_first(const size_t *bytes, int n, size_t longest, int *order)
{
    int m = 0, n_long = 0;
    for (int s = 0; s < n; ++s)
        if (bytes[s] == longest) order[m++] = s;
    n_long = m;
    for (int s = 0; s < n; ++s)
        if (bytes[s] != longest) order[m++] = s;
    return n_long;
}

/* the outputs filled with PROBE_NO_INPUT by gk_fill_string, each thread its share of
 * each (as the fill's tiles split); 0 when the CPU has no fast string stores */
static int probe_fill_string(void *const *out, const size_t *out_bytes, int n_out,
                             gk_index work)
{
    uint64_t pattern;
    __builtin_memset(&pattern, PROBE_NO_INPUT, sizeof pattern);
    if (!gk_fill_string(&pattern, 0, pattern)) return 0;   /* nothing written: no ERMS */
    int nt = gk_threads_for(work);
    (void)nt;
    #pragma omp parallel num_threads(nt) if(nt > 1)
    {
#if GK_HAVE_OPENMP
        const size_t t = (size_t)omp_get_thread_num(), T = (size_t)omp_get_num_threads();
#else
        const size_t t = 0, T = 1;
#endif
        for (int s = 0; s < n_out; ++s) {
            const size_t b0 = probe_cut(out_bytes[s], t, T), b1 = probe_cut(out_bytes[s], t + 1, T);
            gk_fill_string((char *)out[s] + b0, b1 - b0, pattern);
        }
    }
    return 1;
}

/* One position's streams, ready to walk: the longest first, streamed outputs from their
 * first vector-aligned byte, its steps. */
typedef struct {
    const char *ins[PROBE_MAX_STREAMS];
    char *outs[PROBE_MAX_STREAMS];
    int nts[PROBE_MAX_STREAMS];
    size_t ib[PROBE_MAX_STREAMS], ob[PROBE_MAX_STREAMS];
    int n_in, n_out, n_long_in, n_long_out, phased;
    size_t longest, nstep;
} probe_set;

static void probe_prepare(probe_set *ps, const void *const *in, const size_t *in_bytes,
                          int n_in, void *const *out, const size_t *out_bytes, int n_out,
                          int store, int schedule)
{
    int order[PROBE_MAX_STREAMS];
    char *out_at[PROBE_MAX_STREAMS];
    size_t out_len[PROBE_MAX_STREAMS];
    int out_nt[PROBE_MAX_STREAMS];
    size_t longest = 0;
    /* Outputs with non-temporal stores start at their first vector-aligned byte, the
     * bytes before it stored here, as the kernels do (gk_copy_nt, the aligned vector
     * loops of the streamed writers): a large NumPy array is 16 bytes past a page, and
     * falling back to ordinary stores there (a read of every line it overwrites) made
     * the limit slower than the kernels it scores. */
    for (int s = 0; s < n_out; ++s) {
        out_at[s] = (char *)out[s];
        out_len[s] = out_bytes[s];
        int inplace = 0;
        for (int r = 0; r < n_in; ++r) inplace |= in[r] == out[s];
        out_nt[s] = (store < 0 ? out_bytes[s] >= gk_get_stream_min_bytes() : store > 0) && !inplace;
        if (out_nt[s]) {
            size_t head = (PV_BYTES - ((uintptr_t)out_at[s] & (PV_BYTES - 1))) & (PV_BYTES - 1);
            if (head > out_len[s]) head = out_len[s];
            for (size_t i = 0; i < head; ++i) {   /* what the walk would store there */
                unsigned char v = n_in ? 0 : PROBE_NO_INPUT;
                for (int r = 0; r < n_in; ++r)
                    if (in_bytes[r] > i) v |= ((const unsigned char *)in[r])[i];
                out_at[s][i] = (char)v;
            }
            out_at[s] += head;
            out_len[s] -= head;
        }
    }
    for (int s = 0; s < n_in; ++s)
        if (in_bytes[s] > longest) longest = in_bytes[s];
    for (int s = 0; s < n_out; ++s)
        if (out_len[s] > longest) longest = out_len[s];
    /* the streams as long as the longest first: they are walked together below */
    ps->n_long_in = probe_longest_first(in_bytes, n_in, longest, order);
    for (int s = 0; s < n_in; ++s) {
        ps->ins[s] = (const char *)in[order[s]];
        ps->ib[s] = in_bytes[order[s]];
    }
    ps->n_long_out = probe_longest_first(out_len, n_out, longest, order);
    for (int s = 0; s < n_out; ++s) {
        ps->outs[s] = out_at[order[s]];
        ps->ob[s] = out_len[order[s]];
        ps->nts[s] = out_nt[order[s]];
    }
    ps->n_in = n_in;
    ps->n_out = n_out;
    ps->longest = longest;
    /* steps of PROBE_BLOCK vectors of the longest stream (PROBE_PHASE_BYTES when
     * phased); each stream moves its own share of a step, so streams of every length
     * are walked side by side */
    ps->phased = schedule == 1 && ps->n_long_in > 0;
    const size_t step = ps->phased ? PROBE_PHASE_BYTES : PROBE_BLOCK * PV_BYTES;
    ps->nstep = (longest + step - 1) / step;
}

/* step k of a prepared position; returns the OR of what it read (or stored) */
static pv probe_step(const probe_set *ps, size_t k)
{
    const int n_in = ps->n_in, n_out = ps->n_out;
    const int n_long_in = ps->n_long_in, n_long_out = ps->n_long_out;
    const size_t nstep = ps->nstep;
    /* the longest streams side by side, vector by vector, as a kernel walks its
     * element-wise streams (a block of one stream, then of the next, is slower than a
     * kernel when there are many) */
    size_t b = probe_cut(ps->longest, k, nstep);
    const size_t b1 = probe_cut(ps->longest, k + 1, nstep);
    pv x = PV_LOAD_BYTE(n_in ? 0 : PROBE_NO_INPUT);
    if (ps->phased)   /* the step's inputs first (the walk's prefetch brings them) */
        for (int s = 0; s < n_long_in; ++s)
            x = probe_read(ps->ins[s], b, b1, x);
    /* with the stream counts known to the compiler, the walk is straight-line code, as a
     * kernel's loop is */
    switch (n_long_out <= PROBE_WALK_OUT ? n_long_in * (PROBE_WALK_OUT + 1) + n_long_out : -1) {
#define PROBE_CASE_OUT(I, O) case (I) * (PROBE_WALK_OUT + 1) + (O): \
        x = probe_walk(ps->ins, ps->outs, ps->nts, &b, b1, x, I, O); break;
#define PROBE_CASE(I) PROBE_CASE_OUT(I, 0) PROBE_CASE_OUT(I, 1) PROBE_CASE_OUT(I, 2) \
        PROBE_CASE_OUT(I, 3) PROBE_CASE_OUT(I, 4)
    PROBE_CASE(0) PROBE_CASE(1) PROBE_CASE(2) PROBE_CASE(3) PROBE_CASE(4)
    PROBE_CASE(5) PROBE_CASE(6) PROBE_CASE(7) PROBE_CASE(8)
#undef PROBE_CASE
#undef PROBE_CASE_OUT
    default:
        x = probe_walk(ps->ins, ps->outs, ps->nts, &b, b1, x, n_long_in, n_long_out);
    }
    for (int s = 0; s < n_in; ++s) {
        const int full = s < n_long_in;
        x = probe_read(ps->ins[s], full ? b : probe_cut(ps->ib[s], k, nstep),
                       probe_cut(ps->ib[s], k + 1, nstep), x);
    }
    for (int s = 0; s < n_out; ++s) {
        const int full = s < n_long_out;
        probe_write(ps->outs[s], full ? b : probe_cut(ps->ob[s], k, nstep),
                    probe_cut(ps->ob[s], k + 1, nstep), x, ps->nts[s]);
    }
    return x;
}

/* count positions of n_in reads and n_out writes each (in[p * n_in + s], ...), in ONE
 * parallel region: the steps of all positions, in order, split evenly over the threads,
 * as the multi-tensor kernels split a list (multi.h) */
static uint64_t probe_streams(const void *const *in, const size_t *in_bytes, int n_in,
                              void *const *out, const size_t *out_bytes, int n_out,
                              gk_index count, gk_index work, int store, int schedule)
{
    if (n_in > PROBE_MAX_STREAMS || n_out > PROBE_MAX_STREAMS || count < 1)
        return 0;
    if (store == 2 && count == 1) {   /* a fill's stores: string stores, or non-temporal past its size */
        size_t out_longest = 0;
        for (int s = 0; s < n_out; ++s)
            if (out_bytes[s] > out_longest) out_longest = out_bytes[s];
        const int streams = gk_fill_streams(out_longest);
        if (n_in == 0 && !streams && probe_fill_string(out, out_bytes, n_out, work))
            return PROBE_NO_INPUT;
        store = streams;   /* else the fill's non-temporal or vector stores */
    } else if (store == 2) {
        store = -1;
    }
    probe_set one, *sets = &one;
    if (count > 1) {
        sets = (probe_set *)malloc(sizeof(probe_set) * (size_t)count);
        if (!sets) return 0;
    }
    size_t total = 0;
    int any_nt = 0;
    for (gk_index p = 0; p < count; ++p) {
        probe_prepare(sets + p, in + p * n_in, in_bytes + p * n_in, n_in, out + p * n_out,
                      out_bytes + p * n_out, n_out, store, schedule);
        total += sets[p].nstep;
        for (int s = 0; s < n_out; ++s) any_nt |= sets[p].nts[s];
    }
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
        pv acc = PV_ZERO();
        const size_t k0 = total * t / T, k1 = total * (t + 1) / T;
        size_t first = 0;   /* global index of position p's first step */
        for (gk_index p = 0; p < count && first < k1; first += sets[p].nstep, ++p) {
            const size_t lo = k0 > first ? k0 - first : 0;
            const size_t hi = k1 - first < sets[p].nstep ? k1 - first : sets[p].nstep;
            for (size_t k = lo; k < hi; ++k)
                acc = PV_OR(acc, probe_step(sets + p, k));
        }
        if (any_nt) gk_sfence();
        word |= PV_WORD(acc);
    }
    if (sets != &one) free(sets);
    return word;
}

/* ---- 16-bit conversions (gk_convert): tiles of elements fixed by their index ----- */
#define GK_CVT_TILE ((gk_index)1 << 14)

static void half_to_f32(int bf16, const uint16_t *src, float *dst, gk_index n)
{
    GK_TILE_LOOP(n, GK_CVT_TILE, t, 0) {
        const gk_index o = t * GK_CVT_TILE, len = gk_tile_len(t, n, GK_CVT_TILE);
        if (bf16) gk_half_to_f32_n(1, src + o, dst + o, len);
        else gk_half_to_f32_n(0, src + o, dst + o, len);
    }
}

static void f32_to_half(int bf16, const float *src, uint16_t *dst, gk_index n)
{
    GK_TILE_LOOP(n, GK_CVT_TILE, t, 0) {
        const gk_index o = t * GK_CVT_TILE, len = gk_tile_len(t, n, GK_CVT_TILE);
        if (bf16) gk_f32_to_half_n(1, src + o, dst + o, len);
        else gk_f32_to_half_n(0, src + o, dst + o, len);
    }
}

const gk_stream_table GK_ISA_SYM(gk_stream_table) = {
    .scale = stream_scale,
    .copy = stream_copy,
    .probe = probe_streams,
    .half_to_f32 = half_to_f32,
    .f32_to_half = f32_to_half,
    .half_path = GK_HALF_PATH,
#ifdef GK_HALF_PATH_HW_BF16
    .half_path_hw_bf16 = GK_HALF_PATH_HW_BF16,
#endif
};
