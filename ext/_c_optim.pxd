# Declarations of include/gradkit/optim.h for the Cython wrappers.
from libc.stdint cimport int64_t
from _cgradkit cimport gk_index

cdef extern from "gradkit/optim.h" nogil:
    ctypedef struct gk_sgd_options:
        double lr, momentum, dampening, weight_decay
        int nesterov, maximize
    ctypedef struct gk_adam_options:
        double lr, beta1, beta2, eps, weight_decay
        int amsgrad, decoupled, maximize
    ctypedef struct gk_rmsprop_options:
        double lr, alpha, eps, weight_decay, momentum
        int centered, maximize
    ctypedef struct gk_adagrad_options:
        double lr, lr_decay, weight_decay, eps
        int maximize
    ctypedef struct gk_lars_options:
        double lr, momentum, weight_decay, trust_coefficient, eps
        int nesterov

    int gk_adam_f32(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                    gk_index n, long step, double lr, double beta1, double beta2, double eps,
                    double weight_decay, int decoupled)
    int gk_adam_f64(double *param, const double *grad, double *exp_avg, double *exp_avg_sq,
                    gk_index n, long step, double lr, double beta1, double beta2, double eps,
                    double weight_decay, int decoupled)

    int gk_sgd_multi_f32(gk_index count, float **param, const float **grad,
                         float **momentum_buffer, const unsigned char *fresh,
                         const gk_index *size, const gk_sgd_options *opt)
    int gk_sgd_multi_f64(gk_index count, double **param, const double **grad,
                         double **momentum_buffer, const unsigned char *fresh,
                         const gk_index *size, const gk_sgd_options *opt)
    int gk_adam_multi_f32(gk_index count, float **param, const float **grad,
                          float **exp_avg, float **exp_avg_sq, float **max_exp_avg_sq,
                          const gk_index *size, const int64_t *step,
                          const gk_adam_options *opt)
    int gk_adam_multi_f64(gk_index count, double **param, const double **grad,
                          double **exp_avg, double **exp_avg_sq, double **max_exp_avg_sq,
                          const gk_index *size, const int64_t *step,
                          const gk_adam_options *opt)
    int gk_rmsprop_multi_f32(gk_index count, float **param, const float **grad,
                             float **square_avg, float **grad_avg, float **momentum_buffer,
                             const gk_index *size, const gk_rmsprop_options *opt)
    int gk_rmsprop_multi_f64(gk_index count, double **param, const double **grad,
                             double **square_avg, double **grad_avg,
                             double **momentum_buffer, const gk_index *size,
                             const gk_rmsprop_options *opt)
    int gk_adagrad_multi_f32(gk_index count, float **param, const float **grad,
                             float **state_sum, const gk_index *size, const int64_t *step,
                             const gk_adagrad_options *opt)
    int gk_adagrad_multi_f64(gk_index count, double **param, const double **grad,
                             double **state_sum, const gk_index *size, const int64_t *step,
                             const gk_adagrad_options *opt)
    int gk_lars_multi_f32(gk_index count, float **param, const float **grad, float **trace,
                          const gk_index *size, const gk_lars_options *opt,
                          double *trust_ratio)
    int gk_lars_multi_f64(gk_index count, double **param, const double **grad,
                          double **trace, const gk_index *size, const gk_lars_options *opt,
                          double *trust_ratio)
