r"""Data preprocessing: standardization, PCA and PCA/ZCA whitening.

scikit-learn-compatible estimators (``fit`` / ``transform`` / ``fit_transform`` /
``partial_fit`` / ``inverse_transform``, ``get_params`` / ``set_params``, fitted
attributes ending in ``_``) whose fitting goes through *mergeable statistics*: the count
:math:`n`, the column mean :math:`\mu` and the centred scatter
:math:`S = \sum_i (x_i - \mu)(x_i - \mu)^T` (or only its diagonal for
:class:`Standardizer`), accumulated in float64 over fixed row chunks and merged with
Chan, Golub & LeVeque's update

.. math::
    n = n_a + n_b,\quad \mu = \mu_a + \tfrac{n_b}{n}\,\delta,\quad
    S = S_a + S_b + \tfrac{n_a n_b}{n}\,\delta\delta^T,\quad \delta = \mu_b - \mu_a .

So ``partial_fit`` over batches equals ``fit`` on their concatenation up to round-off,
data larger than memory can stream through, and the statistics are bitwise identical
for any thread count.  A chunk's mean and centred copy come from a compiled kernel that
reads it once; its scatter is a BLAS ``syrk`` on the centred chunk while it is in cache;
the decomposition is LAPACK's symmetric eigensolver (``scipy.linalg.eigh``).  The
covariance route squares the condition number: directions whose variance is below
about ``eps * max variance`` (``eps`` = 2.2e-16) are lost in round-off, where an SVD of
the centred data still resolves them down to ``eps * max singular value``;
``svd_solver='full'`` takes that route (it needs all the data at once).

Inputs may be float32 or float64 (float32 in, float32 out; anything else numeric is
converted to float64).  NaN or infinity in X, a width other than the fitted one,
``transform`` before ``fit`` and a single sample for PCA/Whitener raise ValueError
(NotFittedError before fit).
"""
from __future__ import annotations

import functools
import numbers
import warnings
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union

import numpy as np
from scipy.linalg import eigh as _eigh
from scipy.linalg import svd as _svd

from . import _blas
from . import _validation as _v
from ._config import num_threads as _num_threads
from ._ext import preprocessing as _k
from ._sklearn_compat import (HAVE_SKLEARN, BaseEstimator, NotFittedError,
                              TransformerMixin)

if TYPE_CHECKING:
    from typing_extensions import Self
    
    from ._typing import ArrayLike, FloatArray, NDArray

__all__ = ["Standardizer", "PCA", "Whitener", "NotFittedError"]

_F = TypeVar("_F", bound=Callable[..., Any])  # a method, through a decorator

_SOLVERS = ("covariance_eigh", "full")


# ---- input checks and threads ------------------------------------------------------------

def _feature_names(X):
    """Column names of a dataframe when they are all strings, else None."""
    cols = getattr(X, "columns", None)
    if cols is None or isinstance(X, np.ndarray):
        return None
    names = np.asarray(list(cols), dtype=object)
    if len(names) and all(isinstance(n, str) for n in names):
        return names
    return None


def _threads_for_blas(tasks=None, elements=None):
    """BLAS held to one thread around every call that reaches it (through the one
    process-wide limit of :mod:`gradkit._blas`): OpenBLAS rounds its products
    differently for different thread counts, and results must be bitwise the same for
    any.  The parallelism is gradkit's own: fixed tasks of row chunks (a function of the
    shape only), each calling single-threaded BLAS.  Without threadpoolctl BLAS keeps
    its threads (its bits may then follow them) and the kernel runs on this thread, so
    two thread pools never compete for the cores.  (The arguments are the kernel's task
    count and size, kept for callers; the rule no longer depends on them.)"""
    if _blas.available():
        return _blas.single_threaded()
    return _num_threads(1)


def _single_blas(method: _F) -> _F:
    """Run a method whose LAPACK/BLAS calls (SVD, eigh, products) must not depend on
    the BLAS threads with BLAS held to one thread."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with _threads_for_blas():
            return method(self, *args, **kwargs)
    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature


def _atomic(method: _F) -> _F:
    """A fit that raises leaves the estimator as it was (no half-updated state)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        saved = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature


# ---- mergeable statistics -----------------------------------------------------------

class _Scatter:
    """Count, float64 mean and centred scatter (lower triangle, i >= j) of rows seen."""

    def __init__(self, cols):
        self.n = 0
        self.mean = np.zeros(cols)
        self.scatter = np.zeros((cols, cols))

    @classmethod
    def of(cls, X):
        """Statistics of X in one read: fixed row chunks are centred by the kernel into
        a cache-resident float64 buffer, BLAS syrk adds each chunk's scatter, Chan's
        update merges chunks within fixed tasks (run in parallel) and tasks in order."""
        rows, cols = X.shape
        st = cls(cols)
        with _threads_for_blas(_k.scatter_tasks(rows, cols), rows * cols):
            bad = _k.scatter(X, st.mean, st.scatter)
        if bad:
            _v.raise_nonfinite(X)
        st.n = rows
        return st

    def merge(self, other):
        """Chan's merge of other into self (in place)."""
        _k.merge_mean_scatter(self.n, self.mean, self.scatter, other.n, other.mean)
        self.scatter += other.scatter  # both hold their lower triangle only
        self.n += other.n
        return self

    def copy(self):
        c = _Scatter(self.mean.shape[0])
        c.n, c.mean, c.scatter = self.n, self.mean.copy(), self.scatter.copy()
        return c


# Widths from which only the leading eigenpairs are computed when fewer than a quarter
# are kept: the solver's d^3 then rivals the syrk (1024 wide: ~0.2 s for all pairs, ~0.1 s
# for the top 32, whose cost is the tridiagonal reduction alone).
_SUBSET_MIN_WIDTH = 256


def _eigh_desc(scatter_lower, denom, top=None):
    """Eigenvalues (descending, clipped at 0) and eigenvectors (columns) of
    scatter / denom, from its lower triangle, by LAPACK's divide and conquer; with
    `top` (an int) only the `top` leading pairs when that is much cheaper (MRRR on a
    subset), which the caller sees as len(w) < width.  Also returns the trace (the sum
    of all eigenvalues)."""
    d = scatter_lower.shape[0]
    A = scatter_lower / denom
    total = float(np.trace(A))
    subset = top is not None and d >= _SUBSET_MIN_WIDTH and 1 <= top <= d // 4
    with _threads_for_blas(1, d * d):  # small problems: threads only cost here
        if subset:
            w, V = _eigh(A, lower=True, driver="evr", subset_by_index=[d - top, d - 1],
                         check_finite=False, overwrite_a=True)
        else:
            w, V = _eigh(A, lower=True, driver="evd", check_finite=False, overwrite_a=True)
    w = w[::-1].copy()
    w[w < 0.0] = 0.0
    return w, np.ascontiguousarray(V[:, ::-1]), total


def _svd_desc(X, denom, complete=False):
    """Mean, eigenvalues S^2/denom and eigenvectors (columns of V) of the covariance of
    X from an SVD of the centred data (accurate for ill-conditioned data), and U, S.
    With `complete`, V holds all n_features directions even when n_samples is smaller
    (the missing eigenvalues are 0)."""
    mean = np.empty(X.shape[1])
    Xc = _v.empty(X.shape, np.float64)
    if _k.center(X, None, mean, Xc):
        _v.raise_nonfinite(X)
    full = complete and X.shape[0] < X.shape[1]
    U, S, Vt = _svd(Xc, full_matrices=full, check_finite=False, overwrite_a=True,
                    lapack_driver="gesdd")
    w = np.zeros(Vt.shape[0])
    w[:S.size] = S * S / denom
    return mean, w, np.ascontiguousarray(Vt.T), U, S


def _flip_signs(V):
    """scikit-learn's svd_flip(u_based_decision=False) on the rows of V.T: each
    eigenvector's entry of largest magnitude is made positive.  Returns the signs."""
    if V.shape[1] == 0:
        return np.ones(0)
    idx = np.argmax(np.abs(V), axis=0)
    signs = np.sign(V[idx, np.arange(V.shape[1])])
    signs[signs == 0] = 1.0
    V *= signs
    return signs


def _project(X, mean, M):
    """(X - mean) @ M in one pass over X: each fixed row chunk is centred by the kernel
    into a cache-resident buffer of X's dtype and multiplied by M (BLAS gemm of that
    dtype: float32 data get sgemm), chunks in parallel.  Output in X's dtype."""
    rows, cols = X.shape
    Y = _v.empty((rows, M.shape[1]), X.dtype)  # cached memory: no first-touch faults
    M = np.ascontiguousarray(M, dtype=X.dtype)
    with _threads_for_blas(rows, rows * cols):
        bad = _k.project(X, mean, M, Y)
    if bad:
        _v.raise_nonfinite(X)
    return Y


# ---- the estimators ---------------------------------------------------------------------

class _Preprocessor(TransformerMixin, BaseEstimator):
    """Shared plumbing: validation, n_features_in_ / feature_names_in_, fitted checks."""

    _fitted_attr = "n_features_in_"
    # fitted attributes
    n_features_in_: int
    feature_names_in_: NDArray[np.object_]  # fitted on a dataframe

    if HAVE_SKLEARN:
        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
            tags.input_tags.allow_nan = False
            tags.input_tags.sparse = False
            return tags

    def _check_fitted(self):
        if not hasattr(self, self._fitted_attr):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    def __sklearn_is_fitted__(self):
        return hasattr(self, self._fitted_attr)

    def _validate(self, X: Any, *, reset: bool, min_samples: int = 1) -> FloatArray:
        who = type(self).__name__
        names = _feature_names(X)
        X = _v.as_2d_float(X, who, min_samples=min_samples)
        if reset:
            self.n_features_in_ = X.shape[1]
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return X
        fitted_names = getattr(self, "feature_names_in_", None)
        if fitted_names is not None and names is None:
            warnings.warn(f"X does not have valid feature names, but {who} was fitted "
                          "with feature names", UserWarning)
        elif fitted_names is None and names is not None:
            warnings.warn(f"X has feature names, but {who} was fitted without feature "
                          "names", UserWarning)
        elif names is not None and (len(names) != len(fitted_names)  # type: ignore[arg-type]
                                    or np.any(names != fitted_names)):
            raise ValueError("The feature names should match those that were passed "
                             "during fit.")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {who} is expecting "
                             f"{self.n_features_in_} features as input.")
        return X

    def _validate_out(self, Y: Any, width: int, what: str) -> FloatArray:
        """Input of inverse_transform: 2-D, `width` columns."""
        Y = _v.as_2d_float(Y, type(self).__name__)
        if Y.shape[1] != width:
            raise ValueError(f"X has {Y.shape[1]} features, but {type(self).__name__}."
                             f"inverse_transform is expecting {width} ({what}).")
        return Y

    def fit_transform(self, X, y=None, **fit_params):
        """Fit to X, then transform X."""
        return self.fit(X, y, **fit_params).transform(X)


class Standardizer(_Preprocessor):
    r"""Standardize features: :math:`z = (x - \mu) / \sigma` per column
    (scikit-learn's ``StandardScaler``).

    :math:`\sigma^2` is the biased variance (ddof=0); a feature whose variance is
    indistinguishable from zero (scikit-learn's ``_is_constant_feature`` bound
    :math:`\sigma^2 \le n\epsilon\sigma^2 + (n\mu\epsilon)^2`) gets scale 1.  Mean and
    variance are accumulated in float64 in one read of X (fixed row chunks, Chan's
    merge, bitwise the same for any thread count); ``transform`` is one fused pass.

    Parameters
    ----------
    with_mean : bool, default True
        Subtract the mean.
    with_std : bool, default True
        Divide by the standard deviation.
    copy : bool, default True
        If False, ``transform`` writes into X when X is already a C-contiguous
        float32/float64 array (as StandardScaler's ``copy=False``).

    Attributes
    ----------
    mean_ : ndarray (n_features,) float64, or None when both options are False
    var_ : ndarray (n_features,) float64, or None when ``with_std`` is False
    scale_ : ndarray (n_features,) float64, or None when ``with_std`` is False
    n_samples_seen_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when fitted on a dataframe)
    """

    _fitted_attr = "n_samples_seen_"
    # fitted attributes
    mean_: Optional[NDArray[np.float64]]
    var_: Optional[NDArray[np.float64]]
    scale_: Optional[NDArray[np.float64]]
    n_samples_seen_: np.int64
    _mean: NDArray[np.float64]
    _m2: NDArray[np.float64]

    def __init__(self, with_mean: bool = True, with_std: bool = True, *,
                 copy: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std
        self.copy = copy

    def _check_params(self):
        _v.flag(self.with_mean, "with_mean")
        _v.flag(self.with_std, "with_std")
        _v.flag(self.copy, "copy")

    @staticmethod
    def _moments(X):
        n, cols = X.shape
        mean, m2 = np.empty(cols), np.empty(cols)
        _k.col_moments(X, mean, m2)
        if not (np.isfinite(mean).all() and np.isfinite(m2).all()):
            _v.raise_nonfinite(X)
        return n, mean, m2

    @_atomic
    def fit(self, X: ArrayLike, y: Any = None) -> Self:
        """Compute the mean and standard deviation of X's columns."""
        self._check_params()
        for a in ("n_samples_seen_", "_m2"):
            if hasattr(self, a):
                delattr(self, a)
        return self.partial_fit(X)

    @_atomic
    def partial_fit(self, X: ArrayLike, y: Any = None) -> Self:
        """Merge X's column statistics into the running ones (Chan's update)."""
        self._check_params()
        first = not hasattr(self, "n_samples_seen_")
        X = self._validate(X, reset=first)
        n_b, mean_b, m2_b = self._moments(X)
        if first:
            n, mean, m2 = n_b, mean_b, m2_b
        else:
            n_a, mean_a, m2_a = int(self.n_samples_seen_), self._mean, self._m2
            n = n_a + n_b
            delta = mean_b - mean_a
            mean = mean_a + delta * (n_b / n)
            m2 = m2_a + m2_b + delta * delta * (n_a * n_b / n)
        self._mean, self._m2 = mean, m2
        self.n_samples_seen_ = np.int64(n)
        var = m2 / n
        self.mean_ = mean.copy() if (self.with_mean or self.with_std) else None
        if self.with_std:
            eps = np.finfo(np.float64).eps
            constant = var <= n * eps * var + (n * mean * eps) ** 2
            scale = np.sqrt(var)
            scale[constant] = 1.0
            self.var_, self.scale_ = var, scale
        else:
            self.var_ = self.scale_ = None
        return self

    def transform(self, X: ArrayLike, copy: Optional[bool] = None) -> FloatArray:
        """:math:`(X - \\mu) / \\sigma` in X's dtype (computed in float64, rounded once)."""
        self._check_fitted()
        copy = _v.flag(self.copy if copy is None else copy, "copy")
        was_array = isinstance(X, np.ndarray)
        X = self._validate(X, reset=False)
        inplace = (not copy) and was_array and X.flags.writeable
        if inplace and not np.isfinite(X).all():  # checked before X is overwritten
            _v.raise_nonfinite(X)
        # a fresh 200 MB output costs more in page faults than the pass (output cache)
        Y = X if inplace else _v.empty(X.shape, X.dtype)
        mean = self._mean if self.with_mean else None
        scale = self.scale_ if self.with_std else None
        if _k.standardize(X, Y, mean, scale):
            _v.raise_nonfinite(X)
        return Y

    def fit_transform(self, X: ArrayLike, y: Any = None) -> FloatArray:  # type: ignore[override]
        """Fit, then transform X: one read for the statistics, one fused pass."""
        self.fit(X)
        return self.transform(X)

    def inverse_transform(self, X: ArrayLike, copy: Optional[bool] = None) -> FloatArray:
        """:math:`X \\sigma + \\mu`, in X's dtype."""
        self._check_fitted()
        X = self._validate_out(X, self.n_features_in_, "n_features_in_")
        out = X.astype(np.float64)
        if self.with_std:
            out *= self.scale_  # type: ignore[arg-type]  # set when with_std
        if self.with_mean:
            out += self._mean
        return out.astype(X.dtype, copy=False)

    def get_feature_names_out(self, input_features: Optional[ArrayLike] = None
                              ) -> NDArray[np.object_]:
        """The input feature names (one output per input)."""
        self._check_fitted()
        return _names_in(self, input_features)


def _names_in(est, input_features):
    if input_features is not None:
        names = np.asarray(input_features, dtype=object)
        if len(names) != est.n_features_in_:
            raise ValueError(f"input_features should have length equal to number of "
                             f"features ({est.n_features_in_}), got {len(names)}")
        return names
    if hasattr(est, "feature_names_in_"):
        return est.feature_names_in_.copy()
    return np.asarray([f"x{i}" for i in range(est.n_features_in_)], dtype=object)


def _resolve_components(n_components, rank, ratio, who):
    """n_components -> int: None -> rank, int in [0, rank], float in (0, 1) -> the
    fewest components whose explained variance ratio exceeds it."""
    if n_components is None:
        return rank
    if isinstance(n_components, bool):
        raise TypeError(f"{who}: n_components must be None, an int or a float in (0, 1)")
    if isinstance(n_components, numbers.Integral):
        k = int(n_components)
        if not 0 <= k <= rank:
            raise ValueError(f"n_components={k} must be between 0 and "
                             f"min(n_samples, n_features)={rank}")
        return k
    if isinstance(n_components, numbers.Real) and 0.0 < n_components < 1.0:
        cum = np.cumsum(ratio)
        return int(min(np.searchsorted(cum, n_components, side="right") + 1, rank))
    if isinstance(n_components, numbers.Real):
        raise ValueError(f"n_components={n_components!r} must be an int in [0, rank] "
                         "or a float in (0, 1)")
    raise TypeError(f"{who}: n_components must be None, an int or a float in (0, 1), "
                    f"got {type(n_components).__name__}")


class _Decomposer(_Preprocessor):
    """Shared fitting of PCA and Whitener: statistics (or an SVD), decomposition."""

    def _check_common(self):
        _v.choice(self.svd_solver, "svd_solver", _SOLVERS)

    def fit(self, X: ArrayLike, y: Any = None) -> Self:
        """Fit the model with X."""
        self._fit(X)
        return self

    @_single_blas
    @_atomic
    def _fit(self, X):
        """Fit on X alone; returns (U, S) of the centred data for the SVD path."""
        self._check_params()
        for a in (self._fitted_attr, "_stats"):
            if hasattr(self, a):
                delattr(self, a)
        X = self._validate(X, reset=True, min_samples=1)
        self._require_two(X.shape[0])
        if self.svd_solver == "full":
            mean, w, V, U, S = _svd_desc(X, self._denominator(X.shape[0]),
                                         complete=isinstance(self, Whitener))
            # the statistics follow from the SVD (S = V diag(s^2) V^T), so a later
            # partial_fit merges into them
            st = _Scatter(X.shape[1])
            st.n, st.mean = X.shape[0], mean.copy()
            st.scatter = np.tril((V[:, :S.size] * S * S) @ V[:, :S.size].T)
            self._finish(X.shape[0], mean, w, V, X.dtype)
            self._stats = st
            return U, S
        st = _Scatter.of(X)
        self._stats = st
        self._from_stats(X.dtype)
        return None, None

    @_single_blas
    @_atomic
    def partial_fit(self, X: ArrayLike, y: Any = None) -> Self:
        """Merge X's statistics (count, mean, scatter) into the running ones and refit
        the decomposition from them with the covariance eigensolver (whatever
        ``svd_solver``: only statistics can be merged).  Batches may have any number of
        rows; the model is available once 2 samples have been seen."""
        self._check_params()
        first = getattr(self, "_stats", None) is None
        X = self._validate(X, reset=first, min_samples=1)
        batch = _Scatter.of(X)
        total = batch if first else self._stats.copy().merge(batch)
        self._stats = total
        if total.n >= 2:
            self._from_stats(X.dtype)
        return self

    def _require_two(self, n):
        if n < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 samples to fit, got "
                             f"{n} sample (n_samples = {n})")

    def _from_stats(self, dtype):
        st = self._stats
        k = self.n_components
        top = int(k) if isinstance(k, numbers.Integral) and not isinstance(k, bool) else None
        w, V, total = _eigh_desc(st.scatter, self._denominator(st.n), top)
        self._finish(st.n, st.mean.copy(), w, V, dtype, total)


class PCA(_Decomposer):
    r"""Principal component analysis with optional whitening (scikit-learn's ``PCA``).

    With the centred data :math:`X_c = X - \mu` and the eigen-decomposition of its
    covariance :math:`X_c^T X_c / (n-1) = V \Lambda V^T` (eigenvalues descending),
    ``explained_variance_`` is :math:`\Lambda` (= :math:`S^2/(n-1)` for the singular
    values :math:`S` of :math:`X_c`), ``components_`` is :math:`V^T` with
    scikit-learn's sign convention (``svd_flip(u_based_decision=False)``: each
    component's entry of largest magnitude is positive), and

    .. math:: \mathrm{transform}(X) = (X - \mu)\,V_k\;[\,/\sqrt{\Lambda_k}\ \text{if whiten}]

    with :math:`\sqrt{\Lambda}` clipped below at the dtype's eps as scikit-learn does.

    Parameters
    ----------
    n_components : int, float in (0, 1) or None
        Components kept; None keeps ``min(n_samples, n_features)``; a float keeps the
        fewest whose explained variance ratio sums above it.
    whiten : bool, default False
        Scale the projections to unit variance.
    svd_solver : {'covariance_eigh', 'full'}
        'covariance_eigh' (default): mergeable statistics (streaming, ``partial_fit``)
        and LAPACK ``eigh`` of the covariance; loses eigenvalues below about
        ``eps * explained_variance_[0]`` since the condition number squares.
        'full': LAPACK SVD of the centred data (all of X in memory, float64 copy);
        accurate down to ``eps * singular_values_[0]``.  Same names as scikit-learn.
        ``partial_fit`` always merges statistics and uses the covariance eigensolver.

    Attributes
    ----------
    components_ : (n_components_, n_features)
    explained_variance_, explained_variance_ratio_, singular_values_ : (n_components_,)
    mean_ : (n_features,)
    n_components_ : int
    n_samples_ : int
    noise_variance_ : float
        Mean of the discarded eigenvalues (0 when none are discarded).
    n_features_in_ : int

    Attributes have X's dtype; the statistics behind them are float64.
    """

    _fitted_attr = "components_"
    # fitted attributes
    components_: FloatArray
    explained_variance_: FloatArray
    explained_variance_ratio_: FloatArray
    singular_values_: FloatArray
    mean_: FloatArray
    n_components_: int
    n_samples_: int
    noise_variance_: float

    def __init__(self, n_components: Union[int, float, str, None] = None,
                 whiten: bool = False, *, svd_solver: str = "covariance_eigh") -> None:
        self.n_components = n_components
        self.whiten = whiten
        self.svd_solver = svd_solver

    def _check_params(self):
        _v.flag(self.whiten, "whiten")
        self._check_common()
        k = self.n_components
        if isinstance(k, str):
            raise ValueError(f"n_components={k!r} is not supported "
                             "(use None, an int or a float in (0, 1))")
        if k is not None and not isinstance(k, numbers.Integral):
            _v.real(k, "n_components")  # TypeError for bools and non-numbers
            if not 0.0 < float(k) < 1.0:
                raise ValueError(f"n_components={k!r} must be an int in [0, rank] or a "
                                 "float in (0, 1)")
        elif k is not None:
            _v.positive_int(k, "n_components", minimum=0)

    @staticmethod
    def _denominator(n):
        return n - 1

    def _finish(self, n, mean, w, V, dtype, total=None):
        rank = min(n, V.shape[0])
        w, V = w[:rank], V[:, :rank]
        signs = _flip_signs(V)
        self._signs = signs
        partial = len(w) < rank  # only the leading pairs (_eigh_desc): the rest via the trace
        total = w.sum() if total is None or not partial else max(total, w.sum())
        ratio = w / total if total > 0 else np.zeros_like(w)
        k = _resolve_components(self.n_components, rank, ratio, "PCA")
        self.n_components_ = k
        self.n_samples_ = n
        if k >= rank:
            noise = 0.0
        elif partial:
            noise = max(total - w[:k].sum(), 0.0) / (rank - k)
        else:
            noise = w[k:].mean()
        self.noise_variance_ = dtype.type(noise)
        comps = np.ascontiguousarray(V[:, :k].T)
        ev = w[:k]
        self._mean = mean
        self._components = comps
        self._explained_variance = ev
        if self.whiten:
            scale = np.sqrt(ev)
            scale[scale < np.finfo(dtype).eps] = np.finfo(dtype).eps
            self._proj = np.ascontiguousarray(comps.T / scale)
        else:
            self._proj = np.ascontiguousarray(comps.T)
        self.mean_ = mean.astype(dtype)
        self.explained_variance_ = ev.astype(dtype)
        self.explained_variance_ratio_ = ratio[:k].astype(dtype)
        self.singular_values_ = np.sqrt(ev * (n - 1)).astype(dtype)
        self.components_ = comps.astype(dtype)

    def transform(self, X: ArrayLike) -> FloatArray:
        r"""Project X: :math:`(X - \mu) V_k` (divided by :math:`\sqrt{\Lambda_k}` if
        whiten), one pass over X, in X's dtype."""
        self._check_fitted()
        X = self._validate(X, reset=False)
        return _project(X, self._mean, self._proj)

    def fit_transform(self, X: ArrayLike, y: Any = None) -> FloatArray:  # type: ignore[override]
        """Fit, then project X.  With svd_solver='full' the projection is U S (or
        U sqrt(n-1) when whitening) from the SVD itself, as scikit-learn does."""
        U, S = self._fit(X)
        if U is None:
            return self.transform(X)
        k = self.n_components_
        U = U[:, :k] * self._signs[:k]
        U *= np.sqrt(self.n_samples_ - 1) if self.whiten else S[:k]
        return U.astype(self.components_.dtype, copy=False)

    @_single_blas
    def inverse_transform(self, X: ArrayLike) -> FloatArray:
        r""":math:`Y [\sqrt{\Lambda_k}] V_k^T + \mu`, back in feature space."""
        self._check_fitted()
        Y = self._validate_out(X, self.n_components_, "n_components_")
        back = self._components
        if self.whiten:
            back = np.sqrt(self._explained_variance)[:, None] * back
        return (Y.astype(np.float64) @ back + self._mean).astype(Y.dtype, copy=False)

    def get_feature_names_out(self, input_features: Optional[ArrayLike] = None
                              ) -> NDArray[np.object_]:
        """``pca0``, ``pca1``, ... (scikit-learn's class-name prefix)."""
        self._check_fitted()
        return np.asarray([f"pca{i}" for i in range(self.n_components_)], dtype=object)


class Whitener(_Decomposer):
    r"""PCA or ZCA whitening with a regularizing eps (the classic recipe).

    With :math:`\Sigma = X_c^T X_c / n = U \Lambda U^T` (biased covariance, eigenvalues
    descending, first ``n_components`` kept):

    - ``'pca'``: :math:`W = (\Lambda_k + \epsilon)^{-1/2} U_k^T`, output
      ``n_components`` columns (rotate, then scale);
    - ``'zca'``: :math:`W = U_k (\Lambda_k + \epsilon)^{-1/2} U_k^T`, output in the
      feature space (rotate back: the whitened data closest to X).

    ``transform(X) = (X - mean_) @ whitening_matrix_.T``; with eps=0 the output
    covariance (``/ n``) is the identity.  scikit-learn's ``PCA(whiten=True)`` differs
    in the ``n - 1`` normalization and the absent eps.

    Parameters
    ----------
    method : {'zca', 'pca'}
    eps : float >= 0, default 1e-5
        Added to the eigenvalues before the inverse square root.
    n_components : int or None
        Eigen-directions kept (None: all ``n_features``).
    svd_solver : {'covariance_eigh', 'full'}
        As in :class:`PCA`.

    Attributes
    ----------
    whitening_matrix_ : (n_components_, n_features) for 'pca', (n_features,
        n_features) for 'zca'
    mean_ : (n_features,)
    eigenvalues_ : (n_components_,) eigenvalues of the biased covariance
    components_ : (n_components_, n_features) eigenvectors, PCA's sign convention
    n_components_, n_samples_seen_, n_features_in_ : int
    """

    _fitted_attr = "whitening_matrix_"
    # fitted attributes
    whitening_matrix_: FloatArray
    mean_: FloatArray
    eigenvalues_: FloatArray
    components_: FloatArray
    n_components_: int
    n_samples_seen_: int

    def __init__(self, method: str = "zca", eps: float = 1e-5,
                 n_components: Union[int, float, str, None] = None, *,
                 svd_solver: str = "covariance_eigh") -> None:
        self.method = method
        self.eps = eps
        self.n_components = n_components
        self.svd_solver = svd_solver

    def _check_params(self):
        self._check_common()
        _v.choice(self.method, "method", ("zca", "pca"))
        _v.nonneg_float(self.eps, "eps")
        if self.n_components is not None:
            _v.positive_int(self.n_components, "n_components")

    @staticmethod
    def _denominator(n):
        return n

    def _finish(self, n, mean, w, V, dtype, total=None):
        d = V.shape[0]
        k = d if self.n_components is None else int(self.n_components)
        if not 1 <= k <= d:
            raise ValueError(f"n_components={k} must be between 1 and n_features={d}")
        _flip_signs(V)
        Uk, lam = V[:, :k], w[:k]
        root = np.sqrt(lam + float(self.eps))
        root[root < np.finfo(np.float64).eps] = np.finfo(np.float64).eps
        W = Uk.T / root[:, None]                       # (k, d): rotate, then scale
        back = Uk.T * root[:, None]                    # its inverse on the kept space
        if self.method == "zca":
            W = Uk @ W                                 # rotate back: U (L+eps)^-1/2 U^T
            back = Uk @ back
        self._mean = mean
        self._proj = np.ascontiguousarray(W.T)
        self._back = np.ascontiguousarray(back)
        self.n_components_ = k
        self.n_samples_seen_ = n
        self.mean_ = mean.astype(dtype)
        self.eigenvalues_ = lam.astype(dtype)
        self.components_ = np.ascontiguousarray(Uk.T).astype(dtype)
        self.whitening_matrix_ = np.ascontiguousarray(W).astype(dtype)

    def transform(self, X: ArrayLike) -> FloatArray:
        r"""Whiten X: :math:`(X - \mu) W^T`, one pass over X, in X's dtype."""
        self._check_fitted()
        X = self._validate(X, reset=False)
        return _project(X, self._mean, self._proj)

    def fit_transform(self, X: ArrayLike, y: Any = None) -> FloatArray:  # type: ignore[override]
        """Fit, then whiten X."""
        self._fit(X)
        return self.transform(X)

    @_single_blas
    def inverse_transform(self, X: ArrayLike) -> FloatArray:
        r"""Undo the whitening: :math:`Y W^{+T} + \mu` (exact when all directions are
        kept; otherwise the projection onto the kept ones)."""
        self._check_fitted()
        width = self.whitening_matrix_.shape[0]
        Y = self._validate_out(X, width, "the whitened width")
        return (Y.astype(np.float64) @ self._back + self._mean).astype(Y.dtype, copy=False)

    def get_feature_names_out(self, input_features: Optional[ArrayLike] = None
                              ) -> NDArray[np.object_]:
        """'zca': the input names; 'pca': ``whitener0``, ``whitener1``, ..."""
        self._check_fitted()
        if self.method == "zca":
            return _names_in(self, input_features)
        return np.asarray([f"whitener{i}" for i in range(self.n_components_)],
                          dtype=object)
