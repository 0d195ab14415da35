/* Internal helpers shared by the C kernels: ISA name mangling, templating by dtype,
 * thread choice, the tile loop and the streamed writes.  Reductions are in reduce.h,
 * lists of arrays in multi.h.  Not installed. */
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
/* name_<sfx>: templated by dtype, SFX is f32 or f64 while a *_tmpl.h is included
 * (gk_each_dtype.h). */
#define GK_T(name) GK_CAT(GK_CAT(name, _), SFX)
/* A family's table for this ISA: ENTRIES(sfx) lists its per-dtype kernels, given for f32
 * and f64, then COMMON its dtype-free entries (may be empty).  GK_KERNEL(name, sfx) is
 * the entry .name_<sfx> = name_<sfx>, GK_ENTRY(field, impl, sfx) .field_<sfx> = impl_<sfx>. */
#define GK_ENTRY(field, impl, sfx) .field##_##sfx = impl##_##sfx,
#define GK_KERNEL(name, sfx) GK_ENTRY(name, name, sfx)
#define GK_DEFINE_ISA_TABLE(fam, ENTRIES, COMMON) \
    const gk_##fam##_table GK_ISA_SYM(gk_##fam##_table) = { ENTRIES(f32) ENTRIES(f64) COMMON }
/* the same for a family's 16-bit translation unit (<family>_half.c): its own table,
 * ENTRIES(f16) and ENTRIES(bf16) */
#define GK_DEFINE_HALF_ISA_TABLE(fam, ENTRIES) \
    const gk_##fam##_table GK_ISA_SYM(gk_##fam##_table) = { ENTRIES(f16) ENTRIES(bf16) }

#if defined(__GNUC__) || defined(__clang__)
#define GK_RESTRICT __restrict__
#define GK_INLINE static inline __attribute__((always_inline))
/* a task's whole share of a parallel loop: called, not inlined, so GK_PARALLEL_FOR's
 * parallel and one-thread branches share one copy of it (the call costs nothing beside
 * a task's rows; inlined twice, the norm family's code was twice the size) */
#define GK_TASK static __attribute__((noinline))
/* a few elements around a vector loop: one called copy, whatever the caller's constants */
#define GK_COLD static __attribute__((noinline, noclone))
#else
#define GK_TASK static
#define GK_COLD static
#define GK_RESTRICT
#define GK_INLINE static inline
#endif

/* 1 when the CPU has enhanced string stores (ERMS) and the table in use is not the
 * baseline one: gk_fill_string uses rep stos.  Set by dispatch.c with gk_bf16_hw_flag;
 * never changes a result. */
extern int gk_erms_flag
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((visibility("hidden")))
#endif
    ;

/* Whether the kernels work around 4K / 1 MiB aliasing (gk_alias_ahead and below): 2 yes,
 * 1 no (gk_set_alias_avoidance), 0 not chosen yet.  Set by dispatch.c when it chooses
 * the table, before any kernel runs, unless the caller set it first; either way the
 * same results.  A variable, not gk_get_alias_avoidance(): a call costs the vector
 * registers live across it. */
extern int gk_alias_avoid_flag
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((visibility("hidden")))
#endif
    ;

/* 1 when bfloat16 stores may round by AVX512_BF16 (gk_half.h): the CPU has it and the
 * level GRADKIT_SIMD leaves is avx512_bf16 (or a native build's).  Set by dispatch.c
 * when it chooses the table, before any kernel runs; a kernel that read 0 would give
 * the same bits by the integer rounding.  Hidden: one load, no GOT indirection. */
extern int gk_bf16_hw_flag
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((visibility("hidden")))
#endif
    ;

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

/* Scratch memory a kernel needs for one call (partial sums and the like), kept per
 * calling thread between calls: a fresh ~1 MiB block costs page faults (mmap) or a
 * memset (calloc) on every call, a tenth of the time of a 1e6-element kernel.
 * gk_scratch(bytes, &owned) gives at least `bytes` bytes (NULL when out of memory),
 * valid until the thread's next gk_scratch call from the same source file; blocks over
 * GK_SCRATCH_KEEP_BYTES are not kept (owned = 1).  Release with gk_scratch_done.
 * Call it outside parallel regions, once per kernel call. */
#define GK_SCRATCH_KEEP_BYTES ((size_t)8 << 20)

static inline void *gk_scratch(size_t bytes, int *owned)
{
    static _Thread_local void *kept = NULL;
    static _Thread_local size_t cap = 0;
    if (bytes == 0) bytes = 1;
    *owned = bytes > GK_SCRATCH_KEEP_BYTES;
    if (*owned)
        return malloc(bytes);
    if (bytes > cap) {
        free(kept);
        cap = bytes + bytes / 4;  /* headroom for a slightly larger next call */
        if (cap > GK_SCRATCH_KEEP_BYTES) cap = GK_SCRATCH_KEEP_BYTES;
        kept = malloc(cap);
        if (!kept) cap = 0;
    }
    return kept;
}

static inline void gk_scratch_done(void *p, int owned)
{
    if (owned) free(p);
}

/* elements of esize bytes from p's line start to p: where a piece of a streamed output
 * must end to end on a line (a line written in two parts is read for ownership) */
static inline gk_index gk_past_line(const void *p, size_t esize)
{
    return (gk_index)(((uintptr_t)p & 63) / esize);
}

/* the lines of bytes [from, to) of an array fetched into every cache level (a line
 * about to be read, or read and written) */
GK_INLINE void gk_prefetch_bytes(const char *base, size_t from, size_t to)
{
    for (size_t q = from; q < to; q += 64)
        __builtin_prefetch(base + q, 0, 3);
}

#if defined(__AVX512F__) || defined(__AVX__) || defined(__SSE2__)
#include <immintrin.h>
#endif

#if defined(__AVX512F__)
/* dword lane i holds i: the base of the lane shifts by a run-time count (the carried
 * lines of reduce_tmpl.h) */
GK_INLINE __m512i gk_iota16(void)
{
    return _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
}
#endif

/* The tile loop of kernels whose output is a function of the element index (random
 * numbers, dropout, fills): elements [0, n) in tiles of `tile` elements fixed by the
 * index, tile t in the loop body.  Tiles are split statically: a thread takes the same
 * tiles on every call, so an output that fits in cache stays in the cache of the core
 * that wrote it last (handed out dynamically, a 400 KB drop_path took 19 us at 2
 * threads, 11 us static, 15 us on one); a tile's output depends only on its index, so
 * the result does not depend on who computes it.  `fence` nonzero: the body streams its
 * stores, and each thread issues gk_sfence() once, after its last tile (the one-trip
 * loop around the tiles runs it; the tiles' `omp for` does not wait for the others).
 * A fence after every tile waits each time for the tile's stores to leave the write-
 * combining buffers: a float32 fill of 256 MB took 5.9 ms with one per 64 KiB tile,
 * 5.2 with one per thread; init.normal of 64 MB from memory 8.6-8.8 ms with one per
 * 8 KiB tile, 8.4-8.5 with one per thread (Intel Xeon guest, 2 threads). */
#define GK_TILE_LOOP(n, tile, t, fence) \
    const gk_index ntile_ = ((n) + (tile) - 1) / (tile); \
    const int nt_ = gk_threads_for(n), fence_ = (fence); \
    (void)nt_, (void)fence_;  /* read by the pragmas and the loop only */ \
    _Pragma("omp parallel num_threads(nt_) if(nt_ > 1)") \
    for (int once_ = 1; once_; once_ = 0, gk_sfence_if(fence_)) \
    _Pragma("omp for schedule(static) nowait") \
    for (gk_index t = 0; t < ntile_; ++t)

/* the length of tile t of the tile loop */
static inline gk_index gk_tile_len(gk_index t, gk_index n, gk_index tile)
{
    return n - t * tile < tile ? n - t * tile : tile;
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

/* Non-temporal (streaming) stores for outputs larger than the last-level cache: the
 * stores go straight to memory instead of first reading each destination line into the
 * cache (write-allocate), so an output costs its own size in bus traffic, not twice.
 * A kernel streams an output of at least gk_get_stream_min_bytes() bytes (half the
 * last-level cache, at most 16 MiB; dispatch.c) that is not written over one of its
 * inputs; a smaller output is better left in cache for whoever reads it next.  The
 * output is computed piece by piece into an L1 buffer of GK_STREAM_PIECE elements and
 * copied out (GK_WRITE_PIECES); each thread issues gk_sfence() after its streamed
 * stores.
 * GK_STREAM_MIN_BYTES is the threshold when the OS reports no cache size, and the
 * fixed size past which a choice that changes result bits (the norm backward's row
 * grouping) treats data as out of cache: it must depend on the shape only. */
#define GK_STREAM_MIN_BYTES ((size_t)16 << 20)
#define GK_STREAM_PIECE 1024

/* Whether the kernels avoid aliasing (gk_alias_avoid_flag): the three tests below hold
 * only then.  Off by default on AMD family 1Ah (Zen 5): there the plain loops cost
 * nothing under such aliasing, and walking backwards took BatchNorm (N,C,*)'s 16-bit
 * forward 1.36-1.64x and LayerNorm's bfloat16 1.11-1.15x as long, staging an AdamW
 * step 1.74x (in cache), buffering a LayerNorm backward's dx 1.6x. */
static inline int gk_alias_avoid_on(void)
{
    return __atomic_load_n(&gk_alias_avoid_flag, __ATOMIC_RELAXED) != 1;
}

/* 1 when y lies 1 to 2047 bytes past x modulo 4 KiB.  The CPU first matches a load
 * against the earlier stores still in flight by the low 12 address bits; a loop that
 * stores y[j] and then loads x a few vectors further on finds every such load "aliased"
 * to a store and waits for it (4K aliasing: a LayerNorm forward into an output 16 bytes
 * past its input modulo 4 KiB took 3x as long on the AMD EPYC guest; Intel cores document
 * the same effect).  On the Intel Xeon guest the match takes more bits, modulo 1 MiB (y
 * 16..64 bytes past x: 1.6-1.8x as long; 4 KiB + 16: no cost), which this test covers
 * too: such outputs are what malloc hands out when the arrays were allocated one after
 * another (16 bytes of header between them).  Such a loop
 * runs backwards instead: its loads are then at offsets the stores have passed. */
static inline int gk_alias_ahead(const void *y, const void *x)
{
    const uintptr_t d = ((uintptr_t)y - (uintptr_t)x) & 4095u;
    return d != 0 && d < 2048 && gk_alias_avoid_on();
}

/* 1 when y lies 1 to 255 bytes past x modulo 4 KiB: where the waits were measured (16
 * to 64 bytes past; 128 and more cost nothing on the Intel Xeon guest, at most 1.2x on
 * the AMD EPYC).  For a remedy that costs something itself (the optimizers' staging),
 * gk_alias_ahead's wide window is free only for a loop that can simply run backwards. */
static inline int gk_alias_near(const void *y, const void *x)
{
    const uintptr_t d = ((uintptr_t)y - (uintptr_t)x) & 4095u;
    return d != 0 && d < 256 && gk_alias_avoid_on();
}

/* 1 when y's address is x's plus `dist` bytes, give or take less than a line, modulo
 * 1 MiB.  The norm backward writes dx row by row while it reads the next rows of x and
 * dy: on the Intel Xeon guest a dx exactly one row past x or dy modulo 1 MiB (16 bytes
 * either way included) took 1.3-1.45x as long (rows of 1 to 64 KiB), where 64 bytes
 * either way, two rows, or one row plus 512 KiB cost nothing. */
static inline int gk_alias_line_at(const void *y, const void *x, size_t dist)
{
    const uintptr_t d = ((uintptr_t)y - (uintptr_t)x - (uintptr_t)dist + 63u)
                        & (((uintptr_t)1 << 20) - 1u);
    return d < 127u && gk_alias_avoid_on();
}

static inline int gk_stream_output(size_t bytes, const void *out, const void *in0,
                                   const void *in1)
{
    return bytes >= gk_get_stream_min_bytes() && out != in0 && out != in1;
}

/* copy `bytes` bytes (a multiple of the element size, dst aligned to it) with
 * non-temporal stores where the ISA has them */
GK_INLINE void gk_copy_nt(void *GK_RESTRICT dst, const void *GK_RESTRICT src,
                              size_t bytes)
{
    char *d = (char *)dst;
    const char *s = (const char *)src;
    size_t j = 0;
#if defined(__AVX512F__)
    enum { V = 64 };
    size_t head = (V - ((uintptr_t)d & (V - 1))) & (V - 1);
    if (head > bytes) head = bytes;
    __builtin_memcpy(d, s, head);
    for (j = head; j + V <= bytes; j += V)
        _mm512_stream_si512((void *)(d + j), _mm512_loadu_si512((const void *)(s + j)));
#elif defined(__AVX__) || defined(__SSE2__)
#if defined(__AVX__)
    enum { V = 32 };
#else
    enum { V = 16 };
#endif
    size_t head = (V - ((uintptr_t)d & (V - 1))) & (V - 1);
    if (head > bytes) head = bytes;
    __builtin_memcpy(d, s, head);
    for (j = head; j + V <= bytes; j += V) {
#if defined(__AVX__)
        _mm256_stream_si256((__m256i *)(d + j), _mm256_loadu_si256((const __m256i *)(s + j)));
#else
        _mm_stream_si128((__m128i *)(d + j), _mm_loadu_si128((const __m128i *)(s + j)));
#endif
    }
#endif
    __builtin_memcpy(d + j, s + j, bytes - j);
}

/* A run of non-temporal copies into consecutive parts of one output at any address
 * (gk_copy_nt writes the ends of each copy with ordinary stores, so a line that two
 * copies share is read for ownership and written twice): every whole line goes out
 * non-temporal; the line a part ends in is kept here and streamed whole once the next
 * part completes it, or stored as it is by gk_nt_run_end (a run's end, or a part that
 * does not continue the last).  Zero-initialize; call gk_nt_run_end before the fence. */
typedef struct {
    unsigned char buf[64] __attribute__((aligned(64)));
    char *line;   /* NULL: nothing kept */
    size_t have;  /* bytes kept, from the line's start */
} gk_nt_run;

/* the 64 bytes at src (any address) to the line dst with non-temporal stores (not
 * gk_copy_nt, whose per-call head and tail copies cost: through it, dropout into a NumPy
 * out= took 1.95-2.39 ms against 1.41-1.51, 8192x1024 float32, AMD EPYC Zen 5 guest) */
GK_INLINE void gk_stream_line(void *dst, const void *src)
{
#if defined(__AVX512F__)
    _mm512_stream_si512(dst, _mm512_loadu_si512(src));
#elif defined(__AVX__)
    _mm256_stream_si256((__m256i *)dst, _mm256_loadu_si256((const __m256i *)src));
    _mm256_stream_si256((__m256i *)dst + 1, _mm256_loadu_si256((const __m256i *)src + 1));
#elif defined(__SSE2__)
    for (int q = 0; q < 4; ++q)
        _mm_stream_si128((__m128i *)dst + q, _mm_loadu_si128((const __m128i *)src + q));
#else
    __builtin_memcpy(dst, src, 64);
#endif
}

GK_INLINE void gk_nt_run_end(gk_nt_run *r)
{
    if (r->line) __builtin_memcpy(r->line, r->buf, r->have);
    r->line = NULL;
}

GK_INLINE void gk_nt_run_put(gk_nt_run *GK_RESTRICT r, void *dst, const void *src,
                             size_t bytes)
{
    char *d = (char *)dst;
    const char *s = (const char *)src;
    if (r->line && r->line + r->have == d) {   /* the kept line goes on here */
        size_t take = 64 - r->have < bytes ? 64 - r->have : bytes;
        __builtin_memcpy(r->buf + r->have, s, take);
        r->have += take;
        d += take;
        s += take;
        bytes -= take;
        if (r->have < 64)
            return;
        gk_stream_line(r->line, r->buf);
        r->line = NULL;
    }
    gk_nt_run_end(r);
    size_t head = (64 - ((uintptr_t)d & 63)) & 63;
    if (head > bytes) head = bytes;
    __builtin_memcpy(d, s, head);   /* (a run's first part) */
    d += head;
    s += head;
    bytes -= head;
    for (; bytes >= 64; d += 64, s += 64, bytes -= 64)
        gk_stream_line(d, s);
    if (bytes) {
        __builtin_memcpy(r->buf, s, bytes);
        r->line = d;
        r->have = bytes;
    }
}

#if defined(__AVX512BW__)
/* The same for AVX-512, without the byte copies: the parts are computed into a buffer
 * aligned to a line (each part a multiple of 64 bytes but the run's last), and every
 * output line is two consecutive buffer lines shifted by the output's offset within a
 * line (one permute of 16-bit lanes, vpermt2w), streamed whole; only the run's first and
 * last lines, shared with whatever lies around it, go by ordinary stores.  dst must be
 * aligned to 2 bytes and not to 64 (an aligned output streams straight from the
 * registers).  8192x1024 float32 dropout from memory into NumPy's out= (16 bytes past a
 * line), 2 threads, AMD EPYC (Zen 5) guest: see dropout_tmpl.h. */
typedef struct {
    __m512i prev;    /* the buffer line before the next one */
    __m512i idx;     /* lane i: 16-bit element i + (64 - off) / 2 of (prev, next) */
    char *line;      /* the next output line to write */
    unsigned off;    /* the output's offset within its line (2..62, even) */
    int started;
} gk_nt_shift;

GK_INLINE void gk_nt_shift_begin(gk_nt_shift *s, void *dst)
{
    s->off = (unsigned)((uintptr_t)dst & 63);
    s->line = (char *)dst - s->off;
    s->started = 0;
    s->prev = _mm512_setzero_si512();
    s->idx = _mm512_add_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21,
                                               20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
                                               10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                              _mm512_set1_epi16((short)((64 - s->off) / 2)));
}

/* the run's next 64 bytes, in a register (a kernel's vector, no buffer) */
GK_INLINE void gk_nt_shift_push(gk_nt_shift *GK_RESTRICT s, __m512i cur)
{
    if (s->started) {
        _mm512_stream_si512((void *)s->line, _mm512_permutex2var_epi16(s->prev, s->idx, cur));
    } else {   /* the run's first line: its bytes before the run are not ours */
        unsigned char first[64] __attribute__((aligned(64)));
        _mm512_store_si512((void *)first, cur);
        __builtin_memcpy(s->line + s->off, first, 64 - s->off);
        s->started = 1;
    }
    s->line += 64;
    s->prev = cur;
}

/* the next part, `bytes` at buf (aligned to 64): its whole lines streamed; a part whose
 * size is not a multiple of 64 must be the run's last (then gk_nt_shift_end) */
GK_INLINE void gk_nt_shift_put(gk_nt_shift *GK_RESTRICT s, const void *buf, size_t bytes)
{
    const char *b = (const char *)buf;
    for (size_t q = 0; q + 64 <= bytes; q += 64)
        gk_nt_shift_push(s, _mm512_load_si512((const void *)(b + q)));
}

/* the run's end, after the put of its last part (buf, bytes as given there): the bytes
 * not yet written, the last whole buffer line's past the last output line and the
 * part's bytes past its last whole line, by ordinary stores */
GK_INLINE void gk_nt_shift_end(gk_nt_shift *GK_RESTRICT s, const void *buf, size_t bytes)
{
    const size_t rb = bytes % 64;
    const char *rest = (const char *)buf + (bytes - rb);
    if (!s->started) {
        __builtin_memcpy(s->line + s->off, rest, rb);
        return;
    }
    unsigned char last[64] __attribute__((aligned(64)));
    _mm512_store_si512((void *)last, s->prev);
    __builtin_memcpy(s->line, last + (64 - s->off), s->off);
    __builtin_memcpy(s->line + s->off, rest, rb);
}
#endif

/* copy `bytes` bytes from src at any address into dst (an L1 buffer), a vector at a
 * time with unaligned loads: for input not aligned to its elements, read as bytes into
 * an aligned buffer (the standardization's pieces, the projection's rows).  With
 * glibc's memcpy for the 4 KiB pieces instead, a standardize of 205 MB from an x 3
 * bytes off its alignment took 10 ms against 5.7 ms aligned on the Intel Xeon guest;
 * with this loop 5.7-5.8. */
GK_INLINE void gk_copy_unaligned(void *GK_RESTRICT dst, const void *GK_RESTRICT src,
                                 size_t bytes)
{
    char *d = (char *)dst;
    const char *s = (const char *)src;
    enum { V = 64 };   /* one line a step; the compiler picks the widest vectors */
    size_t j = 0;
    for (; j + V <= bytes; j += V) {
        char v[V];
        __builtin_memcpy(v, s + j, V);
        __builtin_memcpy(d + j, v, V);
    }
    __builtin_memcpy(d + j, s + j, bytes - j);
}

/* A fill (an output and no input: gradkit.init's constant fills, the probe of one)
 * streams its output from twice gk_get_stream_min_bytes() on: the threshold is half
 * the cache for a kernel that reads as much as it writes, and a fill's output is all
 * it touches.  Below that it fills with string stores (gk_fill_string), which write
 * whole lines without reading them first and leave them in cache.  On the Intel Xeon
 * guest (48 MiB threshold, 2 threads, one process), a float32 fill of 1e6 elements
 * took 49 us with rep stos against 65 with vector stores; of 64 MB 1.19 ms against
 * 1.29 non-temporal and 1.39 with vector stores; 96 MB 2.08 against 2.06
 * non-temporal; 128 MB 3.55 against 2.73; 256 MB 11.5 against 5.4. */
static inline int gk_fill_streams(size_t bytes)
{
    return bytes / 2 >= gk_get_stream_min_bytes();
}

/* bytes [p, p + bytes) set to the repeated 8-byte `pattern` (its bytes in memory
 * order from p on) with rep stos, where gk_erms_flag; returns 0 (nothing written)
 * where not, for the caller's vector loop */
GK_INLINE int gk_fill_string(void *p, size_t bytes, uint64_t pattern)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__atomic_load_n(&gk_erms_flag, __ATOMIC_RELAXED)) {
        void *d = p;
        size_t q = bytes / 8;
        __asm__ volatile("rep stosq" : "+D"(d), "+c"(q) : "a"(pattern) : "memory");
        __builtin_memcpy((char *)p + bytes / 8 * 8, &pattern, bytes % 8);
        return 1;
    }
#else
    (void)p; (void)bytes; (void)pattern;
#endif
    return 0;
}

GK_INLINE void gk_sfence(void)
{
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

GK_INLINE void gk_sfence_if(int streamed)
{
    if (streamed) gk_sfence();
}

/* Writes n elements of type T to out.  The statement after the arguments computes
 * elements [off, off + len) of the output into dst (declared by the macro): straight
 * into out + off, or, when `stream`, into the L1 buffer that is then copied out with
 * non-temporal stores (the caller fences). */
#define GK_WRITE_PIECES(T, out, n, stream, dst, off, len, ...) \
    do { \
        if (!(stream)) { \
            const gk_index off = 0, len = (n); \
            T *dst = (out);  /* may be an input (out=x): no restrict */ \
            __VA_ARGS__; \
            break; \
        } \
        T buf_[GK_STREAM_PIECE]; \
        for (gk_index off = 0; off < (n); off += GK_STREAM_PIECE) { \
            const gk_index len = (n) - off < GK_STREAM_PIECE ? (n) - off : GK_STREAM_PIECE; \
            T *dst = buf_; \
            __VA_ARGS__; \
            gk_copy_nt((out) + off, buf_, sizeof(T) * (size_t)len); \
        } \
    } while (0)

#endif
