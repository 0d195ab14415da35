/* gradkit loss kernels: fused forward + backward (see gradkit.h for the conventions). */
#ifndef GRADKIT_LOSSES_H
#define GRADKIT_LOSSES_H
#include <stdint.h>
#include "gradkit/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* reductions, as PyTorch's `reduction=` */
#define GK_REDUCTION_NONE 0
#define GK_REDUCTION_MEAN 1
#define GK_REDUCTION_SUM 2
/* the sum divided by the size of the first axis (kl_div_pointwise only) */
#define GK_REDUCTION_BATCHMEAN 3

/* Softmax cross-entropy over `rows` rows of `cols` logits, forward and backward in one
 * pass per row.  Targets are either class indices `labels` (length rows, in [0, cols)
 * or equal to ignore_index; then `probs` is NULL) or target probabilities `probs`
 * (rows x cols; then `labels` is NULL).  With s = label_smoothing the target of a row
 * is t = (1 - s) onehot(y) + s/cols (or (1 - s) probs + s/cols) and its loss is
 * -sum_c t_c log softmax(z)_c; ignored rows have loss 0 and gradient 0.
 * weight (length cols, may be NULL) are per-class weights, as torch's: a row's loss is
 * -sum_c u_c log softmax(z)_c with u = (1 - s) w_y onehot(y) + (s/cols) w for class
 * indices and u_c = w_c t_c for probabilities.
 * row_loss (length rows, may be NULL) receives the per-row losses; *total (may be
 * NULL) the reduced loss in double: the sum for SUM, the sum divided by the count of
 * non-ignored rows (class indices; with weights, the sum of w_y over them) or by rows
 * (probabilities) for MEAN, the sum for NONE.  dlogits receives the gradient of the
 * reduced loss (of the sum of the row losses for NONE).  GK_EVALUE if a label is out
 * of range (nothing written). */
int gk_softmax_cross_entropy_f32(const float *logits, const int64_t *labels,
                                 const float *probs, float *row_loss, double *total,
                                 float *dlogits, gk_index rows, gk_index cols,
                                 double label_smoothing, int64_t ignore_index,
                                 int reduction);
int gk_softmax_cross_entropy_f64(const double *logits, const int64_t *labels,
                                 const double *probs, double *row_loss, double *total,
                                 double *dlogits, gk_index rows, gk_index cols,
                                 double label_smoothing, int64_t ignore_index,
                                 int reduction);
/* The same with per-class weights (weight NULL: the functions above). */
int gk_softmax_cross_entropy_weighted_f32(const float *logits, const int64_t *labels,
                                          const float *probs, const float *weight,
                                          float *row_loss, double *total, float *dlogits,
                                          gk_index rows, gk_index cols,
                                          double label_smoothing, int64_t ignore_index,
                                          int reduction);
int gk_softmax_cross_entropy_weighted_f64(const double *logits, const int64_t *labels,
                                          const double *probs, const double *weight,
                                          double *row_loss, double *total, double *dlogits,
                                          gk_index rows, gk_index cols,
                                          double label_smoothing, int64_t ignore_index,
                                          int reduction);

/* The same two in 16-bit storage (mixed precision): logits, probs and dlogits hold
 * float16 (_f16) or bfloat16 (_bf16) bit patterns, weight and row_loss are float32.
 * Each row is computed by the float32 kernel on the exactly widened logits (float32
 * arithmetic, double sums) and dlogits rounded once, to nearest even: the results are
 * the float32 function's on the widened inputs, dlogits rounded. */
int gk_softmax_cross_entropy_f16(const uint16_t *logits, const int64_t *labels,
                                 const uint16_t *probs, float *row_loss, double *total,
                                 uint16_t *dlogits, gk_index rows, gk_index cols,
                                 double label_smoothing, int64_t ignore_index,
                                 int reduction);
int gk_softmax_cross_entropy_bf16(const uint16_t *logits, const int64_t *labels,
                                  const uint16_t *probs, float *row_loss, double *total,
                                  uint16_t *dlogits, gk_index rows, gk_index cols,
                                  double label_smoothing, int64_t ignore_index,
                                  int reduction);
int gk_softmax_cross_entropy_weighted_f16(const uint16_t *logits, const int64_t *labels,
                                          const uint16_t *probs, const float *weight,
                                          float *row_loss, double *total,
                                          uint16_t *dlogits, gk_index rows, gk_index cols,
                                          double label_smoothing, int64_t ignore_index,
                                          int reduction);
int gk_softmax_cross_entropy_weighted_bf16(const uint16_t *logits, const int64_t *labels,
                                           const uint16_t *probs, const float *weight,
                                           float *row_loss, double *total,
                                           uint16_t *dlogits, gk_index rows,
                                           gk_index cols, double label_smoothing,
                                           int64_t ignore_index, int reduction);

/* Distillation KL divergence, batch mean: (1/rows) sum_i KL(softmax(t_i/T) ||
 * softmax(s_i/T)) into *total, and its gradient with respect to the student logits,
 * dstudent = (softmax(s/T) - softmax(t/T)) / (T rows). */
int gk_kl_div_f32(const float *student, const float *teacher, double *total,
                  float *dstudent, gk_index rows, gk_index cols, double temperature);
int gk_kl_div_f64(const double *student, const double *teacher, double *total,
                  double *dstudent, gk_index rows, gk_index cols, double temperature);

/* KL divergence with the input as log-probabilities, pointwise (torch's F.kl_div):
 * elem_loss = xlogy(t, t) - t x, or exp(t) (t - x) with log_target, over n elements
 * (xlogy(0, .) = 0, so a target of 0 adds -0 x); *total = the sum (SUM, NONE), the sum
 * divided by n (MEAN) or by batch (BATCHMEAN); dinput = -t, or -exp(t), times 1/n,
 * 1/batch or 1.  elem_loss may be NULL. */
int gk_kl_div_pointwise_f32(const float *input, const float *target, float *elem_loss,
                            double *total, float *dinput, gk_index n, gk_index batch,
                            int log_target, int reduction);
int gk_kl_div_pointwise_f64(const double *input, const double *target, double *elem_loss,
                            double *total, double *dinput, gk_index n, gk_index batch,
                            int log_target, int reduction);

/* Mean squared error over n elements: elem_loss (may be NULL) = (pred - target)^2,
 * *total = the sum (SUM, NONE) or the mean (MEAN), dpred = 2 (pred - target), divided
 * by n for MEAN. */
int gk_mse_f32(const float *pred, const float *target, float *elem_loss, double *total,
               float *dpred, gk_index n, int reduction);
int gk_mse_f64(const double *pred, const double *target, double *elem_loss, double *total,
               double *dpred, gk_index n, int reduction);

#ifdef __cplusplus
}
#endif
#endif
