/* gradkit dropout kernels (see gradkit.h for the conventions, philox.h for the stream).
 *
 * Inverted dropout with drop probability p: element i reads word counter + i of the
 * Philox stream of `seed` (word w = word w % 4 of the block with counter
 * (lo32(w / 4), hi32(w / 4), 0, 0)) and is kept iff
 *     word < keep_prob * 2**32        (keep_prob = 1 - p; no float conversion)
 * then y[i] = x[i] * m[i] with m[i] = 1/keep_prob if kept, 0 if dropped (so x * 0 for
 * a dropped element: NaN and Inf stay NaN, as in PyTorch; p = 1 gives x * 0).
 * mask_bits (may be NULL: nothing stored) receives 1 bit per element, element i in bit
 * (i % 8) of byte i / 8, ceil(n / 8) bytes; unused high bits of the last byte are 0.
 * n elements consume n words: the caller advances its counter by n.
 *
 * The backward is the same multiply on dy: from the stored bits with
 * gk_dropout_backward_*, or, storing no mask, gk_dropout_* itself on dy with the same
 * seed and counter (mask_bits NULL), which regenerates exactly the same mask. */
#ifndef GRADKIT_DROPOUT_H
#define GRADKIT_DROPOUT_H
#include "gradkit/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Inverted dropout of n elements: element i is kept iff word counter + i of the Philox
 * stream of `seed` is < (1 - p) 2**32; y = x / (1 - p) where kept, x * 0 where dropped;
 * mask_bits (NULL: not stored) gets element i in bit i % 8 of byte i / 8.  p in [0, 1]
 * else GK_EVALUE.  y may be x (in place).  Advance your counter by n. */
int gk_dropout_f32(const float *x, float *y, unsigned char *mask_bits, gk_index n, double p,
                   unsigned long long seed, unsigned long long counter);
int gk_dropout_f64(const double *x, double *y, unsigned char *mask_bits, gk_index n,
                   double p, unsigned long long seed, unsigned long long counter);

/* dx = dy * m from the bits the forward stored.  dx may be dy. */
int gk_dropout_backward_f32(const float *dy, const unsigned char *mask_bits, float *dx,
                            gk_index n, double p);
int gk_dropout_backward_f64(const double *dy, const unsigned char *mask_bits, double *dx,
                            gk_index n, double p);

/* Stochastic depth (drop_path) of `rows` samples of `row_len` elements each (n = rows *
 * row_len, sample r the elements r * row_len .. (r + 1) * row_len - 1): sample r is kept
 * iff word counter + r of the stream of `seed` is < (1 - p) 2**32 (gk_dropout_*'s rule,
 * one word per sample); y = x / (1 - p) on a kept sample, x * 0 on a dropped one.
 * keep (required) receives 1 (kept) or 0 per sample.  p in [0, 1] else GK_EVALUE.  y may
 * be x (in place).  Advance your counter by rows. */
int gk_drop_path_f32(const float *x, float *y, unsigned char *keep, gk_index rows,
                     gk_index row_len, double p, unsigned long long seed,
                     unsigned long long counter);
int gk_drop_path_f64(const double *x, double *y, unsigned char *keep, gk_index rows,
                     gk_index row_len, double p, unsigned long long seed,
                     unsigned long long counter);

/* dx = dy * m per sample from the keep bytes the forward stored (nonzero: kept): m =
 * 1 / (1 - p) on a kept sample, 0 on a dropped one.  dx may be dy. */
int gk_drop_path_backward_f32(const float *dy, const unsigned char *keep, float *dx,
                              gk_index rows, gk_index row_len, double p);
int gk_drop_path_backward_f64(const double *dy, const unsigned char *keep, double *dx,
                              gk_index rows, gk_index row_len, double p);

/* The same four in 16-bit storage (mixed precision): x, y, dy, dx hold float16 (_f16,
 * IEEE binary16) or bfloat16 (_bf16) bit patterns.  The mask is the one the float32
 * functions draw (it does not depend on the dtype); y = x * m is computed in float32
 * (m = 1 / (1 - p) rounded to float32, as for float32 data) on the exactly widened x and
 * rounded once, to nearest even: y is the float32 function's on x widened, rounded. */
int gk_dropout_f16(const uint16_t *x, uint16_t *y, unsigned char *mask_bits, gk_index n,
                   double p, unsigned long long seed, unsigned long long counter);
int gk_dropout_bf16(const uint16_t *x, uint16_t *y, unsigned char *mask_bits, gk_index n,
                    double p, unsigned long long seed, unsigned long long counter);
int gk_dropout_backward_f16(const uint16_t *dy, const unsigned char *mask_bits,
                            uint16_t *dx, gk_index n, double p);
int gk_dropout_backward_bf16(const uint16_t *dy, const unsigned char *mask_bits,
                             uint16_t *dx, gk_index n, double p);
int gk_drop_path_f16(const uint16_t *x, uint16_t *y, unsigned char *keep, gk_index rows,
                     gk_index row_len, double p, unsigned long long seed,
                     unsigned long long counter);
int gk_drop_path_bf16(const uint16_t *x, uint16_t *y, unsigned char *keep, gk_index rows,
                      gk_index row_len, double p, unsigned long long seed,
                      unsigned long long counter);
int gk_drop_path_backward_f16(const uint16_t *dy, const unsigned char *keep, uint16_t *dx,
                              gk_index rows, gk_index row_len, double p);
int gk_drop_path_backward_bf16(const uint16_t *dy, const unsigned char *keep, uint16_t *dx,
                               gk_index rows, gk_index row_len, double p);

#ifdef __cplusplus
}
#endif
#endif
