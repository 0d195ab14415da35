# Declarations of include/gradkit/losses.h for the Cython wrappers.
from libc.stdint cimport int64_t
from _cgradkit cimport gk_index

cdef extern from "gradkit/losses.h" nogil:
    int GK_REDUCTION_NONE, GK_REDUCTION_MEAN, GK_REDUCTION_SUM
    int gk_softmax_cross_entropy_f32(const float *logits, const int64_t *labels,
                                     const float *probs, float *row_loss, double *total,
                                     float *dlogits, gk_index rows, gk_index cols,
                                     double label_smoothing, int64_t ignore_index,
                                     int reduction)
    int gk_softmax_cross_entropy_f64(const double *logits, const int64_t *labels,
                                     const double *probs, double *row_loss, double *total,
                                     double *dlogits, gk_index rows, gk_index cols,
                                     double label_smoothing, int64_t ignore_index,
                                     int reduction)
    int gk_kl_div_f32(const float *student, const float *teacher, double *total,
                      float *dstudent, gk_index rows, gk_index cols, double temperature)
    int gk_kl_div_f64(const double *student, const double *teacher, double *total,
                      double *dstudent, gk_index rows, gk_index cols, double temperature)
    int gk_mse_f32(const float *pred, const float *target, float *elem_loss, double *total,
                   float *dpred, gk_index n, int reduction)
    int gk_mse_f64(const double *pred, const double *target, double *elem_loss,
                   double *total, double *dpred, gk_index n, int reduction)
