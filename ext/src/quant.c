/* Quantization kernels (min/max observation, quantize, dequantize), compiled once per
 * ISA. */
#include "reduce.h"
#include "quant_kernels.h"

#define GK_QCHUNK ((gk_index)16384)   /* inner elements per task */
#define GK_QROW_MIN 64                /* rows shorter than this go by outer slices */
/* x past the cache (as large as the outputs the kernels stream): its passes prefetch
 * GK_Q_AHEAD bytes ahead, as the probes of the limit do.  Per tensor, 8192 x 1024
 * float32 from memory at 1 thread (AMD EPYC (Zen 5) guest): the observation 1.01 ->
 * 0.88 ms against the read probe's 0.75. */
#define GK_Q_AHEAD 2048
#define GK_Q_FAR(n, T) ((size_t)(n) * sizeof(T) >= gk_get_stream_min_bytes())

/* Runs the statement after the arguments for every span of an (outer, channels, inner)
 * array, in parallel, with `c` the span's channel, `at` its first element and `len` its
 * length: whole rows of outer slices when rows are short, else chunks of at most
 * GK_QCHUNK elements of each row (quant_tmpl.h). */
#define GK_QUANT_FOR_SPANS(outer, channels, inner, c, at, len, ...) \
    do { \
        int nt_ = gk_threads_for((outer) * (channels) * (inner)); \
        (void)nt_;  /* read by the pragmas only */ \
        if ((inner) < GK_QROW_MIN && (channels) > 1) { \
            _Pragma("omp parallel for num_threads(nt_) schedule(static) if(nt_ > 1)") \
            for (gk_index o_ = 0; o_ < (outer); ++o_) \
                for (gk_index c = 0; c < (channels); ++c) { \
                    const gk_index at = (o_ * (channels) + c) * (inner), len = (inner); \
                    __VA_ARGS__ \
                } \
        } else { \
            gk_index nck_ = ((inner) + GK_QCHUNK - 1) / GK_QCHUNK; \
            _Pragma("omp parallel for num_threads(nt_) schedule(static) if(nt_ > 1)") \
            for (gk_index t_ = 0; t_ < (outer) * (channels) * nck_; ++t_) { \
                const gk_index r_ = t_ / nck_, off_ = (t_ % nck_) * GK_QCHUNK; \
                const gk_index c = r_ % (channels), at = r_ * (inner) + off_; \
                const gk_index len = (inner) - off_ < GK_QCHUNK ? (inner) - off_ : GK_QCHUNK; \
                __VA_ARGS__ \
            } \
        } \
    } while (0)

/* One quantized value: round half to even of fl32(x * inv + z), clamped to [lo, hi].
 * For float data the sum is formed in double (x * inv is exact there) and rounded once
 * to float32, which is what a fused multiply-add gives (PyTorch's x86 per-tensor
 * kernel); rounding uses the 1.5 * 2^23 trick after the clamp (|v| <= 255). */
GK_INLINE int32_t qval_f32(float x, double inv, double z, int lo, int hi)
{
    float v = (float)((double)x * inv + z);
    v = v == v ? v : (float)z;
    v = v < (float)lo ? (float)lo : v;
    v = v > (float)hi ? (float)hi : v;
    float r = (v + 12582912.0f) - 12582912.0f;
    return (int32_t)r;
}

/* float64 data: the same in double, with no float32 rounding */
GK_INLINE int32_t qval_f64(double x, double inv, double z, int lo, int hi)
{
    double v = x * inv + z;
    v = v == v ? v : z;
    v = v < (double)lo ? (double)lo : v;
    v = v > (double)hi ? (double)hi : v;
    double r = (v + 6755399441055744.0) - 6755399441055744.0;
    return (int32_t)r;
}

/* float32 data with zero point 0 (every symmetric scheme): x * inv in double is exact,
 * so fl32((double)x * inv + 0) is fl32(x * inv), the float product -- the same bits as
 * qval_f32 in float vectors of twice the width.  NaN is mapped to z = 0 as there; the
 * clamped v is rounded half to even, by the 1.5 * 2^23 trick or, in AVX2, by
 * vcvtps2dq under the default rounding mode (the same for |v| <= 255). */
#if defined(__AVX2__)
/* 32 values of [lo, hi] as int32 in four vectors -> 32 bytes in order; `u`: unsigned */
GK_INLINE __m256i gk_pack32(__m256i a, __m256i b, __m256i c, __m256i d, int u)
{
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    __m256i r = u ? _mm256_packus_epi16(ab, cd) : _mm256_packs_epi16(ab, cd);
    /* the packs work within 128-bit lanes: dwords come out as 0 2 4 6 1 3 5 7 */
    return _mm256_permutevar8x32_epi32(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
GK_INLINE __m256i gk_q8(const float *x, __m256 inv, __m256 lo, __m256 hi)
{
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x), inv);
    v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));   /* NaN -> 0 */
    v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
    return _mm256_cvtps_epi32(v);
}
#endif
#define GK_QUANTIZE_Z0(QT, QN, QMIN, QMAX) \
GK_INLINE void quantize_z0##QN(const float *GK_RESTRICT x, float inv, QT *GK_RESTRICT q, \
                               gk_index n, int far) \
{ \
    gk_index i = 0; \
    GK_QUANTIZE_Z0_SIMD(QMIN, QMAX) \
    for (; i < n; ++i) { \
        float v = x[i] * inv; \
        v = v == v ? v : 0.0f; \
        v = v < (float)(QMIN) ? (float)(QMIN) : v; \
        v = v > (float)(QMAX) ? (float)(QMAX) : v; \
        q[i] = (QT)(int32_t)((v + 12582912.0f) - 12582912.0f); \
    } \
}
#if defined(__AVX512F__)
/* AVX-512: 16 values a vector, narrowed by vpmov(u)sdb (the clamped values need no
 * saturation), where AVX2 packs 32 with four packs and a permute.  Per tensor, 8192 x
 * 1024 float32, the quantize pass alone at 1 thread (AMD EPYC (Zen 5) guest, timed
 * interleaved): from memory 1.50 -> 1.02 ms (its probe 0.86), in cache (256 x 1024)
 * 39-49 -> 13 us. */
GK_INLINE __m512i gk_q16(const float *x, __m512 inv, __m512 lo, __m512 hi)
{
    __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x), inv);
    v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);   /* NaN -> 0 */
    return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v, lo), hi));
}
#define GK_QUANTIZE_Z0_SIMD(QMIN, QMAX) \
    const __m512 vi = _mm512_set1_ps(inv), vlo = _mm512_set1_ps((float)(QMIN)), \
                 vhi = _mm512_set1_ps((float)(QMAX)); \
    for (; i + 32 <= n; i += 32) { \
        if (far) { \
            __builtin_prefetch((const char *)(x + i) + GK_Q_AHEAD, 0, 3); \
            __builtin_prefetch((const char *)(x + i + 16) + GK_Q_AHEAD, 0, 3); \
        } \
        __m512i a = gk_q16(x + i, vi, vlo, vhi), b = gk_q16(x + i + 16, vi, vlo, vhi); \
        __m128i qa = (QMIN) == 0 ? _mm512_cvtusepi32_epi8(a) : _mm512_cvtsepi32_epi8(a); \
        __m128i qb = (QMIN) == 0 ? _mm512_cvtusepi32_epi8(b) : _mm512_cvtsepi32_epi8(b); \
        _mm_storeu_si128((__m128i *)(void *)(q + i), qa); \
        _mm_storeu_si128((__m128i *)(void *)(q + i + 16), qb); \
    }
#elif defined(__AVX2__)
#define GK_QUANTIZE_Z0_SIMD(QMIN, QMAX) \
    const __m256 vi = _mm256_set1_ps(inv), vlo = _mm256_set1_ps((float)(QMIN)), \
                 vhi = _mm256_set1_ps((float)(QMAX)); \
    (void)far; \
    for (; i + 32 <= n; i += 32) \
        _mm256_storeu_si256((__m256i *)(void *)(q + i), gk_pack32( \
            gk_q8(x + i, vi, vlo, vhi), gk_q8(x + i + 8, vi, vlo, vhi), \
            gk_q8(x + i + 16, vi, vlo, vhi), gk_q8(x + i + 24, vi, vlo, vhi), (QMIN) == 0));
#else
#define GK_QUANTIZE_Z0_SIMD(QMIN, QMAX) (void)far;
#endif
GK_QUANTIZE_Z0(int8_t, _s8, -128, 127)
GK_QUANTIZE_Z0(uint8_t, _u8, 0, 255)
#undef GK_QUANTIZE_Z0
#undef GK_QUANTIZE_Z0_SIMD

#define GK_TMPL_A "quant_tmpl.h"
#include "gk_each_dtype.h"

/* dequantize: y = (q - zp) * scale in float32; (q - zp) is an exact small integer */
#define GK_DEQUANTIZE_FN(QT, QN) \
static void dequantize_##QN(const QT *q, const float *scale, const int32_t *zp, float *y, \
                            gk_index outer, gk_index channels, gk_index inner) \
{ \
    GK_QUANT_FOR_SPANS(outer, channels, inner, c, at, len, { \
        float s = scale[c]; \
        int32_t z = zp[c]; \
        const QT *qs = q + at; \
        float *ys = y + at; \
        for (gk_index i = 0; i < len; ++i) \
            ys[i] = (float)((int32_t)qs[i] - z) * s; \
    }); \
}
GK_DEQUANTIZE_FN(int8_t, s8)
GK_DEQUANTIZE_FN(uint8_t, u8)

#include "quant_lowbit.h"

const gk_quant_table GK_ISA_SYM(gk_quant_table) = {
    .minmax_f32 = minmax_f32, .quantize_f32_s8 = quantize_f32_s8,
    .quantize_f32_u8 = quantize_f32_u8,
    .minmax_f64 = minmax_f64, .quantize_f64_s8 = quantize_f64_s8,
    .quantize_f64_u8 = quantize_f64_u8,
    .dequantize_s8 = dequantize_s8, .dequantize_u8 = dequantize_u8,
    .rtn_f32 = rtn_f32, .gptq_f32 = gptq_f32, .gptq_hinv_f32 = gptq_hinv_f32, .pack_lowbit = pack_lowbit,
    .unpack_lowbit = unpack_lowbit, .dequantize_weight_f32 = dequantize_weight_f32,
    .qlinear_f32 = qlinear_f32, .gram_f32 = gram_f32, .gram_f64 = gram_f64,
};
