# cython: language_level=3
"""gradkit.capi: gradkit's nogil kernels exported for other Cython extensions.

``from gradkit.capi cimport gk_layer_norm_f32`` in a .pyx; see capi.pxd (installed as
gradkit/capi.pxd) for the conventions and docs/cython.md for a complete example.  Each
function here only forwards to the C entry point, which validates its arguments.
"""
cimport _c_norm


# ---- norm --------------------------------------------------------------------------------
cdef int gk_layer_norm_f32(const float *x, const float *weight, const float *bias, float *y,
                           float *mean, float *rstd, Py_ssize_t rows, Py_ssize_t cols,
                           double eps) noexcept nogil:
    return _c_norm.gk_layer_norm_f32(x, weight, bias, y, mean, rstd, rows, cols, eps)


cdef int gk_layer_norm_f64(const double *x, const double *weight, const double *bias,
                           double *y, double *mean, double *rstd, Py_ssize_t rows,
                           Py_ssize_t cols, double eps) noexcept nogil:
    return _c_norm.gk_layer_norm_f64(x, weight, bias, y, mean, rstd, rows, cols, eps)


cdef int gk_rms_norm_f32(const float *x, const float *weight, float *y, float *rstd,
                         Py_ssize_t rows, Py_ssize_t cols, double eps) noexcept nogil:
    return _c_norm.gk_rms_norm_f32(x, weight, y, rstd, rows, cols, eps)


cdef int gk_rms_norm_f64(const double *x, const double *weight, double *y, double *rstd,
                         Py_ssize_t rows, Py_ssize_t cols, double eps) noexcept nogil:
    return _c_norm.gk_rms_norm_f64(x, weight, y, rstd, rows, cols, eps)


# ---- dropout -----------------------------------------------------------------------------
cimport _c_dropout


cdef int gk_dropout_f32(const float *x, float *y, unsigned char *mask_bits, Py_ssize_t n,
                        double p, unsigned long long seed,
                        unsigned long long counter) noexcept nogil:
    return _c_dropout.gk_dropout_f32(x, y, mask_bits, n, p, seed, counter)


cdef int gk_dropout_f64(const double *x, double *y, unsigned char *mask_bits, Py_ssize_t n,
                        double p, unsigned long long seed,
                        unsigned long long counter) noexcept nogil:
    return _c_dropout.gk_dropout_f64(x, y, mask_bits, n, p, seed, counter)


# ---- optim -------------------------------------------------------------------------------
cimport _c_optim


cdef int gk_adam_f32(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                     Py_ssize_t n, long step, double lr, double beta1, double beta2,
                     double eps, double weight_decay, int decoupled) noexcept nogil:
    return _c_optim.gk_adam_f32(param, grad, exp_avg, exp_avg_sq, n, step, lr, beta1, beta2,
                                eps, weight_decay, decoupled)


cdef int gk_adam_f64(double *param, const double *grad, double *exp_avg,
                     double *exp_avg_sq, Py_ssize_t n, long step, double lr, double beta1,
                     double beta2, double eps, double weight_decay,
                     int decoupled) noexcept nogil:
    return _c_optim.gk_adam_f64(param, grad, exp_avg, exp_avg_sq, n, step, lr, beta1, beta2,
                                eps, weight_decay, decoupled)


# ---- losses ------------------------------------------------------------------------------
cimport _c_losses
from libc.stdint cimport int64_t


cdef int gk_softmax_cross_entropy_f32(const float *logits, const long long *labels,
                                      const float *probs, float *row_loss, double *total,
                                      float *dlogits, Py_ssize_t rows, Py_ssize_t cols,
                                      double label_smoothing, long long ignore_index,
                                      int reduction) noexcept nogil:
    return _c_losses.gk_softmax_cross_entropy_f32(logits, <const int64_t *>labels, probs,
                                                  row_loss, total, dlogits, rows, cols,
                                                  label_smoothing, ignore_index, reduction)


cdef int gk_softmax_cross_entropy_f64(const double *logits, const long long *labels,
                                      const double *probs, double *row_loss, double *total,
                                      double *dlogits, Py_ssize_t rows, Py_ssize_t cols,
                                      double label_smoothing, long long ignore_index,
                                      int reduction) noexcept nogil:
    return _c_losses.gk_softmax_cross_entropy_f64(logits, <const int64_t *>labels, probs,
                                                  row_loss, total, dlogits, rows, cols,
                                                  label_smoothing, ignore_index, reduction)


cdef int gk_kl_div_f32(const float *student, const float *teacher, double *total,
                       float *dstudent, Py_ssize_t rows, Py_ssize_t cols,
                       double temperature) noexcept nogil:
    return _c_losses.gk_kl_div_f32(student, teacher, total, dstudent, rows, cols, temperature)


cdef int gk_kl_div_f64(const double *student, const double *teacher, double *total,
                       double *dstudent, Py_ssize_t rows, Py_ssize_t cols,
                       double temperature) noexcept nogil:
    return _c_losses.gk_kl_div_f64(student, teacher, total, dstudent, rows, cols, temperature)


cdef int gk_mse_f32(const float *pred, const float *target, float *elem_loss, double *total,
                    float *dpred, Py_ssize_t n, int reduction) noexcept nogil:
    return _c_losses.gk_mse_f32(pred, target, elem_loss, total, dpred, n, reduction)


cdef int gk_mse_f64(const double *pred, const double *target, double *elem_loss,
                    double *total, double *dpred, Py_ssize_t n, int reduction) noexcept nogil:
    return _c_losses.gk_mse_f64(pred, target, elem_loss, total, dpred, n, reduction)
