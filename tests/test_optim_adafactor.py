"""Adafactor (torch.optim.Adafactor's formulas): the class and the functional kernel
against torch.optim.Adafactor itself and against gradkit.reference.optim; factored
(2-d, 3-d: over the last two dims) and unfactored (0-d, 1-d) parameters, state dicts
both ways with torch, state shapes checked where loaded, threads, fused clipping, bad
input."""
import copy

import numpy as np
import pytest

from gradkit import optim, schedules
from gradkit.optim import functional as F
from gradkit.reference import optim as ref
import test_optim as _o
import test_optim_more as _m
import test_optim_clip as _oc
from conftest import assert_bitwise_equal, run_threads
from test_optim import _close, _grads, _make, _run, _torch_run

CONFIGS = [
    {},
    dict(weight_decay=0.1),
    dict(maximize=True, weight_decay=0.05),
    dict(eps=(1e-6, 1e-2), d=2.0),               # eps1 given; a looser clipping
    dict(lr=0.5, beta2_decay=-0.5),              # rho_t = 1/sqrt(t) after step 4
    dict(lr=0.1, eps=(1e-3, 1e-3)),              # eps1 large: the clamps bite
]
IDS = ["-".join(f"{k}={v}" for k, v in kw.items()) or "default" for kw in CONFIGS]
# 0-d, 1-d, 2-d (square-ish, one row, one column), 3-d (batched over the first dim),
# conv-weight-like (many 3 x 3 matrices, whole in one task)
SHAPES = [(), (33,), (7, 13), (1, 9), (9, 1), (2, 3, 5), (4, 300), (6, 5, 3, 3)]
# matrices too large for one tile: 2 tiles down (70 x 1000), 2 across (3 x 2100: its
# columns finished by their tiles), 2 x 2 (40 x 3000)
TILED = [(70, 1000), (3, 2100), (40, 3000)]
# against torch, relative to each array's largest value: its float32 norms and the FMA of
# its add_ (measured: 1.1e-6 float32, 1.3e-15 float64 over these runs)
TORCH_RTOL = {np.dtype(np.float32): 5e-6, np.dtype(np.float64): 1e-14}


def _seq(rng, params, n):
    seq = [_grads(rng, params) for _ in range(n)]
    for gs in seq[::4]:
        gs[2] = None  # a parameter without gradient on some steps: its step count lags
    return seq


# ---- against torch.optim.Adafactor ----------------------------------------------------------

@pytest.mark.parametrize("kw", CONFIGS, ids=IDS)
def test_matches_torch(kw, dtype, rng):
    """Trajectories, step counts and every state array (row_var, col_var, variance with
    torch's shapes) equal torch's to its rounding: torch sums its norms in the dtype."""
    torch = pytest.importorskip("torch")
    params = _make(rng, SHAPES + TILED, dtype)
    seq = _seq(rng, params, 20)
    mine = [p.copy() for p in params]
    o = _run("Adafactor", kw, mine, seq)
    theirs, to = _torch_run(torch, "Adafactor", kw, params, seq)
    _close(mine, theirs, rtol=TORCH_RTOL[np.dtype(dtype)])
    sd, tsd = o.state_dict(), to.state_dict()
    assert sorted(sd["state"]) == sorted(k for k, v in tsd["state"].items() if v)
    for i, st in sd["state"].items():
        assert set(st) == set(tsd["state"][i])
        for key, val in st.items():
            tv = tsd["state"][i][key]
            if key == "step":
                assert val == int(tv)
            else:
                assert val.shape == tuple(tv.shape) and val.dtype == dtype
                _close([val], [tv.numpy()], rtol=10 * TORCH_RTOL[np.dtype(dtype)])


def test_foreach_torch_is_the_same_trajectory(rng):
    """torch's foreach implementation (the benchmark's peer) gives the single-tensor
    trajectory too: gradkit matches both."""
    torch = pytest.importorskip("torch")
    params = _make(rng, SHAPES, np.float64)
    seq = [_grads(rng, params) for _ in range(6)]
    mine = [p.copy() for p in params]
    _run("Adafactor", dict(weight_decay=0.1), mine, seq)
    theirs, _ = _torch_run(torch, "Adafactor", dict(weight_decay=0.1, foreach=True), params,
                           seq)
    _close(mine, theirs, rtol=1e-12)


def test_eps1_none_is_the_first_parameters_dtype_as_torch(rng):
    """torch resolves eps1=None at the group's first parameter with a gradient and keeps
    it for the others: a float64 parameter first gives float32 ones float64's eps."""
    torch = pytest.importorskip("torch")
    params = [rng.standard_normal((5, 4)), rng.standard_normal((6, 3)).astype(np.float32),
              rng.standard_normal(7).astype(np.float32)]
    # tiny gradients: g^2 below float32's eps^2 in places, so the eps1 in use shows
    seq = [[g * 1e-5 for g in _grads(rng, params)] for _ in range(4)]
    seq[1][0] = None  # step 2: the first float32 parameter decides (float32's eps)
    mine = [p.copy() for p in params]
    _run("Adafactor", {}, mine, seq)
    theirs, _ = _torch_run(torch, "Adafactor", {}, params, seq)
    _close(mine, theirs, rtol=2e-5)


def test_lr_scheduler_drives_it_as_torch(rng):
    torch = pytest.importorskip("torch")
    params = _make(rng, [(6, 5), (4,)], np.float64)
    seq = [_grads(rng, params) for _ in range(8)]
    mine = [p.copy() for p in params]
    o = optim.Adafactor(mine, lr=0.2, weight_decay=0.1)
    s = schedules.StepLR(o, 2, 0.5)
    ts = [torch.tensor(p.copy()) for p in params]
    to = torch.optim.Adafactor(ts, lr=0.2, weight_decay=0.1)
    tsched = torch.optim.lr_scheduler.StepLR(to, 2, 0.5)
    for gs in seq:
        o.step([g.copy() for g in gs])
        s.step()
        for t, g in zip(ts, gs):
            t.grad = torch.tensor(g)
        to.step()
        tsched.step()
    assert o.param_groups[0]["lr"] == to.param_groups[0]["lr"]
    _close(mine, [t.numpy() for t in ts], rtol=1e-12)


def test_defaults_and_param_group_keys_are_torchs():
    torch = pytest.importorskip("torch")
    mine = optim.Adafactor([np.zeros((2, 3))]).param_groups[0]
    theirs = torch.optim.Adafactor([torch.zeros(2, 3)]).param_groups[0]
    assert set(mine) == set(theirs)
    for k, v in mine.items():
        if k != "params":
            assert theirs[k] == v, k


# ---- against the NumPy twin -----------------------------------------------------------------

@pytest.mark.parametrize("kw", CONFIGS, ids=IDS)
def test_matches_reference_same_dtype(kw, dtype, rng):
    """Same formulas, same dtype, same rounding points: equal but for the order of the
    float64 sums (NumPy's pairwise vs the kernel's fixed tiles), which moves a rounded
    float64 norm by an ulp at times (measured: bitwise in float32, 2.0 ulps of the
    largest value in float64, over 20 steps): 4 ulps."""
    params = _make(rng, SHAPES + [(0,), (3, 0)] + TILED, dtype)
    seq = _seq(rng, params, 20)
    mine, theirs = [p.copy() for p in params], [p.copy() for p in params]
    a = _run("Adafactor", kw, mine, seq)
    b = _run("Adafactor", kw, theirs, seq, ref)
    _close(mine, theirs, rtol=4 * np.finfo(dtype).eps)
    for i, st in a.state_dict()["state"].items():
        for key, val in st.items():
            if key != "step":
                _close([val], [b.state[i][key]], rtol=4 * np.finfo(dtype).eps)


def test_float32_close_to_float64_reference(rng):
    params = _make(rng, SHAPES, np.float32)
    seq = _seq(rng, params, 20)
    mine = [p.copy() for p in params]
    _run("Adafactor", dict(eps=(1e-7, 1e-3)), mine, seq)
    theirs = [p.astype(np.float64) for p in params]
    _run("Adafactor", dict(eps=(1e-7, 1e-3)), theirs,
         [[None if g is None else g.astype(np.float64) for g in gs] for gs in seq], ref)
    _close(mine, theirs, rtol=1e-4)


def test_one_step_by_hand():
    """First step of a vector: V = g^2, U = sign(g) (RMS 1: no clipping), alpha =
    max(eps2, RMS(p)) * min(lr, 1)."""
    p = np.array([3.0, -4.0, 0.0, 0.0])     # RMS 2.5
    g = np.array([0.5, -2.0, 1e-3, -7.0])
    v = np.zeros(4)
    F.adafactor_(p, g, None, None, v, 1, lr=0.1)
    np.testing.assert_array_equal(v, g * g)
    np.testing.assert_allclose(p, [3.0 - 0.25, -4.0 + 0.25, -0.25, 0.25], rtol=1e-15)
    # a matrix's first step: R, C the row and column means of g^2; V = R C / mean(R)
    q = np.ones((2, 2))
    g = np.array([[1.0, 2.0], [3.0, 4.0]])
    r, c = np.zeros((2, 1)), np.zeros((1, 2))
    F.adafactor_(q, g, r, c, None, 1, lr=0.1)
    np.testing.assert_allclose(r, [[2.5], [12.5]], rtol=1e-15)
    np.testing.assert_allclose(c, [[5.0, 10.0]], rtol=1e-15)
    u = g / np.sqrt(r * c / 7.5)
    step = 1.0 * 0.1 / max(1.0, np.sqrt(np.mean(u * u)))
    np.testing.assert_allclose(q, 1.0 - step * u, rtol=1e-14)


def test_zero_size_and_zero_d_parameters(rng):
    """No elements: left as they are (torch divides by the size), the step counted; a
    0-d parameter has a 0-d variance."""
    ps = [np.zeros((0, 4)), np.zeros((3, 0)), np.zeros(0), np.array(2.0)]
    o = optim.Adafactor(ps)
    o.step([np.zeros((0, 4)), np.zeros((3, 0)), np.zeros(0), np.array(0.5)])
    sd = o.state_dict()["state"]
    assert sd[0]["row_var"].shape == (0, 1) and sd[0]["col_var"].shape == (1, 4)
    assert sd[1]["row_var"].shape == (3, 1) and sd[1]["col_var"].shape == (1, 0)
    assert sd[3]["variance"].shape == () and sd[3]["step"] == 1
    np.testing.assert_array_equal(sd[1]["row_var"], 0)
    assert ps[3] == 2.0 - 2.0 * 1e-2  # U = sign(g), alpha = RMS(p) * lr


# ---- state dict: torch's keys and shapes, both ways --------------------------------------

@pytest.mark.parametrize("kw", CONFIGS[:3], ids=IDS[:3])
def test_state_dict_round_trip_is_bitwise(kw, dtype, rng):
    _o.test_state_dict_round_trip_is_bitwise("Adafactor", kw, dtype, rng)


@pytest.mark.parametrize("kw", CONFIGS[:3], ids=IDS[:3])
def test_state_dict_both_ways_with_torch(kw, rng):
    _m.test_state_dict_both_ways_with_torch("Adafactor", kw, rng)


def test_loads_torchs_3d_state(rng):
    """A 3-d parameter's row_var (b, m, 1) and col_var (b, 1, n) from torch load and
    continue as torch does."""
    _o.test_loads_a_torch_state_dict("Adafactor", {}, rng, shapes=[(2, 3, 4), ()],
                                     rtol=1e-12)


@pytest.mark.parametrize("entry,value,match", [
    ("row_var", np.zeros((3, 4)), r"needs \(3, 1\)"),      # the parameter's shape
    ("col_var", np.zeros((4, 1)), r"needs \(1, 4\)"),      # row_var's
    ("variance", np.zeros((3, 4)), "has no such state"),  # a matrix has none
])
def test_load_state_dict_checks_state_shapes(entry, value, match, rng):
    params = _make(rng, [(3, 4), (5,)], np.float64)
    o = _run("Adafactor", {}, params, [_grads(rng, params)])
    before = o.state_dict()
    bad = copy.deepcopy(before)
    bad["state"][0][entry] = value
    with pytest.raises(ValueError, match=match):
        o.load_state_dict(bad)
    bad = copy.deepcopy(before)
    bad["state"][1]["row_var"] = np.zeros((5, 1))  # a vector has no factors
    with pytest.raises(ValueError, match="has no such state"):
        o.load_state_dict(bad)
    after = o.state_dict()
    for i in before["state"]:
        for k, v in before["state"][i].items():
            assert_bitwise_equal(np.asarray(after["state"][i][k]), np.asarray(v))


def test_param_replaced_by_other_ndim_is_rejected(rng):
    """State follows a parameter object; one reshaped in place to another ndim no
    longer fits its factored state."""
    p = rng.standard_normal((4, 6))
    o = optim.Adafactor([p])
    o.step([np.ones((4, 6))])
    p.shape = (24,)
    with pytest.raises(ValueError, match="changed dtype or shape"):
        o.step([np.ones(24)])


# ---- multi-tensor lists, threads, fused clipping ---------------------------------------------

BIG = [(100003,), (300, 301), (3, 200, 70), (5000, 3), (2, 40000), (), (17,)] + [(2049,)] * 20


@pytest.mark.parametrize("kw", CONFIGS[:3], ids=IDS[:3])
def test_threads_bitwise(kw):
    """1 to 4 threads, bitwise: matrices cut into several tiles across (40000 columns)
    and down (5000 rows), a batched one, vectors of several chunks."""
    rng = np.random.default_rng(11)
    params = _make(rng, BIG, np.float32)
    seq = [_grads(rng, params) for _ in range(3)]

    def go():
        ps = [p.copy() for p in params]
        _run("Adafactor", kw, ps, seq)
        return ps
    results = run_threads(go, counts=(1, 2, 3, 4))
    for r in results[1:]:
        assert_bitwise_equal(results[0], r)


def test_many_arrays_equal_per_array_updates():
    """One kernel over a mixed list (float32 and float64, matrices and vectors) gives each
    array what a call on it alone gives, when eps1 is given (None takes the first
    parameter's dtype, as torch)."""
    rng = np.random.default_rng(7)
    shapes = [(int(a), int(b)) for a, b in rng.integers(0, 90, (20, 2))] + \
        [(int(s),) for s in rng.integers(0, 5000, 20)] + [(3, 7, 9), (), (70001,)]
    params = [rng.standard_normal(s).astype(np.float32 if i % 3 else np.float64)
              for i, s in enumerate(shapes)]
    seq = [_grads(rng, params) for _ in range(4)]
    kw = dict(eps=(1e-20, 1e-3), weight_decay=0.1)
    together = [p.copy() for p in params]
    _run("Adafactor", kw, together, seq)
    for i, p in enumerate(params):
        alone = [p.copy()]
        _run("Adafactor", kw, alone, [[gs[i]] for gs in seq])
        assert_bitwise_equal(alone[0], together[i])


def test_fused_clip_equals_clip_then_step(dtype):
    _m.test_fused_clip_equals_clip_then_step("Adafactor", dict(weight_decay=0.1), dtype)


def test_grad_scale_equals_scaling_then_step_bitwise(dtype):
    _oc.test_grad_scale_equals_scaling_then_step_bitwise("Adafactor", dict(weight_decay=0.1),
                                                         dtype)


def test_bad_grads_leave_everything_untouched(rng):
    _o.test_bad_grads_leave_everything_untouched("Adafactor", {}, rng)


def test_noncontiguous_byte_swapped_and_read_only_gradients(rng):
    p = rng.standard_normal((6, 4))
    g = rng.standard_normal((4, 6))
    a, b, c, d = [p.copy()], [p.copy()], [p.copy()], [p.copy()]
    optim.Adafactor(a).step([g.T])
    optim.Adafactor(b).step([np.ascontiguousarray(g.T)])
    optim.Adafactor(c).step([np.ascontiguousarray(g.T).astype(">f8")])
    ro = np.ascontiguousarray(g.T)
    ro.flags.writeable = False
    optim.Adafactor(d).step([ro])
    assert_bitwise_equal(a, b)
    assert_bitwise_equal(a, c)
    assert_bitwise_equal(a, d)


# ---- functional -----------------------------------------------------------------------------

def test_functional_lists_match_reference(dtype, rng):
    ps = _make(rng, [(9, 11), (2, 5, 3), (13,), ()], dtype)
    gs = _grads(rng, ps)
    gs[1] = None
    rows = [np.abs(rng.standard_normal((9, 1))).astype(dtype), None, None, None]
    cols = [np.abs(rng.standard_normal((1, 11))).astype(dtype), None, None, None]
    vs = [None, None, np.abs(rng.standard_normal(13)).astype(dtype),
          np.array(abs(rng.standard_normal()), dtype)]
    args = [[a.copy() if a is not None else None for a in x] for x in (rows, cols, vs)]
    mine, theirs = [p.copy() for p in ps], [p.copy() for p in ps]
    kw = dict(lr=0.1, weight_decay=0.1, maximize=True, d=1.5)
    F.adafactor_(mine, gs, *args, [3, 1, 5, 2], **kw)
    ref.adafactor_(theirs, gs, rows, cols, vs, [3, 1, 5, 2], **kw)
    tol = 4 * np.finfo(dtype).eps
    _close(mine, theirs, rtol=tol)
    _close([args[0][0], args[1][0], args[2][2], args[2][3]],
           [rows[0], cols[0], vs[2], vs[3]], rtol=tol)


def test_functional_bad_input():
    p, g = np.zeros((3, 4)), np.ones((3, 4))
    r, c = np.zeros((3, 1)), np.zeros((1, 4))
    with pytest.raises(ValueError, match="row_var is required"):
        F.adafactor_(p, g, None, c, None, 1)
    with pytest.raises(ValueError, match="variance must be None"):
        F.adafactor_(p, g, r, c, np.zeros((3, 4)), 1)
    with pytest.raises(ValueError, match=r"col_var has shape \(4, 1\)"):
        F.adafactor_(p, g, r, np.zeros((4, 1)), None, 1)
    with pytest.raises(TypeError, match="row_var"):
        F.adafactor_(p, g, r.astype(np.float32), c, None, 1)
    with pytest.raises(ValueError, match="variance is required"):
        F.adafactor_(np.zeros(3), np.ones(3), None, None, None, 1)
    buf = np.zeros(15)
    with pytest.raises(ValueError, match="overlaps"):
        F.adafactor_(buf[:12].reshape(3, 4), g, buf[9:12].reshape(3, 1), c, None, 1)
    with pytest.raises(ValueError, match="step"):
        F.adafactor_(p, g, r, c, None, 0)
    with pytest.raises(ValueError, match="beta2_decay"):
        F.adafactor_(p, g, r, c, None, 1, beta2_decay=0.5)
    np.testing.assert_array_equal(p, 0)
    np.testing.assert_array_equal(r, 0)


# ---- hyperparameters: checked where set --------------------------------------------------

@pytest.mark.parametrize("kw,exc,match", [
    (dict(lr=-1.0), ValueError, "lr"),
    (dict(beta2_decay=0.1), ValueError, "beta2_decay"),
    (dict(eps=(-1.0, 1e-3)), ValueError, r"eps\[0\]"),
    (dict(eps=(None, -1e-3)), ValueError, r"eps\[1\]"),
    (dict(d=0.5), ValueError, "d must be"),
    (dict(weight_decay=-0.1), ValueError, "weight_decay"),
    (dict(eps=1e-3), TypeError, "eps must be a pair"),
    (dict(eps=(None, "x")), TypeError, r"eps\[1\]"),
    (dict(maximize=2), TypeError, "maximize"),
    (dict(foreach="yes"), TypeError, "foreach"),
])
def test_bad_hyperparameters_raise_where_set(kw, exc, match, rng):
    with pytest.raises(exc, match=match):
        optim.Adafactor([np.zeros(3)], **kw)
    o = optim.Adafactor([np.zeros(3)])
    with pytest.raises(exc, match=match):
        o.add_param_group({"params": [np.zeros(2)], **kw})
    o.step([np.ones(3)])
    sd = o.state_dict()
    sd["param_groups"][0].update(kw)
    with pytest.raises(exc, match=match):
        o.load_state_dict(sd)
    assert len(o.param_groups) == 1 and o.param_groups[0]["lr"] == 1e-2


def test_values_written_between_steps_are_used_as_torch(rng):
    """A negative lr written into param_groups steps (torch checks only where set)."""
    torch = pytest.importorskip("torch")
    params = _make(rng, [(3, 4), (5,)], np.float64)
    seq = [_grads(rng, params) for _ in range(4)]
    mine = [p.copy() for p in params]
    o = optim.Adafactor(mine)
    ts = [torch.tensor(p.copy()) for p in params]
    to = torch.optim.Adafactor(ts)
    for k, gs in enumerate(seq):
        if k == 2:
            o.param_groups[0]["lr"] = to.param_groups[0]["lr"] = -0.1
        o.step([g.copy() for g in gs])
        for t, g in zip(ts, gs):
            t.grad = torch.tensor(g)
        to.step()
    _close(mine, [t.numpy() for t in ts], rtol=1e-12)


def test_nan_parameter_takes_eps2_as_torch():
    """Python's max(eps2, nan) is eps2: a NaN RMS of the parameter does not make the
    step NaN by itself (the NaN element stays NaN)."""
    torch = pytest.importorskip("torch")
    p = np.array([np.nan, 1.0, 2.0])
    g = np.array([1.0, 1.0, -1.0])
    mine = [p.copy()]
    optim.Adafactor(mine).step([g])
    t = torch.tensor(p.copy())
    to = torch.optim.Adafactor([t])
    t.grad = torch.tensor(g)
    to.step()
    np.testing.assert_array_equal(mine[0], t.numpy())
    assert np.isnan(mine[0][0]) and np.isfinite(mine[0][1:]).all()



@pytest.mark.parametrize("kw", CONFIGS, ids=IDS)
def test_scratch_same_bits_as_low_memory(kw, dtype, rng):
    """A matrix's U kept in the scratch between the passes (the default) or computed
    twice (low_memory=True): the same parameters and states, bit for bit, at 1..4
    threads, over every layout (vectors, whole small matrices, tiled ones, none), with
    a gradient missing at a step."""
    params = _make(rng, SHAPES + TILED + [(0, 4)], dtype)
    seq = _seq(rng, params, 4)
    seq[2][3] = None

    def run(low):
        ps = [p.copy() for p in params]
        o = optim.Adafactor(ps, **kw, low_memory=low)
        for gs in seq:
            o.step([None if g is None else g.copy() for g in gs])
        return ps, o.state_dict()["state"], o

    ref_ps, ref_state, _ = run(True)
    for ps, state, o in run_threads(lambda: run(False), (1, 2, 3, 4)):
        assert_bitwise_equal(ps, ref_ps)
        for k in ref_state:
            assert_bitwise_equal([state[k][s] for s in sorted(state[k])],
                                 [ref_state[k][s] for s in sorted(ref_state[k])])
        assert sum(w.size for w in o._work.values()) >= sum(p.size for p in params)


def test_scratch_bad_work_leaves_everything_untouched(rng):
    from gradkit._ext import optim as k
    p = rng.standard_normal((40, 30)).astype(np.float32)
    g = rng.standard_normal((40, 30)).astype(np.float32)
    for bad in (lambda dt, n: np.empty(n, np.float64), lambda dt, n: np.empty(n - 1, dt),
                lambda dt, n: [0.0] * n):
        q, r, c = p.copy(), np.zeros((40, 1), np.float32), np.zeros((1, 30), np.float32)
        steps = np.zeros(1, np.int64)
        with pytest.raises(ValueError, match="work"):
            k.adafactor([q], [g], [r], [c], [None], steps, 0.01, -0.8, 1e-30, 1e-3, 1.0,
                        0.0, False, None, None, bad)
        assert_bitwise_equal([q, r, c, steps], [p, np.zeros_like(r), np.zeros_like(c),
                                                np.zeros(1, np.int64)])
