"""Clipping by global norm fused into the optimizer step: ``opt.step(grads, max_norm=...)``
equals ``clip_grad_norm_(grads, max_norm)`` followed by ``opt.step(grads)`` bit for bit
(parameters and states), returns the same total norm, leaves the gradients unchanged,
matches the NumPy twin (reference clip + reference step), is the same for every thread
count, and rejects bad arguments before anything is written."""
import copy
import math

import numpy as np
import pytest

from gradkit import amp, clip, optim
from gradkit.reference import optim as ref
from conftest import assert_bitwise_equal, run_threads
from test_optim import ALL, IDS, _close

SHAPES = [(7, 13), (33,), (0,), (2, 3, 5), (1000,)]
NORM_TYPES = [2.0, 1.0, math.inf, 3.0]


def _setup(name, kw, dtype, seed=0, shapes=SHAPES, scale=1.0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    seq = [[(scale * rng.standard_normal(s)).astype(dtype) for s in shapes]
           for _ in range(3)]
    seq[1][1] = None  # a parameter without gradient on one step
    return params, seq


def _unfused(name, kw, params, seq, max_norm, norm_type=2.0, module=optim):
    opt = getattr(module, name)(params, **kw)
    totals = []
    for grads in seq:
        g = [None if x is None else x.copy() for x in grads]
        totals.append(clip.clip_grad_norm_(g, max_norm, norm_type))
        opt.step(g)
    return opt, totals


def _fused(name, kw, params, seq, max_norm, norm_type=2.0, module=optim):
    opt = getattr(module, name)(params, **kw)
    totals = [opt.step(grads, max_norm=max_norm, norm_type=norm_type) for grads in seq]
    return opt, totals


def _state(opt):
    return [opt.state_dict()["state"][k] for k in sorted(opt.state_dict()["state"])]


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_equals_clip_then_step_bitwise(name, kw, dtype):
    """Clipping active on every step (max_norm well under the norm): the fused step
    gives the parameters and states of clip_grad_norm_ then step, to the bit."""
    p0, seq = _setup(name, kw, dtype)
    a, b = [p.copy() for p in p0], [p.copy() for p in p0]
    oa, ta = _unfused(name, kw, a, seq, max_norm=0.5)
    ob, tb = _fused(name, kw, b, seq, max_norm=0.5)
    assert all(t > 0.5 for t in ta)  # the clip did scale
    assert ta == tb
    assert_bitwise_equal(a, b)
    sa, sb = _state(oa), _state(ob)
    for x, y in zip(sa, sb):
        assert x.keys() == y.keys()
        for k in x:
            assert_bitwise_equal(x[k], y[k])


@pytest.mark.parametrize("norm_type", NORM_TYPES)
@pytest.mark.parametrize("name,kw", [("Adam", {}), ("SGD", dict(lr=0.1, momentum=0.9)),
                                     ("LARS", dict(lr=0.5, weight_decay=0.01))])
def test_norm_types_bitwise(name, kw, norm_type):
    p0, seq = _setup(name, kw, np.float32, seed=1)
    a, b = [p.copy() for p in p0], [p.copy() for p in p0]
    _, ta = _unfused(name, kw, a, seq, 0.3, norm_type)
    _, tb = _fused(name, kw, b, seq, 0.3, norm_type)
    assert ta == tb
    assert_bitwise_equal(a, b)


def test_no_clipping_equals_plain_step_and_returns_the_norm(dtype):
    p0, seq = _setup("Adam", {}, dtype, seed=2)
    a, b = [p.copy() for p in p0], [p.copy() for p in p0]
    oa, ob = optim.Adam(a, lr=0.01), optim.Adam(b, lr=0.01)
    for grads in seq:
        assert oa.step(grads) is None
        total = ob.step(grads, max_norm=1e9)
        assert total == clip.global_norm(grads)
    assert_bitwise_equal(a, b)


def test_gradients_are_not_modified():
    p0, seq = _setup("AdamW", {}, np.float32, seed=3)
    before = [[None if g is None else g.copy() for g in grads] for grads in seq]
    _fused("AdamW", {}, p0, seq, max_norm=0.1)
    assert_bitwise_equal(seq, before)


def test_groups_and_mixed_dtypes_share_one_norm():
    """The norm spans every group and both dtypes (as clip_grad_norm_ over the whole
    list); each group keeps its own options."""
    rng = np.random.default_rng(4)
    shapes = [(50,), (3, 4), (20,)]
    dts = [np.float32, np.float64, np.float32]
    p0 = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dts)]
    seq = [[rng.standard_normal(s).astype(d) for s, d in zip(shapes, dts)]
           for _ in range(3)]

    def groups(ps):
        return [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.1, "weight_decay": 0.5}]

    a, b = [p.copy() for p in p0], [p.copy() for p in p0]
    oa, ob = optim.AdamW(groups(a), lr=0.01), optim.AdamW(groups(b), lr=0.01)
    for grads in seq:
        g = [x.copy() for x in grads]
        ta = clip.clip_grad_norm_(g, 0.2)
        oa.step(g)
        assert ob.step(grads, max_norm=0.2) == ta
    assert_bitwise_equal(a, b)


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_matches_reference_twin(name, kw, dtype):
    """Against the NumPy twin (the reference clip_grad_norm_ then the reference step):
    the norms are summed in another order, so equal to a few ulps."""
    p0, seq = _setup(name, kw, dtype, seed=5)
    a, b = [p.copy() for p in p0], [p.copy() for p in p0]
    _, ta = _fused(name, kw, a, seq, 0.5)
    _, tb = _fused(name, kw, b, seq, 0.5, module=ref)
    np.testing.assert_allclose(ta, tb, rtol=1e-12)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    _close(a, b, rtol)


def test_nonfinite_norm_as_torch():
    """NaN in a gradient: the coefficient is NaN and every updated value NaN, as
    clip_grad_norm_ then step gives; inf: coefficient 0 (inf * 0 is NaN there)."""
    for bad in (np.nan, np.inf):
        p0, seq = _setup("SGD", dict(lr=0.1), np.float32, seed=6)
        seq[0][0][0, 0] = bad
        a, b = [p.copy() for p in p0], [p.copy() for p in p0]
        _, ta = _unfused("SGD", dict(lr=0.1), a, seq[:1], 1.0)
        _, tb = _fused("SGD", dict(lr=0.1), b, seq[:1], 1.0)
        assert (math.isnan(ta[0]) and math.isnan(tb[0])) if bad != bad else ta == tb
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)  # NaN where NaN


def test_error_if_nonfinite_raises_before_any_write():
    p0, seq = _setup("Adam", {}, np.float32, seed=7)
    seq[0][1][3] = np.inf
    params = [p.copy() for p in p0]
    opt = optim.Adam(params)
    with pytest.raises(RuntimeError, match="non-finite"):
        opt.step(seq[0], max_norm=1.0, error_if_nonfinite=True)
    assert_bitwise_equal(params, p0)
    assert opt.state_dict()["state"] == {}


@pytest.mark.parametrize("bad,exc,match", [
    (0.0, ValueError, "max_norm must be > 0"),
    (-1.0, ValueError, "max_norm must be > 0"),
    (float("nan"), ValueError, "max_norm must not be NaN"),
    ("1.0", TypeError, "max_norm"),
    (True, TypeError, "max_norm"),
    ([1.0], TypeError, "max_norm"),
])
@pytest.mark.parametrize("name,kw", [(n, k) for n, k in ALL[::4]])
def test_bad_max_norm_raises_before_any_write(name, kw, bad, exc, match):
    p0, seq = _setup(name, kw, np.float32, seed=8)
    params = [p.copy() for p in p0]
    opt = getattr(optim, name)(params, **kw)
    opt.step(seq[0])
    snap, pbefore = copy.deepcopy(opt.state_dict()), [p.copy() for p in params]
    for _ in range(2):  # twice: a failed call leaves nothing half-done
        with pytest.raises(exc, match=match):
            opt.step(seq[1], max_norm=bad)
        assert_bitwise_equal(params, pbefore)
        s = opt.state_dict()
        assert s["state"].keys() == snap["state"].keys()
        for k in s["state"]:
            for key in s["state"][k]:
                assert_bitwise_equal(s["state"][k][key], snap["state"][k][key])
    fresh_params = [p.copy() for p in p0]
    fresh = getattr(optim, name)(fresh_params, **kw)  # no state yet (but Adagrad's)
    before = fresh.state_dict()["state"].keys()
    with pytest.raises(exc, match=match):
        fresh.step(seq[0], max_norm=bad)
    assert fresh.state_dict()["state"].keys() == before
    assert_bitwise_equal(fresh_params, p0)


@pytest.mark.parametrize("kw,exc,match", [
    (dict(norm_type=0.0), ValueError, "norm_type"),
    (dict(norm_type=-2.0), ValueError, "norm_type"),
    (dict(norm_type="two"), ValueError, "norm_type"),
    (dict(norm_type=None), TypeError, "norm_type"),
    (dict(error_if_nonfinite="yes"), TypeError, "error_if_nonfinite"),
])
def test_bad_clip_options_raise_before_any_write(kw, exc, match):
    p0, seq = _setup("RMSprop", {}, np.float64, seed=9)
    params = [p.copy() for p in p0]
    opt = optim.RMSprop(params)
    with pytest.raises(exc, match=match):
        opt.step(seq[0], max_norm=1.0, **kw)
    assert_bitwise_equal(params, p0)
    assert opt.state_dict()["state"] == {}


def test_bad_gradient_with_max_norm_raises_before_the_norm():
    p0, seq = _setup("Adam", {}, np.float32, seed=10)
    params = [p.copy() for p in p0]
    opt = optim.Adam(params)
    grads = list(seq[0])
    grads[1] = grads[1].astype(np.float64)
    with pytest.raises(TypeError, match=r"grads\[1\]"):
        opt.step(grads, max_norm=1.0)
    assert_bitwise_equal(params, p0)


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_threads_bitwise(name, kw):
    rng = np.random.default_rng(11)
    shapes = [(100003,), (300, 301)] + [(2049,)] * 30
    p0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    seq = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(2)]

    def go():
        ps = [p.copy() for p in p0]
        _, totals = _fused(name, kw, ps, seq, 10.0)
        return ps, totals
    (pa, ta), (pb, tb) = run_threads(go, (1, 2, 3))[:2]
    assert ta == tb
    assert_bitwise_equal(pa, pb)


def test_loss_scaler_step_forwards_max_norm():
    """LossScaler.step(opt, grads, max_norm=...) = unscale_, then the fused step; a bad
    max_norm raises before the gradients are unscaled."""
    p0, seq = _setup("Adam", {}, np.float32, seed=12)
    a, b = [p.copy() for p in p0], [p.copy() for p in p0]
    ga, gb = [copy.deepcopy(seq[0]) for _ in range(2)]
    oa, ob = optim.Adam(a), optim.Adam(b)
    sa, sb = amp.LossScaler(init_scale=8.0), amp.LossScaler(init_scale=8.0)
    sa.unscale_(ga)
    clip.clip_grad_norm_(ga, 0.5)
    sa.step(oa, ga)
    assert sb.step(ob, gb, max_norm=0.5) is True
    assert_bitwise_equal(a, b)
    sc, gc = amp.LossScaler(init_scale=8.0), copy.deepcopy(seq[1])
    keep = copy.deepcopy(gc)
    with pytest.raises(ValueError, match="max_norm"):
        sc.step(optim.Adam([p.copy() for p in p0]), gc, max_norm=-1.0)
    assert_bitwise_equal(gc, keep)


def test_loss_scaler_scale_underflow_unscales_by_inf():
    """After enough backoffs the float32 scale reaches 0 (or a value whose reciprocal
    overflows float32): 1/S is then inf, as torch's float32 reciprocal gives, not a
    ZeroDivisionError."""
    s = amp.LossScaler(init_scale=1e-44, backoff_factor=0.5)
    g = [np.ones(3, np.float32)]
    assert s.unscale_(g) is False
    assert np.isinf(g[0]).all()
    s.update(new_scale=1.5e-45)  # the smallest float32 denormal; halved: 0
    g = [np.array([np.inf], np.float32)]
    s.unscale_(g)
    s.update()
    assert s.get_scale() == 0.0
    g = [np.ones(2, np.float32)]
    s.unscale_(g)
    assert np.isinf(g[0]).all()


# ---- grad_scale: the gradients multiplied as the step reads them ------------------------

@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_grad_scale_equals_scaling_then_step_bitwise(name, kw, dtype):
    """A power-of-two grad_scale multiplies exactly, so step(g, grad_scale=s) gives the
    parameters and states of step(s * g) to the bit, and the gradients are only read."""
    p0, seq = _setup(name, kw, dtype)
    a, b = [p.copy() for p in p0], [p.copy() for p in p0]
    oa, ob = getattr(optim, name)(a, **kw), getattr(optim, name)(b, **kw)
    for grads in seq:
        before = [None if g is None else g.copy() for g in grads]
        oa.step([None if g is None else g * np.dtype(dtype).type(0.25) for g in grads])
        assert ob.step(grads, grad_scale=0.25) is None
        assert_bitwise_equal([g for g in grads if g is not None],
                             [g for g in before if g is not None])
    assert_bitwise_equal(a, b)
    for x, y in zip(_state(oa), _state(ob)):
        for k in x:
            assert_bitwise_equal(x[k], y[k])


@pytest.mark.parametrize("name,kw", [("AdamW", {}), ("SGD", dict(lr=0.1, momentum=0.9)),
                                     ("Lion", dict(lr=1e-3)), ("LAMB", dict(lr=1e-3))])
@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_grad_scale_with_clip_is_the_clip_of_the_scaled_gradients(name, kw, norm_type):
    """With max_norm the clip is of s * g: the returned norm is |s| times g's, and the
    step equals clip_grad_norm_(s * g) then step, and the NumPy twin, to round-off."""
    p0, seq = _setup(name, kw, np.float64, seed=3)
    a, b, c = ([p.copy() for p in p0] for _ in range(3))
    s = -1.0 / 3.0
    opt_a = getattr(optim, name)(a, **kw)
    opt_b = getattr(optim, name)(b, **kw)
    opt_c = getattr(ref, name)(c, **kw)
    for grads in seq:
        scaled = [None if g is None else g * s for g in grads]
        total = clip.clip_grad_norm_(scaled, 0.3, norm_type)
        opt_a.step(scaled)
        got = opt_b.step(grads, max_norm=0.3, norm_type=norm_type, grad_scale=s)
        want = opt_c.step(grads, max_norm=0.3, norm_type=norm_type, grad_scale=s)
        assert math.isclose(got, total, rel_tol=1e-14)
        assert math.isclose(got, want, rel_tol=1e-14)
    for x, y, z in zip(a, b, c):
        np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(y, z, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("bad,exc", [("x", TypeError), (float("nan"), ValueError),
                                     (math.inf, ValueError), (True, TypeError)])
def test_bad_grad_scale_raises_before_anything_is_written(bad, exc):
    p0, seq = _setup("Adam", {}, np.float32)
    params = [p.copy() for p in p0]
    opt = optim.Adam(params)
    with pytest.raises(exc, match="grad_scale"):
        opt.step(seq[0], grad_scale=bad)
    assert_bitwise_equal(params, p0)
    assert opt.state_dict()["state"] == {}
