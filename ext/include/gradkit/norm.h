/* gradkit normalization kernels (see gradkit.h for the conventions). */
#ifndef GRADKIT_NORM_H
#define GRADKIT_NORM_H
#include "gradkit/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---- normalization ---------------------------------------------------------------- */
/* LayerNorm over rows of `cols` elements: y = (x - mean) * rstd * weight + bias with
 * rstd = 1 / sqrt(var + eps), var the biased variance.  weight/bias may be NULL;
 * mean/rstd (length rows) may be NULL. */
int gk_layer_norm_f32(const float *x, const float *weight, const float *bias, float *y,
                      float *mean, float *rstd, gk_index rows, gk_index cols, double eps);
int gk_layer_norm_f64(const double *x, const double *weight, const double *bias, double *y,
                      double *mean, double *rstd, gk_index rows, gk_index cols, double eps);

/* RMSNorm over rows of `cols` elements: y = x * rstd * weight with
 * rstd = 1 / sqrt(mean(x^2) + eps).  weight may be NULL; rstd (length rows) may be NULL. */
int gk_rms_norm_f32(const float *x, const float *weight, float *y, float *rstd,
                    gk_index rows, gk_index cols, double eps);
int gk_rms_norm_f64(const double *x, const double *weight, double *y, double *rstd,
                    gk_index rows, gk_index cols, double eps);

/* Backward of LayerNorm through its statistics (mean, rstd as the forward returned
 * them).  dweight/dbias (length cols) may be NULL; weight may be NULL. */
int gk_layer_norm_backward_f32(const float *dy, const float *x, const float *mean,
                               const float *rstd, const float *weight, float *dx,
                               float *dweight, float *dbias, gk_index rows, gk_index cols);
int gk_layer_norm_backward_f64(const double *dy, const double *x, const double *mean,
                               const double *rstd, const double *weight, double *dx,
                               double *dweight, double *dbias, gk_index rows, gk_index cols);
int gk_rms_norm_backward_f32(const float *dy, const float *x, const float *rstd,
                             const float *weight, float *dx, float *dweight,
                             gk_index rows, gk_index cols);
int gk_rms_norm_backward_f64(const double *dy, const double *x, const double *rstd,
                             const double *weight, double *dx, double *dweight,
                             gk_index rows, gk_index cols);

/* The same four in 16-bit storage (mixed precision): x, y, dy, dx hold float16
 * (_f16, IEEE binary16) or bfloat16 (_bf16) bit patterns; weight, bias, mean, rstd,
 * dweight, dbias are float32.  The arithmetic is the float32 kernels' on the exactly
 * widened inputs, and each output is rounded once, to nearest even (gk_convert's
 * rounding): y and dx are those of the float32 kernel on x.astype(float32), rounded. */
int gk_layer_norm_f16(const uint16_t *x, const float *weight, const float *bias, uint16_t *y,
                      float *mean, float *rstd, gk_index rows, gk_index cols, double eps);
int gk_layer_norm_bf16(const uint16_t *x, const float *weight, const float *bias,
                       uint16_t *y, float *mean, float *rstd, gk_index rows, gk_index cols,
                       double eps);
int gk_rms_norm_f16(const uint16_t *x, const float *weight, uint16_t *y, float *rstd,
                    gk_index rows, gk_index cols, double eps);
int gk_rms_norm_bf16(const uint16_t *x, const float *weight, uint16_t *y, float *rstd,
                     gk_index rows, gk_index cols, double eps);
int gk_layer_norm_backward_f16(const uint16_t *dy, const uint16_t *x, const float *mean,
                               const float *rstd, const float *weight, uint16_t *dx,
                               float *dweight, float *dbias, gk_index rows, gk_index cols);
int gk_layer_norm_backward_bf16(const uint16_t *dy, const uint16_t *x, const float *mean,
                                const float *rstd, const float *weight, uint16_t *dx,
                                float *dweight, float *dbias, gk_index rows, gk_index cols);
int gk_rms_norm_backward_f16(const uint16_t *dy, const uint16_t *x, const float *rstd,
                             const float *weight, uint16_t *dx, float *dweight,
                             gk_index rows, gk_index cols);
int gk_rms_norm_backward_bf16(const uint16_t *dy, const uint16_t *x, const float *rstd,
                              const float *weight, uint16_t *dx, float *dweight,
                              gk_index rows, gk_index cols);

/* ---- fused residual add + dropout + normalization -------------------------------------
 * As in a pre-norm transformer block, over rows of `cols` elements:
 *     residual_out = residual + dropout(x),   y = norm(residual_out)
 * with dropout as gk_dropout_* (element i of the whole array keeps word counter + i of
 * the Philox stream of `seed`, mask_bits as there, NULL: not stored; advance your
 * counter by rows * cols) and the norm as gk_layer_norm_* / gk_rms_norm_* (mean/rstd
 * may be NULL).  p == 0 is no dropout (residual_out = residual + x, mask_bits not
 * written).  One pass over memory; the values are bitwise those of the unfused calls.
 * residual_out may be residual; no other output may overlap an input. */
int gk_add_dropout_layer_norm_f32(const float *x, const float *residual, const float *weight,
                                  const float *bias, float *y, float *residual_out,
                                  float *mean, float *rstd, unsigned char *mask_bits,
                                  gk_index rows, gk_index cols, double eps, double p,
                                  unsigned long long seed, unsigned long long counter);
int gk_add_dropout_layer_norm_f64(const double *x, const double *residual,
                                  const double *weight, const double *bias, double *y,
                                  double *residual_out, double *mean, double *rstd,
                                  unsigned char *mask_bits, gk_index rows, gk_index cols,
                                  double eps, double p, unsigned long long seed,
                                  unsigned long long counter);
int gk_add_dropout_rms_norm_f32(const float *x, const float *residual, const float *weight,
                                float *y, float *residual_out, float *rstd,
                                unsigned char *mask_bits, gk_index rows, gk_index cols,
                                double eps, double p, unsigned long long seed,
                                unsigned long long counter);
int gk_add_dropout_rms_norm_f64(const double *x, const double *residual,
                                const double *weight, double *y, double *residual_out,
                                double *rstd, unsigned char *mask_bits, gk_index rows,
                                gk_index cols, double eps, double p,
                                unsigned long long seed, unsigned long long counter);

/* Their backward, in one pass: with ds = norm_backward(dy, residual_out) +
 * dresidual_out (the gradient reaching residual_out from the next block; NULL: none),
 *     dresidual = ds,   dx = dropout_backward(ds),   dweight, dbias (may be NULL)
 * The mask comes from mask_bits, or, when mask_bits is NULL, is regenerated from
 * (seed, counter) as the forward drew it; p == 0: no dropout (dx = ds).  mean/rstd as
 * the forward returned them.  Outputs must not overlap inputs. */
int gk_add_dropout_layer_norm_backward_f32(const float *dy, const float *dresidual_out,
                                           const float *residual_out, const float *mean,
                                           const float *rstd, const float *weight,
                                           const unsigned char *mask_bits, float *dx,
                                           float *dresidual, float *dweight, float *dbias,
                                           gk_index rows, gk_index cols, double p,
                                           unsigned long long seed,
                                           unsigned long long counter);
int gk_add_dropout_layer_norm_backward_f64(const double *dy, const double *dresidual_out,
                                           const double *residual_out, const double *mean,
                                           const double *rstd, const double *weight,
                                           const unsigned char *mask_bits, double *dx,
                                           double *dresidual, double *dweight,
                                           double *dbias, gk_index rows, gk_index cols,
                                           double p, unsigned long long seed,
                                           unsigned long long counter);
int gk_add_dropout_rms_norm_backward_f32(const float *dy, const float *dresidual_out,
                                         const float *residual_out, const float *rstd,
                                         const float *weight, const unsigned char *mask_bits,
                                         float *dx, float *dresidual, float *dweight,
                                         gk_index rows, gk_index cols, double p,
                                         unsigned long long seed, unsigned long long counter);
int gk_add_dropout_rms_norm_backward_f64(const double *dy, const double *dresidual_out,
                                         const double *residual_out, const double *rstd,
                                         const double *weight,
                                         const unsigned char *mask_bits, double *dx,
                                         double *dresidual, double *dweight, gk_index rows,
                                         gk_index cols, double p, unsigned long long seed,
                                         unsigned long long counter);

/* The same four in 16-bit storage: x, residual, y, residual_out, dy, dresidual_out, dx,
 * dresidual hold float16 (_f16) or bfloat16 (_bf16) bit patterns; weight, bias, mean,
 * rstd, dweight, dbias are float32 (as gk_layer_norm_f16).  Float32 arithmetic:
 * residual_out = residual + dropout(x) computed in float32 and rounded once (unfused,
 * dropout's output would be rounded first), y the 16-bit norm of that residual_out;
 * the backward is bitwise gk_layer_norm_backward_f16 (or rms), then + dresidual_out in
 * float32 rounded once, then the 16-bit dropout backward of that. */
int gk_add_dropout_layer_norm_f16(const uint16_t *x, const uint16_t *residual,
                                  const float *weight, const float *bias, uint16_t *y,
                                  uint16_t *residual_out, float *mean, float *rstd,
                                  unsigned char *mask_bits, gk_index rows, gk_index cols,
                                  double eps, double p, unsigned long long seed,
                                  unsigned long long counter);
int gk_add_dropout_layer_norm_bf16(const uint16_t *x, const uint16_t *residual,
                                   const float *weight, const float *bias, uint16_t *y,
                                   uint16_t *residual_out, float *mean, float *rstd,
                                   unsigned char *mask_bits, gk_index rows, gk_index cols,
                                   double eps, double p, unsigned long long seed,
                                   unsigned long long counter);
int gk_add_dropout_rms_norm_f16(const uint16_t *x, const uint16_t *residual,
                                const float *weight, uint16_t *y, uint16_t *residual_out,
                                float *rstd, unsigned char *mask_bits, gk_index rows,
                                gk_index cols, double eps, double p,
                                unsigned long long seed, unsigned long long counter);
int gk_add_dropout_rms_norm_bf16(const uint16_t *x, const uint16_t *residual,
                                 const float *weight, uint16_t *y, uint16_t *residual_out,
                                 float *rstd, unsigned char *mask_bits, gk_index rows,
                                 gk_index cols, double eps, double p,
                                 unsigned long long seed, unsigned long long counter);
int gk_add_dropout_layer_norm_backward_f16(const uint16_t *dy, const uint16_t *dresidual_out,
                                           const uint16_t *residual_out, const float *mean,
                                           const float *rstd, const float *weight,
                                           const unsigned char *mask_bits, uint16_t *dx,
                                           uint16_t *dresidual, float *dweight,
                                           float *dbias, gk_index rows, gk_index cols,
                                           double p, unsigned long long seed,
                                           unsigned long long counter);
int gk_add_dropout_layer_norm_backward_bf16(const uint16_t *dy,
                                            const uint16_t *dresidual_out,
                                            const uint16_t *residual_out, const float *mean,
                                            const float *rstd, const float *weight,
                                            const unsigned char *mask_bits, uint16_t *dx,
                                            uint16_t *dresidual, float *dweight,
                                            float *dbias, gk_index rows, gk_index cols,
                                            double p, unsigned long long seed,
                                            unsigned long long counter);
int gk_add_dropout_rms_norm_backward_f16(const uint16_t *dy, const uint16_t *dresidual_out,
                                         const uint16_t *residual_out, const float *rstd,
                                         const float *weight,
                                         const unsigned char *mask_bits, uint16_t *dx,
                                         uint16_t *dresidual, float *dweight, gk_index rows,
                                         gk_index cols, double p, unsigned long long seed,
                                         unsigned long long counter);
int gk_add_dropout_rms_norm_backward_bf16(const uint16_t *dy, const uint16_t *dresidual_out,
                                          const uint16_t *residual_out, const float *rstd,
                                          const float *weight,
                                          const unsigned char *mask_bits, uint16_t *dx,
                                          uint16_t *dresidual, float *dweight,
                                          gk_index rows, gk_index cols, double p,
                                          unsigned long long seed,
                                          unsigned long long counter);

/* BatchNorm over x of shape (batch, channels, inner), inner = prod(spatial) (1 for an
 * (N, C) input); statistics per channel over batch * inner values.
 * training != 0: y = (x - mean) * rstd * weight + bias with the batch mean and biased
 * variance, rstd = 1 / sqrt(var + eps); if running_mean/running_var (length channels)
 * are given (both or neither) they are updated in place,
 * running <- (1 - momentum) * running + momentum * batch, running_var with the unbiased
 * variance; momentum in [0, 1].  An empty batch leaves them alone; a batch of one value
 * per channel is rejected (GK_EVALUE).
 * training == 0: normalizes with running_mean/running_var (both required); mean/rstd
 * receive running_mean and 1 / sqrt(running_var + eps).
 * weight/bias/mean/rstd (length channels) may be NULL. */
int gk_batch_norm_f32(const float *x, const float *weight, const float *bias, float *y,
                      float *mean, float *rstd, float *running_mean, float *running_var,
                      gk_index batch, gk_index channels, gk_index inner, int training,
                      double momentum, double eps);
int gk_batch_norm_f64(const double *x, const double *weight, const double *bias, double *y,
                      double *mean, double *rstd, double *running_mean, double *running_var,
                      gk_index batch, gk_index channels, gk_index inner, int training,
                      double momentum, double eps);

/* Training-mode backward of BatchNorm through the batch statistics (mean, rstd as the
 * forward returned them): dx = weight * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)),
 * dweight = sum(dy * xhat), dbias = sum(dy) per channel.  weight, dweight and dbias may
 * be NULL. */
int gk_batch_norm_backward_f32(const float *dy, const float *x, const float *mean,
                               const float *rstd, const float *weight, float *dx,
                               float *dweight, float *dbias, gk_index batch,
                               gk_index channels, gk_index inner);
int gk_batch_norm_backward_f64(const double *dy, const double *x, const double *mean,
                               const double *rstd, const double *weight, double *dx,
                               double *dweight, double *dbias, gk_index batch,
                               gk_index channels, gk_index inner);

/* The same two in 16-bit storage: x, y, dy, dx hold float16 (_f16) or bfloat16 (_bf16)
 * bit patterns; weight, bias, mean, rstd, running_mean, running_var, dweight, dbias are
 * float32.  The float32 kernels' arithmetic on the exactly widened data, each output
 * rounded once: y and dx are those of gk_batch_norm_f32 & co. on x widened, rounded. */
int gk_batch_norm_f16(const uint16_t *x, const float *weight, const float *bias,
                      uint16_t *y, float *mean, float *rstd, float *running_mean,
                      float *running_var, gk_index batch, gk_index channels,
                      gk_index inner, int training, double momentum, double eps);
int gk_batch_norm_bf16(const uint16_t *x, const float *weight, const float *bias,
                       uint16_t *y, float *mean, float *rstd, float *running_mean,
                       float *running_var, gk_index batch, gk_index channels,
                       gk_index inner, int training, double momentum, double eps);
int gk_batch_norm_backward_f16(const uint16_t *dy, const uint16_t *x, const float *mean,
                               const float *rstd, const float *weight, uint16_t *dx,
                               float *dweight, float *dbias, gk_index batch,
                               gk_index channels, gk_index inner);
int gk_batch_norm_backward_bf16(const uint16_t *dy, const uint16_t *x, const float *mean,
                                const float *rstd, const float *weight, uint16_t *dx,
                                float *dweight, float *dbias, gk_index batch,
                                gk_index channels, gk_index inner);

/* ---- BatchNorm in steps: a synchronized BatchNorm ---------------------------------------
 * The training-mode gk_batch_norm and gk_batch_norm_backward cut into the steps of
 * PyTorch's SyncBatchNorm, so that a batch split across processes (ranks) is normalized
 * with the statistics of the whole batch: each rank computes its per-channel statistics
 * (gk_batch_norm_stats), the ranks exchange them (e.g. an MPI Allgather) and each merges
 * all of them (gk_batch_norm_gather_stats) and normalizes its part (gk_batch_norm_elemt);
 * backward, each rank reduces its part (gk_batch_norm_backward_reduce), the sums are
 * added across ranks (an Allreduce) and each computes its dx
 * (gk_batch_norm_backward_elemt).  On one part the steps give gk_batch_norm's and
 * gk_batch_norm_backward's results bit for bit.  x is (batch, channels, inner) as in
 * gk_batch_norm; statistics and sums are double whatever the data type.
 *
 * Statistics of this part, per channel over its count = batch * inner values: the mean
 * and M2 = sum (x - mean)^2 (0 and 0 for an empty part). */
int gk_batch_norm_stats_f32(const float *x, double *mean, double *m2, gk_index batch,
                            gk_index channels, gk_index inner);
int gk_batch_norm_stats_f64(const double *x, double *mean, double *m2, gk_index batch,
                            gk_index channels, gk_index inner);
/* (each step also in 16-bit storage, _f16 and _bf16: x, y, dy, dx float16 or bfloat16
 * bit patterns, weight, the saved mean and rstd, dweight and dbias float32, the
 * statistics and sums double; the float32 kernels' arithmetic on the widened data, each
 * output rounded once, so on one part they give gk_batch_norm_f16 & co.'s bits.  The
 * gather has no data array: its float32 form goes with 16-bit data.) */
int gk_batch_norm_stats_f16(const uint16_t *x, double *mean, double *m2, gk_index batch,
                            gk_index channels, gk_index inner);
int gk_batch_norm_stats_bf16(const uint16_t *x, double *mean, double *m2, gk_index batch,
                             gk_index channels, gk_index inner);

/* Chan's merge of `parts` per-channel statistics (counts[p] >= 0 values with mean
 * means[p * channels + c] and M2 m2s[p * channels + c]) into count, mean and m2, in part
 * order (another order changes the result by round-off only); parts with count 0 are
 * skipped, so a single part comes through exactly. */
int gk_batch_norm_merge_stats(const int64_t *counts, const double *means, const double *m2s,
                              gk_index parts, gk_index channels, int64_t *count,
                              double *mean, double *m2);

/* The merge, then the mean and invstd = 1 / sqrt(M2 / count + eps) of the whole batch
 * (length channels), with running_mean/running_var (both or neither, may be NULL)
 * updated as gk_batch_norm does: the unbiased variance M2 / (count - 1), momentum in
 * [0, 1].  A whole batch of one value per channel is refused (GK_EVALUE); an empty one
 * gives mean 0, invstd 1 / sqrt(eps) and leaves the running statistics alone. */
int gk_batch_norm_gather_stats_f32(const int64_t *counts, const double *means,
                                   const double *m2s, gk_index parts, gk_index channels,
                                   float *running_mean, float *running_var, double momentum,
                                   double eps, double *mean, double *invstd);
int gk_batch_norm_gather_stats_f64(const int64_t *counts, const double *means,
                                   const double *m2s, gk_index parts, gk_index channels,
                                   double *running_mean, double *running_var,
                                   double momentum, double eps, double *mean,
                                   double *invstd);

/* y = (x - mean) * invstd * weight + bias per channel (weight/bias may be NULL). */
int gk_batch_norm_elemt_f32(const float *x, const float *weight, const float *bias,
                            const double *mean, const double *invstd, float *y,
                            gk_index batch, gk_index channels, gk_index inner);
int gk_batch_norm_elemt_f64(const double *x, const double *weight, const double *bias,
                            const double *mean, const double *invstd, double *y,
                            gk_index batch, gk_index channels, gk_index inner);
int gk_batch_norm_elemt_f16(const uint16_t *x, const float *weight, const float *bias,
                            const double *mean, const double *invstd, uint16_t *y,
                            gk_index batch, gk_index channels, gk_index inner);
int gk_batch_norm_elemt_bf16(const uint16_t *x, const float *weight, const float *bias,
                             const double *mean, const double *invstd, uint16_t *y,
                             gk_index batch, gk_index channels, gk_index inner);

/* Sums of this part per channel: sum_dy = sum dy, sum_dy_xmu = sum dy * (x - mean), with
 * mean and rstd as the forward saved them (in the data type); dweight = rstd *
 * sum_dy_xmu and dbias = sum_dy (this part's parameter gradients; may be NULL). */
int gk_batch_norm_backward_reduce_f32(const float *dy, const float *x, const float *mean,
                                      const float *rstd, float *dweight, float *dbias,
                                      double *sum_dy, double *sum_dy_xmu, gk_index batch,
                                      gk_index channels, gk_index inner);
int gk_batch_norm_backward_reduce_f64(const double *dy, const double *x, const double *mean,
                                      const double *rstd, double *dweight, double *dbias,
                                      double *sum_dy, double *sum_dy_xmu, gk_index batch,
                                      gk_index channels, gk_index inner);
int gk_batch_norm_backward_reduce_f16(const uint16_t *dy, const uint16_t *x,
                                      const float *mean, const float *rstd, float *dweight,
                                      float *dbias, double *sum_dy, double *sum_dy_xmu,
                                      gk_index batch, gk_index channels, gk_index inner);
int gk_batch_norm_backward_reduce_bf16(const uint16_t *dy, const uint16_t *x,
                                       const float *mean, const float *rstd, float *dweight,
                                       float *dbias, double *sum_dy, double *sum_dy_xmu,
                                       gk_index batch, gk_index channels, gk_index inner);

/* dx = weight * rstd * (dy - sum_dy / count - (x - mean) * rstd^2 * sum_dy_xmu / count)
 * with the sums and the count (>= batch * inner) of the whole batch; weight may be
 * NULL. */
int gk_batch_norm_backward_elemt_f32(const float *dy, const float *x, const float *mean,
                                     const float *rstd, const float *weight,
                                     const double *sum_dy, const double *sum_dy_xmu,
                                     gk_index count, float *dx, gk_index batch,
                                     gk_index channels, gk_index inner);
int gk_batch_norm_backward_elemt_f64(const double *dy, const double *x, const double *mean,
                                     const double *rstd, const double *weight,
                                     const double *sum_dy, const double *sum_dy_xmu,
                                     gk_index count, double *dx, gk_index batch,
                                     gk_index channels, gk_index inner);
int gk_batch_norm_backward_elemt_f16(const uint16_t *dy, const uint16_t *x,
                                     const float *mean, const float *rstd,
                                     const float *weight, const double *sum_dy,
                                     const double *sum_dy_xmu, gk_index count, uint16_t *dx,
                                     gk_index batch, gk_index channels, gk_index inner);
int gk_batch_norm_backward_elemt_bf16(const uint16_t *dy, const uint16_t *x,
                                      const float *mean, const float *rstd,
                                      const float *weight, const double *sum_dy,
                                      const double *sum_dy_xmu, gk_index count,
                                      uint16_t *dx, gk_index batch, gk_index channels,
                                      gk_index inner);

#ifdef __cplusplus
}
#endif
#endif
