r"""The Standardizer's (scikit-learn ``StandardScaler``'s) other paths: column
statistics that ignore NaN and weigh rows, of dense data (``gk_col_moments_weighted``)
or of sparse CSR/CSC data (``gk_csr_col_moments``, ``gk_csc_col_moments``), and the
column scaling of sparse data.

NaN-free, unweighted dense data never come here: their statistics are one read by the
compiled kernel (``Moments._of``).  Here, with weights :math:`w_i \ge 0` (1 without
``sample_weight``) and the entries that are not NaN, per column :math:`j`

.. math::
    c_j = \sum_{i:\,x_{ij}\ne\mathrm{NaN}} w_i,\quad
    \mu_j = s_j + \tfrac{1}{c_j}\sum_i w_i (x_{ij} - s_j),\quad
    M2_j = \sum_i w_i (x_{ij} - \mu_j)^2 - \tfrac{1}{c_j}\Big(\sum_i w_i (x_{ij} - \mu_j)\Big)^2

(two passes, the second one corrected as in Chan, Golub & LeVeque; the dense kernel
centres each cache-sized row chunk on its own mean and merges the chunks with Chan's
update), where the shift :math:`s_j` is a value of the column (0 for a sparse column
with implicit zeros), so a constant column gives its value and :math:`M2 = 0` exactly.
Sparse data count their implicit zeros as entries of value 0 (scikit-learn's
``mean_variance_axis``).  Everything is in float64 and deterministic (fixed blocks merged
in a fixed order: results do not depend on the threads).  A column without entries gets
:math:`c = 0` and, internally, :math:`\mu = M2 = 0`.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _validation as _v
from ._ext import preprocessing as _k

__all__ = ["sample_weight", "dense_moments", "sparse_moments", "scale_sparse",
           "raise_inf", "check_no_inf"]


def raise_inf(name="X", dtype=np.float64):
    """scikit-learn's error for infinity (NaN is allowed: ``allow-nan``)."""
    raise ValueError(f"Input {name} contains infinity or a value too large for "
                     f"{np.dtype(dtype)!r}.")


def check_no_inf(values, name="X"):
    """ValueError if `values` (an ndarray) holds +-inf; NaN passes."""
    if values.size and np.isinf(values).any():
        raise_inf(name, values.dtype)


def sample_weight(w, n_rows):
    """`w` as float64 weights of the rows (None stays None), scikit-learn's checks:
    a number is every row's weight, an array must be (n_rows,); NaN and infinity
    rejected, and all-zero weights.  Unlike scikit-learn, negative weights are rejected
    too: the weights are frequency weights (a count of each row), and a negative one
    could make a variance negative."""
    if w is None:
        return None
    if isinstance(w, numbers.Number) and not isinstance(w, bool):
        w = np.full(n_rows, w, dtype=np.float64)
    else:
        w = _v.real_array(w, "sample_weight").astype(np.float64)
        if w.ndim != 1:
            raise ValueError(f"Sample weights must be 1D array or scalar, got {w.ndim}D "
                             f"array. Expected either a scalar value or a 1D array of "
                             f"length {n_rows}.")
        if w.shape != (n_rows,):
            raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n_rows,)}!")
    if not np.isfinite(w).all():
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if (w < 0).any():
        raise ValueError("sample_weight must be >= 0 (frequency weights)")
    if n_rows and not w.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return w


def dense_moments(X, w=None):
    """(count, mean, M2) of the columns of X (2-D float32/float64, C-contiguous, may hold
    NaN; no infinity), NaN ignored, rows weighted by w (float64 (rows,) or None): the
    compiled kernel (``gk_col_moments_weighted``); see the module."""
    rows, cols = X.shape
    count, mean, m2 = np.empty(cols), np.empty(cols), np.empty(cols)
    _k.col_moments_weighted(X, None if w is None else np.ascontiguousarray(w, np.float64),
                            count, mean, m2)
    return count, mean, m2


# ---- sparse ---------------------------------------------------------------------------

def _entry_columns(X):
    """The column of every stored entry of a CSR/CSC X, as intp (a gather by scipy's
    int32 indices converts them first: twice as slow)."""
    if X.format == "csr":
        return X.indices.astype(np.intp)
    return np.repeat(np.arange(X.shape[1]), np.diff(X.indptr))


def sparse_moments(X, w=None):
    """(count, mean, M2) of the columns of a CSR/CSC X, implicit zeros counted as 0,
    NaN ignored, rows weighted by w; see the module.  The compiled kernels
    (``gk_csr_col_moments``, ``gk_csc_col_moments``) read X in its own format; any
    other sparse format is read as CSR.  Duplicate entries are summed first (on a
    copy), as scipy reads them."""
    if X.format not in ("csr", "csc"):
        X = X.tocsr()
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    rows, cols = X.shape
    csr = X.format == "csr"
    data = X.data
    if data.dtype not in (_v.FLOAT32, _v.FLOAT64):
        data = data.astype(np.float64)
    # scipy's int32 indices are read as they are (the kernel has an int32 form); any
    # other index dtype is converted to intp, both arrays alike
    idx = np.int32 if X.indptr.dtype == np.int32 and X.indices.dtype == np.int32 \
        else np.intp
    indices = X.indices if csr or w is not None else None
    total = float(rows) if w is None else float(w.sum())
    count, mean, m2 = np.empty(cols), np.empty(cols), np.empty(cols)
    _k.sparse_col_moments(csr, np.ascontiguousarray(data),
                          np.ascontiguousarray(X.indptr, dtype=idx),
                          None if indices is None else np.ascontiguousarray(indices, idx),
                          None if w is None else np.ascontiguousarray(w, np.float64),
                          rows, total, count, mean, m2)
    return count, mean, m2


def scale_sparse(X, factor, *, inverse, inplace):
    """X's stored values divided (multiplied when `inverse`) by factor[column], in
    float64, rounded once to X's dtype: into X itself when `inplace`, else into a copy
    of the same format."""
    col = _entry_columns(X)
    vals = X.data.astype(np.float64)
    vals = vals * factor[col] if inverse else vals / factor[col]
    Y = X if inplace else X.copy()
    Y.data[...] = vals
    return Y
