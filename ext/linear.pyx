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
    cdef int dt = _float_dtype(a, "a")
    cdef const void *pa = _in(a, dt, "a")
    cdef const void *pb = _in(b, dt, "b")
    cdef const void *pbias = _opt(bias, dt, "bias", n)
    cdef void *pc = _out(out, dt, "out")
    cdef void *ps = _out(row_sums, dt, "row_sums", m, True)
    _matmul_call(dt, pa, ca, trans_a, pb, cb, trans_b, pbias, pc, n, m, n, k, ps)


cdef int _matmul_call(int dt, const void *pa, Py_ssize_t lda, bint ta, const void *pb,
                      Py_ssize_t ldb, bint tb, const void *pbias, void *pc,
                      Py_ssize_t ldc, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      void *ps) except -1:
    """The product's kernel on checked pointers, the GIL released; leading dimensions
    raised to at least 1, as the kernel wants (a row holds at least one element)."""
    cdef int err
    with nogil:
        err = c.gk_matmul(dt, pa, lda if lda > 1 else 1, ta, pb, ldb if ldb > 1 else 1,
                          tb, pbias, pc, ldc if ldc > 1 else 1, m, n, k, ps, &_BLAS)
    return _check(err)


# The whole of linear / linear_backward for the common call -- C-contiguous, aligned
# arrays of one float dtype (16-bit storage included) with matching shapes, no out= --
# in C, as the norms' fast paths (a 64x128 by 128x128 product is a few microseconds:
# the Python-level checks and 16-bit widening were most of such a call).  None when the
# call needs gradkit.linear's checked path, which says what is wrong or copies what
# needs copying.  16-bit arrays are widened exactly into float32 buffers, multiplied by
# the float32 kernel and rounded once, as the checked path does: the same bits.
from _cgradkit cimport gk_convert


cdef inline Py_ssize_t _lead(cnp.ndarray a) noexcept:
    """The product of a's leading dims (all but the last)."""
    cdef Py_ssize_t m = 1
    cdef int i
    for i in range(cnp.PyArray_NDIM(a) - 1):
        m *= cnp.PyArray_DIMS(a)[i]
    return m


cdef inline bint _matrix(object w, int typenum):
    return _usable(w, typenum) and cnp.PyArray_NDIM(<cnp.ndarray>w) == 2


cdef int _convert(object src, int sdt, object dst, int ddt) except -1:
    """dst (dtype code ddt) = src (sdt), one of them float32 and the other 16-bit, dst's
    size of elements (gk_convert: exact widening, or one rounding), GIL released."""
    cdef const void *ps = _ptr(src)
    cdef void *pd = _ptr(dst)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray>dst)
    cdef int err
    with nogil:
        err = gk_convert(ps, sdt, pd, ddt, n)
    return _check(err)


cdef object _f32_like(object a, int dt, Py_ssize_t r, Py_ssize_t cols):
    """a itself (float32/float64), or for 16-bit a new (r, cols) float32 array holding
    it widened; None stays None."""
    if a is None or dt == GK_DTYPE_F32 or dt == GK_DTYPE_F64:
        return a
    cdef cnp.npy_intp d[2]
    d[0], d[1] = r, cols
    w = cnp.PyArray_EMPTY(2, d, cnp.NPY_FLOAT32, 0)
    _convert(a, dt, w, GK_DTYPE_F32)
    return w


cdef object _narrowed(object a32, int dt, int typenum):
    """The float32 result a32 rounded once into a new array of its shape and the 16-bit
    typenum; None stays None."""
    if a32 is None:
        return None
    cdef cnp.ndarray r = <cnp.ndarray>a32
    out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(r), cnp.PyArray_DIMS(r), typenum, 0)
    _convert(r, GK_DTYPE_F32, out, dt)
    return out


cdef int _mm(int dt, object a, Py_ssize_t lda, bint ta, object b, Py_ssize_t ldb, bint tb,
             object bias, object res, Py_ssize_t ldc, Py_ssize_t m, Py_ssize_t n,
             Py_ssize_t k, object row_sums) except -1:
    """res (m x n) = op(a) op(b) (+ bias), row_sums = op(a)'s row sums (as matmul), on
    arrays of the kernel's dtype dt (float32/float64) that the caller made or checked."""
    return _matmul_call(dt, _ptr(a), lda, ta, _ptr(b), ldb, tb, _ptr(bias), _ptr(res), ldc,
                        m, n, k, _ptr(row_sums))


def linear_fast(object x, object weight, object bias):
    """y = x weight^T + bias for the common call (x of >= 1 dims, weight
    (out_features, in_features), bias None or (out_features,), all usable arrays of
    one dtype), or None."""
    cdef int dt = 0
    cdef int typenum = _storage_typenum(x, &dt)
    if typenum < 0 or not _matrix(weight, typenum):
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    cdef int nd = cnp.PyArray_NDIM(a)
    if nd < 1 or cnp.PyArray_DIMS(<cnp.ndarray>weight)[1] != cnp.PyArray_DIMS(a)[nd - 1]:
        return None
    cdef Py_ssize_t k = cnp.PyArray_DIMS(a)[nd - 1]
    cdef Py_ssize_t n = cnp.PyArray_DIMS(<cnp.ndarray>weight)[0], m = _lead(a)
    if bias is not None and not (_usable(bias, typenum)
                                 and cnp.PyArray_NDIM(<cnp.ndarray>bias) == 1
                                 and cnp.PyArray_DIMS(<cnp.ndarray>bias)[0] == n):
        return None
    cdef cnp.npy_intp dims[64]   # NPY_MAXDIMS of NumPy 2 (32 before)
    cdef int i
    for i in range(nd - 1):
        dims[i] = cnp.PyArray_DIMS(a)[i]
    dims[nd - 1] = n
    cdef bint half = dt == GK_DTYPE_F16 or dt == GK_DTYPE_BF16
    y = cnp.PyArray_EMPTY(nd, dims, cnp.NPY_FLOAT32 if half else typenum, 0)
    _mm(GK_DTYPE_F32 if half else dt, _f32_like(a, dt, m, k), k, False,
        _f32_like(weight, dt, n, k), k, True, _f32_like(bias, dt, 1, n), y, n, m, n, k,
        None)
    return _narrowed(y, dt, typenum) if half else y


cdef inline bint _apart(object a, object b):
    """Two C-contiguous arrays (or None) whose bytes do not overlap (for such arrays
    exactly np.shares_memory's answer)."""
    if a is None or b is None or cnp.PyArray_NBYTES(<cnp.ndarray>a) == 0 \
            or cnp.PyArray_NBYTES(<cnp.ndarray>b) == 0:
        return True
    cdef char *pa = <char *>cnp.PyArray_DATA(<cnp.ndarray>a)
    cdef char *pb = <char *>cnp.PyArray_DATA(<cnp.ndarray>b)
    return (pa + cnp.PyArray_NBYTES(<cnp.ndarray>a) <= pb
            or pb + cnp.PyArray_NBYTES(<cnp.ndarray>b) <= pa)


cdef inline bint _out_ok(object o, int typenum, int nd, cnp.npy_intp *dims):
    """o is None or a usable writable array of typenum and shape dims."""
    if o is None:
        return True
    if not _usable(o, typenum) or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>o) \
            or cnp.PyArray_NDIM(<cnp.ndarray>o) != nd:
        return False
    cdef int i
    for i in range(nd):
        if cnp.PyArray_DIMS(<cnp.ndarray>o)[i] != dims[i]:
            return False
    return True


def linear_backward_fast(object dy, object x, object weight, object input_grad,
                         object weight_grad, object bias_grad, object out=None):
    """(dx, dweight, dbias) of linear_backward for the common call (dy, x and weight
    usable arrays of one dtype, dy of x's leading dims by out_features, the three flags
    bools; out None or a tuple of three entries, each None or a usable writable array of
    its gradient's shape and x's dtype, asked for, apart from each other and from the
    inputs), or None."""
    if (type(input_grad) is not bool or type(weight_grad) is not bool
            or type(bias_grad) is not bool):
        return None
    if out is None:
        out = (None, None, None)
    elif type(out) is not tuple or len(out) != 3:
        return None
    cdef int dt = 0
    cdef int typenum = _storage_typenum(x, &dt)
    if typenum < 0 or not _matrix(weight, typenum) or not _usable(dy, typenum):
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x, g = <cnp.ndarray>dy
    cdef int nd = cnp.PyArray_NDIM(a), i
    if nd < 1 or cnp.PyArray_NDIM(g) != nd:
        return None
    cdef Py_ssize_t k = cnp.PyArray_DIMS(a)[nd - 1]
    cdef Py_ssize_t n = cnp.PyArray_DIMS(<cnp.ndarray>weight)[0], m = _lead(a)
    if cnp.PyArray_DIMS(<cnp.ndarray>weight)[1] != k or cnp.PyArray_DIMS(g)[nd - 1] != n:
        return None
    for i in range(nd - 1):
        if cnp.PyArray_DIMS(g)[i] != cnp.PyArray_DIMS(a)[i]:
            return None
    cdef cnp.npy_intp d[2]
    d[0] = n
    ox, ow, ob = out
    if ((ox is not None and not input_grad) or (ow is not None and not weight_grad)
            or (ob is not None and not bias_grad)
            or not _out_ok(ox, typenum, nd, cnp.PyArray_DIMS(a))
            or not _out_ok(ow, typenum, 2, cnp.PyArray_DIMS(<cnp.ndarray>weight))
            or not _out_ok(ob, typenum, 1, d)
            or not (_apart(ox, ow) and _apart(ox, ob) and _apart(ow, ob))):
        return None   # the checked path's ValueError
    for o in (ox, ow, ob):
        if not (_apart(o, dy) and _apart(o, x) and _apart(o, weight)):
            return None
    cdef bint half = dt == GK_DTYPE_F16 or dt == GK_DTYPE_BF16
    cdef int kdt = GK_DTYPE_F32 if half else dt
    cdef int ktyp = cnp.NPY_FLOAT32 if half else typenum
    dy_k = _f32_like(g, dt, m, n)
    dx = dw = db = None
    if input_grad:   # dx = dy W
        dx = ox if ox is not None and not half else cnp.PyArray_EMPTY(
            nd, cnp.PyArray_DIMS(a), ktyp, 0)
        _mm(kdt, dy_k, n, False, _f32_like(weight, dt, n, k), k, False, None, dx, k, m, k,
            n, None)
    if weight_grad or bias_grad:   # dW = dy^T x, db = the row sums of dy^T
        if bias_grad:
            db = ob if ob is not None and not half else cnp.PyArray_EMPTY(1, d, ktyp, 0)
        x_k = _f32_like(a, dt, m, k)
        if weight_grad:
            dw = ow if ow is not None and not half else cnp.PyArray_EMPTY(
                2, cnp.PyArray_DIMS(<cnp.ndarray>weight), ktyp, 0)
            _mm(kdt, dy_k, n, True, x_k, k, False, None, dw, k, n, k, m, db)
        else:   # the sums alone: a product with no columns
            d[1] = 0
            _mm(kdt, dy_k, n, True, x_k, 0, False, None, cnp.PyArray_EMPTY(2, d, ktyp, 0),
                0, n, 0, m, db)
    if not half:
        return dx, dw, db
    res = []   # rounded once, into the caller's arrays where given
    for r, o in ((dx, ox), (dw, ow), (db, ob)):
        if r is not None and o is not None:
            _convert(r, GK_DTYPE_F32, o, dt)
            r = o
        elif r is not None:
            r = _narrowed(r, dt, typenum)
        res.append(r)
    return tuple(res)
