"""softmax_cross_entropy(weight=) and kl_div_log_probs (F.kl_div's contract): kernels
against gradkit.reference in every dtype and odd shapes, against PyTorch (values and
gradients), finite differences, threads, layouts, zero sizes, the streamed output, bad
input."""
import warnings

import numpy as np
import pytest

import gradkit
from gradkit import losses, reference as ref
from conftest import (assert_bitwise_equal, assert_close, numerical_grad, run_threads,
                      TEST_STREAM_MIN_BYTES)
from test_losses import _check_loss, _torch_ce

SHAPES = [(1, 1), (1, 7), (7, 13), (4, 16), (33, 100), (3, 1000), (2, 4099)]
REDUCTIONS = ["mean", "sum", "none"]
KL_REDUCTIONS = ["mean", "batchmean", "sum", "none"]


def _case(rng, shape, dtype, form):
    n, c = shape
    z = (rng.standard_normal(shape) * 3).astype(dtype)
    w = (rng.random(c) * 2 + 0.05).astype(dtype)
    if form == "probs":
        target = (rng.dirichlet(np.ones(c), n) if c > 1 else np.ones((n, c))).astype(dtype)
    else:
        target = rng.integers(0, c, n)
        if form == "ignore" and n > 1:
            target[::3] = -100
    return z, target, w


def _ref64(fn, *arrays, **kw):
    """The reference on the float arrays (positional, and `weight`) cast to float64."""
    f64 = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    if kw.get("weight") is not None:
        kw["weight"] = kw["weight"].astype(np.float64)
    return fn(*f64, **kw)


def _check(loss, dz, rl, rdz, dtype, reduction, scale):
    _check_loss(loss, rl, dtype, reduction)
    assert dz.dtype == dtype
    assert_close(dz, rdz, dtype, ulps=16, scale=scale)


# ---- weight= against the reference ----------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("form", ["class", "ignore", "probs"])
def test_weighted_cross_entropy_matches_reference(form, smoothing, reduction, shape, dtype,
                                                  rng):
    z, y, w = _case(rng, shape, dtype, form)
    loss, dz = losses.softmax_cross_entropy(z, y, label_smoothing=smoothing,
                                            reduction=reduction, weight=w)
    rl, rdz = _ref64(ref.softmax_cross_entropy, z, y, weight=w, label_smoothing=smoothing,
                     reduction=reduction)
    if form != "probs" and reduction == "mean" and np.all(y == -100):
        assert np.isnan(loss) and not dz.any()  # 0/0, as the unweighted loss
        return
    kept = np.ones(shape[0], bool) if form == "probs" else y != -100
    denom = (w[y[kept]].sum() if form != "probs" else shape[0]) if reduction == "mean" \
        else 1.0
    _check(loss, dz, rl, rdz, dtype, reduction, float(w.max()) / float(denom))


def test_unit_weights_equal_no_weights(dtype, rng):
    """weight=ones takes the weighted path, whose arithmetic differs; the results agree
    to round-off with the unweighted kernel."""
    z, y, _ = _case(rng, (9, 37), dtype, "ignore")
    for lab in (y, _case(rng, (9, 37), dtype, "probs")[1]):
        a = losses.softmax_cross_entropy(z, lab, label_smoothing=0.2,
                                         weight=np.ones(37, dtype))
        b = losses.softmax_cross_entropy(z, lab, label_smoothing=0.2)
        np.testing.assert_allclose(a[0], b[0], rtol=8 * np.finfo(dtype).eps)
        assert_close(a[1], b[1], dtype, ulps=8, scale=1 / 9)


def test_weighted_threads_bitwise(dtype, rng):
    z, y, w = _case(rng, (257, 77), dtype, "ignore")
    for reduction in REDUCTIONS:
        runs = run_threads(lambda: losses.softmax_cross_entropy(
            z, y, label_smoothing=0.1, reduction=reduction, weight=w), counts=(1, 2, 3, 4))
        for r in runs[1:]:
            assert_bitwise_equal(list(r), list(runs[0]))


@pytest.mark.parametrize("form", ["class", "probs"])
def test_weighted_streamed_output_matches_reference(form, rng):
    """An output past the streaming threshold goes through the non-temporal copy."""
    c = 4099
    n = TEST_STREAM_MIN_BYTES // (4 * c) + 8
    z, y, w = _case(rng, (n, c), np.dtype(np.float32), form)
    loss, dz = losses.softmax_cross_entropy(z, y, label_smoothing=0.1, weight=w)
    rl, rdz = _ref64(ref.softmax_cross_entropy, z, y, weight=w, label_smoothing=0.1)
    denom = w[y].sum() if form == "class" else n
    _check(loss, dz, rl, rdz, np.dtype(np.float32), "mean", float(w.max()) / denom)


@pytest.mark.parametrize("form", ["class", "probs"])
@pytest.mark.parametrize("cols", [1, 7, 33, 1031])
def test_weighted_streamed_rows_same_bits(form, cols, rng):
    """A streamed weighted gradient, formed on its way out (non-temporal stores), has
    the bits of the one written in place: every column count and offset of the output
    against the 32-byte vectors, an ignored row, the label in a vector or a tail."""
    for off in (0, 1, 3):
        z = (3 * rng.standard_normal(40 * cols + off)).astype(np.float32)[off:]
        z = z.reshape(40, cols)
        _, y, w = _case(rng, (40, cols), np.dtype(np.float32), form)
        if form == "class":
            y[5] = -100
        runs = []
        for threshold in (None, 1):
            previous = gradkit.set_stream_threshold(threshold)
            try:
                runs.append(losses.softmax_cross_entropy(z, y, label_smoothing=0.1,
                                                         weight=w))
            finally:
                gradkit.set_stream_threshold(previous)
        assert_bitwise_equal(list(runs[1]), list(runs[0]))


def test_weighted_zero_rows_non_contiguous_read_only(dtype, rng):
    z0 = np.zeros((0, 5), dtype)
    w = np.arange(1, 6).astype(dtype)
    loss, dz = losses.softmax_cross_entropy(z0, np.zeros(0, np.int64), weight=w)
    assert np.isnan(loss) and dz.shape == (0, 5)
    loss, dz = losses.softmax_cross_entropy(z0, np.zeros(0, np.int64), weight=w,
                                            reduction="sum")
    assert loss == 0.0
    base = (rng.standard_normal((12, 30)) * 2).astype(dtype)
    wbase = (rng.random(30) + 0.5).astype(dtype)
    z, wv = base[:, ::2], wbase[::2]  # strided logits and weights
    y = rng.integers(0, 15, 12)
    copies = base.copy(), wbase.copy()
    base.flags.writeable = wbase.flags.writeable = False
    loss, dz = losses.softmax_cross_entropy(z, y, label_smoothing=0.3, weight=wv)
    rl, rdz = _ref64(ref.softmax_cross_entropy, np.ascontiguousarray(z), y,
                     weight=np.ascontiguousarray(wv), label_smoothing=0.3)
    _check(loss, dz, rl, rdz, dtype, "mean", float(wv.max()) / float(wv[y].sum()))
    assert_bitwise_equal([base, wbase], list(copies))


@pytest.mark.parametrize("form", ["class", "probs"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_gradient_finite_differences(form, reduction, rng):
    z, y, w = _case(rng, (5, 7), np.dtype(np.float64), form if form == "probs" else "ignore")

    def f(v):
        out = losses.softmax_cross_entropy(v, y, label_smoothing=0.2, reduction=reduction,
                                           weight=w)[0]
        return float(np.sum(out))
    _, dz = losses.softmax_cross_entropy(z, y, label_smoothing=0.2, reduction=reduction,
                                         weight=w)
    np.testing.assert_allclose(dz, numerical_grad(f, z), rtol=1e-6, atol=1e-8)


# ---- weight= against torch ------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.6])
@pytest.mark.parametrize("form", ["class", "ignore", "probs"])
def test_weighted_cross_entropy_matches_torch(form, smoothing, reduction, rng):
    z, y, w = _case(rng, (37, 11), np.dtype(np.float64), form)
    w[3] = 0.0  # a class that does not count
    tl, tg = _torch_ce(z, y, weight=w, label_smoothing=smoothing, reduction=reduction)
    loss, dz = losses.softmax_cross_entropy(z, y, label_smoothing=smoothing,
                                            reduction=reduction, weight=w)
    np.testing.assert_allclose(loss, tl, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dz, tg, rtol=1e-10, atol=1e-15)


def test_weighted_cross_entropy_float32_and_other_layouts_match_torch(rng):
    pytest.importorskip("torch")
    z, y, w = _case(rng, (16, 9), np.dtype(np.float32), "ignore")
    tl, tg = _torch_ce(z, y, weight=w, label_smoothing=0.1, ignore_index=-100)
    loss, dz = losses.softmax_cross_entropy(z, y, label_smoothing=0.1, weight=w)
    np.testing.assert_allclose(loss, tl, rtol=1e-5)
    np.testing.assert_allclose(dz, tg, rtol=1e-4, atol=1e-7)
    # (N, C, d1, d2) with the classes on axis 1, and ignore_index=3
    z4 = rng.standard_normal((3, 5, 4, 2))
    y4 = rng.integers(0, 5, (3, 4, 2))
    w5 = rng.random(5) + 0.1
    for reduction in REDUCTIONS:
        tl, tg = _torch_ce(z4, y4, weight=w5, label_smoothing=0.2, ignore_index=3,
                           reduction=reduction)
        loss, dz = losses.softmax_cross_entropy(z4, y4, label_smoothing=0.2, ignore_index=3,
                                                reduction=reduction, weight=w5)
        np.testing.assert_allclose(loss, tl, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dz, tg, rtol=1e-10, atol=1e-15)


def test_weighted_bad_input(rng):
    z = rng.standard_normal((4, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    with pytest.raises(ValueError, match="weight"):
        losses.softmax_cross_entropy(z, y, weight=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="weight"):
        losses.softmax_cross_entropy(z, y, weight=np.ones((1, 3), np.float32))
    with pytest.raises(TypeError, match="weight"):
        losses.softmax_cross_entropy(z, y, weight=np.ones(3, np.float64))
    with pytest.raises(TypeError, match="weight"):
        losses.softmax_cross_entropy(z, y, weight=np.ones(3, np.int64))
    with pytest.raises(TypeError, match="weight"):
        losses.softmax_cross_entropy(z, y, weight="ones")


# ---- kl_div_log_probs ------------------------------------------------------------------

def _kl_case(rng, shape, dtype, log_target):
    x = rng.standard_normal(shape)
    if len(shape) >= 1 and shape[-1] > 0:
        x = x - np.log(np.exp(x).sum(axis=-1, keepdims=True))  # log-probabilities
    t = rng.random(shape)
    t.reshape(-1)[::3] = 0.0  # zero targets: xlogy(0, 0) = 0
    if log_target:
        t = np.log(t + 0.05)
    return x.astype(dtype), t.astype(dtype)


KL_SHAPES = [(1, 1), (7, 13), (3, 5, 33), (100003,), (2, 4099), ()]


@pytest.mark.parametrize("shape", KL_SHAPES)
@pytest.mark.parametrize("reduction", KL_REDUCTIONS)
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_log_probs_matches_reference(log_target, reduction, shape, dtype, rng):
    x, t = _kl_case(rng, shape, dtype, log_target)
    loss, dx = losses.kl_div_log_probs(x, t, reduction=reduction, log_target=log_target)
    rl, rdx = _ref64(ref.kl_div_log_probs, x, t, reduction=reduction, log_target=log_target)
    assert dx.dtype == dtype and dx.shape == shape
    if reduction == "none":
        assert loss.shape == shape and loss.dtype == dtype
        assert_close(loss, rl, dtype, ulps=4, scale=float(np.abs(rl).max()) + 1e-30)
    else:
        assert isinstance(loss, float)
        np.testing.assert_allclose(loss, rl, rtol=1e-12, atol=1e-300)
    assert_close(dx, rdx, dtype, ulps=2)


@pytest.mark.parametrize("reduction", KL_REDUCTIONS)
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 4), (7,), ()])
def test_kl_div_log_probs_matches_torch(shape, log_target, reduction, dtype, rng):
    torch = pytest.importorskip("torch")
    x, t = _kl_case(rng, shape, dtype, log_target)
    xt = torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on 'mean'
        out = torch.nn.functional.kl_div(xt, torch.tensor(t), reduction=reduction,
                                         log_target=log_target)
    out.sum().backward()
    loss, dx = losses.kl_div_log_probs(x, t, reduction=reduction, log_target=log_target)
    tol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(loss, out.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=tol, atol=0)


def test_kl_div_log_probs_edge_values_as_torch():
    """A zero target with x = -inf gives NaN (-0 * -inf, torch's formula), a zero target
    with finite x 0, a negative target NaN; empty inputs give 0/0 for the means."""
    torch = pytest.importorskip("torch")
    x = np.array([[-np.inf, -1.0, -np.inf, -2.0]])
    t = np.array([[0.0, 0.0, 0.5, -0.1]])
    xt = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.kl_div(xt, torch.tensor(t), reduction="none")
    out.sum().backward()
    loss, dx = losses.kl_div_log_probs(x, t, reduction="none")
    np.testing.assert_array_equal(loss, out.detach().numpy())
    np.testing.assert_array_equal(dx, xt.grad.numpy())
    assert np.isnan(loss[0, 0]) and loss[0, 1] == 0 and loss[0, 2] == np.inf
    for reduction in ("mean", "batchmean"):
        assert np.isnan(losses.kl_div_log_probs(np.zeros((0, 3)), np.zeros((0, 3)),
                                                reduction=reduction)[0])
    assert losses.kl_div_log_probs(np.zeros((0, 3)), np.zeros((0, 3)), reduction="sum")[0] \
        == 0.0


def test_kl_div_log_probs_gradient_finite_differences(rng):
    x, t = _kl_case(rng, (4, 6), np.dtype(np.float64), False)
    for reduction in KL_REDUCTIONS:
        for lt, tt in ((False, t), (True, np.log(t + 0.1))):
            def f(v):
                return float(np.sum(losses.kl_div_log_probs(v, tt, reduction=reduction,
                                                            log_target=lt)[0]))
            dx = losses.kl_div_log_probs(x, tt, reduction=reduction, log_target=lt)[1]
            np.testing.assert_allclose(dx, numerical_grad(f, x), rtol=1e-6, atol=1e-9)


def test_kl_div_log_probs_threads_layouts_inputs_untouched(dtype, rng):
    x, t = _kl_case(rng, (300, 1001), dtype, False)
    runs = run_threads(lambda: losses.kl_div_log_probs(x, t, reduction="batchmean"),
                       counts=(1, 2, 3, 4))
    for r in runs[1:]:
        assert_bitwise_equal(list(r), list(runs[0]))
    xs, ts = x[:, ::3], t[:, ::3]  # strided, read-only
    copies = x.copy(), t.copy()
    x.flags.writeable = t.flags.writeable = False
    loss, dx = losses.kl_div_log_probs(xs, ts, reduction="sum")
    rl, rdx = _ref64(ref.kl_div_log_probs, np.ascontiguousarray(xs),
                     np.ascontiguousarray(ts), reduction="sum")
    np.testing.assert_allclose(loss, rl, rtol=1e-6 if dtype == np.float32 else 1e-12)
    assert_close(dx, rdx, dtype, ulps=2)
    assert_bitwise_equal([x, t], list(copies))


def test_kl_div_log_probs_bad_input(rng):
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="target"):
        losses.kl_div_log_probs(x, np.zeros((3, 5), np.float32))
    with pytest.raises(TypeError, match="target"):
        losses.kl_div_log_probs(x, np.zeros((3, 4), np.float64))
    with pytest.raises(TypeError, match="input"):
        losses.kl_div_log_probs(x.astype(np.int32), x)
    with pytest.raises(ValueError, match="reduction"):
        losses.kl_div_log_probs(x, x, reduction="avg")
    with pytest.raises(TypeError, match="log_target"):
        losses.kl_div_log_probs(x, x, log_target="yes")
    with pytest.raises(ValueError, match="reduction"):  # not a cross-entropy reduction
        losses.softmax_cross_entropy(x, np.zeros(3, np.int64), reduction="batchmean")
