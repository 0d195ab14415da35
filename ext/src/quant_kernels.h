/* The quant family's per-ISA table (see kernels.h). */
#ifndef GK_QUANT_KERNELS_H
#define GK_QUANT_KERNELS_H
#include <stdint.h>
#include "gradkit/common.h"
#include "gradkit/quant.h"

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
    /* low-bit weights (quant_lowbit.h) */
    void (*rtn_f32)(const float *w, gk_index rows, gk_index cols, int bits,
                    gk_index group_size, int sym, uint8_t *q, float *scales,
                    uint8_t *zeros);
    int (*gptq_f32)(float *w, gk_index rows, gk_index cols, const float *hinv,
                    const int32_t *col_group, gk_index groups, const gk_gptq_opts *opts,
                    uint8_t *q, float *scales, uint8_t *zeros, const gk_blas_fns *blas);
    int (*gptq_hinv_f32)(float *h, gk_index n, float *u, const gk_blas_fns *blas);
    void (*pack_lowbit)(const uint8_t *q, gk_index rows, gk_index cols, int bits,
                      uint32_t *packed);
    void (*unpack_lowbit)(const uint32_t *packed, gk_index rows, gk_index cols, int bits,
                        uint8_t *q);
    void (*dequantize_weight_f32)(const gk_qweight *weight, float *out);
    int (*qlinear_f32)(const float *x, gk_index batch, const gk_qweight *weight,
                       const float *bias, float *y, const gk_blas_fns *blas);
    void (*gram_f32)(const float *x, gk_index m, gk_index d, double alpha, double beta,
                     float *h, const gk_blas_fns *blas);
    void (*gram_f64)(const double *x, gk_index m, gk_index d, double alpha, double beta,
                     double *h, const gk_blas_fns *blas);
} gk_quant_table;

#endif
