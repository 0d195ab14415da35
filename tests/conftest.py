"""Shared test helpers: dtypes, tolerances, finite differences, thread runs."""
import numpy as np
import pytest

import gradkit

DTYPES = [np.float32, np.float64]


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def assert_close(actual, desired, dtype, ulps=4, scale=None):
    """actual (in `dtype`) within a few ulps of `desired` (a float64 reference):
    relative `ulps`*eps, and absolute `ulps`*eps times the typical magnitude so that
    values near zero are judged on the scale of the data."""
    actual = np.asarray(actual)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape
    eps = np.finfo(dtype).eps
    if scale is None:
        scale = float(np.max(np.abs(desired))) if desired.size else 1.0
    np.testing.assert_allclose(actual.astype(np.float64), desired, rtol=ulps * eps,
                               atol=ulps * eps * max(scale, 1e-300))


def numerical_grad(f, x, eps=1e-6):
    """Centred differences of the scalar f at x (float64), every coordinate."""
    x = np.array(x, dtype=np.float64)
    g = np.empty_like(x)
    flat, gf = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f(x)
        flat[i] = old - eps
        fm = f(x)
        flat[i] = old
        gf[i] = (fp - fm) / (2 * eps)
    return g


def run_threads(fn, counts=(1, 2)):
    """fn() under each thread count; returns the results in order."""
    out = []
    for n in counts:
        with gradkit.num_threads(n):
            out.append(fn())
    return out


def assert_bitwise_equal(a, b):
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert_bitwise_equal(u, v)
        return
    if a is None:
        assert b is None
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()
