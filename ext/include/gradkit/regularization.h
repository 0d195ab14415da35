/* gradkit regularization kernels (see gradkit.h for the conventions).
 *
 * Each works on a list of `count` arrays (array i has size[i] elements) in one parallel
 * region.  Sums are float64, over fixed chunks added in order, so they are the same for
 * every thread count; out[i] receives array i's sum.
 *
 * _f16 and _bf16: the arrays hold float16 or bfloat16 bit patterns (uint16_t); the sums
 * are those of the values widened exactly (as _f32's of the widened arrays), the
 * gradient updates float32 arithmetic on the widened values (lam rounded to float32),
 * each result rounded once to the 16-bit type. */
#ifndef GRADKIT_REGULARIZATION_H
#define GRADKIT_REGULARIZATION_H
#include "gradkit/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* out[i] = sum_j x_i[j]^2 */
int gk_sum_squares_multi_f32(gk_index count, const float *const *x, const gk_index *size,
                             double *out);
int gk_sum_squares_multi_f64(gk_index count, const double *const *x, const gk_index *size,
                             double *out);
int gk_sum_squares_multi_f16(gk_index count, const uint16_t *const *x, const gk_index *size,
                             double *out);
int gk_sum_squares_multi_bf16(gk_index count, const uint16_t *const *x,
                              const gk_index *size, double *out);
/* out[i] = sum_j |x_i[j]| */
int gk_sum_abs_multi_f32(gk_index count, const float *const *x, const gk_index *size,
                         double *out);
int gk_sum_abs_multi_f64(gk_index count, const double *const *x, const gk_index *size,
                         double *out);
int gk_sum_abs_multi_f16(gk_index count, const uint16_t *const *x, const gk_index *size,
                         double *out);
int gk_sum_abs_multi_bf16(gk_index count, const uint16_t *const *x, const gk_index *size,
                          double *out);
/* grad_i += lam * param_i (lam >= 0, rounded to the dtype once) */
int gk_add_l2_grad_multi_f32(gk_index count, float *const *grad, const float *const *param,
                             const gk_index *size, double lam);
int gk_add_l2_grad_multi_f64(gk_index count, double *const *grad,
                             const double *const *param, const gk_index *size, double lam);
int gk_add_l2_grad_multi_f16(gk_index count, uint16_t *const *grad,
                             const uint16_t *const *param, const gk_index *size, double lam);
int gk_add_l2_grad_multi_bf16(gk_index count, uint16_t *const *grad,
                              const uint16_t *const *param, const gk_index *size,
                              double lam);
/* grad_i += lam * sign(param_i), sign(0) = 0, sign(NaN) = NaN */
int gk_add_l1_grad_multi_f32(gk_index count, float *const *grad, const float *const *param,
                             const gk_index *size, double lam);
int gk_add_l1_grad_multi_f64(gk_index count, double *const *grad,
                             const double *const *param, const gk_index *size, double lam);
int gk_add_l1_grad_multi_f16(gk_index count, uint16_t *const *grad,
                             const uint16_t *const *param, const gk_index *size, double lam);
int gk_add_l1_grad_multi_bf16(gk_index count, uint16_t *const *grad,
                              const uint16_t *const *param, const gk_index *size,
                              double lam);

#ifdef __cplusplus
}
#endif
#endif
