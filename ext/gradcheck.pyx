# cython: language_level=3
"""Thin wrappers over the C gradient-check helpers (gradkit._ext.gradcheck).

Callers (gradkit.gradcheck) have validated and allocated everything: x and the stack
C-contiguous of one float dtype, idx int64, h/step/loss/g float64."""
from libc.stdint cimport int64_t
cimport numpy as cnp
cimport _c_gradcheck as c

include "_common.pxi"


def stack(cnp.ndarray x, cnp.ndarray idx, cnp.ndarray h, cnp.ndarray out,
          cnp.ndarray step):
    cdef int err
    cdef Py_ssize_t n = x.size, k = idx.size
    cdef void *px = _ptr(x)
    cdef const int64_t *pi = <const int64_t *>_ptr(idx)
    cdef const double *ph = <const double *>_ptr(h)
    cdef void *po = _ptr(out)
    cdef double *ps = <double *>_ptr(step)
    if _is_f32(x):
        with nogil:
            err = c.gk_gradcheck_stack_f32(<float *>px, n, pi, ph, k, <float *>po, ps)
    else:
        with nogil:
            err = c.gk_gradcheck_stack_f64(<double *>px, n, pi, ph, k, <double *>po, ps)
    _check(err)


def stack_dir(cnp.ndarray x, cnp.ndarray v, double h, cnp.ndarray out):
    cdef int err
    cdef Py_ssize_t n = x.size, k = v.shape[0]
    cdef void *px = _ptr(x)
    cdef void *pv = _ptr(v)
    cdef void *po = _ptr(out)
    if _is_f32(x):
        with nogil:
            err = c.gk_gradcheck_stack_dir_f32(<float *>px, n, <float *>pv, h, k,
                                               <float *>po)
    else:
        with nogil:
            err = c.gk_gradcheck_stack_dir_f64(<double *>px, n, <double *>pv, h, k,
                                               <double *>po)
    _check(err)


def difference(cnp.ndarray loss, cnp.ndarray step, cnp.ndarray g):
    cdef int err
    cdef Py_ssize_t k = step.size
    cdef const double *pl = <const double *>_ptr(loss)
    cdef const double *ps = <const double *>_ptr(step)
    cdef double *pg = <double *>_ptr(g)
    with nogil:
        err = c.gk_gradcheck_difference(pl, ps, k, pg)
    _check(err)
