/* gradkit int8/uint8 quantization kernels (see gradkit.h for the conventions). */
#ifndef GRADKIT_QUANT_H
#define GRADKIT_QUANT_H
#include <stdint.h>
#include "gradkit/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* x viewed as (outer, channels, inner), C order: the channel of element (o, c, i) is c
 * (per-tensor: outer = 1, channels = 1, inner = n).  mins/maxs (length channels)
 * receive each channel's min and max (+inf/-inf for an empty channel); *nonfinite
 * receives 1 if x holds a NaN or an infinity, else 0. */
int gk_minmax_f32(const float *x, gk_index outer, gk_index channels, gk_index inner,
                  float *mins, float *maxs, int *nonfinite);
int gk_minmax_f64(const double *x, gk_index outer, gk_index channels, gk_index inner,
                  double *mins, double *maxs, int *nonfinite);

/* q = clamp(round_half_even(fl(x * inv_scale[c] + zero_point[c])), qmin, qmax) with
 * inv_scale = 1 / scale in float32 and fl() one rounding of the exact value to float32
 * (float64 data: computed in double, no intermediate rounding); [qmin, qmax] is
 * [-128, 127] (s8) or [0, 255] (u8).  scale > 0.  A NaN maps to zero_point. */
int gk_quantize_f32_s8(const float *x, const float *scale, const int32_t *zero_point,
                       int8_t *q, gk_index outer, gk_index channels, gk_index inner);
int gk_quantize_f32_u8(const float *x, const float *scale, const int32_t *zero_point,
                       uint8_t *q, gk_index outer, gk_index channels, gk_index inner);
int gk_quantize_f64_s8(const double *x, const float *scale, const int32_t *zero_point,
                       int8_t *q, gk_index outer, gk_index channels, gk_index inner);
int gk_quantize_f64_u8(const double *x, const float *scale, const int32_t *zero_point,
                       uint8_t *q, gk_index outer, gk_index channels, gk_index inner);

/* y = (q - zero_point[c]) * scale[c] in float32. */
int gk_dequantize_s8(const int8_t *q, const float *scale, const int32_t *zero_point,
                     float *y, gk_index outer, gk_index channels, gk_index inner);
int gk_dequantize_u8(const uint8_t *q, const float *scale, const int32_t *zero_point,
                     float *y, gk_index outer, gk_index channels, gk_index inner);

#ifdef __cplusplus
}
#endif
#endif
