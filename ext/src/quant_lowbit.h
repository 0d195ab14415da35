/* Low-bit weight kernels (per-group RTN, GPTQ's column loop, bit packing, the
 * dequantizing matmul, the Gram matrix of calibration inputs), included once by quant.c
 * (compiled per ISA).  The formulas are in include/gradkit/quant.h. */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "gk_gemm.h"

#define GK_LB_GPTQ_TILE ((gk_index)512)   /* rows per GPTQ task (fixed: the gemm calls
                                              and so the bits depend on it) */
#define GK_LB_GPTQ_SUPER ((gk_index)512) /* columns per GPTQ super-block (at most) */
#define GK_LB_GRAM_PANEL ((gk_index)512)  /* columns per Gram panel */
#define GK_LB_FUSED_BATCH ((gk_index)16)  /* qlinear: batches up to this go fused */
#define GK_LB_ROWS_PER_TASK ((gk_index)16)
/* columns of x per pass of the fused path (its x block stays in L1 while every row of
 * a task passes over it); longer on AVX2, whose passes carry their chains through
 * memory (the 16 registers do not hold them): 4096x4096 batch 16, 2 threads, 28.4 ->
 * 22.8 ms on the AMD EPYC guest.  No bit depends on it (each lane's order is the
 * columns') */
#if defined(__AVX512F__)
#define GK_LB_COL_BLOCK ((gk_index)128)
#else
#define GK_LB_COL_BLOCK ((gk_index)512)
#endif

/* The reference quantizer's parameters of n values (float32 arithmetic). */
GK_INLINE void lb_params(const float *w, gk_index n, float maxq, int sym, float *scale,
                         float *zero)
{
    float lo = 0.0f, hi = 0.0f;   /* min(min w, 0), max(max w, 0) */
    for (gk_index i = 0; i < n; ++i) {
        lo = w[i] < lo ? w[i] : lo;
        hi = w[i] > hi ? w[i] : hi;
    }
    if (sym) {
        float a = -lo;            /* |lo|, lo <= 0 */
        hi = a > hi ? a : hi;
        if (lo < 0.0f)
            lo = -hi;
    }
    if (lo == 0.0f && hi == 0.0f) {
        lo = -1.0f;
        hi = 1.0f;
    }
    float s = (hi - lo) / maxq;
    *scale = s;
    *zero = sym ? (maxq + 1.0f) / 2.0f : rintf(-lo / s);
}

/* q = clamp(round(w / s) + z, 0, maxq) (float), half to even */
GK_INLINE float lb_quant(float w, float s, float z, float maxq)
{
    float v = rintf(w / s) + z;
    v = v < 0.0f ? 0.0f : v;
    return v > maxq ? maxq : v;
}

static void rtn_f32(const float *w, gk_index rows, gk_index cols, int bits,
                    gk_index group_size, int sym, uint8_t *q, float *scales,
                    uint8_t *zeros)
{
    const float maxq = (float)((1 << bits) - 1);
    const gk_index groups = cols == 0 ? 0 : (cols + group_size - 1) / group_size;
    int nt = gk_threads_for(rows * cols);
    GK_PARALLEL_FOR(nt, r, rows, {
        const float *wr = w + r * cols;
        for (gk_index g = 0; g < groups; ++g) {
            gk_index c0 = g * group_size;
            gk_index n = cols - c0 < group_size ? cols - c0 : group_size;
            float s, z;
            lb_params(wr + c0, n, maxq, sym, &s, &z);
            scales[r * groups + g] = s;
            zeros[r * groups + g] = (uint8_t)z;
            for (gk_index c = c0; c < c0 + n; ++c)
                q[r * cols + c] = (uint8_t)lb_quant(wr[c], s, z, maxq);
        }
    });
}

/* One tile of rows [r0, r1) through every block of GPTQ's column loop.  Blocks of bs
 * columns are grouped into super-blocks of sb columns (a multiple of bs): a block's
 * errors update the rest of its super-block at once (K = the block's columns), and a
 * super-block's errors every later column at once (K = sb), so most of the lazy
 * update runs as BLAS with a deep inner dimension.  In exact arithmetic this is the
 * reference's "each block's errors to all later columns"; every column still has all
 * earlier blocks' updates when its block (or its group's parameters) needs it.  buf:
 * one row of the current block; err: (r1 - r0) x sb. */
#define GK_LB_LANES 16   /* rows of a tile quantized side by side, one per lane */
typedef float lb_v16 __attribute__((vector_size(GK_LB_LANES * sizeof(float))));

/* The in-block column loop for rows [ra, ra + nl) (nl <= 16) of block [i1, i1 + cnt):
 * the rows side by side in 16 lanes (the same operations on each row as one at a time,
 * so the same bits, but 16 rows' chains of divisions interleaved).  buf: cnt x 16; the
 * errors go to errT (column-major: the column's row of errT, tile floats apart). */
static void gptq_lanes(float *w, gk_index cols, const float *hinv, const int32_t *col_group,
                       gk_index groups, const gk_gptq_opts *o, uint8_t *q, float *scales,
                       uint8_t *zeros, gk_index ra, gk_index nl, gk_index i1, gk_index cnt,
                       float *buf, float *errT)
{
    enum { L = GK_LB_LANES };
    const float maxq = (float)((1 << o->bits) - 1);
    const gk_index gs = o->group_size;
    float s[L], z[L], e[L], qv[L];
    for (gk_index i = 0; i < cnt; ++i)
        for (int l = 0; l < L; ++l)
            buf[i * L + l] = l < nl ? w[(ra + l) * cols + i1 + i] : 0.0f;
    for (int l = 0; l < L; ++l) {
        s[l] = 1.0f;
        z[l] = 0.0f;
    }
    gk_index gcur = -1;
    for (gk_index i = 0; i < cnt; ++i) {
        const gk_index c = i1 + i;
        const gk_index g = col_group[c];
        if (o->find_params && (c == 0 || col_group[c - 1] != g)) {
            /* from the block-start values of w (w is untouched in the block) */
            const gk_index n = cols - c < gs ? cols - c : gs;
            for (gk_index l = 0; l < nl; ++l) {
                float zf;
                lb_params(w + (ra + l) * cols + c, n, maxq, o->sym,
                          scales + (ra + l) * groups + g, &zf);
                zeros[(ra + l) * groups + g] = (uint8_t)zf;
            }
        }
        if (g != gcur) {
            for (gk_index l = 0; l < nl; ++l) {
                s[l] = scales[(ra + l) * groups + g];
                z[l] = (float)zeros[(ra + l) * groups + g];
            }
            gcur = g;
        }
        const float d = hinv[c * cols + c];
        const float *v = buf + i * L;
        for (int l = 0; l < L; ++l) {
            float t = rintf(v[l] / s[l]) + z[l];
            t = t < 0.0f ? 0.0f : t;
            qv[l] = t > maxq ? maxq : t;
            const float deq = s[l] * (qv[l] - z[l]);
            e[l] = (v[l] - deq) / d;
        }
        for (gk_index l = 0; l < nl; ++l) {
            q[(ra + l) * cols + c] = (uint8_t)qv[l];
            errT[i * GK_LB_GPTQ_TILE + l] = e[l];
        }
        /* the block's later columns -= e hinv[c, j], the 16 lanes as one vector: written
         * lane by lane, GCC could not prove buf apart from hinv and ran it scalar (most
         * of the column loop's time) */
        const float *hr = hinv + c * cols + i1;
        lb_v16 ev;
        __builtin_memcpy(&ev, e, sizeof ev);
        for (gk_index j = i + 1; j < cnt; ++j) {
            lb_v16 bv;
            __builtin_memcpy(&bv, buf + j * L, sizeof bv);
            bv = bv - ev * hr[j];
            __builtin_memcpy(buf + j * L, &bv, sizeof bv);
        }
    }
}

/* One tile of rows [r0, r1) through every block of GPTQ's column loop.  Blocks of bs
 * columns are grouped into super-blocks of sb columns (a multiple of bs): a block's
 * errors update the rest of its super-block at once (K = the block's columns), and a
 * super-block's errors every later column at once (K = sb), so most of the lazy
 * update runs as BLAS with a deep inner dimension.  In exact arithmetic this is the
 * reference's "each block's errors to all later columns"; every column still has all
 * earlier blocks' updates when its block (or its group's parameters) needs it.  buf:
 * bs x 16; errT: sb x GK_LB_GPTQ_TILE (column-major errors of the tile's rows). */
static void gptq_tile(float *w, gk_index cols, const float *hinv, const int32_t *col_group,
                      gk_index groups, const gk_gptq_opts *o, gk_index sb, uint8_t *q,
                      float *scales, uint8_t *zeros, gk_sgemm_fn sgemm, gk_index r0,
                      gk_index r1, float *buf, float *errT)
{
    const gk_index bs = o->block_size, ld = GK_LB_GPTQ_TILE;
    for (gk_index s1 = 0; s1 < cols; s1 += sb) {
        const gk_index s2 = cols - s1 < sb ? cols : s1 + sb;
        for (gk_index i1 = s1; i1 < s2; i1 += bs) {
            const gk_index i2 = s2 - i1 < bs ? s2 : i1 + bs, cnt = i2 - i1;
            for (gk_index ra = r0; ra < r1; ra += GK_LB_LANES) {
                const gk_index nl = r1 - ra < GK_LB_LANES ? r1 - ra : GK_LB_LANES;
                gptq_lanes(w, cols, hinv, col_group, groups, o, q, scales, zeros, ra, nl,
                           i1, cnt, buf, errT + (i1 - s1) * ld + (ra - r0));
            }
            /* w[r0:r1, i2:s2] -= Err_block hinv[i1:i2, i2:s2] */
            if (i2 < s2)
                gk_gemm_rm_f32(sgemm, 'T', 'N', r1 - r0, s2 - i2, cnt, -1.0f,
                        errT + (i1 - s1) * ld, ld, hinv + i1 * cols + i2, cols, 1.0f,
                        w + r0 * cols + i2, cols);
        }
        if (s2 < cols)
            gk_gemm_rm_f32(sgemm, 'T', 'N', r1 - r0, cols - s2, s2 - s1, -1.0f, errT, ld,
                    hinv + s1 * cols + s2, cols, 1.0f, w + r0 * cols + s2, cols);
    }
}

static gk_index lb_gcd(gk_index a, gk_index b)
{
    while (b) {
        gk_index t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int gptq_f32(float *w, gk_index rows, gk_index cols, const float *hinv,
                    const int32_t *col_group, gk_index groups, const gk_gptq_opts *o,
                    uint8_t *q, float *scales, uint8_t *zeros, const gk_blas_fns *blas)
{
    const gk_index tile = GK_LB_GPTQ_TILE, bs = o->block_size;
    const gk_index ntile = (rows + tile - 1) / tile;
    /* super-blocks: a multiple of the block, and of the group when groups read w (so
     * that a group never reaches past its super-block's updates), at most
     * GK_LB_GPTQ_SUPER columns; else one block each (the plain algorithm) */
    gk_index unit = bs;
    if (o->find_params && o->group_size < cols)
        unit = bs / lb_gcd(bs, o->group_size) * o->group_size;
    const gk_index sb = unit <= GK_LB_GPTQ_SUPER ? GK_LB_GPTQ_SUPER / unit * unit : bs;
    const gk_index per = tile * sb + bs * GK_LB_LANES;   /* errT + buf of one task */
    int nt = gk_threads_for(rows * cols * (bs < 64 ? bs : 64));
    if (nt > ntile) nt = (int)ntile;
    float *scratch = (float *)malloc(sizeof(float) * (size_t)per * (size_t)(nt > 0 ? nt : 1));
    if (!scratch)
        return GK_ERROR(GK_ENOMEM, GK_ARG_w);
    gk_sgemm_fn sgemm = blas->sgemm;
#if GK_HAVE_OPENMP
    #pragma omp parallel num_threads(nt) if(nt > 1)
    {
        float *mine = scratch + per * omp_get_thread_num();
        #pragma omp for schedule(dynamic, 1)
        for (gk_index t = 0; t < ntile; ++t) {
            gk_index r0 = t * tile, r1 = rows - r0 < tile ? rows : r0 + tile;
            gptq_tile(w, cols, hinv, col_group, groups, o, sb, q, scales, zeros, sgemm, r0,
                      r1, mine + tile * sb, mine);
        }
    }
#else
    for (gk_index t = 0; t < ntile; ++t) {
        gk_index r0 = t * tile, r1 = rows - r0 < tile ? rows : r0 + tile;
        gptq_tile(w, cols, hinv, col_group, groups, o, sb, q, scales, zeros, sgemm, r0, r1,
                  scratch + tile * sb, scratch);
    }
#endif
    free(scratch);
    return GK_OK;
}

/* ---- packing ------------------------------------------------------------------------ */
GK_INLINE gk_index lb_words(gk_index cols, int bits)
{
    return (gk_index)bits * ((cols + 31) / 32);
}

static void pack_lowbit(const uint8_t *q, gk_index rows, gk_index cols, int bits,
                      uint32_t *packed)
{
    const gk_index words = lb_words(cols, bits);
    int nt = gk_threads_for(rows * cols);
    GK_PARALLEL_FOR(nt, r, rows, {
        uint32_t *pr = packed + r * words;
        const uint8_t *qr = q + r * cols;
        memset(pr, 0, sizeof(uint32_t) * (size_t)words);
        for (gk_index c = 0; c < cols; ++c) {
            uint64_t bit = (uint64_t)bits * (uint64_t)c;
            gk_index wi = (gk_index)(bit >> 5);
            unsigned sh = (unsigned)(bit & 31);
            uint64_t v = (uint64_t)qr[c] << sh;
            pr[wi] |= (uint32_t)v;
            if (sh + (unsigned)bits > 32)
                pr[wi + 1] |= (uint32_t)(v >> 32);
        }
    });
}

/* value c of a packed row */
GK_INLINE uint32_t lb_get(const uint32_t *pr, gk_index c, int bits)
{
    uint64_t bit = (uint64_t)bits * (uint64_t)c;
    gk_index wi = (gk_index)(bit >> 5);
    unsigned sh = (unsigned)(bit & 31);
    uint64_t v = pr[wi] >> sh;
    if (sh + (unsigned)bits > 32)
        v |= (uint64_t)pr[wi + 1] << (32 - sh);
    return (uint32_t)(v & ((1u << bits) - 1u));
}

static void unpack_lowbit(const uint32_t *packed, gk_index rows, gk_index cols, int bits,
                        uint8_t *q)
{
    const gk_index words = lb_words(cols, bits);
    int nt = gk_threads_for(rows * cols);
    GK_PARALLEL_FOR(nt, r, rows, {
        for (gk_index c = 0; c < cols; ++c)
            q[r * cols + c] = (uint8_t)lb_get(packed + r * words, c, bits);
    });
}

/* ---- the 4-bit fast paths' vectors -------------------------------------------------
 * lb16: 16 float lanes -- one __m512 on AVX-512, two __m256 (lanes 0-7, 8-15) on AVX2 --
 * with the few operations the fast paths use, so one source serves both ISAs with the
 * same lanes and the same operations in the same order (the same bits).  The products
 * are accumulated by fused multiply-adds (one rounding per weight instead of two): the
 * AVX2 and AVX-512 tables are compiled with FMA and the baseline twin calls fmaf, which
 * rounds the same way (1.45x on batch-1 4096x4096, 0.66 -> 0.45 ms per layer on the
 * Intel Xeon guest: the separate multiply and add were half the vector operations
 * per weight).  lb_table: what a group needs to dequantize (the scale s and the zero
 * z).  lb_lookup32: the 32 columns [c, c + 32) of a packed row (c a multiple of 32) --
 * 16 bytes, byte j in lane j -- their low nibbles (the even columns) into *even and
 * their high nibbles (the odd ones) into *odd, each s * (q - z) exactly as the
 * dequantized weight: on AVX-512 looked up in the group's 16 possible values (vpermps
 * reads the low 4 bits of each lane), on AVX2 computed (q - z, exact, converted and
 * multiplied by s: the same product). */
#if defined(__AVX512F__)
#define GK_LB_V16 1
typedef __m512 lb16;
typedef __m512 lb_tbl;
GK_INLINE lb16 lb16_zero(void) { return _mm512_setzero_ps(); }
GK_INLINE lb16 lb16_load(const float *p) { return _mm512_loadu_ps(p); }
GK_INLINE lb16 lb16_add(lb16 a, lb16 b) { return _mm512_add_ps(a, b); }
GK_INLINE lb16 lb16_fma(lb16 a, lb16 b, lb16 c) { return _mm512_fmadd_ps(a, b, c); }
GK_INLINE void lb16_store(float *p, lb16 v) { _mm512_storeu_ps(p, v); }

GK_INLINE lb_tbl lb_table(float s, int32_t z)
{
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2,
                                          1, 0);
    return _mm512_mul_ps(_mm512_set1_ps(s), _mm512_cvtepi32_ps(
        _mm512_sub_epi32(iota, _mm512_set1_epi32(z))));
}

GK_INLINE void lb_lookup32(const uint8_t *row, gk_index c, lb_tbl tbl, lb16 *even,
                           lb16 *odd)
{
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row + c / 2)));
    *even = _mm512_permutexvar_ps(v, tbl);
    *odd = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), tbl);
}
#elif defined(__AVX2__)
#define GK_LB_V16 1
typedef struct {
    __m256 lo, hi;
} lb16;
typedef struct {
    __m256 s;
    __m256i z;
} lb_tbl;
GK_INLINE lb16 lb16_zero(void) { return (lb16){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
GK_INLINE lb16 lb16_load(const float *p)
{
    return (lb16){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}
GK_INLINE lb16 lb16_add(lb16 a, lb16 b)
{
    return (lb16){_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
}
GK_INLINE lb16 lb16_fma(lb16 a, lb16 b, lb16 c)
{
    return (lb16){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
GK_INLINE void lb16_store(float *p, lb16 v)
{
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
}

GK_INLINE lb_tbl lb_table(float s, int32_t z)
{
    return (lb_tbl){_mm256_set1_ps(s), _mm256_set1_epi32(z)};
}

/* s * (float)(q - z) of 8 nibbles in 32-bit lanes */
GK_INLINE __m256 lb_deq8(__m256i q, lb_tbl t)
{
    return _mm256_mul_ps(t.s, _mm256_cvtepi32_ps(_mm256_sub_epi32(q, t.z)));
}

GK_INLINE void lb_lookup32(const uint8_t *row, gk_index c, lb_tbl t, lb16 *even, lb16 *odd)
{
    const __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)(row + c / 2));
    const __m256i v0 = _mm256_cvtepu8_epi32(raw);
    const __m256i v1 = _mm256_cvtepu8_epi32(_mm_unpackhi_epi64(raw, raw));
    const __m256i m = _mm256_set1_epi32(15);
    even->lo = lb_deq8(_mm256_and_si256(v0, m), t);
    even->hi = lb_deq8(_mm256_and_si256(v1, m), t);
    odd->lo = lb_deq8(_mm256_srli_epi32(v0, 4), t);
    odd->hi = lb_deq8(_mm256_srli_epi32(v1, 4), t);
}
#else
#define GK_LB_V16 0
#endif

/* ---- dequantization ----------------------------------------------------------------- */
/* Row r of the weight into out[0, cols): scale * (q - zero), float32. */
static void lb_dequant_row(const gk_qweight *qw, gk_index r, float *out)
{
    const gk_index cols = qw->cols, groups = qw->groups;
    const uint32_t *pr = qw->packed + r * lb_words(cols, qw->bits);
    const float *sr = qw->scales + r * groups;
    const uint8_t *zr = qw->zeros + r * groups;
    const int bits = qw->bits;
    if (qw->g_idx) {
        for (gk_index c = 0; c < cols; ++c) {
            gk_index g = qw->g_idx[c];
            out[c] = sr[g] * (float)((int32_t)lb_get(pr, c, bits) - (int32_t)zr[g]);
        }
        return;
    }
    const gk_index gs = qw->group_size;
#if GK_LB_V16
    /* 4-bit, groups of a multiple of 32: 32 columns at a time by lb_lookup32, put back
     * in column order (the same values) */
    const int fast = bits == 4 && gs % 32 == 0;
#endif
#if defined(__AVX512F__)
    const __m512i ilo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1,
                                         16, 0);
    const __m512i ihi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10,
                                         25, 9, 24, 8);
#endif
    for (gk_index g = 0; g < groups; ++g) {
        const gk_index c0 = g * gs, c1 = cols - c0 < gs ? cols : c0 + gs;
        const float s = sr[g];
        const int32_t z = zr[g];
        gk_index c = c0;
#if GK_LB_V16
        if (fast) {
            const lb_tbl tbl = lb_table(s, z);
            for (; c + 32 <= c1; c += 32) {
                lb16 lo, hi;
                lb_lookup32((const uint8_t *)pr, c, tbl, &lo, &hi);
#if defined(__AVX512F__)
                _mm512_storeu_ps(out + c, _mm512_permutex2var_ps(lo, ilo, hi));
                _mm512_storeu_ps(out + c + 16, _mm512_permutex2var_ps(lo, ihi, hi));
#else
                /* even/odd lanes interleaved within 128-bit halves, then the halves
                 * put in order: columns 0-3 8-11 and 4-7 12-15 -> 0-7, 8-15 */
                for (int h = 0; h < 2; ++h) {
                    const __m256 e = h ? lo.hi : lo.lo, o = h ? hi.hi : hi.lo;
                    const __m256 a = _mm256_unpacklo_ps(e, o), b = _mm256_unpackhi_ps(e, o);
                    _mm256_storeu_ps(out + c + 16 * h, _mm256_permute2f128_ps(a, b, 0x20));
                    _mm256_storeu_ps(out + c + 16 * h + 8, _mm256_permute2f128_ps(a, b, 0x31));
                }
#endif
            }
        }
#endif
        if (bits == 4 || bits == 8 || bits == 2) {
            /* whole words: 32 / bits values each, from the first word boundary */
            const int per = 32 / bits;
            const uint32_t mask = (1u << bits) - 1u;
            for (; c < c1 && c % per; ++c)
                out[c] = s * (float)((int32_t)lb_get(pr, c, bits) - z);
            for (; c + per <= c1; c += per) {
                const uint32_t wd = pr[c / per];
                for (int j = 0; j < per; ++j)
                    out[c + j] = s * (float)((int32_t)((wd >> (bits * j)) & mask) - z);
            }
        }
        for (; c < c1; ++c)
            out[c] = s * (float)((int32_t)lb_get(pr, c, bits) - z);
    }
}

static void dequantize_weight_f32(const gk_qweight *qw, float *out)
{
    int nt = gk_threads_for(qw->rows * qw->cols);
    GK_PARALLEL_FOR(nt, r, qw->rows, { lb_dequant_row(qw, r, out + r * qw->cols); });
}

/* ---- the dequantizing matmul -------------------------------------------------------- */
/* The 16 lanes of a dot product summed in a fixed tree (halves added lane by lane),
 * on every ISA. */
GK_INLINE float lb_lanes_sum(float *l)
{
    for (int k = 8; k >= 1; k /= 2)
        for (int j = 0; j < k; ++j)
            l[j] = l[j] + l[j + k];
    return l[0];
}

/* x rearranged for the 4-bit fast path: in each run of 32 columns, the 16 even columns
 * then the 16 odd ones (the low and the high nibbles of 16 packed bytes). */
static void lb_split_even_odd(const float *x, gk_index nb, gk_index cols, float *xs)
{
    const gk_index full = cols / 32 * 32;
    for (gk_index b = 0; b < nb; ++b) {
        const float *xb = x + b * cols;
        float *sb = xs + b * cols;
        for (gk_index c = 0; c < full; c += 32)
            for (int j = 0; j < 16; ++j) {
                sb[c + j] = xb[c + 2 * j];
                sb[c + 16 + j] = xb[c + 2 * j + 1];
            }
        for (gk_index c = full; c < cols; ++c)
            sb[c] = xb[c];
    }
}

#if !GK_LB_V16
/* 4-bit weights in natural groups of a multiple of 32 columns, on the ISAs without
 * lb16 (the baseline table): the same operations in the same order as the lb16 paths
 * below (16 lanes; per 32 columns the even columns' products added, then the odd
 * ones'; each by a fused multiply-add, fmaf here), so every kernel table gives the same
 * bits.  Two chains of 16 lanes: the even columns' products and the odd ones', added at
 * the end. */
static void lb_fused4_any(const gk_qweight *qw, const float *x, const float *xs,
                          gk_index nb, gk_index r0, gk_index r1, float *y)
{
    const gk_index cols = qw->cols, groups = qw->groups, gs = qw->group_size;
    const gk_index words = lb_words(cols, 4), rows = qw->rows;
    const gk_index full = cols / 32 * 32;
    for (gk_index r = r0; r < r1; ++r) {
        const uint8_t *pb = (const uint8_t *)(qw->packed + r * words);
        for (gk_index b = 0; b < nb; ++b) {
            const float *xb = xs + b * cols;
            float l[16] = {0}, lh[16] = {0}, tail = 0.0f;
            for (gk_index g = 0; g < groups; ++g) {
                const gk_index c0 = g * gs, c1 = cols - c0 < gs ? cols : c0 + gs;
                const gk_index cv = c1 < full ? c1 : full;
                const float s = qw->scales[r * groups + g];
                const int32_t z = qw->zeros[r * groups + g];
                for (gk_index c = c0; c < cv; c += 32) {
                    float wl[16], wh[16];
                    for (int j = 0; j < 16; ++j) {
                        const int32_t v = pb[c / 2 + j];
                        wl[j] = s * (float)((v & 15) - z);
                        wh[j] = s * (float)((v >> 4) - z);
                    }
                    for (int j = 0; j < 16; ++j)
                        l[j] = fmaf(wl[j], xb[c + j], l[j]);
                    for (int j = 0; j < 16; ++j)
                        lh[j] = fmaf(wh[j], xb[c + 16 + j], lh[j]);
                }
                for (gk_index c = cv; c < c1; ++c)
                    tail += s * (float)((int32_t)lb_get(qw->packed + r * words, c, 4) - z)
                            * x[b * cols + c];
            }
            for (int j = 0; j < 16; ++j)
                l[j] = l[j] + lh[j];
            y[b * rows + r] = lb_lanes_sum(l) + tail;
        }
    }
}
#endif

#if GK_LB_V16
/* y[b, r] for rows [r0, r1) and NB rows of xs (lb_split_even_odd): 4-bit weights in
 * natural groups of a multiple of 32 columns.  32 columns at a time: 16 packed bytes
 * widened to 16 lanes, the low nibbles (even columns) and the high ones (odd), each
 * scale * (q - zero) exactly as the dequantized weight, multiplied into 16 lanes per
 * row of x; the lanes are reduced in a fixed order at the end, a short last run of
 * columns added in scalar. */
#define GK_LB_FUSED4(NB) \
static void lb_fused4_##NB(const gk_qweight *qw, const float *x, const float *xs, \
                           gk_index r0, gk_index r1, float *y) \
{ \
    const gk_index cols = qw->cols, groups = qw->groups, gs = qw->group_size; \
    const gk_index words = lb_words(cols, 4), rows = qw->rows; \
    const gk_index full = cols / 32 * 32; \
    /* blocks of whole groups of about GK_LB_COL_BLOCK columns: a block's columns of \
     * x stay in L1 while every row of the task passes over them */ \
    const gk_index gpb = gs >= GK_LB_COL_BLOCK ? 1 : GK_LB_COL_BLOCK / gs; \
    lb16 part[GK_LB_ROWS_PER_TASK][NB], parth[GK_LB_ROWS_PER_TASK][NB]; \
    float tail[GK_LB_ROWS_PER_TASK][NB]; \
    for (gk_index r = r0; r < r1; ++r) \
        for (int b = 0; b < NB; ++b) { \
            part[r - r0][b] = lb16_zero(); \
            parth[r - r0][b] = lb16_zero(); \
            tail[r - r0][b] = 0.0f; \
        } \
    for (gk_index g0 = 0; g0 < groups; g0 += gpb) { \
        const gk_index g1 = groups - g0 < gpb ? groups : g0 + gpb; \
        for (gk_index r = r0; r < r1; ++r) { \
            const uint8_t *pb = (const uint8_t *)(qw->packed + r * words); \
            /* each row advances one block per pass over the rows: too slow a stream \
             * for the hardware prefetcher, so the block after next is asked for */ \
            { \
                const gk_index ahead = (g0 + 2 * gpb) * gs, end = ahead + gpb * gs; \
                for (gk_index c = ahead; c < end && c + 128 <= full; c += 128) \
                    _mm_prefetch((const char *)(pb + c / 2), _MM_HINT_T0); \
            } \
            lb16 acc[NB], acch[NB]; \
            for (int b = 0; b < NB; ++b) { \
                acc[b] = part[r - r0][b]; \
                acch[b] = parth[r - r0][b]; \
            } \
            for (gk_index g = g0; g < g1; ++g) { \
                const gk_index c0 = g * gs, c1 = cols - c0 < gs ? cols : c0 + gs; \
                const gk_index cv = c1 < full ? c1 : full; \
                const float sf = qw->scales[r * groups + g]; \
                const int32_t zi = qw->zeros[r * groups + g]; \
                const lb_tbl tbl = lb_table(sf, zi); \
                for (gk_index c = c0; c < cv; c += 32) { \
                    lb16 wl, wh; \
                    lb_lookup32(pb, c, tbl, &wl, &wh); \
                    for (int b = 0; b < NB; ++b) { \
                        acc[b] = lb16_fma(wl, lb16_load(xs + b * cols + c), \
                                          acc[b]); \
                        acch[b] = lb16_fma(wh, lb16_load(xs + b * cols + c + 16), \
                                           acch[b]); \
                    } \
                } \
                for (gk_index c = cv; c < c1; ++c) { \
                    const float wv = sf * (float)((int32_t)lb_get(qw->packed + r * words, \
                                                                  c, 4) - zi); \
                    for (int b = 0; b < NB; ++b) \
                        tail[r - r0][b] = tail[r - r0][b] + wv * x[b * cols + c]; \
                } \
            } \
            for (int b = 0; b < NB; ++b) { \
                part[r - r0][b] = acc[b]; \
                parth[r - r0][b] = acch[b]; \
            } \
        } \
    } \
    for (gk_index r = r0; r < r1; ++r) \
        for (int b = 0; b < NB; ++b) { \
            float l[16]; \
            lb16_store(l, lb16_add(part[r - r0][b], parth[r - r0][b])); \
            y[b * rows + r] = lb_lanes_sum(l) + tail[r - r0][b]; \
        } \
}
GK_LB_FUSED4(1)
GK_LB_FUSED4(2)
GK_LB_FUSED4(4)
#if defined(__AVX512F__)
GK_LB_FUSED4(8)
#endif
#undef GK_LB_FUSED4

#if defined(__AVX512F__)
#define GK_LB_RX 4
#else
#define GK_LB_RX 2
#endif
/* One row of x, GK_LB_RX rows of the weight at a time (4 on AVX-512; 2 on AVX2, whose 16
 * registers hold two rows' chains and tables, not four), each row's two chains kept in
 * registers from the first group to the last: no partial sums through memory, the
 * rows' packed streams read side by side, x loaded once for them.  Each row's
 * operations and their order are those of lb_fused4_1 (so the same bits); rows past
 * the last multiple of GK_LB_RX go through it. */
static void lb_fused4_1xr(const gk_qweight *qw, const float *x, const float *xs,
                          gk_index r0, gk_index r1, float *y)
{
    const gk_index cols = qw->cols, groups = qw->groups, gs = qw->group_size;
    const gk_index words = lb_words(cols, 4);
    const gk_index full = cols / 32 * 32;
    gk_index r = r0;
    for (; r + GK_LB_RX <= r1; r += GK_LB_RX) {
        const uint8_t *pb[GK_LB_RX];
        lb16 lo[GK_LB_RX], hi[GK_LB_RX];
        float tail[GK_LB_RX];
        for (int k = 0; k < GK_LB_RX; ++k) {
            pb[k] = (const uint8_t *)(qw->packed + (r + k) * words);
            lo[k] = lb16_zero();
            hi[k] = lb16_zero();
            tail[k] = 0.0f;
        }
        for (gk_index g = 0; g < groups; ++g) {
            const gk_index c0 = g * gs, c1 = cols - c0 < gs ? cols : c0 + gs;
            const gk_index cv = c1 < full ? c1 : full;
            lb_tbl tbl[GK_LB_RX];
            {   /* the next block's rows (contiguous after these), its share of them per
                 * group: one block ahead, the whole block.  In-row prefetches 1024
                 * columns ahead left every block's start to a miss: batch-1 4096x4096,
                 * 16 layers in turn, 647 -> 423 us per layer on an AMD EPYC (Zen 5) */
                const size_t blk = (size_t)GK_LB_RX * (size_t)words * 4;
                const size_t per = (blk / (size_t)groups + 63) & ~(size_t)63;
                const char *next = (const char *)pb[0] + blk + (size_t)g * per;
                for (size_t o = 0; o < per; o += 64)
                    _mm_prefetch(next + o, _MM_HINT_T0);
            }
            for (int k = 0; k < GK_LB_RX; ++k) {
                const gk_index at = (r + k) * groups + g;
                tbl[k] = lb_table(qw->scales[at], qw->zeros[at]);
            }
            for (gk_index c = c0; c < cv; c += 32) {
                const lb16 xe = lb16_load(xs + c), xo = lb16_load(xs + c + 16);
                for (int k = 0; k < GK_LB_RX; ++k) {
                    lb16 we, wo;
                    lb_lookup32(pb[k], c, tbl[k], &we, &wo);
                    lo[k] = lb16_fma(we, xe, lo[k]);
                    hi[k] = lb16_fma(wo, xo, hi[k]);
                }
            }
            for (int k = 0; k < GK_LB_RX; ++k) {
                const gk_index at = (r + k) * groups + g;
                const float sf = qw->scales[at];
                const int32_t zi = qw->zeros[at];
                for (gk_index c = cv; c < c1; ++c) {
                    const float wv = sf * (float)((int32_t)lb_get(
                        qw->packed + (r + k) * words, c, 4) - zi);
                    tail[k] = tail[k] + wv * x[c];
                }
            }
        }
        for (int k = 0; k < GK_LB_RX; ++k) {
            float l[16];
            lb16_store(l, lb16_add(lo[k], hi[k]));
            y[r + k] = lb_lanes_sum(l) + tail[k];
        }
    }
    if (r < r1)
        lb_fused4_1(qw, x, xs, r, r1, y);
}

/* rows [r0, r1) of y for all nb rows of x, in chunks of 8 (AVX-512), 4, 2, 1 rows of x */
static void lb_fused_4bit(const gk_qweight *qw, const float *x, const float *xs,
                          gk_index nb, gk_index r0, gk_index r1, float *y)
{
    const gk_index cols = qw->cols, rows = qw->rows;
    gk_index b = 0;
#if defined(__AVX512F__)  /* AVX2: 8 rows' chains would not fit its 16 registers */
    for (; b + 8 <= nb; b += 8)
        lb_fused4_8(qw, x + b * cols, xs + b * cols, r0, r1, y + b * rows);
#endif
    for (; b + 4 <= nb; b += 4)
        lb_fused4_4(qw, x + b * cols, xs + b * cols, r0, r1, y + b * rows);
    if (b + 2 <= nb) {
        lb_fused4_2(qw, x + b * cols, xs + b * cols, r0, r1, y + b * rows);
        b += 2;
    }
    if (b < nb)
        lb_fused4_1xr(qw, x + b * cols, xs + b * cols, r0, r1, y + b * rows);
}
#endif

/* The same for any layout: each row dequantized into buf (cols floats), then a dot
 * product with every row of x, in 16 lanes as the fused path. */
static void lb_fused_any(const gk_qweight *qw, const float *x, gk_index nb, gk_index r0,
                         gk_index r1, float *y, float *buf)
{
    const gk_index cols = qw->cols, rows = qw->rows;
    for (gk_index r = r0; r < r1; ++r) {
        lb_dequant_row(qw, r, buf);
        for (gk_index b = 0; b < nb; ++b) {
            const float *xb = x + b * cols;
            float lane[16] = {0};
            gk_index c = 0;
            for (; c + 16 <= cols; c += 16)
                for (int j = 0; j < 16; ++j)
                    lane[j] += buf[c + j] * xb[c + j];
            for (int j = 0; c + j < cols; ++j)
                lane[j] += buf[c + j] * xb[c + j];
            y[b * rows + r] = lb_lanes_sum(lane);
        }
    }
}

static int qlinear_f32(const float *x, gk_index batch, const gk_qweight *qw,
                       const float *bias, float *y, const gk_blas_fns *blas)
{
    const gk_index rows = qw->rows, cols = qw->cols;
    if (rows == 0 || batch == 0)
        return GK_OK;
    if (cols == 0) {
        for (gk_index b = 0; b < batch; ++b)
            for (gk_index r = 0; r < rows; ++r)
                y[b * rows + r] = bias ? bias[r] : 0.0f;
        return GK_OK;
    }
    /* 4-bit natural groups of a multiple of 32 columns: the even/odd fast path (its
     * AVX-512 version or its twin on other ISAs, the same bits) */
    const int fast4 = qw->bits == 4 && qw->g_idx == NULL && qw->group_size % 32 == 0;
    if (batch <= GK_LB_FUSED_BATCH) {
        const gk_index nrt = (rows + GK_LB_ROWS_PER_TASK - 1) / GK_LB_ROWS_PER_TASK;
        int nt = gk_threads_for(rows * cols * batch);
        /* fast path: x split into even/odd columns; else one dequantized row per thread */
        size_t nbuf = fast4 ? (size_t)(batch * cols) : (size_t)cols * (size_t)(nt > 0 ? nt : 1);
        float *bufs = (float *)malloc(sizeof(float) * (nbuf > 0 ? nbuf : 1));
        if (!bufs)
            return GK_ERROR(GK_ENOMEM, GK_ARG_x);
        if (fast4)
            lb_split_even_odd(x, batch, cols, bufs);
        /* handed out dynamically: a core shared with another pool's spinning thread
         * (a BLAS call just before) must not hold up the whole call */
#if GK_HAVE_OPENMP
        #pragma omp parallel for num_threads(nt) schedule(dynamic, 4) if(nt > 1)
#endif
        for (gk_index t = 0; t < nrt; ++t) {
            gk_index r0 = t * GK_LB_ROWS_PER_TASK;
            gk_index r1 = rows - r0 < GK_LB_ROWS_PER_TASK ? rows : r0 + GK_LB_ROWS_PER_TASK;
            if (fast4) {
#if GK_LB_V16
                lb_fused_4bit(qw, x, bufs, batch, r0, r1, y);
#else
                lb_fused4_any(qw, x, bufs, batch, r0, r1, y);
#endif
                continue;
            }
#if GK_HAVE_OPENMP
            float *buf = bufs + cols * omp_get_thread_num();
#else
            float *buf = bufs;
#endif
            lb_fused_any(qw, x, batch, r0, r1, y, buf);
        }
        free(bufs);
    } else {
        /* tiles of rows dequantized into a buffer of about 2 MiB, times x by sgemm:
         * Y^T[r0:r1, :] = Tile (tile x cols) X^T, column-major view */
        gk_index tile = ((gk_index)1 << 19) / cols;
        tile = tile < 64 ? 64 : tile > 512 ? 512 : tile;
        tile = (tile + 15) / 16 * 16;
        const gk_index ntile = (rows + tile - 1) / tile;
        int nt = gk_threads_for(rows * cols * batch);
        if (nt > ntile) nt = (int)ntile;
        float *bufs = (float *)malloc(sizeof(float) * (size_t)(tile * cols) *
                                      (size_t)(nt > 0 ? nt : 1));
        if (!bufs)
            return GK_ERROR(GK_ENOMEM, GK_ARG_x);
        gk_sgemm_fn sgemm = blas->sgemm;
#if GK_HAVE_OPENMP
        #pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if(nt > 1)
#endif
        for (gk_index t = 0; t < ntile; ++t) {
#if GK_HAVE_OPENMP
            float *buf = bufs + tile * cols * omp_get_thread_num();
#else
            float *buf = bufs;
#endif
            gk_index r0 = t * tile, r1 = rows - r0 < tile ? rows : r0 + tile;
            for (gk_index r = r0; r < r1; ++r)
                lb_dequant_row(qw, r, buf + (r - r0) * cols);
            gk_blas_int m = (gk_blas_int)(r1 - r0), n = (gk_blas_int)batch;
            gk_blas_int k = (gk_blas_int)cols, ld = (gk_blas_int)cols;
            gk_blas_int ldc = (gk_blas_int)rows;
            float one = 1.0f, zero = 0.0f;
            char tr = 'T', nn = 'N';
            sgemm(&tr, &nn, &m, &n, &k, &one, buf, &ld, (float *)x, &ld, &zero,
                  y + r0, &ldc);
        }
        free(bufs);
    }
    if (bias) {
        int nt = gk_threads_for(rows * batch);
        GK_PARALLEL_FOR(nt, b, batch, {
            for (gk_index r = 0; r < rows; ++r)
                y[b * rows + r] += bias[r];
        });
    }
    return GK_OK;
}

/* ---- the Gram matrix of calibration inputs ------------------------------------------ */
#define GK_LB_GRAM(T, SFX, GEMM) \
static void gram_##SFX(const T *x, gk_index m, gk_index d, double alpha, double beta, \
                       T *h, const gk_blas_fns *blas) \
{ \
    const gk_index np = (d + GK_LB_GRAM_PANEL - 1) / GK_LB_GRAM_PANEL; \
    int nt = gk_threads_for(m * d * 8); \
    if (nt > np) nt = (int)np; \
    /* panel p's work is d - j0 rows: handed out largest first (dynamically), where \
     * contiguous static shares gave the first thread 72% of a 4096-wide H at 2 \
     * threads.  Each panel is one call of a fixed shape: the same bits either way */ \
    _Pragma("omp parallel for num_threads(nt) schedule(dynamic, 1) if(nt > 1)") \
    for (gk_index p = 0; p < np; ++p) { \
        /* panel columns [j0, j1), rows [j0, d) of the column-major view of h */ \
        gk_index j0 = p * GK_LB_GRAM_PANEL; \
        gk_index j1 = d - j0 < GK_LB_GRAM_PANEL ? d : j0 + GK_LB_GRAM_PANEL; \
        if (m == 0) { \
            for (gk_index c = j0; c < j1; ++c) \
                for (gk_index r = c; r < d; ++r) \
                    h[c * d + r] = beta == 0.0 ? (T)0 : (T)(beta * h[c * d + r]); \
        } else { \
            gk_blas_int mm = (gk_blas_int)(d - j0), nn_ = (gk_blas_int)(j1 - j0); \
            gk_blas_int kk = (gk_blas_int)m, ld = (gk_blas_int)d; \
            T a = (T)alpha, bt = (T)beta; \
            char n_ = 'N', t_ = 'T'; \
            /* beta = 0: BLAS does not read C (h may hold anything) */ \
            blas->GEMM(&n_, &t_, &mm, &nn_, &kk, &a, (T *)x + j0, &ld, (T *)x + j0, &ld, \
                       &bt, h + j0 * d + j0, &ld); \
        } \
    } \
    /* mirror: element (r, c), r > c, of the column-major lower part is h[c * d + r]; \
     * in 64 x 64 tiles, so that the transposed reads stay in cache */ \
    const gk_index nti = (d + 63) / 64; \
    int nt2 = gk_threads_for(d * d); \
    GK_PARALLEL_FOR(nt2, ti, nti, { \
        const gk_index r0 = ti * 64, r1 = d - r0 < 64 ? d : r0 + 64; \
        for (gk_index c0 = 0; c0 <= r0; c0 += 64) \
            for (gk_index r = r0; r < r1; ++r) { \
                const gk_index c1 = c0 + 64 < r ? c0 + 64 : r; \
                for (gk_index c = c0; c < c1; ++c) \
                    h[r * d + c] = h[c * d + r]; \
            } \
    }); \
}
GK_LB_GRAM(float, f32, sgemm)
GK_LB_GRAM(double, f64, dgemm)
#undef GK_LB_GRAM

/* ---- GPTQ's factor: U upper with H^-1 = U^T U --------------------------------------- */
#define GK_LB_CHOL_BLOCK ((gk_index)128)

/* In place: the kb x kb block at a (row stride ld, lower triangle) becomes its
 * Cholesky factor L, and dinv (kb x kb, row-major) L^-1; sums in double.  0 if the
 * block is not positive definite. */
static int lb_chol_block(float *a, gk_index ld, gk_index kb, float *dinv)
{
    for (gk_index j = 0; j < kb; ++j) {
        double s = a[j * ld + j];
        for (gk_index k = 0; k < j; ++k)
            s -= (double)a[j * ld + k] * a[j * ld + k];
        if (!(s > 0.0))
            return 0;
        const float d = (float)sqrt(s);
        a[j * ld + j] = d;
        for (gk_index i = j + 1; i < kb; ++i) {
            double t = a[i * ld + j];
            for (gk_index k = 0; k < j; ++k)
                t -= (double)a[i * ld + k] * a[j * ld + k];
            a[i * ld + j] = (float)(t / d);
        }
    }
    for (gk_index i = 0; i < kb * kb; ++i)
        dinv[i] = 0.0f;
    for (gk_index j = 0; j < kb; ++j) {
        dinv[j * kb + j] = 1.0f / a[j * ld + j];
        for (gk_index i = j + 1; i < kb; ++i) {
            double t = 0.0;
            for (gk_index k = j; k < i; ++k)
                t += (double)a[i * ld + k] * dinv[k * kb + j];
            dinv[i * kb + j] = (float)(-t / a[i * ld + i]);
        }
    }
    return 1;
}

/* a[i][j] <-> a[n-1-i][n-1-j]: the reversal J A J, in place */
static void lb_reverse(float *a, gk_index n)
{
    const gk_index total = n * n;
    int nt = gk_threads_for(total);
    GK_PARALLEL_FOR(nt, i, total / 2, {
        float t = a[i];
        a[i] = a[total - 1 - i];
        a[total - 1 - i] = t;
    });
}

static int gptq_hinv_f32(float *h, gk_index n, float *u, const gk_blas_fns *blas)
{
    const gk_index nb = GK_LB_CHOL_BLOCK, nblk = (n + nb - 1) / nb;
    gk_sgemm_fn sgemm = blas->sgemm;
    float *dinv = (float *)malloc(sizeof(float) * (size_t)(nblk * nb * nb));
    float *tmp = NULL;
    int nt = gk_threads_for(n * n * 8);
    tmp = (float *)malloc(sizeof(float) * (size_t)(nb * nb) * (size_t)(nt > 0 ? nt : 1));
    if (!dinv || !tmp) {
        free(dinv);
        free(tmp);
        return GK_ERROR(GK_ENOMEM, GK_ARG_h);
    }
    int ok = 1;
    lb_reverse(h, n);   /* J H J = L L^T, so H = R R^T with R = J L J upper */
    /* blocked left-looking Cholesky of J H J (lower triangle), fixed blocks: block
     * column k gets every earlier column's product at once (K = k0: BLAS at its best),
     * split into fixed chunks of rows, one single-threaded sgemm each, in parallel */
    const gk_index chunk = 4 * nb;
    for (gk_index kbk = 0; kbk < nblk && ok; ++kbk) {
        const gk_index k0 = kbk * nb, kb = n - k0 < nb ? n - k0 : nb;
        float *dk = dinv + kbk * nb * nb;
        const gk_index nch = (n - k0 + chunk - 1) / chunk;
        if (k0 > 0) {
            /* A[k0:, k-block] -= L[k0:, :k0] L[k-block, :k0]^T */
#if GK_HAVE_OPENMP
            #pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if(nt > 1)
#endif
            for (gk_index t = 0; t < nch; ++t) {
                const gk_index i0 = k0 + t * chunk, ib = n - i0 < chunk ? n - i0 : chunk;
                gk_gemm_rm_f32(sgemm, 'N', 'T', ib, kb, k0, -1.0f, h + i0 * n, n, h + k0 * n, n,
                        1.0f, h + i0 * n + k0, n);
            }
        }
        if (!lb_chol_block(h + k0 * n + k0, n, kb, dk)) {
            ok = 0;
            break;
        }
        /* the panel below the diagonal block: A[i, k] = A[i, k] L_kk^-T */
        const gk_index rest = nblk - kbk - 1;
#if GK_HAVE_OPENMP
        #pragma omp parallel for num_threads(nt) schedule(static) if(nt > 1)
#endif
        for (gk_index t = 0; t < rest; ++t) {
            const gk_index i0 = (kbk + 1 + t) * nb, ib = n - i0 < nb ? n - i0 : nb;
#if GK_HAVE_OPENMP
            float *tm = tmp + nb * nb * omp_get_thread_num();
#else
            float *tm = tmp;
#endif
            gk_gemm_rm_f32(sgemm, 'N', 'T', ib, kb, kb, 1.0f, h + i0 * n + k0, n, dk, kb, 0.0f,
                    tm, kb);
            for (gk_index r = 0; r < ib; ++r)
                memcpy(h + (i0 + r) * n + k0, tm + r * kb, sizeof(float) * (size_t)kb);
        }
    }
    if (ok) {
        /* X = L^-1 (lower) into u, block column by block column (independent) */
#if GK_HAVE_OPENMP
        #pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if(nt > 1)
#endif
        for (gk_index jb_ = 0; jb_ < nblk; ++jb_) {
            const gk_index j0 = jb_ * nb, jb = n - j0 < nb ? n - j0 : nb;
#if GK_HAVE_OPENMP
            float *tm = tmp + nb * nb * omp_get_thread_num();
#else
            float *tm = tmp;
#endif
            for (gk_index r = 0; r < jb; ++r)
                memcpy(u + (j0 + r) * n + j0, dinv + jb_ * nb * nb + r * jb,
                       sizeof(float) * (size_t)jb);
            for (gk_index ib_ = jb_ + 1; ib_ < nblk; ++ib_) {
                const gk_index i0 = ib_ * nb, ib = n - i0 < nb ? n - i0 : nb;
                /* T = L[i, j:i] X[j:i, j];  X[i, j] = -L_ii^-1 T */
                gk_gemm_rm_f32(sgemm, 'N', 'N', ib, jb, i0 - j0, 1.0f, h + i0 * n + j0, n,
                        u + j0 * n + j0, n, 0.0f, tm, jb);
                gk_gemm_rm_f32(sgemm, 'N', 'N', ib, jb, ib, -1.0f, dinv + ib_ * nb * nb, ib, tm,
                        jb, 0.0f, u + i0 * n + j0, n);
            }
        }
        lb_reverse(u, n);   /* U = R^-1 = J L^-1 J, upper */
    }
    free(dinv);
    free(tmp);
    return ok ? GK_OK : GK_ERROR(GK_EVALUE, GK_ARG_h);
}
