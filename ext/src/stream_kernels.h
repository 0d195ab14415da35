/* The roofline probe's per-ISA table (see kernels.h). */
#ifndef GK_STREAM_KERNELS_H
#define GK_STREAM_KERNELS_H
#include "gradkit/common.h"

typedef struct {
    /* best seconds of `reps` runs of a[i] = s*a[i] + t, and of b[i] = a[i] */
    double (*scale)(double *a, gk_index n, int reps);
    double (*copy)(const double *a, double *b, gk_index n, int reps);
    /* gk_probe_streams (common.h) */
    uint64_t (*probe)(const void *const *reads, int n_reads, void *const *writes, int n_writes,
                      size_t bytes, gk_index work, int store);
} gk_stream_table;

#endif
