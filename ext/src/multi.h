/* Multi-tensor driver: a list of arrays processed in ONE parallel region.
 *
 * The arrays are seen as one index space of `total` elements.  An elementwise pass
 * (span_fn) splits that space evenly across the threads, whatever the array boundaries,
 * so 64 arrays of 256K elements cost one fork/join, not 64.  A reduction pass (chunk_fn)
 * runs first when asked: every array is cut into GK_CHUNK chunks, each chunk writes
 * `nacc` double partials, and each array's partials are added in chunk order, so the
 * sums depend only on the sizes, never on the thread count.  The elementwise pass can
 * then read those per-array sums (LARS's norms).  Internal, not installed. */
#ifndef GK_MULTI_H
#define GK_MULTI_H
#include "reduce.h"

/* elements [begin, end) of array a */
typedef void (*gk_span_fn)(void *ctx, gk_index a, gk_index begin, gk_index end);
/* elements [begin, begin + len) of array a, a whole chunk: write nacc partials */
typedef void (*gk_chunk_fn)(void *ctx, gk_index a, gk_index begin, gk_index len,
                            double *partial);

#define GK_MULTI_STACK 64

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
static inline void gk_multi_walk(const gk_index *start, gk_index count, gk_index lo,
                                 gk_index hi, gk_span_fn span_fn, void *ctx)
{
    if (lo >= hi) return;
    gk_index a = gk_multi_find(start, count, lo);
    for (gk_index pos = lo; pos < hi && a < count; ++a) {
        gk_index end = start[a + 1] < hi ? start[a + 1] : hi;
        if (end > pos) {
            span_fn(ctx, a, pos - start[a], end - start[a]);
            pos = end;
        }
    }
}

typedef struct {
    gk_index count, total, nchunk;
    const gk_index *size, *start, *cstart;
    int nacc;
    gk_chunk_fn chunk_fn;
    gk_span_fn span_fn;
    double *partial, *sums;
    void *ctx;
} gk_multi_job;

/* The work of one thread of the team (or of the caller alone: the orphaned `omp for`
 * loops then run serially, without the cost of starting a parallel region). */
static void gk_multi_body(const gk_multi_job *j)
{
    gk_index count = j->count;
    const gk_index *cstart = j->cstart;
    if (j->nacc > 0) {
        int nacc = j->nacc;
        #pragma omp for schedule(static)
        for (gk_index c = 0; c < j->nchunk; ++c) {
            gk_index a = gk_multi_find(cstart, count, c);
            gk_index begin = (c - cstart[a]) * GK_CHUNK;
            gk_index len = j->size[a] - begin < GK_CHUNK ? j->size[a] - begin : GK_CHUNK;
            j->chunk_fn(j->ctx, a, begin, len, j->partial + c * nacc);
        }
        #pragma omp for schedule(static)
        for (gk_index a = 0; a < count; ++a)
            for (gk_index c = cstart[a]; c < cstart[a + 1]; ++c)
                for (int k = 0; k < nacc; ++k)
                    j->sums[a * nacc + k] += j->partial[c * nacc + k];
    }
    if (j->span_fn) {
#if GK_HAVE_OPENMP
        gk_index t = omp_get_thread_num(), nthr = omp_get_num_threads();
#else
        gk_index t = 0, nthr = 1;
#endif
        /* even split, boundaries on multiples of 64 elements (whole cache lines of
         * aligned float and double data) */
        gk_index blocks = (j->total + 63) / 64;
        gk_index lo = gk_task_begin(t, nthr, blocks) * 64;
        gk_index hi = gk_task_begin(t + 1, nthr, blocks) * 64;
        if (hi > j->total) hi = j->total;
        gk_multi_walk(j->start, count, lo, hi, j->span_fn, j->ctx);
    }
}

/* Runs the reduction (if nacc > 0: sums[a * nacc + k] receives array a's sums) and then
 * the elementwise pass (if span_fn).  Returns GK_OK or GK_ENOMEM (nothing written). */
static int gk_multi_run(gk_index count, const gk_index *size, int nacc,
                        gk_chunk_fn chunk_fn, double *sums, gk_span_fn span_fn, void *ctx)
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
        cstart[a + 1] = cstart[a] + (size[a] + GK_CHUNK - 1) / GK_CHUNK;
    }
    gk_multi_job job = {count, start[count], cstart[count], size, start, cstart, nacc,
                        chunk_fn, span_fn, NULL, sums, ctx};
    if (nacc > 0 && job.nchunk > 0) {
        job.partial = (double *)malloc(sizeof(double) * (size_t)nacc * (size_t)job.nchunk);
        if (!job.partial) {
            free(heap);
            return GK_ENOMEM;
        }
    }
    if (nacc > 0)
        for (gk_index i = 0; i < count * nacc; ++i) sums[i] = 0.0;

    int nt = gk_threads_for(job.total);
    if (nt > 1) {
        #pragma omp parallel num_threads(nt)
        gk_multi_body(&job);
    } else {
        gk_multi_body(&job);
    }
    free(job.partial);
    free(heap);
    return GK_OK;
}

#endif
