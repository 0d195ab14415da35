# cython: language_level=3
"""Thin wrappers over the C random-number kernels (gradkit._ext.random).

Callers (gradkit.random) have validated and allocated everything: `out` is an array of
the right dtype and n elements; seed and counter are in [0, 2**64).  These check `out`
once more, compiled (_common.pxi), pick the kernel by dtype and release the GIL around
it."""
cimport numpy as cnp
from libc.stdint cimport uint32_t, uint64_t, int64_t
cimport _c_random as c
from _cgradkit cimport gk_blas_fns, GK_DTYPE_F64

include "_common.pxi"
include "_blas.pxi"   # orthogonal's dgemm


def philox_block(ctr, key):
    """One Philox4x32-10 block (the C implementation in gradkit/philox.h)."""
    cdef uint32_t cc[4]
    cdef uint32_t kk[2]
    cdef uint32_t out[4]
    for i in range(4):
        cc[i] = ctr[i]
    for i in range(2):
        kk[i] = key[i]
    c.gk_philox4x32_10(cc, kk, out)
    return (out[0], out[1], out[2], out[3])


def words(str kind, Py_ssize_t n, uint64_t range_=0):
    """Words of the stream a call of `kind` consumes for n elements."""
    if kind == "f32":
        return c.gk_random_words_f32(n)
    if kind == "f64":
        return c.gk_random_words_f64(n)
    if kind == "normal_f32":
        return c.gk_random_words_normal_f32(n)
    if kind == "normal_f64":
        return c.gk_random_words_normal_f64(n)
    if kind == "integers":
        return c.gk_random_words_integers(n, range_)
    raise ValueError(f"kind must be 'f32', 'f64', 'normal_f32', 'normal_f64' or "
                     f"'integers', got {kind!r}")


def bits32(object out, Py_ssize_t n, uint64_t seed, uint64_t counter):
    cdef int err
    cdef uint32_t *p = <uint32_t *>_array(out, cnp.NPY_UINT32, "out", n, True)
    with nogil:
        err = c.gk_random_bits32(p, n, seed, counter)
    _check(err)


cdef int _fill(object out, Py_ssize_t n, double a, double b, uint64_t seed,
               uint64_t counter, bint normal) except -1:
    """out = n uniform values in [a, b), or normal ones of mean a and std b."""
    cdef int dt = _float_dtype(out, "out"), err
    cdef void *p = _out(out, dt, "out", n)
    with nogil:
        err = (c.gk_random_normal if normal else c.gk_random_uniform)(dt, p, n, a, b, seed,
                                                                      counter)
    return _check(err)


def uniform(object out, Py_ssize_t n, double low, double high, uint64_t seed,
            uint64_t counter):
    _fill(out, n, low, high, seed, counter, False)


def normal(object out, Py_ssize_t n, double mean, double std, uint64_t seed,
           uint64_t counter):
    _fill(out, n, mean, std, seed, counter, True)


def trunc_normal(object out, Py_ssize_t n, double mean, double std, double a, double b,
                 uint64_t seed, uint64_t counter):
    cdef int dt = _float_dtype(out, "out"), err
    cdef void *p = _out(out, dt, "out", n)
    with nogil:
        err = c.gk_random_trunc_normal(dt, p, n, mean, std, a, b, seed, counter)
    _check(err)


def integers(object out, Py_ssize_t n, int64_t low, uint64_t range_, uint64_t seed,
             uint64_t counter):
    cdef int err
    cdef int64_t *p = <int64_t *>_array(out, cnp.NPY_INT64, "out", n, True)
    with nogil:
        err = c.gk_random_integers(p, n, low, range_, seed, counter)
    _check(err)


def fill(object out, Py_ssize_t n, double value):
    """out[:n] = value (the constant fills of gradkit.init)."""
    cdef int dt = _float_dtype(out, "out"), err
    cdef void *p = _out(out, dt, "out", n)
    with nogil:
        err = c.gk_fill(dt, p, n, value)
    _check(err)


def fill_eye(object out, Py_ssize_t rows, Py_ssize_t cols):
    """out (rows x cols, C order) = the identity: ones on the main diagonal (eye)."""
    cdef int dt = _float_dtype(out, "out"), err
    cdef void *p = _out(out, dt, "out", _prod(rows, cols))
    with nogil:
        err = c.gk_fill_eye(dt, p, rows, cols)
    _check(err)


def orthogonal(object a, Py_ssize_t rows, Py_ssize_t cols, double gain, object q):
    """q (rows x cols float64, C order) = gain times the Haar orthogonal matrix built
    from the normal draws a (rows x cols float64, C order, rows >= cols; overwritten).
    The caller holds the BLAS to one thread."""
    cdef int err
    cdef void *pa = _out(a, GK_DTYPE_F64, "a", _prod(rows, cols))
    cdef void *pq = _out(q, GK_DTYPE_F64, "q", _prod(rows, cols))
    with nogil:
        err = c.gk_orthogonal_f64(<double *>pa, rows, cols, gain, <double *>pq, &_BLAS)
    _check(err)
