"""Losses: kernels against gradkit.reference, gradients against finite differences
(check_grad and an independent loop), PyTorch cross-checks, threads, hard data, bad
input."""
import numpy as np
import pytest

import gradkit
from gradkit import losses, reference as ref
from gradkit.gradcheck import check_grad
from conftest import (assert_bitwise_equal, assert_close, numerical_grad, run_threads)
from _half import HALVES

SHAPES = [(1, 1), (1, 7), (7, 13), (4, 16), (33, 100), (3, 1000), (2, 4099)]
REDUCTIONS = ["mean", "sum", "none"]


def _data(rng, shape, dtype, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _labels(rng, n, c, ignore=False):
    y = rng.integers(0, c, n)
    if ignore and n > 1:
        y[::3] = -100
    return y


def _probs(rng, n, c, dtype):
    return rng.dirichlet(np.ones(c), n).astype(dtype) if c > 1 else np.ones((n, c), dtype)


def _check_loss(loss, want, dtype, reduction):
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == dtype
        assert_close(loss, want, dtype, ulps=16, scale=float(np.abs(want).max()) + 1)
    else:
        assert isinstance(loss, float)
        np.testing.assert_allclose(loss, want, rtol=16 * np.finfo(dtype).eps,
                                   atol=16 * np.finfo(dtype).eps)


# ---- against the reference -----------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
def test_cross_entropy_class_indices_match_reference(shape, reduction, smoothing, dtype, rng):
    z = _data(rng, shape, dtype)
    y = _labels(rng, shape[0], shape[1], ignore=True)
    loss, dz = losses.softmax_cross_entropy(z, y, label_smoothing=smoothing,
                                            reduction=reduction)
    rl, rdz = ref.softmax_cross_entropy(z.astype(np.float64), y, label_smoothing=smoothing,
                                        reduction=reduction)
    assert dz.dtype == dtype and dz.shape == shape
    if reduction == "mean" and np.all(y == -100):
        assert np.isnan(loss)
        return
    _check_loss(loss, rl, dtype, reduction)
    # the gradient is a difference of terms of size 1 (times 1/count for 'mean')
    assert_close(dz, rdz, dtype, ulps=8, scale=_term_scale(y != -100, reduction))


def _term_scale(kept, reduction):
    return 1.0 / max(int(np.sum(kept)), 1) if reduction == "mean" else 1.0


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_probabilities_match_reference(shape, reduction, smoothing, dtype, rng):
    z = _data(rng, shape, dtype)
    p = _probs(rng, shape[0], shape[1], dtype)
    loss, dz = losses.softmax_cross_entropy(z, p, label_smoothing=smoothing,
                                            reduction=reduction)
    rl, rdz = ref.softmax_cross_entropy(z.astype(np.float64), p.astype(np.float64),
                                        label_smoothing=smoothing, reduction=reduction)
    _check_loss(loss, rl, dtype, reduction)
    assert_close(dz, rdz, dtype, ulps=8, scale=_term_scale(np.ones(shape[0]), reduction))


def test_cross_entropy_unnormalized_soft_targets(rng):
    # targets that do not sum to 1: gradient p * sum(t) - t, as autograd gives
    z = rng.standard_normal((5, 6))
    t = rng.random((5, 6)) * 2
    loss, dz = losses.softmax_cross_entropy(z, t, label_smoothing=0.1)
    rl, rdz = ref.softmax_cross_entropy(z, t, label_smoothing=0.1)
    np.testing.assert_allclose(loss, rl, rtol=1e-14)
    np.testing.assert_allclose(dz, rdz, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (3, 1000)])
def test_kl_div_and_distillation_match_reference(shape, dtype, rng):
    s, t = _data(rng, shape, dtype), _data(rng, shape, dtype)
    y = _labels(rng, shape[0], shape[1])
    for temp in (1.0, 2.0, 0.5):
        loss, ds = losses.kl_div(s, t, temperature=temp)
        rl, rds = ref.kl_div(s.astype(np.float64), t.astype(np.float64), temperature=temp)
        assert isinstance(loss, float) and ds.dtype == dtype
        np.testing.assert_allclose(loss, rl, rtol=32 * np.finfo(dtype).eps,
                                   atol=32 * np.finfo(dtype).eps)
        assert_close(ds, rds, dtype, ulps=8, scale=float(np.abs(rds).max()) + 1e-30)
        loss, ds = losses.distillation_loss(s, t, y, temperature=temp, alpha=0.3)
        rl, rds = ref.distillation_loss(s.astype(np.float64), t.astype(np.float64), y,
                                        temperature=temp, alpha=0.3)
        np.testing.assert_allclose(loss, rl, rtol=32 * np.finfo(dtype).eps,
                                   atol=32 * np.finfo(dtype).eps)
        assert_close(ds, rds, dtype, ulps=16, scale=float(np.abs(rds).max()))


@pytest.mark.parametrize("shape", [(1,), (7, 13), (3, 5, 33), (100003,)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_matches_reference(shape, reduction, dtype, rng):
    p, t = _data(rng, shape, dtype), _data(rng, shape, dtype)
    loss, dp = losses.mse(p, t, reduction=reduction)
    rl, rdp = ref.mse(p.astype(np.float64), t.astype(np.float64), reduction=reduction)
    if reduction == "none":
        assert loss.shape == shape and loss.dtype == dtype
        assert_close(loss, rl, dtype, ulps=4)
    else:
        np.testing.assert_allclose(loss, rl, rtol=1e-12)
    assert_close(dp, rdp, dtype, ulps=2)


# ---- gradients against finite differences --------------------------------------------

GRAD_CASES = [
    ("class", 0.0, "mean"), ("class", 0.2, "mean"), ("class", 0.2, "sum"),
    ("class", 0.1, "none"), ("ignore", 0.1, "mean"), ("probs", 0.0, "mean"),
    ("probs", 0.3, "sum"), ("probs", 0.1, "none"),
]


@pytest.mark.parametrize("kind,smoothing,reduction", GRAD_CASES)
def test_cross_entropy_gradient_finite_differences(kind, smoothing, reduction, rng):
    z = rng.standard_normal((6, 9)) * 2
    y = (_probs(rng, 6, 9, np.float64) if kind == "probs"
         else _labels(rng, 6, 9, ignore=kind == "ignore"))

    def loss(v):
        out, _ = losses.softmax_cross_entropy(v, y, label_smoothing=smoothing,
                                              reduction=reduction)
        return float(np.sum(out))

    _, dz = losses.softmax_cross_entropy(z, y, label_smoothing=smoothing, reduction=reduction)
    res = check_grad(loss, z, dz)
    assert res.ok, str(res)
    np.testing.assert_allclose(dz, numerical_grad(loss, z), rtol=1e-6, atol=1e-8)
    # the (loss, grad) form of f
    res = check_grad(lambda v: (loss(v), losses.softmax_cross_entropy(
        v, y, label_smoothing=smoothing, reduction=reduction)[1]), z)
    assert res.ok and res.n_evaluations == 2 * z.size + 1


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_kl_distillation_mse_gradients_finite_differences(temperature, rng):
    s, t = rng.standard_normal((5, 8)), rng.standard_normal((5, 8)) * 2
    y = _labels(rng, 5, 8)
    kl = lambda v: losses.kl_div(v, t, temperature=temperature)[0]
    d = lambda v: losses.distillation_loss(v, t, y, temperature=temperature, alpha=0.6)[0]
    m = lambda v: losses.mse(v, t)[0]
    for f, grad in ((kl, losses.kl_div(s, t, temperature=temperature)[1]),
                    (d, losses.distillation_loss(s, t, y, temperature=temperature,
                                                 alpha=0.6)[1]),
                    (m, losses.mse(s, t)[1])):
        assert check_grad(f, s, grad).ok
        np.testing.assert_allclose(grad, numerical_grad(f, s), rtol=1e-6, atol=1e-9)
        assert check_grad(f, s, grad, fast=True, rng=1).ok


# ---- PyTorch ---------------------------------------------------------------------------

def _torch_ce(z, target, **kw):
    """F.cross_entropy(z, target, **kw) and its gradient (arrays in kw as tensors)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    zt = torch.tensor(z, requires_grad=True)
    tt = torch.tensor(target)
    kw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    out = F.cross_entropy(zt, tt, **kw)
    out.sum().backward()
    return out.detach().numpy(), zt.grad.numpy()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.6])
@pytest.mark.parametrize("form", ["class", "ignore", "probs"])
def test_cross_entropy_matches_torch(form, smoothing, reduction, rng):
    z = rng.standard_normal((37, 11)) * 2
    if form == "probs":
        y = _probs(rng, 37, 11, np.float64)
    else:
        y = _labels(rng, 37, 11, ignore=form == "ignore")
    tl, tg = _torch_ce(z, y, label_smoothing=smoothing, reduction=reduction)
    loss, dz = losses.softmax_cross_entropy(z, y, label_smoothing=smoothing,
                                            reduction=reduction)
    np.testing.assert_allclose(loss, tl, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dz, tg, rtol=1e-10, atol=1e-15)


def test_cross_entropy_ignore_index_matches_torch(rng):
    z = rng.standard_normal((10, 5))
    y = np.array([0, 3, 3, 1, 4, 2, 3, 0, 3, 1])
    tl, tg = _torch_ce(z, y, ignore_index=3, label_smoothing=0.2)
    loss, dz = losses.softmax_cross_entropy(z, y, ignore_index=3, label_smoothing=0.2)
    np.testing.assert_allclose(loss, tl, rtol=1e-12)
    np.testing.assert_allclose(dz, tg, rtol=1e-10, atol=1e-15)
    # every row ignored: the mean is 0/0 as in PyTorch
    loss, dz = losses.softmax_cross_entropy(z, np.full(10, -100))
    assert np.isnan(loss) and not dz.any()


def test_kl_div_matches_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    s, t = rng.standard_normal((12, 7)) * 3, rng.standard_normal((12, 7)) * 3
    t[0, 0] = 200.0  # a teacher row with probabilities that underflow to 0
    for temp in (1.0, 4.0):
        st = torch.tensor(s, requires_grad=True)
        out = F.kl_div(F.log_softmax(st / temp, 1), F.softmax(torch.tensor(t) / temp, 1),
                       reduction="batchmean")
        out.backward()
        loss, ds = losses.kl_div(s, t, temperature=temp)
        np.testing.assert_allclose(loss, out.item(), rtol=1e-12)
        np.testing.assert_allclose(ds, st.grad.numpy(), rtol=1e-10, atol=1e-16)


def test_mse_matches_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    p, t = rng.standard_normal((6, 7)), rng.standard_normal((6, 7))
    for reduction in REDUCTIONS:
        pt = torch.tensor(p, requires_grad=True)
        out = F.mse_loss(pt, torch.tensor(t), reduction=reduction)
        out.sum().backward()
        loss, dp = losses.mse(p, t, reduction=reduction)
        np.testing.assert_allclose(loss, out.detach().numpy(), rtol=1e-13)
        np.testing.assert_allclose(dp, pt.grad.numpy(), rtol=1e-13)


# ---- threads, hard data, dtypes of labels, zero size -----------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_threads_bitwise_identical(reduction, dtype, rng):
    z = _data(rng, (700, 300), dtype)
    y = _labels(rng, 700, 300, ignore=True)
    p = _probs(rng, 700, 300, dtype)
    t = _data(rng, (700, 300), dtype)

    def run():
        return (losses.softmax_cross_entropy(z, y, label_smoothing=0.1, reduction=reduction)
                + losses.softmax_cross_entropy(z, p, reduction=reduction)
                + losses.kl_div(z, t, temperature=2.0)
                + losses.mse(z, t, reduction=reduction))

    one, two = run_threads(run)
    assert_bitwise_equal(one, two)


def test_huge_logits_are_stable(dtype, rng):
    z = (rng.standard_normal((16, 50)) * 3 + 1e4).astype(dtype)
    z[0] = 0
    z[0, 3] = 1e4
    y = _labels(rng, 16, 50)
    loss, dz = losses.softmax_cross_entropy(z, y, label_smoothing=0.1, reduction="none")
    rl, rdz = ref.softmax_cross_entropy(z.astype(np.float64), y, label_smoothing=0.1,
                                        reduction="none")
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(dz))
    assert_close(loss, rl, dtype, ulps=16, scale=float(np.abs(rl).max()))
    assert_close(dz, rdz, dtype, ulps=8, scale=1.0)
    loss, ds = losses.kl_div(z, z[::-1].copy(), temperature=2.0)
    assert np.isfinite(loss) and np.all(np.isfinite(ds))


@pytest.mark.parametrize("label_dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64,
                                         np.uint64])
def test_any_integer_label_dtype(label_dtype, rng):
    z = rng.standard_normal((5, 4))
    y = np.array([0, 3, 1, 2, 1], label_dtype)
    a = losses.softmax_cross_entropy(z, y)
    b = losses.softmax_cross_entropy(z, y.astype(np.int64))
    assert a[0] == b[0]
    assert_bitwise_equal(a[1], b[1])


def test_zero_rows(dtype):
    z = np.zeros((0, 5), dtype)
    loss, dz = losses.softmax_cross_entropy(z, np.zeros(0, np.int64))
    assert np.isnan(loss) and dz.shape == (0, 5)
    loss, dz = losses.softmax_cross_entropy(z, np.zeros(0, np.int64), reduction="sum")
    assert loss == 0.0
    loss, dz = losses.softmax_cross_entropy(z, z, reduction="none")
    assert loss.shape == (0,)
    loss, dp = losses.mse(np.zeros(0, dtype), np.zeros(0, dtype), reduction="sum")
    assert loss == 0.0 and dp.shape == (0,)


def test_non_contiguous_inputs_and_not_modified(dtype, rng):
    base = _data(rng, (20, 30), dtype)
    z = base[:, ::2]
    y = _labels(rng, 20, 15)
    copy = base.copy()
    loss, dz = losses.softmax_cross_entropy(z, y, label_smoothing=0.1)
    rl, rdz = ref.softmax_cross_entropy(np.ascontiguousarray(z).astype(np.float64), y,
                                        label_smoothing=0.1)
    np.testing.assert_allclose(loss, rl, rtol=32 * np.finfo(dtype).eps)
    assert_close(dz, rdz, dtype, ulps=8, scale=1 / 20)
    assert_bitwise_equal(base, copy)
    t = base.T.copy()
    losses.kl_div(base, base[::-1])
    losses.mse(base.T, t)
    assert_bitwise_equal(base, copy)


def test_reexported_at_top_level():
    assert gradkit.softmax_cross_entropy is losses.softmax_cross_entropy
    assert gradkit.mse is losses.mse


# ---- bad input -------------------------------------------------------------------------

def test_bad_input(rng):
    z = rng.standard_normal((4, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    with pytest.raises(ValueError, match="labels"):
        losses.softmax_cross_entropy(z, np.array([0, 1, 3, 1]))
    with pytest.raises(ValueError, match="labels"):
        losses.softmax_cross_entropy(z, np.array([0, -1, 2, 1]))
    with pytest.raises(ValueError, match="labels"):
        losses.softmax_cross_entropy(z, y[:3])
    with pytest.raises(TypeError, match="labels"):
        losses.softmax_cross_entropy(z, np.ones((4, 3), np.float64))
    with pytest.raises(ValueError, match="labels"):
        losses.softmax_cross_entropy(z, np.ones((4, 2), np.float32))
    with pytest.raises(TypeError, match="labels"):
        losses.softmax_cross_entropy(z, np.array(["a"] * 4))
    with pytest.raises(TypeError, match="logits"):
        losses.softmax_cross_entropy(z.astype(np.int32), y)
    with pytest.raises(ValueError, match="logits"):
        losses.softmax_cross_entropy(z[0], y)
    with pytest.raises(ValueError, match="logits"):
        losses.softmax_cross_entropy(np.zeros((4, 0), np.float32), y)
    with pytest.raises(ValueError, match="reduction"):
        losses.softmax_cross_entropy(z, y, reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.softmax_cross_entropy(z, y, label_smoothing=1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.softmax_cross_entropy(z, y, label_smoothing=-0.1)
    with pytest.raises(TypeError, match="ignore_index"):
        losses.softmax_cross_entropy(z, y, ignore_index=1.0)
    with pytest.raises(ValueError, match="temperature"):
        losses.kl_div(z, z, temperature=0.0)
    with pytest.raises(TypeError, match="teacher_logits"):
        losses.kl_div(z, z.astype(np.float64))
    with pytest.raises(ValueError, match="teacher_logits"):
        losses.kl_div(z, z[:2])
    with pytest.raises(ValueError, match="alpha"):
        losses.distillation_loss(z, z, y, alpha=1.5)
    with pytest.raises(ValueError, match="target"):
        losses.mse(z, z[:2])
    with pytest.raises(ValueError, match="reduction"):
        losses.mse(z, z, reduction=None)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("form", ["class", "probs"])
def test_cross_entropy_other_layouts_match_torch(form, reduction, rng):
    """(C,) unbatched and (N, C, d1, d2) with the classes on axis 1, as PyTorch takes."""
    for shape in [(6,), (3, 6, 4, 5), (2, 6, 7)]:
        z = rng.standard_normal(shape)
        if form == "probs":
            y = rng.dirichlet(np.ones(6), int(np.prod(shape)) // 6)
            y = np.moveaxis(y.reshape((shape[0],) + shape[2:] + (6,)) if len(shape) > 1
                            else y.reshape(6), -1, min(1, len(shape) - 1))
        else:
            y = rng.integers(0, 6, () if len(shape) == 1 else (shape[0],) + shape[2:])
            if len(shape) > 1:
                y.reshape(-1)[::4] = -100
        y = np.ascontiguousarray(y)
        if len(shape) == 1 and form == "class":
            continue  # torch 2.13 fails on one sample with a class index; checked below
        tl, tg = _torch_ce(z, y, label_smoothing=0.2, reduction=reduction)
        loss, dz = losses.softmax_cross_entropy(z, y, label_smoothing=0.2, reduction=reduction)
        assert dz.shape == shape and dz.flags.c_contiguous
        if reduction == "none":
            assert loss.shape == tl.shape
        np.testing.assert_allclose(loss, tl, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dz, tg, rtol=1e-10, atol=1e-15)
    # one sample with smoothing: the same as a batch of one
    z = rng.standard_normal(6)
    a = losses.softmax_cross_entropy(z, 4, label_smoothing=0.3, reduction=reduction)
    b = losses.softmax_cross_entropy(z[None], [4], label_smoothing=0.3, reduction=reduction)
    assert np.array_equal(a[0], np.asarray(b[0]).reshape(np.shape(a[0])))
    assert np.array_equal(a[1], b[1][0]) and a[1].shape == (6,)
    with pytest.raises(ValueError, match="labels"):
        losses.softmax_cross_entropy(np.zeros((2, 3, 4)), np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="logits"):
        losses.softmax_cross_entropy(np.float64(1.0), 0)


# ---- kl_div accuracy (issue 10): no difference of large terms --------------------------

def _kl_exact(s, t, T=1.0):
    """KL(softmax(t/T) || softmax(s/T)), batch mean, in 80-digit decimal arithmetic
    (the inputs' float values converted exactly)."""
    import decimal
    with decimal.localcontext() as ctx:
        ctx.prec = 80
        D, tot = decimal.Decimal, decimal.Decimal(0)

        def lse(v):
            m = max(v)
            return m + sum((x - m).exp() for x in v).ln()
        for sr, tr in zip(s, t):
            sv = [D(float(v)) / D(T) for v in sr]
            tv = [D(float(v)) / D(T) for v in tr]
            ls, lt = lse(sv), lse(tv)
            tot += sum((b - lt).exp() * ((b - lt) - (a - ls)) for a, b in zip(sv, tv))
        return float(tot / len(s))


def test_kl_div_huge_logits_float32():
    # teacher one-hot on class 0: KL = -log q_0 = log(1 + e^7), exactly
    s = np.array([[0.0, 7.0]], np.float32)
    t = np.array([[1e14, 0.0]], np.float32)
    loss, _ = losses.kl_div(s, t)
    assert abs(loss - np.log1p(np.exp(7.0))) <= 1e-6 * 7
    # near-identical rows of logits ~1e14 at T = 1e13: KL ~1e-14 from terms ~10 (the old
    # difference-of-terms form returned ~4e-8 here)
    rng = np.random.default_rng(6)
    s = (rng.standard_normal((4, 6)) * 1e14).astype(np.float32)
    t = (s * np.float32(1 + 3e-7)).astype(np.float32)
    want = _kl_exact(s, t, 1e13)
    assert 0 < want < 1e-10
    assert abs(losses.kl_div(s, t, temperature=1e13)[0] - want) <= 1e-5 * want


def test_kl_div_tiny_divergence_float64():
    # two classes, teacher logits 0 and d: KL = d^2/8 + O(d^4); 2e-68 for d = 4e-34
    d = 4e-34
    loss, _ = losses.kl_div(np.zeros((1, 2)), np.array([[0.0, d]]))
    assert abs(loss - d * d / 8) <= 1e-14 * d * d / 8
    rng = np.random.default_rng(7)
    s = rng.standard_normal((5, 11))
    t = s + 1e-9 * rng.standard_normal((5, 11))
    for T in (1.0, 3.0):
        want = _kl_exact(s, t, T)
        assert abs(losses.kl_div(s, t, temperature=T)[0] - want) <= 1e-9 * want


def test_kl_div_and_distillation_float32_against_exact(rng):
    s = rng.standard_normal((8, 10)).astype(np.float32) * 4
    t = rng.standard_normal((8, 10)).astype(np.float32) * 4
    for T in (1.0, 2.5):
        want = _kl_exact(s, t, T)
        assert abs(losses.kl_div(s, t, temperature=T)[0] - want) <= 1e-6 * want
    y = np.arange(8) % 10
    ce = losses.softmax_cross_entropy(s.astype(np.float64), y)[0]
    loss, _ = losses.distillation_loss(s, t, y, temperature=2.0, alpha=0.7)
    want = 0.7 * 4.0 * _kl_exact(s, t, 2.0) + 0.3 * ce
    assert abs(loss - want) <= 1e-6 * want
    big_s, big_t = s * np.float32(1e13), t * np.float32(1e13)
    loss, _ = losses.distillation_loss(big_s, big_t, y, temperature=1e13, alpha=1.0)
    want = 1e26 * _kl_exact(big_s, big_t, 1e13)  # alpha T^2 KL
    assert abs(loss - want) <= 1e-5 * want


def test_kl_div_masked_teacher_logits():
    """A teacher logit of -inf (a masked class) has p = 0 and adds nothing, as torch's
    xlogy; a student logit of -inf where the teacher has mass gives inf."""
    s, t = np.array([[0.0, 1.0, 2.0]]), np.array([[0.0, -np.inf, 1.0]])
    p = np.exp(t[0, [0, 2]] - np.logaddexp(0.0, 1.0))
    ls = s[0] - np.log(np.exp(s[0]).sum())
    want = float(np.sum(p * (np.log(p) - ls[[0, 2]])))
    assert abs(losses.kl_div(s, t)[0] - want) <= 1e-14 * want
    assert losses.kl_div(np.array([[0.0, -np.inf]]), np.array([[0.0, 1.0]]))[0] == np.inf


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64)]
                         + [np.dtype(h) for h in HALVES],
                         ids=["f32", "f64"] + [str(h) for h in HALVES])
@pytest.mark.parametrize("shape", [(1, 1), (0, 3), (5, 7), (33, 1000)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_fast_path_matches_checked(dtype, shape, reduction, weighted):
    """The compiled common call (2-D logits, int64 labels, plain arguments; 16-bit
    logits with a float32 weight) and the checked path (int32 labels, which it
    converts) give the same bits; a label out of range goes to the checked path, which
    names it."""
    rng = np.random.default_rng(29)
    z = rng.standard_normal(shape).astype(dtype)
    n, c = shape
    lab = rng.integers(0, c, n).astype(np.int64)
    if n > 2:
        lab[1] = -100
    half = dtype.itemsize == 2
    w = rng.random(c).astype(np.float32 if half else dtype) if weighted else None
    assert losses._k.softmax_cross_entropy_fast(z, lab, 0.0, reduction, -100, w) is not None \
        or (n and not c)
    for smooth in (0.0, 0.1):
        kw = dict(label_smoothing=smooth, reduction=reduction, weight=w)
        got = losses.softmax_cross_entropy(z, lab, **kw)
        want = losses.softmax_cross_entropy(z, lab.astype(np.int32), **kw)
        assert_bitwise_equal(got[1], want[1])
        assert_bitwise_equal(np.asarray(got[0]), np.asarray(want[0]))
        assert type(got[0]) is type(want[0])
    if n:
        bad = lab.copy()
        bad[0] = c
        with pytest.raises(ValueError, match=rf"labels must be class indices in \[0, {c}\)"):
            losses.softmax_cross_entropy(z, bad, reduction=reduction, weight=w)
