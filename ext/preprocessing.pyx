# cython: language_level=3
"""Thin wrappers over the C preprocessing kernels (gradkit._ext.preprocessing).

Callers (gradkit.preprocessing) have validated and allocated everything: data arrays
are 2-D, C-contiguous float32/float64; statistics arrays are C-contiguous float64 of
the right length.  These only pick the dtype and release the GIL around the kernel."""
cimport numpy as cnp
cimport _c_preprocessing as c
# The BLAS scipy links (Fortran interface), handed to the C kernels as pointers.
from scipy.linalg.cython_blas cimport dgemm as _dgemm, dsyrk as _dsyrk

include "_common.pxi"


def col_moments(cnp.ndarray x, cnp.ndarray mean, cnp.ndarray m2):
    """mean[j], m2[j] = column mean and centred sum of squares of x (rows >= 1)."""
    cdef int err
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1]
    cdef void *px = _ptr(x)
    cdef double *pm = <double *>_ptr(mean)
    cdef double *pm2 = <double *>_ptr(m2)
    if _is_f32(x):
        with nogil:
            err = c.gk_col_moments_f32(<float *>px, rows, cols, pm, pm2)
    else:
        with nogil:
            err = c.gk_col_moments_f64(<double *>px, rows, cols, pm, pm2)
    _check(err)


def center(cnp.ndarray x, object mean_in, object mean_out, cnp.ndarray xc):
    """xc = x - mu (double), mu = mean_in or the column mean of x (-> mean_out).
    Returns True if x holds a NaN or an infinity."""
    cdef int err, bad = 0
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1]
    cdef void *px = _ptr(x)
    cdef const double *pmi = <const double *>_ptr(mean_in)
    cdef double *pmo = <double *>_ptr(mean_out)
    cdef double *pxc = <double *>_ptr(xc)
    if _is_f32(x):
        with nogil:
            err = c.gk_center_f32(<float *>px, rows, cols, pmi, pmo, pxc, &bad)
    else:
        with nogil:
            err = c.gk_center_f64(<double *>px, rows, cols, pmi, pmo, pxc, &bad)
    _check(err)
    return bad != 0


def merge_mean_scatter(Py_ssize_t n_a, cnp.ndarray mean_a, object s_a, Py_ssize_t n_b,
                       cnp.ndarray mean_b):
    """Chan's merge of mean_b (count n_b) into mean_a (count n_a) and the between-group
    term into the lower triangle of s_a."""
    cdef int err
    cdef Py_ssize_t cols = mean_a.shape[0]
    cdef double *pa = <double *>_ptr(mean_a)
    cdef double *ps = <double *>_ptr(s_a)
    cdef const double *pb = <const double *>_ptr(mean_b)
    with nogil:
        err = c.gk_merge_mean_scatter(n_a, pa, ps, n_b, pb, cols)
    _check(err)


def standardize(cnp.ndarray x, cnp.ndarray y, object mean, object scale):
    """y = (x - mean) / scale per column (mean, scale float64 or None).  Returns True
    if x holds a NaN or an infinity."""
    cdef int err, bad = 0
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1]
    cdef void *px = _ptr(x)
    cdef void *py = _ptr(y)
    cdef const double *pm = <const double *>_ptr(mean)
    cdef const double *ps = <const double *>_ptr(scale)
    if _is_f32(x):
        with nogil:
            err = c.gk_standardize_f32(<float *>px, <float *>py, rows, cols, pm, ps, &bad)
    else:
        with nogil:
            err = c.gk_standardize_f64(<double *>px, <double *>py, rows, cols, pm, ps, &bad)
    _check(err)
    return bad != 0


def scatter_tasks(Py_ssize_t rows, Py_ssize_t cols):
    """How many fixed tasks scatter() splits rows x cols data into."""
    return c.gk_scatter_tasks(rows, cols)


def scatter(cnp.ndarray x, cnp.ndarray mean, cnp.ndarray s):
    """mean and the centred scatter (lower triangle of s, which must start zeroed or
    hold what its upper triangle should keep) of x's rows, in parallel tasks calling
    BLAS syrk.  Returns True if x holds a NaN or an infinity."""
    cdef int err, bad = 0
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1]
    cdef void *px = _ptr(x)
    cdef double *pm = <double *>_ptr(mean)
    cdef double *ps = <double *>_ptr(s)
    cdef c.gk_dsyrk_fn syrk = <c.gk_dsyrk_fn>_dsyrk
    if _is_f32(x):
        with nogil:
            err = c.gk_scatter_f32(<float *>px, rows, cols, pm, ps, syrk, &bad)
    else:
        with nogil:
            err = c.gk_scatter_f64(<double *>px, rows, cols, pm, ps, syrk, &bad)
    _check(err)
    return bad != 0


def project(cnp.ndarray x, cnp.ndarray mean, cnp.ndarray m, cnp.ndarray y):
    """y = (x - mean) @ m (m: cols x k float64, y: rows x k of x's dtype), chunks in
    parallel calling BLAS gemm.  Returns True if x holds a NaN or an infinity."""
    cdef int err, bad = 0
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1], k = m.shape[1]
    cdef void *px = _ptr(x)
    cdef const double *pmean = <const double *>_ptr(mean)
    cdef const double *pmat = <const double *>_ptr(m)
    cdef void *py = _ptr(y)
    cdef c.gk_dgemm_fn gemm = <c.gk_dgemm_fn>_dgemm
    if _is_f32(x):
        with nogil:
            err = c.gk_project_f32(<float *>px, rows, cols, pmean, pmat, k, <float *>py,
                                   gemm, &bad)
    else:
        with nogil:
            err = c.gk_project_f64(<double *>px, rows, cols, pmean, pmat, k, <double *>py,
                                   gemm, &bad)
    _check(err)
    return bad != 0
