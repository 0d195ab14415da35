# gradkit C-level API for other Cython extensions:
#
#     from gradkit.capi cimport gk_layer_norm_f32
#
# The functions are exported by the compiled module gradkit.capi (Cython's C-API
# capsule mechanism, as scipy.linalg.cython_blas does), so a consumer links nothing:
# cimporting makes it import gradkit.capi at load time and fetch the pointers.  All
# return 0 on success, nonzero on bad arguments (nothing written); all run with the
# library's current thread setting; none needs the GIL.  weight/bias may be NULL.
# C-contiguous arrays; rows x cols elements.

cdef int gk_layer_norm_f32(const float *x, const float *weight, const float *bias, float *y,
                           float *mean, float *rstd, Py_ssize_t rows, Py_ssize_t cols,
                           double eps) noexcept nogil
cdef int gk_layer_norm_f64(const double *x, const double *weight, const double *bias,
                           double *y, double *mean, double *rstd, Py_ssize_t rows,
                           Py_ssize_t cols, double eps) noexcept nogil
cdef int gk_rms_norm_f32(const float *x, const float *weight, float *y, float *rstd,
                         Py_ssize_t rows, Py_ssize_t cols, double eps) noexcept nogil
cdef int gk_rms_norm_f64(const double *x, const double *weight, double *y, double *rstd,
                         Py_ssize_t rows, Py_ssize_t cols, double eps) noexcept nogil

# One Adam (decoupled=0) or AdamW (decoupled=1) step in place on n elements; step is the
# step number after its increment (1 on the first step).  torch.optim's formulas.
cdef int gk_adam_f32(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                     Py_ssize_t n, long step, double lr, double beta1, double beta2,
                     double eps, double weight_decay, int decoupled) noexcept nogil
cdef int gk_adam_f64(double *param, const double *grad, double *exp_avg,
                     double *exp_avg_sq, Py_ssize_t n, long step, double lr, double beta1,
                     double beta2, double eps, double weight_decay,
                     int decoupled) noexcept nogil
