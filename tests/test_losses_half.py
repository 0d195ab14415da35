"""The losses with 16-bit logits (float16, bfloat16): softmax_cross_entropy (every
target form, label smoothing, weights, ignore_index, reductions, layouts), kl_div,
distillation_loss, kl_div_log_probs and mse against the reference (float64 formulas on
the widened inputs, the gradient rounded once) and bitwise against gradkit's float32
kernels on the widened inputs; losses float32, gradients in the logits' dtype; threads,
every SIMD table, bad input."""
import hashlib

import numpy as np
import pytest

import gradkit
from gradkit import losses as L
from gradkit.reference import losses as R
from _half import (BF16, F16, F32, HALVES, assert_every_simd_table_gives_the_same_bits,
                   assert_rounded_once, bits, data)

SHAPES = [(1, 1), (7, 13), (33, 1000), (4, 4099), (0, 5)]


def _labels(seed, n, c, ignore=False):
    lab = np.random.default_rng(seed).integers(0, c, n)
    if ignore and n > 2:
        lab[1] = -100
    return lab


def _probs(seed, shape, dt):
    z = np.random.default_rng(seed).random(shape) + 0.01
    return (z / z.sum(axis=-1, keepdims=True)).astype(F32).astype(dt)


def _close_loss(got, ref):
    """A float32-arithmetic loss against the float64 formula on the same inputs."""
    if isinstance(ref, float):
        assert isinstance(got, float)
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-6)
    else:
        assert got.dtype == F32 and ref.dtype == F32
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("target", ["index", "probs"])
@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.1}, {"reduction": "sum"},
                                {"reduction": "none"}, {"weight": "f32"},
                                {"weight": "x", "label_smoothing": 0.2}],
                         ids=["plain", "smooth", "sum", "none", "w32", "wx"])
def test_softmax_cross_entropy(dt, shape, target, kw):
    n, c = shape
    z = data(1, shape, dt, 3.0)
    lab = _labels(2, n, c, ignore=True) if target == "index" else _probs(3, shape, dt)
    kw = dict(kw)
    if "weight" in kw:
        kw["weight"] = (np.random.default_rng(4).random(c) + 0.5).astype(
            F32 if kw["weight"] == "f32" else dt)
    loss, dz = gradkit.softmax_cross_entropy(z, lab, **kw)
    lr, dzr = R.softmax_cross_entropy(z, lab, **kw)
    assert dz.dtype == dt and dz.shape == z.shape
    _close_loss(loss, lr)
    assert_rounded_once(dz, dzr)
    # bitwise: the float32 kernel on the widened inputs, the gradient rounded once
    kw32 = dict(kw)
    if "weight" in kw32:
        kw32["weight"] = kw["weight"].astype(F32)
    lab32 = lab if target == "index" else lab.astype(F32)
    l32, d32 = gradkit.softmax_cross_entropy(z.astype(F32), lab32, **kw32)
    assert bits(dz) == bits(d32.astype(dt)) and bits(np.asarray(loss)) == bits(np.asarray(l32))


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_cross_entropy_layouts_and_streamed_gradient(dt):
    z = data(5, (3, 7, 5, 2), dt)                  # (N, C, d1, d2): classes on axis 1
    lab = _labels(6, 30, 7).reshape(3, 5, 2)
    loss, dz = gradkit.softmax_cross_entropy(z, lab, reduction="none")
    l32, d32 = gradkit.softmax_cross_entropy(z.astype(F32), lab, reduction="none")
    assert loss.dtype == F32 and bits(loss) == bits(l32) and bits(dz) == bits(d32.astype(dt))
    one, d1 = gradkit.softmax_cross_entropy(z[0, :, 0, 0], 3)          # (C,) unbatched
    assert d1.dtype == dt and d1.shape == (7,)
    zs = z[:, :, 0, 0].T                                              # non-contiguous
    assert bits(gradkit.softmax_cross_entropy(zs, _labels(7, 7, 3))[1]) == bits(
        gradkit.softmax_cross_entropy(np.ascontiguousarray(zs), _labels(7, 7, 3))[1])
    # a gradient past the streaming threshold (16 MiB): streamed rounded rows
    big = data(8, (2100, 4099), dt)
    lb = _labels(9, 2100, 4099)
    lg, dg = gradkit.softmax_cross_entropy(big, lb)
    lg32, dg32 = gradkit.softmax_cross_entropy(big.astype(F32), lb)
    assert lg == lg32 and bits(dg) == bits(dg32.astype(dt))
    pb = _probs(10, big.shape, dt)                   # target probabilities, streamed
    lg, dg = gradkit.softmax_cross_entropy(big, pb, label_smoothing=0.1)
    lg32, dg32 = gradkit.softmax_cross_entropy(big.astype(F32), pb.astype(F32),
                                               label_smoothing=0.1)
    assert lg == lg32 and bits(dg) == bits(dg32.astype(dt))


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", [(5, 9), (16, 1031), (0, 3)], ids=str)
def test_kl_and_distillation(dt, shape):
    s, t = data(10, shape, dt, 2.0), data(11, shape, dt, 2.0)
    lab = _labels(12, shape[0], shape[1])
    loss, ds = gradkit.kl_div(s, t, temperature=2.0)
    lr, dsr = R.kl_div(s, t, temperature=2.0)
    assert ds.dtype == dt
    if shape[0]:
        np.testing.assert_allclose(loss, lr, rtol=1e-4, atol=1e-6)
    assert_rounded_once(ds, dsr)
    l32, d32 = gradkit.kl_div(s.astype(F32), t.astype(F32), temperature=2.0)
    assert bits(ds) == bits(d32.astype(dt)) and (loss == l32 or np.isnan(loss))
    for labels in (lab, _probs(13, shape, dt)):
        dl, dd = gradkit.distillation_loss(s, t, labels)
        dlr, ddr = R.distillation_loss(s, t, labels)
        assert dd.dtype == dt
        if shape[0]:
            np.testing.assert_allclose(dl, dlr, rtol=1e-4)
        assert_rounded_once(dd, ddr)
        lab32 = labels if labels.dtype.kind == "i" else labels.astype(F32)
        d32 = gradkit.distillation_loss(s.astype(F32), t.astype(F32), lab32)[1]
        assert bits(dd) == bits(d32.astype(dt))


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
def test_kl_div_log_probs_and_mse(dt, reduction):
    x = np.log(_probs(14, (6, 33), dt).astype(F32)).astype(dt)
    t = _probs(15, (6, 33), dt)
    loss, dx = L.kl_div_log_probs(x, t, reduction=reduction)
    lr, dxr = R.kl_div_log_probs(x, t, reduction=reduction)
    assert dx.dtype == dt
    _close_loss(loss, lr)
    assert_rounded_once(dx, dxr)
    if reduction == "batchmean":
        return
    p, y = data(16, (5, 1001), dt), data(17, (5, 1001), dt)
    loss, dp = gradkit.mse(p, y, reduction=reduction)
    lr, dpr = R.mse(p, y, reduction=reduction)
    assert dp.dtype == dt
    _close_loss(loss, lr)
    assert_rounded_once(dp, dpr)
    l32, d32 = gradkit.mse(p.astype(F32), y.astype(F32), reduction=reduction)
    assert bits(dp) == bits(d32.astype(dt)) and bits(np.asarray(loss)) == bits(np.asarray(l32))


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_gradient_against_float64_finite_differences(dt):
    z = data(18, (4, 11), dt, 2.0)
    lab = _labels(19, 4, 11)
    _, dz = gradkit.softmax_cross_entropy(z, lab, label_smoothing=0.1)
    z64 = z.astype(np.float64)
    g = np.empty_like(z64)
    for i in np.ndindex(z.shape):
        zp, zm = z64.copy(), z64.copy()
        zp[i] += 1e-6
        zm[i] -= 1e-6
        g[i] = (R.softmax_cross_entropy(zp, lab, label_smoothing=0.1)[0]
                - R.softmax_cross_entropy(zm, lab, label_smoothing=0.1)[0]) / 2e-6
    tol = {F16: 2e-3, BF16: 1e-2}[dt]   # dz's own rounding (2^-11, 2^-8 relative)
    assert np.abs(dz.astype(np.float64) - g).max() <= tol * np.abs(g).max()


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_threads_bitwise_equal(dt):
    z = data(20, (300, 1031), dt, 2.0)
    lab = _labels(21, 300, 1031)
    runs = []
    for n in (1, 2, 3, 4):
        with gradkit.num_threads(n):
            l1, d1 = gradkit.softmax_cross_entropy(z, lab, label_smoothing=0.1)
            l2, d2 = gradkit.softmax_cross_entropy(z, _probs(22, z.shape, dt),
                                                   reduction="none")
        runs.append(b"".join(bits(np.asarray(a)) for a in (l1, d1, l2, d2)))
    assert all(r == runs[0] for r in runs)


def _digest():
    """A hash of 16-bit cross-entropy results (run under each GRADKIT_SIMD)."""
    h = hashlib.sha256()
    for dt in HALVES:
        for shape in [(33, 257), (3, 4099), (5, 19), (128, 1024)]:
            z = data(23, shape, dt, 3.0)
            lab = _labels(24, shape[0], shape[1])
            for kw in ({}, {"label_smoothing": 0.1, "reduction": "none"}):
                loss, dz = gradkit.softmax_cross_entropy(z, lab, **kw)
                h.update(bits(np.asarray(loss)) + bits(dz))
    return h.hexdigest()


def test_every_simd_table_gives_the_same_bits():
    assert_every_simd_table_gives_the_same_bits("test_losses_half")


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_bad_input_names_the_argument(dt):
    other = BF16 if dt == F16 else F16
    z = data(25, (4, 8), dt)
    with pytest.raises(TypeError, match="labels"):
        gradkit.softmax_cross_entropy(z, _probs(26, (4, 8), other))
    with pytest.raises(TypeError, match="labels"):
        gradkit.softmax_cross_entropy(z, _probs(26, (4, 8), F32))
    with pytest.raises(TypeError, match="weight"):
        gradkit.softmax_cross_entropy(z, _labels(27, 4, 8), weight=np.ones(8, other))
    with pytest.raises(TypeError, match="weight"):
        gradkit.softmax_cross_entropy(z, _labels(27, 4, 8), weight=np.ones(8))
    with pytest.raises(TypeError, match="teacher_logits"):
        gradkit.kl_div(z, z.astype(F32))
    with pytest.raises(TypeError, match="teacher_logits"):
        gradkit.distillation_loss(z, z.astype(other), _labels(27, 4, 8))
    with pytest.raises(TypeError, match="target"):
        gradkit.mse(z, z.astype(F32))
    with pytest.raises(TypeError, match="target"):
        L.kl_div_log_probs(z, z.astype(other))
    with pytest.raises(ValueError, match="labels"):
        gradkit.softmax_cross_entropy(z, np.array([0, 1, 2, 8]))
    # float32 logits do not take 16-bit weights
    with pytest.raises(TypeError, match="weight"):
        gradkit.softmax_cross_entropy(z.astype(F32), _labels(27, 4, 8), weight=np.ones(8, dt))
