r"""The randomized PCA of Halko, Martinsson & Tropp, as scikit-learn's ``PCA`` runs it.

For the centred data :math:`X_c = X - \mathbf{1}\mu^T` (n x d) and :math:`l = k + p`
random vectors (``n_components + n_oversamples``), with :math:`A = X_c` (or
:math:`A = X_c^T` when n < d, scikit-learn's ``transpose='auto'``):

.. math::
    Q_0 = G \sim N(0, 1)^{\,A.\mathrm{shape}[1] \times l},\quad
    Q_{i+1} = \mathrm{norm}\big(A^T \mathrm{norm}(A Q_i)\big)\ (q\ \text{times}),\quad
    Q = \mathrm{qr}(A Q_q),\quad B = Q^T A = \hat U S V^T,\quad U = Q \hat U,

``norm`` being the power iteration normalizer: 'LU' (the row-permuted unit lower
factor :math:`PL` of :math:`Y = PLU`, partial pivoting), 'QR' (the orthonormal factor)
or 'none'; 'auto' is 'none' for q <= 2, else 'LU'.  q = ``iterated_power``, 'auto':
7 when k < 0.1 min(n, d), else 4.  The draws are scikit-learn's:
``check_random_state(random_state).normal(size=(A.shape[1], l))``, cast to X's dtype
(float32 data run in float32 as there), so the same ``random_state`` gives the same
model up to round-off.  The right singular vectors, flipped so each one's entry of
largest magnitude is positive (``svd_flip(u_based_decision=False)``), are the
components; :math:`S^2/(n-1)` the explained variance.

Where the time goes: every product with A reads all of X (2q + 2 of them).  Here each
is one compiled pass (``gk_project`` for :math:`X_c M`, ``gk_project_t`` for
:math:`X_c^T M`): fixed row chunks of X are centred in float64 into a cache-resident
buffer of X's dtype and multiplied there (gradkit's own fused multiply-add tiles on
CPUs with FMA, single-threaded BLAS gemm on others), chunks (or, for the
reduction over rows, fixed tasks of chunks summed in order) in parallel, so the
results are bitwise the same for any thread count.  X is never copied or centred in
memory, and the total variance comes from the column statistics of the first read
(the compiled column-moments kernel), not from squaring a centred copy.  The
factorizations of the thin n x l and d x l matrices are LAPACK's (``getrf``; the
range's orthonormal basis by Cholesky QR twice, ``geqrf`` where Y is too ill-conditioned
for it, :func:`_orthonormal_basis`) and the final SVD of the l x d matrix B is
``gesdd``.  For tall data whose
scatter costs less than the iterations' 2q products (:func:`uses_gram`) the iterations
run on :math:`C = X_c^T X_c` from one scatter pass instead (see
:func:`randomized_pca`; the scatter kernel's own product on CPUs with FMA):
X is then read three times in all.
"""
from __future__ import annotations

import numbers

import numpy as np
from scipy.linalg import cholesky as _cholesky
from scipy.linalg import lu as _lu
from scipy.linalg import qr as _qr
from scipy.linalg import svd as _svd
from scipy.linalg.blas import dtrsm as _trsm

from . import _validation as _v
from ._ext import preprocessing as _k

__all__ = ["NORMALIZERS", "check_random_state", "randomized_pca", "resolve_n_iter",
           "uses_gram"]

NORMALIZERS = ("auto", "QR", "LU", "none")


def check_random_state(seed):
    """scikit-learn's ``check_random_state``: None (or ``np.random``) gives NumPy's
    global RandomState, an int a new ``RandomState(seed)``, a RandomState itself; a
    ``np.random.Generator`` is also taken (its own ``normal`` stream).  A negative
    or too large int raises ValueError, anything else TypeError."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if not 0 <= int(seed) <= 2**32 - 1:
            raise ValueError(f"random_state must be an int in [0, 2**32 - 1], got {seed}")
        return np.random.RandomState(int(seed))
    if isinstance(seed, (np.random.RandomState, np.random.Generator)):
        return seed
    raise TypeError(f"random_state={seed!r} cannot be used to seed a "
                     "numpy.random.RandomState instance (use None, an int, a "
                     "RandomState or a Generator)")


def resolve_n_iter(n_iter, n_components, shape):
    """'auto' -> 7 when n_components < 0.1 min(shape) (scikit-learn's choice for PCA),
    else 4; an int as given."""
    if n_iter == "auto":
        return 7 if n_components < 0.1 * min(shape) else 4
    return int(n_iter)


class _Centred:
    """Products with A = X - mean (or its transpose, `flip`) without forming it: each
    is one compiled pass over X in X's dtype (see the module docstring)."""

    def __init__(self, X, mean, flip):
        self.X, self.mean, self.flip = X, mean, flip
        n, d = X.shape
        self.shape = (d, n) if flip else (n, d)

    def _pass(self, M, transposed):
        X = self.X
        M = np.ascontiguousarray(M, dtype=X.dtype)
        if transposed:
            out = np.empty((X.shape[1], M.shape[1]), X.dtype)
            bad = _k.project_t(X, self.mean, M, out)
        else:
            out = np.empty((X.shape[0], M.shape[1]), X.dtype)
            bad = _k.project(X, self.mean, M, out)
        if bad:
            _v.raise_nonfinite(X)
        return out

    def dot(self, M):
        """A @ M."""
        return self._pass(M, transposed=self.flip)

    def rdot(self, M):
        """A.T @ M."""
        return self._pass(M, transposed=not self.flip)


# Cholesky QR is kept when its first pass left Q1^T Q1 this close to I (entrywise), i.e.
# for cond(Y) up to about 1e5: the second pass then leaves Q orthonormal to round-off
# (Yamamoto et al., "Roundoff error analysis of the CholeskyQR2 algorithm", 2015).
_CHOLQR_TOL = 1e-6


def _cholesky_factor(Y, G=None):
    """R (upper, l x l) with G = Y^T Y = R^T R (G computed when not given), and Y R^-1
    written over Y (float64, C order: BLAS trsm solves on its transpose in place); None
    when G is not numerically positive definite."""
    try:
        R = _cholesky(Y.T @ Y if G is None else G, lower=False, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    if not np.isfinite(R).all() or not (np.diag(R) > 0).all():
        return None
    Qt = _trsm(1.0, R, Y.T, side=0, lower=0, trans_a=1, overwrite_b=1)   # R^-T Y^T
    if not np.shares_memory(Qt, Y):   # solved in a copy after all
        Y[...] = Qt.T
    return R


def _orthonormal_basis(Y):
    """An n x l matrix with orthonormal columns spanning Y's (n x l, n >= l), in Y's
    dtype.  Cholesky QR twice (CholeskyQR2: R1 from Y^T Y, Q1 = Y R1^-1, then the same
    on Q1) in float64 -- two syrk and two trsm on the tall matrix, where Householder QR
    (``geqrf`` + ``orgqr``, what scikit-learn calls) spends most of its time in
    level-2 panel updates: 0.20 against 0.04 s for 100000 x 60 here.  When Y is too
    ill-conditioned for it (a Cholesky fails, or Q1^T Q1 is off I by more than
    _CHOLQR_TOL) Householder QR as scikit-learn.  Either spans the same subspace; the
    columns may differ in sign, which the SVD of B = Q^T A carries into U-hat and out
    again in U = Q U-hat, and svd_flip fixes the components' signs."""
    n, l = Y.shape
    if n >= l > 0 and np.isfinite(Y).all():
        Q = np.array(Y, dtype=np.float64, order="C")
        if _cholesky_factor(Q) is not None:
            G = Q.T @ Q
            if (np.abs(G - np.eye(l)).max() <= _CHOLQR_TOL
                    and _cholesky_factor(Q, G) is not None):
                return Q.astype(Y.dtype, copy=False)
    return _qr(Y, mode="economic", check_finite=False, overwrite_a=True)[0]


def _normalizer(kind):
    if kind == "LU":
        return lambda Y: _lu(Y, permute_l=True, check_finite=False, overwrite_a=True)[0]
    if kind == "QR":
        return lambda Y: _qr(Y, mode="economic", check_finite=False, overwrite_a=True)[0]
    return lambda Y: Y


# The scatter route is taken for tall data up to this width (its d x d float64 matrix:
# 128 MiB at 4096).
GRAM_MAX_WIDTH = 4096


def uses_gram(shape, n_random, n_iter):
    """Whether the power iterations run on the scatter matrix: tall data (n >= d, A =
    X_c) whose scatter (n d^2 flops) costs no more than the 2q products it replaces
    (4 q n d l flops; the scatter also runs nearer the machine's peak than gemm with l
    columns)."""
    n, d = shape
    return n >= d and n_iter >= 1 and d <= min(4 * n_iter * n_random, GRAM_MAX_WIDTH)


def _column_stats(X, gram):
    """Mean, total centred sum of squares and (gram) the scatter X_c^T X_c, in one read
    of X: the scatter kernel (centred chunks and their product) or the column-moments
    kernel."""
    d = X.shape[1]
    mean = np.empty(d)
    if gram:
        lower = np.zeros((d, d))
        bad = _k.scatter(X, mean, lower)
        C = lower + np.tril(lower, -1).T
        ss = float(np.trace(lower))
    else:
        m2 = np.empty(d)
        _k.col_moments(X, mean, m2)
        bad = not (np.isfinite(mean).all() and np.isfinite(m2).all())
        C, ss = None, float(m2.sum())
    if bad or not np.isfinite(ss):
        _v.raise_nonfinite(X)
    return mean, ss, C


def randomized_pca(X, n_components, *, n_oversamples=10, n_iter="auto",
                   power_iteration_normalizer="auto", random_state=None):
    r"""Randomized SVD of X - mean (X C-contiguous float32/float64, validated).  Returns
    (mean, ss, U, S, Vt): the float64 column mean, the total centred sum of squares,
    U (n x k), S (k,), Vt (k x d) in X's dtype, signs not yet flipped.  Run it with
    BLAS held to one thread (results must not depend on BLAS's threads; the passes
    over X are parallel themselves).

    For tall data whose scatter is cheaper than the power iterations' products
    (:func:`uses_gram`), :math:`A^T A Q = C Q` with :math:`C = X_c^T X_c` from one
    scatter pass, and each iteration is :math:`Q \leftarrow \mathrm{norm}(C Q)`: the same
    subspace as :math:`\mathrm{norm}(A^T \mathrm{norm}(A Q))` (a normalizer only
    changes the basis), in float64, without reading X; the last product, the QR and
    :math:`B = Q^T A` are on X itself as above, so the singular values carry the
    round-off of direct products."""
    n, d = X.shape
    k = int(n_components)
    rs = check_random_state(random_state)
    n_random = k + int(n_oversamples)
    q = resolve_n_iter(n_iter, k, X.shape)
    kind = power_iteration_normalizer
    if kind == "auto":
        kind = "none" if q <= 2 else "LU"
    norm = _normalizer(kind)
    gram = uses_gram(X.shape, n_random, q)
    mean, ss, C = _column_stats(X, gram)
    A = _Centred(X, mean, flip=n < d)
    Q = rs.normal(size=(A.shape[1], n_random)).astype(X.dtype, copy=False)
    if gram:
        Q = Q.astype(np.float64)
        for _ in range(q):
            Q = norm(C @ Q)
    else:
        for _ in range(q):
            Q = norm(A.rdot(norm(A.dot(Q))))
    Q = _orthonormal_basis(A.dot(Q))
    B = A.rdot(Q).T                                      # Q^T A, l x A.shape[1]
    Uhat, S, Vt = _svd(B, full_matrices=False, check_finite=False, lapack_driver="gesdd")
    Uhat = Uhat[:, :k]
    U = Q @ Uhat
    S, Vt = S[:k], Vt[:k]
    if A.flip:
        return mean, ss, np.ascontiguousarray(Vt.T), S, np.ascontiguousarray(U.T)
    return mean, ss, U, S, np.ascontiguousarray(Vt)
