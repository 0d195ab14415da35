# cython: language_level=3
"""Thin wrappers over the C dropout kernels (gradkit._ext.dropout).

Callers (gradkit.dropout) have validated and allocated everything: arrays are
C-contiguous, of one float dtype and n elements; `bits` is None or a uint8 array of
ceil(n / 8) bytes."""
cimport numpy as cnp
cimport _c_dropout as c

include "_common.pxi"


def dropout(cnp.ndarray x, cnp.ndarray y, object bits, Py_ssize_t n, double p,
            unsigned long long seed, unsigned long long counter):
    cdef int err
    cdef void *px = _ptr(x)
    cdef void *py = _ptr(y)
    cdef void *pb = _ptr(bits)
    if _is_f32(x):
        with nogil:
            err = c.gk_dropout_f32(<float *>px, <float *>py, <unsigned char *>pb, n, p, seed,
                                   counter)
    else:
        with nogil:
            err = c.gk_dropout_f64(<double *>px, <double *>py, <unsigned char *>pb, n, p, seed,
                                   counter)
    _check(err)


def dropout_backward(cnp.ndarray dy, cnp.ndarray bits, cnp.ndarray dx, Py_ssize_t n,
                     double p):
    cdef int err
    cdef void *pdy = _ptr(dy)
    cdef void *pb = _ptr(bits)
    cdef void *pdx = _ptr(dx)
    if _is_f32(dy):
        with nogil:
            err = c.gk_dropout_backward_f32(<float *>pdy, <unsigned char *>pb, <float *>pdx,
                                            n, p)
    else:
        with nogil:
            err = c.gk_dropout_backward_f64(<double *>pdy, <unsigned char *>pb,
                                            <double *>pdx, n, p)
    _check(err)
