/* The quant family's per-ISA table (see kernels.h). */
#ifndef GK_QUANT_KERNELS_H
#define GK_QUANT_KERNELS_H
#include <stdint.h>
#include "gradkit/common.h"

#define GK_QUANT_SIGS(T, SFX) \
    int (*minmax_##SFX)(const T *x, gk_index outer, gk_index channels, gk_index inner, \
                        T *mins, T *maxs, int *nonfinite); \
    void (*quantize_##SFX##_s8)(const T *x, const float *scale, const int32_t *zp, \
                                int8_t *q, gk_index outer, gk_index channels, \
                                gk_index inner); \
    void (*quantize_##SFX##_u8)(const T *x, const float *scale, const int32_t *zp, \
                                uint8_t *q, gk_index outer, gk_index channels, \
                                gk_index inner);

typedef struct {
    GK_QUANT_SIGS(float, f32)
    GK_QUANT_SIGS(double, f64)
    void (*dequantize_s8)(const int8_t *q, const float *scale, const int32_t *zp, float *y,
                          gk_index outer, gk_index channels, gk_index inner);
    void (*dequantize_u8)(const uint8_t *q, const float *scale, const int32_t *zp, float *y,
                          gk_index outer, gk_index channels, gk_index inner);
} gk_quant_table;

#endif
