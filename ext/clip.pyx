# cython: language_level=3
"""Thin wrappers over the C clipping / loss-scaling kernels (gradkit._ext.clip).

Callers (gradkit.clip, gradkit.amp) pass a list of validated arrays, float32 or float64
(dtypes may differ within the list).  These gather the pointers, sizes and dtype codes
in the list's order (_common.pxi's marshaller, which checks every array once more,
compiled) and release the GIL around the kernel."""
cimport numpy as cnp
cimport _c_clip as c

include "_common.pxi"


cdef inline _Arrays _list(list arrays, bint writable):
    """The arrays in their order (the reductions combine them in that order)."""
    return _gather([arrays], ("arrays",), (writable,), False)


def grad_norm(list arrays, double norm_type, object per_array=None):
    """Total norm (float); per-array norms into `per_array` (float64, len(arrays)) if
    given."""
    cdef _Arrays b = _list(arrays, False)
    cdef double total = 0.0
    cdef double *pa = <double *>_array(per_array, cnp.NPY_FLOAT64, "per_array", b.n,
                                       True, True)
    cdef int err
    with nogil:
        err = c.gk_grad_norm(<const void *const *>b.slot[0], b.dtype, b.size, b.n,
                             norm_type, pa, &total)
    _check(err)
    return total


cdef int _inplace(list arrays, double value, bint clamp) except -1:
    """x *= value (clamp false) or x = clamp(x, -value, value), every array in place."""
    cdef _Arrays b = _list(arrays, True)
    cdef int err
    with nogil:
        err = (c.gk_grad_clamp_ if clamp else c.gk_grad_scale_)(b.slot[0], b.dtype, b.size,
                                                                b.n, value)
    return _check(err)


def grad_scale_(list arrays, double coef):
    _inplace(arrays, coef, False)


def grad_clamp_(list arrays, double clip_value):
    _inplace(arrays, clip_value, True)


def unscale_check_(list arrays, float inv_scale):
    """Multiply every array by inv_scale in place; True if any element was inf/NaN."""
    cdef _Arrays b = _list(arrays, True)
    cdef int err, found = 0
    with nogil:
        err = c.gk_unscale_check_(b.slot[0], b.dtype, b.size, b.n, inv_scale, &found)
    _check(err)
    return found != 0
