"""Shared test helpers: dtypes, tolerances, finite differences, thread runs; and the
session header that says which peer suites run and which are skipped, and why."""
import importlib.metadata
import importlib.util
import json
import os

import numpy as np
import pytest

import gradkit

# The optional peers the cross-checks import (pytest.importorskip), and what they check.
# (distribution, module, what is skipped without it)
PEERS = [
    ("torch", "torch", "the PyTorch cross-checks (norms, init, optimizers, schedules, "
     "losses, clipping, amp, nn, quant, bench)"),
    ("scikit-learn", "sklearn", "the scikit-learn cross-checks of gradkit.preprocessing"),
    ("matplotlib", "matplotlib", "the plots of `gradkit bench --plot` and `demo --plot`"),
    ("optax", "optax", "the LARS cross-check against optax.lars"),
    ("jax", "jax", "the LARS cross-check against optax.lars"),
    ("threadpoolctl", "threadpoolctl", "the threadpoolctl thread-limit tests"),
    ("ml_dtypes", "ml_dtypes", "the bfloat16 tests"),
    ("mpi4py", "mpi4py", "the MPI tests run under mpiexec (gradkit[mpi])"),
    ("dask", "dask", "the dask-array preprocessing tests (gradkit[dask])"),
    ("distributed", "distributed", "the dask LocalCluster tests (gradkit[dask])"),
    ("dask-ml", "dask_ml", "the cross-checks against dask-ml's StandardScaler and PCA"),
]
# the C downstream-extension build of test_capi needs these (the test extra has them)
CAPI_TOOLS = [("meson", "mesonbuild"), ("ninja", "ninja"), ("Cython", "Cython")]


# The tests of streamed outputs ("past 16 MiB") are sized for a 16 MiB streaming
# threshold, whatever this machine's cache makes the default (half the last-level
# cache); GRADKIT_STREAM_MIN_BYTES in the environment (e.g. 1: every output streamed)
# is left in force, to run the suite on another threshold.
TEST_STREAM_MIN_BYTES = 16 << 20
if not os.environ.get("GRADKIT_STREAM_MIN_BYTES"):
    gradkit.set_stream_threshold(TEST_STREAM_MIN_BYTES)


def editable_install():
    """True when gradkit was installed with `pip install -e` (PEP 610 direct_url.json)."""
    try:
        text = importlib.metadata.distribution("gradkit").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return False
    return bool(text) and bool(json.loads(text).get("dir_info", {}).get("editable"))


def _version(dist, module):
    """The installed version of a peer, or None; found without importing it (torch
    alone would add seconds to every session)."""
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def pytest_report_header(config):
    cfg = gradkit.show_config()
    lines = [f"gradkit {cfg['version']}: {cfg['compiler']}, OpenMP "
             f"{'on' if cfg['openmp'] else 'off'} ({cfg['num_threads']} threads), SIMD "
             f"{cfg['simd']} of {','.join(cfg['simd_compiled'])}, output cache "
             f"{gradkit.cache_info()['limit_mb']:g} MB"]
    found, skipped = [], {}
    for dist, module, what in PEERS:
        version = _version(dist, module)
        if version is None:
            skipped.setdefault(what, []).append(dist)
        else:
            found.append(f"{dist} {version}")
    lines.append("peers found: " + (", ".join(found) or "none"))
    reasons = [f"{what} ({' and '.join(dists)} not installed)"
               for what, dists in skipped.items()]
    missing_tools = [name for name, module in CAPI_TOOLS
                     if importlib.util.find_spec(module) is None]
    if editable_install():
        reasons.append("the downstream C/Cython extension builds of test_capi (gradkit "
                       "is an editable install: its .pxd and headers are not on disk; "
                       "they run against `pip install \".[test]\"`)")
    elif missing_tools:
        reasons.append("the downstream C/Cython extension builds of test_capi "
                       f"({', '.join(missing_tools)} not installed)")
    if not cfg["openmp"]:
        reasons.append("the OpenMP thread tests (gradkit was built without OpenMP)")
    if reasons:
        lines.append("skipped: " + reasons[0])
        lines += ["         " + r for r in reasons[1:]]
    else:
        lines.append("skipped: no peer suite")
    return lines

DTYPES = [np.float32, np.float64]


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(params=[True, False], ids=["avoid", "plain"])
def alias_avoidance(request):
    """Both store paths under 4K / 1 MiB aliasing, with and without the remedies
    (gk_alias_ahead, gk_alias_near, gk_alias_line_at; the CPU's default is one of
    them), restored after the test."""
    from gradkit._config import set_alias_avoidance
    set_alias_avoidance(request.param)
    yield request.param
    set_alias_avoidance(None)


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


def placed_past(like, offset, shape=None, dtype=None, modulus=4096):
    """An empty C-contiguous array (like's shape and dtype unless given) whose address
    is ``offset`` bytes past like's modulo ``modulus`` (4 KiB: where malloc puts an
    array allocated right after ``like``, 16 bytes of header), which kernels write
    backwards, staged or buffered (gk_alias_ahead, gk_alias_near, gk_alias_line_at in
    ext/src/gk_internal.h)."""
    shape = like.shape if shape is None else shape
    dtype = like.dtype if dtype is None else np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buf = np.empty(nbytes + 2 * modulus, np.uint8)
    skip = (like.ctypes.data + offset - buf.ctypes.data) % modulus
    return buf[skip:skip + nbytes].view(dtype).reshape(shape)
