# cython: language_level=3
"""gradkit.capi: the nogil kernels, exported for other Cython extensions (see capi.pxd)."""
cimport _c_norm as c


cdef int gk_layer_norm_f32(const float *x, const float *weight, const float *bias, float *y,
                           float *mean, float *rstd, Py_ssize_t rows, Py_ssize_t cols,
                           double eps) noexcept nogil:
    return c.gk_layer_norm_f32(x, weight, bias, y, mean, rstd, rows, cols, eps)


cdef int gk_layer_norm_f64(const double *x, const double *weight, const double *bias,
                           double *y, double *mean, double *rstd, Py_ssize_t rows,
                           Py_ssize_t cols, double eps) noexcept nogil:
    return c.gk_layer_norm_f64(x, weight, bias, y, mean, rstd, rows, cols, eps)


cdef int gk_rms_norm_f32(const float *x, const float *weight, float *y, float *rstd,
                         Py_ssize_t rows, Py_ssize_t cols, double eps) noexcept nogil:
    return c.gk_rms_norm_f32(x, weight, y, rstd, rows, cols, eps)


cdef int gk_rms_norm_f64(const double *x, const double *weight, double *y, double *rstd,
                         Py_ssize_t rows, Py_ssize_t cols, double eps) noexcept nogil:
    return c.gk_rms_norm_f64(x, weight, y, rstd, rows, cols, eps)


cimport _c_dropout as c_dropout


cdef int gk_dropout_f32(const float *x, float *y, unsigned char *mask_bits, Py_ssize_t n,
                        double p, unsigned long long seed,
                        unsigned long long counter) noexcept nogil:
    return c_dropout.gk_dropout_f32(x, y, mask_bits, n, p, seed, counter)


cdef int gk_dropout_f64(const double *x, double *y, unsigned char *mask_bits, Py_ssize_t n,
                        double p, unsigned long long seed,
                        unsigned long long counter) noexcept nogil:
    return c_dropout.gk_dropout_f64(x, y, mask_bits, n, p, seed, counter)
