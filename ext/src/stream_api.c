/* Public entry points of the roofline probe. */
#include "gk_internal.h"
#include "kernels.h"
#include "stream_kernels.h"

GK_DEFINE_TABLE_GETTER(stream)

/* ---- roofline probe --------------------------------------------------------------- */
double gk_stream_scale(double *a, gk_index n, int reps)
{
    return stream_table()->scale(a, n, reps);
}

double gk_stream_copy(const double *a, double *b, gk_index n, int reps)
{
    return stream_table()->copy(a, b, n, reps);
}


uint64_t gk_probe_streams(const void *const *reads, const size_t *read_bytes, int n_reads,
                          void *const *writes, const size_t *write_bytes, int n_writes,
                          gk_index work, int store)
{
    if (n_reads < 0 || n_writes < 0 || (n_reads && (!reads || !read_bytes))
        || (n_writes && (!writes || !write_bytes)))
        return 0;
    return stream_table()->probe(reads, read_bytes, n_reads, writes, write_bytes, n_writes,
                                 work, store);
}
