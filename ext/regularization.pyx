# cython: language_level=3
"""Thin wrappers over the C regularization kernels (gradkit._ext.regularization).

Each takes Python lists of arrays (validated by gradkit.regularization: C-contiguous,
one float dtype per pair), gathers their pointers into one batch per dtype and runs
each batch as one multi-array kernel with the GIL released."""
cimport numpy as cnp
from libc.stdlib cimport malloc, free
cimport _c_regularization as c
from _cgradkit cimport gk_index

include "_common.pxi"


cdef struct Lists:
    gk_index n[2]          # arrays in the float32 / float64 batch
    void **a[2]            # first array of each entry (x, or grad)
    void **b[2]            # second array (param), when given
    gk_index *size[2]
    gk_index *where[2]     # index of each batch entry in the caller's list
    double *out[2]
    void *mem


cdef int _lists(Lists *L, list xs, list ys) except -1:
    cdef Py_ssize_t n = len(xs), i, k
    cdef size_t per = 2 * sizeof(void *) + 2 * sizeof(gk_index) + sizeof(double)
    cdef char *mem = <char *>malloc(2 * per * (n if n > 0 else 1))
    cdef int d
    cdef cnp.ndarray x
    if mem == NULL:
        raise MemoryError()
    L.mem = mem
    for d in range(2):
        L.n[d] = 0
        L.a[d] = <void **>mem
        mem += n * sizeof(void *)
        L.b[d] = <void **>mem
        mem += n * sizeof(void *)
        L.size[d] = <gk_index *>mem
        mem += n * sizeof(gk_index)
        L.where[d] = <gk_index *>mem
        mem += n * sizeof(gk_index)
        L.out[d] = <double *>mem
        mem += n * sizeof(double)
    for i in range(n):
        x = <cnp.ndarray>xs[i]
        d = 0 if _is_f32(x) else 1
        k = L.n[d]
        L.a[d][k] = cnp.PyArray_DATA(x)
        L.b[d][k] = cnp.PyArray_DATA(<cnp.ndarray>ys[i]) if ys is not None else NULL
        L.size[d][k] = cnp.PyArray_SIZE(x)
        L.where[d][k] = i
        L.n[d] = k + 1
    return 0


cdef list _per_array(Lists *L, Py_ssize_t n):
    cdef list out = [0.0] * n
    cdef int d
    cdef gk_index k
    for d in range(2):
        for k in range(L.n[d]):
            out[L.where[d][k]] = L.out[d][k]
    return out


def sum_squares(list xs):
    """Per array: sum of squares, in float64."""
    cdef Lists L
    cdef int err = 0
    _lists(&L, xs, None)
    try:
        with nogil:
            if L.n[0]:
                err = c.gk_sum_squares_multi_f32(L.n[0], <const float **>L.a[0], L.size[0],
                                                 L.out[0])
            if err == 0 and L.n[1]:
                err = c.gk_sum_squares_multi_f64(L.n[1], <const double **>L.a[1],
                                                 L.size[1], L.out[1])
        _check(err)
        return _per_array(&L, len(xs))
    finally:
        free(L.mem)


def sum_abs(list xs):
    """Per array: sum of absolute values, in float64."""
    cdef Lists L
    cdef int err = 0
    _lists(&L, xs, None)
    try:
        with nogil:
            if L.n[0]:
                err = c.gk_sum_abs_multi_f32(L.n[0], <const float **>L.a[0], L.size[0],
                                             L.out[0])
            if err == 0 and L.n[1]:
                err = c.gk_sum_abs_multi_f64(L.n[1], <const double **>L.a[1], L.size[1],
                                             L.out[1])
        _check(err)
        return _per_array(&L, len(xs))
    finally:
        free(L.mem)


def add_l2_grad(list grads, list params, double lam):
    cdef Lists L
    cdef int err = 0
    _lists(&L, grads, params)
    try:
        with nogil:
            if L.n[0]:
                err = c.gk_add_l2_grad_multi_f32(L.n[0], <float **>L.a[0],
                                                 <const float **>L.b[0], L.size[0], lam)
            if err == 0 and L.n[1]:
                err = c.gk_add_l2_grad_multi_f64(L.n[1], <double **>L.a[1],
                                                 <const double **>L.b[1], L.size[1], lam)
        _check(err)
    finally:
        free(L.mem)


def add_l1_grad(list grads, list params, double lam):
    cdef Lists L
    cdef int err = 0
    _lists(&L, grads, params)
    try:
        with nogil:
            if L.n[0]:
                err = c.gk_add_l1_grad_multi_f32(L.n[0], <float **>L.a[0],
                                                 <const float **>L.b[0], L.size[0], lam)
            if err == 0 and L.n[1]:
                err = c.gk_add_l1_grad_multi_f64(L.n[1], <double **>L.a[1],
                                                 <const double **>L.b[1], L.size[1], lam)
        _check(err)
    finally:
        free(L.mem)
