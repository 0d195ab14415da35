# Declarations of include/gradkit/regularization.h for the Cython wrappers.
from _cgradkit cimport gk_index

cdef extern from "gradkit/regularization.h" nogil:
    int gk_sum_squares_multi_f32(gk_index count, const float **x, const gk_index *size,
                                 double *out)
    int gk_sum_squares_multi_f64(gk_index count, const double **x, const gk_index *size,
                                 double *out)
    int gk_sum_abs_multi_f32(gk_index count, const float **x, const gk_index *size,
                             double *out)
    int gk_sum_abs_multi_f64(gk_index count, const double **x, const gk_index *size,
                             double *out)
    int gk_add_l2_grad_multi_f32(gk_index count, float **grad, const float **param,
                                 const gk_index *size, double lam)
    int gk_add_l2_grad_multi_f64(gk_index count, double **grad, const double **param,
                                 const gk_index *size, double lam)
    int gk_add_l1_grad_multi_f32(gk_index count, float **grad, const float **param,
                                 const gk_index *size, double lam)
    int gk_add_l1_grad_multi_f64(gk_index count, double **grad, const double **param,
                                 const gk_index *size, double lam)
