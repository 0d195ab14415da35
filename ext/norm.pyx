# cython: language_level=3
"""Thin wrappers over the C normalization kernels (gradkit._ext.norm).

Callers (gradkit.norm) have validated and allocated everything: arrays are
C-contiguous, of one float dtype, of matching sizes.  These only pick the dtype and
release the GIL around the kernel."""
cimport numpy as cnp
cimport _c_norm as c

include "_common.pxi"


def layer_norm(cnp.ndarray x, object weight, object bias, cnp.ndarray y, cnp.ndarray mean,
               cnp.ndarray rstd, Py_ssize_t rows, Py_ssize_t cols, double eps):
    cdef int err
    cdef void *px = _ptr(x)
    cdef void *pw = _ptr(weight)
    cdef void *pb = _ptr(bias)
    cdef void *py = _ptr(y)
    cdef void *pm = _ptr(mean)
    cdef void *pr = _ptr(rstd)
    if _is_f32(x):
        with nogil:
            err = c.gk_layer_norm_f32(<float *>px, <float *>pw, <float *>pb, <float *>py,
                                      <float *>pm, <float *>pr, rows, cols, eps)
    else:
        with nogil:
            err = c.gk_layer_norm_f64(<double *>px, <double *>pw, <double *>pb, <double *>py,
                                      <double *>pm, <double *>pr, rows, cols, eps)
    _check(err)


def layer_norm_backward(cnp.ndarray dy, cnp.ndarray x, cnp.ndarray mean, cnp.ndarray rstd,
                        object weight, cnp.ndarray dx, object dweight, object dbias,
                        Py_ssize_t rows, Py_ssize_t cols):
    cdef int err
    cdef void *pdy = _ptr(dy)
    cdef void *px = _ptr(x)
    cdef void *pm = _ptr(mean)
    cdef void *pr = _ptr(rstd)
    cdef void *pw = _ptr(weight)
    cdef void *pdx = _ptr(dx)
    cdef void *pdw = _ptr(dweight)
    cdef void *pdb = _ptr(dbias)
    if _is_f32(x):
        with nogil:
            err = c.gk_layer_norm_backward_f32(<float *>pdy, <float *>px, <float *>pm,
                                               <float *>pr, <float *>pw, <float *>pdx,
                                               <float *>pdw, <float *>pdb, rows, cols)
    else:
        with nogil:
            err = c.gk_layer_norm_backward_f64(<double *>pdy, <double *>px, <double *>pm,
                                               <double *>pr, <double *>pw, <double *>pdx,
                                               <double *>pdw, <double *>pdb, rows, cols)
    _check(err)


def rms_norm(cnp.ndarray x, object weight, cnp.ndarray y, cnp.ndarray rstd,
             Py_ssize_t rows, Py_ssize_t cols, double eps):
    cdef int err
    cdef void *px = _ptr(x)
    cdef void *pw = _ptr(weight)
    cdef void *py = _ptr(y)
    cdef void *pr = _ptr(rstd)
    if _is_f32(x):
        with nogil:
            err = c.gk_rms_norm_f32(<float *>px, <float *>pw, <float *>py, <float *>pr,
                                    rows, cols, eps)
    else:
        with nogil:
            err = c.gk_rms_norm_f64(<double *>px, <double *>pw, <double *>py, <double *>pr,
                                    rows, cols, eps)
    _check(err)


def rms_norm_backward(cnp.ndarray dy, cnp.ndarray x, cnp.ndarray rstd, object weight,
                      cnp.ndarray dx, object dweight, Py_ssize_t rows, Py_ssize_t cols):
    cdef int err
    cdef void *pdy = _ptr(dy)
    cdef void *px = _ptr(x)
    cdef void *pr = _ptr(rstd)
    cdef void *pw = _ptr(weight)
    cdef void *pdx = _ptr(dx)
    cdef void *pdw = _ptr(dweight)
    if _is_f32(x):
        with nogil:
            err = c.gk_rms_norm_backward_f32(<float *>pdy, <float *>px, <float *>pr,
                                             <float *>pw, <float *>pdx, <float *>pdw,
                                             rows, cols)
    else:
        with nogil:
            err = c.gk_rms_norm_backward_f64(<double *>pdy, <double *>px, <double *>pr,
                                             <double *>pw, <double *>pdx, <double *>pdw,
                                             rows, cols)
    _check(err)


def batch_norm(cnp.ndarray x, object weight, object bias, cnp.ndarray y, cnp.ndarray mean,
               cnp.ndarray rstd, object running_mean, object running_var, Py_ssize_t batch,
               Py_ssize_t channels, Py_ssize_t inner, bint training, double momentum,
               double eps):
    cdef int err
    cdef void *px = _ptr(x)
    cdef void *pw = _ptr(weight)
    cdef void *pb = _ptr(bias)
    cdef void *py = _ptr(y)
    cdef void *pm = _ptr(mean)
    cdef void *pr = _ptr(rstd)
    cdef void *prm = _ptr(running_mean)
    cdef void *prv = _ptr(running_var)
    if _is_f32(x):
        with nogil:
            err = c.gk_batch_norm_f32(<float *>px, <float *>pw, <float *>pb, <float *>py,
                                      <float *>pm, <float *>pr, <float *>prm, <float *>prv,
                                      batch, channels, inner, training, momentum, eps)
    else:
        with nogil:
            err = c.gk_batch_norm_f64(<double *>px, <double *>pw, <double *>pb,
                                      <double *>py, <double *>pm, <double *>pr,
                                      <double *>prm, <double *>prv, batch, channels, inner,
                                      training, momentum, eps)
    _check(err)


def batch_norm_backward(cnp.ndarray dy, cnp.ndarray x, cnp.ndarray mean, cnp.ndarray rstd,
                        object weight, cnp.ndarray dx, object dweight, object dbias,
                        Py_ssize_t batch, Py_ssize_t channels, Py_ssize_t inner):
    cdef int err
    cdef void *pdy = _ptr(dy)
    cdef void *px = _ptr(x)
    cdef void *pm = _ptr(mean)
    cdef void *pr = _ptr(rstd)
    cdef void *pw = _ptr(weight)
    cdef void *pdx = _ptr(dx)
    cdef void *pdw = _ptr(dweight)
    cdef void *pdb = _ptr(dbias)
    if _is_f32(x):
        with nogil:
            err = c.gk_batch_norm_backward_f32(<float *>pdy, <float *>px, <float *>pm,
                                               <float *>pr, <float *>pw, <float *>pdx,
                                               <float *>pdw, <float *>pdb, batch, channels,
                                               inner)
    else:
        with nogil:
            err = c.gk_batch_norm_backward_f64(<double *>pdy, <double *>px, <double *>pm,
                                               <double *>pr, <double *>pw, <double *>pdx,
                                               <double *>pdw, <double *>pdb, batch,
                                               channels, inner)
    _check(err)


# ---- fast paths ---------------------------------------------------------------------
# The whole of layer_norm / rms_norm for the common call -- C-contiguous arrays of one
# float dtype with the right shapes, a float eps -- in C, to keep the per-call cost of
# small inputs low.  They return None when anything differs from that; gradkit.norm then
# runs its checked path, which copies what needs copying or raises the proper error.

cdef inline bint _usable(object a, int typenum):
    return (type(a) is cnp.ndarray and cnp.PyArray_TYPE(<cnp.ndarray>a) == typenum
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a))


cdef inline bint _param_ok(object p, cnp.ndarray x, int typenum, int nd):
    """None, or an array of x's trailing nd dims."""
    if p is None:
        return True
    if not _usable(p, typenum) or cnp.PyArray_NDIM(<cnp.ndarray>p) != nd:
        return False
    cdef int k, off = cnp.PyArray_NDIM(x) - nd
    cdef cnp.npy_intp *pd = cnp.PyArray_DIMS(<cnp.ndarray>p)
    cdef cnp.npy_intp *xd = cnp.PyArray_DIMS(x)
    for k in range(nd):
        if pd[k] != xd[off + k]:
            return False
    return True


from gradkit._ext.runtime import empty as _cached_empty


cdef inline object _out_or_new(object out, cnp.ndarray x, int typenum):
    """out if it is a writable C-contiguous array like x, a new array if out is None,
    else None (not the fast path).  Large new outputs come from runtime.empty's cache."""
    if out is None:
        if cnp.PyArray_NBYTES(x) >= (1 << 20):
            return _cached_empty((<object>x).shape, (<object>x).dtype)
        return cnp.PyArray_EMPTY(cnp.PyArray_NDIM(x), cnp.PyArray_DIMS(x), typenum, 0)
    if not _usable(out, typenum) or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out):
        return None
    if cnp.PyArray_NDIM(<cnp.ndarray>out) != cnp.PyArray_NDIM(x):
        return None
    cdef int k
    for k in range(cnp.PyArray_NDIM(x)):
        if cnp.PyArray_DIMS(<cnp.ndarray>out)[k] != cnp.PyArray_DIMS(x)[k]:
            return None
    return out


cdef inline int _fast_split(object x, object normalized_ndim, object eps, int *typenum,
                            int *nd, Py_ssize_t *rows, Py_ssize_t *cols):
    """1 if x, normalized_ndim and eps fit the fast path (and sets the outputs)."""
    if type(x) is not cnp.ndarray or type(normalized_ndim) is not int:
        return 0
    if type(eps) is not float or not (<double>eps >= 0.0) or <double>eps == float("inf"):
        return 0
    cdef cnp.ndarray a = <cnp.ndarray>x
    typenum[0] = cnp.PyArray_TYPE(a)
    if typenum[0] != cnp.NPY_FLOAT32 and typenum[0] != cnp.NPY_FLOAT64:
        return 0
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        return 0
    nd[0] = <int>normalized_ndim
    if nd[0] < 1 or nd[0] > cnp.PyArray_NDIM(a):
        return 0
    cdef int k, off = cnp.PyArray_NDIM(a) - nd[0]
    rows[0] = 1
    cols[0] = 1
    for k in range(off):
        rows[0] *= cnp.PyArray_DIMS(a)[k]
    for k in range(off, cnp.PyArray_NDIM(a)):
        cols[0] *= cnp.PyArray_DIMS(a)[k]
    return 1


def layer_norm_fast(object x, object weight, object bias, object eps, object normalized_ndim,
                    object out):
    """(y, mean, rstd), or None when the call needs the checked path."""
    cdef int typenum = 0, nd = 0, err
    cdef Py_ssize_t rows = 0, cols = 0
    if not _fast_split(x, normalized_ndim, eps, &typenum, &nd, &rows, &cols):
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    if not _param_ok(weight, a, typenum, nd) or not _param_ok(bias, a, typenum, nd):
        return None
    y = _out_or_new(out, a, typenum)
    if y is None:
        return None
    mean = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(a) - nd, cnp.PyArray_DIMS(a), typenum, 0)
    rstd = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(a) - nd, cnp.PyArray_DIMS(a), typenum, 0)
    cdef double e = <double>eps
    cdef void *px = _ptr(a)
    cdef void *pw = _ptr(weight)
    cdef void *pb = _ptr(bias)
    cdef void *py = _ptr(y)
    cdef void *pm = _ptr(mean)
    cdef void *pr = _ptr(rstd)
    if typenum == cnp.NPY_FLOAT32:
        with nogil:
            err = c.gk_layer_norm_f32(<float *>px, <float *>pw, <float *>pb, <float *>py,
                                      <float *>pm, <float *>pr, rows, cols, e)
    else:
        with nogil:
            err = c.gk_layer_norm_f64(<double *>px, <double *>pw, <double *>pb, <double *>py,
                                      <double *>pm, <double *>pr, rows, cols, e)
    _check(err)
    return y, mean, rstd


def rms_norm_fast(object x, object weight, object eps, object normalized_ndim, object out):
    """(y, rstd), or None when the call needs the checked path (eps must be a float)."""
    cdef int typenum = 0, nd = 0, err
    cdef Py_ssize_t rows = 0, cols = 0
    if not _fast_split(x, normalized_ndim, eps, &typenum, &nd, &rows, &cols):
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    if not _param_ok(weight, a, typenum, nd):
        return None
    y = _out_or_new(out, a, typenum)
    if y is None:
        return None
    rstd = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(a) - nd, cnp.PyArray_DIMS(a), typenum, 0)
    cdef double e = <double>eps
    cdef void *px = _ptr(a)
    cdef void *pw = _ptr(weight)
    cdef void *py = _ptr(y)
    cdef void *pr = _ptr(rstd)
    if typenum == cnp.NPY_FLOAT32:
        with nogil:
            err = c.gk_rms_norm_f32(<float *>px, <float *>pw, <float *>py, <float *>pr,
                                    rows, cols, e)
    else:
        with nogil:
            err = c.gk_rms_norm_f64(<double *>px, <double *>pw, <double *>py, <double *>pr,
                                    rows, cols, e)
    _check(err)
    return y, rstd
