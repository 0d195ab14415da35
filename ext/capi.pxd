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
# Inverted dropout over n elements (gradkit/dropout.h): element i kept iff word
# counter + i of the Philox4x32-10 stream of `seed` is < (1 - p) * 2**32; y = x / (1 - p)
# where kept, x * 0 where dropped; mask_bits (NULL: not stored) gets element i in bit
# i % 8 of byte i // 8.  p in [0, 1].  Advance your counter by n after a call.
cdef int gk_dropout_f32(const float *x, float *y, unsigned char *mask_bits, Py_ssize_t n,
                        double p, unsigned long long seed,
                        unsigned long long counter) noexcept nogil
cdef int gk_dropout_f64(const double *x, double *y, unsigned char *mask_bits, Py_ssize_t n,
                        double p, unsigned long long seed,
                        unsigned long long counter) noexcept nogil
