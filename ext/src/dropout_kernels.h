/* The dropout family's per-ISA table (see kernels.h). */
#ifndef GK_DROPOUT_KERNELS_H
#define GK_DROPOUT_KERNELS_H
#include <stdint.h>
#include "gradkit/common.h"

/* keep iff word <= keep_max; none: nothing is kept (p = 1).  TS: the data arrays'
 * storage, T: the scale's (the arithmetic's) type */
#define GK_DROPOUT_SIGS(TS, T, SFX) \
    void (*fwd_##SFX)(const TS *x, TS *y, unsigned char *bits, gk_index n, T scale, \
                      uint32_t keep_max, int none, uint32_t k0, uint32_t k1, uint64_t w0); \
    void (*bwd_##SFX)(const TS *dy, const unsigned char *bits, TS *dx, gk_index n, \
                      T scale); \
    void (*path_fwd_##SFX)(const TS *x, TS *y, unsigned char *keep, gk_index rows, \
                           gk_index row_len, T scale, uint32_t keep_max, int none, \
                           uint32_t k0, uint32_t k1, uint64_t w0); \
    void (*path_bwd_##SFX)(const TS *dy, const unsigned char *keep, TS *dx, gk_index rows, \
                           gk_index row_len, T scale);

typedef struct {
    GK_DROPOUT_SIGS(float, float, f32)
    GK_DROPOUT_SIGS(double, double, f64)
} gk_dropout_table;

/* 16-bit storage (dropout_half.c, a translation unit of its own): float16 and bfloat16
 * data, float32 scale and arithmetic */
typedef struct {
    GK_DROPOUT_SIGS(uint16_t, float, f16)
    GK_DROPOUT_SIGS(uint16_t, float, bf16)
} gk_dropout_half_table;

#endif
