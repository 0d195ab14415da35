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


def softmax_cross_entropy_fast(object logits, object labels, object label_smoothing,
                               object reduction, object ignore_index, object weight):
    """(loss, dlogits) for the common call -- logits a usable float32, float64, float16
    or bfloat16 (N, C) array, labels a usable int64 (N,) array of class indices,
    label_smoothing a float in [0, 1], reduction a str of REDUCTIONS, ignore_index an
    int64 int, weight None or a usable (C,) array of the logits' dtype (float32 for
    16-bit logits, whose row losses are float32 too) -- checked here; None when the
    call needs
    gradkit.losses' checked path (labels out of range included: the kernel refuses
    them before writing anything, and the checked path names the bad one)."""
    cdef int dt = 0, err
    cdef int typenum = _storage_typenum(logits, &dt)
    if typenum < 0 or cnp.PyArray_NDIM(<cnp.ndarray>logits) != 2:
        return None
    cdef int ptyp = _param_typenum(dt, typenum)
    cdef cnp.ndarray a = <cnp.ndarray>logits
    cdef Py_ssize_t rows = cnp.PyArray_DIMS(a)[0], cols = cnp.PyArray_DIMS(a)[1]
    if cols == 0 and rows > 0:
        return None
    if not _usable(labels, cnp.NPY_INT64) or cnp.PyArray_NDIM(<cnp.ndarray>labels) != 1:
        return None
    if cnp.PyArray_DIMS(<cnp.ndarray>labels)[0] != rows:
        return None
    cdef double smooth
    if not _unit_float(label_smoothing, &smooth) or type(reduction) is not str:
        return None
    red = REDUCTIONS.get(reduction)
    if red is None or type(ignore_index) is not int:
        return None
    if not (-0x8000000000000000 <= ignore_index <= 0x7FFFFFFFFFFFFFFF):
        return None
    cdef int64_t ignore = ignore_index
    cdef int code = red
    if weight is not None and not (_usable(weight, ptyp)
                                   and cnp.PyArray_NDIM(<cnp.ndarray>weight) == 1
                                   and cnp.PyArray_DIMS(<cnp.ndarray>weight)[0] == cols):
        return None
    dlogits = _out_or_new(None, a, typenum)
    cdef cnp.npy_intp n = rows
    row_loss = cnp.PyArray_EMPTY(1, &n, ptyp, 0) if code == c.GK_REDUCTION_NONE else None
    cdef double total = 0.0
    cdef const void *pz = _ptr(a)
    cdef const int64_t *pl = <const int64_t *>_ptr(labels)
    cdef const void *pw = _ptr(weight)
    cdef void *pr = _ptr(row_loss)
    cdef void *pd = _ptr(dlogits)
    with nogil:
        err = c.gk_softmax_cross_entropy_weighted(dt, pz, pl, NULL, pw, pr, &total, pd, rows,
                                                  cols, smooth, ignore, code)
    if err != 0:
        return None
    return (row_loss if row_loss is not None else total), dlogits


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
