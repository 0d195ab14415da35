r"""The Standardizer's (scikit-learn ``StandardScaler``'s) slower paths, in NumPy:
column statistics that ignore NaN and weigh rows, of dense or sparse (CSR/CSC) data, and
the column scaling of sparse data.

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

__all__ = ["sample_weight", "dense_moments", "sparse_moments", "is_sparse", "as_sparse",
           "scale_sparse", "raise_inf", "check_no_inf"]

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

def is_sparse(X):
    """Whether X is a scipy.sparse matrix or array (without importing scipy.sparse)."""
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def as_sparse(X, who):
    """X as CSR or CSC (other formats -> CSR, as scikit-learn converts them) of float32
    or float64 data (other reals -> float64; scipy.sparse has no float16), 2-D, at least
    1 row and 1 column: X itself when it is all that already."""
    fmt = getattr(X, "format", None)
    Y = X if fmt in ("csr", "csc") else X.tocsr()
    dt = _v.estimator_dtype(Y.dtype)
    if Y.dtype != dt:
        Y = Y.astype(dt)
    _v.check_2d_shape(Y.shape, who)
    return Y


def _entry_columns(X):
    """The column of every stored entry of a CSR/CSC X (and the row), as intp: scipy's
    int32 indices would be converted by every bincount and gather (twice as slow)."""
    major = np.repeat(np.arange(len(X.indptr) - 1), np.diff(X.indptr))
    minor = X.indices.astype(np.intp)
    return (minor, major) if X.format == "csr" else (major, minor)


def sparse_moments(X, w=None):
    """(count, mean, M2) of the columns of a CSR/CSC X, implicit zeros counted as 0,
    NaN ignored, rows weighted by w; see the module.  Duplicate entries are summed
    first (on a copy), as scipy reads them."""
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    rows, cols = X.shape
    col, row = _entry_columns(X)
    data = X.data.astype(np.float64)
    we = np.ones(data.size) if w is None else w[row]
    total = float(rows) if w is None else float(w.sum())
    nan = np.isnan(data)
    full = np.bincount(col, minlength=cols) == rows   # no implicit zeros
    if nan.any():
        count = total - np.bincount(col[nan], we[nan], minlength=cols)
        col, we, data = col[~nan], we[~nan], data[~nan]
    else:
        count = np.full(cols, total)
    # the implicit zeros' weight; exactly 0 for a column stored in every row
    implicit = np.where(full, 0.0, count - np.bincount(col, we, minlength=cols))
    # the shift: 0 when the column holds implicit zeros, else one of its values (which
    # one the scatter keeps does not matter: a constant column has only one; no sort)
    shift = np.zeros(cols)
    shift[col] = data
    shift[~full] = 0.0
    mean = _finish_mean(count, shift, np.bincount(col, we * (data - shift[col]),
                                                 minlength=cols))
    D = data - mean[col]
    c1 = np.bincount(col, we * D, minlength=cols) - implicit * mean
    s2 = np.bincount(col, we * D * D, minlength=cols) + implicit * mean * mean
    return count, mean, _finish_m2(count, s2, c1)


def scale_sparse(X, factor, *, inverse, inplace):
    """X's stored values divided (multiplied when `inverse`) by factor[column], in
    float64, rounded once to X's dtype: into X itself when `inplace`, else into a copy
    of the same format."""
    col, _ = _entry_columns(X)
    vals = X.data.astype(np.float64)
    vals = vals * factor[col] if inverse else vals / factor[col]
    Y = X if inplace else X.copy()
    Y.data[...] = vals
    return Y
