# cython: language_level=3
"""Thin wrapper over the C matrix product (gradkit._ext.linear).

The caller (gradkit.linear) has validated and allocated everything: a, b and c 2-D
C-contiguous arrays of one float dtype, bias and row_sums of that dtype or None.  This
checks every array once more, compiled (_common.pxi), picks the kernel by dtype and
releases the GIL around it."""
cimport numpy as cnp
cimport _c_linear as c

include "_common.pxi"
include "_blas.pxi"   # the baseline table's gemm


def matmul(object a, bint trans_a, object b, bint trans_b, object bias, object out,
           object row_sums):
    """out (m x n) = op(a) op(b) (+ bias), op the transpose where asked; row_sums (m, or
    None) = the sums of op(a)'s rows."""
    cdef Py_ssize_t ra = 0, ca = 0, rb = 0, cb = 0, rc = 0, cc = 0
    _dims2(a, "a", &ra, &ca)
    _dims2(b, "b", &rb, &cb)
    _dims2(out, "out", &rc, &cc)
    cdef Py_ssize_t m = ca if trans_a else ra, k = ra if trans_a else ca
    cdef Py_ssize_t n = rb if trans_b else cb
    if (cb if trans_b else rb) != k:
        raise ValueError(f"b's {'columns' if trans_b else 'rows'} must match a's "
                         f"{'rows' if trans_a else 'columns'} ({k}), got "
                         f"{cb if trans_b else rb}")
    if rc != m or cc != n:
        raise ValueError(f"out must have shape ({m}, {n}), got ({rc}, {cc})")
    cdef int dt = _float_dtype(a, "a"), err
    cdef const void *pa = _in(a, dt, "a")
    cdef const void *pb = _in(b, dt, "b")
    cdef const void *pbias = _opt(bias, dt, "bias", n)
    cdef void *pc = _out(out, dt, "out")
    cdef void *ps = _out(row_sums, dt, "row_sums", m, True)
    with nogil:
        err = c.gk_matmul(dt, pa, ca if ca > 1 else 1, trans_a, pb, cb if cb > 1 else 1,
                          trans_b, pbias, pc, n if n > 1 else 1, m, n, k, ps, &_BLAS)
    _check(err)
