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
for any thread count.  The statistics are public: :class:`Moments` (n, mean, M2) and
:class:`Scatter` (n, mean, S), with ``from_array`` and ``merge``; every estimator has
``fit_stats``, so any engine can reduce shards and fit once.  ``fit`` / ``partial_fit``
accept a dask array (each block reduced to statistics, merged in a tree, never
materialized; ``gradkit._dask``, imported only then) and ``transform`` /
``inverse_transform`` of one are lazy.  A chunk's mean and centred copy come from a
compiled kernel that reads it once; its scatter is summed from the centred chunk
while it is in cache (gradkit's own fused multiply-add product on CPUs with FMA, AVX2
or AVX-512, the same bits on both; BLAS ``syrk`` on others); the decomposition is LAPACK's symmetric eigensolver
(``scipy.linalg.eigh``).  The
covariance route squares the condition number: directions whose variance is below
about ``eps * max variance`` (``eps`` = 2.2e-16) are lost in round-off, where an SVD of
the centred data still resolves them down to ``eps * max singular value``;
``svd_solver='full'`` takes that route (it needs all the data at once).
:class:`PCA` has the rest of scikit-learn 1.9's: ``svd_solver='auto'`` (the default),
``'arpack'`` and ``'randomized'``, sparse input, ``n_components='mle'``, ``copy``, and
the probabilistic model (``score``, ``get_precision``, ...; helpers in
``gradkit._pca``); :class:`IncrementalPCA` (``gradkit._incremental_pca``) is its
incremental API on the exact statistics.

Inputs may be float32 or float64 (float32 in, float32 out; anything else numeric is
converted to float64).  NaN or infinity in X, a width other than the fitted one,
``transform`` before ``fit`` and a single sample for PCA/Whitener raise ValueError
(NotFittedError before fit).  The Standardizer (alias ``StandardScaler``) follows
scikit-learn's StandardScaler further: ``sample_weight``, NaN ignored in fit and kept in
transform, sparse CSR/CSC input with ``with_mean=False``, float16 kept (its NumPy
paths are in ``gradkit._scaler``).
"""
from __future__ import annotations

import copy as _copy
import functools
import numbers
import sys
import warnings
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union

import numpy as np
from scipy.linalg import eigh as _eigh
from scipy.linalg import svd as _svd

from . import _blas
from . import _pca
from . import _scaler
from . import _randomized as _rpca
from . import _validation as _v
from ._config import num_threads as _num_threads
from ._ext import preprocessing as _k
from ._sklearn_compat import (HAVE_SKLEARN, BaseEstimator, NotFittedError,
                              TransformerMixin)

if TYPE_CHECKING:
    from typing_extensions import Self
    
    from ._typing import ArrayLike, FloatArray, NDArray

__all__ = ["Standardizer", "StandardScaler", "PCA", "IncrementalPCA", "Whitener", "Moments",
           "Scatter", "NotFittedError"]

_F = TypeVar("_F", bound=Callable[..., Any])  # a method, through a decorator

_SOLVERS = ("covariance_eigh", "full")
_PCA_SOLVERS = ("auto", "full", "covariance_eigh", "arpack", "randomized")
_PCA_SPARSE_SOLVERS = ("auto", "arpack", "covariance_eigh")   # scikit-learn's


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

def _is_dask(X):
    """Whether X is a dask array, without importing dask: one can exist only once
    dask.array has been imported."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(X, da.Array)


def _dask():
    """gradkit._dask (which imports dask), loaded on first use."""
    from . import _dask as mod
    return mod


def _f64_copy(a, name, ndim):
    """A finite float64 copy of `a` (the statistics own their arrays) of `ndim` dims."""
    try:
        out = np.array(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be an array of real numbers ({e})") from None
    if out.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {out.shape}")
    if not np.isfinite(out).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return out


def _aligned_state(state):
    """A pickled __dict__ with its numeric arrays made aligned and C-contiguous:
    arrays unpickled from out-of-band buffers (dask.distributed's frames) can sit at
    any byte offset, and the kernels refuse misaligned data."""
    return {k: _v.c_aligned(v) if isinstance(v, np.ndarray) and v.dtype != object else v
            for k, v in state.items()}


class _Stats:
    """What Moments and Scatter share: the count, the float64 mean, the data dtype,
    checks, pickling (plain attributes) and the dask route of ``from_array``."""

    n: int
    mean: NDArray[np.float64]
    dtype: np.dtype

    def __setstate__(self, state):
        self.__dict__.update(_aligned_state(state))

    def _init_common(self, n, mean, dtype):
        self.n = _v.integer(n, "n", minimum=0)
        self.mean = _f64_copy(mean, "mean", 1)
        dt = np.dtype(dtype)
        if dt != np.float32 and dt != np.float64:
            raise TypeError(f"dtype must be float32 or float64, got {dt}")
        self.dtype = dt

    @classmethod
    def _empty(cls, cols, dtype):
        raise NotImplementedError   # each kind: its zero-row statistics

    @classmethod
    def _of(cls, X):
        raise NotImplementedError   # each kind: the statistics of a validated X

    @property
    def n_features(self) -> int:
        """The width: the number of columns the statistics describe."""
        return self.mean.shape[0]

    @classmethod
    def from_array(cls, X: Any) -> Self:
        """The statistics of X's rows (X: 2-D array-like or dask array; a dask array is
        reduced block by block on its scheduler and never materialized)."""
        if _is_dask(X):
            return _dask().reduce_stats(_dask().as_rows(X, cls.__name__, min_samples=0), cls)
        X = _v.as_2d_float(X, cls.__name__, min_samples=0)
        if X.shape[0] == 0:
            return cls._empty(X.shape[1], X.dtype)
        return cls._of(X)

    def _check_other(self, other):
        if type(other) is not type(self):
            raise TypeError(f"{type(self).__name__}.merge: other must be a "
                            f"{type(self).__name__}, got {type(other).__name__}")
        if other.n_features != self.n_features:
            raise ValueError(f"{type(self).__name__}.merge: other describes "
                             f"{other.n_features} features, this one {self.n_features}")

    def _merged_dtype(self, other):
        """float32 only when both sides come from float32 data (what fit of the
        concatenation would see)."""
        if self.n == 0:
            return other.dtype
        if other.n == 0:
            return self.dtype
        return np.result_type(self.dtype, other.dtype)

    def __repr__(self):
        return (f"{type(self).__name__}(n={self.n}, n_features={self.n_features}, "
                f"dtype={self.dtype.name})")


class Moments(_Stats):
    r"""Count, mean and centred sum of squares of each column: mergeable statistics.

    For rows :math:`x_1..x_n` with weights :math:`w_i` (1 unless weighted) and the
    entries that are not NaN: ``count`` :math:`c_j = \sum_i w_i`, ``mean``
    :math:`\mu_j = \tfrac1{c_j}\sum_i w_i x_{ij}` and ``m2``
    :math:`M2_j = \sum_i w_i (x_{ij} - \mu_j)^2`, in float64 whatever the data type
    (weights are frequency weights: a weight of 2 counts a row twice).  Two sets merge
    by Chan, Golub & LeVeque's update (``merge``, column by column), so shards reduced
    anywhere (Dask blocks, MPI ranks, Spark partitions) combine into the statistics of
    their concatenation, and ``Standardizer().fit_stats(m)`` equals ``fit`` on it.
    ``Moments.from_array(X)`` computes them from data (X 2-D array-like: one read by the
    compiled kernel, NaN ignored (by a second kernel, then); a dask array: reduced block by
    block on its scheduler).  A column without entries has count 0, mean and M2 0.

    Parameters
    ----------
    n : int >= 0
        Rows seen.
    mean, m2 : array-like (n_features,)
        Column means and centred sums of squares (float64 copies are kept).
    dtype : float32 or float64, default float64
        The data's dtype (the fitted attributes of PCA-like estimators follow it).
    count : array-like (n_features,) or None, default None
        Per-column count (sum of the weights of the entries that are not NaN); None
        means ``n`` for every column (no weights, no NaN).
    weighted : bool, default False
        Whether ``count`` sums weights (then any real >= 0) rather than entries
        (integers <= n).

    Attributes
    ----------
    n, mean, m2, dtype, n_features, count, weighted, counts
    """

    m2: NDArray[np.float64]
    # class defaults: statistics pickled before these existed are unweighted, NaN-free
    count: Optional[NDArray[np.float64]] = None
    weighted: bool = False

    def __init__(self, n: int, mean: ArrayLike, m2: ArrayLike, dtype: Any = np.float64,
                 *, count: Optional[ArrayLike] = None, weighted: bool = False) -> None:
        self._init_common(n, mean, dtype)
        self.m2 = _f64_copy(m2, "m2", 1)
        if self.m2.shape != self.mean.shape:
            raise ValueError(f"m2 has shape {self.m2.shape}, mean {self.mean.shape}")
        if (self.m2 < 0).any():
            raise ValueError("m2 (centred sums of squares) must be >= 0")
        self.weighted = _v.flag(weighted, "weighted")
        if count is None:
            if self.weighted:
                raise ValueError("weighted Moments need count (the sums of the weights)")
            return
        c = _f64_copy(count, "count", 1)
        if c.shape != self.mean.shape:
            raise ValueError(f"count has shape {c.shape}, mean {self.mean.shape}")
        if (c < 0).any():
            raise ValueError("count must be >= 0")
        if not self.weighted and ((c != np.round(c)).any() or (c > self.n).any()):
            raise ValueError("count of unweighted Moments must hold integers <= n")
        self.count = c

    @property
    def counts(self) -> NDArray[np.float64]:
        """The per-column count as a float64 array (``n`` everywhere when ``count`` is
        None)."""
        return np.full(self.n_features, float(self.n)) if self.count is None else self.count

    @classmethod
    def _empty(cls, cols, dtype):
        return cls(0, np.zeros(cols), np.zeros(cols), dtype)

    @classmethod
    def _of(cls, X, sample_weight=None):
        """One read of X by the compiled column-moments kernel (fixed blocks, Chan's
        merge in a fixed order: bitwise the same for any thread count).  Weighted rows,
        and X holding NaN (found by the kernel's non-finite result, so NaN-free data pay
        nothing), take the weighted, NaN-ignoring kernel; infinity (found from its
        non-finite result, then looked for in X) raises."""
        if sample_weight is None:
            mean, m2 = np.empty(X.shape[1]), np.empty(X.shape[1])
            _k.col_moments(X, mean, m2)
            if np.isfinite(mean).all() and np.isfinite(m2).all():
                return cls(X.shape[0], mean, m2, X.dtype)
        count, mean, m2 = _scaler.dense_moments(np.ascontiguousarray(X), sample_weight)
        if not (np.isfinite(mean).all() and np.isfinite(m2).all()):
            # NaN is left out by the kernel, so this is infinity or an overflow: the
            # data are read once more only then
            _scaler.check_no_inf(X)
            raise ValueError("Input X has values so large that their float64 "
                             "statistics overflow (inf)")
        return cls(X.shape[0], mean, m2, X.dtype, count=count,
                   weighted=sample_weight is not None)

    def merge(self, other: Moments) -> Moments:
        r"""The statistics of both sets of rows (a new object; neither is modified):

        .. math:: n = n_a + n_b,\ \delta = \mu_b - \mu_a,\
            \mu = \mu_a + \tfrac{n_b}{n}\delta,\
            M2 = M2_a + M2_b + \tfrac{n_a n_b}{n}\delta^2 .

        Symmetric in the two up to round-off (``a.merge(b)`` and ``b.merge(a)`` agree
        to a few ulps)."""
        self._check_other(other)
        dtype = self._merged_dtype(other)
        weighted = self.weighted or other.weighted
        plain = self.count is None and other.count is None
        if other.n == 0 or self.n == 0:
            src = self if other.n == 0 else other
            return Moments(src.n, src.mean, src.m2, dtype, count=src.count,
                           weighted=src.weighted)
        # column by column with the counts (the same arithmetic when both are n)
        ca, cb = self.counts, other.counts
        c = ca + cb
        f = np.divide(cb, c, out=np.zeros_like(c), where=c > 0)
        delta = other.mean - self.mean
        mean = np.where(ca > 0, self.mean + delta * f, other.mean)
        m2 = self.m2 + other.m2 + delta * delta * (ca * f)
        return Moments(self.n + other.n, mean, m2, dtype, count=None if plain else c,
                       weighted=weighted)

    def var(self, ddof: int = 0) -> NDArray[np.float64]:
        """Column variances :math:`M2 / (c - ddof)` (NaN where no more than ``ddof``
        entries were counted)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            v = self.m2 / (self.counts - ddof)
        v[self.counts <= ddof] = np.nan
        return v


class Scatter(_Stats):
    r"""Count, mean and centred scatter matrix of rows: mergeable statistics.

    For rows :math:`x_1..x_n`: ``n``, ``mean`` :math:`\mu` and ``scatter``
    :math:`S = \sum_i (x_i - \mu)(x_i - \mu)^T` (symmetric, n_features x n_features), in
    float64 whatever the data type.  ``merge`` is Chan, Golub & LeVeque's update
    (:math:`S = S_a + S_b + \tfrac{n_a n_b}{n}\delta\delta^T`), so shards reduced
    anywhere combine into the statistics of their concatenation, and
    ``PCA().fit_stats(s)`` / ``Whitener().fit_stats(s)`` equal ``fit`` on it.  The
    covariance is ``scatter / (n - 1)``; its diagonal gives :class:`Moments`
    (``moments()``).  ``Scatter.from_array(X)`` computes them from data (X 2-D
    array-like: one read, the product of centred chunks; a dask array: reduced block by
    block on its scheduler).

    Parameters
    ----------
    n : int >= 0
    mean : array-like (n_features,)
    scatter : array-like (n_features, n_features)
        Symmetric; only its lower triangle is read (and stored).
    dtype : float32 or float64, default float64
        The data's dtype (the fitted attributes follow it).

    Attributes
    ----------
    n, mean, scatter, dtype, n_features
    """

    _lower: NDArray[np.float64]   # the lower triangle (the upper one is zero)

    def __init__(self, n: int, mean: ArrayLike, scatter: ArrayLike,
                 dtype: Any = np.float64) -> None:
        self._init_common(n, mean, dtype)
        S = _f64_copy(scatter, "scatter", 2)
        d = self.n_features
        if S.shape != (d, d):
            raise ValueError(f"scatter has shape {S.shape}, expected ({d}, {d}) for a "
                             f"mean of {d} features")
        self._lower = np.tril(S)

    @property
    def scatter(self) -> NDArray[np.float64]:
        """The full symmetric scatter matrix (a new array)."""
        L = self._lower
        return L + np.tril(L, -1).T

    @classmethod
    def _empty(cls, cols, dtype):
        return cls(0, np.zeros(cols), np.zeros((cols, cols)), dtype)

    @classmethod
    def _of(cls, X):
        """Statistics of X in one read: fixed row chunks are centred by the kernel into
        a cache-resident buffer of X's dtype whose scatter is added (the kernel's own
        product where the CPU has FMA, else BLAS syrk), Chan's
        update merges chunks within fixed tasks (run in parallel) and tasks in order."""
        rows, cols = X.shape
        st = cls._empty(cols, X.dtype)
        with _threads_for_blas(_k.scatter_tasks(rows, cols), rows * cols):
            bad = _k.scatter(X, st.mean, st._lower)
        if bad:
            _v.raise_nonfinite(X)
        st.n = rows
        return st

    def merge(self, other: Scatter) -> Scatter:
        r"""The statistics of both sets of rows (a new object; neither is modified):
        :math:`n = n_a + n_b`, :math:`\mu = \mu_a + \tfrac{n_b}{n}\delta`,
        :math:`S = S_a + S_b + \tfrac{n_a n_b}{n}\delta\delta^T` with
        :math:`\delta = \mu_b - \mu_a` (the compiled merge kernel).  Symmetric in the
        two up to round-off."""
        self._check_other(other)
        out = Scatter._empty(self.n_features, self._merged_dtype(other))
        out.mean[:] = self.mean
        out._lower[:] = self._lower
        _k.merge_mean_scatter(self.n, out.mean, out._lower, other.n, other.mean)
        out._lower += other._lower
        out.n = self.n + other.n
        return out

    def moments(self) -> Moments:
        """The per-column :class:`Moments` (M2 is the scatter's diagonal)."""
        return Moments(self.n, self.mean, np.diag(self._lower), self.dtype)


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


def _svd_desc(Xc, denom, complete=False, overwrite=True):
    """Eigenvalues S^2/denom and eigenvectors (columns of V, float64) of the covariance
    from an SVD of the centred data Xc (accurate for ill-conditioned data; LAPACK
    gesdd in Xc's dtype), and U, S.  With `complete`, V holds all n_features
    directions even when n_samples is smaller (the missing eigenvalues are 0);
    `overwrite` lets LAPACK use Xc as workspace."""
    full = complete and Xc.shape[0] < Xc.shape[1]
    U, S, Vt = _svd(Xc, full_matrices=full, check_finite=False, overwrite_a=overwrite,
                    lapack_driver="gesdd")
    S = S.astype(np.float64)
    w = np.zeros(Vt.shape[0])
    w[:S.size] = S * S / denom
    return w, np.ascontiguousarray(Vt.T, dtype=np.float64), U, S


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
    into a cache-resident buffer of X's dtype and multiplied by M in that dtype (the
    kernel's own product on CPUs with FMA, else BLAS gemm), chunks in parallel.  Output
    in X's dtype."""
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

    def __setstate__(self, state):
        state = _aligned_state(state)
        restore = getattr(super(), "__setstate__", None)   # scikit-learn's, if any
        if restore is None:
            self.__dict__.update(state)
        else:
            restore(state)

    def _check_fitted(self):
        if not hasattr(self, self._fitted_attr):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    def __sklearn_is_fitted__(self):
        return hasattr(self, self._fitted_attr)

    def _reset(self):
        """Forget a previous fit (a fit starts from nothing)."""
        for a in (self._fitted_attr, "_stats", "feature_names_in_", "_randomized_fit"):
            if hasattr(self, a):
                delattr(self, a)

    def _validate(self, X: Any, *, reset: bool, min_samples: int = 1,
                  accept_sparse: bool = False, allow_nan: bool = False,
                  any_align: bool = False) -> FloatArray:
        """X checked (a dask array stays lazy: whole rows per block, float dtype; a
        scipy.sparse X stays sparse, CSR or CSC, when `accept_sparse`, else it is
        refused), and n_features_in_ / feature_names_in_ set (reset) or compared.
        `any_align`: a dense X not aligned to its elements is not copied (the
        transforms' kernels read X as bytes; a dask block received over the network
        is often misaligned)."""
        who = type(self).__name__
        if _is_dask(X):
            names = None
            X = _dask().as_rows(X, who, min_samples=min_samples)
        elif accept_sparse and _v.is_sparse(X):
            names = None
            X = _v.sparse_2d(X, who, ("csr", "csc"), min_samples, allow_nan=allow_nan)
        else:
            names = _feature_names(X)
            X = _v.as_2d_float(X, who, min_samples=min_samples, any_align=any_align)
        self._check_features(X.shape[1], names, reset=reset)
        return X

    def _check_features(self, width: int, names: Any, *, reset: bool) -> None:
        """n_features_in_ / feature_names_in_ set (reset) or compared with X's."""
        who = type(self).__name__
        if reset:
            self.n_features_in_ = width
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return
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
        if width != self.n_features_in_:
            raise ValueError(f"X has {width} features, but {who} is expecting "
                             f"{self.n_features_in_} features as input.")

    def _batch_stats(self, cls, X, *, reset):
        """X validated and reduced to `cls` statistics (a dask array block by block)."""
        return self._stats_of(cls, self._validate(X, reset=reset, min_samples=1))

    def _stats_of(self, cls, X):
        """`cls` statistics of a validated X; a dask array's row count, unknown until
        computed, is checked afterwards; a sparse X (asked for Scatter only) is
        reduced without centring it (no densifying)."""
        if _v.is_sparse(X):
            return cls(*_pca.sparse_statistics(X), X.dtype)
        st = cls.from_array(X)
        _v.check_2d_shape((st.n, st.n_features), type(self).__name__)
        return st

    def _lazy(self, method: str, X: Any, width: int, **kwargs: Any) -> Any:
        """`method` of a snapshot of this estimator (a later fit does not change the
        result) applied to each row block of the validated dask array X: a lazy dask
        array of X's dtype, X's row chunks and `width` columns."""
        return _dask().map_rows(X, _copy.deepcopy(self), method, width, kwargs)

    def _validate_out(self, Y: Any, width: int, what: str) -> FloatArray:
        """Input of inverse_transform: 2-D, `width` columns."""
        who = type(self).__name__
        Y = _dask().as_rows(Y, who) if _is_dask(Y) else self._as_2d_out(Y)
        if Y.shape[1] != width:
            raise ValueError(f"X has {Y.shape[1]} features, but {type(self).__name__}."
                             f"inverse_transform is expecting {width} ({what}).")
        return Y

    def _as_2d_out(self, Y: Any) -> Any:
        """Input of inverse_transform, converted (before its width is checked)."""
        return _v.as_2d_float(Y, type(self).__name__)

    def fit_transform(self, X, y=None, **fit_params):
        """Fit to X, then transform X."""
        return self.fit(X, y, **fit_params).transform(X)


class Standardizer(_Preprocessor):
    r"""Standardize features: :math:`z = (x - \mu) / \sigma` per column
    (scikit-learn's ``StandardScaler``; ``gradkit.preprocessing.StandardScaler`` is this
    class).

    With row weights :math:`w_i` (``sample_weight``, frequency weights; 1 without) and
    the entries that are not NaN, per column: :math:`c = \sum w_i`,
    :math:`\mu = \sum w_i x_i / c` and :math:`\sigma^2 = \sum w_i (x_i - \mu)^2 / c`
    (the biased variance, ddof=0).  A feature whose variance is indistinguishable from
    zero (scikit-learn's ``_is_constant_feature`` bound
    :math:`\sigma^2 \le c\epsilon\sigma^2 + (c\mu\epsilon)^2`) gets scale 1; a constant
    column has variance exactly 0.  Mean and variance are accumulated in float64: dense
    NaN-free unweighted data in one read by the compiled kernel (fixed row chunks,
    Chan's merge, bitwise the same for any thread count), weighted or NaN-holding data
    by a NaN-aware weighted kernel of the same structure, sparse data by kernels that
    read CSR or CSC as they are (``gradkit._scaler``).  ``transform`` is one fused
    pass.

    NaN is ignored by the fit (per-column counts) and kept by ``transform`` /
    ``inverse_transform``; infinity raises ValueError.  Sparse X (scipy CSR/CSC; other
    formats are converted to CSR) needs ``with_mean=False``: the fit reads the stored
    values only (implicit zeros count as zeros), ``transform`` / ``inverse_transform``
    scale the stored values and return the same format.  float16 data give float16
    results (computed in float64, rounded once), float32 stay float32, other numbers
    become float64; the statistics are float64.

    Parameters
    ----------
    with_mean : bool, default True
        Subtract the mean (ValueError for sparse X).
    with_std : bool, default True
        Divide by the standard deviation.
    copy : bool, default True
        If False, ``transform`` and ``inverse_transform`` write into X and return it
        when X is a writable float16/float32/float64 ndarray (any layout) or a CSR/CSC
        matrix of float32/float64 values; otherwise they return a new array (as
        StandardScaler's ``copy=False``).

    Attributes
    ----------
    mean_ : ndarray (n_features,) float64, or None when both options are False
        NaN for a column without values.
    var_ : ndarray (n_features,) float64, or None when ``with_std`` is False
    scale_ : ndarray (n_features,) float64, or None when ``with_std`` is False
    n_samples_seen_ : int, float, or ndarray (n_features,)
        Rows seen (np.int64); per column (int64 array) when some column had NaN and
        the counts differ; the sum of the weights (float64, or a float64 array) once
        ``sample_weight`` was given.
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when fitted on a dataframe)
    """

    _fitted_attr = "n_samples_seen_"
    # fitted attributes
    mean_: Optional[NDArray[np.float64]]
    var_: Optional[NDArray[np.float64]]
    scale_: Optional[NDArray[np.float64]]
    n_samples_seen_: Union[np.int64, np.float64, NDArray[Any]]
    _stats: Moments

    def __init__(self, with_mean: bool = True, with_std: bool = True, *,
                 copy: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std
        self.copy = copy

    if HAVE_SKLEARN:
        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.input_tags.allow_nan = True
            tags.input_tags.sparse = not self.with_mean
            return tags

    def _check_params(self):
        _v.flag(self.with_mean, "with_mean")
        _v.flag(self.with_std, "with_std")
        _v.flag(self.copy, "copy")

    def _validate(self, X: Any, *, reset: bool, min_samples: int = 1,
                  accept_sparse: bool = True, allow_nan: bool = True,
                  any_align: bool = False) -> Any:
        """As the shared check, NaN allowed, and sparse X as CSR/CSC (no centring of it)."""
        if _v.is_sparse(X):
            self._no_sparse_centring("center")
        return super()._validate(X, reset=reset, min_samples=min_samples,
                                 accept_sparse=True, allow_nan=True, any_align=any_align)

    def _as_2d_out(self, Y: Any) -> Any:
        if not _v.is_sparse(Y):
            return super()._as_2d_out(Y)
        self._no_sparse_centring("uncenter")
        return _v.sparse_2d(Y, type(self).__name__, allow_nan=True)

    def _no_sparse_centring(self, what):
        if self.with_mean:   # scikit-learn's messages
            raise ValueError(f"Cannot {what} sparse matrices: pass `with_mean=False` "
                             f"instead{'' if what == 'uncenter' else '.'} See docstring "
                             "for motivation and alternatives.")

    @_atomic
    def fit(self, X: ArrayLike, y: Any = None, sample_weight: Any = None) -> Self:
        """Compute the (weighted) mean and standard deviation of X's columns, NaN
        ignored (X may be sparse with ``with_mean=False``, or a dask array: reduced
        block by block, never materialized)."""
        self._check_params()
        self._reset()
        return self.partial_fit(X, sample_weight=sample_weight)

    @_atomic
    def partial_fit(self, X: ArrayLike, y: Any = None, sample_weight: Any = None
                    ) -> Self:
        """Merge X's column statistics into the running ones (Chan's update, column
        by column with the counts: weighted counts merge exactly as frequency
        weights)."""
        self._check_params()
        first = not hasattr(self, "n_samples_seen_")
        if sample_weight is None and not _v.is_sparse(X):
            batch = self._batch_stats(Moments, X, reset=first)
        else:
            batch = self._weighted_stats(X, sample_weight, reset=first)
        self._set_stats(batch if first else self._stats.merge(batch))
        return self

    def _weighted_stats(self, X, sample_weight, *, reset):
        """Moments of a sparse X or of weighted rows (gradkit._scaler's kernels)."""
        if _is_dask(X):
            raise TypeError("sample_weight is not supported with a dask array X; fit "
                            "Moments of the weighted blocks and use fit_stats")
        X = self._validate(X, reset=reset)
        w = _scaler.sample_weight(sample_weight, X.shape[0])
        if not _v.is_sparse(X):
            return Moments._of(X, w)
        count, mean, m2 = _scaler.sparse_moments(X, w)
        return Moments(X.shape[0], mean, m2, count=count, weighted=w is not None)

    @_atomic
    def fit_stats(self, stats: Union[Moments, Scatter]) -> Self:
        """Fit from statistics reduced elsewhere (a :class:`Moments`, or a
        :class:`Scatter` whose diagonal is used): the same model as ``fit`` on the rows
        they describe.  A later ``partial_fit`` merges into them."""
        self._check_params()
        if isinstance(stats, Scatter):
            stats = stats.moments()
        if not isinstance(stats, Moments):
            raise TypeError(f"stats must be a Moments or a Scatter, got "
                            f"{type(stats).__name__}")
        if stats.n < 1:
            raise ValueError("stats describe 0 samples; Standardizer needs at least 1")
        self._reset()
        self.n_features_in_ = stats.n_features
        self._set_stats(stats)
        return self

    def _set_stats(self, st):
        """The fitted attributes from the merged statistics (scikit-learn's forms)."""
        self._stats = st
        counts = st.counts
        if st.count is None:
            self.n_samples_seen_ = np.int64(st.n)
        else:
            c = counts if st.weighted else counts.astype(np.int64)
            self.n_samples_seen_ = c[0] if c.max() == c.min() else c.copy()
        mean = np.where(counts > 0, st.mean, np.nan)   # NaN: a column without values
        self.mean_ = mean if (self.with_mean or self.with_std) else None
        if self.with_std:
            var = st.var()
            eps = np.finfo(np.float64).eps
            with np.errstate(invalid="ignore"):
                constant = var <= counts * eps * var + (counts * mean * eps) ** 2
            scale = np.sqrt(var)
            scale[constant] = 1.0
            self.var_, self.scale_ = var, scale
        else:
            self.var_ = self.scale_ = None

    def transform(self, X: ArrayLike, copy: Optional[bool] = None) -> Any:
        """:math:`(X - \\mu) / \\sigma` in X's dtype (computed in float64, rounded once);
        NaN kept.  Sparse X: its stored values divided by :math:`\\sigma`."""
        self._check_fitted()
        copy = _v.flag(self.copy if copy is None else copy, "copy")
        if _v.is_sparse(X):
            return self._scale_sparse(self._validate(X, reset=False), X, copy, False)
        Xv = self._validate(X, reset=False, any_align=True)
        if _is_dask(Xv):   # never in place: dask's blocks may be shared or cached
            return self._lazy("transform", Xv, Xv.shape[1], copy=True)
        target, private = _write_target(X, Xv, copy)
        if target is Xv or private:
            _scaler.check_no_inf(Xv)   # checked before X is overwritten
        # a fresh 200 MB output costs more in page faults than the pass (output cache);
        # the kernel reads a misaligned X in place but writes only aligned arrays
        in_place = (target is Xv or private) and Xv.flags.aligned
        Y = Xv if in_place else _v.empty(Xv.shape, Xv.dtype)
        if _k.standardize(Xv, Y, self.mean_ if self.with_mean else None, self.scale_):
            _scaler.check_no_inf(Xv)   # NaN passes
        return _deliver(X, Y, target)

    def fit_transform(self, X: ArrayLike, y: Any = None,  # type: ignore[override]
                      sample_weight: Any = None) -> Any:
        """Fit, then transform X: one read for the statistics, one fused pass."""
        self.fit(X, sample_weight=sample_weight)
        return self.transform(X)

    def inverse_transform(self, X: ArrayLike, copy: Optional[bool] = None) -> Any:
        """:math:`X \\sigma + \\mu`, in X's dtype (float64 arithmetic, rounded once);
        NaN kept.  Sparse X: its stored values multiplied by :math:`\\sigma`."""
        self._check_fitted()
        copy = _v.flag(self.copy if copy is None else copy, "copy")
        Xv = self._validate_out(X, self.n_features_in_, "n_features_in_")
        if _v.is_sparse(Xv):
            return self._scale_sparse(Xv, X, copy, True)
        if _is_dask(Xv):
            return self._lazy("inverse_transform", Xv, Xv.shape[1], copy=True)
        _scaler.check_no_inf(Xv)
        target, private = _write_target(X, Xv, copy)
        own = Xv.dtype == np.float64 and (target is Xv or private)
        Y = Xv if own else Xv.astype(np.float64)
        if self.with_std:
            Y *= self.scale_  # type: ignore[operator]  # set when with_std
        if self.with_mean:
            Y += self.mean_  # type: ignore[operator]  # set when with_mean
        return _deliver(X, Y, target, Xv.dtype)

    def _scale_sparse(self, Xs, X, copy, inverse):
        """Sparse (in)verse scaling: into Xs when it is a private conversion of X or
        when copy is False and its values are writable, else into a copy."""
        _scaler.check_no_inf(Xs.data)
        inplace = Xs is not X or (not copy and Xs.data.flags.writeable)
        if self.scale_ is None:
            return Xs if inplace else Xs.copy()
        return _scaler.scale_sparse(Xs, self.scale_, inverse=inverse, inplace=inplace)

    def get_feature_names_out(self, input_features: Optional[ArrayLike] = None
                              ) -> NDArray[np.object_]:
        """The input feature names (one output per input)."""
        self._check_fitted()
        return _names_in(self, input_features)


#: scikit-learn's name for :class:`Standardizer` (the same class).
StandardScaler = Standardizer


def _write_target(X, Xv, copy):
    """(target, private) for the Standardizer's transforms: `target` is the array the
    result goes into (X itself when copy is False and X is a writable ndarray of
    float16/32/64 in native order, as scikit-learn's copy=False; else None); `private`
    when the validated Xv is a conversion of X that nobody else sees."""
    target = None
    if (not copy and isinstance(X, np.ndarray) and X.flags.writeable
            and X.dtype in _STANDARDIZER_DTYPES):
        target = X
    return target, isinstance(X, np.ndarray) and Xv is not X


_STANDARDIZER_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def _deliver(X, Y, target, dtype=None):
    """The result Y (float32/64) as the caller gets it: written into `target` (one
    rounding) when there is one, else in X's float16 or `dtype`."""
    if target is not None:
        if target is not Y:
            target[...] = Y
        return target
    if isinstance(X, np.ndarray) and X.dtype == np.float16:
        return Y.astype(np.float16)
    return Y if dtype is None else Y.astype(dtype, copy=False)


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
                             f"min(n_samples, n_features)={rank} with "
                             "svd_solver='covariance_eigh'")
        return k
    if isinstance(n_components, numbers.Real) and 0.0 < n_components < 1.0:
        cum = np.cumsum(ratio)
        return int(min(np.searchsorted(cum, n_components, side="right") + 1, rank))
    if isinstance(n_components, numbers.Real):
        raise ValueError(f"n_components={n_components!r} must be an int in [0, rank] "
                         "or a float in (0, 1)")
    raise TypeError(f"{who}: n_components must be None, an int or a float in (0, 1), "
                    f"got {type(n_components).__name__}")


def _check_randomized_params(est):
    """The randomized solver's parameters, scikit-learn's constraints (checked whatever
    svd_solver, as there)."""
    if est.iterated_power != "auto":
        if isinstance(est.iterated_power, str):
            raise ValueError(f"iterated_power must be 'auto' or an int >= 0, got "
                             f"{est.iterated_power!r}")
        _v.integer(est.iterated_power, "iterated_power", minimum=0)
    _v.integer(est.n_oversamples, "n_oversamples", minimum=1)
    _v.choice(est.power_iteration_normalizer, "power_iteration_normalizer",
              _rpca.NORMALIZERS)
    _rpca.check_random_state(est.random_state)


class _Decomposer(_Preprocessor):
    """Shared fitting of PCA and Whitener: statistics (or an SVD), decomposition."""

    _solvers: tuple[str, ...] = _SOLVERS

    def _check_common(self):
        _v.choice(self.svd_solver, "svd_solver", self._solvers)

    def fit(self, X: ArrayLike, y: Any = None) -> Self:
        """Fit the model with X."""
        self._fit(X)
        return self

    @_single_blas
    @_atomic
    def _fit(self, X):
        """Fit on X alone; returns (U, S) of the centred data for the SVD solvers,
        (None, None) for the statistics."""
        self._check_params()
        self._reset()
        if _v.is_sparse(X):
            self._check_sparse_solver()
        X = self._validate(X, reset=True, min_samples=1, accept_sparse=True)
        solver, n_components = self._solver_for(X)
        self._fit_svd_solver = solver
        if _is_dask(X) and solver != "covariance_eigh":
            raise ValueError(
                f"{type(self).__name__}(svd_solver={solver!r}) needs all of X in memory; "
                "a dask array is fitted from its statistics: use "
                "svd_solver='covariance_eigh'")
        return getattr(self, f"_fit_{solver}")(X, n_components)

    def _check_sparse_solver(self):
        raise TypeError(f"{type(self).__name__} does not accept sparse input; convert X "
                        "to a dense array first (e.g. X.toarray())")

    def _solver_for(self, X):
        """The solver and the n_components a fit of the validated X uses."""
        return self.svd_solver, self.n_components

    def _centred(self, X):
        """The column mean (float64) and the centred data: a float64 copy, or with
        ``copy=False`` X itself centred in place in its dtype (X -= mean_, as
        scikit-learn does; a read-only X is copied first)."""
        if getattr(self, "copy", True):
            mean = np.empty(X.shape[1])
            Xc = _v.empty(X.shape, np.float64)
            if _k.center(X, None, mean, Xc):
                _v.raise_nonfinite(X)
            return mean, Xc
        mean, m2 = np.empty(X.shape[1]), np.empty(X.shape[1])
        _k.col_moments(X, mean, m2)
        if not (np.isfinite(mean).all() and np.isfinite(m2).all()):
            _v.raise_nonfinite(X)
        if not X.flags.writeable:
            X = X.copy()
        X -= mean.astype(X.dtype)
        return mean, X

    def _fit_full(self, X, n_components):
        """LAPACK SVD of the centred data (all of X in memory)."""
        n = X.shape[0]
        self._require_two(n)
        mean, Xc = self._centred(X)
        w, V, U, S = _svd_desc(Xc, self._denominator(n), complete=isinstance(self, Whitener),
                               overwrite=Xc is not X)
        self._finish(n, mean, w, V, X.dtype, None, n_components)
        # the statistics follow from the SVD (S = V diag(s^2) V^T), so a later
        # partial_fit merges into them
        Vs = V[:, :S.size]
        self._stats = Scatter(n, mean, (Vs * S * S) @ Vs.T, X.dtype)
        return U, S

    def _fit_covariance_eigh(self, X, n_components):
        """Mergeable statistics (a dask array: block by block; sparse: X^T X - n mu mu^T)
        and the covariance eigensolver."""
        st = self._stats_of(Scatter, X)
        self._require_two(st.n)
        self._stats = st
        self._from_stats(st.dtype, n_components)
        return None, None

    @_single_blas
    @_atomic
    def partial_fit(self, X: ArrayLike, y: Any = None) -> Self:
        """Merge X's statistics (count, mean, scatter) into the running ones and refit
        the decomposition from them with the covariance eigensolver (whatever
        ``svd_solver``: only statistics can be merged).  Batches may have any number of
        rows; the model is available once 2 samples have been seen.  A model fitted
        with svd_solver='randomized' holds no statistics to merge into: ValueError."""
        self._check_params()
        if getattr(self, "_randomized_fit", False):
            raise ValueError(f"{type(self).__name__} was fitted with svd_solver="
                             "'randomized', which keeps no statistics to merge a batch "
                             "into; refit with svd_solver='covariance_eigh' to stream")
        first = getattr(self, "_stats", None) is None
        batch = self._stats_of(Scatter, self._validate(X, reset=first, accept_sparse=True))
        total = batch if first else self._stats.merge(batch)
        self._stats = total
        if total.n >= 2:
            self._from_stats(batch.dtype)
        return self

    @_single_blas
    @_atomic
    def fit_stats(self, stats: Scatter) -> Self:
        """Fit from a :class:`Scatter` reduced elsewhere (any engine's shards merged):
        the same model as ``fit`` on the rows it describes (covariance eigensolver,
        whatever ``svd_solver``; attributes in ``stats.dtype``).  A later
        ``partial_fit`` merges into it."""
        self._check_params()
        if not isinstance(stats, Scatter):
            hint = " (Moments hold only the diagonal)" if isinstance(stats, Moments) else ""
            raise TypeError(f"stats must be a Scatter{hint}, got {type(stats).__name__}")
        self._require_two(stats.n)
        self._reset()
        self.n_features_in_ = stats.n_features
        self._stats = stats
        self._from_stats(stats.dtype)
        return self

    def _require_two(self, n):
        if n < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 samples to fit, got "
                             f"{n} sample (n_samples = {n})")

    def _from_stats(self, dtype, n_components=None):
        """The decomposition of the running statistics; `n_components` as checked by
        a fit (None: the estimator's parameter)."""
        st = self._stats
        k = self.n_components if n_components is None else n_components
        top = int(k) if isinstance(k, numbers.Integral) and not isinstance(k, bool) else None
        w, V, total = _eigh_desc(st._lower, self._denominator(st.n), top)
        self._finish(st.n, st.mean.copy(), w, V, dtype, total, k)


class PCA(_pca.ProbabilisticPCA, _Decomposer):
    r"""Principal component analysis with optional whitening (scikit-learn 1.9's ``PCA``).

    With the centred data :math:`X_c = X - \mu` and the eigen-decomposition of its
    covariance :math:`X_c^T X_c / (n-1) = V \Lambda V^T` (eigenvalues descending),
    ``explained_variance_`` is :math:`\Lambda` (= :math:`S^2/(n-1)` for the singular
    values :math:`S` of :math:`X_c`), ``components_`` is :math:`V^T` with
    scikit-learn's sign convention (``svd_flip(u_based_decision=False)``: each
    component's entry of largest magnitude is positive), and

    .. math:: \mathrm{transform}(X) = (X - \mu)\,V_k\;[\,/\sqrt{\Lambda_k}\ \text{if whiten}]

    with :math:`\sqrt{\Lambda}` clipped below at the dtype's eps as scikit-learn does.
    ``score_samples`` / ``score`` / ``get_covariance`` / ``get_precision`` are the
    probabilistic PCA model (Tipping & Bishop), scikit-learn's formulas.

    Parameters
    ----------
    n_components : int, float in (0, 1), 'mle' or None
        Components kept; None keeps ``min(n_samples, n_features)`` (``- 1`` with
        'arpack'); a float keeps the fewest whose explained variance ratio sums above
        it; 'mle' is Minka's MLE of the dimension (needs n_samples >= n_features).
    whiten : bool, default False
        Scale the projections to unit variance.
    copy : bool, default True
        False lets 'full', 'arpack' (and 'randomized') fit centre X in place,
        ``X -= mean_``, and decompose it in X's dtype, when X is a writable
        C-contiguous float32/float64 ndarray (otherwise the converted copy is
        centred); X is then no longer the data, and ``fit(X).transform(X)`` is wrong:
        use ``fit_transform``.  'covariance_eigh', sparse and dask input never modify
        X.  With True the SVD solvers centre a float64 copy.
    svd_solver : {'auto', 'full', 'covariance_eigh', 'arpack', 'randomized'}, default 'auto'
        'auto' is scikit-learn 1.9's policy (the default moved from 'covariance_eigh'
        to 'auto', as in scikit-learn 1.5): 'covariance_eigh' for n_features <= 1000
        and n_samples >= 10 n_features; else 'full' when both sides are <= 500 or
        n_components='mle'; else 'randomized' for 1 <= n_components < 0.8 min(shape);
        else 'full'; 'arpack' for sparse input; a dask array always uses
        'covariance_eigh' (it is fitted from its statistics).
        'covariance_eigh': mergeable statistics and LAPACK ``eigh`` of the covariance;
        loses eigenvalues below about ``eps * explained_variance_[0]`` since the
        condition number squares.  'full': LAPACK SVD of the centred data; accurate
        down to ``eps * singular_values_[0]``.  'arpack': ``scipy.sparse.linalg.svds``
        of the centred data (implicitly centred when sparse) for
        0 < n_components < min(shape).  'randomized': Halko et al.'s randomized SVD.
        ``partial_fit`` and ``fit_stats`` always use the statistics.
    tol : float >= 0, default 0.0
        Tolerance of 'arpack' (``svds(tol=)``; 0 is machine precision).
    iterated_power : int >= 0 or 'auto', default 'auto'
        Power iterations of 'randomized'.
    n_oversamples : int >= 1, default 10
        Extra random vectors of 'randomized'.
    power_iteration_normalizer : {'auto', 'QR', 'LU', 'none'}, default 'auto'
        Normalizer of the power iterations of 'randomized'.
    random_state : None, int or numpy.random.RandomState
        Seeds 'arpack' (its start vector, drawn as scikit-learn draws it) and
        'randomized'.

    Attributes
    ----------
    components_ : (n_components_, n_features)
    explained_variance_, explained_variance_ratio_, singular_values_ : (n_components_,)
    mean_ : (n_features,)
    n_components_ : int
    n_samples_ : int
    noise_variance_ : float
        Mean of the discarded eigenvalues, over ``min(n_samples, n_features) -
        n_components_`` of them (0 when none are discarded).
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when fitted on a dataframe)

    Attributes have X's dtype; the statistics behind them are float64.
    """

    _fitted_attr = "components_"
    _solvers = _PCA_SOLVERS
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
                 whiten: bool = False, *, copy: bool = True, svd_solver: str = "auto",
                 tol: float = 0.0, iterated_power: Union[int, str] = "auto",
                 n_oversamples: int = 10, power_iteration_normalizer: str = "auto",
                 random_state: Any = None) -> None:
        self.n_components = n_components
        self.whiten = whiten
        self.copy = copy
        self.svd_solver = svd_solver
        self.tol = tol
        self.iterated_power = iterated_power
        self.n_oversamples = n_oversamples
        self.power_iteration_normalizer = power_iteration_normalizer
        self.random_state = random_state

    if HAVE_SKLEARN:
        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.input_tags.sparse = self._takes_sparse()
            return tags

    def _takes_sparse(self):
        """Whether fit takes scipy.sparse input (scikit-learn's tag)."""
        return self.svd_solver in _PCA_SPARSE_SOLVERS

    def _check_params(self):
        _v.flag(self.whiten, "whiten")
        _v.flag(self.copy, "copy")
        _v.nonneg_float(self.tol, "tol")
        self._check_common()
        _check_randomized_params(self)
        k = self.n_components
        if isinstance(k, str):
            if k != "mle":
                raise ValueError(f"n_components={k!r} is not supported (use None, 'mle', "
                                 "an int or a float in (0, 1))")
        elif k is not None and not isinstance(k, numbers.Integral):
            _v.real(k, "n_components")  # TypeError for bools and non-numbers
            if not 0.0 < float(k) < 1.0:
                raise ValueError(f"n_components={k!r} must be an int in [0, rank], a "
                                 "float in (0, 1) or 'mle'")
        elif k is not None:
            _v.positive_int(k, "n_components", minimum=0)

    def _check_sparse_solver(self):
        if self.svd_solver not in _PCA_SPARSE_SOLVERS:
            raise TypeError(
                'PCA only support sparse inputs with the "arpack" and "covariance_eigh" '
                f'solvers, while "{self.svd_solver}" was passed. See TruncatedSVD for a '
                "possible alternative.")

    def _solver_for(self, X):
        lazy = _is_dask(X)
        solver = _pca.choose_solver(self.svd_solver, X.shape, self.n_components,
                                    _v.is_sparse(X), lazy)
        if lazy:   # the row count may be unknown: checked against the statistics
            return solver, self.n_components
        return solver, _pca.check_n_components(self.n_components, X.shape, solver)

    def _fit_arpack(self, X, n_components):
        """ARPACK's truncated SVD of the centred data (sparse X: implicitly centred)."""
        n = X.shape[0]
        self._require_two(n)
        if _v.is_sparse(X):
            mean, total = _pca.sparse_mean_total_var(X)
            A = _pca.centred_operator(_pca._canonical64(X), mean)
        else:
            mean, A = self._centred(X)
            total = float(np.einsum("ij,ij->", A, A, dtype=np.float64)) / (n - 1)
        U, S, Vt = _pca.arpack_svd(A, n_components, self.tol, self.random_state)
        return self._finish_truncated(n, mean, U, S, Vt, total, X.dtype)

    def _fit_randomized(self, X, n_components):
        """Halko et al.'s randomized SVD as scikit-learn 1.9 runs it, every product with
        X a compiled pass with the centring folded in (gradkit._randomized); X is never
        copied or modified.  Returns (U, S) for fit_transform."""
        n = X.shape[0]
        self._require_two(n)
        mean, ss, U, S, Vt = _rpca.randomized_pca(
            X, n_components, n_oversamples=self.n_oversamples, n_iter=self.iterated_power,
            power_iteration_normalizer=self.power_iteration_normalizer,
            random_state=self.random_state)
        U, S = self._finish_truncated(n, mean, U, S, Vt, ss / (n - 1), X.dtype)
        self._randomized_fit = True   # no statistics for a later partial_fit
        return U, S

    def _finish_truncated(self, n, mean, U, S, Vt, total, dtype):
        """Fitted attributes from the k leading singular triplets of the centred data
        and its total variance (scikit-learn's truncated solvers: the ratio is over the
        total, the noise variance is the rest of it spread over min(shape) - k);
        returns (U, S) for fit_transform."""
        S = np.asarray(S, dtype=np.float64)
        V = np.array(Vt.T, dtype=np.float64)
        self._finish(n, mean, S * S / (n - 1), V, dtype, total, S.size)
        return U, S

    @staticmethod
    def _denominator(n):
        return n - 1

    def _finish(self, n, mean, w, V, dtype, total=None, n_components=None):
        rank = min(n, V.shape[0])
        w, V = w[:rank], V[:, :rank]
        signs = _flip_signs(V)
        self._signs = signs
        partial = len(w) < rank  # only the leading pairs: the rest via the trace
        total = w.sum() if total is None or not partial else max(total, w.sum())
        ratio = w / total if total > 0 else np.zeros_like(w)
        if n_components == "mle":
            if n < V.shape[0]:
                raise ValueError("n_components='mle' is only supported if n_samples >= "
                                 "n_features")
            k = _pca.infer_dimension(w, n)
        else:
            k = _resolve_components(n_components, rank, ratio, type(self).__name__)
        self.n_components_ = k
        self.n_samples_ = n
        if k >= rank:
            noise = 0.0
        elif partial:
            noise = max(total - w[:k].sum(), 0.0) / (rank - k)
        else:
            noise = w[k:].mean()
        self._noise_variance = float(noise)
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
        whiten), one pass over X, in X's dtype.  A sparse X is not densified:
        :math:`X V_k - \mu V_k`."""
        self._check_fitted()
        X = self._validate(X, reset=False, accept_sparse=True, any_align=True)
        if _is_dask(X):
            return self._lazy("transform", X, self._proj.shape[1])
        if _v.is_sparse(X):
            return _pca.sparse_project(X, self._mean, self._proj, X.dtype)
        return _project(X, self._mean, self._proj)

    def fit_transform(self, X: ArrayLike, y: Any = None) -> FloatArray:  # type: ignore[override]
        """Fit, then project X.  With the SVD solvers the projection is U S (or
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
        if _is_dask(Y):
            return self._lazy("inverse_transform", Y, self.n_features_in_)
        back = self._components
        if self.whiten:
            back = np.sqrt(self._explained_variance)[:, None] * back
        return (Y.astype(np.float64) @ back + self._mean).astype(Y.dtype, copy=False)

    def get_feature_names_out(self, input_features: Optional[ArrayLike] = None
                              ) -> NDArray[np.object_]:
        """``pca0``, ``pca1``, ... (scikit-learn's class-name prefix)."""
        self._check_fitted()
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.n_components_)],
                          dtype=object)


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

    def _finish(self, n, mean, w, V, dtype, total=None, n_components=None):
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
        X = self._validate(X, reset=False, any_align=True)
        if _is_dask(X):
            return self._lazy("transform", X, self._proj.shape[1])
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
        if _is_dask(Y):
            return self._lazy("inverse_transform", Y, self.n_features_in_)
        return (Y.astype(np.float64) @ self._back + self._mean).astype(Y.dtype, copy=False)

    def get_feature_names_out(self, input_features: Optional[ArrayLike] = None
                              ) -> NDArray[np.object_]:
        """'zca': the input names; 'pca': ``whitener0``, ``whitener1``, ..."""
        self._check_fitted()
        if self.method == "zca":
            return _names_in(self, input_features)
        return np.asarray([f"whitener{i}" for i in range(self.n_components_)],
                          dtype=object)


# IncrementalPCA builds on PCA and Scatter above (its module imports this one)
from ._incremental_pca import IncrementalPCA  # noqa: E402
