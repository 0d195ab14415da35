"""Benchmark cases for gradkit.preprocessing; the peer is scikit-learn.

PCA whitening and the Whitener are compute-bound: their work is a syrk for the scatter
matrix (n d^2 flops) and a gemm for the projection (2 n d k), which no implementation
avoids.  So their limit is those two BLAS calls alone (``scipy.linalg.blas`` ?syrk and
?gemm on the same data, timed in the same run): "% of limit" = time(syrk + gemm) /
time(fit_transform).  The peer is scikit-learn's fastest solver for a tall, narrow X
(``PCA(svd_solver="covariance_eigh")``, which is also what "auto" picks for it); for
ZCA, scikit-learn has no whitener: the peer is its PCA whitening rotated back
(``PCA(whiten=True).fit_transform(X) @ components_``), what a user would write.
Standardization is memory-bound: it reads X for the statistics, then reads X and writes
Y.  The runner puts every BLAS on gradkit's thread count (threadpoolctl).
"""
import numpy as np

from .core import GOAL_LIMIT, Case, Lazy, label, passes, probe, scaled


def _sklearn():
    try:
        import sklearn.decomposition
        import sklearn.preprocessing
    except Exception:
        return None
    return sklearn


def _blas_floor(X):
    """syrk (X^T X) and gemm (X W, W d x d) on X's dtype, or None without SciPy."""
    try:
        from scipy.linalg import blas
    except ImportError:
        return None
    syrk, gemm = blas.get_blas_funcs(("syrk", "gemm"), (X,))
    d = X.shape[1]
    W = np.asfortranarray(np.eye(d, dtype=X.dtype))
    Xt = X.T                 # F-ordered view of the C-ordered X: no copy

    def call():
        s = syrk(1.0, Xt)                    # X^T X (d x d)
        return s, gemm(1.0, W, Xt, trans_a=1)  # (X W)^T, d x n
    return call


def _decomposer(sk, kind, n, d, dtype, quick=False):
    from .. import preprocessing as pp
    from ..reference import preprocessing as ref

    def build():
        rng = np.random.default_rng(0)
        X = (rng.standard_normal((n, d)) @ (np.eye(d) + 0.1 * rng.standard_normal((d, d)))
             + 3.0).astype(dtype)
        if kind == "PCA":
            mine, twin = pp.PCA(whiten=True), ref.PCA(whiten=True)
        else:
            mine, twin = pp.Whitener(method=kind), ref.Whitener(method=kind)
        fns = {"gk": lambda: mine.fit_transform(X), "np": lambda: twin.fit(X).transform(X),
               "limit": _blas_floor(X)}
        if sk is not None:
            solver = "covariance_eigh"

            def peer():
                est = sk.decomposition.PCA(whiten=True, svd_solver=solver)
                y = est.fit_transform(X)
                return y if kind != "zca" else y @ est.components_
            fns["peer"] = peer
        return fns

    lazy = Lazy(build)
    name = ("PCA(whiten=True).fit_transform" if kind == "PCA"
            else f"Whitener(method={kind!r}).fit_transform")
    tag = "f32" if dtype == np.float32 else "f64"
    has_blas = _blas_floor(np.zeros((2, 2), dtype)) is not None
    return Case(op=name, size=label((n, d), tag), gradkit=lazy["gk"], numpy=lazy["np"],
                peer=lazy["peer"] if sk is not None else None,
                peer_name="sklearn covariance_eigh", quick=quick,
                goal=">=1.3x sklearn, >=90% of syrk+gemm", goal_ratio=1.3, goal_limit=0.9,
                limit=lazy["limit"] if has_blas else None, elements=n * d,
                extra={"limit": "scipy.linalg.blas syrk + gemm alone"})


def _standardizer(sk, n, d):
    from .. import preprocessing as pp
    from ..reference import preprocessing as ref

    def build():
        X = np.random.default_rng(1).standard_normal((n, d)) + 3.0
        Y = np.empty_like(X)
        fns = {"gk": lambda: pp.Standardizer().fit_transform(X),
               "np": lambda: ref.Standardizer().fit(X).transform(X),
               "limit": passes(probe([X], []), probe([X], [Y]))}
        if sk is not None:
            fns["peer"] = lambda: sk.preprocessing.StandardScaler().fit_transform(X)
        return fns

    lazy = Lazy(build)
    return Case(op="Standardizer.fit_transform", size=label((n, d), "f64"),
                gradkit=lazy["gk"], bytes=3 * n * d * 8, numpy=lazy["np"],
                peer=lazy["peer"] if sk is not None else None, peer_name="sklearn",
                quick=True, goal=">=1x warm sklearn, >=85% of limit", goal_ratio=1.0,
                goal_limit=GOAL_LIMIT, limit=lazy["limit"], elements=n * d)


def _standardizer_fit(sk, n, d, kind):
    """The fit alone: `kind` 'dense' (the compiled kernel, one read), 'NaN' (1% NaN) or
    'weighted' (sample_weight): the NumPy path of gradkit._scaler.  The limit is one
    read of X."""
    from .. import preprocessing as pp
    from ..reference import preprocessing as ref

    def build():
        rng = np.random.default_rng(2)
        X = rng.standard_normal((n, d)) + 3.0
        if kind == "NaN":
            X[rng.random((n, d)) < 0.01] = np.nan
        w = rng.uniform(0.0, 2.0, n) if kind == "weighted" else None
        fns = {"gk": lambda: pp.Standardizer().fit(X, sample_weight=w),
               "np": lambda: ref.Standardizer().fit(X, sample_weight=w),
               "limit": probe([X], [])}
        if sk is not None:
            fns["peer"] = lambda: sk.preprocessing.StandardScaler().fit(X, sample_weight=w)
        return fns

    lazy = Lazy(build)
    what = {"dense": "", "NaN": " (1% NaN)", "weighted": " (sample_weight)"}[kind]
    return Case(op=f"Standardizer.fit{what}", size=label((n, d), "f64"),
                gradkit=lazy["gk"], bytes=n * d * 8, numpy=lazy["np"],
                peer=lazy["peer"] if sk is not None else None, peer_name="sklearn",
                peer_warm=lazy["peer"] if sk is not None else None,
                quick=kind == "dense", goal=">=1x sklearn", goal_ratio=1.0,
                limit=lazy["limit"], elements=n * d)


def _standardizer_sparse_fit(sk, n, d, fmt, weighted):
    """The fit of a sparse X (5% dense, 1% of the stored values NaN; with_mean=False):
    gradkit's compressed-column kernel (a CSR X is converted by scipy first) against
    scikit-learn's ``mean_variance_axis``.  The limit is one read of the stored values
    and row indices."""
    from .. import preprocessing as pp
    import scipy.sparse as sps

    def build():
        rng = np.random.default_rng(3)
        X = sps.random(n, d, density=0.05, format=fmt, random_state=4,
                       data_rvs=lambda k: rng.standard_normal(k) + 3.0)
        X.data[rng.random(X.nnz) < 0.01] = np.nan
        w = rng.uniform(0.0, 2.0, n) if weighted else None
        fns = {"gk": lambda: pp.Standardizer(with_mean=False).fit(X, sample_weight=w),
               "limit": probe([X.data, X.indices], [])}
        if sk is not None:
            fns["peer"] = lambda: sk.preprocessing.StandardScaler(with_mean=False).fit(
                X, sample_weight=w)
        return fns

    lazy = Lazy(build)
    nnz = int(n * d * 0.05)
    return Case(op=f"Standardizer.fit ({fmt.upper()} 5%{', sample_weight' if weighted else ''})",
                size=label((n, d), "f64"), gradkit=lazy["gk"], bytes=nnz * 12,
                peer=lazy["peer"] if sk is not None else None, peer_name="sklearn",
                peer_warm=lazy["peer"] if sk is not None else None,
                goal=">=1x sklearn", goal_ratio=1.0, limit=lazy["limit"], elements=nnz)


def _range_finder_floor(X, k, n_iter):
    """The products every randomized PCA of X makes (scipy.linalg.blas gemm on X's
    dtype): 2 * n_iter + 2 alternating X M (M: d x k) and X^T P (P: n x k)."""
    try:
        from scipy.linalg import blas
    except ImportError:
        return None
    gemm = blas.get_blas_funcs("gemm", (X,))
    n, d = X.shape
    rng = np.random.default_rng(2)
    M = np.asfortranarray(rng.standard_normal((d, k)), dtype=X.dtype)
    P = np.asfortranarray(rng.standard_normal((n, k)), dtype=X.dtype)
    Xt = X.T                 # F-ordered view of the C-ordered X: no copy

    def call():
        for _ in range(n_iter + 1):
            gemm(1.0, Xt, M, trans_a=1)      # X M   (n x k)
            gemm(1.0, Xt, P)                 # X^T P (d x k)
    return call


def _randomized(sk, n, d, k, dtype, quick=False):
    """PCA(k, svd_solver='randomized', random_state=0).fit(X): gradkit (compiled passes
    over X, centring fused, no copy) against scikit-learn's, the same draws and steps;
    the limit is the 2q + 2 products with X alone (q = 7 power iterations here)."""
    from .. import preprocessing as pp

    def build():
        rng = np.random.default_rng(0)
        r = 64
        X = ((rng.standard_normal((n, r)) * 0.93 ** np.arange(r)) @ rng.standard_normal((r, d))
             + 0.5 * rng.standard_normal((n, d)) + 3.0).astype(dtype)  # 64 decaying factors
        fns = {"gk": lambda: pp.PCA(k, svd_solver="randomized", random_state=0).fit(X),
               "limit": _range_finder_floor(X, k + 10, 7)}
        if sk is not None:
            fns["peer"] = lambda: sk.decomposition.PCA(
                k, svd_solver="randomized", random_state=0).fit(X)
        return fns

    lazy = Lazy(build)
    tag = "f32" if dtype == np.float32 else "f64"
    return Case(op=f"PCA({k}, svd_solver='randomized').fit", size=label((n, d), tag),
                gradkit=lazy["gk"], peer=lazy["peer"] if sk is not None else None,
                peer_name="sklearn randomized", quick=quick,
                goal=">=2x sklearn randomized", goal_ratio=2.0,
                limit=lazy["limit"], elements=n * d,
                extra={"limit": "the 16 products X M, X^T P (scipy.linalg.blas gemm) alone"})


def cases():
    sk = _sklearn()
    n, d = scaled(100_000), 256
    out = []
    for dtype in (np.float32, np.float64):
        for kind in ("PCA", "zca", "pca"):
            out.append(_decomposer(sk, kind, n, d, dtype,
                                   quick=kind == "PCA" and dtype == np.float64))
    out.append(_standardizer(sk, n, d))
    out += [_standardizer_fit(sk, n, d, kind) for kind in ("dense", "NaN", "weighted")]
    out += [_standardizer_sparse_fit(sk, n, d, fmt, weighted)
            for fmt in ("csr", "csc") for weighted in (False, True)]
    for dtype in (np.float64, np.float32):
        out.append(_randomized(sk, n, 1024, 50, dtype, quick=dtype == np.float64))
    small = _decomposer(sk, "PCA", 2048, 64, np.float64, quick=True)
    small.goal, small.goal_ratio, small.goal_limit = "per-call overhead", None, None
    out.append(small)
    return out
