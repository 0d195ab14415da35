/* Per-array norms of a list of arrays (sums of squares, of |x|, of |x|^p, or the max
 * |x|), on the multi-tensor driver: what clipping and the regularization penalties
 * reduce.  Included by a family file after its templates (gk_each_dtype.h), so the
 * chunk kernels of reduce_tmpl.h are defined; a family whose lists may hold 16-bit
 * arrays (GK_TMPL_HALF_A: reduce_tmpl.h instantiated for f16 and bf16 too) defines
 * GK_MULTI_NORM_HALF first.  Internal, not installed. */
#ifndef GK_MULTI_NORM_H
#define GK_MULTI_NORM_H
#include "multi.h"

enum { GK_NORM_TWO, GK_NORM_ONE, GK_NORM_INF, GK_NORM_POW };

/* pow costs ~20x a multiply-add: let smaller lists use threads too */
#define GK_POW_COST 16

typedef struct {
    const void *const *arrays;
    const int *dtypes;   /* per array, or NULL: all of `dtype` */
    int dtype, kind;
    int far;   /* the arrays are past the cache: the passes prefetch ahead */
    double p;
} gk_norm_ctx;

static void gk_norm_chunk(void *vctx, gk_index a, gk_index b, gk_index n, double *part)
{
    const gk_norm_ctx *c = (const gk_norm_ctx *)vctx;
    int dtype = c->dtypes ? c->dtypes[a] : c->dtype;
#define GK_NORM_OF(SFX, T) \
    do { \
        const T *x = (const T *)c->arrays[a] + b; \
        switch (c->kind) { \
            case GK_NORM_TWO: *part = c->far ? chunk_sumsq_far_##SFX(x, n) \
                                             : chunk_sumsq_##SFX(x, n, 0.0); break; \
            case GK_NORM_ONE: *part = c->far ? chunk_sumabs_far_##SFX(x, n) \
                                             : chunk_sumabs_##SFX(x, n); break; \
            case GK_NORM_INF: *part = chunk_maxabs_##SFX(x, n, c->far); break; \
            default: *part = chunk_sumpow_##SFX(x, n, c->p); break; \
        } \
    } while (0)
    switch (dtype) {
        case GK_DTYPE_F32: GK_NORM_OF(f32, float); break;
#ifdef GK_MULTI_NORM_HALF
        case GK_DTYPE_F16: GK_NORM_OF(f16, uint16_t); break;
        case GK_DTYPE_BF16: GK_NORM_OF(bf16, uint16_t); break;
#endif
        default: GK_NORM_OF(f64, double); break;
    }
#undef GK_NORM_OF
}

/* sums[a]: sum x^2, sum |x|, max |x| or sum |x|^p of array a (kind GK_NORM_*) */
static int gk_norm_sums(gk_index count, const void *const *arrays, const int *dtypes,
                        int dtype, const gk_index *size, int kind, double p, double *sums)
{
    gk_norm_ctx c = {arrays, dtypes, dtype, kind,
                     gk_multi_far(count, size, dtypes, dtype, 1), p};
    gk_multi_pass pass = {.nacc = 1, .max = kind == GK_NORM_INF, .chunk = gk_norm_chunk,
                          .sums = sums, .cost = kind == GK_NORM_POW ? GK_POW_COST : 1,
                          .ctx = &c};
    return gk_multi_run(count, size, &pass);
}

#endif
