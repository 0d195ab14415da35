"""BatchNorm: kernels against gradkit.reference and PyTorch, running statistics,
gradients against finite differences, threads, hard data, bad input."""
import numpy as np
import pytest

import gradkit
from gradkit import norm, reference as ref
from conftest import (placed_past, assert_bitwise_equal, assert_close, numerical_grad, run_threads)

# (N, C) shapes take the column path, (N, C, L) with L >= 128 the plane path; the odd
# sizes straddle the 16-lane groups, the 4-row steps, the rows folded together when
# C * L < 64 (and the rows left over), the 1024-column chunks and the 4096-element
# segments.
SHAPES = [
    (2, 1), (7, 13), (4, 16), (37, 5), (600, 67), (40, 2100), (3, 5, 33), (70, 3, 5),
    (2, 3, 4, 5), (1, 4, 7), (5, 3, 70), (2, 3, 9000), (3, 2, 7, 11), (1, 3, 64),
    (1000, 3), (50, 1), (5, 2), (129, 7, 3), (300, 64), (4, 3, 130), (3, 5, 8, 16),
]


def _f64(a):
    return None if a is None else np.asarray(a, np.float64)


def _data(rng, shape, dtype, affine=True):
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    if not affine:
        return x, None, None
    return (x, rng.standard_normal(c).astype(dtype),
            rng.standard_normal(c).astype(dtype))


def _running(rng, c, dtype):
    return (rng.standard_normal(c).astype(dtype),
            (rng.random(c) + 0.5).astype(dtype))


def _exact(a):
    """In extended precision: the reference computed from it is the exact answer to
    judge float64 results on (two float64 computations differ by a few ulps)."""
    return None if a is None else np.asarray(a, np.longdouble)


def _f64x(a):
    return np.asarray(a).astype(np.float64)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [False, True])
def test_training_forward_matches_reference(shape, affine, dtype, rng):
    x, w, b = _data(rng, shape, dtype, affine)
    rm, rv = _running(rng, shape[1], dtype)
    rme, rve = _exact(rm).copy(), _exact(rv).copy()
    y, st = norm.batch_norm(x, w, b, rm, rv, momentum=0.3)
    yr, sr = ref.batch_norm(_exact(x), _exact(w), _exact(b), rme, rve, momentum=0.3)
    assert y.dtype == dtype and st.mean.dtype == dtype and st.rstd.dtype == dtype
    assert st.mean.shape == (shape[1],) and st.rstd.shape == (shape[1],)
    assert_close(y, _f64x(yr), dtype)
    # a mean is known to eps times the size of the data it sums
    assert_close(st.mean, _f64x(sr.mean), dtype, scale=float(np.abs(_f64x(x)).max()))
    assert_close(st.rstd, _f64x(sr.rstd), dtype)
    assert_close(rm, _f64x(rme), dtype, scale=float(np.abs(_f64x(x)).max()))
    assert_close(rv, _f64x(rve), dtype)
    # the float64 reference agrees as well
    yr64, _ = ref.batch_norm(_f64(x), _f64(w), _f64(b), momentum=0.3)
    assert_close(y, yr64, dtype, ulps=16)
    # without running statistics: the same output
    y2, st2 = norm.batch_norm(x, w, b)
    assert_bitwise_equal((y2, st2.mean, st2.rstd), (y, st.mean, st.rstd))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [False, True])
def test_eval_forward_matches_reference(shape, affine, dtype, rng):
    x, w, b = _data(rng, shape, dtype, affine)
    rm, rv = _running(rng, shape[1], dtype)
    before = rm.copy(), rv.copy()
    counter = np.array(5, np.int64)
    y, st = norm.batch_norm(x, w, b, rm, rv, training=False, num_batches_tracked=counter)
    yr, sr = ref.batch_norm(_f64(x), _f64(w), _f64(b), _f64(rm), _f64(rv), training=False)
    assert_close(y, yr, dtype)
    assert_bitwise_equal(st.mean, rm)
    assert st.mean is not rm
    assert_close(st.rstd, sr.rstd, dtype)
    # eval never touches the running statistics nor the counter
    assert_bitwise_equal((rm, rv), before)
    assert int(counter) == 5


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [False, True])
def test_backward_matches_reference(shape, affine, dtype, rng):
    x, w, b = _data(rng, shape, dtype, affine)
    dy = rng.standard_normal(shape).astype(dtype)
    _, st = norm.batch_norm(x, w, b)
    dx, dw, db = norm.batch_norm_backward(dy, x, st, w, bias=affine)
    st64 = norm.NormStats(_f64(st.mean), _f64(st.rstd))
    rx, rw, rb = ref.batch_norm_backward(_f64(dy), _f64(x), st64, _f64(w), bias=affine)
    assert dx.dtype == dtype and dx.shape == shape
    scale = float(np.abs(_f64(dy)).max()) * float(st64.rstd.max())
    if affine:
        scale *= float(np.abs(_f64(w)).max())
    assert_close(dx, rx, dtype, ulps=16, scale=scale)
    if affine:
        assert_close(dw, rw, dtype, ulps=16, scale=float(np.abs(rw).max()) + 1)
        assert_close(db, rb, dtype, ulps=16, scale=float(np.abs(rb).max()) + 1)
    else:
        assert dw is None and db is None


@pytest.mark.parametrize("shape", [(4, 3), (6, 2, 5), (3, 2, 2, 3), (2, 2, 70), (2, 2, 130)])
def test_gradients_finite_differences(shape, rng):
    x = rng.standard_normal(shape)
    c = shape[1]
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    dy = rng.standard_normal(shape)

    def loss(x_, w_, b_):
        return float(np.sum(norm.batch_norm(x_, w_, b_)[0] * dy))

    _, st = norm.batch_norm(x, w, b)
    dx, dw, db = norm.batch_norm_backward(dy, x, st, w)
    np.testing.assert_allclose(dx, numerical_grad(lambda v: loss(v, w, b), x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, numerical_grad(lambda v: loss(x, v, b), w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, numerical_grad(lambda v: loss(x, w, v), b), rtol=1e-6, atol=1e-7)


def test_running_stats_over_several_steps(dtype, rng):
    shape = (9, 4, 6)
    rm, rv = np.zeros(4, dtype), np.ones(4, dtype)
    rm64, rv64 = np.zeros(4), np.ones(4)
    counter, counter64 = np.array(0, np.int64), np.array(0, np.int64)
    for step in range(5):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(dtype)
        norm.batch_norm(x, None, None, rm, rv, num_batches_tracked=counter)
        ref.batch_norm(_f64(x), None, None, rm64, rv64, num_batches_tracked=counter64)
    assert int(counter) == int(counter64) == 5
    assert_close(rm, rm64, dtype, ulps=8)
    assert_close(rv, rv64, dtype, ulps=8)


@pytest.mark.parametrize("momentum", [0.1, 0.7, 1.0, 0.0, None])
def test_momentum_and_cumulative_average(momentum, rng):
    c = 3
    rm, rv = np.full(c, 2.0), np.full(c, 3.0)
    counter = np.array(2, np.int64)
    xs = [rng.standard_normal((5, c)) * 2 + 1 for _ in range(3)]
    for i, x in enumerate(xs):
        em, ev = rm.copy(), rv.copy()
        factor = momentum if momentum is not None else 1.0 / (3 + i)
        norm.batch_norm(x, None, None, rm, rv, momentum=momentum, num_batches_tracked=counter)
        np.testing.assert_allclose(rm, (1 - factor) * em + factor * x.mean(0), rtol=1e-14)
        np.testing.assert_allclose(rv, (1 - factor) * ev + factor * x.var(0, ddof=1), rtol=1e-14)
    assert int(counter) == 5


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 10), (2, 3, 5, 4)])
def test_running_stats_match_torch_modules(shape, dtype, rng):
    torch = pytest.importorskip("torch")
    c = shape[1]
    cls = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d}[len(shape)]
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    for momentum in (0.1, None):
        mod = cls(c, momentum=momentum, dtype=tdt)
        w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
        with torch.no_grad():
            mod.weight.copy_(torch.from_numpy(w))
            mod.bias.copy_(torch.from_numpy(b))
        rm, rv = np.zeros(c, dtype), np.ones(c, dtype)
        counter = np.array(0, np.int64)
        for step in range(4):
            x = (rng.standard_normal(shape) * 2 + step).astype(dtype)
            y, _ = norm.batch_norm(x, w, b, rm, rv, momentum=momentum,
                                   num_batches_tracked=counter)
            with torch.no_grad():
                ty = mod.train()(torch.from_numpy(x)).numpy()
            assert_close(y, ty, dtype, ulps=16)
        assert int(counter) == int(mod.num_batches_tracked) == 4
        assert_close(rm, mod.running_mean.numpy(), dtype, ulps=8)
        assert_close(rv, mod.running_var.numpy(), dtype, ulps=8)
        x = rng.standard_normal(shape).astype(dtype)
        y, _ = norm.batch_norm(x, w, b, rm, rv, training=False)
        with torch.no_grad():
            ty = mod.eval()(torch.from_numpy(x)).numpy()
        assert_close(y, ty, dtype, ulps=16)


@pytest.mark.parametrize("shape", [(64, 5), (7, 4, 100), (3, 2, 9, 9)])
def test_matches_torch_functional_and_autograd(shape, dtype, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b = _data(rng, shape, dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    rm, rv = _running(rng, shape[1], dtype)
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    tw = torch.from_numpy(w.copy()).requires_grad_(True)
    tb = torch.from_numpy(b.copy()).requires_grad_(True)
    ty = F.batch_norm(tx, trm, trv, tw, tb, training=True, momentum=0.2, eps=1e-3)
    ty.backward(torch.from_numpy(dy))
    y, st = norm.batch_norm(x, w, b, rm, rv, momentum=0.2, eps=1e-3)
    dx, dw, db = norm.batch_norm_backward(dy, x, st, w)
    assert_close(y, ty.detach().numpy(), dtype, ulps=16)
    assert_close(rm, trm.numpy(), dtype, ulps=8)
    assert_close(rv, trv.numpy(), dtype, ulps=8)
    gscale = float(np.abs(dy).max() * np.abs(w).max() * st.rstd.max())
    assert_close(dx, tx.grad.numpy(), dtype, ulps=64, scale=gscale)
    assert_close(dw, tw.grad.numpy(), dtype, ulps=64, scale=float(np.abs(dw).max()) + 1)
    assert_close(db, tb.grad.numpy(), dtype, ulps=64, scale=float(np.abs(db).max()) + 1)


@pytest.mark.parametrize("shape", [(0, 5), (0, 3, 4), (4, 3, 0), (4, 0), (4, 0, 3)])
def test_zero_size(shape, dtype):
    x = np.zeros(shape, dtype)
    c = shape[1]
    rm, rv = np.full(c, 2.0, dtype), np.full(c, 3.0, dtype)
    counter = np.array(0, np.int64)
    y, st = norm.batch_norm(x, None, None, rm, rv, momentum=None, num_batches_tracked=counter)
    assert y.shape == shape and st.mean.shape == (c,)
    # an empty batch: mean 0, variance 0, running statistics left alone (as torch)
    assert not st.mean.any()
    np.testing.assert_allclose(st.rstd, 1 / np.sqrt(np.float64(1e-5)), rtol=1e-6)
    assert (rm == 2).all() and (rv == 3).all() and int(counter) == 1
    yr, sr = ref.batch_norm(x, None, None, rm.copy(), rv.copy())
    assert_bitwise_equal(st.mean, sr.mean)
    dx, dw, db = norm.batch_norm_backward(x, x, st, np.ones(c, dtype))
    assert dx.shape == shape and dw.shape == (c,) and db.shape == (c,)
    assert not dw.any() and not db.any()
    y, st = norm.batch_norm(x, None, None, rm, rv, training=False)
    assert y.shape == shape
    assert_bitwise_equal(st.mean, rm)


def test_one_value_per_channel(rng):
    for shape in [(1, 3), (1, 3, 1), (1, 2, 1, 1)]:
        x = rng.standard_normal(shape)
        rm, rv = np.zeros(shape[1]), np.ones(shape[1])
        with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
            norm.batch_norm(x, None, None, rm, rv)
        assert (rm == 0).all() and (rv == 1).all()
        # eval mode normalizes a single sample with the running statistics
        y, _ = norm.batch_norm(x, None, None, rm, rv, training=False)
        np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-5), rtol=1e-12)
    # one sample with spatial extent is a batch of several values per channel
    y, _ = norm.batch_norm(rng.standard_normal((1, 2, 5)))
    np.testing.assert_allclose(y.mean(axis=2), 0, atol=1e-12)


def test_non_contiguous_inputs(dtype, rng):
    base = rng.standard_normal((20, 6, 30)).astype(dtype)
    dybase = rng.standard_normal((20, 6, 30)).astype(dtype)
    for sl in [np.s_[::2], np.s_[:, ::2], np.s_[..., ::3], np.s_[:, :, 0]]:
        x, dy = base[sl], dybase[sl]
        assert not x.flags.c_contiguous
        rm, rv = np.zeros(x.shape[1], dtype), np.ones(x.shape[1], dtype)
        y, st = norm.batch_norm(x, None, None, rm, rv)
        yr, sr = ref.batch_norm(_f64(x), None, None, np.zeros(x.shape[1]), np.ones(x.shape[1]))
        assert_close(y, yr, dtype)
        dx, _, db = norm.batch_norm_backward(dy, x, st)
        rx, _, rb = ref.batch_norm_backward(_f64(dy), _f64(x), sr)
        assert_close(dx, rx, dtype, ulps=16, scale=float(np.abs(dy).max() * sr.rstd.max()))
        assert_close(db, rb, dtype, ulps=16, scale=float(np.abs(rb).max()) + 1)
    # eval mode reads running statistics that need not be contiguous or writable
    rs = np.linspace(0.5, 2, 12).astype(dtype)
    rs.flags.writeable = False
    y, st = norm.batch_norm(base, None, None, rs[::2] - 1, rs[1::2], training=False)
    yr, _ = ref.batch_norm(_f64(base), None, None, _f64(rs[::2] - 1), _f64(rs[1::2]), training=False)
    assert_close(y, yr, dtype)


@pytest.mark.parametrize("shape", [(512, 300), (40000, 3), (100001, 1), (64, 2500),
                                   (16, 8, 300), (3, 2, 70001), (100, 7, 50)])
def test_threads_bitwise_identical(shape, dtype, rng):
    x = (rng.standard_normal(shape) + 0.5).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    c = shape[1]
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)

    def run():
        rm, rv = np.zeros(c, dtype), np.ones(c, dtype)
        y, st = norm.batch_norm(x, w, b, rm, rv)
        g = norm.batch_norm_backward(dy, x, st, w)
        ye, ste = norm.batch_norm(x, w, b, rm, rv, training=False)
        return (y, st.mean, st.rstd, rm, rv) + tuple(g) + (ye, ste.rstd)

    one, two = run_threads(run)
    assert_bitwise_equal(one, two)


@pytest.mark.parametrize("shape", [(3000, 64), (2000, 200), (5000, 3)])
def test_statistics_from_memory_same_bits(shape, dtype, rng):
    # narrow rows past the streaming threshold fetch rows ahead in the forward's
    # statistics (gk_bn_ahead): where data come from never changes a result
    x = (rng.standard_normal(shape) + 2.0).astype(dtype)
    c = shape[1]

    def run():
        rm, rv = np.zeros(c, dtype), np.ones(c, dtype)
        y, st = norm.batch_norm(x, None, None, rm, rv)
        return y, st.mean, st.rstd, rm, rv

    expect = run()
    before = gradkit.set_stream_threshold(4096)
    try:
        got = run()
        with gradkit.num_threads(1):
            one = run()
    finally:
        gradkit.set_stream_threshold(before)
    assert_bitwise_equal(expect, got)
    assert_bitwise_equal(expect, one)


@pytest.mark.parametrize("shape", [(4000, 8), (4000, 100), (50, 6, 300)])
def test_hard_data_large_mean(shape, dtype, rng):
    # E[x^2] - E[x]^2 collapses here; the kernels centre every block before squaring
    x = (1e4 + rng.standard_normal(shape)).astype(dtype)
    c = shape[1]
    rm, rv = np.zeros(c, dtype), np.ones(c, dtype)
    rml, rvl = np.zeros(c, np.longdouble), np.ones(c, np.longdouble)
    y, st = norm.batch_norm(x, None, None, rm, rv, momentum=1.0)
    yr, sr = ref.batch_norm(x.astype(np.longdouble), None, None, rml, rvl, momentum=1.0)
    # float32: within a few ulps of the exact answer.  float64: the mean itself is only
    # known to an ulp of 1e4, so judge y on the scale of the data.
    assert_close(st.rstd, sr.rstd.astype(np.float64), dtype, ulps=4, scale=1.0)
    assert_close(rv, rvl.astype(np.float64), dtype, ulps=4, scale=1.0)
    assert_close(st.mean, sr.mean.astype(np.float64), dtype, ulps=2)
    scale = 1e4 if dtype == np.float64 else None
    assert_close(y, yr.astype(np.float64), dtype, ulps=4, scale=scale)
    axes = (0,) + tuple(range(2, x.ndim))
    np.testing.assert_allclose(y.std(axis=axes, dtype=np.float64), 1.0, rtol=1e-4)


def test_inputs_not_modified(dtype, rng):
    x, w, b = _data(rng, (8, 3, 5), dtype)
    dy = rng.standard_normal((8, 3, 5)).astype(dtype)
    copies = [a.copy() for a in (x, w, b, dy)]
    _, st = norm.batch_norm(x, w, b)
    stc = (st.mean.copy(), st.rstd.copy())
    norm.batch_norm_backward(dy, x, st, w)
    for a, c in zip((x, w, b, dy) + tuple(st), copies + list(stc)):
        assert_bitwise_equal(a, c)


def test_out_and_in_place(dtype, rng):
    x, w, b = _data(rng, (6, 4, 7), dtype)
    expect, _ = norm.batch_norm(x, w, b)
    out = np.empty_like(x)
    y, _ = norm.batch_norm(x, w, b, out=out)
    assert y is out
    assert_bitwise_equal(out, expect)
    xc = x.copy()
    y, _ = norm.batch_norm(xc, w, b, out=xc)
    assert y is xc
    assert_bitwise_equal(xc, expect)


def test_reexported_at_top_level():
    assert gradkit.batch_norm is norm.batch_norm
    assert gradkit.batch_norm_backward is norm.batch_norm_backward
    assert "batch_norm" in norm.__all__ and "batch_norm" in gradkit.__all__
    assert ref.batch_norm is not norm.batch_norm


def test_bad_input_raises_before_writing(rng):
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    w = np.ones(3, np.float32)
    rm, rv = np.full(3, 7.0, np.float32), np.full(3, 9.0, np.float32)
    counter = np.array(4, np.int64)
    out = np.full(x.shape, 5.0, np.float32)

    def untouched():
        assert (rm == 7).all() and (rv == 9).all() and int(counter) == 4
        assert (out == 5).all()

    def call(*args, **kw):
        kw.setdefault("out", out)
        kw.setdefault("num_batches_tracked", counter)
        return norm.batch_norm(*args, **kw)

    cases = [
        (TypeError, "x must be a float32, float64, float16 or bfloat16", (x.astype(np.int32), None, None, rm, rv), {}),
        (TypeError, "weight has dtype float64", (x, w.astype(np.float64), None, rm, rv), {}),
        (TypeError, "bias has dtype float64", (x, w, w.astype(np.float64), rm, rv), {}),
        (TypeError, "running_mean has dtype float64", (x, w, None, rm.astype(np.float64), rv), {}),
        (TypeError, "running_var has dtype float64", (x, w, None, rm, rv.astype(np.float64)), {}),
        (ValueError, "weight must have shape", (x, np.ones(4, np.float32), None, rm, rv), {}),
        (ValueError, "bias must have shape", (x, w, np.ones((1, 3), np.float32), rm, rv), {}),
        (ValueError, "running_mean must have shape", (x, w, None, np.zeros(5, np.float32), rv), {}),
        (ValueError, "running_var must have shape", (x, w, None, rm, np.zeros(2, np.float32)), {}),
        (ValueError, "running_mean must be C-contiguous", (x, w, None, np.zeros(6, np.float32)[::2], rv), {}),
        (TypeError, "running_mean must be a numpy array", (x, w, None, [0.0] * 3, rv), {}),
        (ValueError, "given together", (x, w, None, rm, None), {}),
        (ValueError, r"shape \(N, C\)", (x[:, 0, 0], None, None, None, None), {}),
        (ValueError, r"shape \(N, C\)", (np.float32(1.0), None, None, None, None), {}),
        (ValueError, "momentum=None", (x, w, None, rm, rv), {"momentum": None, "num_batches_tracked": None}),
        (ValueError, "momentum", (x, w, None, rm, rv), {"momentum": 1.5}),
        (TypeError, "momentum", (x, w, None, rm, rv), {"momentum": "fast"}),
        (ValueError, "eps", (x, w, None, rm, rv), {"eps": -1.0}),
        (ValueError, "training=False needs running_mean", (x, w, None, None, None), {"training": False}),
        (TypeError, "num_batches_tracked", (x, w, None, rm, rv), {"num_batches_tracked": np.array(1, np.int32)}),
        (TypeError, "num_batches_tracked", (x, w, None, rm, rv), {"num_batches_tracked": 3}),
        (ValueError, "num_batches_tracked", (x, w, None, rm, rv), {"num_batches_tracked": np.zeros(1, np.int64)}),
        (ValueError, "out must have shape", (x, w, None, rm, rv), {"out": np.empty((4, 3, 4), np.float32)}),
        (ValueError, "out must have dtype", (x, w, None, rm, rv), {"out": np.empty(x.shape)}),
        (ValueError, "Expected more than 1 value", (x[:1, :, :1], w, None, rm, rv), {"out": None}),
    ]
    for err, msg, args, kw in cases:
        with pytest.raises(err, match=msg):
            call(*args, **kw)
        untouched()
    ro = rm.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean must be writable"):
        call(x, w, None, ro, rv)
    untouched()
    ro_counter = counter.copy()
    ro_counter.flags.writeable = False
    with pytest.raises(ValueError, match="num_batches_tracked must be writable"):
        call(x, w, None, rm, rv, num_batches_tracked=ro_counter)
    untouched()

    _, st = norm.batch_norm(x)
    with pytest.raises(ValueError, match="dy must have the shape"):
        norm.batch_norm_backward(x[:2], x, st)
    with pytest.raises(TypeError, match="dy has dtype"):
        norm.batch_norm_backward(x.astype(np.float64), x, st)
    with pytest.raises(TypeError, match="stats"):
        norm.batch_norm_backward(x, x, None)
    with pytest.raises(ValueError, match="stats.mean must have shape"):
        norm.batch_norm_backward(x, x, norm.NormStats(st.mean[:2], st.rstd))
    with pytest.raises(TypeError, match="stats.rstd has dtype"):
        norm.batch_norm_backward(x, x, norm.NormStats(st.mean, st.rstd.astype(np.float64)))
    with pytest.raises(ValueError, match="stats.mean is None"):
        norm.batch_norm_backward(x, x, norm.NormStats(None, st.rstd))
    with pytest.raises(ValueError, match="weight must have shape"):
        norm.batch_norm_backward(x, x, st, np.ones(2, np.float32))
    with pytest.raises(ValueError, match=r"shape \(N, C\)"):
        norm.batch_norm_backward(x[:, 0, 0], x[:, 0, 0], st)


@pytest.mark.parametrize("shape", [(2100, 2049), (8, 64, 97, 97)])
def test_outputs_past_the_cache_are_streamed_correctly(shape):
    # >= 16 MiB of float32 output takes the non-temporal store path (column and plane
    # layouts, forward and backward)
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    c = shape[1]
    w, b = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    y, st = norm.batch_norm(x, w, b)
    dx, dw, db = norm.batch_norm_backward(dy, x, st, w)
    yr, sr = ref.batch_norm(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(y, yr, rtol=1e-5, atol=1e-5)
    rx, _, _ = ref.batch_norm_backward(dy.astype(np.float64), x.astype(np.float64),
                                       type(sr)(sr.mean, sr.rstd), w.astype(np.float64))
    np.testing.assert_allclose(dx, rx, rtol=1e-4, atol=1e-5)
    with gradkit.num_threads(1):
        y1, _ = norm.batch_norm(x, w, b)
        dx1, _, _ = norm.batch_norm_backward(dy, x, st, w)
    assert y1.tobytes() == y.tobytes() and dx1.tobytes() == dx.tobytes()


@pytest.mark.parametrize("shape", [(300, 70), (64, 8, 5)])
def test_outlier_pivot_keeps_accuracy(shape):
    # the statistics are shifted by each channel's first value; when that value is an
    # outlier the one-pass form would cancel, and the exact two passes take over
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape).astype(np.float32)
    x[0] = 3e4
    y, st = norm.batch_norm(x)
    yr, sr = ref.batch_norm(x.astype(np.float64))
    np.testing.assert_allclose(st.mean, sr.mean, rtol=1e-6)
    np.testing.assert_allclose(st.rstd, sr.rstd, rtol=1e-6)
    np.testing.assert_allclose(y, yr, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["drift", "tiny", "huge", "dead"])
def test_float32_column_one_pass_and_its_fallback(kind, rng):
    # float32 (N, C) statistics take one pass of float32 sums shifted by the mean of
    # each task's first rows; data where that shift is far from the mean (rows that
    # drift), squares near float32's subnormals or past its range go the double way,
    # and columns of zeros (dead ReLUs) stay exact
    shape = (3000, 70)
    x = rng.standard_normal(shape)
    if kind == "drift":
        x += np.arange(shape[0])[:, None] * 0.5
    elif kind == "tiny":
        x *= 1e-21
    elif kind == "huge":
        x = x * 1e20 + 3e20
    else:
        x = np.maximum(x, 0)
        x[:, ::3] = 0
    x = x.astype(np.float32)
    rml, rvl = np.zeros(70, np.longdouble), np.ones(70, np.longdouble)
    eps = 0.0 if kind == "tiny" else 1e-5   # tiny: a variance below eps still counts
    y, st = norm.batch_norm(x, None, None, np.zeros(70, np.float32),
                            np.ones(70, np.float32), momentum=1.0, eps=eps)
    yr, sr = ref.batch_norm(x.astype(np.longdouble), None, None, rml, rvl, momentum=1.0,
                            eps=eps)
    assert_close(st.mean, sr.mean.astype(np.float64), np.float32,
                 scale=float(np.abs(x.astype(np.float64)).max()))
    assert_close(st.rstd, sr.rstd.astype(np.float64), np.float32)
    assert_close(y, yr.astype(np.float64), np.float32, ulps=16)
    if kind == "dead":
        assert not st.mean[::3].any() and not y[:, ::3].any()


@pytest.mark.parametrize("shape", [(6, 5), (4, 3, 7, 5), (2100, 2048)])
def test_backward_out(shape, dtype, rng):
    """out= receives dx with the bits of a fresh dx, also when it is dy or x itself;
    (2100, 2048) float32 is past 16 MiB; a wrong out is refused before anything is
    written."""
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(shape[1]).astype(dtype)
    b = np.zeros(shape[1], dtype)
    _, st = norm.batch_norm(x, w, b)
    want = norm.batch_norm_backward(dy, x, st, w)
    out = np.full_like(x, np.nan)
    got = norm.batch_norm_backward(dy, x, st, w, out=out)
    assert got[0] is out
    assert_bitwise_equal(got, want)
    for alias in ("dy", "x"):
        a, c = dy.copy(), x.copy()
        target = a if alias == "dy" else c
        got = norm.batch_norm_backward(a, c, st, w, out=target)
        assert got[0] is target
        assert_bitwise_equal(got, want)
    bad = np.zeros(shape[::-1], dtype).T
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        norm.batch_norm_backward(dy, x, st, w, out=bad)
    assert not bad.any()


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.float16, "bfloat16"], ids=str)
@pytest.mark.parametrize("shape", [(9, 37), (3, 5, 41), (4, 3, 7)], ids=str)
def test_out_at_every_alignment(dt, shape, rng):
    """out= at each element offset within two cache lines (the output pass stores
    whole aligned vectors and writes the ends as overlapping unaligned ones, or one by
    one in place and in runs shorter than a vector): the bits of a fresh output, forward
    and backward, and nothing written outside out."""
    dt = np.dtype(gradkit.bfloat16 if dt == "bfloat16" else dt)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dt)
    dy = rng.standard_normal(shape).astype(dt)
    w = rng.standard_normal(shape[1]).astype(np.float32 if dt.itemsize == 2 else dt)
    b = rng.standard_normal(shape[1]).astype(w.dtype)
    y0, st = norm.batch_norm(x, w, b)
    dx0 = norm.batch_norm_backward(dy, x, st, w)[0]
    n = x.size
    for off in range(128 // dt.itemsize):
        buf = np.full(n + 2 * off + 64, 7, dt)
        out = buf[off:off + n].reshape(shape)
        norm.batch_norm(x, w, b, out=out)
        assert_bitwise_equal(out, y0)
        norm.batch_norm_backward(dy, x, st, w, out=out)
        assert_bitwise_equal(out, dx0)
        rest = np.concatenate([buf[:off], buf[off + n:]])
        assert_bitwise_equal(rest, np.full(rest.shape, 7, dt))


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.float16, "bfloat16"], ids=str)
@pytest.mark.parametrize("shape", [(37, 1000), (3, 4, 1030)], ids=str)
def test_out_just_past_x_or_dy_mod_4k(dt, shape, rng, alias_avoidance):
    """An output 1..2047 bytes past x or dy modulo 4 KiB is written backwards
    (gk_alias_ahead): the bits of any other placement, the run ends included."""
    dt = np.dtype(gradkit.bfloat16 if dt == "bfloat16" else dt)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dt)
    dy = placed_past(x, 2048)
    dy[...] = rng.standard_normal(shape).astype(dt)
    w = rng.standard_normal(shape[1]).astype(np.float32 if dt.itemsize == 2 else dt)
    b = rng.standard_normal(shape[1]).astype(w.dtype)
    y0, st = norm.batch_norm(x, w, b)
    dx0 = norm.batch_norm_backward(dy, x, st, w)[0]
    for like, off in [(x, 16), (x, 48), (x, 2040), (dy, 16), (dy, 64), (x, 2048 + 16)]:
        out = placed_past(like, off)
        norm.batch_norm(x, w, b, out=out)
        assert_bitwise_equal(out, y0)
        norm.batch_norm_backward(dy, x, st, w, out=out)
        assert_bitwise_equal(out, dx0)


@pytest.mark.parametrize("shape", [(2, 3), (4, 3, 5), (3, 2, 2, 2), (0, 3), (0, 3, 4),
                                   (600, 67), (2, 3, 9000)])
@pytest.mark.parametrize("affine", [True, False])
def test_fast_path_matches_checked(shape, affine, dtype):
    """The compiled common calls (ndarrays of one dtype, bool training, float momentum
    and eps) and the checked path (the same calls with training / bias a NumPy bool, x
    or dy a strided view) give the same bits, running statistics and batch count."""
    rng = np.random.default_rng(23)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    c = shape[1]
    w = rng.standard_normal(c).astype(dtype) if affine else None
    b = rng.standard_normal(c).astype(dtype) if affine else None
    runs = []
    for fast in (True, False):
        rm, rv = np.zeros(c, dtype), np.ones(c, dtype)
        nbt = np.zeros((), np.int64)
        flag = True if fast else np.True_
        got = [norm.batch_norm(x, w, b, rm, rv, training=flag, momentum=0.3, eps=1e-3,
                               num_batches_tracked=nbt)]
        got.append(norm.batch_norm(x, w, b, training=flag))
        got.append(norm.batch_norm(x, w, b, rm, rv, training=not flag, eps=1e-3))
        st = got[0][1]
        xs = x if fast else np.repeat(x, 2, axis=0)[::2]
        for bias in (True, False):
            got.append(norm.batch_norm_backward(dy, xs, st, w, bias=bias if fast
                                                else np.bool_(bias)))
        out = np.full_like(x, 7)
        assert norm.batch_norm(x, w, b, rm, rv, training=flag, out=out)[0] is out
        inplace = dy.copy()
        assert norm.batch_norm_backward(inplace, x, st, w, out=inplace)[0] is inplace
        runs.append((got, rm, rv, nbt, out, inplace))
    assert_bitwise_equal(runs[0], runs[1])
    assert int(runs[0][3]) == 1
    assert runs[0][0][3][2] is not None and runs[0][0][4][2] is None
