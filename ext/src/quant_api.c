/* Public entry points of the quant family: validate, then call the ISA table. */
#include <string.h>
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

/* ---- low-bit weights ------------------------------------------------------------------ */
#define GK_LB_BITS_OK(b) ((b) == 2 || (b) == 3 || (b) == 4 || (b) == 8)
/* sizes BLAS takes (gk_blas_int) */
#define GK_LB_BLAS_MAX ((gk_index)1 << 30)

int gk_rtn_f32(const float *w, gk_index rows, gk_index cols, int bits,
               gk_index group_size, int sym, uint8_t *q, float *scales, uint8_t *zeros)
{
    GK_CHECK_SIZE(rows);
    GK_CHECK_SIZE(cols);
    GK_CHECK_VALUE(GK_LB_BITS_OK(bits), bits);
    GK_CHECK_VALUE(group_size >= 1, group_size);
    GK_CHECK_PTR_IF(rows * cols > 0, w);
    GK_CHECK_PTR_IF(rows * cols > 0, q);
    GK_CHECK_PTR_IF(rows * cols > 0, scales);
    GK_CHECK_PTR_IF(rows * cols > 0, zeros);
    quant_table()->rtn_f32(w, rows, cols, bits, group_size, sym != 0, q, scales, zeros);
    return GK_OK;
}

int gk_gptq_f32(float *w, gk_index rows, gk_index cols, const float *hinv,
                const int32_t *col_group, gk_index groups, const gk_gptq_opts *opts,
                uint8_t *q, float *scales, uint8_t *zeros, const gk_blas_fns *blas)
{
    GK_CHECK_PTR(opts);
    GK_CHECK(rows >= 0 && rows < GK_LB_BLAS_MAX, GK_ESIZE, rows);
    GK_CHECK(cols >= 0 && cols < GK_LB_BLAS_MAX, GK_ESIZE, cols);
    GK_CHECK_SIZE(groups);
    GK_CHECK_VALUE(GK_LB_BITS_OK(opts->bits), bits);
    GK_CHECK_VALUE(opts->group_size >= 1, group_size);
    GK_CHECK_VALUE(opts->block_size >= 1 && opts->block_size < GK_LB_BLAS_MAX, block_size);
    const int any = rows * cols > 0;
    GK_CHECK_PTR_IF(any, w);
    GK_CHECK_PTR_IF(cols > 0, hinv);
    GK_CHECK_PTR_IF(cols > 0, col_group);
    GK_CHECK_PTR_IF(any, q);
    GK_CHECK_PTR_IF(any, scales);
    GK_CHECK_PTR_IF(any, zeros);
    GK_CHECK_PTR_IF(any, blas);
    GK_CHECK(!any || blas->sgemm != NULL, GK_ENULL, blas);
    for (gk_index c = 0; c < cols; ++c) {
        GK_CHECK_VALUE(col_group[c] >= 0 && col_group[c] < groups, col_group);
        GK_CHECK_VALUE(hinv[c * cols + c] > 0.0f, hinv);
    }
    if (!any)
        return GK_OK;
    return quant_table()->gptq_f32(w, rows, cols, hinv, col_group, groups, opts, q, scales,
                                   zeros, blas);
}

int gk_gptq_hinv_f32(float *h, gk_index n, float *u, const gk_blas_fns *blas)
{
    GK_CHECK(n >= 0 && n < GK_LB_BLAS_MAX, GK_ESIZE, n);
    GK_CHECK_PTR_IF(n > 0, h);
    GK_CHECK_PTR_IF(n > 0, u);
    GK_CHECK_PTR_IF(n > 0, blas);
    GK_CHECK(n == 0 || blas->sgemm != NULL, GK_ENULL, blas);
    GK_CHECK(n == 0 || h != u, GK_EALIAS, u);
    if (n == 0)
        return GK_OK;
    return quant_table()->gptq_hinv_f32(h, n, u, blas);
}

/* The arguments of packing and unpacking (the same in both directions). */
static int gk_check_packing(const void *q, gk_index rows, gk_index cols, int bits,
                            const void *packed)
{
    GK_CHECK_SIZE(rows);
    GK_CHECK_SIZE(cols);
    GK_CHECK_VALUE(GK_LB_BITS_OK(bits), bits);
    GK_CHECK_PTR_IF(rows * cols > 0, q);
    GK_CHECK_PTR_IF(rows * cols > 0, packed);
    return GK_OK;
}

int gk_pack_lowbit(const uint8_t *q, gk_index rows, gk_index cols, int bits,
                   uint32_t *packed)
{
    GK_RETURN_IF(gk_check_packing(q, rows, cols, bits, packed));
    quant_table()->pack_lowbit(q, rows, cols, bits, packed);
    return GK_OK;
}

int gk_unpack_lowbit(const uint32_t *packed, gk_index rows, gk_index cols, int bits,
                     uint8_t *q)
{
    GK_RETURN_IF(gk_check_packing(q, rows, cols, bits, packed));
    quant_table()->unpack_lowbit(packed, rows, cols, bits, q);
    return GK_OK;
}

/* The fields of a packed weight: sizes, bits, arrays, zeros <= maxq, g_idx in range. */
static int gk_check_qweight(const gk_qweight *weight)
{
    GK_CHECK_PTR(weight);
    GK_CHECK(weight->rows >= 0 && weight->rows < GK_LB_BLAS_MAX, GK_ESIZE, rows);
    GK_CHECK(weight->cols >= 0 && weight->cols < GK_LB_BLAS_MAX, GK_ESIZE, cols);
    GK_CHECK(weight->groups >= 0, GK_ESIZE, groups);
    GK_CHECK_VALUE(GK_LB_BITS_OK(weight->bits), bits);
    const gk_index rows = weight->rows, cols = weight->cols, groups = weight->groups;
    const int any = rows * cols > 0;
    GK_CHECK(!any || weight->packed != NULL, GK_ENULL, packed);
    GK_CHECK(!any || weight->scales != NULL, GK_ENULL, scales);
    GK_CHECK(!any || weight->zeros != NULL, GK_ENULL, zeros);
    if (weight->g_idx == NULL) {
        GK_CHECK_VALUE(weight->group_size >= 1, group_size);
        GK_CHECK_VALUE(!any || (cols - 1) / weight->group_size < groups, groups);
    } else {
        for (gk_index c = 0; c < cols; ++c)
            GK_CHECK_VALUE(weight->g_idx[c] >= 0 && weight->g_idx[c] < groups, g_idx);
    }
    if (any) {   /* every zero <= maxq = 2^bits - 1: no bit above them in the OR of
                  * all, taken 8 bytes at a time (a byte loop with an early exit was 9%
                  * of a batch-1 qlinear on 4096x4096) */
        const uint8_t *z = weight->zeros;
        const size_t n = (size_t)(rows * groups);
        uint64_t acc[4] = {0, 0, 0, 0};
        size_t i = 0;
        for (; i + 32 <= n; i += 32)
            for (int k = 0; k < 4; ++k) {
                uint64_t w;
                memcpy(&w, z + i + 8 * k, 8);
                acc[k] |= w;
            }
        uint64_t all = acc[0] | acc[1] | acc[2] | acc[3];
        for (; i < n; ++i)
            all |= z[i];
        const uint64_t high = (uint64_t)(uint8_t)(0xFFu << weight->bits) * 0x0101010101010101u;
        GK_CHECK_VALUE((all & high) == 0, zeros);
    }
    return GK_OK;
}

int gk_dequantize_weight_f32(const gk_qweight *weight, float *out)
{
    GK_RETURN_IF(gk_check_qweight(weight));
    GK_CHECK_PTR_IF(weight->rows * weight->cols > 0, out);
    quant_table()->dequantize_weight_f32(weight, out);
    return GK_OK;
}

int gk_qlinear_f32(const float *x, gk_index batch, const gk_qweight *weight,
                   const float *bias, float *y, const gk_blas_fns *blas)
{
    GK_RETURN_IF(gk_check_qweight(weight));
    GK_CHECK(batch >= 0 && batch < GK_LB_BLAS_MAX, GK_ESIZE, batch);
    GK_CHECK_PTR_IF(batch * weight->cols > 0, x);
    GK_CHECK_PTR_IF(batch * weight->rows > 0, y);
    GK_CHECK_PTR(blas);
    GK_CHECK(blas->sgemm != NULL, GK_ENULL, blas);
    return quant_table()->qlinear_f32(x, batch, weight, bias, y, blas);
}

#define GK_DEFINE_GRAM(T, SFX, GEMM) \
int gk_gram_##SFX(const T *x, gk_index m, gk_index d, double alpha, double beta, T *h, \
                  const gk_blas_fns *blas) \
{ \
    GK_CHECK(m >= 0 && m < GK_LB_BLAS_MAX, GK_ESIZE, m); \
    GK_CHECK(d >= 0 && d < GK_LB_BLAS_MAX, GK_ESIZE, d); \
    GK_CHECK_VALUE(alpha == alpha, alpha); \
    GK_CHECK_VALUE(beta == beta, beta); \
    GK_CHECK_PTR_IF(m * d > 0, x); \
    GK_CHECK_PTR_IF(d > 0, h); \
    GK_CHECK_PTR_IF(d > 0, blas); \
    GK_CHECK(d == 0 || blas->GEMM != NULL, GK_ENULL, blas); \
    if (d > 0) \
        quant_table()->gram_##SFX(x, m, d, alpha, beta, h, blas); \
    return GK_OK; \
}
GK_DEFINE_GRAM(float, f32, sgemm)
GK_DEFINE_GRAM(double, f64, dgemm)
