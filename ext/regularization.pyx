# cython: language_level=3
"""Thin wrappers over the C regularization kernels (gradkit._ext.regularization).

Each takes Python lists of arrays (validated by gradkit.regularization), float32,
float64, float16 or bfloat16, gathers their pointers into one batch per dtype
(_common.pxi's marshaller, which checks every array once more, compiled) and runs each
batch as one multi-array kernel with the GIL released."""
cimport numpy as cnp
cimport _c_regularization as c

include "_common.pxi"

import numpy as np


cdef list _per_array(_Arrays b, double[::1] out, Py_ssize_t n):
    """The kernels' per-entry sums in the caller's order."""
    cdef list res = [0.0] * n
    cdef gk_index k
    for k in range(b.n):
        res[b.where[k]] = out[k]
    return res


cdef list _sums(list xs, bint squares):
    """Per array: sum of squares (squares) or of absolute values, in float64."""
    cdef _Arrays b = _gather([xs], ("xs",), (False,), True, -1, None, None, True)
    cdef double[::1] out = np.empty(max(b.n, 1))
    cdef int err = 0, d
    with nogil:
        for d in range(4):
            if err == 0 and b.count[d]:
                err = (c.gk_sum_squares_multi if squares else c.gk_sum_abs_multi)(
                    d, b.count[d], <const void *const *>b.at(0, d), b.size + b.first[d],
                    &out[b.first[d]])
    _check(err)
    return _per_array(b, out, len(xs))


cdef int _add_grad(list grads, list params, double lam, bint l2) except -1:
    """grads += lam * params (l2) or lam * sign(params), in place."""
    cdef _Arrays b = _gather([grads, params], ("grads", "params"), (True, False), True, -1,
                             None, None, True)
    cdef int err = 0, d
    with nogil:
        for d in range(4):
            if err == 0 and b.count[d]:
                err = (c.gk_add_l2_grad_multi if l2 else c.gk_add_l1_grad_multi)(
                    d, b.count[d], b.at(0, d), <const void *const *>b.at(1, d),
                    b.size + b.first[d], lam)
    return _check(err)


def sum_squares(list xs):
    """Per array: sum of squares, in float64."""
    return _sums(xs, True)


def sum_abs(list xs):
    """Per array: sum of absolute values, in float64."""
    return _sums(xs, False)


def add_l2_grad(list grads, list params, double lam):
    _add_grad(grads, params, lam, True)


def add_l1_grad(list grads, list params, double lam):
    _add_grad(grads, params, lam, False)
