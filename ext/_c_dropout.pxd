# Declarations of include/gradkit/dropout.h for the Cython wrappers.
from _cgradkit cimport gk_index

cdef extern from "gradkit/dropout.h" nogil:
    int gk_dropout_f32(const float *x, float *y, unsigned char *mask_bits, gk_index n,
                       double p, unsigned long long seed, unsigned long long counter)
    int gk_dropout_f64(const double *x, double *y, unsigned char *mask_bits, gk_index n,
                       double p, unsigned long long seed, unsigned long long counter)
    int gk_dropout_backward_f32(const float *dy, const unsigned char *mask_bits, float *dx,
                                gk_index n, double p)
    int gk_dropout_backward_f64(const double *dy, const unsigned char *mask_bits, double *dx,
                                gk_index n, double p)
