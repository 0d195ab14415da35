"""Adafactor in 16-bit storage (float16, bfloat16), through the class and
optim.functional.  As tests/test_optim_half.py for the other optimizers, with
Adafactor's default: float32 states for 16-bit parameters (``state_dtype`` overrides).

- pure 16-bit (16-bit parameters and gradients): bitwise equal to gradkit's float32
  step on the widened arrays, the parameter rounded once (float32 states, or 16-bit ones
  rounded once too); functional on 16-bit arrays within 1 ulp of the NumPy twin;
- master_weights=True: the masters follow a float32 run bitwise, the parameters are
  their masters rounded;
- state_dtype=bfloat16 with float32 parameters: the float32 step with the states
  widened before and rounded after each step, bitwise (state dicts:
  tests/test_optim_half.py);
- bad input names the argument, before anything is written.
The shapes take every path of the kernel: whole small matrices (long rows, and short
rows: (3, 5, 7)), tiles one tile down and several tiles down, vectors of one and of
several chunks, 0-d, empty.  Thread counts and SIMD tables: tests/_harness.py's
optim16.Adafactor cases; the loss scaler's fused step: tests/test_optim_half.py."""
import ml_dtypes
import numpy as np
import pytest

import gradkit
from gradkit import optim
from gradkit.optim import functional as F
from gradkit.reference import optim as R

from test_optim_half import BF16, F16, F32, HALVES, assert_scratch_same_bits, bits, ulps
from test_optim_half import _data as _data_nd

SHAPES = [(37, 129), (3, 5, 7), (70, 1000), (2, 2100), (), (1,), (0,), (4099,), (0, 3)]
CASES = [dict(), dict(lr=0.1, beta2_decay=-0.5, eps=(1e-6, 1e-3), d=1.5,
                      weight_decay=0.1, maximize=True)]
IDS = ["default", "options"]
STEPS = 4


def _data(seed, shape, dt, scale=1.0):
    return np.asarray(_data_nd(seed, shape, dt, scale))  # 0-d: an array, not a scalar


def _grads(step, dt, shapes=SHAPES):
    return [_data(100 + 10 * step + i, s, dt, 0.5) for i, s in enumerate(shapes)]


def _states(opt):
    st = opt.state_dict()["state"]
    return [(k, s, np.asarray(v)) for k in sorted(st) for s, v in sorted(st[k].items())
            if s != "step"]


def _with_eps(kw, dt):
    """The options with eps1 as the 16-bit optimizer resolves None: its dtype's eps."""
    kw = dict(kw)
    e1, e2 = kw.get("eps", (None, 1e-3))
    kw["eps"] = (float(ml_dtypes.finfo(dt).eps) if e1 is None else e1, e2)
    return kw


@pytest.mark.parametrize("state_dtype", [None, "own"])
@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("kw", CASES, ids=IDS)
def test_pure_16bit_is_the_float32_step_rounded_once(kw, dt, state_dtype):
    """Each step equals the float32 step on the widened parameters, gradients and
    states, every result rounded once (the states: float32 by default, or 16-bit)."""
    sdt = dt if state_dtype == "own" else None
    params = [_data(i, s, dt) for i, s in enumerate(SHAPES)]
    opt = optim.Adafactor(params, state_dtype=sdt, **kw)
    wide = [p.astype(F32) for p in params]
    ref = optim.Adafactor(wide, **_with_eps(kw, dt))
    for step in range(STEPS):
        g = _grads(step, dt)
        g[1] = None if step == 1 else g[1]  # a parameter without gradient
        opt.step(g)
        ref.step([None if x is None else x.astype(F32) for x in g])
        for i, (p, w) in enumerate(zip(params, wide)):
            assert p.dtype == dt
            assert bits(p) == bits(w.astype(dt)), (i, step)
            w[...] = p  # the twin goes on from the rounded values
        for (k, s, a), (k2, s2, b) in zip(_states(opt), _states(ref)):
            assert (k, s) == (k2, s2)
            assert a.dtype == (sdt or F32)
            assert bits(a) == bits(b.astype(a.dtype)), (k, s, step)
        ref.load_state_dict(opt.state_dict())  # the twin from the rounded states


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("kw", CASES, ids=IDS)
def test_functional_against_the_reference_twin(kw, dt):
    """optim.functional.adafactor_ on 16-bit arrays (states of their dtype): bitwise
    the float32 kernel on widened arrays rounded once, and within 1 ulp of the NumPy
    twin (float32 formulas on widened copies), almost all exact."""
    kw = dict(kw)
    kw["eps1"], kw["eps2"] = kw.pop("eps", (None, 1e-3))
    shapes = [s for s in SHAPES if s != (0, 3)]
    p = [_data(i, s, dt) for i, s in enumerate(shapes)]

    def states(params):
        row = [np.zeros(s[:-1] + (1,), a.dtype) if len(s) >= 2 else None
               for s, a in zip(shapes, params)]
        col = [np.zeros(s[:-2] + (1, s[-1]), a.dtype) if len(s) >= 2 else None
               for s, a in zip(shapes, params)]
        var = [np.zeros(s, a.dtype) if len(s) < 2 else None for s, a in zip(shapes, params)]
        return [params, row, col, var]
    gk, ref, wide = states(p), states([a.copy() for a in p]), states([a.astype(F32) for a in p])
    diffs = []
    for step in range(1, STEPS + 1):
        g = _grads(step, dt, shapes)
        F.adafactor_(*gk[:1], g, *gk[1:], step, **kw)
        R.adafactor_(*ref[:1], [x.copy() for x in g], *ref[1:], step, **kw)
        F.adafactor_(*wide[:1], [x.astype(F32) for x in g], *wide[1:], step,
                     **{**kw, "eps1": kw["eps1"] or float(ml_dtypes.finfo(dt).eps)})
        for lg, lr_, lw in zip(gk, ref, wide):
            for a, b, w in zip(lg, lr_, lw):
                if a is None:
                    continue
                assert a.dtype == dt and b.dtype == dt
                assert bits(a) == bits(w.astype(dt)), step
                w[...] = a
                diffs.append(ulps(a, b).ravel())
    d = np.concatenate(diffs)
    assert d.max(initial=0) <= 1
    assert (d == 0).mean() >= 0.99


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("kw", CASES, ids=IDS)
def test_master_weights_trajectory(kw, dt):
    """16-bit parameters and gradients, float32 masters and states: the masters follow
    the float32 optimizer fed the widened gradients, bitwise (eps=(None, ...) is
    float32's eps: the master is what is stepped), each parameter its master rounded."""
    params = [_data(i, s, dt) for i, s in enumerate(SHAPES)]
    opt = optim.Adafactor(params, master_weights=True, **kw)
    masters = [p.astype(F32) for p in params]
    ref = optim.Adafactor(masters, **kw)
    for step in range(STEPS):
        g = _grads(step, dt)
        opt.step(g)
        ref.step([x.astype(F32) for x in g])
        sd = opt.state_dict()["state"]
        for i, (p, m) in enumerate(zip(params, masters)):
            assert sd[i]["master"].dtype == F32
            assert bits(sd[i]["master"]) == bits(m), (i, step)
            assert bits(p) == bits(m.astype(dt))
        mine = [x for x in _states(opt) if x[1] != "master"]
        for (k, s, a), (_, _, b) in zip(mine, _states(ref)):
            assert a.dtype == F32
            assert bits(a) == bits(b), (k, s)


@pytest.mark.parametrize("kw", CASES, ids=IDS)
def test_bfloat16_states_with_float32_parameters(kw):
    params = [_data(i, s, F32) for i, s in enumerate(SHAPES)]
    opt = optim.Adafactor(params, state_dtype=gradkit.bfloat16, **kw)
    twin = [p.copy() for p in params]
    ref = optim.Adafactor(twin, **kw)
    for step in range(STEPS):
        g = _grads(step, F32)
        opt.step(g)
        ref.step(g)
        for p, q in zip(params, twin):
            assert bits(p) == bits(q), step
        for (k, s, a), (_, _, b) in zip(_states(opt), _states(ref)):
            assert a.dtype == BF16
            assert bits(a) == bits(b.astype(BF16))
        ref.load_state_dict(opt.state_dict())  # the twin from the rounded states


@pytest.mark.parametrize("layout", ["pure", "master", "own-states", "bf16-states"])
@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_16bit_scratch_same_bits_as_low_memory(dt, layout):
    """The 16-bit step keeps the matrices' U in float32 scratch between its passes (the
    default) or computes it twice (low_memory=True): the same parameters, states and
    masters, bit for bit, at 1..4 threads, with a parameter missing its gradient in
    one step."""
    pdt = F32 if layout == "bf16-states" else dt
    extra = {"pure": {}, "master": dict(master_weights=True),
             "own-states": dict(state_dtype=dt),
             "bf16-states": dict(state_dtype=gradkit.bfloat16)}[layout]
    assert_scratch_same_bits(
        lambda ps, low: optim.Adafactor(ps, **CASES[1], low_memory=low, **extra),
        SHAPES, pdt, _states, missing=0)


def test_factor_shapes_and_default_state_dtype():
    """A 16-bit matrix's factors have torch's shapes and are float32 by default
    (state_dict round trips: tests/test_optim_half.py)."""
    p = _data(0, (40, 30), BF16)
    opt = optim.Adafactor([p], master_weights=True)
    opt.step(_grads(0, BF16, [(40, 30)]))
    st = opt.state_dict()["state"][0]
    assert st["row_var"].shape == (40, 1) and st["col_var"].shape == (1, 30)
    assert st["row_var"].dtype == F32 and st["col_var"].dtype == F32


def test_eps1_is_resolved_over_the_whole_group():
    """eps=(None, ...) is finfo(dtype).eps of the group's first parameter with a
    gradient, used for all of them, whatever their storage (torch's rule)."""
    a, b = _data(0, (20, 30), BF16), _data(1, (20, 30), F32)
    a2, b2 = a.astype(F32), b.copy()
    opt = optim.Adafactor([a, b])
    ref = optim.Adafactor([a2, b2], eps=(float(ml_dtypes.finfo(BF16).eps), 1e-3))
    g = [_data(2, (20, 30), BF16), _data(3, (20, 30), F32)]
    opt.step(g)
    ref.step([g[0].astype(F32), g[1]])
    assert bits(a) == bits(a2.astype(BF16)) and bits(b) == bits(b2)


# ---- bad input ------------------------------------------------------------------------
def test_bad_input_names_the_argument_and_writes_nothing():
    p = _data(0, (6, 8), BF16)
    r, c, v = np.zeros((6, 1), BF16), np.zeros((1, 8), BF16), np.zeros(8, BF16)
    before = [bits(a) for a in (p, r, c)]
    with pytest.raises(TypeError, match=r"grad"):
        F.adafactor_(p, np.ones((6, 8), F32), r, c, None, 1)
    with pytest.raises(TypeError, match=r"row_var"):
        F.adafactor_(p, np.ones((6, 8), BF16), np.zeros((6, 1), F16), c, None, 1)
    with pytest.raises(TypeError, match=r"col_var"):
        F.adafactor_(p, np.ones((6, 8), BF16), r, np.zeros((1, 8), F32), None, 1)
    with pytest.raises(ValueError, match=r"variance"):
        F.adafactor_(p, np.ones((6, 8), BF16), r, c, v, 1)
    opt = optim.Adafactor([p])
    with pytest.raises(TypeError, match=r"grads\[0\]"):
        opt.step([np.ones((6, 8), F16)])
    assert [bits(a) for a in (p, r, c)] == before
    with pytest.raises(TypeError, match="state_dtype"):
        optim.Adafactor([p], state_dtype=np.float64)


def test_nan_and_inf_propagate():
    p = _data(0, (20,), F16)
    g = _data(1, (20,), F16)
    g[3] = np.nan
    optim.Adafactor([p]).step([g])
    assert np.isnan(p[3])
    # torch's Python max() of a NaN RMS(U): the clipping divisor is 1, the rest finite
    assert np.isfinite(np.delete(p, 3)).all()
