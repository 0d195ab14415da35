/* The dropout family's per-ISA table (see kernels.h). */
#ifndef GK_DROPOUT_KERNELS_H
#define GK_DROPOUT_KERNELS_H
#include <stdint.h>
#include "gradkit/common.h"

/* keep iff word <= keep_max; none: nothing is kept (p = 1) */
#define GK_DROPOUT_SIGS(T, SFX) \
    void (*fwd_##SFX)(const T *x, T *y, unsigned char *bits, gk_index n, T scale, \
                      uint32_t keep_max, int none, uint32_t k0, uint32_t k1, uint64_t w0); \
    void (*bwd_##SFX)(const T *dy, const unsigned char *bits, T *dx, gk_index n, T scale); \
    void (*path_fwd_##SFX)(const T *x, T *y, unsigned char *keep, gk_index rows, \
                           gk_index row_len, T scale, uint32_t keep_max, int none, \
                           uint32_t k0, uint32_t k1, uint64_t w0); \
    void (*path_bwd_##SFX)(const T *dy, const unsigned char *keep, T *dx, gk_index rows, \
                           gk_index row_len, T scale);

typedef struct {
    GK_DROPOUT_SIGS(float, f32)
    GK_DROPOUT_SIGS(double, f64)
} gk_dropout_table;

#endif
