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
