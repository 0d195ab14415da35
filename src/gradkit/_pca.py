r"""PCA machinery that scikit-learn's PCA and IncrementalPCA define and gradkit's
estimators share: the 'auto' solver policy, the checks of n_components against the
data, Minka's MLE of the dimension, the ARPACK truncated SVD, sparse input (validation,
implicit centring, statistics, projection) and the probabilistic-PCA model
(``get_covariance``, ``get_precision``, ``score_samples``, ``score``).

Nothing here imports :mod:`gradkit.preprocessing` (which imports this module); the
estimators there call these functions and mix in :class:`ProbabilisticPCA`.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.sparse as _sp
from scipy.linalg import inv as _inv
from scipy.sparse.linalg import LinearOperator, svds

from . import _validation as _v
from ._randomized import check_random_state

__all__ = ["choose_solver", "check_n_components", "infer_dimension", "arpack_svd",
           "sparse_statistics",
           "sparse_project", "centred_operator", "batches", "ProbabilisticPCA"]

# scikit-learn 1.9's 'auto' thresholds (sklearn/decomposition/_pca.py)
_TALL_MAX_FEATURES = 1_000      # covariance_eigh up to this width ...
_TALL_RATIO = 10                # ... for at least this many samples per feature
_SMALL_MAX_SIDE = 500           # 'full' when both sides are at most this
_RANDOMIZED_MAX_SHARE = 0.8     # 'randomized' for fewer components than this share


# ---- solver policy and n_components ------------------------------------------------------

def choose_solver(svd_solver, shape, n_components, sparse=False, lazy=False):
    """The solver scikit-learn 1.9's ``svd_solver='auto'`` picks (a named solver is
    returned as it is).  Sparse input: 'arpack'.  Dense: 'covariance_eigh' for
    n_features <= 1000 and n_samples >= 10 n_features; else 'full' when both sides are
    <= 500 or n_components='mle'; else 'randomized' when 1 <= n_components < 0.8
    min(shape) (None counts as min(shape)); else 'full'.  `lazy` (a dask array, fitted
    from its statistics) always gets 'covariance_eigh', gradkit's rule."""
    if svd_solver != "auto":
        return svd_solver
    if lazy:
        return "covariance_eigh"
    if sparse:
        return "arpack"
    n, d = shape
    if d <= _TALL_MAX_FEATURES and n >= _TALL_RATIO * d:
        return "covariance_eigh"
    if max(shape) <= _SMALL_MAX_SIDE or n_components == "mle":
        return "full"
    k = min(shape) if n_components is None else n_components
    if 1 <= k < _RANDOMIZED_MAX_SHARE * min(shape):
        return "randomized"
    return "full"      # also n_components in (0, 1)


def check_n_components(n_components, shape, solver):
    """n_components checked against the data for `solver`, with scikit-learn's messages;
    returns what the fit keeps: an int, a float in (0, 1) or 'mle' (None becomes
    min(shape), or min(shape) - 1 for 'arpack')."""
    n, d = shape
    rank = min(n, d)
    if n_components is None:
        return rank - 1 if solver == "arpack" else rank
    if solver in ("arpack", "randomized"):
        if isinstance(n_components, str):
            raise ValueError(f"n_components={n_components!r} cannot be a string with "
                             f"svd_solver='{solver}'")
        if not 1 <= n_components <= rank:
            raise ValueError(f"n_components={n_components!r} must be between 1 and "
                             f"min(n_samples, n_features)={rank!r} with "
                             f"svd_solver='{solver}'")
        if solver == "arpack" and n_components == rank:
            raise ValueError(f"n_components={n_components!r} must be strictly less than "
                             f"min(n_samples, n_features)={rank!r} with "
                             f"svd_solver='{solver}'")
        return int(n_components)
    if n_components == "mle":
        if n < d:
            raise ValueError("n_components='mle' is only supported if n_samples >= "
                             "n_features")
        return n_components
    if not 0 <= n_components <= rank:
        raise ValueError(f"n_components={n_components} must be between 0 and "
                         f"min(n_samples, n_features)={rank} with svd_solver={solver!r}")
    return n_components


# ---- Minka's MLE of the dimension --------------------------------------------------------

_MLE_EPS = 1e-15     # scikit-learn's floor for the spectrum and the noise variance


def infer_dimension(spectrum, n_samples):
    r"""Minka's (NIPS 2000) choice of the PCA dimension: the rank in [1, d - 1] that
    maximizes the Laplace approximation of the evidence, for the covariance
    eigenvalues `spectrum` (descending, length d) of `n_samples` samples.  For rank k,
    with :math:`v = \max(\epsilon, \sum_{j \ge k} \lambda_j / (d - k))`,
    :math:`m = dk - k(k+1)/2`, :math:`\lambda'_j = \lambda_j` (j < k) or v:

    .. math::
        \log p = -k\log 2 + \sum_{i=1}^{k}\Big[\log\Gamma\big(\tfrac{d-i+1}{2}\big)
          - \tfrac{d-i+1}{2}\log\pi\Big] - \tfrac n2\sum_{i<k}\log\lambda_i
          - \tfrac{n(d-k)}{2}\log v + \tfrac{m+k}{2}\log 2\pi
          - \tfrac12\sum_{i<k}\sum_{j>i}\Big[\log\big((\lambda_i-\lambda_j)
            (\lambda'^{-1}_j - \lambda'^{-1}_i)\big) + \log n\Big] - \tfrac k2\log n

    (scikit-learn's ``_assess_dimension``; a rank whose kept eigenvalue is below 1e-15
    scores -inf).  The double sum is updated from rank to rank (O(d^2) in all, where
    the formula written out is O(d^3)).  A rank whose double sum meets two equal
    eigenvalues (a log of 0, where scikit-learn raises a math domain error) scores
    -inf.  Returns the chosen rank (0 only when every rank scores -inf)."""
    s = np.asarray(spectrum, dtype=np.float64)
    d = s.shape[0]
    n = float(n_samples)
    logn = math.log(n)
    ll = np.full(d, -np.inf)
    diff_next = s[:-1] - s[1:]
    ties = np.flatnonzero(diff_next <= 0)
    first_bad = int(ties[0]) + 1 if ties.size else d   # ranks from here meet log(0)

    def logdiff(a):        # log(s_i - s_j); ties are excluded above, keep them finite
        return np.log(np.where(a > 0, a, 1.0))

    pu = 0.0
    inner = 0.0            # sum over kept pairs i < j < k of log((s_i-s_j)(1/s_j-1/s_i))
    cross = 0.0            # sum over i < k <= j of log(s_i - s_j)
    for k in range(1, min(d, first_bad)):
        i = k - 1          # the index kept from this rank on
        if s[i] < _MLE_EPS:
            break          # descending: every larger rank keeps it too
        pu += -math.log(2.0) + math.lgamma((d - i) / 2.0) - math.log(math.pi) * (d - i) / 2.0
        kept = s[:i]
        inner += float(np.sum(logdiff(kept - s[i]) + np.log(1.0 / s[i] - 1.0 / kept)))
        cross += float(np.sum(logdiff(s[i] - s[k:])) - np.sum(logdiff(kept - s[i])))
        v = max(_MLE_EPS, float(s[k:].sum()) / (d - k))
        tail = (d - k) * float(np.sum(np.log(1.0 / v - 1.0 / s[:k])))
        pairs = k * (d - 1) - k * (k - 1) / 2
        pa = inner + cross + tail + pairs * logn
        pl = -float(np.sum(np.log(s[:k]))) * n / 2.0
        pv = -math.log(v) * n * (d - k) / 2.0
        m = d * k - k * (k + 1.0) / 2.0
        pp = math.log(2.0 * math.pi) * (m + k) / 2.0
        ll[k] = pu + pl + pv + pp - pa / 2.0 - k * logn / 2.0
    return int(np.argmax(ll))


# ---- ARPACK ------------------------------------------------------------------------------

def arpack_svd(A, k, tol, random_state):
    """The k leading singular triplets of A (an array or a LinearOperator) by ARPACK
    (``scipy.sparse.linalg.svds``), started as scikit-learn starts it (v0 uniform in
    [-1, 1] of length min(A.shape) from `random_state`).  Returns U, S, Vt with S
    descending (svds gives them ascending)."""
    v0 = check_random_state(random_state).uniform(-1, 1, min(A.shape))
    U, S, Vt = svds(A, k=k, tol=tol, v0=v0)
    return U[:, ::-1], S[::-1].copy(), Vt[::-1]


# ---- sparse input ------------------------------------------------------------------------

def _canonical64(X):
    """A float64 CSR copy of X with duplicates summed (the values only: no
    densifying)."""
    Y = _sp.csr_matrix(X, dtype=np.float64, copy=True)
    Y.sum_duplicates()
    return Y


def sparse_statistics(X):
    r"""n, the column mean and the centred scatter :math:`X^T X - n\mu\mu^T` of a
    sparse X (scikit-learn's covariance_eigh route for sparse input: X is never
    centred, which would densify it).  In float64; the subtraction cancels digits when
    the mean is large next to the spread."""
    Y = _canonical64(X)
    n = Y.shape[0]
    mean = np.asarray(Y.sum(axis=0)).ravel() / n
    S = (Y.T @ Y).toarray()
    S -= n * np.outer(mean, mean)
    return n, mean, S


def sparse_mean_total_var(X):
    r"""The column mean of a sparse X and its total variance
    :math:`\sum_j \sum_i (x_{ij} - \mu_j)^2 / (n - 1)`, the stored values centred
    one by one and each column's implicit zeros counted as :math:`\mu_j^2`."""
    Y = _canonical64(X).tocoo()
    n, d = Y.shape
    mean = np.bincount(Y.col, weights=Y.data, minlength=d) / n
    stored = np.bincount(Y.col, minlength=d)
    m2 = np.bincount(Y.col, weights=(Y.data - mean[Y.col]) ** 2, minlength=d)
    m2 += (n - stored) * mean * mean
    return mean, float(m2.sum()) / (n - 1)


def centred_operator(X, mean):
    """X - 1 mean^T as a LinearOperator (products only, X stays sparse)."""
    offset = mean[None, :]
    XT = X.T
    return LinearOperator(
        shape=X.shape, dtype=np.float64,
        matvec=lambda x: X @ x - offset @ x,
        matmat=lambda x: X @ x - offset @ x,
        rmatvec=lambda x: XT @ x - offset.ravel() * np.sum(x),
        rmatmat=lambda x: XT @ x - offset.T @ np.sum(x, axis=0)[None, :])


def sparse_project(X, mean, M, dtype):
    """(X - mean) @ M for a sparse X, as X @ M - mean @ M (X is never densified), in
    `dtype`."""
    Y = _sp.csr_matrix(X, dtype=np.float64) @ M
    Y -= mean @ M
    return np.ascontiguousarray(Y, dtype=dtype)


# ---- IncrementalPCA's batches ------------------------------------------------------------

def batches(n_samples, batch_size, min_batch_size=0):
    """scikit-learn's ``gen_batches``: slices of `batch_size` rows, the last one merged
    into the one before when it would have fewer than `min_batch_size` rows."""
    start = 0
    for _ in range(n_samples // batch_size):
        end = start + batch_size
        if end + min_batch_size > n_samples:
            continue
        yield slice(start, end)
        start = end
    if start < n_samples:
        yield slice(start, n_samples)


# ---- the probabilistic PCA model ---------------------------------------------------------

def _one_blas_thread():
    """BLAS held to one thread (gradkit.preprocessing's rule: its bits must not depend
    on the thread count); imported when called, since that module imports this one."""
    from .preprocessing import _threads_for_blas
    return _threads_for_blas()


class ProbabilisticPCA:
    r"""Tipping & Bishop's probabilistic PCA model of a fitted PCA (scikit-learn's
    formulas): with :math:`W` the kept components (multiplied by
    :math:`\sqrt{\lambda}` when ``whiten``), :math:`\lambda` ``explained_variance_``
    and :math:`\sigma^2` ``noise_variance_``,

    .. math:: C = W^T \operatorname{diag}(\max(\lambda - \sigma^2, 0)) W + \sigma^2 I

    is ``get_covariance()``; ``get_precision()`` is :math:`C^{-1}` by the matrix
    inversion lemma (a plain inverse when :math:`\sigma^2 = 0`, :math:`I/\sigma^2`
    with no components); ``score_samples`` the Gaussian log-density
    :math:`-\tfrac12 (x-\mu)^T C^{-1} (x-\mu) - \tfrac12 (d\log 2\pi - \log\det C^{-1})`
    and ``score`` its mean.  Computed in float64 from the fit's float64 values,
    returned in the fitted dtype (scores in X's dtype).

    The host class provides ``_check_fitted``, ``_validate``, the float64 ``_mean``,
    ``_components``, ``_explained_variance``, ``_noise_variance``, and ``whiten``."""

    def _scaled_components(self):
        W = self._components
        if self.whiten:   # scikit-learn's convention, kept for its users
            W = W * np.sqrt(self._explained_variance)[:, None]
        ev, s2 = self._explained_variance, self._noise_variance
        return W, np.where(ev > s2, ev - s2, 0.0), s2

    def _covariance(self):
        W, excess, s2 = self._scaled_components()
        cov = (W.T * excess) @ W
        cov.flat[::cov.shape[0] + 1] += s2
        return cov

    def _precision(self):
        W, excess, s2 = self._scaled_components()
        d = W.shape[1]
        if W.shape[0] == 0:
            return np.eye(d) / s2
        if s2 == 0.0:
            return _inv(self._covariance())
        with np.errstate(divide="ignore"):   # an excess of 0 gives inf, as in sklearn
            inner = W @ W.T / s2
            inner.flat[::W.shape[0] + 1] += 1.0 / excess
        P = W.T @ _inv(inner) @ W
        P /= -(s2 * s2)
        P.flat[::d + 1] += 1.0 / s2
        return P

    def get_covariance(self):
        r"""The model's data covariance
        :math:`W^T \operatorname{diag}(\max(\lambda - \sigma^2, 0)) W + \sigma^2 I`
        (n_features, n_features), in the fitted dtype."""
        self._check_fitted()
        with _one_blas_thread():
            return self._covariance().astype(self.components_.dtype)

    def get_precision(self):
        """The inverse of ``get_covariance()`` by the matrix inversion lemma (a plain
        inverse when ``noise_variance_`` is 0, which fails for a singular model as
        scikit-learn's does), in the fitted dtype."""
        self._check_fitted()
        with _one_blas_thread():
            return self._precision().astype(self.components_.dtype)

    def score_samples(self, X):
        r"""Log-likelihood of each sample under the model:
        :math:`-\tfrac12 (x-\mu)^T P (x-\mu) - \tfrac12 (d \log 2\pi - \log\det P)`
        with :math:`P` = ``get_precision()`` (a non-positive determinant counts as
        :math:`\log\det P = -\infty`, as scikit-learn's ``fast_logdet``).  X dense,
        in memory; the result has X's dtype."""
        self._check_fitted()
        X = self._validate(X, reset=False)
        if not isinstance(X, np.ndarray):
            raise TypeError(f"{type(self).__name__}.score_samples takes in-memory data, "
                            f"got {type(X).__name__}")
        with _one_blas_thread():
            P = self._precision()
            sign, logdet = np.linalg.slogdet(P)
            if not sign > 0:
                logdet = -np.inf
            d = X.shape[1]
            const = -0.5 * (d * math.log(2.0 * math.pi) - logdet)
            out = np.empty(X.shape[0])
            step = max(1, 2 ** 18 // d)        # float64 row blocks that stay in cache
            for start in range(0, X.shape[0], step):
                Xr = X[start:start + step].astype(np.float64) - self._mean
                out[start:start + step] = -0.5 * np.einsum("ij,ij->i", Xr @ P, Xr) + const
        return out.astype(X.dtype, copy=False)

    def score(self, X, y=None):
        """The mean of ``score_samples(X)`` (a Python float)."""
        return float(np.mean(self.score_samples(X), dtype=np.float64))
