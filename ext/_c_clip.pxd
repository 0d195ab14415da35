# Declarations of include/gradkit/clip.h for the Cython wrappers.
from _cgradkit cimport gk_index

cdef extern from "gradkit/clip.h" nogil:
    int GK_DTYPE_F32
    int GK_DTYPE_F64
    int gk_grad_norm(const void *const *arrays, const int *dtypes, const gk_index *sizes,
                     gk_index narrays, double norm_type, double *per_array, double *total)
    int gk_grad_scale_(void *const *arrays, const int *dtypes, const gk_index *sizes,
                       gk_index narrays, double coef)
    int gk_grad_clamp_(void *const *arrays, const int *dtypes, const gk_index *sizes,
                       gk_index narrays, double clip_value)
    int gk_unscale_check_(void *const *arrays, const int *dtypes, const gk_index *sizes,
                          gk_index narrays, float inv_scale, int *found_inf)
