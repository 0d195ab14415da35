/* Chunk reductions in double for element type T, on the lane loop of reduce.h.
 * Included once per dtype (gk_each_dtype.h) with T, TS and SFX defined.  Each sums over
 * x[0..n), normally one chunk; callers add the chunks in order.
 *
 * Data arrays are TS (T, or 16-bit storage: GK_HALF); every access to them goes through
 * the loads and stores below, which widen 16-bit storage to T exactly and round T to it
 * once (gk_half.h), so a template written with them serves every dtype. */

/* one element of a data array, as T */
GK_INLINE T GK_T(ld1)(const TS *p)
{
#if GK_HALF == 1
    return gk_f16_to_f32(*p);
#elif GK_HALF == 2
    return gk_bf16_to_f32(*p);
#else
    return *p;
#endif
}

/* ld1 for a value that is an operand of T arithmetic before anything is stored or
 * compared (gk_ld_f16v_arith's rule): float16 through F16C, as _Float16 where the
 * compiler has the type, so that loops of it vectorize to vcvtph2ps; else ld1 */
GK_INLINE T GK_T(ld1_arith)(const TS *p)
{
#if GK_HALF == 1 && defined(__F16C__) && defined(__FLT16_MAX__) && !defined(__clang__)
    _Float16 h;
    __builtin_memcpy(&h, p, sizeof h);
    return (T)h;
#else
    return GK_T(ld1)(p);
#endif
}

/* ld1_arith as a double, for sums in double: float16 through F16C's vcvtph2ps to float
 * first.  (double)ld1_arith(p) let GCC fold the two exact widenings into one from
 * _Float16 to double, which x86 has no instruction for: a call of libgcc's
 * __extendhfdf2 per element (88 call sites in the norm module), which took a float16
 * (N, C) BatchNorm backward to 4.5x bfloat16's time (3906x256 in cache, AMD EPYC (Zen 5)
 * guest: 53% of the samples in the helper).  The same value either way. */
GK_INLINE double GK_T(ld1_d)(const TS *p)
{
#if GK_HALF == 1 && defined(__F16C__)
    uint16_t u;
    __builtin_memcpy(&u, p, sizeof u);
    return (double)_cvtsh_ss(u);
#else
    return (double)GK_T(ld1_arith)(p);
#endif
}

/* store v (rounded once to 16-bit storage) */
GK_INLINE void GK_T(st1)(TS *p, T v)
{
#if GK_HALF == 1
    *p = gk_f32_to_f16(v);
#elif GK_HALF == 2
    *p = gk_f32_to_bf16(v);
#else
    *p = v;
#endif
}

/* GK_VW consecutive values of T as doubles (unaligned load) */
GK_INLINE gk_vd GK_T(ldvt)(const T *p)
{
    if (sizeof(T) == sizeof(float))
        return gk_ldv_f32((const float *)(const void *)p);
    return gk_ldv_f64((const double *)(const void *)p);
}

/* GK_VW consecutive elements of a data array as doubles (unaligned load) */
GK_INLINE gk_vd GK_T(ldv)(const TS *p)
{
#if GK_HALF == 1 && defined(__F16C__) && defined(__AVX512F__)
    /* F16C: what these values feed is double arithmetic, which quiets a NaN the same way
     * whether F16C already did (gk_ld_f16v_arith's rule) */
    return (gk_vd)_mm512_cvtps_pd(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p)));
#elif GK_HALF == 1 && defined(__F16C__)
    return (gk_vd)_mm256_cvtps_pd(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(const void *)p)));
#elif GK_HALF == 2 && defined(__SSE2__) && defined(__x86_64__) && !defined(__AVX512F__)
    /* the GK_VW bfloat16 (4 with AVX, 2 without) interleaved under zeros: their float32
     * values, then doubles */
#if defined(__AVX__)
    const __m128i h = _mm_loadl_epi64((const __m128i *)(const void *)p);
    return (gk_vd)_mm256_cvtps_pd(_mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), h)));
#else
    int32_t two;
    __builtin_memcpy(&two, p, sizeof two);
    const __m128i h = _mm_cvtsi32_si128(two);
    return (gk_vd)_mm_cvtps_pd(_mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), h)));
#endif
#elif GK_HALF
    T f[GK_VW];
    for (int k = 0; k < GK_VW; ++k) f[k] = GK_T(ld1)(p + k);
    return GK_T(ldvt)(f);
#else
    return GK_T(ldvt)(p);
#endif
}

/* GK_TVLEN elements of T in a vector, for the exact reductions; GCC does not vectorize
 * a min/max reduction written as a loop without -ffinite-math-only */
typedef T GK_T(tvec) __attribute__((vector_size(GK_TVBYTES)));
typedef GK_TI GK_T(tmask) __attribute__((vector_size(GK_TVBYTES)));
#define GK_TVLEN ((int)(GK_TVBYTES / sizeof(T)))

/* bytes of data storage one vector of GK_TVLEN elements spans */
#define GK_SVBYTES ((int)(GK_TVLEN * sizeof(TS)))

/* The elements of a data array from p before its first address aligned to a vector's
 * width (GK_SVBYTES), where an output loop's stores start so that none straddles two
 * lines; -1 when p is not aligned to its element */
GK_INLINE gk_index GK_T(vec_head)(const TS *p)
{
    const uintptr_t a = (uintptr_t)p;
    if (a % sizeof(TS)) return -1;
    return (gk_index)(((GK_SVBYTES - (a & (GK_SVBYTES - 1))) & (GK_SVBYTES - 1)) / sizeof(TS));
}

/* GK_TVLEN elements of a data array as a vector of T (unaligned) */
GK_INLINE GK_T(tvec) GK_T(ldtv)(const TS *p)
{
#if GK_HALF == 1
    return gk_ld_f16v(p);
#elif GK_HALF == 2
    return gk_ld_bf16v(p);
#else
    GK_T(tvec) v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
#endif
}

/* store a vector of T into a data array (unaligned; rounded once to 16-bit storage) */
GK_INLINE void GK_T(sttv)(TS *p, GK_T(tvec) v)
{
#if GK_HALF == 1
    gk_st_f16v(p, v);
#elif GK_HALF == 2
    gk_st_bf16v(p, v);
#else
    __builtin_memcpy(p, &v, sizeof v);
#endif
}

/* ldtv and sttv for values that are operands (loads) or results (stores) of T
 * arithmetic -- a template whose every access to a data array is one, as the norms':
 * float16 goes through F16C without the NaN check, the same bits for such values
 * (gk_ld_f16v_arith); the other dtypes as ldtv/sttv */
GK_INLINE GK_T(tvec) GK_T(ldtv_arith)(const TS *p)
{
#if GK_HALF == 1
    return gk_ld_f16v_arith(p);
#else
    return GK_T(ldtv)(p);
#endif
}

GK_INLINE void GK_T(sttv_arith)(TS *p, GK_T(tvec) v)
{
#if GK_HALF == 1
    gk_hs h = gk_f32v_to_f16_arith(v);
    __builtin_memcpy(p, &h, sizeof h);
#else
    GK_T(sttv)(p, v);
#endif
}

/* m ? a : b, lane by lane */
GK_INLINE GK_T(tvec) GK_T(tsel)(GK_T(tmask) m, GK_T(tvec) a, GK_T(tvec) b)
{
    return (GK_T(tvec))(((GK_T(tmask))a & m) | ((GK_T(tmask))b & ~m));
}

/* v < a ? v : a and v > a ? v : a, lane by lane, for the exact reductions (a NaN in v,
 * or v == a, gives a).  That is what minps(v, a) and maxps(v, a) compute, so with AVX
 * each is one instruction, where GCC leaves the select as a compare and a blend (or
 * and/andn/or). */
GK_INLINE GK_T(tvec) GK_T(tmin)(GK_T(tvec) v, GK_T(tvec) a)
{
#if GK_TVBYTES == 64
    if (sizeof(T) == sizeof(float))
        return (GK_T(tvec))_mm512_min_ps((__m512)v, (__m512)a);
    return (GK_T(tvec))_mm512_min_pd((__m512d)v, (__m512d)a);
#elif GK_TVBYTES == 32
    if (sizeof(T) == sizeof(float))
        return (GK_T(tvec))_mm256_min_ps((__m256)v, (__m256)a);
    return (GK_T(tvec))_mm256_min_pd((__m256d)v, (__m256d)a);
#else
    return GK_T(tsel)(v < a, v, a);
#endif
}

GK_INLINE GK_T(tvec) GK_T(tmax)(GK_T(tvec) v, GK_T(tvec) a)
{
#if GK_TVBYTES == 64
    if (sizeof(T) == sizeof(float))
        return (GK_T(tvec))_mm512_max_ps((__m512)v, (__m512)a);
    return (GK_T(tvec))_mm512_max_pd((__m512d)v, (__m512d)a);
#elif GK_TVBYTES == 32
    if (sizeof(T) == sizeof(float))
        return (GK_T(tvec))_mm256_max_ps((__m256)v, (__m256)a);
    return (GK_T(tvec))_mm256_max_pd((__m256d)v, (__m256d)a);
#else
    return GK_T(tsel)(v > a, v, a);
#endif
}

/* store the vector v at p (aligned to GK_SVBYTES) with a non-temporal store where the
 * ISA has one (streamed outputs, gk_stream_output; the caller fences); v is the result
 * of arithmetic, as for sttv_arith */
GK_INLINE void GK_T(stream_vec)(TS *p, GK_T(tvec) v)
{
#if GK_HALF == 1
    gk_stream_hs(p, gk_f32v_to_f16_arith(v));
#elif GK_HALF == 2
    gk_stream_hs(p, gk_f32v_to_bf16(v));
#elif defined(__AVX512F__)
    if (sizeof(T) == sizeof(float)) _mm512_stream_ps((float *)(void *)p, (__m512)v);
    else _mm512_stream_pd((double *)(void *)p, (__m512d)v);
#elif defined(__AVX__)
    if (sizeof(T) == sizeof(float)) _mm256_stream_ps((float *)(void *)p, (__m256)v);
    else _mm256_stream_pd((double *)(void *)p, (__m256d)v);
#elif defined(__SSE2__)
    if (sizeof(T) == sizeof(float)) _mm_stream_ps((float *)(void *)p, (__m128)v);
    else _mm_stream_pd((double *)(void *)p, (__m128d)v);
#else
    __builtin_memcpy(p, &v, sizeof v);
#endif
}

/* Two vectors, a at p and b after it, with non-temporal stores (the caller fences): the
 * bits of two stream_vec.  bfloat16 on AVX-512: one 64-byte store of the pair rounded
 * together (one check of the pair for AVX512_BF16, one vcvtne2ps2bf16), p on a line,
 * where a vector is half a line: a LayerNorm forward of 8192x1024 bfloat16 from memory,
 * 2 threads of the Intel Xeon guest, 0.97-0.98 -> 0.935-0.94 ms, RMSNorm 1-3% (float16
 * pairs, two vcvtps2ph and one store, were 1-6% slower: not used).  GK_STREAM_PAIR: 1
 * where a pair is one store (p must then be on a line), 0 where it is two stream_vec. */
#undef GK_STREAM_PAIR  /* per instantiation */
#if GK_HALF == 2 && GK_TVBYTES == 64 && defined(__AVX512BW__)
#define GK_STREAM_PAIR 1
#else
#define GK_STREAM_PAIR 0
#endif
GK_INLINE void GK_T(stream_vec2)(TS *p, GK_T(tvec) a, GK_T(tvec) b)
{
#if GK_STREAM_PAIR
    _mm512_stream_si512((void *)p, gk_bf16v2_pack(a, b));
#else
    GK_T(stream_vec)(p, a);
    GK_T(stream_vec)(p + GK_TVLEN, b);
#endif
}

/* elements [lo, hi) of v, as sttv_arith would store v at p (any address), and no
 * others: a streamed row's ends.  The whole vector stored unaligned at a row's start or
 * end also covers part of a line the row's non-temporal stores write; such a line, read
 * for ownership by the one store and written past the cache by the others, cost a
 * LayerNorm forward of 8192x1024 float32 into a y 16 bytes past a line (as NumPy
 * places a large array) 2.5-3.4 ms against 1.8-1.9 with y on a line (Intel Xeon
 * guest, from memory, 2 threads); with the ends' own elements only, 1.9-2.1. */
GK_INLINE void GK_T(store_lanes)(TS *p, GK_T(tvec) v, gk_index lo, gk_index hi)
{
    TS tmp[GK_TVLEN];
    GK_T(sttv_arith)(tmp, v);
    __builtin_memcpy(p + lo, tmp + lo, sizeof(TS) * (size_t)(hi - lo));
}

/* The line a streamed row shares with the next row of a thread's run (rows that do not
 * end on a line): the row's elements on it are kept here and streamed with the next
 * row's as one whole line, where store_lanes stored each row's part with ordinary
 * stores and the line was read for ownership twice.  Used where a storage vector is a
 * line (GK_SVBYTES 64: AVX-512, T == TS); elsewhere GK_CARRY_ON is 0 and the ends go
 * by store_lanes.  keep: the row being written is followed by one of the same run.
 * 8192x1024 float32 from memory into NumPy's out= (16 bytes past a line), 2 threads,
 * Intel Xeon guest: LayerNorm forward 1.91 -> 1.79 ms, RMSNorm 1.75 -> 1.61, BatchNorm
 * (N,C) forward 2.07-2.11 -> 1.78-1.82; rows of 1000 columns from the output cache
 * (a line shared every other row) 1.79 -> 1.67.  On AVX-512 the kept lanes move by one
 * permute of dwords, not a glibc memcpy call per row end (4% of a BatchNorm (N,C)
 * forward's profile into NumPy's out=): the RMSNorm forward 0.57-0.60 -> 0.54-0.57 ms,
 * the LayerNorm and BatchNorm forwards within their noise (AMD EPYC Zen 5 guest,
 * 8192x1024 float32, 2 threads, interleaved). */
#define GK_CARRY_ON (GK_SVBYTES == 64 && sizeof(TS) == sizeof(T))
typedef struct {
    TS *line;       /* NULL: nothing kept */
    gk_index have;  /* elements kept, from the line's start */
    int keep;
    GK_T(tvec) v;   /* the line's elements, lane k the line's element k */
} GK_T(carry);

/* the kept elements stored as they are (a run's end) */
GK_INLINE void GK_T(carry_flush)(GK_T(carry) *c)
{
    if (c->line)
        __builtin_memcpy(c->line, &c->v, sizeof(TS) * (size_t)c->have);
    c->line = NULL;
}

/* elements [lo, GK_TVLEN) of v, stored at p: a row's last ones, p + lo on a line */
GK_INLINE void GK_T(carry_tail)(GK_T(carry) *c, TS *p, GK_T(tvec) v, gk_index lo)
{
    if (!c->keep) {
        GK_T(store_lanes)(p, v, lo, GK_TVLEN);
        return;
    }
    GK_T(carry_flush)(c);   /* a line kept before and not completed (none in the norms) */
#if defined(__AVX512F__)
    if (GK_CARRY_ON) {   /* lanes [lo, W) down to [0, W - lo): one permute of dwords */
        const __m512i idx = _mm512_and_si512(
            _mm512_add_epi32(gk_iota16(), _mm512_set1_epi32((int)(lo * sizeof(T) / 4))),
            _mm512_set1_epi32(15));
        __m512i w;
        __builtin_memcpy(&w, &v, sizeof w);
        w = _mm512_permutexvar_epi32(idx, w);
        __builtin_memcpy(&c->v, &w, sizeof w);
        c->line = p + lo;
        c->have = GK_TVLEN - lo;
        return;
    }
#endif
    TS tmp[2 * GK_TVLEN];
    GK_T(sttv_arith)(tmp, v);
    __builtin_memcpy(&c->v, tmp + lo, sizeof(TS) * (size_t)(GK_TVLEN - lo));
    c->line = p + lo;
    c->have = GK_TVLEN - lo;
}

/* elements [0, hi) of v, stored at p: a row's first ones, p + hi on a line.  With the
 * kept elements before them they fill the line, streamed whole; else they go by
 * store_lanes (and what was kept, by carry_flush). */
GK_INLINE void GK_T(carry_head)(GK_T(carry) *c, TS *p, GK_T(tvec) v, gk_index hi)
{
    if (c->line && c->line + c->have == p && c->have + hi == GK_TVLEN) {
#if defined(__AVX512F__)
        if (GK_CARRY_ON) {   /* v's lanes [0, hi) up to [have, W), blended in */
            const int hd = (int)(c->have * (gk_index)sizeof(T) / 4);
            const __m512i idx = _mm512_and_si512(
                _mm512_sub_epi32(gk_iota16(), _mm512_set1_epi32(hd)), _mm512_set1_epi32(15));
            __m512i w, k;
            __builtin_memcpy(&w, &v, sizeof w);
            __builtin_memcpy(&k, &c->v, sizeof k);
            k = _mm512_mask_mov_epi32(k, (__mmask16)(0xFFFFu << hd),
                                      _mm512_permutexvar_epi32(idx, w));
            __builtin_memcpy(&c->v, &k, sizeof k);
            GK_T(stream_vec)(c->line, c->v);
            c->line = NULL;
            return;
        }
#endif
        TS tmp[GK_TVLEN];
        GK_T(sttv_arith)(tmp, v);
        __builtin_memcpy((TS *)(void *)&c->v + c->have, tmp, sizeof(TS) * (size_t)hi);
        GK_T(stream_vec)(c->line, c->v);
        c->line = NULL;
        return;
    }
    GK_T(carry_flush)(c);
    GK_T(store_lanes)(p, v, 0, hi);
}

/* Software prefetch of the lines GK_PF_AHEAD bytes past p[0, n) into every cache level,
 * for a pass whose input comes from memory: the hardware prefetcher alone left a
 * streamed LayerNorm forward at 65-80% of its probe on an Intel Xeon guest, 2 KB ahead
 * took it to 80-85% (the probe prefetches as far ahead).  Locality 3 (prefetcht0),
 * not the non-temporal hint, which kept lines out of that machine's L3.  Past the end
 * of the data the hint is harmless: prefetches do not fault. */
#ifndef GK_PF_AHEAD
#define GK_PF_AHEAD 2048
#endif
GK_INLINE void GK_T(prefetch_ahead)(const TS *p, gk_index n)
{
    for (size_t o = 0; o < (size_t)n * sizeof(TS); o += 64)
        __builtin_prefetch((const char *)p + GK_PF_AHEAD + o, 0, 3);
}

/* V(o), a lane sum's term, with the line GK_PF_AHEAD bytes past base + o prefetched
 * first (the lane sums of inputs that come from memory) */
#ifndef GK_PF_THEN
#define GK_PF_THEN(base, o, V) \
    (__builtin_prefetch((const char *)((base) + (o)) + GK_PF_AHEAD, 0, 3), V(o))
#endif

/* the terms of the sums below: V for GK_VW elements from o, S for element o */
#define GK_X_V(o) GK_T(ldv)(x + (o))
#define GK_X_S(o) ((double)GK_T(ld1)(x + (o)))
#define GK_D_V(o) (GK_X_V(o) - s)            /* x - s */
#define GK_D_S(o) (GK_X_S(o) - s)
#define GK_D2_V(o) (GK_D_V(o) * GK_D_V(o))   /* (x - s)^2 */
#define GK_D2_S(o) (GK_D_S(o) * GK_D_S(o))
#define GK_ABS_V(o) gk_vabs(GK_X_V(o))       /* |x| */
#define GK_ABS_S(o) fabs(GK_X_S(o))
#define GK_AB_V(o) (GK_T(ldv)(a + (o)) * GK_T(ldv)(b + (o)))   /* a b */
#define GK_AB_S(o) ((double)GK_T(ld1)(a + (o)) * (double)GK_T(ld1)(b + (o)))
#define GK_GD_V(o) (GK_T(ldv)(g + (o)) * GK_D_V(o))            /* g (x - s) */
#define GK_GD_S(o) ((double)GK_T(ld1)(g + (o)) * GK_D_S(o))
#define GK_G_V(o) GK_T(ldv)(g + (o))
#define GK_G_S(o) ((double)GK_T(ld1)(g + (o)))

/* sum_j (x[j] - s); s = 0 gives the plain sum */
GK_INLINE double GK_T(chunk_sum)(const TS *GK_RESTRICT x, gk_index n, double s)
{
    double r;
    GK_LANE_SUM(n, r, GK_D_V, GK_D_S);
    return r;
}

/* sum_j (x[j] - s)^2; s = 0 gives the sum of squares */
GK_INLINE double GK_T(chunk_sumsq)(const TS *GK_RESTRICT x, gk_index n, double s)
{
    double r;
    GK_LANE_SUM(n, r, GK_D2_V, GK_D2_S);
    return r;
}

/* chunk_sumsq(x, n, 0) of an input that comes from memory: the same sums, with the
 * lines GK_PF_AHEAD bytes ahead prefetched (the hardware prefetcher alone left a 128 MiB
 * norm pass at 66% of a read probe on an Intel Xeon guest) */
GK_INLINE double GK_T(chunk_sumsq_far)(const TS *GK_RESTRICT x, gk_index n)
{
    const double s = 0.0;
    double r;
#define GK_D2F_V(o) GK_PF_THEN(x, o, GK_D2_V)
    GK_LANE_SUM(n, r, GK_D2F_V, GK_D2_S);
#undef GK_D2F_V
    return r;
}

/* sum_j |x[j]| */
GK_INLINE double GK_T(chunk_sumabs)(const TS *GK_RESTRICT x, gk_index n)
{
    double r;
    GK_LANE_SUM(n, r, GK_ABS_V, GK_ABS_S);
    return r;
}

/* chunk_sumabs of an input that comes from memory (as chunk_sumsq_far) */
GK_INLINE double GK_T(chunk_sumabs_far)(const TS *GK_RESTRICT x, gk_index n)
{
    double r;
#define GK_ABSF_V(o) GK_PF_THEN(x, o, GK_ABS_V)
    GK_LANE_SUM(n, r, GK_ABSF_V, GK_ABS_S);
#undef GK_ABSF_V
    return r;
}

/* sum_j a[j] b[j] */
GK_INLINE double GK_T(chunk_dot)(const TS *GK_RESTRICT a, const TS *GK_RESTRICT b, gk_index n)
{
    double r;
    GK_LANE_SUM(n, r, GK_AB_V, GK_AB_S);
    return r;
}

/* sum_j g[j] (x[j] - s) */
GK_INLINE double GK_T(chunk_dot_shifted)(const TS *GK_RESTRICT g, const TS *GK_RESTRICT x,
                                         gk_index n, double s)
{
    double r;
    GK_LANE_SUM(n, r, GK_GD_V, GK_GD_S);
    return r;
}

/* sum_j d and sum_j d^2 with d = x[j] - s (one pass of shifted sums) */
GK_INLINE void GK_T(chunk_shifted)(const TS *GK_RESTRICT x, gk_index n, double s,
                                   double *sum_d, double *sum_d2)
{
    GK_LANE_SUM2(n, *sum_d, GK_D_V, GK_D_S, *sum_d2, GK_D2_V, GK_D2_S);
}

/* sum_j g[j] and sum_j g[j] (x[j] - s) (BatchNorm's backward sums) */
GK_INLINE void GK_T(chunk_grad_sums)(const TS *GK_RESTRICT g, const TS *GK_RESTRICT x,
                                     gk_index n, double s, double *sum_g, double *sum_gd)
{
    GK_LANE_SUM2(n, *sum_g, GK_G_V, GK_G_S, *sum_gd, GK_GD_V, GK_GD_S);
}

/* chunk_shifted and chunk_grad_sums of inputs that come from memory: the same sums,
 * with GK_PF_THEN's prefetch (as chunk_sumsq_far) */
GK_INLINE void GK_T(chunk_shifted_far)(const TS *GK_RESTRICT x, gk_index n, double s,
                                       double *sum_d, double *sum_d2)
{
#define GK_DF_V(o) GK_PF_THEN(x, o, GK_D_V)
    GK_LANE_SUM2(n, *sum_d, GK_DF_V, GK_D_S, *sum_d2, GK_D2_V, GK_D2_S);
#undef GK_DF_V
}

GK_INLINE void GK_T(chunk_grad_sums_far)(const TS *GK_RESTRICT g, const TS *GK_RESTRICT x,
                                         gk_index n, double s, double *sum_g, double *sum_gd)
{
#define GK_GF_V(o) GK_PF_THEN(g, o, GK_G_V)
#define GK_GDF_V(o) GK_PF_THEN(x, o, GK_GD_V)
    GK_LANE_SUM2(n, *sum_g, GK_GF_V, GK_G_S, *sum_gd, GK_GDF_V, GK_GD_S);
#undef GK_GF_V
#undef GK_GDF_V
}

/* ---- sums in T over short blocks, folded into double ------------------------------
 * For float32 rows where converting every element to double is the cost: the terms are
 * added in T over blocks of GK_BLK_LEN = GK_LANES x GK_BLK_TERMS elements, lane k of a
 * block (a GK_LANES-wide vector of T) summing elements 16 i + k of the block in order;
 * each block's lanes are then added, lane by lane, to GK_LANES double lanes, which fold
 * as gk_fold_vec does.  The grouping is fixed by the element index, so SSE2, AVX2 and
 * AVX-512 give the same bits.  A sum of GK_BLK_TERMS terms in float32 is off by at most
 * (GK_BLK_TERMS - 1) u of the sum of its magnitudes (u = 2^-24); see docs/norm.md for
 * what that means for a row's statistics.  The last, partial block sums its whole
 * groups of GK_LANES as vectors and its last elements one by one into the same lanes
 * with the same operations. */
#ifndef GK_BLK_TERMS
#define GK_BLK_TERMS 8
#define GK_BLK_LEN ((gk_index)(GK_LANES * GK_BLK_TERMS))
#endif
/* GK_LANES lanes of T as GK_BLK_NV native vectors (a 64-byte vector type would live in
 * memory on AVX2: GCC splits its operations but spills it) */
#define GK_BLK_NV (GK_LANES / GK_TVLEN)

/* the lanes of b (GK_BLK_NV vectors) added, lane by lane, to the double lanes acc */
GK_INLINE void GK_T(blk_fold)(const GK_T(tvec) *b, gk_vd *acc)
{
    T l[GK_LANES];
    __builtin_memcpy(l, b, sizeof l);
    for (int k = 0; k < GK_NACC; ++k) acc[k] += GK_T(ldvt)(l + k * GK_VW);
}

/* sum_j d and sum_j d^2 (shift: d = x[j] - s) or only sum_j x[j]^2 (!shift, sum_d
 * untouched), over x[0..n) in blocks; `shift` is a constant at every call.  The terms
 * are e = s - x = -d (exactly: x straight from memory as the operand of the subtraction),
 * e^2 = d^2, and the sum of the e negated at the end: exactly the sum of the d, since
 * rounding to nearest is symmetric.  A lane starts from its first term, not 0 + it (the
 * same value up to the sign of a zero sum, which the double fold makes +0 either way). */
GK_INLINE void GK_T(chunk_blk_moments)(const int shift, const int pf, const TS *GK_RESTRICT x,
                                       gk_index n, T s, double *sum_d, double *sum_d2)
{
    typedef GK_T(tvec) V;
    gk_vd a[GK_NACC], q[GK_NACC];
    GK_ZERO_ACC(a);
    GK_ZERO_ACC(q);
    const V sv = (V){0} + s;
    gk_index j = 0;
    /* two whole blocks at a time: each lane's sum is still its block's terms in order,
     * but the two blocks' chains are independent (a block is one register per sum on
     * AVX-512, whose 8 dependent adds set the pace), and they fold in block order */
    for (; j + 2 * GK_BLK_LEN <= n; j += 2 * GK_BLK_LEN) {
        V be[2][GK_BLK_NV], bq[2][GK_BLK_NV];
        if (pf) GK_T(prefetch_ahead)(x + j, 2 * GK_BLK_LEN);
        for (int i = 0; i < GK_BLK_TERMS; ++i)
            for (int h = 0; h < 2; ++h)
                for (int v = 0; v < GK_BLK_NV; ++v) {
                    V e = GK_T(ldtv_arith)(x + j + h * GK_BLK_LEN + i * GK_LANES
                                           + v * GK_TVLEN);
                    if (shift) {
                        e = sv - e;
                        be[h][v] = i ? be[h][v] + e : e;
                    }
                    bq[h][v] = i ? bq[h][v] + e * e : e * e;
                }
        for (int h = 0; h < 2; ++h) {
            if (shift) GK_T(blk_fold)(be[h], a);
            GK_T(blk_fold)(bq[h], q);
        }
    }
    for (; j + GK_BLK_LEN <= n; j += GK_BLK_LEN) {  /* a whole block left */
        V be[GK_BLK_NV], bq[GK_BLK_NV];
        if (pf) GK_T(prefetch_ahead)(x + j, GK_BLK_LEN);
        for (int i = 0; i < GK_BLK_TERMS; ++i)
            for (int v = 0; v < GK_BLK_NV; ++v) {
                V e = GK_T(ldtv_arith)(x + j + i * GK_LANES + v * GK_TVLEN);
                if (shift) {
                    e = sv - e;
                    be[v] = i ? be[v] + e : e;
                }
                bq[v] = i ? bq[v] + e * e : e * e;
            }
        if (shift) GK_T(blk_fold)(be, a);
        GK_T(blk_fold)(bq, q);
    }
    if (j < n) {  /* the last, partial block: whole groups, then one by one */
        V be[GK_BLK_NV], bq[GK_BLK_NV];
        for (int v = 0; v < GK_BLK_NV; ++v) be[v] = bq[v] = (V){0};
        for (; j + GK_LANES <= n; j += GK_LANES)
            for (int v = 0; v < GK_BLK_NV; ++v) {
                V e = GK_T(ldtv_arith)(x + j + v * GK_TVLEN);
                if (shift) {
                    e = sv - e;
                    be[v] += e;
                }
                bq[v] += e * e;
            }
        if (j < n) {
            T le[GK_LANES], lq[GK_LANES];
            __builtin_memcpy(le, be, sizeof le);
            __builtin_memcpy(lq, bq, sizeof lq);
            for (int l = 0; j + l < n; ++l) {
                T e = GK_T(ld1)(x + j + l);
                if (shift) {
                    e = s - e;
                    le[l] += e;
                }
                lq[l] += e * e;
            }
            __builtin_memcpy(be, le, sizeof le);
            __builtin_memcpy(bq, lq, sizeof lq);
        }
        if (shift) GK_T(blk_fold)(be, a);
        GK_T(blk_fold)(bq, q);
    }
    if (shift) *sum_d = -gk_fold_vec(a);
    *sum_d2 = gk_fold_vec(q);
}

/* 1 if x[0..n) holds a NaN or an infinity: x * 0 is 0 for finite x, NaN otherwise */
GK_INLINE int GK_T(chunk_nonfinite)(const TS *GK_RESTRICT x, gk_index n)
{
    const double s = 0.0;   /* x * 0 = (x - 0) * 0, the same bits */
    double r;
#define GK_Z_V(o) (GK_D_V(o) * 0.0)
#define GK_Z_S(o) (GK_D_S(o) * 0.0)
    GK_LANE_SUM(n, r, GK_Z_V, GK_Z_S);
#undef GK_Z_V
#undef GK_Z_S
    return r != 0.0;
}

/* sum_j |x[j]|^p for any p > 0 (pow per element: compute-bound) */
GK_INLINE gk_vd GK_T(vpow_abs)(gk_vd v, double p)
{
    for (int k = 0; k < GK_VW; ++k) v[k] = pow(fabs(v[k]), p);
    return v;
}
static inline double GK_T(chunk_sumpow)(const TS *GK_RESTRICT x, gk_index n, double p)
{
    double r;
#define GK_P_V(o) GK_T(vpow_abs)(GK_X_V(o), p)
#define GK_P_S(o) pow(fabs(GK_X_S(o)), p)
    GK_LANE_SUM(n, r, GK_P_V, GK_P_S);
#undef GK_P_V
#undef GK_P_S
    return r;
}

/* max_j |x[j]|, NaN if any element is NaN (as torch's max propagates NaN).  Computed on
 * the bit patterns with the sign cleared, as GK_TI integers: for non-negative IEEE
 * values the integer order is the numeric order, and every NaN pattern is above +inf's,
 * so one integer max (which vectorizes, unlike a NaN-aware float max) gives the answer;
 * the lanes are exact, so their grouping does not matter.  16-bit storage: the same on
 * its own bits (float16 and bfloat16 are ordered alike), the max widened exactly. */
#if GK_HALF
#define GK_MAXABS_U uint16_t
#define GK_MAXABS_MASK 0x7fff
#else
#define GK_MAXABS_U GK_TI
#define GK_MAXABS_MASK GK_TI_MAX
#endif
GK_INLINE double GK_T(chunk_maxabs)(const TS *GK_RESTRICT x, gk_index n, int far)
{
    GK_MAXABS_U m[GK_LANES] = {0};
    gk_index j = 0;
    for (; j + GK_LANES <= n; j += GK_LANES) {
        if (far)   /* from memory: GK_PF_AHEAD bytes ahead, as chunk_sumsq_far */
            __builtin_prefetch((const char *)(x + j) + GK_PF_AHEAD, 0, 3);
        for (int k = 0; k < GK_LANES; ++k) {
            GK_MAXABS_U u;
            __builtin_memcpy(&u, &x[j + k], sizeof u);
            u &= GK_MAXABS_MASK;
            m[k] = u > m[k] ? u : m[k];
        }
    }
    for (int k = 0; j + k < n; ++k) {
        GK_MAXABS_U u;
        __builtin_memcpy(&u, &x[j + k], sizeof u);
        u &= GK_MAXABS_MASK;
        m[k] = u > m[k] ? u : m[k];
    }
    GK_MAXABS_U r = 0;
    for (int k = 0; k < GK_LANES; ++k)
        r = m[k] > r ? m[k] : r;
    TS v;
    __builtin_memcpy(&v, &r, sizeof v);
    return (double)GK_T(ld1)(&v);
}
#undef GK_MAXABS_U
#undef GK_MAXABS_MASK

#undef GK_X_V
#undef GK_X_S
#undef GK_D_V
#undef GK_D_S
#undef GK_D2_V
#undef GK_D2_S
#undef GK_ABS_V
#undef GK_ABS_S
#undef GK_AB_V
#undef GK_AB_S
#undef GK_GD_V
#undef GK_GD_S
#undef GK_G_V
#undef GK_G_S
