/* gradkit gradient clipping and loss-scaling kernels (see gradkit.h for the conventions).
 *
 * Each function works on a LIST of `narrays` arrays at once: arrays[i] points to
 * sizes[i] elements of type dtypes[i] (GK_DTYPE_F32 or GK_DTYPE_F64 of common.h; the dtypes may
 * differ within one list).  The element range is cut into fixed chunks of each array;
 * chunks are the unit of parallel work, and reductions combine the per-chunk partials
 * (double accumulators, 16-lane scheme) in a fixed order, so every result is bitwise
 * identical for any thread count. */
#ifndef GRADKIT_CLIP_H
#define GRADKIT_CLIP_H
#include "gradkit/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* The p-norm of the concatenation of the arrays, as torch.nn.utils.clip_grad_norm_
 * defines it (the norm of the per-array norms):
 *   p finite > 0:  total = (sum_i sum_j |x_ij|^p)^(1/p),  per_array[i] = (sum_j |x_ij|^p)^(1/p)
 *   p = +inf:      total = max_ij |x_ij|,                  per_array[i] = max_j |x_ij|
 * NaN anywhere makes the total (and that array's norm) NaN.  per_array may be NULL.
 * norm_type must be > 0 (GK_EVALUE otherwise).  An empty list has total 0. */
int gk_grad_norm(const void *const *arrays, const int *dtypes, const gk_index *sizes,
                 gk_index narrays, double norm_type, double *per_array, double *total);

/* x *= coef in place, every array; float32 arrays multiply by (float)coef in float32
 * (PyTorch's _foreach_mul_ with the coefficient cast to the gradient's dtype). */
int gk_grad_scale_(void *const *arrays, const int *dtypes, const gk_index *sizes,
                   gk_index narrays, double coef);

/* x = min(max(x, -clip_value), clip_value) in place (NaN stays NaN); clip_value >= 0,
 * cast to float32 for float32 arrays. */
int gk_grad_clamp_(void *const *arrays, const int *dtypes, const gk_index *sizes,
                   gk_index narrays, double clip_value);

/* The loss scaler's fused pass (torch._amp_foreach_non_finite_check_and_unscale_):
 * x *= inv_scale in place (in float32 for float32 arrays, in double with the float32
 * inv_scale widened for float64 arrays) and *found_inf = 1 if any element was inf or NaN
 * before scaling, else 0.  Every element is multiplied either way. */
int gk_unscale_check_(void *const *arrays, const int *dtypes, const gk_index *sizes,
                      gk_index narrays, float inv_scale, int *found_inf);

#ifdef __cplusplus
}
#endif
#endif
