# cython: language_level=3
"""Thin wrappers over the C quantization kernels (gradkit._ext.quant).

Callers (gradkit.quant) have validated and allocated everything: x C-contiguous
float32/float64, q int8/uint8, scale float32 and zero_point int32 arrays of one length
per channel; the (outer, channels, inner) view is given."""
from libc.stdint cimport int8_t, uint8_t, int32_t
cimport numpy as cnp
cimport _c_quant as c

include "_common.pxi"


def minmax(cnp.ndarray x, Py_ssize_t outer, Py_ssize_t channels, Py_ssize_t inner,
           cnp.ndarray mins, cnp.ndarray maxs):
    """Fills mins/maxs (x's dtype); returns True if x holds a NaN or an infinity."""
    cdef int err, bad = 0
    cdef void *px = _ptr(x)
    cdef void *pl = _ptr(mins)
    cdef void *ph = _ptr(maxs)
    if _is_f32(x):
        with nogil:
            err = c.gk_minmax_f32(<float *>px, outer, channels, inner, <float *>pl,
                                  <float *>ph, &bad)
    else:
        with nogil:
            err = c.gk_minmax_f64(<double *>px, outer, channels, inner, <double *>pl,
                                  <double *>ph, &bad)
    _check(err)
    return bool(bad)


def quantize(cnp.ndarray x, cnp.ndarray scale, cnp.ndarray zero_point, cnp.ndarray q,
             Py_ssize_t outer, Py_ssize_t channels, Py_ssize_t inner):
    cdef int err
    cdef void *px = _ptr(x)
    cdef const float *ps = <const float *>_ptr(scale)
    cdef const int32_t *pz = <const int32_t *>_ptr(zero_point)
    cdef void *pq = _ptr(q)
    cdef bint unsigned_q = cnp.PyArray_TYPE(q) == cnp.NPY_UINT8
    cdef bint f32 = _is_f32(x)
    with nogil:
        if f32 and unsigned_q:
            err = c.gk_quantize_f32_u8(<float *>px, ps, pz, <uint8_t *>pq, outer, channels, inner)
        elif f32:
            err = c.gk_quantize_f32_s8(<float *>px, ps, pz, <int8_t *>pq, outer, channels, inner)
        elif unsigned_q:
            err = c.gk_quantize_f64_u8(<double *>px, ps, pz, <uint8_t *>pq, outer, channels, inner)
        else:
            err = c.gk_quantize_f64_s8(<double *>px, ps, pz, <int8_t *>pq, outer, channels, inner)
    _check(err)


def dequantize(cnp.ndarray q, cnp.ndarray scale, cnp.ndarray zero_point, cnp.ndarray y,
               Py_ssize_t outer, Py_ssize_t channels, Py_ssize_t inner):
    cdef int err
    cdef void *pq = _ptr(q)
    cdef const float *ps = <const float *>_ptr(scale)
    cdef const int32_t *pz = <const int32_t *>_ptr(zero_point)
    cdef float *py = <float *>_ptr(y)
    cdef bint unsigned_q = cnp.PyArray_TYPE(q) == cnp.NPY_UINT8
    with nogil:
        if unsigned_q:
            err = c.gk_dequantize_u8(<uint8_t *>pq, ps, pz, py, outer, channels, inner)
        else:
            err = c.gk_dequantize_s8(<int8_t *>pq, ps, pz, py, outer, channels, inner)
    _check(err)
