"""NumPy twins of gradkit.preprocessing: the classic recipes, in float64, in memory.

Standardizer: z = (x - mean) / std (ddof=0; a near-constant feature gets scale 1); rows
weighted by sample_weight, NaN entries left out of the statistics and kept by transform.
PCA: centre, SVD of the centred data, explained variance S^2/(n-1), sign fixed so each
component's largest entry is positive, project (and divide by sqrt(variance) to whiten).
Whitener: centre, cov = Xc^T Xc / N, SVD of cov (U, S), rotate (Xc U), divide by
sqrt(S + eps) (PCA whitening), rotate back with U^T (ZCA whitening).
Moments / Scatter: n, the column mean and the centred sums M2 = sum (x - mean)^2 (or the
scatter matrix sum (x - mean)(x - mean)^T) of the rows, straight from the definition;
merge is Chan, Golub & LeVeque's update written out.
No chunking, no compiled code: what the estimators mean, not how they run."""
import math

import numpy as np

__all__ = ["Standardizer", "PCA", "Whitener", "Moments", "Scatter"]


def _flip(Vt):
    """Each row's entry of largest magnitude made positive (sklearn's svd_flip on V)."""
    idx = np.argmax(np.abs(Vt), axis=1)
    signs = np.sign(Vt[np.arange(Vt.shape[0]), idx])
    signs[signs == 0] = 1.0
    return Vt * signs[:, None]


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


class PCA:
    def __init__(self, n_components=None, whiten=False):
        self.n_components, self.whiten = n_components, whiten

    def fit(self, X):
        X = np.asarray(X, np.float64)
        n, d = X.shape
        self.mean_ = _mean(X)
        _, S, Vt = np.linalg.svd(X - self.mean_, full_matrices=False)
        ev = S ** 2 / (n - 1)
        k = min(n, d) if self.n_components is None else self.n_components
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
