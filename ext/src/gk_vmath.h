/* Elementary functions for the random kernels, written as plain arithmetic so the
 * compiler inlines and vectorizes them (a libm call would keep a loop scalar) and so the
 * results are the same bits for every ISA build (no FMA contraction, see meson.build).
 * Only the arguments the generators need are handled:
 *   log of an integer k >= 1 (the uniforms of Box-Muller are k * 2**-bits),
 *   sin and cos of 2*pi*u for u in [0, 1) (float: of t*pi/2, t = 4u in [0, 4)).
 * float versions for float32 output (a few ulp), double versions for float64 output
 * (about 1e-16 relative).  Not installed. */
#ifndef GK_VMATH_H
#define GK_VMATH_H

#include <stdint.h>
#include <string.h>
#include "gk_internal.h"

#define GK_LN2_F 0.693147180559945309f
#define GK_LN2_HI 0.6931471803691238       /* ln 2 to 32 bits: e * GK_LN2_HI is exact */
#define GK_LN2_LO 1.9082149292705877e-10   /* ln 2 - GK_LN2_HI */
#define GK_SQRT2 1.4142135623730951
#define GK_PIO2 1.5707963267948966

/* ln(k 2**-shift) for a float k >= 1 holding an integer (exact in float).
 * k = m 2**e with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m-1)/(m+1),
 * |s| <= 0.1716, odd series to s**9 (next term below 2e-9 relative).  The shift is
 * applied to the exponent, so ln(k 2**-shift) near 0 keeps its relative accuracy. */
GK_INLINE float gk_logf_scaled(float k, int32_t shift)
{
    uint32_t bits;
    memcpy(&bits, &k, sizeof bits);
    int32_t e = (int32_t)(bits >> 23) - 127;
    uint32_t mb = (bits & 0x007fffffu) | 0x3f800000u;
    float m;
    memcpy(&m, &mb, sizeof m);
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    e += big - shift;
    float s = (m - 1.0f) / (m + 1.0f);
    float s2 = s * s;
    float poly = 1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9))));
    return (float)e * GK_LN2_F + 2.0f * s * poly;
}

/* ln(k 2**-shift) for a double k >= 1 holding an integer; series to s**21 (next term
 * below 3e-17 relative). */
GK_INLINE double gk_log_scaled(double k, int32_t shift)
{
    /* 32-bit integers where possible: AVX2 converts int32 (not int64) to double */
    uint64_t bits;
    memcpy(&bits, &k, sizeof bits);
    int32_t e = (int32_t)(uint32_t)(bits >> 52) - 1023;
    uint64_t mb = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &mb, sizeof m);
    int32_t big = m > GK_SQRT2;
    m = big ? m * 0.5 : m;
    e += big - shift;
    double s = (m - 1.0) / (m + 1.0);
    double s2 = s * s;
    double poly = 1.0 / 21;
    poly = 1.0 / 19 + s2 * poly;
    poly = 1.0 / 17 + s2 * poly;
    poly = 1.0 / 15 + s2 * poly;
    poly = 1.0 / 13 + s2 * poly;
    poly = 1.0 / 11 + s2 * poly;
    poly = 1.0 / 9 + s2 * poly;
    poly = 1.0 / 7 + s2 * poly;
    poly = 1.0 / 5 + s2 * poly;
    poly = 1.0 / 3 + s2 * poly;
    double de = (double)e;
    /* e ln2 split so the sum keeps full precision for |e| up to 64 */
    return de * GK_LN2_HI + (2.0 * s + (2.0 * s * s2 * poly + de * GK_LN2_LO));
}

/* sin and cos of t pi/2 for t = j * 2**-22 in [0, 4) (a quarter-turn count), float.
 * With q the nearest integer to t and f = t - q in [-1/2, 1/2] (exact), x = f pi/2 lies
 * in [-pi/4, pi/4] and t pi/2 = q pi/2 + x: quadrant q selects among +-sin x, +-cos x
 * (odd q swaps them; the signs are flipped on the float's sign bit). */
GK_INLINE void gk_sincos_quarterf(float t, float *sn, float *cs)
{
    int32_t q = (int32_t)(t + 0.5f);
    float x = (t - (float)q) * (float)GK_PIO2;
    float x2 = x * x;
    /* least-squares fits on Chebyshev nodes of [0, pi/4] (near minimax): relative
     * error 4e-9 (sin) and 1.2e-10 (cos), one term shorter than Taylor */
    float s = x + x * x2 * (-0.1666665514011859f + x2 * (0.008332186532873962f +
                                                        x2 * -0.0001951815136707058f));
    float c = 1.0f + x2 * (-0.5f + x2 * (0.04166664559061917f + x2 * (
                  -0.0013887312834860097f + x2 * 2.443284461913387e-05f)));
    int32_t odd = q & 1;
    float sv = odd ? c : s;   /* sin(q pi/2 + x): s, c, -s, -c */
    float cv = odd ? s : c;   /* cos(q pi/2 + x): c, -s, -c, s */
    uint32_t sb, cb;
    memcpy(&sb, &sv, sizeof sb);
    memcpy(&cb, &cv, sizeof cb);
    sb ^= ((uint32_t)q & 2u) << 30;
    cb ^= ((uint32_t)(q + 1) & 2u) << 30;
    memcpy(sn, &sb, sizeof sb);
    memcpy(cs, &cb, sizeof cb);
}

/* The same for double, u = j * 2**-53; series to x**19 / x**18 (error < 1e-17). */
GK_INLINE void gk_sincos2pi(double u, double *sn, double *cs)
{
    double t = 4.0 * u;
    int32_t q = (int32_t)(t + 0.5);
    double x = (t - (double)q) * GK_PIO2;
    double x2 = x * x;
    double s = -1.0 / 121645100408832000.0;               /* -1/19! */
    s = 1.0 / 355687428096000.0 + x2 * s;                 /* 1/17! */
    s = -1.0 / 1307674368000.0 + x2 * s;
    s = 1.0 / 6227020800.0 + x2 * s;
    s = -1.0 / 39916800.0 + x2 * s;
    s = 1.0 / 362880.0 + x2 * s;
    s = -1.0 / 5040.0 + x2 * s;
    s = 1.0 / 120.0 + x2 * s;
    s = -1.0 / 6.0 + x2 * s;
    s = x + x * x2 * s;
    double c = -1.0 / 6402373705728000.0;                 /* -1/18! */
    c = 1.0 / 20922789888000.0 + x2 * c;                  /* 1/16! */
    c = -1.0 / 87178291200.0 + x2 * c;
    c = 1.0 / 479001600.0 + x2 * c;
    c = -1.0 / 3628800.0 + x2 * c;
    c = 1.0 / 40320.0 + x2 * c;
    c = -1.0 / 720.0 + x2 * c;
    c = 1.0 / 24.0 + x2 * c;
    c = -0.5 + x2 * c;
    c = 1.0 + x2 * c;
    int32_t qm = q & 3;
    double sv = (qm & 1) ? c : s;
    double cv = (qm & 1) ? s : c;
    *sn = (qm & 2) ? -sv : sv;
    *cs = ((qm + 1) & 2) ? -cv : cv;
}

/* Acklam's rational approximation of the standard normal quantile (relative error
 * below 1.15e-9), central region p in [0.02425, 0.97575]. */
#define GK_ACKLAM_PLOW 0.02425
GK_INLINE double gk_ndtri_central(double p)
{
    double q = p - 0.5, r = q * q;
    double num = -3.969683028665376e+01;
    num = num * r + 2.209460984245205e+02;
    num = num * r - 2.759285104469687e+02;
    num = num * r + 1.383577518672690e+02;
    num = num * r - 3.066479806614716e+01;
    num = num * r + 2.506628277459239e+00;
    double den = -5.447609879822406e+01;
    den = den * r + 1.615858368580409e+02;
    den = den * r - 1.556989798598866e+02;
    den = den * r + 6.680131188771972e+01;
    den = den * r - 1.328068155288572e+01;
    den = den * r + 1.0;
    return num * q / den;
}

/* Lower tail p < 0.02425 (the upper tail is -ndtri_tail(1 - p)); libm log, scalar. */
static inline double gk_ndtri_tail(double p)
{
    double q = sqrt(-2.0 * log(p));
    double num = -7.784894002430293e-03;
    num = num * q - 3.223964580411365e-01;
    num = num * q - 2.400758277161838e+00;
    num = num * q - 2.549732539343734e+00;
    num = num * q + 4.374664141464968e+00;
    num = num * q + 2.938163982698783e+00;
    double den = 7.784695709041462e-03;
    den = den * q + 3.224671290700398e-01;
    den = den * q + 2.445134137142996e+00;
    den = den * q + 3.754408661907416e+00;
    den = den * q + 1.0;
    return num / den;
}

/* Standard normal quantile, Acklam (1e-9 relative), any p in (0, 1). */
static inline double gk_ndtri_acklam(double p)
{
    if (!(p > 0.0))
        return -INFINITY;
    if (!(p < 1.0))
        return INFINITY;
    if (p < GK_ACKLAM_PLOW)
        return gk_ndtri_tail(p);
    if (p > 1.0 - GK_ACKLAM_PLOW)
        return -gk_ndtri_tail(1.0 - p);
    return gk_ndtri_central(p);
}

/* Standard normal CDF. */
static inline double gk_ndtr(double x) { return 0.5 * erfc(-x / GK_SQRT2); }

/* One Halley step on Phi(x) = p: from Acklam's 1e-9 to full double precision. */
static inline double gk_ndtri_refine(double x, double p)
{
    /* beyond 37 standard deviations the density underflows (exp(x^2/2) overflows):
     * keep Acklam's value there */
    if (!(fabs(x) <= 37.0))
        return x;
    double e = gk_ndtr(x) - p;
    double u = e * 2.5066282746310007 * exp(0.5 * x * x);
    return x - u / (1.0 + 0.5 * x * u);
}

#endif
