"""Shared by the preprocessing statistics and Dask tests: correlated data, and the
comparison of two fitted estimators (every public fitted attribute, dtype included)."""
import numpy as np


def data(rng, shape, dtype=np.float64, mean=3.0):
    """Correlated data with a non-zero mean."""
    n, d = shape
    mix = rng.standard_normal((d, d)) / np.sqrt(d) + np.eye(d)
    return (rng.standard_normal((n, d)) @ mix * rng.uniform(0.5, 3.0, d) + mean).astype(dtype)


def close(a, b, rtol):
    """a equals b to rtol relative to b's largest entry (the statistics' own scale)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(b).max(initial=0.0), 1e-300)
    assert np.abs(a - b).max(initial=0.0) <= rtol * scale, np.abs(a - b).max() / scale


def fitted(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


def assert_same_fit(a, b, rtol):
    fa, fb = fitted(a), fitted(b)
    assert fa.keys() == fb.keys()
    for k in fa:
        va, vb = fa[k], fb[k]
        if va is None or isinstance(va, (int, np.integer)):
            assert va == vb, k
            continue
        va, vb = np.asarray(va), np.asarray(vb)
        assert va.dtype == vb.dtype, k
        close(va, vb, rtol)
