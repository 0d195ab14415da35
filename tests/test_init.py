"""gradkit.init: formulas against the NumPy twin and torch.nn.init, bounds and spreads,
orthogonality, out=/dtype, threads, bad input."""
import math

import numpy as np
import pytest

import gradkit
from gradkit import init
from gradkit._ext import random as _rnd
from gradkit.random import Generator
from gradkit.reference import init as ri
from conftest import assert_bitwise_equal, run_threads

GAINS = [("linear", None, 1.0), ("conv1d", None, 1.0), ("conv2d", None, 1.0),
         ("conv3d", None, 1.0), ("conv_transpose1d", None, 1.0),
         ("conv_transpose2d", None, 1.0), ("conv_transpose3d", None, 1.0),
         ("sigmoid", None, 1.0), ("tanh", None, 5 / 3), ("relu", None, math.sqrt(2)),
         ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
         ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("leaky_relu", 0, math.sqrt(2)),
         ("selu", None, 0.75)]


@pytest.mark.parametrize("name,param,want", GAINS)
def test_calculate_gain(name, param, want):
    assert init.calculate_gain(name, param) == pytest.approx(want, rel=1e-15)
    assert ri.calculate_gain(name, param) == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("name,param,want", GAINS)
def test_calculate_gain_matches_torch(name, param, want):
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param), rel=1e-15)


def test_calculate_gain_bad():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("gelu")
    # a slope that is not a number is a TypeError (torch says ValueError) naming it
    with pytest.raises(TypeError, match="param"):
        init.calculate_gain("leaky_relu", "0.1")
    with pytest.raises(TypeError, match="param"):
        init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="param"):
        init.calculate_gain("leaky_relu", float("nan"))


@pytest.mark.parametrize("shape,want", [((3, 4), (4, 3)), ((8, 4, 3, 3), (36, 72)),
                                        ((5, 2, 7), (14, 35)), ((6, 0), (0, 6))])
def test_fans(shape, want):
    assert init.fans(shape) == want


def test_fans_match_torch():
    torch = pytest.importorskip("torch")
    for shape in [(3, 4), (8, 4, 3, 3), (5, 2, 7), (2, 3, 4, 5, 6)]:
        assert init.fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(
            torch.empty(shape))


@pytest.mark.parametrize("shape", [(), (5,)])
def test_fans_need_two_dims(shape):
    with pytest.raises(ValueError, match="fewer than 2"):
        init.fans(shape)
    for f in (init.xavier_uniform, init.xavier_normal, init.kaiming_uniform,
              init.kaiming_normal, init.lecun_uniform, init.lecun_normal,
              init.variance_scaling):
        with pytest.raises(ValueError):
            f(shape)
    with pytest.raises(ValueError, match="2 or more"):
        init.orthogonal(shape)


# ---- against the NumPy twin -------------------------------------------------------------

SHAPE = (96, 40, 3)
UNIFORM_BASED = [  # (name, args, kwargs): identical uniforms, so bitwise equal
    ("uniform", (SHAPE, -0.3, 0.7), {}),
    ("xavier_uniform", (SHAPE, 1.7), {}),
    ("kaiming_uniform", (SHAPE,), {}),
    ("kaiming_uniform", (SHAPE, 0.2, "fan_out", "leaky_relu"), {}),
    ("kaiming_uniform", (SHAPE, 0, "fan_in", "relu"), {}),
    ("lecun_uniform", (SHAPE,), {}),
    ("variance_scaling", (SHAPE, 2.0, "fan_avg", "uniform"), {}),
]
NORMAL_BASED = [
    ("normal", (SHAPE, 0.5, 2.0), {}),
    ("xavier_normal", (SHAPE, 0.5), {}),
    ("kaiming_normal", (SHAPE,), {}),
    ("kaiming_normal", (SHAPE, 0, "fan_out", "tanh"), {}),
    ("trunc_normal", (SHAPE, 0.1, 0.02, -0.01, 0.2), {}),
    ("lecun_normal", (SHAPE,), {}),
    ("variance_scaling", (SHAPE, 0.5, "fan_out", "truncated_normal"), {}),
    ("variance_scaling", (SHAPE, 0.5, "fan_in", "untruncated_normal"), {}),
    ("orthogonal", ((30, 50), 1.3), {}),
    ("orthogonal", ((50, 6, 5), 0.7), {}),
]


@pytest.mark.parametrize("name,args,kw", UNIFORM_BASED)
def test_uniform_inits_match_reference_bitwise(name, args, kw, dtype):
    got = getattr(init, name)(*args, rng=5, dtype=dtype, **kw)
    want = getattr(ri, name)(*args, rng=5, dtype=dtype, **kw)
    assert got.dtype == dtype and got.shape == want.shape
    assert_bitwise_equal(got, want)


@pytest.mark.parametrize("name,args,kw", NORMAL_BASED)
def test_normal_inits_match_reference(name, args, kw, dtype):
    got = getattr(init, name)(*args, rng=5, dtype=dtype, **kw)
    want = getattr(ri, name)(*args, rng=5, dtype=dtype, **kw)
    assert got.dtype == dtype and got.shape == want.shape
    tol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * float(np.abs(want).max()))


# ---- spreads and bounds against torch's formulas ----------------------------------------

def _torch_std(f, shape, **kw):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    w = torch.empty(shape)
    f(w, **kw)
    return float(w.std()), float(w.abs().max())


@pytest.mark.parametrize("shape", [(512, 256), (128, 64, 3, 3)])
@pytest.mark.parametrize("ours,theirs,kw", [
    ("kaiming_uniform", "kaiming_uniform_", {}),
    ("kaiming_uniform", "kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_normal", "kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("xavier_uniform", "xavier_uniform_", {"gain": 2.0}),
    ("xavier_normal", "xavier_normal_", {}),
    ("orthogonal", "orthogonal_", {"gain": 0.5}),
    ("trunc_normal", "trunc_normal_", {"std": 0.02}),
])
def test_spread_matches_torch(shape, ours, theirs, kw):
    torch = pytest.importorskip("torch")
    w = getattr(init, ours)(shape, rng=3, **kw)
    tstd, tmax = _torch_std(getattr(torch.nn.init, theirs), shape, **kw)
    assert float(w.std()) == pytest.approx(tstd, rel=0.02)
    if "uniform" in ours:   # same bound: both reach within a hair of it
        assert float(np.abs(w).max()) <= tmax * (1 + 1e-3)
        assert float(np.abs(w).max()) == pytest.approx(tmax, rel=2e-3)


def test_bounds_by_formula():
    shape = (300, 200, 3)
    fan_in, fan_out = 600, 900
    b = math.sqrt(3) * math.sqrt(2) / math.sqrt(fan_in)
    w = init.kaiming_uniform(shape, rng=1)
    assert np.abs(w).max() <= b and np.abs(w).max() > 0.999 * b
    b = math.sqrt(6 / (fan_in + fan_out))
    w = init.xavier_uniform(shape, rng=1)
    assert np.abs(w).max() <= b and np.abs(w).max() > 0.999 * b
    b = math.sqrt(3 / fan_in)
    w = init.lecun_uniform(shape, rng=1)
    assert np.abs(w).max() <= b and np.abs(w).max() > 0.999 * b
    # Keras truncated normal: variance scale/fan, bounds +-2 std
    std = math.sqrt(1 / fan_in) / 0.87962566103423978
    w = init.lecun_normal(shape, rng=1, dtype=np.float64)
    assert np.abs(w).max() <= 2 * std and np.abs(w).max() > 0.99 * 2 * std
    assert w.var() == pytest.approx(1 / fan_in, rel=0.02)
    w = init.trunc_normal(shape, 0.0, 1.0, -0.5, 3.0, rng=1)
    assert w.min() >= -0.5 and w.max() <= 3.0


def test_orthogonal_properties(dtype):
    for shape in [(30, 50), (50, 30), (16, 4, 3, 3), (7, 7)]:
        q = init.orthogonal(shape, 1.5, rng=8, dtype=dtype).reshape(shape[0], -1)
        q = q.astype(np.float64)
        small = min(q.shape)
        g = q @ q.T if q.shape[0] == small else q.T @ q
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(g, 2.25 * np.eye(small), atol=tol * 10)
    assert_bitwise_equal(init.orthogonal((20, 30), rng=2), init.orthogonal((20, 30), rng=2))


def test_eye_zeros_ones_constant():
    assert_bitwise_equal(init.eye((3, 5)), np.eye(3, 5, dtype=np.float32))
    assert_bitwise_equal(init.eye((4, 2), dtype=np.float64), np.eye(4, 2))
    for shape in [(3,), (2, 2, 2)]:
        with pytest.raises(ValueError, match="2-D"):
            init.eye(shape)
    assert np.all(init.zeros((2, 3)) == 0) and init.zeros((2, 3)).dtype == np.float32
    assert np.all(init.ones(4, dtype=np.float64) == 1)
    assert np.all(init.constant((2, 2), 0.25) == 0.25)
    for name, args in [("zeros", ((3, 2),)), ("ones", ((3, 2),)), ("constant", ((3, 2), -1.5))]:
        assert_bitwise_equal(getattr(init, name)(*args), getattr(ri, name)(*args))


def test_lora():
    a, b = init.lora(64, 32, 8, rng=1)
    assert a.shape == (8, 64) and b.shape == (32, 8) and a.dtype == np.float32
    assert np.all(b == 0)
    assert np.abs(a).max() <= 1 / 8 and np.abs(a).max() > 0.99 / 8   # 1/sqrt(in)
    assert_bitwise_equal(a, ri.lora(64, 32, 8, rng=1)[0])
    ga, gb = init.lora(256, 32, 16, method="gaussian", rng=1, dtype=np.float64)
    assert ga.std() == pytest.approx(1 / 16, rel=0.03) and gb.dtype == np.float64
    oa, ob = np.empty((8, 64), np.float32), np.ones((32, 8), np.float32)
    ra, rb = init.lora(64, 32, 8, rng=1, out=(oa, ob))
    assert ra is oa and rb is ob and np.all(ob == 0)
    assert_bitwise_equal(oa, a)
    with pytest.raises(ValueError, match="method"):
        init.lora(64, 32, 8, method="pissa")
    with pytest.raises(ValueError, match="rank"):
        init.lora(64, 32, 0)


def test_lora_a_matches_nn_linear_bound():
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(100, 8)          # reset_parameters: kaiming_uniform_(a=sqrt(5))
    a, _ = init.lora(100, 4, 8, rng=2)
    assert float(np.abs(a).max()) == pytest.approx(float(lin.weight.detach().abs().max()), rel=0.02)


# ---- out=, dtype, rng, threads, zero size, bad input ---------------------------------------

def test_out_dtype_and_rng_forms():
    out = np.empty((16, 8), np.float64)
    assert init.kaiming_normal(None, out=out, rng=4) is out
    assert_bitwise_equal(out, init.kaiming_normal((16, 8), rng=4, dtype=np.float64))
    g = Generator(4)
    x = init.xavier_uniform((16, 8), rng=g)
    assert g.counter == 128
    assert_bitwise_equal(x, init.xavier_uniform((16, 8), rng=4))
    assert init.normal((0, 5)).shape == (0, 5)
    assert init.kaiming_uniform((0, 5)).shape == (0, 5)   # torch: warns and returns


def test_threads_bitwise_identical():
    def run():
        return [init.kaiming_normal((300, 301), rng=6), init.trunc_normal((300, 301), rng=6),
                init.xavier_uniform((300, 301), rng=6, dtype=np.float64)]
    one, two = run_threads(run)
    assert_bitwise_equal(one, two)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: init.kaiming_uniform((4, 4), mode="fan_avg"), ValueError, "fan_avg"),
    (lambda: init.kaiming_normal((4, 4), nonlinearity="swish"), ValueError, "swish"),
    (lambda: init.variance_scaling((4, 4), mode="fan"), ValueError, "mode"),
    (lambda: init.variance_scaling((4, 4), distribution="cauchy"), ValueError, "distribution"),
    (lambda: init.variance_scaling((4, 4), scale=0.0), ValueError, "scale"),
    (lambda: init.normal((4, 4), std=-1.0), ValueError, "std"),
    (lambda: init.uniform((4, 4), 1.0, 0.0), ValueError, "a <= b, got a=1.0, b=0.0"),
    (lambda: init.trunc_normal((4, 4), a=1.0, b=0.0), ValueError, "a <= b"),
    (lambda: init.normal((4, 4), dtype=np.int64), TypeError, "dtype"),
    (lambda: init.normal((4, 4), out=np.empty((4, 5), np.float32)), ValueError, "out"),
    (lambda: init.normal((4, 4), out=[0.0]), TypeError, "out"),
    (lambda: init.normal((4, 4), rng="seed"), TypeError, "rng"),
    (lambda: init.xavier_uniform((4, 4), gain="2"), TypeError, "gain"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_bad_input_writes_nothing():
    out = np.full((4, 4), 3.0, np.float32)
    g = Generator(1)
    with pytest.raises(ValueError):
        init.kaiming_uniform(None, mode="bad", out=out, rng=g)
    assert np.all(out == 3.0) and g.counter == 0


# ---- issue 10: orthogonal's bits do not depend on the BLAS threads ------------------------

_ORTHO_SCRIPT = """
import hashlib, sys
import numpy as np
from gradkit import init
h = hashlib.sha256()
for shape in [(300, 200), (200, 300), (64, 8, 3, 3), (257, 257)]:
    h.update(init.orthogonal(shape, rng=5, dtype=np.float64).tobytes())
    h.update(init.orthogonal(shape, rng=6, dtype=np.float32).tobytes())
a = np.random.default_rng(0).standard_normal((300, 200))
h.update(init._haar_q_unblocked(a).tobytes())
print(h.hexdigest())
"""


def test_orthogonal_bits_independent_of_blas_threads():
    """float64 orthogonal gave other bits under OMP_NUM_THREADS=1 and 2 (OpenBLAS splits
    the QR's products by thread count).  Run in fresh processes, each BLAS started with
    its own thread count."""
    import os
    import subprocess
    import sys
    digests = set()
    for n in ("1", "2", "3"):
        env = dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n,
                   MKL_NUM_THREADS=n)
        out = subprocess.run([sys.executable, "-c", _ORTHO_SCRIPT], env=env, check=True,
                             capture_output=True, text=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1, digests


@pytest.mark.parametrize("shape", [(7, 7), (50, 30), (300, 20), (1, 1), (5, 1), (65, 64),
                                   (330, 321)])
def test_unblocked_fallback_matches_the_kernel(shape):
    """The BLAS-free construction (used when threadpoolctl is missing) forms the same
    matrix as the blocked kernel (panels of 64 reflectors, tiles of 256 columns), to
    rounding: orthonormal columns."""
    a = np.random.default_rng(1).standard_normal(shape)
    q = init._haar_q_unblocked(a.copy())
    q2 = init._haar_q(a.copy(), 1.0)
    assert q.shape == shape
    np.testing.assert_allclose(q, q2, rtol=0, atol=1e-13)
    np.testing.assert_allclose(q.T @ q, np.eye(shape[1]), rtol=0, atol=1e-13)


def test_orthogonal_without_threadpoolctl_uses_the_fallback(monkeypatch):
    from gradkit import _blas
    monkeypatch.setattr(_blas, "_controller", [None])
    a = init.orthogonal((40, 30), 1.5, rng=3, dtype=np.float64)
    flat = Generator(3).normal((40, 30), dtype=np.float64)
    np.testing.assert_array_equal(a, init._haar_q_unblocked(flat) * 1.5)


def test_orthogonal_is_haar():
    """Haar on O(3): every entry has mean 0 and variance 1/3, the trace mean 0 and
    variance 1, det +1 and -1 equally often.  A sign convention off (d left out, or
    d = +s) biases the diagonal, the trace and the determinant."""
    qs = np.stack([init.orthogonal((3, 3), rng=seed, dtype=np.float64)
                   for seed in range(4000)])
    n = len(qs)
    se = 1 / np.sqrt(n)
    assert np.abs(qs.mean(axis=0)).max() < 5 * se * np.sqrt(1 / 3)
    np.testing.assert_allclose((qs ** 2).mean(axis=0), 1 / 3, atol=5 * se * 0.3)
    tr = np.trace(qs, axis1=1, axis2=2)
    assert abs(tr.mean()) < 5 * se
    assert abs(tr.var() - 1) < 5 * se * np.sqrt(2)
    det = np.linalg.det(qs)
    np.testing.assert_allclose(np.abs(det), 1, atol=1e-12)
    assert abs((det > 0).mean() - 0.5) < 5 * se * 0.5


@pytest.mark.parametrize("rows,cols", [(0, 0), (3, 0)])
def test_orthogonal_kernel_empty(rows, cols):
    a = np.empty((rows, cols))
    q = np.empty((rows, cols))
    _rnd.orthogonal(a, rows, cols, 1.0, q)


def test_orthogonal_kernel_bad_arguments():
    a, q = np.ones((4, 3)), np.empty((4, 3))
    with pytest.raises(ValueError, match="cols"):
        _rnd.orthogonal(np.ones((3, 4)), 3, 4, 1.0, np.empty((3, 4)))
    with pytest.raises(ValueError, match="gain"):
        _rnd.orthogonal(a, 4, 3, float("nan"), q)
    with pytest.raises(ValueError, match="q"):
        _rnd.orthogonal(a, 4, 3, 1.0, a)
    assert np.all(a == 1) and np.all(np.isfinite(a))


def test_uniform_bounds_named_a_and_b():
    with pytest.raises(ValueError, match=r"a <= b, got a=2\.0, b=1\.0"):
        init.uniform((3,), 2.0, 1.0)
    with pytest.raises(ValueError, match="b"):
        init.uniform((3,), 0.0, float("inf"))
    with pytest.raises(TypeError, match="a"):
        init.uniform((3,), "0", 1.0)


# the stores of a fill: the default (string stores where the CPU has fast ones, below
# twice the streaming threshold), every output streamed, none
FILL_STORES = {"default": None, "streamed": 1, "cached": 1 << 62}


@pytest.mark.parametrize("stores", FILL_STORES)
@pytest.mark.parametrize("n", [0, 1, 7, 16385, 4194311])
def test_constant_fills_every_element(n, stores, dtype):
    # the compiled fill: tiles over threads, into a buffer that starts off any vector
    # boundary (its 4- or 8-byte elements then start off an 8-byte string store)
    buf = np.full(n + 2, 7.0, dtype)
    out = buf[1:-1]
    previous = gradkit.set_stream_threshold(FILL_STORES[stores])
    try:
        assert init.constant(None, -2.5, out=out) is out
        assert (out == -2.5).all() and buf[0] == 7 and buf[-1] == 7
        assert_bitwise_equal(init.zeros((n,), dtype=dtype), np.zeros(n, dtype))
        assert_bitwise_equal(init.ones(n, dtype=dtype), np.ones(n, dtype))
        if dtype == np.float32:
            assert (init.constant(3, 1e40, dtype=dtype) == np.inf).all()
        odd = np.full(n + 1, 7.0, dtype)[1:]          # 8 bytes past: a 4-byte offset too
        assert (init.constant(None, -0.0, out=odd) == 0).all()
        assert np.signbit(odd).all()
    finally:
        gradkit.set_stream_threshold(previous)


@pytest.mark.parametrize("stores", FILL_STORES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (3, 5), (5, 3), (17, 17),
                                   (40000, 2), (2, 40000), (300, 70000), (4097, 4099)])
def test_eye_one_pass_every_element(shape, stores, dtype):
    """The compiled eye (zeros and the diagonal in one pass): tiles over threads,
    non-temporal stores past twice the streaming threshold (by default float64's last
    two shapes; every shape when streamed), with diagonal elements inside streamed
    vectors, in the plain stores at the ends of tiles, and several in one vector (2
    columns); string or vector stores and the diagonal after them below it; into a
    buffer that starts off any vector boundary, leaving its neighbours alone; 1 and 3
    threads."""
    n = shape[0] * shape[1]
    if stores != "default" and n > 10**7:
        pytest.skip("the large shapes: by default only")
    buf = np.full(n + 2, 7.0, dtype)
    out = buf[1:-1].reshape(shape)

    def run():
        out.fill(7)
        assert init.eye(None, out=out) is out
        assert_bitwise_equal(out, np.eye(*shape, dtype=dtype))
        assert buf[0] == 7 and buf[-1] == 7
        return init.eye(shape, dtype=dtype)
    previous = gradkit.set_stream_threshold(FILL_STORES[stores])
    try:
        for y in run_threads(run, (1, 3)):
            assert_bitwise_equal(y, np.eye(*shape, dtype=dtype))
    finally:
        gradkit.set_stream_threshold(previous)


def test_eye_kernel_checks_its_sizes():
    from gradkit._ext import random as k
    out = np.full(12, 7.0, np.float32)
    with pytest.raises(ValueError, match="rows"):
        k.fill_eye(out, -1, 3)
    with pytest.raises(ValueError, match="cols"):
        k.fill_eye(out, 3, -4)
    with pytest.raises(ValueError, match="overflows"):
        k.fill_eye(out, 2 ** 62, 2 ** 62)
    with pytest.raises(ValueError, match="out"):
        k.fill_eye(out, 3, 5)
    assert (out == 7).all()
    k.fill_eye(out, 3, 4)
    assert_bitwise_equal(out.reshape(3, 4), np.eye(3, 4, dtype=np.float32))
