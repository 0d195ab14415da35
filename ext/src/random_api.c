/* Public entry points of the random family: validate, then call the ISA table. */
#include <math.h>
#include <string.h>
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "random_kernels.h"
#include "gk_vmath.h"

GK_DEFINE_TABLE_GETTER(random)

uint64_t gk_random_words_f32(gk_index n) { return n > 0 ? (uint64_t)n : 0; }
uint64_t gk_random_words_f64(gk_index n) { return n > 0 ? 2 * (uint64_t)n : 0; }
uint64_t gk_random_words_normal_f32(gk_index n) { return n > 0 ? 2 * (uint64_t)((n + 1) / 2) : 0; }
uint64_t gk_random_words_normal_f64(gk_index n) { return n > 0 ? 4 * (uint64_t)((n + 1) / 2) : 0; }
uint64_t gk_random_words_integers(gk_index n, uint64_t range)
{
    if (n <= 0) return 0;
    return range != 0 && range <= ((uint64_t)1 << 32) ? (uint64_t)n : 2 * (uint64_t)n;
}

#define GK_CHECK_OUT(out, n) GK_CHECK_SIZE(n); GK_CHECK_PTR_IF((n) > 0, out)

int gk_random_bits32(uint32_t *out, gk_index n, uint64_t seed, uint64_t counter)
{
    GK_CHECK_OUT(out, n);
    if (n > 0)
        random_table()->bits32(out, n, (uint32_t)seed, (uint32_t)(seed >> 32), counter);
    return GK_OK;
}

/* low, high finite, low <= high, and their difference finite */
static int check_uniform(double low, double high)
{
    GK_CHECK_VALUE(isfinite(low), low);
    GK_CHECK_VALUE(isfinite(high) && low <= high && isfinite(high - low), high);
    return GK_OK;
}

int gk_random_uniform_f32(float *out, gk_index n, double low, double high, uint64_t seed,
                          uint64_t counter)
{
    GK_CHECK_OUT(out, n);
    GK_RETURN_IF(check_uniform(low, high));
    float lo = (float)low, hi = (float)high;  /* finite in float32 too */
    GK_CHECK_VALUE(isfinite(lo), low);
    GK_CHECK_VALUE(isfinite(hi), high);
    float below = hi > lo ? nextafterf(hi, lo) : lo;
    if (n > 0)
        random_table()->uniform_f32(out, n, lo, (float)((double)hi - (double)lo), below, hi,
                                    (uint32_t)seed, (uint32_t)(seed >> 32), counter);
    return GK_OK;
}

int gk_random_uniform_f64(double *out, gk_index n, double low, double high, uint64_t seed,
                          uint64_t counter)
{
    GK_CHECK_OUT(out, n);
    GK_RETURN_IF(check_uniform(low, high));
    double below = high > low ? nextafter(high, low) : low;
    if (n > 0)
        random_table()->uniform_f64(out, n, low, high - low, below, high, (uint32_t)seed,
                                    (uint32_t)(seed >> 32), counter);
    return GK_OK;
}

static int check_normal(double mean, double std)
{
    GK_CHECK_VALUE(isfinite(mean), mean);
    GK_CHECK_VALUE(isfinite(std) && std >= 0.0, std);
    return GK_OK;
}

/* mean and std are cast to T (float32 draws are made in float32) */
#define GK_DEFINE_NORMAL(T, SFX) \
int gk_random_normal_##SFX(T *out, gk_index n, double mean, double std, uint64_t seed, \
                           uint64_t counter) \
{ \
    GK_CHECK_OUT(out, n); \
    GK_RETURN_IF(check_normal(mean, std)); \
    if (n > 0) \
        random_table()->normal_##SFX(out, n, (T)mean, (T)std, (uint32_t)seed, \
                                     (uint32_t)(seed >> 32), counter); \
    return GK_OK; \
}
GK_DEFINE_NORMAL(float, f32)
GK_DEFINE_NORMAL(double, f64)

static int trunc_params(gk_trunc_params *tp, double mean, double std, double a, double b)
{
    GK_CHECK_VALUE(isfinite(mean), mean);
    GK_CHECK_VALUE(isfinite(std) && std > 0.0, std);
    GK_CHECK_VALUE(!isnan(a), a);
    GK_CHECK_VALUE(!isnan(b) && a <= b, b);
    double as = (a - mean) / std, bs = (b - mean) / std;
    tp->mean = mean;
    tp->std = std;
    tp->lo = a;
    tp->hi = b;
    tp->sign = 1.0;
    if (as > 0.0) {  /* all above the mean: draw on [-b', -a'], in the accurate lower tail */
        double t = as;
        as = -bs;
        bs = -t;
        tp->sign = -1.0;
    }
    tp->pa = gk_ndtr(as);
    tp->span = gk_ndtr(bs) - tp->pa;
    return GK_OK;
}

#define GK_DEFINE_TRUNC_NORMAL(T, SFX) \
int gk_random_trunc_normal_##SFX(T *out, gk_index n, double mean, double std, double a, \
                                 double b, uint64_t seed, uint64_t counter) \
{ \
    gk_trunc_params tp; \
    GK_CHECK_OUT(out, n); \
    GK_RETURN_IF(trunc_params(&tp, mean, std, a, b)); \
    if (n > 0) \
        random_table()->trunc_normal_##SFX(out, n, &tp, (uint32_t)seed, \
                                           (uint32_t)(seed >> 32), counter); \
    return GK_OK; \
}
GK_DEFINE_TRUNC_NORMAL(float, f32)
GK_DEFINE_TRUNC_NORMAL(double, f64)

int gk_random_integers(int64_t *out, gk_index n, int64_t low, uint64_t range, uint64_t seed,
                       uint64_t counter)
{
    GK_CHECK_OUT(out, n);
    if (n > 0)
        random_table()->integers(out, n, low, range, (uint32_t)seed, (uint32_t)(seed >> 32),
                                 counter);
    return GK_OK;
}

/* ---- constant fills (gradkit.init's zeros, ones, constant, eye): random.c ---------- */
#define GK_DEFINE_FILL(T, SFX) \
int gk_fill_##SFX(T *out, gk_index n, double value) \
{ \
    GK_CHECK_OUT(out, n); \
    if (n > 0) \
        random_table()->fill_##SFX(out, n, (T)value, 1, 0, (T)value); \
    return GK_OK; \
} \
int gk_fill_eye_##SFX(T *out, gk_index rows, gk_index cols) \
{ \
    GK_CHECK_SIZE(rows); \
    GK_CHECK_SIZE(cols); \
    GK_CHECK_VALUE(cols == 0 || rows <= PTRDIFF_MAX / cols, rows); \
    GK_CHECK_PTR_IF(rows * cols > 0, out); \
    if (rows * cols > 0) \
        random_table()->fill_##SFX(out, rows * cols, (T)0, cols + 1, \
                                   rows < cols ? rows : cols, (T)1); \
    return GK_OK; \
}
GK_DEFINE_FILL(float, f32)
GK_DEFINE_FILL(double, f64)

/* ---- orthogonal matrices (gradkit.init.orthogonal): random_haar.h ------------------- */
#define GK_HAAR_BLAS_MAX ((gk_index)1 << 30)
int gk_orthogonal_f64(double *a, gk_index rows, gk_index cols, double gain, double *q,
                      const gk_blas_fns *blas)
{
    GK_CHECK(rows >= 0 && rows < GK_HAAR_BLAS_MAX, GK_ESIZE, rows);
    GK_CHECK(cols >= 0 && cols <= rows, GK_ESIZE, cols);
    GK_CHECK_VALUE(isfinite(gain), gain);
    const int any = cols > 0;
    GK_CHECK_PTR_IF(any, a);
    GK_CHECK_PTR_IF(any, q);
    GK_CHECK_PTR_IF(any, blas);
    GK_CHECK(!any || blas->dgemm != NULL, GK_ENULL, blas);
    GK_CHECK(!any || a != q, GK_EALIAS, q);
    if (!any)
        return GK_OK;
    if (random_table()->haar_q_f64(a, rows, cols, gain, q, blas->dgemm) != 0)
        return GK_ERROR(GK_ENOMEM, GK_ARG_a);
    return GK_OK;
}
