/* exp for the softmax kernels, written so the compiler vectorizes it (no libm call in
 * the loop) and so every ISA gets the same bits: plain C, no FMA contraction
 * (-ffp-contract=off), round-to-nearest by the 1.5*2^k trick.  Defined for x <= 0
 * (arguments are z - max z).  Underflow costs no compare: x is clamped just below the
 * point where 2^n leaves the normal range, and there the exponent bits of 2^n come out
 * 0, so the result is exactly 0 (results that would be subnormal flush to 0). */
#ifndef GK_EXP_H
#define GK_EXP_H
#include <stdint.h>
#include <string.h>

/* float: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, and the Cephes expf
 * polynomial (relative error below 1 ulp). */
GK_INLINE float gk_exp_neg_f32(float x)
{
    const float shifter = 12582912.0f;          /* 1.5 * 2^23 */
    float xc = x < -88.0f ? -88.0f : x;         /* n >= -127: 2^-127 has bits 0 */
    float t = xc * 1.44269504088896341f + shifter;
    float n = t - shifter;                      /* round(x / ln2), half to even */
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    /* the Cephes polynomial by Estrin's scheme: the same terms as Horner's rule with a
     * dependency chain half as long, which is what bounds this loop's speed */
    float r2 = r * r, r4 = r2 * r2;
    float a = 5.0000001201e-1f + 1.6666665459e-1f * r;
    float b = 4.1665795894e-2f + 8.3334519073e-3f * r;
    float c = 1.3981999507e-3f + 1.9875691500e-4f * r;
    float p = (a + r2 * b) + r4 * c;
    p = p * r2 + r + 1.0f;
    int32_t tb, sb;
    memcpy(&tb, &t, sizeof tb);
    sb = (tb - 0x4B400000 + 127) << 23;        /* the low bits of t hold n */
    float s;
    memcpy(&s, &sb, sizeof s);
    return p * s;
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
/* 16 float32 lanes: the pair of 8-lane vectors below in one AVX-512 register */
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

/* The float32 exp on vectors of V (integer vectors VI), x clamped by CLAMP: the scalar
 * gk_exp_neg_f32's operations lane by lane, so the same bits at any width.  Defined for
 * 8 lanes and, with AVX-512, 16. */
#define GK_DEFINE_EXP_NEG_V_F32(NAME, V, VI, CLAMP) \
GK_INLINE V NAME(V x) \
{ \
    const V shifter = (V){0} + 12582912.0f; \
    V xc = CLAMP(x); \
    V t = xc * 1.44269504088896341f + shifter; \
    V n = t - shifter; \
    V r = xc - n * 0.693359375f; \
    r = r - n * -2.12194440e-4f; \
    V r2 = r * r, r4 = r2 * r2; \
    V a = 5.0000001201e-1f + 1.6666665459e-1f * r; \
    V b = 4.1665795894e-2f + 8.3334519073e-3f * r; \
    V c = 1.3981999507e-3f + 1.9875691500e-4f * r; \
    V p = (a + r2 * b) + r4 * c; \
    p = p * r2 + r + 1.0f; \
    VI sb = ((VI)t - 0x4B400000 + 127) << 23; \
    return p * (V)sb; \
}
GK_DEFINE_EXP_NEG_V_F32(gk_exp_neg_v_f32, gk_v8f, gk_v8i, gk_clamp_v_f32)
#if defined(__AVX512F__)
GK_INLINE gk_v16f gk_clamp_v16_f32(gk_v16f x)
{
    return (gk_v16f)_mm512_max_ps(_mm512_set1_ps(-88.0f), (__m512)x);
}
GK_DEFINE_EXP_NEG_V_F32(gk_exp_neg_v16_f32, gk_v16f, gk_v16i, gk_clamp_v16_f32)
#endif

/* gk_exp_neg_v_f32 of two vectors, statement by statement interleaved: the two
 * ~45-cycle dependency chains then sit side by side in the scheduler, which overlaps
 * them; written one after the other, the loop ran at half its instruction throughput. */
GK_INLINE void gk_exp_neg_v2_f32(gk_v8f *x0, gk_v8f *x1)
{
    const gk_v8f shifter = (gk_v8f){0} + 12582912.0f;
    gk_v8f xc0 = gk_clamp_v_f32(*x0), xc1 = gk_clamp_v_f32(*x1);
    gk_v8f t0 = xc0 * 1.44269504088896341f + shifter, t1 = xc1 * 1.44269504088896341f + shifter;
    gk_v8f n0 = t0 - shifter, n1 = t1 - shifter;
    gk_v8f r0 = xc0 - n0 * 0.693359375f, r1 = xc1 - n1 * 0.693359375f;
    r0 = r0 - n0 * -2.12194440e-4f;
    r1 = r1 - n1 * -2.12194440e-4f;
    gk_v8f q0 = r0 * r0, q1 = r1 * r1;
    gk_v8f f0 = q0 * q0, f1 = q1 * q1;
    gk_v8f a0 = 5.0000001201e-1f + 1.6666665459e-1f * r0;
    gk_v8f a1 = 5.0000001201e-1f + 1.6666665459e-1f * r1;
    gk_v8f b0 = 4.1665795894e-2f + 8.3334519073e-3f * r0;
    gk_v8f b1 = 4.1665795894e-2f + 8.3334519073e-3f * r1;
    gk_v8f c0 = 1.3981999507e-3f + 1.9875691500e-4f * r0;
    gk_v8f c1 = 1.3981999507e-3f + 1.9875691500e-4f * r1;
    gk_v8f p0 = (a0 + q0 * b0) + f0 * c0, p1 = (a1 + q1 * b1) + f1 * c1;
    p0 = p0 * q0 + r0 + 1.0f;
    p1 = p1 * q1 + r1 + 1.0f;
    gk_v8i s0 = ((gk_v8i)t0 - 0x4B400000 + 127) << 23, s1 = ((gk_v8i)t1 - 0x4B400000 + 127) << 23;
    *x0 = p0 * (gk_v8f)s0;
    *x1 = p1 * (gk_v8f)s1;
}

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

/* the float64 pair (8-lane double vectors are already two AVX2 vectors per operation) */
GK_INLINE void gk_exp_neg_v2_f64(gk_v8d *x0, gk_v8d *x1)
{
    *x0 = gk_exp_neg_v_f64(*x0);
    *x1 = gk_exp_neg_v_f64(*x1);
}
#endif
