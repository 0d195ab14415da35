/* Random-number kernels over Philox4x32-10, compiled once per ISA.
 *
 * Work is cut into tiles of GK_TILE elements; a tile generates the words it needs
 * (philox_bulk.h, into an L1-sized buffer) and transforms them.  Tiles are fixed by
 * the element index, threads take whole tiles, and element i reads the words the
 * stream assigns it (random.h), so the output never depends on the thread count. */
#include "gk_internal.h"
#include "philox_bulk.h"
#include "gk_vmath.h"
#include "random_kernels.h"

#define GK_TILE ((gk_index)2048)   /* elements per tile (even, a multiple of 8) */

/* An output of at least gk_get_stream_min_bytes() (gk_internal.h) is computed tile by tile
 * into an L1 buffer and copied out with non-temporal stores: it then costs its size in
 * traffic, not twice (no read of the lines it overwrites).  TILE_OUT gives the tile's
 * destination, TILE_DONE copies a buffered tile out. */
#define TILE_OUT(T, nt, out, e0) \
    T obuf_[GK_TILE]; \
    T *GK_RESTRICT o = (nt) ? obuf_ : (out) + (e0)
#define TILE_DONE(nt, out, e0, len) \
    do { \
        if (nt) gk_copy_nt((out) + (e0), obuf_, sizeof(obuf_[0]) * (size_t)(len)); \
    } while (0)
#define STREAMED(T, n, out) gk_stream_output((size_t)(n) * sizeof(T), (out), NULL, NULL)

/* exact int32 -> float/double conversions of the top bits (vectorizable: signed) */
#define GK_TOP24F(w) ((float)(int32_t)((w) >> 8) * 0x1p-24f)
#define GK_U53(a, b) ((double)(int32_t)((a) >> 5) * 67108864.0 + (double)(int32_t)((b) >> 6))

static void bits32(uint32_t *out, gk_index n, uint32_t k0, uint32_t k1, uint64_t w0)
{
    const int nt = STREAMED(uint32_t, n, out);
    GK_TILE_LOOP(n, GK_TILE, t, nt) {
        uint32_t buf[GK_STREAM_BUF(GK_TILE)];
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        const uint32_t *ws = gk_stream_words(k0, k1, w0 + (uint64_t)e0, len, buf);
        if (nt) {
            gk_copy_nt(out + e0, ws, sizeof(uint32_t) * (size_t)len);
        } else {
            memcpy(out + e0, ws, sizeof(uint32_t) * (size_t)len);
        }
    }
}

static void uniform_f32(float *out, gk_index n, float low, float span, float below_high,
                        float high, uint32_t k0, uint32_t k1, uint64_t w0)
{
    const int nt = STREAMED(float, n, out);
    GK_TILE_LOOP(n, GK_TILE, t, nt) {
        uint32_t buf[GK_STREAM_BUF(GK_TILE)];
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        const uint32_t *GK_RESTRICT ws = gk_stream_words(k0, k1, w0 + (uint64_t)e0, len, buf);
        TILE_OUT(float, nt, out, e0);
        for (gk_index j = 0; j < len; ++j) {
            float y = low + span * GK_TOP24F(ws[j]);
            o[j] = y < high ? y : below_high;
        }
        TILE_DONE(nt, out, e0, len);
    }
}

static void uniform_f64(double *out, gk_index n, double low, double span,
                        double below_high, double high, uint32_t k0, uint32_t k1,
                        uint64_t w0)
{
    const int nt = STREAMED(double, n, out);
    GK_TILE_LOOP(n, GK_TILE, t, nt) {
        uint32_t buf[GK_STREAM_BUF(2 * GK_TILE)];
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        const uint32_t *GK_RESTRICT ws =
            gk_stream_words(k0, k1, w0 + 2 * (uint64_t)e0, 2 * len, buf);
        TILE_OUT(double, nt, out, e0);
        for (gk_index j = 0; j < len; ++j) {
            double y = low + span * (GK_U53(ws[2 * j], ws[2 * j + 1]) * 0x1p-53);
            o[j] = y < high ? y : below_high;
        }
        TILE_DONE(nt, out, e0, len);
    }
}

/* Box-Muller of one pair of words (float32): r cos, r sin. */
GK_INLINE void bm_f32(uint32_t a, uint32_t b, float *z0, float *z1)
{
    float k = (float)(int32_t)((a >> 8) + 1u);          /* u1 = k 2**-24 in (0, 1] */
    float r = sqrtf(-2.0f * gk_logf_scaled(k, 24));
    float sn, cs;
    /* 2 pi u2 = t pi/2 with t = 4 u2 = (b >> 8) 2**-22 (exact) */
    gk_sincos_quarterf((float)(int32_t)(b >> 8) * 0x1p-22f, &sn, &cs);
    *z0 = r * cs;
    *z1 = r * sn;
}

static void normal_f32(float *out, gk_index n, float mean, float std, uint32_t k0,
                       uint32_t k1, uint64_t w0)
{
    const int nt = STREAMED(float, n, out);
    GK_TILE_LOOP(n, GK_TILE, t, nt) {
        uint32_t buf[GK_STREAM_BUF(GK_TILE)];
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        gk_index pairs = len / 2;
        const uint32_t *GK_RESTRICT ws =
            gk_stream_words(k0, k1, w0 + (uint64_t)e0, 2 * ((len + 1) / 2), buf);
        TILE_OUT(float, nt, out, e0);
        for (gk_index p = 0; p < pairs; ++p) {
            float z0, z1;
            bm_f32(ws[2 * p], ws[2 * p + 1], &z0, &z1);
            o[2 * p] = mean + std * z0;
            o[2 * p + 1] = mean + std * z1;
        }
        if (len & 1) {
            float z0, z1;
            bm_f32(ws[2 * pairs], ws[2 * pairs + 1], &z0, &z1);
            o[2 * pairs] = mean + std * z0;
        }
        TILE_DONE(nt, out, e0, len);
    }
}

GK_INLINE void bm_f64(const uint32_t *w, double *z0, double *z1)
{
    double k = GK_U53(w[0], w[1]) + 1.0;                  /* u1 = k 2**-53 in (0, 1] */
    double r = sqrt(-2.0 * gk_log_scaled(k, 53));
    double sn, cs;
    gk_sincos2pi(GK_U53(w[2], w[3]) * 0x1p-53, &sn, &cs);
    *z0 = r * cs;
    *z1 = r * sn;
}

static void normal_f64(double *out, gk_index n, double mean, double std, uint32_t k0,
                       uint32_t k1, uint64_t w0)
{
    const int nt = STREAMED(double, n, out);
    GK_TILE_LOOP(n, GK_TILE, t, nt) {
        uint32_t buf[GK_STREAM_BUF(2 * GK_TILE)];
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        gk_index pairs = len / 2;
        const uint32_t *GK_RESTRICT ws =
            gk_stream_words(k0, k1, w0 + 2 * (uint64_t)e0, 4 * ((len + 1) / 2), buf);
        TILE_OUT(double, nt, out, e0);
        for (gk_index p = 0; p < pairs; ++p) {
            double z0, z1;
            bm_f64(ws + 4 * p, &z0, &z1);
            o[2 * p] = mean + std * z0;
            o[2 * p + 1] = mean + std * z1;
        }
        if (len & 1) {
            double z0, z1;
            bm_f64(ws + 4 * pairs, &z0, &z1);
            o[2 * pairs] = mean + std * z0;
        }
        TILE_DONE(nt, out, e0, len);
    }
}

/* uniform in (0, 1) from one word: (a + 1/2) 2**-32 (exact; the xor makes the
 * conversion a signed one, which vectorizes) */
GK_INLINE double open01_u32(uint32_t a)
{
    return ((double)(int32_t)(a ^ 0x80000000u) + 2147483648.5) * 0x1p-32;
}

static void trunc_normal_f32(float *out, gk_index n, const gk_trunc_params *tp, uint32_t k0,
                             uint32_t k1, uint64_t w0)
{
    const double pa = tp->pa, span = tp->span, mean = tp->mean, sstd = tp->sign * tp->std;
    const float lo = (float)tp->lo, hi = (float)tp->hi;
    const int nt = STREAMED(float, n, out);
    GK_TILE_LOOP(n, GK_TILE, t, nt) {
        uint32_t buf[GK_STREAM_BUF(GK_TILE)];
        unsigned char tail[GK_TILE];
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        const uint32_t *GK_RESTRICT ws = gk_stream_words(k0, k1, w0 + (uint64_t)e0, len, buf);
        TILE_OUT(float, nt, out, e0);
        int any_tail = 0;
        /* the central rational for every element (vectorized); the rare tail ones
         * are redone below */
        for (gk_index j = 0; j < len; ++j) {
            double p = pa + open01_u32(ws[j]) * span;
            double x = gk_ndtri_central(p);
            int tl = (p < GK_ACKLAM_PLOW) | (p > 1.0 - GK_ACKLAM_PLOW);
            tail[j] = (unsigned char)tl;
            any_tail |= tl;
            float y = (float)(mean + sstd * x);
            y = y < lo ? lo : y;
            o[j] = y > hi ? hi : y;
        }
        for (gk_index j = 0; any_tail && j < len; ++j) {
            if (!tail[j])
                continue;
            double p = pa + open01_u32(ws[j]) * span;
            float y = (float)(mean + sstd * gk_ndtri_acklam(p));
            y = y < lo ? lo : y;
            o[j] = y > hi ? hi : y;
        }
        TILE_DONE(nt, out, e0, len);
    }
}

static void trunc_normal_f64(double *out, gk_index n, const gk_trunc_params *tp,
                             uint32_t k0, uint32_t k1, uint64_t w0)
{
    const double pa = tp->pa, span = tp->span, mean = tp->mean, sstd = tp->sign * tp->std;
    const double lo = tp->lo, hi = tp->hi;
    const int nt = STREAMED(double, n, out);
    GK_TILE_LOOP(n, GK_TILE, t, nt) {
        uint32_t buf[GK_STREAM_BUF(2 * GK_TILE)];
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        const uint32_t *ws = gk_stream_words(k0, k1, w0 + 2 * (uint64_t)e0, 2 * len, buf);
        TILE_OUT(double, nt, out, e0);
        for (gk_index j = 0; j < len; ++j) {
            double u = (GK_U53(ws[2 * j], ws[2 * j + 1]) + 0.5) * 0x1p-53;
            double p = pa + u * span;
            double x = gk_ndtri_refine(gk_ndtri_acklam(p), p);
            double y = mean + sstd * x;
            y = y < lo ? lo : y;
            o[j] = y > hi ? hi : y;
        }
        TILE_DONE(nt, out, e0, len);
    }
}

/* high 64 bits of a 64x64 product */
static inline uint64_t mulhi64(uint64_t a, uint64_t b, uint64_t *lo)
{
#ifdef __SIZEOF_INT128__
    unsigned __int128 m = (unsigned __int128)a * b;
    *lo = (uint64_t)m;
    return (uint64_t)(m >> 64);
#else
    uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    *lo = (mid << 32) | (uint32_t)p00;
    return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
}

/* Lemire's unbiased multiply-shift: one 32-bit word per element when range <= 2**32. */
static int64_t int_small(uint32_t x, uint64_t range, uint32_t thr, uint32_t k0, uint32_t k1,
                         uint64_t w)
{
    uint64_t m = (uint64_t)x * range;
    for (uint32_t attempt = 1; (uint32_t)m < thr; ++attempt) {
        x = gk_philox_word_at(k0, k1, w >> 2, attempt, 0, (int)(w & 3));
        m = (uint64_t)x * range;
    }
    return (int64_t)(m >> 32);
}

static uint64_t int_large(uint64_t x, uint64_t range, uint64_t thr, uint32_t k0, uint32_t k1,
                          uint64_t w)
{
    if (range == 0)   /* the full 64-bit range: the word pair itself */
        return x;
    uint64_t lo, hi = mulhi64(x, range, &lo);
    for (uint32_t attempt = 1; lo < thr; ++attempt) {
        uint32_t key[2] = {k0, k1};
        uint32_t ctr[4] = {(uint32_t)(w >> 2), (uint32_t)(w >> 34), attempt, 0}, r[4];
        gk_philox4x32_10(ctr, key, r);
        x = (uint64_t)r[w & 3] | ((uint64_t)r[(w + 1) & 3] << 32);
        hi = mulhi64(x, range, &lo);
    }
    return hi;
}

static void integers(int64_t *out, gk_index n, int64_t low, uint64_t range, uint32_t k0,
                     uint32_t k1, uint64_t w0)
{
    int small = range != 0 && range <= ((uint64_t)1 << 32);   /* 0: all 2**64 values */
    uint32_t thr32 = small && range < ((uint64_t)1 << 32)
                         ? (uint32_t)(((uint64_t)1 << 32) % range) : 0;
    uint64_t thr64 = small || range == 0 ? 0 : (0 - range) % range;
    GK_TILE_LOOP(n, GK_TILE, t, 0) {
        uint32_t buf[GK_STREAM_BUF(2 * GK_TILE)];
        gk_index e0 = t * GK_TILE, len = gk_tile_len(t, n, GK_TILE);
        int64_t *o = out + e0;
        if (small) {
            uint64_t wt = w0 + (uint64_t)e0;
            const uint32_t *ws = gk_stream_words(k0, k1, wt, len, buf);
            for (gk_index j = 0; j < len; ++j)
                o[j] = (int64_t)((uint64_t)low +
                                 (uint64_t)int_small(ws[j], range, thr32, k0, k1,
                                                     wt + (uint64_t)j));
        } else {
            uint64_t wt = w0 + 2 * (uint64_t)e0;
            const uint32_t *ws = gk_stream_words(k0, k1, wt, 2 * len, buf);
            for (gk_index j = 0; j < len; ++j) {
                uint64_t x = (uint64_t)ws[2 * j] | ((uint64_t)ws[2 * j + 1] << 32);
                o[j] = (int64_t)((uint64_t)low +
                                 int_large(x, range, thr64, k0, k1, wt + 2 * (uint64_t)j));
            }
        }
    }
}

/* ---- constant fills (gradkit.init's zeros, ones, constant, eye) ----------------------
 * Bound by the stores alone, but compiled per ISA like the rest: the full vector width
 * matters in cache (a fill compiled for SSE2 took 106 us on 1e6 float32 elements at 2
 * threads of an AVX-512 Xeon guest, torch's zeros_ 51 us).  Tiles split over the
 * threads.  A fill past gk_fill_streams' size is written with non-temporal stores
 * straight from a register (no read of the lines it overwrites; one fence per thread
 * at the end -- a fence per 64 KiB tile made a 64 MB fill 7% slower); a smaller one
 * with string stores where the CPU has fast ones (gk_fill_string: whole lines, not
 * read first, left in cache), else with vector stores. */
#define GK_FILL_TILE ((gk_index)16384)
#if defined(__AVX512F__)
typedef float gk_fill_vf __attribute__((vector_size(64)));
typedef double gk_fill_vd __attribute__((vector_size(64)));
#define GK_FILL_NT_F32(p, v) _mm512_stream_ps((p), (__m512)(v))
#define GK_FILL_NT_F64(p, v) _mm512_stream_pd((p), (__m512d)(v))
#elif defined(__AVX__)
typedef float gk_fill_vf __attribute__((vector_size(32)));
typedef double gk_fill_vd __attribute__((vector_size(32)));
#define GK_FILL_NT_F32(p, v) _mm256_stream_ps((p), (__m256)(v))
#define GK_FILL_NT_F64(p, v) _mm256_stream_pd((p), (__m256d)(v))
#elif defined(__SSE2__)
typedef float gk_fill_vf __attribute__((vector_size(16)));
typedef double gk_fill_vd __attribute__((vector_size(16)));
#define GK_FILL_NT_F32(p, v) _mm_stream_ps((p), (__m128)(v))
#define GK_FILL_NT_F64(p, v) _mm_stream_pd((p), (__m128d)(v))
#else  /* no non-temporal store: the plain loop below does every element */
#define GK_FILL_NO_NT
typedef float gk_fill_vf __attribute__((vector_size(16)));
typedef double gk_fill_vd __attribute__((vector_size(16)));
#define GK_FILL_NT_F32(p, v) __builtin_memcpy((p), &(v), sizeof(v))
#define GK_FILL_NT_F64(p, v) __builtin_memcpy((p), &(v), sizeof(v))
#endif

/* out[0, n) = v, except the ndiag elements k * dstep (k < ndiag), which get dv (eye: a
 * rows x cols matrix has dstep = cols + 1).  Streamed: the vectors that hold a diagonal
 * element are stored with it (writing it afterwards would read its line back from
 * memory); the plain stores at a tile's ends, and every store of an unstreamed output,
 * take v, then the diagonal elements among them get dv. */
#define GK_DEFINE_FILL(T, SFX, VT, NT_STORE) \
static void fill_##SFX(T *out, gk_index n, T v, gk_index dstep, gk_index ndiag, T dv) \
{ \
    enum { VL = (int)(sizeof(VT) / sizeof(T)) }; \
    int nt = gk_fill_streams((size_t)n * sizeof(T)); \
    GK_FILL_STREAMS(nt); \
    uint64_t pattern = 0;  /* v repeated over 8 bytes, for the string stores */ \
    for (size_t b = 0; b < 8; b += sizeof(T)) __builtin_memcpy((char *)&pattern + b, &v, sizeof(T)); \
    GK_TILE_LOOP(n, GK_FILL_TILE, t, nt) { \
        const gk_index e0 = t * GK_FILL_TILE, len = gk_tile_len(t, n, GK_FILL_TILE); \
        T *GK_RESTRICT o = out + e0; \
        const gk_index k0 = ndiag ? (e0 + dstep - 1) / dstep : 0;  /* first diagonal here */ \
        gk_index j = 0, v0 = 0, v1 = 0;  /* [v0, v1): the streamed vectors */ \
        if (nt) {  /* plain stores up to the first vector boundary and after the last */ \
            VT vv;  /* v in every lane (not 0 + v, which loses -0.0's sign) */ \
            for (int l = 0; l < VL; ++l) vv[l] = v; \
            for (; j < len && ((uintptr_t)(o + j) & (sizeof(VT) - 1)); ++j) o[j] = v; \
            v0 = j; \
            gk_index k = k0; \
            for (; j + VL <= len; j += VL) { \
                VT x = vv; \
                for (; k < ndiag && k * dstep - e0 < j + VL; ++k) \
                    if (k * dstep - e0 >= j) x[k * dstep - e0 - j] = dv; \
                NT_STORE(o + j, x); \
            } \
            v1 = j; \
        } else if (gk_fill_string(o, sizeof(T) * (size_t)len, pattern)) { \
            j = len; \
        } \
        for (; j < len; ++j) o[j] = v; \
        for (gk_index k = k0; k < ndiag && k * dstep - e0 < len; ++k) { \
            const gk_index p = k * dstep - e0; \
            if (p < v0 || p >= v1) o[p] = dv; \
        } \
    } \
}
#ifdef GK_FILL_NO_NT
#define GK_FILL_STREAMS(nt) (nt) = 0
#else
#define GK_FILL_STREAMS(nt) (void)0
#endif
GK_DEFINE_FILL(float, f32, gk_fill_vf, GK_FILL_NT_F32)
GK_DEFINE_FILL(double, f64, gk_fill_vd, GK_FILL_NT_F64)

#include "random_haar.h"

const gk_random_table GK_ISA_SYM(gk_random_table) = {
    .bits32 = bits32,
    .uniform_f32 = uniform_f32,
    .uniform_f64 = uniform_f64,
    .normal_f32 = normal_f32,
    .normal_f64 = normal_f64,
    .trunc_normal_f32 = trunc_normal_f32,
    .trunc_normal_f64 = trunc_normal_f64,
    .integers = integers,
    .fill_f32 = fill_f32,
    .fill_f64 = fill_f64,
    .haar_q_f64 = haar_q_f64,
};
