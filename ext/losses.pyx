# cython: language_level=3
"""Thin wrappers over the C loss kernels (gradkit._ext.losses).

Callers (gradkit.losses) have validated and allocated everything: arrays are
C-contiguous, of one float dtype, of matching sizes; labels are int64.  These only pick
the dtype, release the GIL around the kernel and return the reduced loss."""
from libc.stdint cimport int64_t
cimport numpy as cnp
cimport _c_losses as c

include "_common.pxi"

REDUCTIONS = {"none": c.GK_REDUCTION_NONE, "mean": c.GK_REDUCTION_MEAN,
              "sum": c.GK_REDUCTION_SUM}


def softmax_cross_entropy(cnp.ndarray logits, object labels, object probs,
                          object row_loss, cnp.ndarray dlogits, Py_ssize_t rows,
                          Py_ssize_t cols, double label_smoothing, int64_t ignore_index,
                          int reduction):
    """Returns the reduced loss (a Python float)."""
    cdef int err
    cdef double total = 0.0
    cdef void *pz = _ptr(logits)
    cdef const int64_t *pl = <const int64_t *>_ptr(labels)
    cdef void *pp = _ptr(probs)
    cdef void *pr = _ptr(row_loss)
    cdef void *pd = _ptr(dlogits)
    if _is_f32(logits):
        with nogil:
            err = c.gk_softmax_cross_entropy_f32(<float *>pz, pl, <float *>pp, <float *>pr,
                                                 &total, <float *>pd, rows, cols,
                                                 label_smoothing, ignore_index, reduction)
    else:
        with nogil:
            err = c.gk_softmax_cross_entropy_f64(<double *>pz, pl, <double *>pp,
                                                 <double *>pr, &total, <double *>pd, rows,
                                                 cols, label_smoothing, ignore_index,
                                                 reduction)
    _check(err)
    return total


def kl_div(cnp.ndarray student, cnp.ndarray teacher, cnp.ndarray dstudent,
           Py_ssize_t rows, Py_ssize_t cols, double temperature):
    cdef int err
    cdef double total = 0.0
    cdef void *ps = _ptr(student)
    cdef void *pt = _ptr(teacher)
    cdef void *pd = _ptr(dstudent)
    if _is_f32(student):
        with nogil:
            err = c.gk_kl_div_f32(<float *>ps, <float *>pt, &total, <float *>pd, rows, cols,
                                  temperature)
    else:
        with nogil:
            err = c.gk_kl_div_f64(<double *>ps, <double *>pt, &total, <double *>pd, rows,
                                  cols, temperature)
    _check(err)
    return total


def mse(cnp.ndarray pred, cnp.ndarray target, object elem_loss, cnp.ndarray dpred,
        Py_ssize_t n, int reduction):
    cdef int err
    cdef double total = 0.0
    cdef void *pp = _ptr(pred)
    cdef void *pt = _ptr(target)
    cdef void *pe = _ptr(elem_loss)
    cdef void *pd = _ptr(dpred)
    if _is_f32(pred):
        with nogil:
            err = c.gk_mse_f32(<float *>pp, <float *>pt, <float *>pe, &total, <float *>pd, n,
                               reduction)
    else:
        with nogil:
            err = c.gk_mse_f64(<double *>pp, <double *>pt, <double *>pe, &total,
                               <double *>pd, n, reduction)
    _check(err)
    return total
