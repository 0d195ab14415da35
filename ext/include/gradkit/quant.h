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

/* ---- Low-bit weights: per-group RTN, GPTQ, packing, the dequantizing matmul ----------
 * A weight w (rows x cols, C order: output features x input features) is quantized per
 * row in groups of input columns: bits in {2, 3, 4, 8}, grid 0 .. maxq = 2^bits - 1,
 * column c of row r stands for scales[r, g] * (q[r, c] - zeros[r, g]) with g its group
 * (scales float32 and zeros uint8 of shape rows x groups).  A group's parameters are
 * the reference quantizer's (GPTQ, Frantar et al. 2022), in float32: xmin =
 * min(min w, 0), xmax = max(max w, 0); symmetric: xmax = max(|xmin|, xmax) and, where
 * xmin < 0, xmin = -xmax; xmin = xmax = 0 becomes [-1, 1]; scale = (xmax - xmin) / maxq;
 * zero = (maxq + 1) / 2 (symmetric) or round_half_even(-xmin / scale).  A value is
 * q = clamp(round_half_even(w / scale) + zero, 0, maxq). */

/* Round to nearest: groups of group_size consecutive columns (the last may be short;
 * group_size = cols for one group per row).  q (rows x cols, uint8), scales and zeros
 * (rows x groups, groups = ceil(cols / group_size)).  bits in {2, 3, 4, 8},
 * group_size >= 1. */
int gk_rtn_f32(const float *w, gk_index rows, gk_index cols, int bits,
               gk_index group_size, int sym, uint8_t *q, float *scales, uint8_t *zeros);

/* The options of gk_gptq_f32: bits (2, 3, 4 or 8), sym (a symmetric grid), group_size
 * (the columns a group's parameters are found from, >= 1), block_size (columns per
 * lazy block update, >= 1), find_params (1: find each group's parameters when its
 * first column comes; 0: read them from scales/zeros). */
typedef struct {
    int bits, sym;
    gk_index group_size, block_size;
    int find_params;
} gk_gptq_opts;

/* GPTQ's column loop over w (rows x cols, float32, updated in place: on return its
 * columns hold what the lazy updates left, for nothing but scratch), in the column
 * order given (act-order permutes w and H before): for each block of block_size
 * columns, for each column c of it, every row's value is quantized with the
 * parameters of group col_group[c] (rows x groups in scales/zeros; with find_params
 * they are found, from the values of w[:, c : c + group_size] at the start of c's
 * block, at each column where col_group changes), err = (w - deq) / hinv[c, c] is
 * propagated to the block's later columns (w[:, j] -= err * hinv[c, j]), then the
 * block's errors to all later columns: w[:, i2:] -= Err hinv[i1:i2, i2:].  That last
 * update is lazier still: a block's errors go at once to the rest of its super-block
 * (up to 512 columns, a multiple of the block and, with find_params, of the group),
 * the super-block's to every later column (the same in exact arithmetic, another
 * rounding order); BLAS sgemm, single-threaded inside fixed tiles of 512 rows:
 * bitwise the same for any thread count.  hinv (cols x cols, C order) is the upper Cholesky factor of H^-1
 * (only its upper triangle is read), hinv[c, c] > 0.  q (rows x cols) receives the
 * integers in the same column order.  col_group[c] in [0, groups). */
int gk_gptq_f32(float *w, gk_index rows, gk_index cols, const float *hinv,
                const int32_t *col_group, gk_index groups, const gk_gptq_opts *opts,
                uint8_t *q, float *scales, uint8_t *zeros, const gk_blas_fns *blas);

/* GPTQ's factor: u (n x n, C order) receives U, the upper triangular matrix with
 * H^-1 = U^T U (only its upper triangle is written), for h (n x n) symmetric positive
 * definite, which is overwritten (scratch).  With J the reversal permutation and
 * J H J = L L^T, U = J L^-1 J: a blocked Cholesky factorization of J H J and the
 * inverse of its factor, in fixed blocks of 128, every off-diagonal block one BLAS
 * sgemm (single-threaded, blocks in parallel): bitwise the same for any thread count.
 * GK_EVALUE (naming h) when H is not positive definite. */
int gk_gptq_hinv_f32(float *h, gk_index n, float *u, const gk_blas_fns *blas);

/* Packing: each row's values as one little-endian bit stream of `bits` bits per value
 * (value c at bit bits * c), cut into uint32 words: words = bits * ceil(cols / 32) per
 * row, the padding zero.  4 bits: eight values per word, column 8k + j in bits 4j ..
 * 4j + 3 of word k; 3 bits: 32 values in 3 words, values 10 and 21 split across two. */
int gk_pack_lowbit(const uint8_t *q, gk_index rows, gk_index cols, int bits,
                 uint32_t *packed);
/* The inverse: q (rows x cols) from packed (rows x words). */
int gk_unpack_lowbit(const uint32_t *packed, gk_index rows, gk_index cols, int bits,
                   uint8_t *q);

/* A packed low-bit weight: packed (rows x bits * ceil(cols / 32) uint32), scales
 * (rows x groups float32), zeros (rows x groups uint8, each <= maxq), g_idx (cols
 * int32, the group of each column, in [0, groups)) or NULL for g = c / group_size. */
typedef struct {
    const uint32_t *packed;
    const float *scales;
    const uint8_t *zeros;
    const int32_t *g_idx;
    gk_index rows;
    gk_index cols;
    gk_index groups;
    gk_index group_size;
    int bits;
} gk_qweight;

/* out (rows x cols, float32) = scales[r, g] * (q[r, c] - zeros[r, g]). */
int gk_dequantize_weight_f32(const gk_qweight *weight, float *out);

/* y (batch x rows) = x (batch x cols) W^T (+ bias[r]) with W the dequantized weight,
 * never materialized whole: small batches dequantize 16 columns at a time in registers
 * and multiply them into every row of x; larger ones dequantize a tile of rows that
 * fits in the cache and multiply it with BLAS sgemm (single-threaded inside the tiles).
 * Each output is computed in one fixed order: bitwise the same for any thread count. */
int gk_qlinear_f32(const float *x, gk_index batch, const gk_qweight *weight,
                   const float *bias, float *y, const gk_blas_fns *blas);

/* h (d x d, C order, full symmetric) = beta * h + alpha * x^T x for x (m x d): fixed
 * column panels of the lower triangle, each one BLAS gemm (single-threaded, in
 * parallel), then mirrored: bitwise the same for any thread count.  beta = 0 ignores
 * h's old contents. */
int gk_gram_f32(const float *x, gk_index m, gk_index d, double alpha, double beta,
                float *h, const gk_blas_fns *blas);
int gk_gram_f64(const double *x, gk_index m, gk_index d, double alpha, double beta,
                double *h, const gk_blas_fns *blas);

#ifdef __cplusplus
}
#endif
#endif
