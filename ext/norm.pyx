# cython: language_level=3
"""Thin wrappers over the C normalization kernels (gradkit._ext.norm).

Callers (gradkit.norm) have validated and allocated everything: arrays are
C-contiguous, of one float dtype, of matching sizes.  These only pick the dtype and
release the GIL around the kernel."""
cimport numpy as cnp
cimport _c_norm as c

include "_common.pxi"


def layer_norm(cnp.ndarray x, object weight, object bias, cnp.ndarray y, cnp.ndarray mean,
               cnp.ndarray rstd, Py_ssize_t rows, Py_ssize_t cols, double eps):
    cdef int err
    cdef void *px = _ptr(x)
    cdef void *pw = _ptr(weight)
    cdef void *pb = _ptr(bias)
    cdef void *py = _ptr(y)
    cdef void *pm = _ptr(mean)
    cdef void *pr = _ptr(rstd)
    if _is_f32(x):
        with nogil:
            err = c.gk_layer_norm_f32(<float *>px, <float *>pw, <float *>pb, <float *>py,
                                      <float *>pm, <float *>pr, rows, cols, eps)
    else:
        with nogil:
            err = c.gk_layer_norm_f64(<double *>px, <double *>pw, <double *>pb, <double *>py,
                                      <double *>pm, <double *>pr, rows, cols, eps)
    _check(err)


def layer_norm_backward(cnp.ndarray dy, cnp.ndarray x, cnp.ndarray mean, cnp.ndarray rstd,
                        object weight, cnp.ndarray dx, object dweight, object dbias,
                        Py_ssize_t rows, Py_ssize_t cols):
    cdef int err
    cdef void *pdy = _ptr(dy)
    cdef void *px = _ptr(x)
    cdef void *pm = _ptr(mean)
    cdef void *pr = _ptr(rstd)
    cdef void *pw = _ptr(weight)
    cdef void *pdx = _ptr(dx)
    cdef void *pdw = _ptr(dweight)
    cdef void *pdb = _ptr(dbias)
    if _is_f32(x):
        with nogil:
            err = c.gk_layer_norm_backward_f32(<float *>pdy, <float *>px, <float *>pm,
                                               <float *>pr, <float *>pw, <float *>pdx,
                                               <float *>pdw, <float *>pdb, rows, cols)
    else:
        with nogil:
            err = c.gk_layer_norm_backward_f64(<double *>pdy, <double *>px, <double *>pm,
                                               <double *>pr, <double *>pw, <double *>pdx,
                                               <double *>pdw, <double *>pdb, rows, cols)
    _check(err)


def rms_norm(cnp.ndarray x, object weight, cnp.ndarray y, cnp.ndarray rstd,
             Py_ssize_t rows, Py_ssize_t cols, double eps):
    cdef int err
    cdef void *px = _ptr(x)
    cdef void *pw = _ptr(weight)
    cdef void *py = _ptr(y)
    cdef void *pr = _ptr(rstd)
    if _is_f32(x):
        with nogil:
            err = c.gk_rms_norm_f32(<float *>px, <float *>pw, <float *>py, <float *>pr,
                                    rows, cols, eps)
    else:
        with nogil:
            err = c.gk_rms_norm_f64(<double *>px, <double *>pw, <double *>py, <double *>pr,
                                    rows, cols, eps)
    _check(err)


def rms_norm_backward(cnp.ndarray dy, cnp.ndarray x, cnp.ndarray rstd, object weight,
                      cnp.ndarray dx, object dweight, Py_ssize_t rows, Py_ssize_t cols):
    cdef int err
    cdef void *pdy = _ptr(dy)
    cdef void *px = _ptr(x)
    cdef void *pr = _ptr(rstd)
    cdef void *pw = _ptr(weight)
    cdef void *pdx = _ptr(dx)
    cdef void *pdw = _ptr(dweight)
    if _is_f32(x):
        with nogil:
            err = c.gk_rms_norm_backward_f32(<float *>pdy, <float *>px, <float *>pr,
                                             <float *>pw, <float *>pdx, <float *>pdw,
                                             rows, cols)
    else:
        with nogil:
            err = c.gk_rms_norm_backward_f64(<double *>pdy, <double *>px, <double *>pr,
                                             <double *>pw, <double *>pdx, <double *>pdw,
                                             rows, cols)
    _check(err)


def batch_norm(cnp.ndarray x, object weight, object bias, cnp.ndarray y, cnp.ndarray mean,
               cnp.ndarray rstd, object running_mean, object running_var, Py_ssize_t batch,
               Py_ssize_t channels, Py_ssize_t inner, bint training, double momentum,
               double eps):
    cdef int err
    cdef void *px = _ptr(x)
    cdef void *pw = _ptr(weight)
    cdef void *pb = _ptr(bias)
    cdef void *py = _ptr(y)
    cdef void *pm = _ptr(mean)
    cdef void *pr = _ptr(rstd)
    cdef void *prm = _ptr(running_mean)
    cdef void *prv = _ptr(running_var)
    if _is_f32(x):
        with nogil:
            err = c.gk_batch_norm_f32(<float *>px, <float *>pw, <float *>pb, <float *>py,
                                      <float *>pm, <float *>pr, <float *>prm, <float *>prv,
                                      batch, channels, inner, training, momentum, eps)
    else:
        with nogil:
            err = c.gk_batch_norm_f64(<double *>px, <double *>pw, <double *>pb,
                                      <double *>py, <double *>pm, <double *>pr,
                                      <double *>prm, <double *>prv, batch, channels, inner,
                                      training, momentum, eps)
    _check(err)


def batch_norm_backward(cnp.ndarray dy, cnp.ndarray x, cnp.ndarray mean, cnp.ndarray rstd,
                        object weight, cnp.ndarray dx, object dweight, object dbias,
                        Py_ssize_t batch, Py_ssize_t channels, Py_ssize_t inner):
    cdef int err
    cdef void *pdy = _ptr(dy)
    cdef void *px = _ptr(x)
    cdef void *pm = _ptr(mean)
    cdef void *pr = _ptr(rstd)
    cdef void *pw = _ptr(weight)
    cdef void *pdx = _ptr(dx)
    cdef void *pdw = _ptr(dweight)
    cdef void *pdb = _ptr(dbias)
    if _is_f32(x):
        with nogil:
            err = c.gk_batch_norm_backward_f32(<float *>pdy, <float *>px, <float *>pm,
                                               <float *>pr, <float *>pw, <float *>pdx,
                                               <float *>pdw, <float *>pdb, batch, channels,
                                               inner)
    else:
        with nogil:
            err = c.gk_batch_norm_backward_f64(<double *>pdy, <double *>px, <double *>pm,
                                               <double *>pr, <double *>pw, <double *>pdx,
                                               <double *>pdw, <double *>pdb, batch,
                                               channels, inner)
    _check(err)
