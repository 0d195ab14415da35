/* Multi-tensor driver, the one walker over lists of arrays: a list processed in ONE
 * parallel region.
 *
 * The arrays are seen as one index space of `total` elements.  An elementwise pass
 * (span) splits that space evenly across the threads, whatever the array boundaries,
 * so 64 arrays of 256K elements cost one fork/join, not 64.  A reduction pass (chunk)
 * runs first when asked: every array is cut into GK_CHUNK chunks, each chunk writes
 * `nacc` double partials, and each array's partials are combined in chunk order, so
 * the sums depend only on the sizes, never on the thread count (or the caller cuts each
 * array into tasks of its own, e.g. Adafactor's tiles of a matrix, combined the same
 * way).  The elementwise pass can then read those per-array sums (LARS's norms).
 * Internal, not installed. */
#ifndef GK_MULTI_H
#define GK_MULTI_H
#include "reduce.h"

/* elements [begin, end) of array a; returns flags, OR-ed over the whole pass */
typedef int (*gk_span_fn)(void *ctx, gk_index a, gk_index begin, gk_index end);
/* elements [begin, begin + len) of array a, a whole chunk: write nacc partials */
typedef void (*gk_chunk_fn)(void *ctx, gk_index a, gk_index begin, gk_index len,
                            double *partial);
/* task `index` (0 <= index < ntask[a]) of array a, a part of it the caller cuts (2-D
 * tiles of a matrix, whose row and column sums a run of chunks cannot give): write
 * nacc partials */
typedef void (*gk_task_fn)(void *ctx, gk_index a, gk_index index, double *partial);

typedef struct {
    int nacc;            /* partials per chunk; 0: no reduction pass */
    int max;             /* combine partials by a NaN-propagating max, not a sum */
    gk_chunk_fn chunk;
    gk_task_fn task;     /* instead of chunk: the reduction runs ntask[a] tasks of array a,
                            in the same fixed order (index by index, array by array) */
    const gk_index *ntask;
    double *sums;        /* sums[a * nacc + k]: array a's combined partial k */
    gk_span_fn span;     /* the elementwise pass, or NULL */
    int reverse;         /* each thread walks its part from the end, GK_CHUNK at a time
                            (after a reduction over the same arrays, what it read last
                            is still in its caches) */
    int cost;            /* work per element in multiply-adds (>= 1), for the threads */
    void *ctx;
    int flags;           /* out: the OR of the span results */
} gk_multi_pass;

#define GK_MULTI_STACK 64

/* Whether a pass reading `per_elem` arrays of the list's shape (sizes, and dtypes per
 * array, or all of `dtype` when dtypes is NULL) goes past the cache: at least
 * gk_get_stream_min_bytes(), the size from which kernels stream their outputs.  Passes
 * that are far prefetch ahead; the clip's scaling walks backwards when it is not. */
static inline int gk_multi_far(gk_index count, const gk_index *size, const int *dtypes,
                               int dtype, int per_elem)
{
    static const unsigned char esize[] = {4, 8, 2, 2};   /* by GK_DTYPE_* code */
    size_t bytes = 0;
    for (gk_index a = 0; a < count; ++a)
        bytes += (size_t)size[a] * esize[(dtypes ? dtypes[a] : dtype) & 3];
    return (size_t)per_elem * bytes >= gk_get_stream_min_bytes();
}

/* the array holding global position pos: the last a with start[a] <= pos, which is
 * never an empty array when pos < start[count] */
static inline gk_index gk_multi_find(const gk_index *start, gk_index count, gk_index pos)
{
    gk_index lo = 0, hi = count;
    while (hi - lo > 1) {
        gk_index mid = lo + (hi - lo) / 2;
        if (start[mid] <= pos) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* the part [lo, hi) of the index space, array by array */
static inline int gk_multi_walk(const gk_index *start, gk_index count, gk_index lo,
                                gk_index hi, const gk_multi_pass *p)
{
    int flags = 0;
    if (lo >= hi) return 0;
    gk_index a = gk_multi_find(start, count, lo);
    for (gk_index pos = lo; pos < hi && a < count; ++a) {
        gk_index end = start[a + 1] < hi ? start[a + 1] : hi;
        if (end > pos) {
            flags |= p->span(p->ctx, a, pos - start[a], end - start[a]);
            pos = end;
        }
    }
    return flags;
}

/* NaN-propagating max */
static inline double gk_max_nan(double a, double b)
{
    if (a != a || b != b)
        return NAN;
    return a > b ? a : b;
}

typedef struct {
    gk_index count, total, nchunk;
    const gk_index *size, *start, *cstart;
    double *partial;
    const gk_multi_pass *p;
} gk_multi_job;

/* The work of one thread of the team (or of the caller alone: the orphaned `omp for`
 * loops then run serially, without the cost of starting a parallel region). */
static int gk_multi_body(const gk_multi_job *j)
{
    const gk_multi_pass *p = j->p;
    gk_index count = j->count;
    const gk_index *cstart = j->cstart;
    if (p->nacc > 0) {
        int nacc = p->nacc;
        #pragma omp for schedule(static)
        for (gk_index c = 0; c < j->nchunk; ++c) {
            gk_index a = gk_multi_find(cstart, count, c);
            if (p->task) {
                p->task(p->ctx, a, c - cstart[a], j->partial + c * nacc);
                continue;
            }
            gk_index begin = (c - cstart[a]) * GK_CHUNK;
            gk_index len = j->size[a] - begin < GK_CHUNK ? j->size[a] - begin : GK_CHUNK;
            p->chunk(p->ctx, a, begin, len, j->partial + c * nacc);
        }
        #pragma omp for schedule(static)
        for (gk_index a = 0; a < count; ++a)
            for (gk_index c = cstart[a]; c < cstart[a + 1]; ++c)
                for (int k = 0; k < nacc; ++k) {
                    double *s = &p->sums[a * nacc + k], v = j->partial[c * nacc + k];
                    *s = p->max ? gk_max_nan(*s, v) : *s + v;
                }
    }
    if (!p->span)
        return 0;
#if GK_HAVE_OPENMP
    gk_index t = omp_get_thread_num(), nthr = omp_get_num_threads();
#else
    gk_index t = 0, nthr = 1;
#endif
    /* even split, boundaries on multiples of 64 elements (whole cache lines of aligned
     * float and double data) */
    gk_index blocks = (j->total + 63) / 64;
    gk_index lo = gk_task_begin(t, nthr, blocks) * 64;
    gk_index hi = gk_task_begin(t + 1, nthr, blocks) * 64;
    if (hi > j->total) hi = j->total;
    if (!p->reverse)
        return gk_multi_walk(j->start, count, lo, hi, p);
    int flags = 0;
    for (gk_index e = hi; e > lo; e -= GK_CHUNK)
        flags |= gk_multi_walk(j->start, count, e - GK_CHUNK > lo ? e - GK_CHUNK : lo, e, p);
    return flags;
}

/* Runs the reduction (if p->nacc > 0) and then the elementwise pass (if p->span) over
 * the arrays of sizes size[0..count).  Returns GK_OK or GK_ENOMEM (nothing written). */
static int gk_multi_run(gk_index count, const gk_index *size, gk_multi_pass *p)
{
    gk_index stack_idx[2 * (GK_MULTI_STACK + 1)];
    gk_index *start = stack_idx, *cstart = stack_idx + GK_MULTI_STACK + 1;
    void *heap = NULL;
    if (count > GK_MULTI_STACK) {
        heap = malloc(sizeof(gk_index) * 2 * (size_t)(count + 1));
        if (!heap) return GK_ENOMEM;
        start = (gk_index *)heap;
        cstart = start + count + 1;
    }
    start[0] = cstart[0] = 0;
    for (gk_index a = 0; a < count; ++a) {
        start[a + 1] = start[a] + size[a];
        cstart[a + 1] = cstart[a] + (p->task ? p->ntask[a]
                                              : (size[a] + GK_CHUNK - 1) / GK_CHUNK);
    }
    gk_multi_job job = {count, start[count], cstart[count], size, start, cstart, NULL, p};
    if (p->nacc > 0 && job.nchunk > 0) {
        job.partial = (double *)malloc(sizeof(double) * (size_t)p->nacc * (size_t)job.nchunk);
        if (!job.partial) {
            free(heap);
            return GK_ENOMEM;
        }
    }
    if (p->nacc > 0)
        for (gk_index i = 0; i < count * p->nacc; ++i) p->sums[i] = 0.0;

    int nt = gk_threads_for(job.total * (p->cost > 1 ? p->cost : 1));
    int flags = 0;
    if (nt > 1) {
        #pragma omp parallel num_threads(nt) reduction(|:flags)
        flags |= gk_multi_body(&job);
    } else {
        flags = gk_multi_body(&job);
    }
    p->flags = flags;
    free(job.partial);
    free(heap);
    return GK_OK;
}

#endif
