# cython: language_level=3
"""Thin wrappers over the C dropout kernels (gradkit._ext.dropout).

Callers (gradkit.dropout) have validated and allocated everything: arrays of one float
dtype (float16/bfloat16 storage included) and n elements, `bits` None or uint8 of ceil(n / 8) bytes.  These check every
array once more, compiled (_common.pxi), and release the GIL around the kernel."""
cimport numpy as cnp
cimport _c_dropout as c

include "_common.pxi"
include "_mask.pxi"


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
    return y, _new_mask((<object>a).shape, p, seed, counter, bits)


def dropout_backward_fast(object dy, object mask, object out):
    """dx = dy * m for the common call -- dy a usable float32/float64 array, mask a
    DropoutMask (the class itself) whose fields are plain (a tuple of ints equal to dy's
    shape, a float p in [0, 1], seed and counter ints in [0, 2**64), bits None or a
    usable uint8 array of the mask's bytes), out None or an array like dy -- checked
    here; None when the call needs gradkit.dropout's checked path (which says what is
    wrong).  dy may be float16 or bfloat16 too."""
    cdef int dt = 0, err
    cdef int typenum = _storage_typenum(dy, &dt)
    if typenum < 0:
        return None
    cdef cnp.ndarray a = <cnp.ndarray>dy
    fields = _mask_fields(mask, a)
    if fields is None:
        return None
    p, seed, counter, bits = fields
    cdef double pv = PyFloat_AS_DOUBLE(p)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
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
