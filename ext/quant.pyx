# cython: language_level=3
"""Thin wrappers over the C quantization kernels (gradkit._ext.quant).

Callers (gradkit.quant) have validated and allocated everything: x float32/float64, q
int8/uint8, scale float32 and zero_point int32 arrays of one entry per channel; the
(outer, channels, inner) view is given.  These check every array once more, compiled
(_common.pxi), pick the kernel by dtype and release the GIL around it."""
from libc.stdint cimport int8_t, uint8_t, int32_t
cimport numpy as cnp
cimport _c_quant as c

include "_common.pxi"


def minmax(object x, Py_ssize_t outer, Py_ssize_t channels, Py_ssize_t inner, object mins,
           object maxs):
    """Fills mins/maxs (x's dtype); returns True if x holds a NaN or an infinity."""
    cdef int dt = _float_dtype(x, "x"), err, bad = 0
    cdef const void *px = _in(x, dt, "x", _prod(_prod(outer, channels), inner))
    cdef void *pl = _out(mins, dt, "mins", channels)
    cdef void *ph = _out(maxs, dt, "maxs", channels)
    with nogil:
        err = c.gk_minmax(dt, px, outer, channels, inner, pl, ph, &bad)
    _check(err)
    return bool(bad)


cdef int _qtype(object q, str name) except -1:
    """The NumPy type number of a quantized array: int8 or uint8 (native, whole)."""
    if isinstance(q, cnp.ndarray):
        if _has_type(<cnp.ndarray>q, cnp.NPY_UINT8):
            return cnp.NPY_UINT8
        if _has_type(<cnp.ndarray>q, cnp.NPY_INT8):
            return cnp.NPY_INT8
    raise TypeError(f"{name} must be an int8 or uint8 array, got "
                    f"{getattr(q, 'dtype', type(q).__name__)}")


ctypedef struct _qparams:
    const float *scale
    const int32_t *zero_point


cdef _qparams _params(object scale, object zero_point, Py_ssize_t channels) except *:
    """The checked pointers of scale (float32) and zero_point (int32), one per channel."""
    cdef _qparams p
    p.scale = <const float *>_array(scale, cnp.NPY_FLOAT32, "scale", channels)
    p.zero_point = <const int32_t *>_array(zero_point, cnp.NPY_INT32, "zero_point", channels)
    return p


def quantize(object x, object scale, object zero_point, object q, Py_ssize_t outer,
             Py_ssize_t channels, Py_ssize_t inner):
    cdef int dt = _float_dtype(x, "x"), err
    cdef int qt = _qtype(q, "q")
    cdef Py_ssize_t n = _prod(_prod(outer, channels), inner)
    cdef const void *px = _in(x, dt, "x", n)
    cdef _qparams p = _params(scale, zero_point, channels)
    cdef void *pq = _array(q, qt, "q", n, True)
    with nogil:
        if qt == cnp.NPY_UINT8:
            err = c.gk_quantize_u8(dt, px, p.scale, p.zero_point, <uint8_t *>pq,
                                   outer, channels, inner)
        else:
            err = c.gk_quantize_s8(dt, px, p.scale, p.zero_point, <int8_t *>pq,
                                   outer, channels, inner)
    _check(err)


def dequantize(object q, object scale, object zero_point, object y, Py_ssize_t outer,
               Py_ssize_t channels, Py_ssize_t inner):
    cdef int err
    cdef int qt = _qtype(q, "q")
    cdef Py_ssize_t n = _prod(_prod(outer, channels), inner)
    cdef const void *pq = _array(q, qt, "q", n)
    cdef _qparams p = _params(scale, zero_point, channels)
    cdef float *py = <float *>_array(y, cnp.NPY_FLOAT32, "y", n, True)
    with nogil:
        if qt == cnp.NPY_UINT8:
            err = c.gk_dequantize_u8(<const uint8_t *>pq, p.scale, p.zero_point, py,
                                     outer, channels, inner)
        else:
            err = c.gk_dequantize_s8(<const int8_t *>pq, p.scale, p.zero_point, py,
                                     outer, channels, inner)
    _check(err)
