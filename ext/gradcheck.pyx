# cython: language_level=3
"""Thin wrappers over the C gradient-check helpers (gradkit._ext.gradcheck).

Callers (gradkit.gradcheck) have validated and allocated everything: x and the stack of
one float dtype, idx int64, h/step/loss/g float64.  These check every array once more,
compiled (_common.pxi), pick the kernel by dtype and release the GIL around it."""
from libc.stdint cimport int64_t
cimport numpy as cnp
cimport _c_gradcheck as c

include "_common.pxi"


cdef inline const double *_f64(object a, str name, Py_ssize_t size) except? NULL:
    return <const double *>_array(a, cnp.NPY_FLOAT64, name, size)


def stack(object x, object idx, object h, object out, object step):
    cdef int dt = _float_dtype(x, "x"), err
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray>x)
    cdef Py_ssize_t k = cnp.PyArray_SIZE(<cnp.ndarray>idx) if isinstance(idx, cnp.ndarray) else 0
    cdef const void *px = _in(x, dt, "x", n)
    cdef const int64_t *pi = <const int64_t *>_array(idx, cnp.NPY_INT64, "idx", k)
    cdef const double *ph = _f64(h, "h", k)
    cdef void *po = _out(out, dt, "out", _prod(2 * k, n))
    cdef double *ps = <double *>_array(step, cnp.NPY_FLOAT64, "step", k, True)
    with nogil:
        err = c.gk_gradcheck_stack(dt, px, n, pi, ph, k, po, ps)
    _check(err)


def stack_dir(object x, object v, double h, object out):
    cdef int dt = _float_dtype(x, "x"), err
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray>x), k = 0, cols = 0
    _dims2(v, "v", &k, &cols)
    cdef const void *px = _in(x, dt, "x", n)
    cdef const void *pv = _in(v, dt, "v", _prod(k, n))
    cdef void *po = _out(out, dt, "out", _prod(2 * k, n))
    with nogil:
        err = c.gk_gradcheck_stack_dir(dt, px, n, pv, h, k, po)
    _check(err)


def difference(object loss, object step, object g):
    cdef int err
    cdef Py_ssize_t k = cnp.PyArray_SIZE(<cnp.ndarray>step) if isinstance(step, cnp.ndarray) else 0
    cdef const double *pl = _f64(loss, "loss", 2 * k)
    cdef const double *ps = _f64(step, "step", k)
    cdef double *pg = <double *>_array(g, cnp.NPY_FLOAT64, "g", k, True)
    with nogil:
        err = c.gk_gradcheck_difference(pl, ps, k, pg)
    _check(err)
