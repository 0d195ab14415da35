/* Public entry points of the quant family: validate, then call the ISA table. */
#include "gk_internal.h"
#include "kernels.h"
#include "quant_kernels.h"

GK_DEFINE_TABLE_GETTER(quant)

#define GK_CHECK_DIMS(outer, channels, inner) \
    if ((outer) < 0 || (channels) < 0 || (inner) < 0) return GK_ESIZE

static int gk_check_params(const float *scale, const int32_t *zp, gk_index channels,
                           int lo, int hi)
{
    if (channels > 0 && (!scale || !zp)) return GK_ENULL;
    for (gk_index c = 0; c < channels; ++c)
        if (!(scale[c] > 0.0f) || scale[c] == 1.0f / 0.0f || zp[c] < lo || zp[c] > hi)
            return GK_EVALUE;
    return GK_OK;
}

#define GK_DEFINE_QUANT(T, SFX) \
int gk_minmax_##SFX(const T *x, gk_index outer, gk_index channels, gk_index inner, \
                    T *mins, T *maxs, int *nonfinite) \
{ \
    GK_CHECK_DIMS(outer, channels, inner); \
    if (!nonfinite || (channels > 0 && (!mins || !maxs))) return GK_ENULL; \
    if (outer * channels * inner > 0 && !x) return GK_ENULL; \
    return quant_table()->minmax_##SFX(x, outer, channels, inner, mins, maxs, nonfinite); \
} \
int gk_quantize_##SFX##_s8(const T *x, const float *scale, const int32_t *zero_point, \
                           int8_t *q, gk_index outer, gk_index channels, gk_index inner) \
{ \
    GK_CHECK_DIMS(outer, channels, inner); \
    int err = gk_check_params(scale, zero_point, channels, -128, 127); \
    if (err) return err; \
    if (outer * channels * inner > 0 && (!x || !q)) return GK_ENULL; \
    quant_table()->quantize_##SFX##_s8(x, scale, zero_point, q, outer, channels, inner); \
    return GK_OK; \
} \
int gk_quantize_##SFX##_u8(const T *x, const float *scale, const int32_t *zero_point, \
                           uint8_t *q, gk_index outer, gk_index channels, gk_index inner) \
{ \
    GK_CHECK_DIMS(outer, channels, inner); \
    int err = gk_check_params(scale, zero_point, channels, 0, 255); \
    if (err) return err; \
    if (outer * channels * inner > 0 && (!x || !q)) return GK_ENULL; \
    quant_table()->quantize_##SFX##_u8(x, scale, zero_point, q, outer, channels, inner); \
    return GK_OK; \
}

GK_DEFINE_QUANT(float, f32)
GK_DEFINE_QUANT(double, f64)

int gk_dequantize_s8(const int8_t *q, const float *scale, const int32_t *zero_point,
                     float *y, gk_index outer, gk_index channels, gk_index inner)
{
    GK_CHECK_DIMS(outer, channels, inner);
    if (channels > 0 && (!scale || !zero_point)) return GK_ENULL;
    if (outer * channels * inner > 0 && (!q || !y)) return GK_ENULL;
    quant_table()->dequantize_s8(q, scale, zero_point, y, outer, channels, inner);
    return GK_OK;
}

int gk_dequantize_u8(const uint8_t *q, const float *scale, const int32_t *zero_point,
                     float *y, gk_index outer, gk_index channels, gk_index inner)
{
    GK_CHECK_DIMS(outer, channels, inner);
    if (channels > 0 && (!scale || !zero_point)) return GK_ENULL;
    if (outer * channels * inner > 0 && (!q || !y)) return GK_ENULL;
    quant_table()->dequantize_u8(q, scale, zero_point, y, outer, channels, inner);
    return GK_OK;
}
