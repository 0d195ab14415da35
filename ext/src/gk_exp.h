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
#endif
