/* Gradient clipping and loss-scaling kernels over lists of arrays (each array float32,
 * float64, float16 or bfloat16, dtypes[i]; a list may mix them), compiled once per ISA, on the multi-tensor driver (multi.h):
 * norms are per-array chunk reductions combined in chunk order (multi_norm.h), the
 * in-place passes one elementwise pass over the whole list. */
#include "multi.h"
#include "clip_kernels.h"

/* the in-place operations (clip_tmpl.h) */
enum { OP_SCALE, OP_CLAMP, OP_UNSCALE };

#define GK_TMPL_A "clip_tmpl.h"
#define GK_TMPL_HALF_A "clip_tmpl.h"   /* small: the 16-bit passes stay in this unit */
#include "gk_each_dtype.h"

#define GK_MULTI_NORM_HALF
#include "multi_norm.h"

static double root(double s, int kind, double p)
{
    switch (kind) {
        case GK_NORM_TWO: return sqrt(s);
        case GK_NORM_ONE:
        case GK_NORM_INF: return s;
        default: return pow(s, 1.0 / p);
    }
}

static int grad_norm(const void *const *arrays, const int *dtypes, const gk_index *sizes,
                     gk_index narrays, double p, double *per_array, double *total)
{
    int kind = p == 2.0 ? GK_NORM_TWO : p == 1.0 ? GK_NORM_ONE
             : isinf(p) ? GK_NORM_INF : GK_NORM_POW;
    double *sums = (double *)malloc(sizeof(double) * (size_t)(narrays > 0 ? narrays : 1));
    if (!sums)
        return GK_ENOMEM;
    int err = gk_norm_sums(narrays, arrays, dtypes, 0, sizes, kind, p, sums);
    if (err == GK_OK) {
        double t = 0.0;
        for (gk_index i = 0; i < narrays; ++i) {
            if (per_array)
                per_array[i] = root(sums[i], kind, p);
            t = kind == GK_NORM_INF ? gk_max_nan(t, sums[i]) : t + sums[i];
        }
        *total = root(t, kind, p);
    }
    free(sums);
    return err;
}

typedef struct {
    void *const *arrays;
    const int *dtypes;
    int op;
    double c;
    int far;   /* past the cache: prefetch ahead (clip_tmpl.h) */
} clip_ctx;

/* one span of the in-place pass; returns 1 if OP_UNSCALE saw an inf or NaN */
static int clip_span(void *vctx, gk_index a, gk_index b, gk_index e)
{
    const clip_ctx *c = (const clip_ctx *)vctx;
    switch (c->dtypes[a]) {
        case GK_DTYPE_F32:
            return chunk_apply_f32((float *)c->arrays[a] + b, e - b, c->op, (float)c->c,
                                   c->far);
        /* 16-bit: c in float32, each result rounded once */
        case GK_DTYPE_F16:
            return chunk_apply_f16((uint16_t *)c->arrays[a] + b, e - b, c->op, (float)c->c,
                                   c->far);
        case GK_DTYPE_BF16:
            return chunk_apply_bf16((uint16_t *)c->arrays[a] + b, e - b, c->op, (float)c->c,
                                    c->far);
        default: {
            /* the unscale factor is float32 in torch, widened for float64 grads */
            double cd = c->op == OP_UNSCALE ? (double)(float)c->c : c->c;
            return chunk_apply_f64((double *)c->arrays[a] + b, e - b, c->op, cd, c->far);
        }
    }
}

/* The in-place pass.  The scaling of clip_grad_norm_ runs right after grad_norm over
 * the same arrays: when they fit in the last-level cache, each thread walks its part
 * from the END, so what it touches first is what it read last, still in its caches.
 * Past the cache nothing is left to find and the backward walk only slows the
 * hardware prefetchers (a quarter of the time of a 40 MB pass), so it goes forward, as
 * the other passes always do. */
static int elementwise(void *const *arrays, const int *dtypes, const gk_index *sizes,
                       gk_index narrays, int op, double c, int *found_inf)
{
    const int far = gk_multi_far(narrays, sizes, dtypes, 0, 1);
    clip_ctx ctx = {arrays, dtypes, op, c, far};
    int reverse = op == OP_SCALE && !far;
    gk_multi_pass pass = {.span = clip_span, .reverse = reverse, .ctx = &ctx};
    int err = gk_multi_run(narrays, sizes, &pass);
    if (err == GK_OK && found_inf)
        *found_inf = pass.flags;
    return err;
}

static int grad_scale(void *const *arrays, const int *dtypes, const gk_index *sizes,
                      gk_index narrays, double coef)
{
    return elementwise(arrays, dtypes, sizes, narrays, OP_SCALE, coef, NULL);
}

static int grad_clamp(void *const *arrays, const int *dtypes, const gk_index *sizes,
                      gk_index narrays, double clip_value)
{
    return elementwise(arrays, dtypes, sizes, narrays, OP_CLAMP, clip_value, NULL);
}

static int unscale_check(void *const *arrays, const int *dtypes, const gk_index *sizes,
                         gk_index narrays, float inv_scale, int *found_inf)
{
    return elementwise(arrays, dtypes, sizes, narrays, OP_UNSCALE, (double)inv_scale,
                       found_inf);
}

const gk_clip_table GK_ISA_SYM(gk_clip_table) = {
    .grad_norm = grad_norm,
    .grad_scale = grad_scale,
    .grad_clamp = grad_clamp,
    .unscale_check = unscale_check,
};
