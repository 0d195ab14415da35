# cython: language_level=3
"""Thin wrappers over the C clipping / loss-scaling kernels (gradkit._ext.clip).

Callers (gradkit.clip, gradkit.amp) pass a list of validated arrays, float32 or float64,
and for clipping float16/bfloat16 too (dtypes may differ within the list).  These gather the pointers, sizes and dtype codes
in the list's order (_common.pxi's marshaller, which checks every array once more,
compiled) and release the GIL around the kernel."""
cimport numpy as cnp
cimport _c_clip as c

include "_common.pxi"


cdef inline _Arrays _list(list arrays, bint writable, bint half=True):
    """The arrays in their order (the reductions combine them in that order); half:
    16-bit arrays taken too."""
    return _gather([arrays], ("arrays",), (writable,), False, -1, None, None, half)


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
    cdef _Arrays b = _list(arrays, True, False)   # float32/float64 (gradkit.amp)
    cdef int err, found = 0
    with nogil:
        err = c.gk_unscale_check_(b.slot[0], b.dtype, b.size, b.n, inv_scale, &found)
    _check(err)
    return found != 0


cdef extern from "stdlib.h":
    void qsort(void *base, size_t n, size_t size,
               int (*cmp)(const void *, const void *) noexcept nogil) nogil


cdef int _by_start(const void *a, const void *b) noexcept nogil:
    cdef const size_t *p = <const size_t *>a
    cdef const size_t *q = <const size_t *>b
    return (p[0] > q[0]) - (p[0] < q[0])


def simple_float_list(object arrays, bint writable, bint half=False):
    """`arrays` as a list when float_array_list would return it unchanged with nothing
    to write back: a list or tuple (or one ndarray) of exact ndarrays, float32/float64 in
    native byte order (with `half`, float16/bfloat16 too, beside float32 ones only),
    C-contiguous and aligned, no None, and, when `writable`, writable and not
    overlapping one another.  None otherwise (the checked Python path then
    copies, skips or raises).  The common call's checks in compiled code: a few hundred
    nanoseconds for 64 arrays instead of ~2 us per array."""
    cdef list items
    cdef Py_ssize_t n, i, m = 0
    cdef size_t *span
    cdef size_t lo, nbytes
    cdef bint ok = True, any_half = False, any_f64 = False
    cdef int bf16 = _learn_bfloat16(False) if half else -1
    if type(arrays) is cnp.ndarray:
        items = [arrays]
    elif type(arrays) is list:
        items = <list>arrays
    elif type(arrays) is tuple:
        items = list(arrays)
    else:
        return None
    n = len(items)
    for i in range(n):
        a = items[i]
        if type(a) is not cnp.ndarray:
            return None
        if _ok(a, cnp.NPY_FLOAT32, -1, writable):
            continue
        if _ok(a, cnp.NPY_FLOAT64, -1, writable):
            any_f64 = True
        elif half and (_ok(a, cnp.NPY_FLOAT16, -1, writable)
                       or (bf16 >= 0 and _ok(a, bf16, -1, writable))):
            any_half = True
        else:
            return None
    if any_half and any_f64:
        return None   # float64 beside 16-bit: the checked path's TypeError
    if not writable or n < 2:
        return items
    # arrays written by one call must not overlap: C-contiguous arrays share memory
    # exactly when their byte ranges intersect; sorted by start, each range must end
    # before the next begins
    span = <size_t *>malloc(2 * n * sizeof(size_t))
    if span == NULL:
        raise MemoryError()
    for i in range(n):
        nbytes = <size_t>cnp.PyArray_NBYTES(<cnp.ndarray>items[i])
        if nbytes:
            lo = <size_t>cnp.PyArray_DATA(<cnp.ndarray>items[i])
            span[2 * m] = lo
            span[2 * m + 1] = lo + nbytes
            m += 1
    qsort(span, m, 2 * sizeof(size_t), _by_start)
    for i in range(1, m):
        if span[2 * i] < span[2 * i - 1]:
            ok = False
            break
    free(span)
    return items if ok else None
