# Declarations of include/gradkit/quant.h for the Cython wrappers.
from libc.stdint cimport int8_t, uint8_t, int32_t
from _cgradkit cimport gk_index

cdef extern from "gradkit/quant.h" nogil:
    int gk_minmax_f32(const float *x, gk_index outer, gk_index channels, gk_index inner,
                      float *mins, float *maxs, int *nonfinite)
    int gk_minmax_f64(const double *x, gk_index outer, gk_index channels, gk_index inner,
                      double *mins, double *maxs, int *nonfinite)
    int gk_quantize_f32_s8(const float *x, const float *scale, const int32_t *zero_point,
                           int8_t *q, gk_index outer, gk_index channels, gk_index inner)
    int gk_quantize_f32_u8(const float *x, const float *scale, const int32_t *zero_point,
                           uint8_t *q, gk_index outer, gk_index channels, gk_index inner)
    int gk_quantize_f64_s8(const double *x, const float *scale, const int32_t *zero_point,
                           int8_t *q, gk_index outer, gk_index channels, gk_index inner)
    int gk_quantize_f64_u8(const double *x, const float *scale, const int32_t *zero_point,
                           uint8_t *q, gk_index outer, gk_index channels, gk_index inner)
    int gk_dequantize_s8(const int8_t *q, const float *scale, const int32_t *zero_point,
                         float *y, gk_index outer, gk_index channels, gk_index inner)
    int gk_dequantize_u8(const uint8_t *q, const float *scale, const int32_t *zero_point,
                         float *y, gk_index outer, gk_index channels, gk_index inner)
