/* exp for the softmax kernels, written so the compiler vectorizes it (no libm call in
 * the loop) and so every ISA gets the same bits: plain C, no FMA contraction
 * (-ffp-contract=off), round-to-nearest by the 1.5*2^k trick.  Defined for x <= 0
 * (arguments are z - max z).  Underflow costs no compare: x is clamped just below the
 * point where 2^n leaves the normal range, and there the exponent bits of 2^n come out
 * 0, so the result is exactly 0 (below about 2^-126 a result is 0, or subnormal in a
 * sliver just under 2^-126). */
#ifndef GK_EXP_H
#define GK_EXP_H
#include <stdint.h>
#include <string.h>

/* float: x = (16 j + i) ln2/16 + r, |r| <= ln2/32, by a two-part Cody-Waite reduction
 * (k = 16 j + i rounded from x 16/ln2; k C1 is exact), then
 *   exp(x) = 2^j (T_i + T_i p(r)),  T_i = 2^(i/16) rounded to float,
 *   p(r)   = r + r^2 (1/2 + r/6)    (exp(r) - 1 to within r^4/24 < 1e-8),
 * within 1.06 ulp of the correctly rounded exp (every float of [-0.001, 0] and every
 * eighth one down to -88 checked; the Cephes form this replaced, 0.998).  21 vector operations with the lookup of T_i (one
 * permute on AVX-512), where the Cephes polynomial on |r| <= ln2/2 took 28: the exps
 * set the pace of the softmax rows.  2^j is formed from j's bits, 0 at j = -127 (x
 * clamped at -88: k >= -2031). */
static const float gk_exp2_16th[16] = {   /* 2^(i/16), correctly rounded */
    1.0f,        1.04427373f, 1.09050775f, 1.13878858f, 1.18920708f, 1.24185777f,
    1.29683959f, 1.35425556f, 1.41421354f, 1.47682619f, 1.54221082f, 1.61049032f,
    1.68179286f, 1.75625217f, 1.8340081f,  1.91520655f};
#define GK_EXP_F32_LOG2E16 23.0831203f       /* 16/ln2 */
#define GK_EXP_F32_SHIFTER 12582912.0f       /* 1.5 * 2^23: t's low bits hold k */
#define GK_EXP_F32_C1 0.0433349609375f       /* ln2/16, 9 bits: k C1 exact */
#define GK_EXP_F32_C2 -1.32621526e-05f       /* ln2/16 - C1 */
/* the bits of 2^j (j = floor(k / 16)) from those of t: (j + 127) << 23, on vectors (the
 * scalar form shifts unsigned: a NaN's bits would overflow a signed shift) */
#define GK_EXP_F32_SCALE_BITS(ti) ((((ti) - (0x4B400000 - 127 * 16)) >> 4) << 23)

GK_INLINE float gk_exp_neg_f32(float x)
{
    float xc = x < -88.0f ? -88.0f : x;
    float t = xc * GK_EXP_F32_LOG2E16 + GK_EXP_F32_SHIFTER;
    float k = t - GK_EXP_F32_SHIFTER;
    float r = xc - k * GK_EXP_F32_C1;
    r = r - k * GK_EXP_F32_C2;
    float p = r * r * (r * (1.0f / 6.0f) + 0.5f) + r;
    int32_t tb, sb;
    memcpy(&tb, &t, sizeof tb);
    float ti = gk_exp2_16th[tb & 15];
    sb = (int32_t)((uint32_t)((tb - (0x4B400000 - 127 * 16)) >> 4) << 23);   /* as below */
    float s;
    memcpy(&s, &sb, sizeof s);
    return (ti * p + ti) * s;
}

/* double: same reduction with a split ln2 and the Taylor series to degree 13 (the
 * remainder is below 1e-17 for |r| <= ln2/2). */
GK_INLINE double gk_exp_neg_f64(double x)
{
    const double shifter = 6755399441055744.0;  /* 1.5 * 2^52 */
    double xc = x < -709.0 ? -709.0 : x;       /* n >= -1023: 2^-1023 has bits 0 */
    double t = xc * 1.4426950408889634074 + shifter;
    double n = t - shifter;
    double r = xc - n * 6.93147180369123816490e-01;
    r = r - n * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * (r * r) + r + 1.0;
    int64_t tb, sb;
    memcpy(&tb, &t, sizeof tb);
    sb = (int64_t)((uint64_t)(tb - 0x4338000000000000LL + 1023) << 52);
    double s;
    memcpy(&s, &sb, sizeof s);
    return p * s;
}
/* The same two functions on 8 lanes at once (GCC/Clang vector extensions; the compiler
 * splits them into the ISA's vectors), operation for operation as above, so every lane
 * gets the scalar function's bits.  Written out because GCC does not vectorize the
 * scalar form inside the blocked sum loops of the softmax kernels. */
typedef float gk_v8f __attribute__((vector_size(32)));
typedef int32_t gk_v8i __attribute__((vector_size(32)));
typedef double gk_v8d __attribute__((vector_size(64)));
typedef int64_t gk_v8l __attribute__((vector_size(64)));

/* x < c ? c : x lane by lane (NaN stays NaN) = maxps(c, x): a NaN in either operand
 * gives the second.  GCC leaves the select as cmp/and/andn/or. */
#if defined(__AVX512F__)
#include <immintrin.h>
/* 16 float32 lanes: one AVX-512 register */
typedef float gk_v16f __attribute__((vector_size(64)));
typedef int32_t gk_v16i __attribute__((vector_size(64)));
#endif

#if defined(__AVX__)
#include <immintrin.h>
GK_INLINE gk_v8f gk_clamp_v_f32(gk_v8f x)
{
    return (gk_v8f)_mm256_max_ps(_mm256_set1_ps(-88.0f), (__m256)x);
}

GK_INLINE gk_v8d gk_clamp_v_f64(gk_v8d x)
{
#if defined(__AVX512F__)
    return (gk_v8d)_mm512_max_pd(_mm512_set1_pd(-709.0), (__m512d)x);
#endif
    __m256d c = _mm256_set1_pd(-709.0), lo, hi;
    __builtin_memcpy(&lo, &x, sizeof lo);
    __builtin_memcpy(&hi, (const char *)&x + sizeof lo, sizeof hi);
    lo = _mm256_max_pd(c, lo);
    hi = _mm256_max_pd(c, hi);
    gk_v8d r;
    __builtin_memcpy(&r, &lo, sizeof lo);
    __builtin_memcpy((char *)&r + sizeof lo, &hi, sizeof hi);
    return r;
}
#else
GK_INLINE gk_v8f gk_clamp_v_f32(gk_v8f x)
{
    gk_v8i lo = x < -88.0f;
    return (gk_v8f)(((gk_v8i)x & ~lo) | ((gk_v8i)((gk_v8f){0} - 88.0f) & lo));
}

GK_INLINE gk_v8d gk_clamp_v_f64(gk_v8d x)
{
    gk_v8l lo = x < -709.0;
    return (gk_v8d)(((gk_v8l)x & ~lo) | ((gk_v8l)((gk_v8d){0} - 709.0) & lo));
}
#endif

#if defined(__AVX512F__)
GK_INLINE gk_v16f gk_clamp_v16_f32(gk_v16f x)
{
    return (gk_v16f)_mm512_max_ps(_mm512_set1_ps(-88.0f), (__m512)x);
}
#endif

/* T_i of gk_exp_neg_f32 for the low 4 bits of every lane of ti */
#if defined(__AVX512F__)
GK_INLINE gk_v16f gk_exp_tab_v16(gk_v16i ti)
{
    return (gk_v16f)_mm512_permutexvar_ps((__m512i)ti, _mm512_loadu_ps(gk_exp2_16th));
}

GK_INLINE gk_v8f gk_exp_tab_v8(gk_v8i ti)
{
    return (gk_v8f)_mm256_permutex2var_ps(_mm256_loadu_ps(gk_exp2_16th), (__m256i)ti,
                                          _mm256_loadu_ps(gk_exp2_16th + 8));
}
#elif defined(__AVX2__)
GK_INLINE gk_v8f gk_exp_tab_v8(gk_v8i ti)
{
    __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(gk_exp2_16th), (__m256i)ti);
    __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(gk_exp2_16th + 8), (__m256i)ti);
    return (gk_v8f)_mm256_blendv_ps(lo, hi, (__m256)(ti << 28));   /* by bit 3 */
}
#else
GK_INLINE gk_v8f gk_exp_tab_v8(gk_v8i ti)
{
    gk_v8f r;
    for (int k = 0; k < 8; ++k) r[k] = gk_exp2_16th[ti[k] & 15];
    return r;
}
#endif
/* The float32 exp on vectors of V (integer vectors VI), x clamped by CLAMP, T_i looked
 * up by TAB: the scalar gk_exp_neg_f32's operations lane by lane, so the same bits at
 * any width.  Defined for 8 lanes and, with AVX-512, 16. */
#define GK_DEFINE_EXP_NEG_V_F32(NAME, V, VI, CLAMP, TAB) \
GK_INLINE V NAME(V x) \
{ \
    V xc = CLAMP(x); \
    V t = xc * GK_EXP_F32_LOG2E16 + GK_EXP_F32_SHIFTER; \
    V k = t - GK_EXP_F32_SHIFTER; \
    V r = xc - k * GK_EXP_F32_C1; \
    r = r - k * GK_EXP_F32_C2; \
    V p = r * r * (r * (1.0f / 6.0f) + 0.5f) + r; \
    V ti = TAB((VI)t); \
    VI sb = GK_EXP_F32_SCALE_BITS((VI)t); \
    return (ti * p + ti) * (V)sb; \
}
GK_DEFINE_EXP_NEG_V_F32(gk_exp_neg_v_f32, gk_v8f, gk_v8i, gk_clamp_v_f32, gk_exp_tab_v8)
#if defined(__AVX512F__)
GK_DEFINE_EXP_NEG_V_F32(gk_exp_neg_v16_f32, gk_v16f, gk_v16i, gk_clamp_v16_f32,
                        gk_exp_tab_v16)
#endif

GK_INLINE gk_v8d gk_exp_neg_v_f64(gk_v8d x)
{
    const gk_v8d shifter = (gk_v8d){0} + 6755399441055744.0;
    gk_v8d xc = gk_clamp_v_f64(x);
    gk_v8d t = xc * 1.4426950408889634074 + shifter;
    gk_v8d n = t - shifter;
    gk_v8d r = xc - n * 6.93147180369123816490e-01;
    r = r - n * 1.90821492927058770002e-10;
    gk_v8d p = (gk_v8d){0} + 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * (r * r) + r + 1.0;
    gk_v8l sb = (gk_v8l)(((gk_v8l)t - 0x4338000000000000LL + 1023) << 52);
    return p * (gk_v8d)sb;
}

#endif
