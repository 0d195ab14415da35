"""Benchmark cases for gradkit.preprocessing; the peer is scikit-learn.

PCA whitening is compute-bound (a syrk for the scatter and a gemm for the projection:
3 n d^2 flops), so its bytes are None; standardization is memory-bound: one read of X
for the statistics, then one read and one write for the transform.  The runner puts
scikit-learn's BLAS on gradkit's thread count (threadpoolctl)."""
import numpy as np

from .core import Case


def _sklearn():
    try:
        import sklearn.decomposition
        import sklearn.preprocessing
    except Exception:
        return None
    return sklearn


def cases():
    from .. import preprocessing as pp
    from ..reference import preprocessing as ref
    sk = _sklearn()
    rng = np.random.default_rng(0)
    out = []
    n, d = 100_000, 256
    X = rng.standard_normal((n, d)) @ (np.eye(d) + 0.1 * rng.standard_normal((d, d))) + 3.0

    peer = None
    if sk is not None:
        peer = lambda: sk.decomposition.PCA(whiten=True).fit_transform(X)  # noqa: E731
    out.append(Case(
        op="PCA(whiten=True).fit_transform", size=f"{n}x{d} f64",
        gradkit=lambda: pp.PCA(whiten=True).fit_transform(X),
        bytes=None,
        numpy=lambda: ref.PCA(whiten=True).fit(X).transform(X),
        peer=peer, peer_name="sklearn",
        goal=">=3x sklearn", goal_ratio=3.0))

    peer = None
    if sk is not None:
        peer = lambda: sk.preprocessing.StandardScaler().fit_transform(X)  # noqa: E731
    out.append(Case(
        op="Standardizer.fit_transform", size=f"{n}x{d} f64",
        gradkit=lambda: pp.Standardizer().fit_transform(X),
        bytes=3 * X.nbytes,  # statistics: read X; transform: read X, write Y
        numpy=lambda: ref.Standardizer().fit(X).transform(X),
        peer=peer, peer_name="sklearn", quick=True,
        goal=">=3x sklearn", goal_ratio=3.0))

    Xs = rng.standard_normal((2048, 64))
    peer = None
    if sk is not None:
        peer = lambda: sk.decomposition.PCA(whiten=True).fit_transform(Xs)  # noqa: E731
    out.append(Case(
        op="PCA(whiten=True).fit_transform", size="2048x64 f64",
        gradkit=lambda: pp.PCA(whiten=True).fit_transform(Xs),
        numpy=lambda: ref.PCA(whiten=True).fit(Xs).transform(Xs),
        peer=peer, peer_name="sklearn", quick=True,
        goal="per-call overhead"))
    return out
