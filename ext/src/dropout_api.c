/* Public entry points of the dropout family: validate, then call the ISA table. */
#include <math.h>
#include <stdint.h>
#include "gk_internal.h"
#include "gk_api.h"
#include "kernels.h"
#include "dropout_kernels.h"
#include "dropout_span.h"

GK_DEFINE_TABLE_GETTER(dropout)
GK_DEFINE_TABLE_GETTER(dropout_half)

/* drop_path's sizes (rows x row_len elements, no overflow) and its keep bytes */
#define GK_CHECK_SAMPLES(rows, row_len, keep) \
    GK_CHECK_SIZE(rows); \
    GK_CHECK_SIZE(row_len); \
    GK_CHECK(row_len == 0 || rows <= PTRDIFF_MAX / row_len, GK_ESIZE, row_len); \
    GK_CHECK_PTR_IF(rows > 0, keep)

/* TS: the data arrays' storage, T: the arithmetic's type (the scale's), TABLE: the
 * kernel table (dropout, or dropout_half for 16-bit storage) */
#define GK_DEFINE_DROPOUT(TS, T, SFX, TABLE) \
int gk_dropout_##SFX(const TS *x, TS *y, unsigned char *mask_bits, gk_index n, double p, \
                     unsigned long long seed, unsigned long long counter) \
{ \
    GK_CHECK_SIZE(n); \
    GK_CHECK_PTR_IF(n > 0, x); \
    GK_CHECK_PTR_IF(n > 0, y); \
    GK_CHECK_VALUE(p >= 0.0 && p <= 1.0, p); \
    int none; \
    uint32_t km = gk_dropout_keep_max(p, &none); \
    T scale = none ? (T)0 : (T)(1.0 / (1.0 - p)); \
    if (n > 0) \
        TABLE##_table()->fwd_##SFX(x, y, mask_bits, n, scale, km, none, (uint32_t)seed, \
                                   (uint32_t)((uint64_t)seed >> 32), (uint64_t)counter); \
    return GK_OK; \
} \
int gk_dropout_backward_##SFX(const TS *dy, const unsigned char *mask_bits, TS *dx, \
                              gk_index n, double p) \
{ \
    GK_CHECK_SIZE(n); \
    GK_CHECK_PTR_IF(n > 0, dy); \
    GK_CHECK_PTR_IF(n > 0, mask_bits); \
    GK_CHECK_PTR_IF(n > 0, dx); \
    GK_CHECK_VALUE(p >= 0.0 && p <= 1.0, p); \
    T scale = p < 1.0 ? (T)(1.0 / (1.0 - p)) : (T)0; \
    if (n > 0) \
        TABLE##_table()->bwd_##SFX(dy, mask_bits, dx, n, scale); \
    return GK_OK; \
} \
int gk_drop_path_##SFX(const TS *x, TS *y, unsigned char *keep, gk_index rows, \
                       gk_index row_len, double p, unsigned long long seed, \
                       unsigned long long counter) \
{ \
    GK_CHECK_SAMPLES(rows, row_len, keep); \
    GK_CHECK_PTR_IF(rows > 0 && row_len > 0, x); \
    GK_CHECK_PTR_IF(rows > 0 && row_len > 0, y); \
    GK_CHECK_VALUE(p >= 0.0 && p <= 1.0, p); \
    int none; \
    uint32_t km = gk_dropout_keep_max(p, &none); \
    T scale = none ? (T)0 : (T)(1.0 / (1.0 - p)); \
    if (rows > 0) \
        TABLE##_table()->path_fwd_##SFX(x, y, keep, rows, row_len, scale, km, none, \
                                        (uint32_t)seed, (uint32_t)((uint64_t)seed >> 32), \
                                        (uint64_t)counter); \
    return GK_OK; \
} \
int gk_drop_path_backward_##SFX(const TS *dy, const unsigned char *keep, TS *dx, \
                                gk_index rows, gk_index row_len, double p) \
{ \
    GK_CHECK_SAMPLES(rows, row_len, keep); \
    GK_CHECK_PTR_IF(rows > 0 && row_len > 0, dy); \
    GK_CHECK_PTR_IF(rows > 0 && row_len > 0, dx); \
    GK_CHECK_VALUE(p >= 0.0 && p <= 1.0, p); \
    T scale = p < 1.0 ? (T)(1.0 / (1.0 - p)) : (T)0; \
    if (rows > 0 && row_len > 0) \
        TABLE##_table()->path_bwd_##SFX(dy, keep, dx, rows, row_len, scale); \
    return GK_OK; \
}

GK_DEFINE_DROPOUT(float, float, f32, dropout)
GK_DEFINE_DROPOUT(double, double, f64, dropout)
GK_DEFINE_DROPOUT(uint16_t, float, f16, dropout_half)
GK_DEFINE_DROPOUT(uint16_t, float, bf16, dropout_half)
