# Declarations of include/gradkit/gradcheck.h for the Cython wrappers.
from libc.stdint cimport int64_t
from _cgradkit cimport gk_index

cdef extern from "gradkit/gradcheck.h" nogil:
    int gk_gradcheck_stack_f32(const float *x, gk_index n, const int64_t *idx,
                               const double *h, gk_index k, float *stack, double *step)
    int gk_gradcheck_stack_f64(const double *x, gk_index n, const int64_t *idx,
                               const double *h, gk_index k, double *stack, double *step)
    int gk_gradcheck_stack_dir_f32(const float *x, gk_index n, const float *v, double h,
                                   gk_index k, float *stack)
    int gk_gradcheck_stack_dir_f64(const double *x, gk_index n, const double *v, double h,
                                   gk_index k, double *stack)
    int gk_gradcheck_difference(const double *loss, const double *step, gk_index k,
                                double *g)
