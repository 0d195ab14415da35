"""NumPy twins of gradkit.preprocessing: the classic recipes, in float64, in memory.

Standardizer: z = (x - mean) / std (ddof=0; a near-constant feature gets scale 1); rows
weighted by sample_weight, NaN entries left out of the statistics and kept by transform.
PCA: centre, SVD of the centred data, explained variance S^2/(n-1), sign fixed so each
component's largest entry is positive, project (and divide by sqrt(variance) to whiten);
svd_solver='randomized': Halko et al.'s range finder (power iterations with LU/QR
normalization, written out), then the SVD of the small projected matrix.
Whitener: centre, cov = Xc^T Xc / N, SVD of cov (U, S), rotate (Xc U), divide by
sqrt(S + eps) (PCA whitening), rotate back with U^T (ZCA whitening).
sparse_col_moments: the same weighted, NaN-ignoring column statistics of a compressed-row or
compressed-column sparse matrix, its implicit zeros counted as values 0.
Moments / Scatter: n, the column mean and the centred sums M2 = sum (x - mean)^2 (or the
scatter matrix sum (x - mean)(x - mean)^T) of the rows, straight from the definition;
merge is Chan, Golub & LeVeque's update written out.
No chunking, no compiled code: what the estimators mean, not how they run."""
import math

import numpy as np

__all__ = ["Standardizer", "PCA", "Whitener", "Moments", "Scatter", "sparse_col_moments"]


def _flip(Vt):
    """Each row's entry of largest magnitude made positive (sklearn's svd_flip on V)."""
    idx = np.argmax(np.abs(Vt), axis=1)
    signs = np.sign(Vt[np.arange(Vt.shape[0]), idx])
    signs[signs == 0] = 1.0
    return Vt * signs[:, None]


def sparse_col_moments(csr, data, indptr, indices, w, rows, cols):
    """(count, mean, M2) of each column of a compressed-row (csr) or compressed-column
    rows x cols matrix, the entries not stored being zeros, NaN values left out, rows
    weighted by w (None: 1): over the rows whose entry is not NaN, count = sum w,
    mean = sum w x / count, M2 = sum w (x - mean)^2; a column with count 0 gets 0, 0,
    0.  Written on the dense matrix."""
    X = np.zeros((rows, cols))
    for line in range(len(indptr) - 1):
        for p in range(indptr[line], indptr[line + 1]):
            i, j = (line, indices[p]) if csr else (indices[p], line)
            X[i, j] = data[p]
    w = np.ones(rows) if w is None else np.asarray(w, np.float64)
    count, mean, m2 = np.zeros(cols), np.zeros(cols), np.zeros(cols)
    for j in range(cols):
        keep = ~np.isnan(X[:, j])
        n = w[keep].sum()
        if n <= 0:
            continue
        mu = (w[keep] * X[keep, j]).sum() / n
        count[j], mean[j] = n, mu
        m2[j] = (w[keep] * (X[keep, j] - mu) ** 2).sum()
    return count, mean, m2


class Standardizer:
    def __init__(self, with_mean=True, with_std=True):
        self.with_mean, self.with_std = with_mean, with_std

    def fit(self, X, sample_weight=None):
        """Weighted (frequency weights), NaN ignored: per column, over the entries
        that are not NaN, c = sum w, mean = sum w x / c, var = sum w (x - mean)^2 / c."""
        X = np.asarray(X, np.float64)
        w = np.ones(X.shape[0]) if sample_weight is None else \
            np.broadcast_to(np.asarray(sample_weight, np.float64), X.shape[:1])
        present = ~np.isnan(X)
        W = w[:, None] * present
        Xz = np.where(present, X, 0.0)
        count = W.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.mean_ = (W * Xz).sum(axis=0) / count
            self.var_ = (W * (Xz - self.mean_) ** 2).sum(axis=0) / count
        self.n_samples_seen_ = count
        eps = np.finfo(np.float64).eps
        with np.errstate(invalid="ignore"):
            constant = self.var_ <= count * eps * self.var_ + (count * self.mean_ * eps) ** 2
        self.scale_ = np.where(constant, 1.0, np.sqrt(self.var_))
        return self

    def transform(self, X):
        Y = np.asarray(X, np.float64)
        if self.with_mean:
            Y = Y - self.mean_
        if self.with_std:
            Y = Y / self.scale_
        return Y

    def inverse_transform(self, Y):
        X = np.asarray(Y, np.float64)
        if self.with_std:
            X = X * self.scale_
        if self.with_mean:
            X = X + self.mean_
        return X


def _mean(X):
    """Column means, correctly rounded (math.fsum): X.mean(axis=0) sums a C-order array
    down its columns in order, whose error (~1e-14 relative for 1e4 rows) shows as a
    shift of every projection when the mean is large."""
    return np.array([math.fsum(c) for c in X.T]) / X.shape[0] if X.size else X.mean(axis=0)


def infer_dimension(spectrum, n):
    """Minka's MLE of the PCA dimension, the formula written out (O(d^3)): the rank k in
    [1, d - 1] maximizing log p(D | k) for the covariance eigenvalues `spectrum`
    (descending) of n samples; ranks whose k-th eigenvalue is below 1e-15, or whose
    double sum meets two equal eigenvalues, score -inf."""
    s = np.asarray(spectrum, np.float64)
    d = len(s)
    ll = np.full(d, -np.inf)
    for k in range(1, d):
        if s[k - 1] < 1e-15:
            continue
        pu = -k * math.log(2.0) + sum(math.lgamma((d - i + 1) / 2.0)
                                      - math.log(math.pi) * (d - i + 1) / 2.0
                                      for i in range(1, k + 1))
        pl = -np.sum(np.log(s[:k])) * n / 2.0
        v = max(1e-15, np.sum(s[k:]) / (d - k))
        pv = -math.log(v) * n * (d - k) / 2.0
        m = d * k - k * (k + 1.0) / 2.0
        pp = math.log(2.0 * math.pi) * (m + k) / 2.0
        sp = np.concatenate([s[:k], np.full(d - k, v)])
        pa, tie = 0.0, False
        for i in range(k):
            for j in range(i + 1, d):
                arg = (s[i] - s[j]) * (1.0 / sp[j] - 1.0 / sp[i])
                if arg <= 0:
                    tie = True
                    break
                pa += math.log(arg) + math.log(n)
            if tie:
                break
        if not tie:
            ll[k] = pu + pl + pv + pp - pa / 2.0 - k * math.log(n) / 2.0
    return int(np.argmax(ll))


def _lu_pl(Y):
    """P L of Y = P L U (Gaussian elimination with partial pivoting, column by column):
    the row-permuted unit lower-trapezoidal factor."""
    A = np.array(Y, dtype=np.float64)
    m, l = A.shape
    perm = np.arange(m)
    for j in range(min(m, l)):
        p = j + int(np.argmax(np.abs(A[j:, j])))
        A[[j, p]], perm[[j, p]] = A[[p, j]], perm[[p, j]]
        if A[j, j] != 0.0:
            A[j + 1:, j] /= A[j, j]
        A[j + 1:, j + 1:] -= np.outer(A[j + 1:, j], A[j, j + 1:])
    L = np.tril(A, -1)[:, :min(m, l)] + np.eye(m, min(m, l))
    PL = np.empty_like(L)
    PL[perm] = L
    return PL


def _randomized_svd(Xc, k, l, n_iter, normalizer, G):
    """Halko et al.'s randomized SVD of Xc (n x d) as scikit-learn runs it for PCA: on
    A = Xc, or Xc^T when n < d; G (A's columns x l) the Gaussian test matrix; q power
    iterations Q <- norm(A^T norm(A Q)); Q = qr(A Q); B = Q^T A = Uh S Vt; U = Q Uh.
    Returns U (n x k), S (k,), Vt (k x d) of Xc."""
    flip = Xc.shape[0] < Xc.shape[1]
    A = Xc.T if flip else Xc
    if normalizer == "auto":
        normalizer = "none" if n_iter <= 2 else "LU"
    norm = {"LU": _lu_pl, "QR": lambda Y: np.linalg.qr(Y)[0], "none": lambda Y: Y}[normalizer]
    Q = G
    for _ in range(n_iter):
        Q = norm(A.T @ norm(A @ Q))
    Q = np.linalg.qr(A @ Q)[0]
    Uh, S, Vt = np.linalg.svd(Q.T @ A, full_matrices=False)
    U = Q @ Uh[:, :k]
    if flip:
        return Vt[:k].T, S[:k], U.T
    return U, S[:k], Vt[:k]


class PCA:
    """svd_solver: 'full' (the default here: the exact SVD; gradkit's other exact
    solvers agree with it) or 'randomized' (the draws are scikit-learn's:
    RandomState(random_state).normal(size=(A's columns, k + n_oversamples)), cast to X's
    dtype)."""

    def __init__(self, n_components=None, whiten=False, *, svd_solver="full",
                 iterated_power="auto", n_oversamples=10, power_iteration_normalizer="auto",
                 random_state=None):
        self.n_components, self.whiten = n_components, whiten
        self.svd_solver, self.iterated_power = svd_solver, iterated_power
        self.n_oversamples = n_oversamples
        self.power_iteration_normalizer = power_iteration_normalizer
        self.random_state = random_state

    def _fit_randomized(self, X):
        dtype = np.asarray(X).dtype
        X = np.asarray(X, np.float64)
        n, d = X.shape
        k = min(n, d) if self.n_components is None else self.n_components
        q = self.iterated_power
        if q == "auto":
            q = 7 if k < 0.1 * min(n, d) else 4
        rs = self.random_state
        if not isinstance(rs, (np.random.RandomState, np.random.Generator)):
            rs = np.random.RandomState(rs)
        l = k + self.n_oversamples
        G = rs.normal(size=(n if n < d else d, l)).astype(dtype).astype(np.float64)
        self.mean_ = _mean(X)
        Xc = X - self.mean_
        U, S, Vt = _randomized_svd(Xc, k, l, q, self.power_iteration_normalizer, G)
        signs = np.sign(Vt[np.arange(k), np.argmax(np.abs(Vt), axis=1)])
        signs[signs == 0] = 1.0
        ev = S ** 2 / (n - 1)
        total = (Xc ** 2).sum() / (n - 1)
        self.n_components_ = k
        self.components_ = Vt * signs[:, None]
        self.explained_variance_ = ev
        self.explained_variance_ratio_ = ev / total
        self.singular_values_ = S
        self.noise_variance_ = (total - ev.sum()) / (min(n, d) - k) if k < min(n, d) else 0.0
        self._U = U * signs
        return self

    def fit_transform(self, X):
        """fit, then the projection: for 'randomized' U S (U sqrt(n - 1) whitened), as
        scikit-learn returns it (not (X - mean) V: the two differ by the part of X
        outside the range found)."""
        self.fit(X)
        if self.svd_solver != "randomized":
            return self.transform(X)
        n = np.asarray(X).shape[0]
        return self._U * (np.sqrt(n - 1) if self.whiten else self.singular_values_)

    def fit(self, X):
        if self.svd_solver == "randomized":
            return self._fit_randomized(X)
        X = np.asarray(X, np.float64)
        n, d = X.shape
        self.mean_ = _mean(X)
        _, S, Vt = np.linalg.svd(X - self.mean_, full_matrices=False)
        ev = S ** 2 / (n - 1)
        k = min(n, d) if self.n_components is None else self.n_components
        if k == "mle":
            k = infer_dimension(ev, n)
        self.n_components_ = k
        self.components_ = _flip(Vt)[:k]
        self.explained_variance_ = ev[:k]
        self.explained_variance_ratio_ = ev[:k] / ev.sum()
        self.singular_values_ = S[:k]
        self.noise_variance_ = ev[k:].mean() if k < min(n, d) else 0.0
        return self

    def transform(self, X):
        Y = (np.asarray(X, np.float64) - self.mean_) @ self.components_.T
        if self.whiten:
            Y = Y / np.sqrt(self.explained_variance_)
        return Y

    def inverse_transform(self, Y):
        Y = np.asarray(Y, np.float64)
        if self.whiten:
            Y = Y * np.sqrt(self.explained_variance_)
        return Y @ self.components_ + self.mean_

    def get_covariance(self):
        """Probabilistic PCA: W^T diag(max(ev - s2, 0)) W + s2 I, W = components_
        (times sqrt(ev) when whitening, scikit-learn's convention)."""
        W = self.components_
        ev, s2 = self.explained_variance_, self.noise_variance_
        if self.whiten:
            W = W * np.sqrt(ev)[:, None]
        return W.T @ np.diag(np.maximum(ev - s2, 0.0)) @ W + s2 * np.eye(W.shape[1])

    def get_precision(self):
        return np.linalg.inv(self.get_covariance())

    def score_samples(self, X):
        """The Gaussian log-density of each row: -(x - mean)^T P (x - mean) / 2
        - (d log 2 pi - log det P) / 2."""
        Xr = np.asarray(X, np.float64) - self.mean_
        P = self.get_precision()
        _, logdet = np.linalg.slogdet(P)
        d = Xr.shape[1]
        return -0.5 * np.sum((Xr @ P) * Xr, axis=1) - 0.5 * (d * math.log(2 * math.pi) - logdet)


class Whitener:
    def __init__(self, method="zca", eps=1e-5, n_components=None):
        self.method, self.eps, self.n_components = method, eps, n_components

    def fit(self, X):
        X = np.asarray(X, np.float64)
        n, d = X.shape
        self.mean_ = _mean(X)
        Xc = X - self.mean_
        cov = Xc.T @ Xc / n
        U, S, _ = np.linalg.svd(cov)
        k = d if self.n_components is None else self.n_components
        U = _flip(U.T).T[:, :k]
        self.eigenvalues_ = S[:k]
        self.components_ = U.T
        W = U.T / np.sqrt(S[:k] + self.eps)[:, None]       # rotate, then scale
        if self.method == "zca":
            W = U @ W                                      # rotate back
        self.whitening_matrix_ = W
        self.n_components_ = k
        return self

    def transform(self, X):
        return (np.asarray(X, np.float64) - self.mean_) @ self.whitening_matrix_.T

    def inverse_transform(self, Y):
        return np.asarray(Y, np.float64) @ np.linalg.pinv(self.whitening_matrix_).T + self.mean_


def _centred(X):
    """n, the column mean and the centred rows of X (float64)."""
    X = np.asarray(X, np.float64)
    mean = _mean(X) if len(X) else np.zeros(X.shape[1])
    return len(X), mean, X - mean


def _chan(a, b):
    """Chan's update: n, mean, delta = mean_b - mean_a and the weight n_a n_b / n of
    the between-groups term."""
    n = a.n + b.n
    if n == 0:
        return 0, a.mean, np.zeros_like(a.mean), 0.0
    delta = b.mean - a.mean
    return n, a.mean + delta * b.n / n, delta, a.n * b.n / n


class Moments:
    def __init__(self, n, mean, m2):
        self.n, self.mean, self.m2 = n, np.asarray(mean, np.float64), np.asarray(m2, np.float64)

    @classmethod
    def from_array(cls, X):
        n, mean, Xc = _centred(X)
        return cls(n, mean, (Xc ** 2).sum(axis=0))

    def merge(self, other):
        n, mean, delta, w = _chan(self, other)
        return Moments(n, mean, self.m2 + other.m2 + w * delta ** 2)


class Scatter:
    def __init__(self, n, mean, scatter):
        self.n = n
        self.mean, self.scatter = np.asarray(mean, np.float64), np.asarray(scatter, np.float64)

    @classmethod
    def from_array(cls, X):
        n, mean, Xc = _centred(X)
        return cls(n, mean, Xc.T @ Xc)

    def merge(self, other):
        n, mean, delta, w = _chan(self, other)
        return Scatter(n, mean, self.scatter + other.scatter + w * np.outer(delta, delta))
