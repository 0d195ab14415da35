# cython: language_level=3
"""Thin wrappers over the C normalization kernels (gradkit._ext.norm).

Callers (gradkit.norm) have validated and allocated everything; these check every array
once more, compiled (_common.pxi: whole dtype, layout, size), pick the kernel by dtype
and release the GIL around it."""
cimport numpy as cnp
cimport _c_norm as c
from cpython.long cimport PyLong_AsLongAndOverflow
from libc.float cimport FLT_EPSILON, DBL_EPSILON
from libc.math cimport INFINITY

include "_common.pxi"
include "_mask.pxi"


cdef inline int _rows_norm_kernel(int dt, const void *px, const void *pw, const void *pb,
                                  void *py, void *pm, void *pr, Py_ssize_t rows,
                                  Py_ssize_t cols, double eps, bint layer) noexcept nogil:
    """LayerNorm (layer) or RMSNorm (pb, pm unused): the status of the C call."""
    if layer:
        return c.gk_layer_norm(dt, px, pw, pb, py, pm, pr, rows, cols, eps)
    return c.gk_rms_norm(dt, px, pw, py, pr, rows, cols, eps)


cdef _rows_norm(object x, object weight, object bias, object y, object mean, object rstd,
                Py_ssize_t rows, Py_ssize_t cols, double eps, bint layer):
    """LayerNorm (layer) or RMSNorm (no bias, no mean) of rows x cols; 16-bit x and y
    with float32 weight, bias and statistics."""
    cdef int dt = _storage_dtype(x, "x"), err
    cdef int pdt = _param_dtype(dt)
    cdef Py_ssize_t n = _prod(rows, cols)
    cdef const void *px = _in(x, dt, "x", n)
    cdef const void *pw = _opt(weight, pdt, "weight", cols)
    cdef const void *pb = _opt(bias, pdt, "bias", cols) if layer else NULL
    cdef void *py = _out(y, dt, "y", n)
    cdef void *pm = _out(mean, pdt, "mean", rows) if layer else NULL
    cdef void *pr = _out(rstd, pdt, "rstd", rows)
    with nogil:
        err = _rows_norm_kernel(dt, px, pw, pb, py, pm, pr, rows, cols, eps, layer)
    _check(err)


cdef _rows_norm_backward(object dy, object x, object mean, object rstd, object weight,
                         object dx, object dweight, object dbias, Py_ssize_t rows,
                         Py_ssize_t cols, bint layer):
    """The backward of _rows_norm (RMSNorm: no mean, no dbias)."""
    cdef int dt = _storage_dtype(x, "x"), err
    cdef int pdt = _param_dtype(dt)
    cdef Py_ssize_t n = _prod(rows, cols)
    cdef const void *pdy = _in(dy, dt, "dy", n)
    cdef const void *px = _in(x, dt, "x", n)
    cdef const void *pm = _in(mean, pdt, "mean", rows) if layer else NULL
    cdef const void *pr = _in(rstd, pdt, "rstd", rows)
    cdef const void *pw = _opt(weight, pdt, "weight", cols)
    cdef void *pdx = _out(dx, dt, "dx", n)
    cdef void *pdw = _out(dweight, pdt, "dweight", cols, True)
    cdef void *pdb = _out(dbias, pdt, "dbias", cols, True) if layer else NULL
    with nogil:
        if layer:
            err = c.gk_layer_norm_backward(dt, pdy, px, pm, pr, pw, pdx, pdw, pdb, rows,
                                           cols)
        else:
            err = c.gk_rms_norm_backward(dt, pdy, px, pr, pw, pdx, pdw, rows, cols)
    _check(err)


def layer_norm(object x, object weight, object bias, object y, object mean, object rstd,
               Py_ssize_t rows, Py_ssize_t cols, double eps):
    _rows_norm(x, weight, bias, y, mean, rstd, rows, cols, eps, True)


def layer_norm_backward(object dy, object x, object mean, object rstd, object weight,
                        object dx, object dweight, object dbias, Py_ssize_t rows,
                        Py_ssize_t cols):
    _rows_norm_backward(dy, x, mean, rstd, weight, dx, dweight, dbias, rows, cols, True)


def rms_norm(object x, object weight, object y, object rstd, Py_ssize_t rows,
             Py_ssize_t cols, double eps):
    _rows_norm(x, weight, None, y, None, rstd, rows, cols, eps, False)


def rms_norm_backward(object dy, object x, object rstd, object weight, object dx,
                      object dweight, Py_ssize_t rows, Py_ssize_t cols):
    _rows_norm_backward(dy, x, None, rstd, weight, dx, dweight, None, rows, cols, False)


def batch_norm(object x, object weight, object bias, object y, object mean, object rstd,
               object running_mean, object running_var, Py_ssize_t batch,
               Py_ssize_t channels, Py_ssize_t inner, bint training, double momentum,
               double eps):
    """16-bit x and y with float32 weight, bias, statistics and running statistics."""
    cdef int dt = _storage_dtype(x, "x"), err
    cdef int pdt = _param_dtype(dt)
    cdef Py_ssize_t n = _prod(_prod(batch, channels), inner)
    cdef const void *px = _in(x, dt, "x", n)
    cdef const void *pw = _opt(weight, pdt, "weight", channels)
    cdef const void *pb = _opt(bias, pdt, "bias", channels)
    cdef void *py = _out(y, dt, "y", n)
    cdef void *pm = _out(mean, pdt, "mean", channels, True)
    cdef void *pr = _out(rstd, pdt, "rstd", channels, True)
    cdef void *prm = _out(running_mean, pdt, "running_mean", channels, True)
    cdef void *prv = _out(running_var, pdt, "running_var", channels, True)
    with nogil:
        err = c.gk_batch_norm(dt, px, pw, pb, py, pm, pr, prm, prv, batch, channels, inner,
                              training, momentum, eps)
    _check(err)


cdef struct _BnGradIn:
    int dt    # of dy, x (16-bit storage too)
    int pdt   # of mean, rstd and the parameters: float32 for 16-bit storage, else dt
    const void *dy
    const void *x
    const void *mean
    const void *rstd


cdef int _bn_grad_inputs(object dy, object x, object mean, object rstd, str rstd_name,
                         Py_ssize_t batch, Py_ssize_t channels, Py_ssize_t inner,
                         _BnGradIn *a) except -1:
    """The arrays every BatchNorm backward reads, checked (dy and x of batch x channels
    x inner, the saved mean and rstd), into a: their pointers and dtype codes."""
    a.dt = _storage_dtype(x, "x")
    a.pdt = _param_dtype(a.dt)
    cdef Py_ssize_t n = _prod(_prod(batch, channels), inner)
    a.dy = _in(dy, a.dt, "dy", n)
    a.x = _in(x, a.dt, "x", n)
    a.mean = _in(mean, a.pdt, "mean", channels)
    a.rstd = _in(rstd, a.pdt, rstd_name, channels)
    return 0


def batch_norm_backward(object dy, object x, object mean, object rstd, object weight,
                        object dx, object dweight, object dbias, Py_ssize_t batch,
                        Py_ssize_t channels, Py_ssize_t inner):
    cdef _BnGradIn a
    _bn_grad_inputs(dy, x, mean, rstd, "rstd", batch, channels, inner, &a)
    cdef int err, dt = a.dt, pdt = a.pdt
    cdef Py_ssize_t n = _prod(_prod(batch, channels), inner)
    cdef const void *pw = _opt(weight, pdt, "weight", channels)
    cdef void *pdx = _out(dx, dt, "dx", n)
    cdef void *pdw = _out(dweight, pdt, "dweight", channels, True)
    cdef void *pdb = _out(dbias, pdt, "dbias", channels, True)
    with nogil:
        err = c.gk_batch_norm_backward(dt, a.dy, a.x, a.mean, a.rstd, pw, pdx, pdw, pdb, batch,
                                       channels, inner)
    _check(err)



# ---- BatchNorm in steps (a synchronized BatchNorm) -----------------------------------
cdef inline double *_f64(object a, str name, Py_ssize_t size, bint writable=False) except? NULL:
    """A float64 array of `size` elements (statistics and sums are float64 whatever the
    data type)."""
    return <double *>_array(a, cnp.NPY_FLOAT64, name, size, writable)


cdef inline int64_t *_counts(object counts, Py_ssize_t parts) except? NULL:
    return <int64_t *>_array(counts, cnp.NPY_INT64, "counts", parts)


def batch_norm_stats(object x, object mean, object m2, Py_ssize_t batch,
                     Py_ssize_t channels, Py_ssize_t inner):
    cdef int dt = _storage_dtype(x, "x"), err
    cdef const void *px = _in(x, dt, "x", _prod(_prod(batch, channels), inner))
    cdef double *pm = _f64(mean, "mean", channels, True)
    cdef double *pq = _f64(m2, "m2", channels, True)
    with nogil:
        err = c.gk_batch_norm_stats(dt, px, pm, pq, batch, channels, inner)
    _check(err)


def batch_norm_merge_stats(object counts, object means, object m2s, object mean,
                           object m2, Py_ssize_t parts, Py_ssize_t channels):
    """The merged count (an int); mean and m2 written."""
    cdef Py_ssize_t n = _prod(parts, channels)
    cdef const int64_t *pc = _counts(counts, parts)
    cdef const double *pms = _f64(means, "means", n)
    cdef const double *pqs = _f64(m2s, "m2s", n)
    cdef double *pm = _f64(mean, "mean", channels, True)
    cdef double *pq = _f64(m2, "m2", channels, True)
    cdef int64_t count = 0
    cdef int err
    with nogil:
        err = c.gk_batch_norm_merge_stats(pc, pms, pqs, parts, channels, &count, pm, pq)
    _check(err)
    return count


def batch_norm_gather_stats(object counts, object means, object m2s, object running_mean,
                            object running_var, object mean, object invstd,
                            Py_ssize_t parts, Py_ssize_t channels, double momentum,
                            double eps):
    """running_mean/running_var: both None or both of one float dtype."""
    cdef int dt = GK_DTYPE_F64 if running_mean is None else _float_dtype(running_mean,
                                                                        "running_mean")
    cdef Py_ssize_t n = _prod(parts, channels)
    cdef const int64_t *pc = _counts(counts, parts)
    cdef const double *pms = _f64(means, "means", n)
    cdef const double *pqs = _f64(m2s, "m2s", n)
    cdef void *prm = _out(running_mean, dt, "running_mean", channels, True)
    cdef void *prv = _out(running_var, dt, "running_var", channels, True)
    cdef double *pm = _f64(mean, "mean", channels, True)
    cdef double *pr = _f64(invstd, "invstd", channels, True)
    cdef int err
    with nogil:
        err = c.gk_batch_norm_gather_stats(dt, pc, pms, pqs, parts, channels, prm, prv,
                                           momentum, eps, pm, pr)
    _check(err)


def batch_norm_elemt(object x, object weight, object bias, object mean, object invstd,
                     object y, Py_ssize_t batch, Py_ssize_t channels, Py_ssize_t inner):
    """16-bit x and y with float32 weight and bias."""
    cdef int dt = _storage_dtype(x, "x"), err
    cdef int pdt = _param_dtype(dt)
    cdef Py_ssize_t n = _prod(_prod(batch, channels), inner)
    cdef const void *px = _in(x, dt, "x", n)
    cdef const void *pw = _opt(weight, pdt, "weight", channels)
    cdef const void *pb = _opt(bias, pdt, "bias", channels)
    cdef const double *pm = _f64(mean, "mean", channels)
    cdef const double *pr = _f64(invstd, "invstd", channels)
    cdef void *py = _out(y, dt, "y", n)
    with nogil:
        err = c.gk_batch_norm_elemt(dt, px, pw, pb, pm, pr, py, batch, channels, inner)
    _check(err)


def batch_norm_backward_reduce(object dy, object x, object mean, object invstd,
                               object dweight, object dbias, object sum_dy,
                               object sum_dy_xmu, Py_ssize_t batch, Py_ssize_t channels,
                               Py_ssize_t inner):
    cdef _BnGradIn a
    _bn_grad_inputs(dy, x, mean, invstd, "invstd", batch, channels, inner, &a)
    cdef int err, dt = a.dt
    cdef void *pdw = _out(dweight, a.pdt, "dweight", channels, True)
    cdef void *pdb = _out(dbias, a.pdt, "dbias", channels, True)
    cdef double *ps = _f64(sum_dy, "sum_dy", channels, True)
    cdef double *psx = _f64(sum_dy_xmu, "sum_dy_xmu", channels, True)
    with nogil:
        err = c.gk_batch_norm_backward_reduce(dt, a.dy, a.x, a.mean, a.rstd, pdw, pdb, ps,
                                              psx, batch, channels, inner)
    _check(err)


def batch_norm_backward_elemt(object dy, object x, object mean, object invstd,
                              object weight, object sum_dy, object sum_dy_xmu,
                              Py_ssize_t count, object dx, Py_ssize_t batch,
                              Py_ssize_t channels, Py_ssize_t inner):
    cdef _BnGradIn a
    _bn_grad_inputs(dy, x, mean, invstd, "invstd", batch, channels, inner, &a)
    cdef int err, dt = a.dt
    cdef Py_ssize_t n = _prod(_prod(batch, channels), inner)
    cdef const void *pw = _opt(weight, a.pdt, "weight", channels)
    cdef const double *ps = _f64(sum_dy, "sum_dy", channels)
    cdef const double *psx = _f64(sum_dy_xmu, "sum_dy_xmu", channels)
    cdef void *pdx = _out(dx, dt, "dx", n)
    with nogil:
        err = c.gk_batch_norm_backward_elemt(dt, a.dy, a.x, a.mean, a.rstd, pw, ps, psx, count, pdx,
                                             batch, channels, inner)
    _check(err)

# ---- fast paths ---------------------------------------------------------------------
# The whole of layer_norm / rms_norm for the common call -- C-contiguous, aligned arrays
# of one float dtype (compared whole: native byte order) with the right shapes, a float
# eps -- in C, to keep the per-call cost of small inputs low.  They skip the Python
# checks only by making these checks compiled: they return None when anything differs
# from that, and gradkit.norm then runs its checked path, which copies what needs
# copying or raises the proper error.

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


cdef object _NOT_FAST = object()


cdef inline bint _two_dtypes(object weight, object bias):
    """weight and bias are arrays of two dtypes (the checked path refuses or converts)."""
    return (type(weight) is cnp.ndarray and type(bias) is cnp.ndarray
            and cnp.PyArray_TYPE(<cnp.ndarray>weight) != cnp.PyArray_TYPE(<cnp.ndarray>bias))


cdef object _widened(object p, cnp.ndarray x, int typenum, int ptyp, int nd):
    """A parameter as the kernel takes it: None, p itself when _param_ok with ptyp, or
    for 16-bit x (ptyp float32) a weight of x's own dtype widened exactly to a new
    float32 array, as the checked path widens it; _NOT_FAST for anything else."""
    if _param_ok(p, x, ptyp, nd):
        return p
    if ptyp != typenum and _param_ok(p, x, typenum, nd):
        return (<object>p).astype(_np_types.float32)
    return _NOT_FAST


cdef tuple _grads_like(object weight, object w_k, object dweight, object dbias):
    """(dweight, dbias) in the dtype the checked path returns them in: the kernel's
    float32 ones, rounded once to a 16-bit weight's dtype when _widened widened it
    (w_k is then not weight)."""
    if w_k is weight:
        return dweight, dbias
    dtp = (<object>weight).dtype
    return dweight.astype(dtp), (dbias.astype(dtp) if dbias is not None else None)


cdef inline int _fast_split(object x, object normalized_ndim, object eps, bint eps_none,
                            int *typenum, int *dt, int *nd, Py_ssize_t *rows,
                            Py_ssize_t *cols, double *e) except -1:
    """1 if x, normalized_ndim and eps fit the fast path (and sets the outputs).  eps
    None is the dtype's machine epsilon when eps_none (rms_norm's default, a TypeError
    of the checked path for layer_norm); normalized_ndim must be an int in [1, x.ndim]
    (a bool, or an int too large for a C long, takes the checked path, which says what
    is wrong with it)."""
    if type(x) is not cnp.ndarray or type(normalized_ndim) is not int:
        return 0
    cdef int overflow = 0
    cdef long v = PyLong_AsLongAndOverflow(normalized_ndim, &overflow)
    if overflow:
        return 0
    cdef cnp.ndarray a = <cnp.ndarray>x
    typenum[0] = _storage_typenum(a, dt)
    if typenum[0] < 0:
        return 0
    if eps is None and eps_none:   # finfo(x.dtype).eps, as the checked path's
        if dt[0] == GK_DTYPE_F16:
            e[0] = 0.0009765625   # 2**-10
        elif dt[0] == GK_DTYPE_BF16:
            e[0] = 0.0078125      # 2**-7 (ml_dtypes.finfo)
        else:
            e[0] = FLT_EPSILON if dt[0] == GK_DTYPE_F32 else DBL_EPSILON
    elif type(eps) is float:
        e[0] = PyFloat_AS_DOUBLE(eps)
        if not (e[0] >= 0.0) or e[0] == INFINITY:
            return 0
    else:
        return 0
    if v < 1 or v > cnp.PyArray_NDIM(a):
        return 0
    nd[0] = <int>v
    cdef int k, off = cnp.PyArray_NDIM(a) - nd[0]
    rows[0] = 1
    cols[0] = 1
    for k in range(off):
        rows[0] *= cnp.PyArray_DIMS(a)[k]
    for k in range(off, cnp.PyArray_NDIM(a)):
        cols[0] *= cnp.PyArray_DIMS(a)[k]
    return 1


# gradkit.norm.NormStats, registered by gradkit.norm at import (set_stats_type): the
# fast paths return (y, NormStats(mean, rstd)) themselves, without a Python-level step.
cdef object _stats_type = tuple
cdef object _tuple_new = tuple.__new__


def set_stats_type(cls):
    """The NamedTuple class the fast paths return the statistics in."""
    global _stats_type
    _stats_type = cls


cdef object _rows_norm_fast(object x, object weight, object bias, object eps,
                            object normalized_ndim, object out, bint layer):
    """LayerNorm (layer: mean and rstd) or RMSNorm (mean None; bias is None) over the
    last normalized_ndim dims: (y, NormStats(mean, rstd)), or None when the call needs
    the checked path.  16-bit x with float32 parameters or parameters of x's dtype,
    widened (statistics float32)."""
    cdef int typenum = 0, dt = 0, nd = 0, err
    cdef Py_ssize_t rows = 0, cols = 0
    cdef double e = 0.0
    if not _fast_split(x, normalized_ndim, eps, not layer, &typenum, &dt, &nd, &rows, &cols,
                       &e):
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    cdef int ptyp = _param_typenum(dt, typenum)
    if _two_dtypes(weight, bias):
        return None   # the checked path's TypeError (or its conversion)
    weight = _widened(weight, a, typenum, ptyp, nd)
    bias = _widened(bias, a, typenum, ptyp, nd)
    if weight is _NOT_FAST or bias is _NOT_FAST:
        return None
    y = _out_or_new(out, a, typenum)
    if y is None:
        return None
    mean = None
    if layer:
        mean = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(a) - nd, cnp.PyArray_DIMS(a), ptyp, 0)
    rstd = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(a) - nd, cnp.PyArray_DIMS(a), ptyp, 0)
    cdef void *px = _ptr(a)
    cdef void *pw = _ptr(weight)
    cdef void *pb = _ptr(bias)
    cdef void *py = _ptr(y)
    cdef void *pm = _ptr(mean)
    cdef void *pr = _ptr(rstd)
    with nogil:
        err = _rows_norm_kernel(dt, px, pw, pb, py, pm, pr, rows, cols, e, layer)
    _check(err)
    return y, _tuple_new(_stats_type, (mean, rstd))


cdef inline bint _stat_ok(object s, cnp.ndarray x, int typenum, int lead):
    """s is a usable array of x's typenum and of x's first `lead` dims."""
    return _usable(s, typenum) and _dims_match(<cnp.ndarray>s, x, lead)


cdef inline bint _like_x(object a, cnp.ndarray x, int typenum):
    """a is a usable array (_usable) of x's typenum and shape."""
    return _stat_ok(a, x, typenum, cnp.PyArray_NDIM(x))


cdef int _backward_call(int kind, int dt, object dy, object x, object mean,
                        object rstd, object weight, object dx, object dweight, object dbias,
                        Py_ssize_t d0, Py_ssize_t d1, Py_ssize_t d2) except -1:
    """The backward kernel of a fast path on arrays it has checked: kind 0 LayerNorm, 1
    RMSNorm (rows d0, cols d1), 2 BatchNorm (batch d0, channels d1, inner d2); dt the
    data's dtype code."""
    cdef int err
    cdef const void *pdy = _ptr(dy)
    cdef const void *px = _ptr(x)
    cdef const void *pm = _ptr(mean)
    cdef const void *pr = _ptr(rstd)
    cdef const void *pw = _ptr(weight)
    cdef void *pdx = _ptr(dx)
    cdef void *pdw = _ptr(dweight)
    cdef void *pdb = _ptr(dbias)
    with nogil:
        if kind == 0:
            err = c.gk_layer_norm_backward(dt, pdy, px, pm, pr, pw, pdx, pdw, pdb, d0, d1)
        elif kind == 1:
            err = c.gk_rms_norm_backward(dt, pdy, px, pr, pw, pdx, pdw, d0, d1)
        else:
            err = c.gk_batch_norm_backward(dt, pdy, px, pm, pr, pw, pdx, pdw, pdb, d0, d1,
                                           d2)
    _check(err)
    return 0


cdef int _stats_lead(object dy, cnp.ndarray x, object stats, int typenum, int ptyp,
                     bint layer):
    """The leading (statistics) dims of a row norm's backward, or -1 when the call needs
    the checked path: dy a usable array like x, stats a pair (mean, rstd) of usable
    arrays of the parameter typenum ptyp and x's leading dims, mean None for RMSNorm,
    at least one normalized dim."""
    if not isinstance(stats, tuple) or len(stats) != 2 or not _like_x(dy, x, typenum):
        return -1
    mean, rstd = stats
    if type(rstd) is not cnp.ndarray:
        return -1
    cdef int lead = cnp.PyArray_NDIM(<cnp.ndarray>rstd)
    if cnp.PyArray_NDIM(x) - lead < 1 or not _stat_ok(rstd, x, ptyp, lead):
        return -1
    if layer:
        if not _stat_ok(mean, x, ptyp, lead):
            return -1
    elif mean is not None:
        return -1
    return lead


cdef int _backward_lead(object dy, object x, object stats, bint layer, int *typenum,
                        int *dt, int *ptyp) except -2:
    """The row norms' backward fast paths' common checks (x's storage type, then
    _stats_lead): the leading dims, or -1 when the call needs the checked path."""
    if type(x) is not cnp.ndarray:
        return -1
    typenum[0] = _storage_typenum(<cnp.ndarray>x, dt)
    if typenum[0] < 0:
        return -1
    ptyp[0] = _param_typenum(dt[0], typenum[0])
    return _stats_lead(dy, <cnp.ndarray>x, stats, typenum[0], ptyp[0], layer)


cdef tuple _param_grads_new(cnp.ndarray x, int lead, int ptyp, object weight, bint bias,
                            Py_ssize_t *rows, Py_ssize_t *cols):
    """New (dweight, dbias) of x's trailing dims in the parameter typenum (None for no
    weight, for bias False), and x's rows and cols split at lead."""
    cdef int k, nd = cnp.PyArray_NDIM(x) - lead
    rows[0] = 1
    cols[0] = 1
    for k in range(lead):
        rows[0] *= cnp.PyArray_DIMS(x)[k]
    for k in range(lead, cnp.PyArray_NDIM(x)):
        cols[0] *= cnp.PyArray_DIMS(x)[k]
    dweight = (cnp.PyArray_EMPTY(nd, cnp.PyArray_DIMS(x) + lead, ptyp, 0)
               if weight is not None else None)
    dbias = cnp.PyArray_EMPTY(nd, cnp.PyArray_DIMS(x) + lead, ptyp, 0) if bias else None
    return dweight, dbias


cdef object _rows_norm_backward_fast(object dy, object x, object stats, object weight,
                                     bint want_bias, object out, bint layer):
    """The backward of _rows_norm_fast for the common call -- dy, x and the statistics
    usable arrays of one float dtype (float32/float64) with the shapes the forward gave,
    weight None or of x's trailing dims, out None or usable and writable like x: (dx,
    dweight, dbias) (LayerNorm) or (dx, dweight) (RMSNorm), or None when the call needs
    the checked path (which says what is wrong, or copies what needs copying).  16-bit
    dy and x with float32 statistics and a float32 weight, or one of x's dtype
    (_widened; its gradients then rounded to that dtype, _grads_like)."""
    cdef int typenum = 0, dt = 0, ptyp = 0
    cdef int lead = _backward_lead(dy, x, stats, layer, &typenum, &dt, &ptyp)
    if lead < 0:
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    mean, rstd = stats
    w_k = _widened(weight, a, typenum, ptyp, cnp.PyArray_NDIM(a) - lead)
    if w_k is _NOT_FAST:
        return None
    dx = _out_or_new(out, a, typenum)
    if dx is None:
        return None
    cdef Py_ssize_t rows = 0, cols = 0
    dweight, dbias = _param_grads_new(a, lead, ptyp, weight, layer and want_bias, &rows,
                                      &cols)
    _backward_call(0 if layer else 1, dt, dy, a, mean, rstd, w_k, dx, dweight,
                   dbias, rows, cols, 1)
    dweight, dbias = _grads_like(weight, w_k, dweight, dbias)
    if layer:
        return dx, dweight, dbias
    return dx, dweight


def layer_norm_backward_fast(object dy, object x, object stats, object weight,
                             object bias, object out):
    """(dx, dweight, dbias), or None when the call needs the checked path (bias: whether
    dbias is wanted, a bool)."""
    if type(bias) is not bool:
        return None
    return _rows_norm_backward_fast(dy, x, stats, weight, bias, out, True)


def rms_norm_backward_fast(object dy, object x, object stats, object weight, object out):
    """(dx, dweight), or None when the call needs the checked path."""
    return _rows_norm_backward_fast(dy, x, stats, weight, False, out, False)


cdef inline bint _channel_ok(object p, int typenum, Py_ssize_t channels, bint writable):
    """None, or a usable 1-d array of `channels` elements (writable if asked)."""
    if p is None:
        return True
    if not _usable(p, typenum) or cnp.PyArray_NDIM(<cnp.ndarray>p) != 1:
        return False
    if cnp.PyArray_DIMS(<cnp.ndarray>p)[0] != channels:
        return False
    return not writable or cnp.PyArray_ISWRITEABLE(<cnp.ndarray>p)


cdef object _widened_channel(object p, int typenum, int ptyp, Py_ssize_t channels):
    """_widened for BatchNorm's (C,) weight and bias."""
    if _channel_ok(p, ptyp, channels, False):
        return p
    if ptyp != typenum and _channel_ok(p, typenum, channels, False):
        return (<object>p).astype(_np_types.float32)
    return _NOT_FAST


cdef inline int _batch_split(object x, int *typenum, int *dt, Py_ssize_t *batch,
                             Py_ssize_t *channels, Py_ssize_t *inner) except -1:
    """1 if x is a usable float32/float64/float16/bfloat16 array of shape (N, C,
    *spatial) (and sets the outputs), else 0."""
    if type(x) is not cnp.ndarray:
        return 0
    cdef cnp.ndarray a = <cnp.ndarray>x
    typenum[0] = _storage_typenum(a, dt)
    if typenum[0] < 0:
        return 0
    if cnp.PyArray_NDIM(a) < 2:
        return 0
    batch[0] = cnp.PyArray_DIMS(a)[0]
    channels[0] = cnp.PyArray_DIMS(a)[1]
    inner[0] = 1
    cdef int k
    for k in range(2, cnp.PyArray_NDIM(a)):
        inner[0] *= cnp.PyArray_DIMS(a)[k]
    return 1


def batch_norm_fast(object x, object weight, object bias, object running_mean,
                    object running_var, object training, object momentum, object eps,
                    object num_batches_tracked, object out):
    """batch_norm's common call whole in compiled code, as layer_norm_fast: x, weight,
    bias, running statistics (both or neither; writable in training) usable arrays of
    one float dtype, training a bool, momentum and eps floats in range,
    num_batches_tracked None or a usable writable 0-d int64 array: (y, NormStats(mean,
    rstd)), or None when the call needs the checked path (which raises what is wrong).
    16-bit x with float32 running statistics and float32 parameters, or parameters of
    x's dtype (widened, _widened_channel); statistics float32."""
    cdef int typenum = 0, dt = 0, err
    cdef Py_ssize_t batch = 0, channels = 0, inner = 0
    if not _batch_split(x, &typenum, &dt, &batch, &channels, &inner):
        return None
    cdef int ptyp = _param_typenum(dt, typenum)
    cdef double m, e
    if type(training) is not bool or not _unit_float(momentum, &m) or type(eps) is not float:
        return None
    cdef bint train = training
    e = PyFloat_AS_DOUBLE(eps)
    if not (0.0 <= e < INFINITY):
        return None
    if (running_mean is None) != (running_var is None) or (running_mean is None and not train):
        return None
    if _two_dtypes(weight, bias):
        return None   # the checked path's TypeError (or its conversion)
    weight = _widened_channel(weight, typenum, ptyp, channels)
    bias = _widened_channel(bias, typenum, ptyp, channels)
    if weight is _NOT_FAST or bias is _NOT_FAST:
        return None
    if not (_channel_ok(running_mean, ptyp, channels, train)
            and _channel_ok(running_var, ptyp, channels, train)):
        return None
    if num_batches_tracked is not None and not (
            _usable(num_batches_tracked, cnp.NPY_INT64)
            and cnp.PyArray_NDIM(<cnp.ndarray>num_batches_tracked) == 0
            and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>num_batches_tracked)):
        return None
    if train and batch * inner == 1:  # the checked path's ValueError
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    y = _out_or_new(out, a, typenum)
    if y is None:
        return None
    cdef cnp.npy_intp dim = channels
    mean = cnp.PyArray_EMPTY(1, &dim, ptyp, 0)
    rstd = cnp.PyArray_EMPTY(1, &dim, ptyp, 0)
    cdef const void *px = _ptr(a)
    cdef const void *pw = _ptr(weight)
    cdef const void *pb = _ptr(bias)
    cdef void *py = _ptr(y)
    cdef void *pm = _ptr(mean)
    cdef void *pr = _ptr(rstd)
    cdef void *prm = _ptr(running_mean)
    cdef void *prv = _ptr(running_var)
    with nogil:
        err = c.gk_batch_norm(dt, px, pw, pb, py, pm, pr, prm, prv, batch, channels, inner,
                              train, m, e)
    _check(err)
    if train and num_batches_tracked is not None:
        (<int64_t *>cnp.PyArray_DATA(<cnp.ndarray>num_batches_tracked))[0] += 1
    return y, _tuple_new(_stats_type, (mean, rstd))


def batch_norm_backward_fast(object dy, object x, object stats, object weight, object bias,
                             object out):
    """batch_norm_backward's common call whole in compiled code: dy and x usable arrays
    of one float dtype and shape (N, C, *spatial), the forward's statistics, weight None
    or (C,), bias a bool: (dx, dweight, dbias), or None for the checked path.  16-bit
    dy and x with float32 statistics and a float32 weight, or one of x's dtype (its
    gradients then rounded to that dtype, _grads_like)."""
    cdef int typenum = 0, dt = 0
    cdef Py_ssize_t batch = 0, channels = 0, inner = 0
    if not _batch_split(x, &typenum, &dt, &batch, &channels, &inner) or type(bias) is not bool:
        return None
    cdef int ptyp = _param_typenum(dt, typenum)
    if not isinstance(stats, tuple) or len(stats) != 2:
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    mean, rstd = stats
    if not _like_x(dy, a, typenum) or mean is None or rstd is None:
        return None
    if not (_channel_ok(mean, ptyp, channels, False)
            and _channel_ok(rstd, ptyp, channels, False)):
        return None
    w_k = _widened_channel(weight, typenum, ptyp, channels)
    if w_k is _NOT_FAST:
        return None
    dx = _out_or_new(out, a, typenum)
    if dx is None:
        return None
    cdef cnp.npy_intp dim = channels
    dweight = cnp.PyArray_EMPTY(1, &dim, ptyp, 0) if weight is not None else None
    dbias = cnp.PyArray_EMPTY(1, &dim, ptyp, 0) if bias else None
    _backward_call(2, dt, dy, a, mean, rstd, w_k, dx, dweight, dbias, batch,
                   channels, inner)
    dweight, dbias = _grads_like(weight, w_k, dweight, dbias)
    return dx, dweight, dbias


def layer_norm_fast(object x, object weight, object bias, object eps, object normalized_ndim,
                    object out):
    """(y, NormStats(mean, rstd)), or None when the call needs the checked path."""
    return _rows_norm_fast(x, weight, bias, eps, normalized_ndim, out, True)


def rms_norm_fast(object x, object weight, object eps, object normalized_ndim, object out):
    """(y, NormStats(None, rstd)), or None when the call needs the checked path (eps a
    float, or None for the dtype's epsilon)."""
    return _rows_norm_fast(x, weight, None, eps, normalized_ndim, out, False)


cdef int _fused_fwd_call(bint layer, int dt, const void *px, const void *pr,
                         const void *pw, const void *pb, void *py, void *ps, void *pm,
                         void *prs, unsigned char *pbits, Py_ssize_t rows, Py_ssize_t cols,
                         double eps, double p, unsigned long long seed,
                         unsigned long long counter) except -1:
    """The fused forward's kernel (LayerNorm, or RMSNorm: no bias, no mean) on pointers
    its caller has checked, the GIL released."""
    cdef int err
    with nogil:
        if layer:
            err = c.gk_add_dropout_layer_norm(dt, px, pr, pw, pb, py, ps, pm, prs, pbits,
                                              rows, cols, eps, p, seed, counter)
        else:
            err = c.gk_add_dropout_rms_norm(dt, px, pr, pw, py, ps, prs, pbits, rows, cols,
                                            eps, p, seed, counter)
    return _check(err)


cdef int _fused_bwd_call(bint layer, int dt, const void *pdy, const void *pdsn,
                         const void *ps, const void *pm, const void *pr, const void *pw,
                         const unsigned char *pbits, void *pdx, void *pdr, void *pdw,
                         void *pdb, Py_ssize_t rows, Py_ssize_t cols, double p,
                         unsigned long long seed, unsigned long long counter) except -1:
    """The fused backward's kernel on pointers its caller has checked (bits NULL: the
    mask from (seed, counter))."""
    cdef int err
    with nogil:
        if layer:
            err = c.gk_add_dropout_layer_norm_backward(dt, pdy, pdsn, ps, pm, pr, pw,
                                                       pbits, pdx, pdr, pdw, pdb, rows,
                                                       cols, p, seed, counter)
        else:
            err = c.gk_add_dropout_rms_norm_backward(dt, pdy, pdsn, ps, pr, pw, pbits, pdx,
                                                     pdr, pdw, rows, cols, p, seed,
                                                     counter)
    return _check(err)


def add_dropout_norm(object x, object residual, object weight, object bias, object y,
                     object s, object mean, object rstd, object bits, Py_ssize_t rows,
                     Py_ssize_t cols, double eps, double p, unsigned long long seed,
                     unsigned long long counter, bint layer):
    """s = residual + dropout(x), y = LayerNorm (layer) or RMSNorm (no bias, no mean)
    of s, in one pass; bits None (not stored) or uint8 of ceil(rows * cols / 8).  16-bit
    data arrays with float32 weight, bias and statistics."""
    cdef int dt = _storage_dtype(x, "x")
    cdef int pdt = _param_dtype(dt)
    cdef Py_ssize_t n = _prod(rows, cols)
    cdef const void *px = _in(x, dt, "x", n)
    cdef const void *pr = _in(residual, dt, "residual", n)
    cdef const void *pw = _opt(weight, pdt, "weight", cols)
    cdef const void *pb = _opt(bias, pdt, "bias", cols) if layer else NULL
    cdef void *py = _out(y, dt, "y", n)
    cdef void *ps = _out(s, dt, "residual_out", n)
    cdef void *pm = _out(mean, pdt, "mean", rows) if layer else NULL
    cdef void *prs = _out(rstd, pdt, "rstd", rows)
    cdef unsigned char *pbits = <unsigned char *>_array(
        bits, cnp.NPY_UINT8, "bits", (n + 7) // 8 if n >= 0 else -1, True, True)
    _fused_fwd_call(layer, dt, px, pr, pw, pb, py, ps, pm, prs, pbits, rows, cols, eps, p,
                    seed, counter)


def add_dropout_norm_backward(object dy, object ds_next, object s, object mean,
                              object rstd, object weight, object bits, object dx,
                              object dres, object dweight, object dbias, Py_ssize_t rows,
                              Py_ssize_t cols, double p, unsigned long long seed,
                              unsigned long long counter, bint layer):
    """The backward of add_dropout_norm (bits None: the mask from (seed, counter))."""
    cdef int dt = _storage_dtype(s, "residual_out")
    cdef int pdt = _param_dtype(dt)
    cdef Py_ssize_t n = _prod(rows, cols)
    cdef const void *pdy = _in(dy, dt, "dy", n)
    cdef const void *pdsn = _opt(ds_next, dt, "dresidual_out", n)
    cdef const void *ps = _in(s, dt, "residual_out", n)
    cdef const void *pm = _in(mean, pdt, "mean", rows) if layer else NULL
    cdef const void *pr = _in(rstd, pdt, "rstd", rows)
    cdef const void *pw = _opt(weight, pdt, "weight", cols)
    cdef const unsigned char *pbits = <const unsigned char *>_array(
        bits, cnp.NPY_UINT8, "bits", (n + 7) // 8 if n >= 0 else -1, False, True)
    cdef void *pdx = _out(dx, dt, "dx", n)
    cdef void *pdr = _out(dres, dt, "dresidual", n)
    cdef void *pdw = _out(dweight, pdt, "dweight", cols, True)
    cdef void *pdb = _out(dbias, pdt, "dbias", cols, True) if layer else NULL
    _fused_bwd_call(layer, dt, pdy, pdsn, ps, pm, pr, pw, pbits, pdx, pdr, pdw, pdb, rows,
                    cols, p, seed, counter)


# The fused residual add + dropout + norm for the common call, in C as the row norms'
# fast paths above (their checks, compiled): None whenever the call needs gradkit.norm's
# checked path, which says what is wrong or copies what needs copying.

def add_dropout_norm_fast(object x, object residual, object weight, object bias, object p,
                          object eps, object training, object rng, object normalized_ndim,
                          object store_mask, bint layer):
    """(y, residual_out, mask, NormStats) of add_dropout_layer_norm (layer) or
    add_dropout_rms_norm (bias None) for the common call -- x and residual usable arrays
    of one dtype and shape, p a float in [0, 1], training and store_mask bools, eps and
    normalized_ndim as the row norms' fast paths take them, weight and bias as theirs --
    or None (nothing drawn).  With dropout the generator rng means (gradkit.random's
    as_generator, after every other check, as the checked path calls it) advances by
    x.size."""
    cdef double pv
    if (_mask_type is None or not _unit_float(p, &pv) or type(training) is not bool
            or type(store_mask) is not bool):
        return None
    cdef int typenum = 0, dt = 0, nd = 0
    cdef Py_ssize_t rows = 0, cols = 0
    cdef double e = 0.0
    if not _fast_split(x, normalized_ndim, eps, not layer, &typenum, &dt, &nd, &rows, &cols,
                       &e):
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    if not _like_x(residual, a, typenum) or _two_dtypes(weight, bias):
        return None
    cdef int ptyp = _param_typenum(dt, typenum)
    weight = _widened(weight, a, typenum, ptyp, nd)
    bias = _widened(bias, a, typenum, ptyp, nd)
    if weight is _NOT_FAST or bias is _NOT_FAST:
        return None
    cdef bint drop = training and pv > 0.0
    gen = _as_generator(rng) if drop else None
    y = _out_or_new(None, a, typenum)
    s = _out_or_new(None, a, typenum)
    mean = None
    if layer:
        mean = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(a) - nd, cnp.PyArray_DIMS(a), ptyp, 0)
    rstd = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(a) - nd, cnp.PyArray_DIMS(a), ptyp, 0)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
    cdef cnp.npy_intp nb = _nbytes(n)
    bits = cnp.PyArray_EMPTY(1, &nb, cnp.NPY_UINT8, 0) if drop and store_mask else None
    seed = counter = 0
    if drop:  # the generator advances last: nothing above may fail after it
        seed = gen.seed
        counter = gen._take(n)
    cdef unsigned long long key = seed, word = counter
    cdef double pk = pv if drop else 0.0
    cdef const void *px = _ptr(a)
    cdef const void *pr = _ptr(residual)
    cdef const void *pw = _ptr(weight)
    cdef const void *pb = _ptr(bias)
    cdef void *py = _ptr(y)
    cdef void *ps = _ptr(s)
    cdef void *pm = _ptr(mean)
    cdef void *prs = _ptr(rstd)
    cdef unsigned char *pbits = <unsigned char *>_ptr(bits)
    _fused_fwd_call(layer, dt, px, pr, pw, pb, py, ps, pm, prs, pbits, rows, cols, e, pk,
                    key, word)
    mask = _new_mask((<object>a).shape, p, seed, counter, bits) if drop else None
    return y, s, mask, _tuple_new(_stats_type, (mean, rstd))


def add_dropout_norm_backward_fast(object dy, object s, object stats, object mask,
                                   object weight, object bias, object ds_next, bint layer):
    """(dx, dresidual, dweight, dbias) of add_dropout_layer_norm_backward (layer; bias:
    whether dbias is wanted, a bool) or (dx, dresidual, dweight) of
    add_dropout_rms_norm_backward for the common call -- dy, s and the statistics as
    the row norms' backward fast path takes dy, x and them, mask None or a plain
    DropoutMask of s's shape (_mask_fields), ds_next None or a usable array like s --
    or None."""
    if layer and type(bias) is not bool:
        return None
    cdef int typenum = 0, dt = 0, ptyp = 0
    cdef int lead = _backward_lead(dy, s, stats, layer, &typenum, &dt, &ptyp)
    if lead < 0:
        return None
    cdef cnp.ndarray a = <cnp.ndarray>s
    if ds_next is not None and not _like_x(ds_next, a, typenum):
        return None
    p, seed, counter, bits = 0.0, 0, 0, None
    if mask is not None:
        fields = _mask_fields(mask, a)
        if fields is None:
            return None
        p, seed, counter, bits = fields
    w_k = _widened(weight, a, typenum, ptyp, cnp.PyArray_NDIM(a) - lead)
    if w_k is _NOT_FAST:
        return None
    mean, rstd = stats
    dx = _out_or_new(None, a, typenum)
    dres = _out_or_new(None, a, typenum)
    cdef Py_ssize_t rows = 0, cols = 0
    dweight, dbias = _param_grads_new(a, lead, ptyp, weight, layer and bias, &rows, &cols)
    cdef double pv = PyFloat_AS_DOUBLE(p)
    cdef unsigned long long key = seed, word = counter
    cdef const void *pdy = _ptr(dy)
    cdef const void *pdsn = _ptr(ds_next)
    cdef const void *ps = _ptr(a)
    cdef const void *pm = _ptr(mean)
    cdef const void *pr = _ptr(rstd)
    cdef const void *pw = _ptr(w_k)
    cdef const unsigned char *pbits = <const unsigned char *>_ptr(bits)
    cdef void *pdx = _ptr(dx)
    cdef void *pdr = _ptr(dres)
    cdef void *pdw = _ptr(dweight)
    cdef void *pdb = _ptr(dbias)
    _fused_bwd_call(layer, dt, pdy, pdsn, ps, pm, pr, pw, pbits, pdx, pdr, pdw, pdb, rows,
                    cols, pv, key, word)
    dweight, dbias = _grads_like(weight, w_k, dweight, dbias)
    if layer:
        return dx, dres, dweight, dbias
    return dx, dres, dweight
