/* gradkit finite-difference helpers for batched gradient checking (see gradkit.h). */
#ifndef GRADKIT_GRADCHECK_H
#define GRADKIT_GRADCHECK_H
#include <stdint.h>
#include "gradkit/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* The stack of 2k perturbed copies of x (n elements) for centred differences along k
 * coordinates: copy j (j < k) is x with x[idx[j]] + h[j], copy k + j is x with
 * x[idx[j]] - h[j], both rounded to the element type.  step[j] receives the step the
 * rounded copies really take, (x + h) - (x - h) in double, the denominator to use.
 * stack holds 2k * n elements.  GK_EVALUE if an index is outside [0, n). */
int gk_gradcheck_stack_f32(const float *x, gk_index n, const int64_t *idx, const double *h,
                           gk_index k, float *stack, double *step);
int gk_gradcheck_stack_f64(const double *x, gk_index n, const int64_t *idx,
                           const double *h, gk_index k, double *stack, double *step);

/* The stack of 2k copies along directions: copy j is x + h v_j, copy k + j is
 * x - h v_j, v (k x n) the directions. */
int gk_gradcheck_stack_dir_f32(const float *x, gk_index n, const float *v, double h,
                               gk_index k, float *stack);
int gk_gradcheck_stack_dir_f64(const double *x, gk_index n, const double *v, double h,
                               gk_index k, double *stack);

/* Centred differences of the stack's losses: g[j] = (loss[j] - loss[k + j]) / step[j]
 * (loss holds 2k values). */
int gk_gradcheck_difference(const double *loss, const double *step, gk_index k, double *g);

#ifdef __cplusplus
}
#endif
#endif
