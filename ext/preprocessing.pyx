# cython: language_level=3
"""Thin wrappers over the C preprocessing kernels (gradkit._ext.preprocessing).

Callers (gradkit.preprocessing) have validated and allocated everything: data arrays
2-D float32/float64, statistics arrays float64 of the right length.  These check every
array once more, compiled (_common.pxi), pick the kernel by dtype and release the GIL
around it."""
cimport numpy as cnp
cimport _c_preprocessing as c
from libc.stdint cimport int32_t

include "_common.pxi"
include "_blas.pxi"


cdef inline double *_f64(object a, str name, Py_ssize_t size, bint writable=False,
                         bint optional=False) except? NULL:
    return <double *>_array(a, cnp.NPY_FLOAT64, name, size, writable, optional)


def col_moments(object x, object mean, object m2):
    """mean[j], m2[j] = column mean and centred sum of squares of x (rows >= 1)."""
    cdef Py_ssize_t rows = 0, cols = 0
    _dims2(x, "x", &rows, &cols)
    cdef int dt = _float_dtype(x, "x"), err
    cdef const void *px = _in(x, dt, "x", rows * cols)
    cdef double *pm = _f64(mean, "mean", cols, True)
    cdef double *pm2 = _f64(m2, "m2", cols, True)
    with nogil:
        err = c.gk_col_moments(dt, px, rows, cols, pm, pm2)
    _check(err)


def center(object x, object mean_in, object mean_out, object xc):
    """xc = x - mu (double), mu = mean_in or the column mean of x (-> mean_out).
    Returns True if x holds a NaN or an infinity."""
    cdef Py_ssize_t rows = 0, cols = 0
    _dims2(x, "x", &rows, &cols)
    cdef int dt = _float_dtype(x, "x"), err, bad = 0
    cdef const void *px = _in(x, dt, "x", rows * cols)
    cdef const double *pmi = _f64(mean_in, "mean_in", cols, False, True)
    cdef double *pmo = _f64(mean_out, "mean_out", cols, True, True)
    cdef double *pxc = _f64(xc, "xc", rows * cols, True)
    with nogil:
        err = c.gk_center(dt, px, rows, cols, pmi, pmo, pxc, &bad)
    _check(err)
    return bad != 0


def merge_mean_scatter(Py_ssize_t n_a, object mean_a, object s_a, Py_ssize_t n_b,
                       object mean_b):
    """Chan's merge of mean_b (count n_b) into mean_a (count n_a) and the between-group
    term into the lower triangle of s_a."""
    cdef int err
    cdef Py_ssize_t cols = cnp.PyArray_SIZE(<cnp.ndarray>mean_a) \
        if isinstance(mean_a, cnp.ndarray) else 0
    cdef double *pa = _f64(mean_a, "mean_a", cols, True)
    cdef double *ps = _f64(s_a, "s_a", _prod(cols, cols), True, True)
    cdef const double *pb = _f64(mean_b, "mean_b", cols)
    with nogil:
        err = c.gk_merge_mean_scatter(n_a, pa, ps, n_b, pb, cols)
    _check(err)


def standardize(object x, object y, object mean, object scale):
    """y = (x - mean) / scale per column (mean, scale float64 or None).  Returns True
    if x holds a NaN or an infinity."""
    cdef Py_ssize_t rows = 0, cols = 0
    _dims2(x, "x", &rows, &cols)
    cdef int dt = _float_dtype(x, "x"), err, bad = 0
    cdef const void *px = _in_bytes(x, dt, "x", rows * cols)
    cdef void *py = _out(y, dt, "y", rows * cols)
    cdef const double *pm = _f64(mean, "mean", cols, False, True)
    cdef const double *ps = _f64(scale, "scale", cols, False, True)
    with nogil:
        err = c.gk_standardize(dt, px, py, rows, cols, pm, ps, &bad)
    _check(err)
    return bad != 0


def col_moments_weighted(object x, object w, object count, object mean, object m2):
    """count[j], mean[j], m2[j] of the columns of x (rows >= 0), NaN values left out,
    rows weighted by w (float64 (rows,) or None)."""
    cdef Py_ssize_t rows = 0, cols = 0
    _dims2(x, "x", &rows, &cols)
    cdef int dt = _float_dtype(x, "x"), err
    cdef const void *px = _in(x, dt, "x", rows * cols)
    cdef const double *pw = _f64(w, "w", rows, False, True)
    cdef double *pc = _f64(count, "count", cols, True)
    cdef double *pm = _f64(mean, "mean", cols, True)
    cdef double *pm2 = _f64(m2, "m2", cols, True)
    with nogil:
        err = c.gk_col_moments_weighted(dt, px, rows, cols, pw, pc, pm, pm2)
    _check(err)


def sparse_col_moments(bint csr, object data, object indptr, object indices, object w,
                       Py_ssize_t rows, double total, object count, object mean,
                       object m2):
    """count[j], mean[j], m2[j] of the columns of a compressed-row (csr) or
    compressed-column matrix: data float32/float64, indptr and indices both intp or
    both int32 (scipy's own: read as they are; indices may be None for a
    compressed-column matrix without w), w float64 per row or None; NaN ignored,
    implicit zeros counted, total = the rows' weight."""
    cdef Py_ssize_t cols = cnp.PyArray_SIZE(<cnp.ndarray>count) \
        if isinstance(count, cnp.ndarray) else 0
    cdef Py_ssize_t lines = rows if csr else cols
    cdef bint i32 = isinstance(indptr, cnp.ndarray) and _has_type(<cnp.ndarray>indptr,
                                                                  cnp.NPY_INT32)
    cdef int ityp = cnp.NPY_INT32 if i32 else cnp.NPY_INTP
    cdef const void *pp = _array(indptr, ityp, "indptr", lines + 1)
    cdef Py_ssize_t nnz = (<const int32_t *>pp)[lines] if i32 else \
        (<const gk_index *>pp)[lines]
    cdef const void *pi = _array(indices, ityp, "indices", nnz, False, not csr)
    cdef int dt = _float_dtype(data, "data"), err
    cdef const void *pd = _in(data, dt, "data", nnz)
    cdef const double *pw = _f64(w, "w", rows, False, True)
    cdef double *pc = _f64(count, "count", cols, True)
    cdef double *pm = _f64(mean, "mean", cols, True)
    cdef double *pm2 = _f64(m2, "m2", cols, True)
    with nogil:
        if csr and i32:
            err = c.gk_csr_col_moments_i32(dt, pd, <const int32_t *>pp, <const int32_t *>pi,
                                           pw, rows, cols, total, pc, pm, pm2)
        elif csr:
            err = c.gk_csr_col_moments(dt, pd, <const gk_index *>pp, <const gk_index *>pi,
                                       pw, rows, cols, total, pc, pm, pm2)
        elif i32:
            err = c.gk_csc_col_moments_i32(dt, pd, <const int32_t *>pp, <const int32_t *>pi,
                                           pw, rows, cols, total, pc, pm, pm2)
        else:
            err = c.gk_csc_col_moments(dt, pd, <const gk_index *>pp, <const gk_index *>pi,
                                       pw, rows, cols, total, pc, pm, pm2)
    _check(err)


def scatter_tasks(Py_ssize_t rows, Py_ssize_t cols):
    """How many fixed tasks scatter() splits rows x cols data into."""
    return c.gk_scatter_tasks(rows, cols)


def scatter(object x, object mean, object s):
    """mean and the centred scatter (lower triangle of s; its upper triangle is kept) of
    x's rows, in parallel tasks calling BLAS syrk of x's type.  Returns True if x holds a NaN or an infinity."""
    cdef Py_ssize_t rows = 0, cols = 0
    _dims2(x, "x", &rows, &cols)
    cdef int dt = _float_dtype(x, "x"), err, bad = 0
    cdef const void *px = _in(x, dt, "x", rows * cols)
    cdef double *pm = _f64(mean, "mean", cols, True)
    cdef double *ps = _f64(s, "s", _prod(cols, cols), True)
    with nogil:
        err = c.gk_scatter(dt, px, rows, cols, pm, ps, &_BLAS, &bad)
    _check(err)
    return bad != 0


cdef object _projection(object x, object mean, object m, object y, bint transposed):
    """The shared marshalling of project / project_t (m has x's rows when transposed,
    else x's columns)."""
    cdef Py_ssize_t rows = 0, cols = 0, mrows = 0, k = 0
    _dims2(x, "x", &rows, &cols)
    _dims2(m, "m", &mrows, &k)
    cdef Py_ssize_t want = rows if transposed else cols
    if mrows != want:
        raise ValueError(f"m has {mrows} rows, expected {want} (the "
                         f"{'rows' if transposed else 'columns'} of x)")
    cdef int dt = _float_dtype(x, "x"), err, bad = 0
    cdef const void *px = _in_bytes(x, dt, "x", rows * cols)
    cdef const double *pmean = _f64(mean, "mean", cols)
    cdef const void *pmat = _in(m, dt, "m", _prod(mrows, k))
    cdef void *py = _out(y, dt, "y", _prod(cols if transposed else rows, k))
    with nogil:
        if transposed:
            err = c.gk_project_t(dt, px, rows, cols, pmean, pmat, k, py, &_BLAS, &bad)
        else:
            err = c.gk_project(dt, px, rows, cols, pmean, pmat, k, py, &_BLAS, &bad)
    _check(err)
    return bad != 0


def project(object x, object mean, object m, object y):
    """y = (x - mean) @ m (m: cols x k, y: rows x k, both of x's dtype), chunks in
    parallel calling BLAS gemm of that type.  Returns True if x holds a NaN or an infinity."""
    return _projection(x, mean, m, y, False)


def project_t(object x, object mean, object m, object y):
    """y = (x - mean)^T @ m (m: rows x k, y: cols x k, both of x's dtype): fixed tasks
    of row chunks in parallel calling BLAS gemm of that type, summed in task order.
    Returns True if x holds a NaN or an infinity."""
    return _projection(x, mean, m, y, True)
