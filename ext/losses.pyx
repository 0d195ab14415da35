# cython: language_level=3
"""Thin wrappers over the C loss kernels (gradkit._ext.losses).

Callers (gradkit.losses) have validated and allocated everything: arrays of one float
dtype and matching sizes, labels int64; for softmax_cross_entropy also 16-bit logits
(and probabilities, gradient) with float32 weight and row losses.  These check every array once more, compiled
(_common.pxi), pick the kernel by dtype, release the GIL around it and return the
reduced loss."""
from libc.stdint cimport int64_t
cimport numpy as cnp
cimport _c_losses as c

include "_common.pxi"

REDUCTIONS = {"none": c.GK_REDUCTION_NONE, "mean": c.GK_REDUCTION_MEAN,
              "sum": c.GK_REDUCTION_SUM}
BATCHMEAN = c.GK_REDUCTION_BATCHMEAN


def softmax_cross_entropy(object logits, object labels, object probs, object weight,
                          object row_loss, object dlogits, Py_ssize_t rows, Py_ssize_t cols,
                          double label_smoothing, int64_t ignore_index, int reduction):
    """Returns the reduced loss (a Python float)."""
    cdef int dt = _storage_dtype(logits, "logits"), err
    cdef int pdt = _param_dtype(dt)
    cdef double total = 0.0
    cdef Py_ssize_t n = _prod(rows, cols)
    cdef const void *pz = _in(logits, dt, "logits", n)
    cdef const int64_t *pl = <const int64_t *>_array(labels, cnp.NPY_INT64, "labels",
                                                     rows, False, True)
    cdef const void *pp = _opt(probs, dt, "probs", n)
    cdef const void *pw = _opt(weight, pdt, "weight", cols)
    cdef void *pr = _out(row_loss, pdt, "row_loss", rows, True)
    cdef void *pd = _out(dlogits, dt, "dlogits", n)
    with nogil:
        err = c.gk_softmax_cross_entropy_weighted(dt, pz, pl, pp, pw, pr, &total, pd, rows,
                                                  cols, label_smoothing, ignore_index,
                                                  reduction)
    _check(err)
    return total


def kl_div(object student, object teacher, object dstudent, Py_ssize_t rows,
           Py_ssize_t cols, double temperature):
    cdef int dt = _float_dtype(student, "student"), err
    cdef double total = 0.0
    cdef Py_ssize_t n = _prod(rows, cols)
    cdef const void *ps = _in(student, dt, "student", n)
    cdef const void *pt = _in(teacher, dt, "teacher", n)
    cdef void *pd = _out(dstudent, dt, "dstudent", n)
    with nogil:
        err = c.gk_kl_div(dt, ps, pt, &total, pd, rows, cols, temperature)
    _check(err)
    return total


def kl_div_pointwise(object input, object target, object elem_loss, object dinput,
                     Py_ssize_t n, Py_ssize_t batch, bint log_target, int reduction):
    cdef int dt = _float_dtype(input, "input"), err
    cdef double total = 0.0
    cdef const void *px = _in(input, dt, "input", n)
    cdef const void *pt = _in(target, dt, "target", n)
    cdef void *pe = _out(elem_loss, dt, "elem_loss", n, True)
    cdef void *pd = _out(dinput, dt, "dinput", n)
    with nogil:
        err = c.gk_kl_div_pointwise(dt, px, pt, pe, &total, pd, n, batch, log_target,
                                    reduction)
    _check(err)
    return total


def mse(object pred, object target, object elem_loss, object dpred, Py_ssize_t n,
        int reduction):
    cdef int dt = _float_dtype(pred, "pred"), err
    cdef double total = 0.0
    cdef const void *pp = _in(pred, dt, "pred", n)
    cdef const void *pt = _in(target, dt, "target", n)
    cdef void *pe = _out(elem_loss, dt, "elem_loss", n, True)
    cdef void *pd = _out(dpred, dt, "dpred", n)
    with nogil:
        err = c.gk_mse(dt, pp, pt, pe, &total, pd, n, reduction)
    _check(err)
    return total
