# cython: language_level=3
"""Thin wrappers over the C clipping / loss-scaling kernels (gradkit._ext.clip).

Callers (gradkit.clip, gradkit.amp) pass a list of validated arrays: C-contiguous,
float32 or float64 (dtypes may differ within the list), writable where written.  These
gather the pointers, sizes and dtype codes and release the GIL around the kernel."""
from libc.stdlib cimport malloc, free
cimport numpy as cnp
cimport _c_clip as c
from _cgradkit cimport gk_index

include "_common.pxi"


cdef class _List:
    """The C view of a list of arrays: pointers, dtype codes, sizes."""
    cdef void **ptrs
    cdef int *dtypes
    cdef gk_index *sizes
    cdef gk_index n

    def __cinit__(self, list arrays):
        cdef Py_ssize_t i
        cdef cnp.ndarray a
        self.n = len(arrays)
        self.ptrs = <void **>malloc(sizeof(void *) * (self.n + 1))
        self.dtypes = <int *>malloc(sizeof(int) * (self.n + 1))
        self.sizes = <gk_index *>malloc(sizeof(gk_index) * (self.n + 1))
        if not self.ptrs or not self.dtypes or not self.sizes:
            raise MemoryError()
        for i in range(self.n):
            a = <cnp.ndarray>arrays[i]
            self.ptrs[i] = cnp.PyArray_DATA(a)
            self.dtypes[i] = c.GK_DTYPE_F32 if _is_f32(a) else c.GK_DTYPE_F64
            self.sizes[i] = cnp.PyArray_SIZE(a)

    def __dealloc__(self):
        free(self.ptrs)
        free(self.dtypes)
        free(self.sizes)


def grad_norm(list arrays, double norm_type, cnp.ndarray per_array=None):
    """Total norm (float); per-array norms into `per_array` (float64, len(arrays)) if
    given."""
    cdef _List L = _List(arrays)
    cdef double total = 0.0
    cdef double *pa = <double *>_ptr(per_array)
    cdef int err
    with nogil:
        err = c.gk_grad_norm(<const void *const *>L.ptrs, L.dtypes, L.sizes, L.n,
                             norm_type, pa, &total)
    _check(err)
    return total


def grad_scale_(list arrays, double coef):
    cdef _List L = _List(arrays)
    cdef int err
    with nogil:
        err = c.gk_grad_scale_(L.ptrs, L.dtypes, L.sizes, L.n, coef)
    _check(err)


def grad_clamp_(list arrays, double clip_value):
    cdef _List L = _List(arrays)
    cdef int err
    with nogil:
        err = c.gk_grad_clamp_(L.ptrs, L.dtypes, L.sizes, L.n, clip_value)
    _check(err)


def unscale_check_(list arrays, float inv_scale):
    """Multiply every array by inv_scale in place; True if any element was inf/NaN."""
    cdef _List L = _List(arrays)
    cdef int err, found = 0
    with nogil:
        err = c.gk_unscale_check_(L.ptrs, L.dtypes, L.sizes, L.n, inv_scale, &found)
    _check(err)
    return found != 0
