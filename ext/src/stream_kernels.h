/* The roofline probe's per-ISA table (see kernels.h). */
#ifndef GK_STREAM_KERNELS_H
#define GK_STREAM_KERNELS_H
#include "gradkit/common.h"

typedef struct {
    /* best seconds of `reps` runs of a[i] = s*a[i] + t, and of b[i] = a[i] */
    double (*scale)(double *a, gk_index n, int reps);
    double (*copy)(const double *a, double *b, gk_index n, int reps);
    /* gk_probe_streams (common.h) */
    uint64_t (*probe)(const void *const *reads, const size_t *read_bytes, int n_reads,
                      void *const *writes, const size_t *write_bytes, int n_writes,
                      gk_index count, gk_index work, int store, int schedule);
    /* gk_convert's two directions (gk_half.h), and the name of this build's path */
    void (*half_to_f32)(int bf16, const uint16_t *src, float *dst, gk_index n);
    void (*f32_to_half)(int bf16, const float *src, uint16_t *dst, gk_index n);
    const char *half_path;
    const char *half_path_hw_bf16;  /* when gk_bf16_hw_flag: the AVX512_BF16 rounding; or NULL */
} gk_stream_table;

#endif
