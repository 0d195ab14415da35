r"""The Standardizer's (scikit-learn ``StandardScaler``'s) other paths: column
statistics that ignore NaN and weigh rows, of dense data (in NumPy) or of sparse CSR/CSC
data (a compiled kernel, ``gk_csc_col_moments``), and the column scaling of sparse data.

NaN-free, unweighted dense data never come here: their statistics are one read by the
compiled kernel (``Moments._of``).  Here, with weights :math:`w_i \ge 0` (1 without
``sample_weight``) and the entries that are not NaN, per column :math:`j`

.. math::
    c_j = \sum_{i:\,x_{ij}\ne\mathrm{NaN}} w_i,\quad
    \mu_j = s_j + \tfrac{1}{c_j}\sum_i w_i (x_{ij} - s_j),\quad
    M2_j = \sum_i w_i (x_{ij} - \mu_j)^2 - \tfrac{1}{c_j}\Big(\sum_i w_i (x_{ij} - \mu_j)\Big)^2

(two passes, the second one corrected as in Chan, Golub & LeVeque), where the shift
:math:`s_j` is a value of the column (0 for a sparse column with implicit zeros), so a
constant column gives its value and :math:`M2 = 0` exactly.  Sparse data count their
implicit zeros as entries of value 0
(scikit-learn's ``mean_variance_axis``).  Everything is in float64 and deterministic (no
BLAS: results do not depend on the threads).  A column without entries gets
:math:`c = 0` and, internally, :math:`\mu = M2 = 0`.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _validation as _v
from ._ext import preprocessing as _k

__all__ = ["sample_weight", "dense_moments", "sparse_moments", "scale_sparse",
           "raise_inf", "check_no_inf"]

# rows per NumPy chunk: about 2**18 elements (a few MB of float64 temporaries)
_CHUNK_ELEMENTS = 1 << 18


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


def _finish_mean(count, shift, s1):
    """mean = shift + s1 / count per column (0 where count is 0)."""
    safe = np.where(count > 0, count, 1.0)
    return np.where(count > 0, shift + s1 / safe, 0.0)


def _finish_m2(count, s2, c1):
    """The corrected two-pass M2 = s2 - c1^2 / count, at least 0 (0 where count is 0)."""
    safe = np.where(count > 0, count, 1.0)
    return np.where(count > 0, np.maximum(s2 - c1 * c1 / safe, 0.0), 0.0)


def _row_chunks(rows, cols):
    step = max(1, _CHUNK_ELEMENTS // max(cols, 1))
    return [(r, min(r + step, rows)) for r in range(0, rows, step)]


def _wsum(D, w, E=None):
    """Column sums of D (of D * E when E is given), rows weighted by w when it is not
    None; NumPy's own loops (einsum without BLAS), so the bits do not follow the BLAS
    threads, and no product array is formed."""
    if E is None:
        return D.sum(axis=0) if w is None else np.einsum("i,ij->j", w, D)
    return np.einsum("ij,ij->j", D, E) if w is None else np.einsum("i,ij,ij->j", w, D, E)


def _deviations(X, r0, r1, center):
    """Rows [r0, r1) of X minus `center`, in float64, NaN replaced by 0, and the NaN
    mask."""
    D = np.subtract(X[r0:r1], center, dtype=np.float64)
    nan = np.isnan(D)
    np.copyto(D, 0.0, where=nan)
    return D, nan


def dense_moments(X, w=None):
    """(count, mean, M2) of the columns of X (2-D float, may hold NaN; no infinity),
    NaN ignored, rows weighted by w (float64 (rows,) or None); see the module."""
    rows, cols = X.shape
    chunks = _row_chunks(rows, cols)
    shift = np.full(cols, np.nan)
    for r0, r1 in chunks:            # the shift: each column's first value
        need = np.isnan(shift)
        if not need.any():
            break
        part = X[r0:r1][:, need].astype(np.float64)
        first = np.argmax(~np.isnan(part), axis=0)
        shift[need] = part[first, np.arange(part.shape[1])]
    shift[np.isnan(shift)] = 0.0     # columns without values
    count, s1 = np.zeros(cols), np.zeros(cols)
    for r0, r1 in chunks:
        D, nan = _deviations(X, r0, r1, shift)
        if w is None:
            count += (r1 - r0) - np.count_nonzero(nan, axis=0)
        else:
            count += w[r0:r1].sum() - _wsum(nan, w[r0:r1])
        s1 += _wsum(D, None if w is None else w[r0:r1])
    mean = _finish_mean(count, shift, s1)
    c1, s2 = np.zeros(cols), np.zeros(cols)
    for r0, r1 in chunks:
        D, _ = _deviations(X, r0, r1, mean)
        wc = None if w is None else w[r0:r1]
        c1 += _wsum(D, wc)
        s2 += _wsum(D, wc, D)
    return count, mean, _finish_m2(count, s2, c1)


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
    indices = np.asarray(X.indices, dtype=np.intp) if csr or w is not None else None
    total = float(rows) if w is None else float(w.sum())
    count, mean, m2 = np.empty(cols), np.empty(cols), np.empty(cols)
    _k.sparse_col_moments(csr, np.ascontiguousarray(data),
                          np.ascontiguousarray(X.indptr, dtype=np.intp),
                          None if indices is None else np.ascontiguousarray(indices),
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
