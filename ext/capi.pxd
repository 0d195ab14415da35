# gradkit's C-level API, for other Cython extensions:
#
#     from gradkit.capi cimport gk_layer_norm_f32
#
# How it works: the compiled module gradkit.capi (capi.pyx) defines these functions and
# exports their addresses in capsules (Cython's `__pyx_capi__`, as scipy.linalg.cython_blas
# does).  A module that cimports them imports gradkit.capi when it loads and fetches the
# pointers, checking each signature; it links nothing of gradkit and needs no header.
# This file is installed as gradkit/capi.pxd and is self-contained: it cimports nothing,
# so a consumer needs neither gradkit's private _c_*.pxd nor its include path (the status
# codes GK_OK, GK_E* are in gradkit/gradkit.h, under gradkit.get_include()).
#
# Conventions (as the C header's): arrays are C-contiguous, `rows` x `cols` elements;
# every function returns 0 (GK_OK) on success and a nonzero GK_E* code on a bad argument
# (a negative size GK_ESIZE, a NULL array GK_ENULL, eps < 0 GK_EVALUE), in which case
# nothing was written; weight/bias may be NULL (no affine), mean/rstd may be NULL; the
# kernels run with gradkit's current thread setting (gradkit.set_num_threads,
# OMP_NUM_THREADS), need no GIL, may be called from several threads at once, and give
# bitwise the results of the Python API, for any thread count.
#
# Adding a family: declare its functions here in a section of their own (append; a
# Py_ssize_t for every size, `noexcept nogil`), define them in capi.pyx by calling the C
# entry point, and add their names to CAPI_FUNCTIONS in tests/test_capi.py.

# ---- norm: LayerNorm / RMSNorm forward (gradkit/norm.h) -------------------------------
# y = (x - mean) * rstd * weight + bias per row, rstd = 1/sqrt(biased var + eps); mean and
# rstd (length rows) receive the statistics.
cdef int gk_layer_norm_f32(const float *x, const float *weight, const float *bias, float *y,
                           float *mean, float *rstd, Py_ssize_t rows, Py_ssize_t cols,
                           double eps) noexcept nogil
cdef int gk_layer_norm_f64(const double *x, const double *weight, const double *bias,
                           double *y, double *mean, double *rstd, Py_ssize_t rows,
                           Py_ssize_t cols, double eps) noexcept nogil
# y = x * rstd * weight per row, rstd = 1/sqrt(mean(x^2) + eps).
cdef int gk_rms_norm_f32(const float *x, const float *weight, float *y, float *rstd,
                         Py_ssize_t rows, Py_ssize_t cols, double eps) noexcept nogil
cdef int gk_rms_norm_f64(const double *x, const double *weight, double *y, double *rstd,
                         Py_ssize_t rows, Py_ssize_t cols, double eps) noexcept nogil

# ---- dropout: inverted dropout (gradkit/dropout.h) ---------------------------------------
# Element i is kept iff word counter + i of the Philox4x32-10 stream of `seed` is
# < (1 - p) * 2**32; y = x / (1 - p) where kept, x * 0 where dropped; mask_bits (NULL: not
# stored) gets element i in bit i % 8 of byte i // 8.  p in [0, 1].  The backward without
# a mask is the same call on dy with the same seed and counter.  Advance your counter by n.
cdef int gk_dropout_f32(const float *x, float *y, unsigned char *mask_bits, Py_ssize_t n,
                        double p, unsigned long long seed,
                        unsigned long long counter) noexcept nogil
cdef int gk_dropout_f64(const double *x, double *y, unsigned char *mask_bits, Py_ssize_t n,
                        double p, unsigned long long seed,
                        unsigned long long counter) noexcept nogil

# ---- optim: one Adam / AdamW step (gradkit/optim.h) -----------------------------------
# One Adam (decoupled=0) or AdamW (decoupled=1) step in place on n elements, torch.optim's
# formulas; step is the step number after its increment (1 on the first step); lr,
# eps, weight_decay >= 0 and betas in [0, 1), else GK_EVALUE.
cdef int gk_adam_f32(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                     Py_ssize_t n, long step, double lr, double beta1, double beta2,
                     double eps, double weight_decay, int decoupled) noexcept nogil
cdef int gk_adam_f64(double *param, const double *grad, double *exp_avg,
                     double *exp_avg_sq, Py_ssize_t n, long step, double lr, double beta1,
                     double beta2, double eps, double weight_decay,
                     int decoupled) noexcept nogil

# ---- losses: fused forward + backward (gradkit/losses.h) ---------------------------------
# Softmax cross-entropy over rows of `cols` logits: targets are class indices `labels`
# (length rows, int64; then probs is NULL) or probabilities `probs` (rows x cols; then
# labels is NULL), smoothed to (1 - s) target + s/cols; rows whose label is ignore_index
# get loss 0 and gradient 0.  reduction: 0 none, 1 mean, 2 sum.  row_loss (may be NULL)
# gets each row's loss, *total the reduced loss (the sum for none), dlogits the gradient
# of the reduced loss (of the sum for none).  A label out of range: GK_EVALUE.
cdef int gk_softmax_cross_entropy_f32(const float *logits, const long long *labels,
                                      const float *probs, float *row_loss, double *total,
                                      float *dlogits, Py_ssize_t rows, Py_ssize_t cols,
                                      double label_smoothing, long long ignore_index,
                                      int reduction) noexcept nogil
cdef int gk_softmax_cross_entropy_f64(const double *logits, const long long *labels,
                                      const double *probs, double *row_loss, double *total,
                                      double *dlogits, Py_ssize_t rows, Py_ssize_t cols,
                                      double label_smoothing, long long ignore_index,
                                      int reduction) noexcept nogil
# Batch-mean KL(softmax(t/T) || softmax(s/T)) into *total and its gradient with respect
# to the student logits s, (softmax(s/T) - softmax(t/T)) / (T rows).
cdef int gk_kl_div_f32(const float *student, const float *teacher, double *total,
                       float *dstudent, Py_ssize_t rows, Py_ssize_t cols,
                       double temperature) noexcept nogil
cdef int gk_kl_div_f64(const double *student, const double *teacher, double *total,
                       double *dstudent, Py_ssize_t rows, Py_ssize_t cols,
                       double temperature) noexcept nogil
# Mean squared error over n elements: elem_loss (may be NULL) = (pred - target)^2, *total
# the mean (reduction 1) or the sum, dpred its gradient.
cdef int gk_mse_f32(const float *pred, const float *target, float *elem_loss, double *total,
                    float *dpred, Py_ssize_t n, int reduction) noexcept nogil
cdef int gk_mse_f64(const double *pred, const double *target, double *elem_loss,
                    double *total, double *dpred, Py_ssize_t n, int reduction) noexcept nogil
