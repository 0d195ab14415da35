# cython: language_level=3
"""Thin wrappers over the C dropout kernels (gradkit._ext.dropout).

Callers (gradkit.dropout) have validated and allocated everything: arrays of one float
dtype (float16/bfloat16 storage included) and n elements, `bits` None or uint8 of ceil(n / 8) bytes.  These check every
array once more, compiled (_common.pxi), and release the GIL around the kernel."""
cimport numpy as cnp
cimport _c_dropout as c

include "_common.pxi"


cdef inline Py_ssize_t _nbytes(Py_ssize_t n) noexcept:
    """Bytes of a bit-mask of n elements (-1: n negative, left to the kernel)."""
    return (n + 7) // 8 if n >= 0 else -1


def dropout(object x, object y, object bits, Py_ssize_t n, double p,
            unsigned long long seed, unsigned long long counter):
    cdef int dt = _storage_dtype(x, "x"), err
    cdef const void *px = _in(x, dt, "x", n)
    cdef void *py = _out(y, dt, "y", n)
    cdef unsigned char *pb = <unsigned char *>_array(bits, cnp.NPY_UINT8, "bits",
                                                     _nbytes(n), True, True)
    with nogil:
        err = c.gk_dropout(dt, px, py, pb, n, p, seed, counter)
    _check(err)


def dropout_backward(object dy, object bits, object dx, Py_ssize_t n, double p):
    cdef int dt = _storage_dtype(dy, "dy"), err
    cdef const void *pdy = _in(dy, dt, "dy", n)
    cdef const unsigned char *pb = <const unsigned char *>_array(bits, cnp.NPY_UINT8,
                                                                 "bits", _nbytes(n))
    cdef void *pdx = _out(dx, dt, "dx", n)
    with nogil:
        err = c.gk_dropout_backward(dt, pdy, pb, pdx, n, p)
    _check(err)


# gradkit.dropout.DropoutMask, registered at import (set_mask_type): the fast path takes
# masks of exactly that class, whose fields it reads as _checked_mask does.
cdef object _mask_type = None


cdef tuple _MASK_SLOTS = ()


def set_mask_type(cls):
    """The class dropout_fast makes masks of and dropout_backward_fast takes."""
    global _mask_type, _MASK_SLOTS
    _mask_type = cls
    _MASK_SLOTS = tuple(cls.__slots__)


cdef inline bint _seed_ok(object v):
    """v is an int in [0, 2**64), as the checked path's uint64."""
    return type(v) is int and 0 <= v <= 0xFFFFFFFFFFFFFFFF


def dropout_fast(object x, object p, object gen, object out, object store_mask):
    """dropout's training call for the common case -- x a usable float32, float64,
    float16 or bfloat16 array, p a float in [0, 1], gen the Generator the call draws from, out None or an
    array like x, store_mask a bool -- checked here: (y, DropoutMask), the generator's
    counter advanced by x.size; None (and nothing drawn) when the call needs
    gradkit.dropout's checked path."""
    cdef double pv
    if _mask_type is None or not _unit_float(p, &pv) or type(store_mask) is not bool:
        return None
    cdef int dt = 0, err
    cdef int typenum = _storage_typenum(x, &dt)
    if typenum < 0:
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    y = _out_or_new(out, a, typenum)
    if y is None:
        return None
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
    cdef cnp.npy_intp nb = _nbytes(n)
    bits = cnp.PyArray_EMPTY(1, &nb, cnp.NPY_UINT8, 0) if store_mask else None
    seed = gen.seed
    counter = gen._take(n)
    cdef unsigned long long key = seed, word = counter
    cdef const void *px = _ptr(a)
    cdef void *py = _ptr(y)
    cdef unsigned char *pb = <unsigned char *>_ptr(bits)
    with nogil:
        err = c.gk_dropout(dt, px, py, pb, n, pv, key, word)
    _check(err)
    # the mask as DropoutMask._trusted builds it: its fields set, the bits read-only
    if bits is not None:
        cnp.PyArray_CLEARFLAGS(<cnp.ndarray>bits, cnp.NPY_ARRAY_WRITEABLE)
    mask = _mask_type.__new__(_mask_type)
    for k, v in zip(_MASK_SLOTS, ((<object>a).shape, p, seed, counter, bits)):
        object.__setattr__(mask, k, v)
    return y, mask


def dropout_backward_fast(object dy, object mask, object out):
    """dx = dy * m for the common call -- dy a usable float32/float64 array, mask a
    DropoutMask (the class itself) whose fields are plain (a tuple of ints equal to dy's
    shape, a float p in [0, 1], seed and counter ints in [0, 2**64), bits None or a
    usable uint8 array of the mask's bytes), out None or an array like dy -- checked
    here; None when the call needs gradkit.dropout's checked path (which says what is
    wrong).  dy may be float16 or bfloat16 too."""
    if _mask_type is None or type(mask) is not _mask_type:
        return None
    cdef int dt = 0, err
    cdef int typenum = _storage_typenum(dy, &dt)
    if typenum < 0:
        return None
    try:
        shape, p, seed, counter, bits = (mask._shape, mask._p, mask._seed, mask._counter,
                                         mask._bits)
    except AttributeError:  # not initialized: the checked path says so
        return None
    cdef cnp.ndarray a = <cnp.ndarray>dy
    cdef int nd = cnp.PyArray_NDIM(a), k
    if type(shape) is not tuple or len(shape) != nd:
        return None
    for k in range(nd):
        d = shape[k]
        if type(d) is not int or d != cnp.PyArray_DIMS(a)[k]:
            return None
    cdef double pv
    if not _unit_float(p, &pv) or not _seed_ok(seed) or not _seed_ok(counter):
        return None
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
    if bits is not None and not (_usable(bits, cnp.NPY_UINT8)
                                 and cnp.PyArray_NDIM(<cnp.ndarray>bits) == 1
                                 and cnp.PyArray_DIMS(<cnp.ndarray>bits)[0] == _nbytes(n)):
        return None
    dx = _out_or_new(out, a, typenum)
    if dx is None:
        return None
    cdef unsigned long long key = seed, word = counter
    cdef const void *pdy = _ptr(a)
    cdef const unsigned char *pb = <const unsigned char *>_ptr(bits)
    cdef void *pdx = _ptr(dx)
    with nogil:
        if pb != NULL:
            err = c.gk_dropout_backward(dt, pdy, pb, pdx, n, pv)
        else:  # the mask regenerated from its stream: the forward applied to dy
            err = c.gk_dropout(dt, pdy, pdx, NULL, n, pv, key, word)
    _check(err)
    return dx


def drop_path(object x, object y, object keep, Py_ssize_t rows, Py_ssize_t row_len,
              double p, unsigned long long seed, unsigned long long counter):
    cdef int dt = _storage_dtype(x, "x"), err
    cdef Py_ssize_t n = _prod(rows, row_len)
    cdef const void *px = _in(x, dt, "x", n)
    cdef void *py = _out(y, dt, "y", n)
    cdef unsigned char *pk = <unsigned char *>_array(keep, cnp.NPY_BOOL, "keep", rows, True)
    with nogil:
        err = c.gk_drop_path(dt, px, py, pk, rows, row_len, p, seed, counter)
    _check(err)


def drop_path_backward_fast(object dy, object keep, object p, object out):
    """dx = dy * keep / (1 - p) per sample for the common call (dy a float32, float64,
    float16 or bfloat16 C-contiguous aligned array of >= 1 dims, keep a C-contiguous bool array of
    dy.shape[0], p a float in [0, 1], out None or an array like dy), checked here;
    None when the call needs gradkit.dropout's checked path."""
    cdef double pv
    if not _unit_float(p, &pv):
        return None
    cdef int dt = 0, err
    cdef int typenum = _storage_typenum(dy, &dt)
    if typenum < 0:
        return None
    cdef cnp.ndarray a = <cnp.ndarray>dy
    if cnp.PyArray_NDIM(a) < 1 or not _usable(keep, cnp.NPY_BOOL):
        return None
    cdef Py_ssize_t rows = cnp.PyArray_DIMS(a)[0]
    if cnp.PyArray_NDIM(<cnp.ndarray>keep) != 1 or cnp.PyArray_DIMS(<cnp.ndarray>keep)[0] != rows:
        return None
    dx = _out_or_new(out, a, typenum)
    if dx is None:
        return None
    cdef Py_ssize_t row_len = cnp.PyArray_SIZE(a) // rows if rows else 0
    cdef const void *pdy = _ptr(a)
    cdef const unsigned char *pk = <const unsigned char *>_ptr(keep)
    cdef void *pdx = _ptr(dx)
    with nogil:
        err = c.gk_drop_path_backward(dt, pdy, pk, pdx, rows, row_len, pv)
    _check(err)
    return dx


def drop_path_backward(object dy, object keep, object dx, Py_ssize_t rows,
                       Py_ssize_t row_len, double p):
    cdef int dt = _storage_dtype(dy, "dy"), err
    cdef Py_ssize_t n = _prod(rows, row_len)
    cdef const void *pdy = _in(dy, dt, "dy", n)
    cdef const unsigned char *pk = <const unsigned char *>_array(keep, cnp.NPY_BOOL,
                                                                 "keep", rows)
    cdef void *pdx = _out(dx, dt, "dx", n)
    with nogil:
        err = c.gk_drop_path_backward(dt, pdy, pk, pdx, rows, row_len, p)
    _check(err)
