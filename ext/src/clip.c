/* Gradient clipping and loss-scaling kernels over lists of arrays, compiled once per ISA.
 *
 * Work unit: a chunk of GK_CHUNK elements of one array.  Chunk c of the whole list maps
 * to (array i, offset) through first[i], the index of array i's first chunk.  The chunk
 * range [0, nchunk) is split among the threads in contiguous blocks (gk_task_begin);
 * reductions write one partial per chunk and combine them afterwards in chunk order,
 * which depends only on the sizes, never on the thread count. */
#include "reduce.h"
#include "clip_kernels.h"
#include <string.h>

/* UT: an integer of T's width for the bit-pattern max (int64 for double: AVX2 has a
 * signed 64-bit compare only, and the patterns are non-negative once the sign is off) */
#define T float
#define SFX f32
#define UT uint32_t
#define UT_ABS_MASK 0x7fffffffu
#include "clip_tmpl.h"
#undef T
#undef SFX
#undef UT
#undef UT_ABS_MASK

#define T double
#define SFX f64
#define UT int64_t
#define UT_ABS_MASK INT64_MAX
#include "clip_tmpl.h"
#undef T
#undef SFX
#undef UT
#undef UT_ABS_MASK

/* first[i] = index of array i's first chunk, first[narrays] = total chunks; NULL if out
 * of memory. */
static gk_index *chunk_index(const gk_index *sizes, gk_index narrays)
{
    gk_index *first = (gk_index *)malloc(sizeof(gk_index) * (size_t)(narrays + 1));
    if (!first)
        return NULL;
    gk_index c = 0;
    for (gk_index i = 0; i < narrays; ++i) {
        first[i] = c;
        c += (sizes[i] + GK_CHUNK - 1) / GK_CHUNK;
    }
    first[narrays] = c;
    return first;
}

/* the array holding chunk c: the last i with first[i] <= c (skips empty arrays) */
static inline gk_index chunk_array(const gk_index *first, gk_index narrays, gk_index c)
{
    gk_index lo = 0, hi = narrays - 1;
    while (lo < hi) {
        gk_index mid = lo + (hi - lo + 1) / 2;
        if (first[mid] <= c) lo = mid; else hi = mid - 1;
    }
    return lo;
}

static inline gk_index total_elements(const gk_index *sizes, gk_index narrays)
{
    gk_index n = 0;
    for (gk_index i = 0; i < narrays; ++i)
        n += sizes[i];
    return n;
}

enum { NORM_TWO, NORM_ONE, NORM_INF, NORM_POW };

static double chunk_partial(const void *a, int dtype, gk_index off, gk_index len, int kind,
                            double p)
{
    if (dtype == GK_DTYPE_F32) {
        const float *x = (const float *)a + off;
        switch (kind) {
            case NORM_TWO: return chunk_sumsq_f32(x, len);
            case NORM_ONE: return chunk_sumabs_f32(x, len);
            case NORM_INF: return chunk_maxabs_f32(x, len);
            default: return chunk_sumpow_f32(x, len, p);
        }
    }
    const double *x = (const double *)a + off;
    switch (kind) {
        case NORM_TWO: return chunk_sumsq_f64(x, len);
        case NORM_ONE: return chunk_sumabs_f64(x, len);
        case NORM_INF: return chunk_maxabs_f64(x, len);
        default: return chunk_sumpow_f64(x, len, p);
    }
}

/* NaN-propagating max */
static inline double max_nan(double a, double b)
{
    if (a != a || b != b)
        return NAN;
    return a > b ? a : b;
}

static double root(double s, int kind, double p)
{
    switch (kind) {
        case NORM_TWO: return sqrt(s);
        case NORM_ONE:
        case NORM_INF: return s;
        default: return pow(s, 1.0 / p);
    }
}

static int grad_norm(const void *const *arrays, const int *dtypes, const gk_index *sizes,
                     gk_index narrays, double p, double *per_array, double *total)
{
    int kind = p == 2.0 ? NORM_TWO : p == 1.0 ? NORM_ONE : isinf(p) ? NORM_INF : NORM_POW;
    gk_index *first = chunk_index(sizes, narrays);
    if (!first)
        return GK_ENOMEM;
    gk_index nchunk = first[narrays];
    double *part = (double *)malloc(sizeof(double) * (size_t)(nchunk > 0 ? nchunk : 1));
    if (!part) {
        free(first);
        return GK_ENOMEM;
    }
    gk_index work = total_elements(sizes, narrays);
    /* pow costs ~20x a multiply-add: let smaller lists use threads too */
    int nt = gk_threads_for(kind == NORM_POW ? work * 16 : work);
    #pragma omp parallel num_threads(nt) if(nt > 1)
    {
#if GK_HAVE_OPENMP
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
#else
        int tid = 0, nth = 1;
#endif
        gk_index c0 = gk_task_begin(tid, nth, nchunk), c1 = gk_task_begin(tid + 1, nth, nchunk);
        gk_index i = c0 < c1 ? chunk_array(first, narrays, c0) : 0;
        for (gk_index c = c0; c < c1; ++c) {
            while (first[i + 1] <= c) ++i;
            gk_index off = (c - first[i]) * GK_CHUNK;
            gk_index len = sizes[i] - off < GK_CHUNK ? sizes[i] - off : GK_CHUNK;
            part[c] = chunk_partial(arrays[i], dtypes[i], off, len, kind, p);
        }
    }
    double t = 0.0;
    for (gk_index i = 0; i < narrays; ++i) {
        double s = 0.0;
        for (gk_index c = first[i]; c < first[i + 1]; ++c)
            s = kind == NORM_INF ? max_nan(s, part[c]) : s + part[c];
        if (per_array)
            per_array[i] = root(s, kind, p);
        t = kind == NORM_INF ? max_nan(t, s) : t + s;
    }
    *total = root(t, kind, p);
    free(part);
    free(first);
    return GK_OK;
}

enum { OP_SCALE, OP_CLAMP, OP_UNSCALE };

/* An in-place elementwise pass over the list.  Each thread walks its block of chunks
 * from the END: run right after grad_norm (same blocks, walked forward), the chunks a
 * thread touches first are the ones it read last, still in its caches. */
static int elementwise(void *const *arrays, const int *dtypes, const gk_index *sizes,
                       gk_index narrays, int op, double c, int *found_inf)
{
    gk_index *first = chunk_index(sizes, narrays);
    if (!first)
        return GK_ENOMEM;
    gk_index nchunk = first[narrays];
    int nt = gk_threads_for(total_elements(sizes, narrays));
    float cf = (float)c;
    int found = 0;
    #pragma omp parallel num_threads(nt) if(nt > 1) reduction(|:found)
    {
#if GK_HAVE_OPENMP
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
#else
        int tid = 0, nth = 1;
#endif
        gk_index c0 = gk_task_begin(tid, nth, nchunk), c1 = gk_task_begin(tid + 1, nth, nchunk);
        gk_index i = c0 < c1 ? chunk_array(first, narrays, c1 - 1) : 0;
        for (gk_index k = c1 - 1; k >= c0; --k) {
            while (first[i] > k) --i;
            gk_index off = (k - first[i]) * GK_CHUNK;
            gk_index len = sizes[i] - off < GK_CHUNK ? sizes[i] - off : GK_CHUNK;
            if (dtypes[i] == GK_DTYPE_F32) {
                float *x = (float *)arrays[i] + off;
                if (op == OP_SCALE) chunk_scale_f32(x, len, cf);
                else if (op == OP_CLAMP) chunk_clamp_f32(x, len, cf);
                else found |= chunk_unscale_f32(x, len, cf);
            } else {
                double *x = (double *)arrays[i] + off;
                /* the unscale factor is float32 in torch, widened for float64 grads */
                double cd = op == OP_UNSCALE ? (double)cf : c;
                if (op == OP_SCALE) chunk_scale_f64(x, len, cd);
                else if (op == OP_CLAMP) chunk_clamp_f64(x, len, cd);
                else found |= chunk_unscale_f64(x, len, cd);
            }
        }
    }
    if (found_inf)
        *found_inf = found;
    free(first);
    return GK_OK;
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
