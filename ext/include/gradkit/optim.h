/* gradkit optimizer updates (see gradkit.h for the conventions).
 *
 * The formulas and their order of operations are torch.optim's single-tensor ones (LARS:
 * optax.lars); docs/optim.md states them.  Element arithmetic is done in the array's
 * dtype, as torch does; per-array scalars (bias corrections, step sizes) in double.
 *
 * The *_multi functions update `count` arrays in one pass over memory and one parallel
 * region: the total element count is split evenly across the threads, whatever the
 * array boundaries.  Array i has size[i] elements; its state arrays have the same size.
 * Arrays must not overlap each other.  `step` (where taken) is the step number of each
 * array after its increment: 1 on the first step. */
#ifndef GRADKIT_OPTIM_H
#define GRADKIT_OPTIM_H
#include <stdint.h>
#include "gradkit/common.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---- single array (the C-level API of gradkit.capi) -------------------------------- */
/* One Adam (decoupled = 0) or AdamW (decoupled = 1) step in place on n elements,
 * torch.optim's formulas; step is the step number after its increment (1 on the first
 * step); lr, eps, weight_decay >= 0 and beta1, beta2 in [0, 1), else GK_EVALUE.  The four
 * arrays must be distinct (GK_EALIAS). */
int gk_adam_f32(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                gk_index n, long step, double lr, double beta1, double beta2, double eps,
                double weight_decay, int decoupled);
int gk_adam_f64(double *param, const double *grad, double *exp_avg, double *exp_avg_sq,
                gk_index n, long step, double lr, double beta1, double beta2, double eps,
                double weight_decay, int decoupled);

/* ---- multi-tensor ------------------------------------------------------------------
 * The hyper-parameters are used as given, unchecked, as torch.optim's step uses them
 * (the caller checks them where a user sets them; an lr a scheduler drove a rounding
 * error below 0 is stepped with); any value is memory-safe.
 * Every options struct ends with `scale` and `coef`: when scale != 0, every gradient
 * element is multiplied by coef (rounded to the array's dtype) before anything else,
 * exactly as if gk_grad_scale_(grads, coef) had run first, but the gradients are only
 * read (clipping by global norm fused into the step: gk_grad_norm gives the norm, coef
 * = min(1, max_norm / (norm + 1e-6)); any coef is taken, NaN and 0 included).  A
 * struct initialized with scale = 0 (or zeroed) leaves the gradients as they are. */
typedef struct {
    double lr, momentum, dampening, weight_decay;
    int nesterov, maximize;
    int scale;
    double coef;
} gk_sgd_options;

typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    int amsgrad, decoupled, maximize;
    int scale;
    double coef;
} gk_adam_options;

typedef struct {
    double lr, alpha, eps, weight_decay, momentum;
    int centered, maximize;
    int scale;
    double coef;
} gk_rmsprop_options;

typedef struct {
    double lr, lr_decay, weight_decay, eps;
    int maximize;
    int scale;
    double coef;
} gk_adagrad_options;

typedef struct {
    double lr, momentum, weight_decay, trust_coefficient, eps;
    int nesterov;
    int scale;
    double coef;
} gk_lars_options;

/* NAdam (torch.optim.NAdam; decoupled = 1: decoupled_weight_decay). */
typedef struct {
    double lr, beta1, beta2, eps, weight_decay, momentum_decay;
    int decoupled, maximize;
    int scale;
    double coef;
} gk_nadam_options;

/* RAdam (torch.optim.RAdam; decoupled = 1: decoupled_weight_decay). */
typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    int decoupled, maximize;
    int scale;
    double coef;
} gk_radam_options;

typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    int maximize;
    int scale;
    double coef;
} gk_adamax_options;

typedef struct {
    double lr, rho, eps, weight_decay;
    int maximize;
    int scale;
    double coef;
} gk_adadelta_options;

/* Lion (optax.lion: scale_by_lion, add_decayed_weights, scale_by_learning_rate). */
typedef struct {
    double lr, beta1, beta2, weight_decay;
    int maximize;
    int scale;
    double coef;
} gk_lion_options;

/* LAMB (optax.lamb: scale_by_adam, add_decayed_weights, scale_by_trust_ratio,
 * scale_by_learning_rate). */
typedef struct {
    double lr, beta1, beta2, eps, eps_root, weight_decay;
    int maximize;
    int scale;
    double coef;
} gk_lamb_options;

/* Adafactor (torch.optim.Adafactor).  eps1 is used as given (the caller resolves
 * torch's None to finfo(dtype).eps). */
typedef struct {
    double lr, beta2_decay, eps1, eps2, d, weight_decay;
    int maximize;
    int scale;
    double coef;
} gk_adafactor_options;

/* SGD.  momentum_buffer may be NULL when momentum == 0; fresh[i] != 0 marks a buffer
 * that holds nothing yet (torch's None): it is set to the gradient, undampened. */
int gk_sgd_multi_f32(gk_index count, float *const *param, const float *const *grad,
                     float *const *momentum_buffer, const unsigned char *fresh,
                     const gk_index *size, const gk_sgd_options *opt);
int gk_sgd_multi_f64(gk_index count, double *const *param, const double *const *grad,
                     double *const *momentum_buffer, const unsigned char *fresh,
                     const gk_index *size, const gk_sgd_options *opt);

/* Adam / AdamW / AMSGrad.  max_exp_avg_sq may be NULL unless amsgrad. */
int gk_adam_multi_f32(gk_index count, float *const *param, const float *const *grad,
                      float *const *exp_avg, float *const *exp_avg_sq,
                      float *const *max_exp_avg_sq, const gk_index *size,
                      const int64_t *step, const gk_adam_options *opt);
int gk_adam_multi_f64(gk_index count, double *const *param, const double *const *grad,
                      double *const *exp_avg, double *const *exp_avg_sq,
                      double *const *max_exp_avg_sq, const gk_index *size,
                      const int64_t *step, const gk_adam_options *opt);

/* RMSprop.  grad_avg may be NULL unless centered, momentum_buffer unless momentum > 0. */
int gk_rmsprop_multi_f32(gk_index count, float *const *param, const float *const *grad,
                         float *const *square_avg, float *const *grad_avg,
                         float *const *momentum_buffer, const gk_index *size,
                         const gk_rmsprop_options *opt);
int gk_rmsprop_multi_f64(gk_index count, double *const *param, const double *const *grad,
                         double *const *square_avg, double *const *grad_avg,
                         double *const *momentum_buffer, const gk_index *size,
                         const gk_rmsprop_options *opt);

/* Adagrad. */
int gk_adagrad_multi_f32(gk_index count, float *const *param, const float *const *grad,
                         float *const *state_sum, const gk_index *size, const int64_t *step,
                         const gk_adagrad_options *opt);
int gk_adagrad_multi_f64(gk_index count, double *const *param, const double *const *grad,
                         double *const *state_sum, const gk_index *size, const int64_t *step,
                         const gk_adagrad_options *opt);

/* LARS (optax.lars).  Norms are double sums over fixed chunks, the same for any thread
 * count.  trust_ratio (may be NULL) receives each array's trust ratio. */
int gk_lars_multi_f32(gk_index count, float *const *param, const float *const *grad,
                      float *const *trace, const gk_index *size, const gk_lars_options *opt,
                      double *trust_ratio);
int gk_lars_multi_f64(gk_index count, double *const *param, const double *const *grad,
                      double *const *trace, const gk_index *size, const gk_lars_options *opt,
                      double *trust_ratio);

/* NAdam.  mu_product holds each array's product of momentum coefficients (torch's
 * state['mu_product'], a float32 scalar as torch's default scalar dtype keeps it; 1 before
 * the first step), updated in float32 arithmetic as torch does and written back only
 * after the arrays were updated. */
int gk_nadam_multi_f32(gk_index count, float *const *param, const float *const *grad,
                       float *const *exp_avg, float *const *exp_avg_sq, float *mu_product,
                       const gk_index *size, const int64_t *step,
                       const gk_nadam_options *opt);
int gk_nadam_multi_f64(gk_index count, double *const *param, const double *const *grad,
                       double *const *exp_avg, double *const *exp_avg_sq, float *mu_product,
                       const gk_index *size, const int64_t *step,
                       const gk_nadam_options *opt);

/* RAdam. */
int gk_radam_multi_f32(gk_index count, float *const *param, const float *const *grad,
                       float *const *exp_avg, float *const *exp_avg_sq,
                       const gk_index *size, const int64_t *step,
                       const gk_radam_options *opt);
int gk_radam_multi_f64(gk_index count, double *const *param, const double *const *grad,
                       double *const *exp_avg, double *const *exp_avg_sq,
                       const gk_index *size, const int64_t *step,
                       const gk_radam_options *opt);

/* Adamax. */
int gk_adamax_multi_f32(gk_index count, float *const *param, const float *const *grad,
                        float *const *exp_avg, float *const *exp_inf, const gk_index *size,
                        const int64_t *step, const gk_adamax_options *opt);
int gk_adamax_multi_f64(gk_index count, double *const *param, const double *const *grad,
                        double *const *exp_avg, double *const *exp_inf, const gk_index *size,
                        const int64_t *step, const gk_adamax_options *opt);

/* Adadelta (rho in [0, 1]). */
int gk_adadelta_multi_f32(gk_index count, float *const *param, const float *const *grad,
                          float *const *square_avg, float *const *acc_delta,
                          const gk_index *size, const gk_adadelta_options *opt);
int gk_adadelta_multi_f64(gk_index count, double *const *param, const double *const *grad,
                          double *const *square_avg, double *const *acc_delta,
                          const gk_index *size, const gk_adadelta_options *opt);

/* Lion (optax.lion; beta1, beta2 in [0, 1]). */
int gk_lion_multi_f32(gk_index count, float *const *param, const float *const *grad,
                      float *const *exp_avg, const gk_index *size,
                      const gk_lion_options *opt);
int gk_lion_multi_f64(gk_index count, double *const *param, const double *const *grad,
                      double *const *exp_avg, const gk_index *size,
                      const gk_lion_options *opt);

/* LAMB (optax.lamb).  Norms are double sums over fixed chunks, the same for any thread
 * count.  trust_ratio (may be NULL) receives each array's trust ratio. */
int gk_lamb_multi_f32(gk_index count, float *const *param, const float *const *grad,
                      float *const *exp_avg, float *const *exp_avg_sq, const gk_index *size,
                      const int64_t *step, const gk_lamb_options *opt, double *trust_ratio);
int gk_lamb_multi_f64(gk_index count, double *const *param, const double *const *grad,
                      double *const *exp_avg, double *const *exp_avg_sq,
                      const gk_index *size, const int64_t *step, const gk_lamb_options *opt,
                      double *trust_ratio);
/* The same step with `work`: NULL (as above), or scratch of sum(size) elements (its
 * contents ignored and overwritten; no other argument may overlap it).  Each element's
 * u is then computed once, kept in work between the norms and the update (40 bytes
 * moved per float32 element instead of 44, half the divisions): the same results. */
int gk_lamb_multi_work_f32(gk_index count, float *const *param, const float *const *grad,
                           float *const *exp_avg, float *const *exp_avg_sq,
                           const gk_index *size, const int64_t *step,
                           const gk_lamb_options *opt, double *trust_ratio, float *work);
int gk_lamb_multi_work_f64(gk_index count, double *const *param, const double *const *grad,
                           double *const *exp_avg, double *const *exp_avg_sq,
                           const gk_index *size, const int64_t *step,
                           const gk_lamb_options *opt, double *trust_ratio, double *work);

/* Adafactor.  Array i is factored when rows[i] > 0: its size[i] elements are
 * (size[i] / (rows[i] * cols[i])) matrices of rows[i] x cols[i] (a parameter's last two
 * dimensions); row_var[i] then holds one value per row of each matrix (torch's shape
 * (..., rows, 1)), col_var[i] one per column ((..., 1, cols)), and variance[i] is unused
 * (may be NULL).  rows[i] == 0: a vector (0-d or 1-d parameter), variance[i] has size[i]
 * elements and row_var[i], col_var[i] are unused.  Row, column and RMS sums are double
 * sums over fixed tiles and chunks, the same for any thread count.  An array with no
 * elements is left as it is, its states too (torch divides by its size). */
int gk_adafactor_multi_f32(gk_index count, float *const *param, const float *const *grad,
                           float *const *row_var, float *const *col_var,
                           float *const *variance, const gk_index *size,
                           const gk_index *rows, const gk_index *cols, const int64_t *step,
                           const gk_adafactor_options *opt);
int gk_adafactor_multi_f64(gk_index count, double *const *param, const double *const *grad,
                           double *const *row_var, double *const *col_var,
                           double *const *variance, const gk_index *size,
                           const gk_index *rows, const gk_index *cols, const int64_t *step,
                           const gk_adafactor_options *opt);
/* The same step with `work`: NULL (as above), or scratch of sum(size) elements (its
 * contents ignored and overwritten; no other argument may overlap it).  The matrices'
 * update U is then computed once, kept in work between the RMS of U and the update
 * (28 bytes moved per float32 element instead of 24, half the divisions and roots):
 * the same results. */
int gk_adafactor_multi_work_f32(gk_index count, float *const *param,
                                const float *const *grad, float *const *row_var,
                                float *const *col_var, float *const *variance,
                                const gk_index *size, const gk_index *rows,
                                const gk_index *cols, const int64_t *step,
                                const gk_adafactor_options *opt, float *work);
int gk_adafactor_multi_work_f64(gk_index count, double *const *param,
                                const double *const *grad, double *const *row_var,
                                double *const *col_var, double *const *variance,
                                const gk_index *size, const gk_index *rows,
                                const gk_index *cols, const int64_t *step,
                                const gk_adafactor_options *opt, double *work);

/* ---- mixed precision -----------------------------------------------------------------
 * The *_multi_mp functions run the float32 steps above on arrays stored in float32,
 * float16 or bfloat16, as `storage` says per list: param, grad, state (every state list
 * of the step; GK_DTYPE_F32, GK_DTYPE_F16 or GK_DTYPE_BF16; a list's arrays all alike).
 * Each value is widened exactly, the step's arithmetic is the float32 step's, and each
 * value written is rounded once to its array's storage (to nearest even, NaN kept).
 * Master weights: param float32 (the master copy) and `model` given: model[i] (size[i]
 * elements of model_dtype, GK_DTYPE_F16 or GK_DTYPE_BF16) receives param[i] rounded, in
 * the same pass.  found_inf (may be NULL): the gradients are read once first; if any
 * element is inf or NaN, *found_inf = 1 and nothing else is read or written, else
 * *found_inf = 0 and the step runs (a skipped step leaves everything as it was). */
typedef struct {
    int param, grad, state;
    int model_dtype;
    void *const *model;
    int *found_inf;
} gk_optim_storage;

int gk_sgd_multi_mp(gk_index count, void *const *param, const void *const *grad,
                    void *const *momentum_buffer, const unsigned char *fresh,
                    const gk_index *size, const gk_sgd_options *opt,
                    const gk_optim_storage *storage);
int gk_adam_multi_mp(gk_index count, void *const *param, const void *const *grad,
                     void *const *exp_avg, void *const *exp_avg_sq,
                     void *const *max_exp_avg_sq, const gk_index *size,
                     const int64_t *step, const gk_adam_options *opt,
                     const gk_optim_storage *storage);
int gk_rmsprop_multi_mp(gk_index count, void *const *param, const void *const *grad,
                        void *const *square_avg, void *const *grad_avg,
                        void *const *momentum_buffer, const gk_index *size,
                        const gk_rmsprop_options *opt, const gk_optim_storage *storage);
int gk_adagrad_multi_mp(gk_index count, void *const *param, const void *const *grad,
                        void *const *state_sum, const gk_index *size, const int64_t *step,
                        const gk_adagrad_options *opt, const gk_optim_storage *storage);
int gk_lars_multi_mp(gk_index count, void *const *param, const void *const *grad,
                     void *const *trace, const gk_index *size, const gk_lars_options *opt,
                     double *trust_ratio, const gk_optim_storage *storage);
int gk_nadam_multi_mp(gk_index count, void *const *param, const void *const *grad,
                      void *const *exp_avg, void *const *exp_avg_sq, float *mu_product,
                      const gk_index *size, const int64_t *step,
                      const gk_nadam_options *opt, const gk_optim_storage *storage);
int gk_radam_multi_mp(gk_index count, void *const *param, const void *const *grad,
                      void *const *exp_avg, void *const *exp_avg_sq, const gk_index *size,
                      const int64_t *step, const gk_radam_options *opt,
                      const gk_optim_storage *storage);
int gk_adamax_multi_mp(gk_index count, void *const *param, const void *const *grad,
                       void *const *exp_avg, void *const *exp_inf, const gk_index *size,
                       const int64_t *step, const gk_adamax_options *opt,
                       const gk_optim_storage *storage);
int gk_adadelta_multi_mp(gk_index count, void *const *param, const void *const *grad,
                         void *const *square_avg, void *const *acc_delta,
                         const gk_index *size, const gk_adadelta_options *opt,
                         const gk_optim_storage *storage);
int gk_lion_multi_mp(gk_index count, void *const *param, const void *const *grad,
                     void *const *exp_avg, const gk_index *size, const gk_lion_options *opt,
                     const gk_optim_storage *storage);
/* LAMB: the trust ratio's norms are those of the float32 step (double sums of the
 * widened parameter and of u, computed from the unrounded new moments) */
int gk_lamb_multi_mp(gk_index count, void *const *param, const void *const *grad,
                     void *const *exp_avg, void *const *exp_avg_sq, const gk_index *size,
                     const int64_t *step, const gk_lamb_options *opt, double *trust_ratio,
                     const gk_optim_storage *storage);
/* The same step with `work`: NULL (as above), or float32 scratch of sum(size) elements
 * (as gk_lamb_multi_work_f32's): u is computed once, the first pass storing the new
 * moments and u, the second reading u to move the parameter -- half the divisions and
 * square roots, which bound the 16-bit step.  The same results. */
int gk_lamb_multi_mp_work(gk_index count, void *const *param, const void *const *grad,
                          void *const *exp_avg, void *const *exp_avg_sq,
                          const gk_index *size, const int64_t *step,
                          const gk_lamb_options *opt, double *trust_ratio,
                          const gk_optim_storage *storage, float *work);
/* Adafactor: R and C (and V) are the float32 step's, rounded once when stored; the RMS
 * of the parameter is that of the widened parameter (the master with master weights) */
int gk_adafactor_multi_mp(gk_index count, void *const *param, const void *const *grad,
                          void *const *row_var, void *const *col_var, void *const *variance,
                          const gk_index *size, const gk_index *rows, const gk_index *cols,
                          const int64_t *step, const gk_adafactor_options *opt,
                          const gk_optim_storage *storage);
/* The same step with `work`: NULL (as above), or float32 scratch of sum(size) elements
 * (as gk_adafactor_multi_work_f32's): the matrices' U computed once.  The same results. */
int gk_adafactor_multi_mp_work(gk_index count, void *const *param, const void *const *grad,
                               void *const *row_var, void *const *col_var,
                               void *const *variance, const gk_index *size,
                               const gk_index *rows, const gk_index *cols,
                               const int64_t *step, const gk_adafactor_options *opt,
                               const gk_optim_storage *storage, float *work);

#ifdef __cplusplus
}
#endif
#endif
