/* Public entry points of the quant family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "quant_kernels.h"

GK_DEFINE_TABLE_GETTER(quant)

#define GK_CHECK_DIMS(outer, channels, inner) \
    GK_CHECK_SIZE(outer); GK_CHECK_SIZE(channels); GK_CHECK_SIZE(inner)

/* scale finite > 0, zero_point in the range [lo, hi] of the quantized type */
static int gk_check_params(const float *scale, const int32_t *zero_point,
                           gk_index channels, int lo, int hi)
{
    GK_CHECK_PTR_IF(channels > 0, scale);
    GK_CHECK_PTR_IF(channels > 0, zero_point);
    for (gk_index c = 0; c < channels; ++c) {
        GK_CHECK_VALUE(scale[c] > 0.0f && scale[c] < 1.0f / 0.0f, scale);
        GK_CHECK_VALUE(zero_point[c] >= lo && zero_point[c] <= hi, zero_point);
    }
    return GK_OK;
}

#define GK_DEFINE_QUANT(T, SFX) \
int gk_minmax_##SFX(const T *x, gk_index outer, gk_index channels, gk_index inner, \
                    T *mins, T *maxs, int *nonfinite) \
{ \
    GK_CHECK_DIMS(outer, channels, inner); \
    GK_CHECK_PTR(nonfinite); \
    GK_CHECK_PTR_IF(channels > 0, mins); \
    GK_CHECK_PTR_IF(channels > 0, maxs); \
    GK_CHECK_PTR_IF(outer * channels * inner > 0, x); \
    return quant_table()->minmax_##SFX(x, outer, channels, inner, mins, maxs, nonfinite); \
} \
int gk_quantize_##SFX##_s8(const T *x, const float *scale, const int32_t *zero_point, \
                           int8_t *q, gk_index outer, gk_index channels, gk_index inner) \
{ \
    GK_CHECK_DIMS(outer, channels, inner); \
    GK_RETURN_IF(gk_check_params(scale, zero_point, channels, -128, 127)); \
    GK_CHECK_PTR_IF(outer * channels * inner > 0, x); \
    GK_CHECK_PTR_IF(outer * channels * inner > 0, q); \
    quant_table()->quantize_##SFX##_s8(x, scale, zero_point, q, outer, channels, inner); \
    return GK_OK; \
} \
int gk_quantize_##SFX##_u8(const T *x, const float *scale, const int32_t *zero_point, \
                           uint8_t *q, gk_index outer, gk_index channels, gk_index inner) \
{ \
    GK_CHECK_DIMS(outer, channels, inner); \
    GK_RETURN_IF(gk_check_params(scale, zero_point, channels, 0, 255)); \
    GK_CHECK_PTR_IF(outer * channels * inner > 0, x); \
    GK_CHECK_PTR_IF(outer * channels * inner > 0, q); \
    quant_table()->quantize_##SFX##_u8(x, scale, zero_point, q, outer, channels, inner); \
    return GK_OK; \
}

GK_DEFINE_QUANT(float, f32)
GK_DEFINE_QUANT(double, f64)

#define GK_DEFINE_DEQUANT(QT, Q) \
int gk_dequantize_##Q(const QT *q, const float *scale, const int32_t *zero_point, \
                      float *y, gk_index outer, gk_index channels, gk_index inner) \
{ \
    GK_CHECK_DIMS(outer, channels, inner); \
    GK_CHECK_PTR_IF(channels > 0, scale); \
    GK_CHECK_PTR_IF(channels > 0, zero_point); \
    GK_CHECK_PTR_IF(outer * channels * inner > 0, q); \
    GK_CHECK_PTR_IF(outer * channels * inner > 0, y); \
    quant_table()->dequantize_##Q(q, scale, zero_point, y, outer, channels, inner); \
    return GK_OK; \
}

GK_DEFINE_DEQUANT(int8_t, s8)
GK_DEFINE_DEQUANT(uint8_t, u8)
