"""Optimizers: classes and functional kernels against gradkit.reference.optim (torch's
formulas) and against torch.optim itself; param groups, lr changes, None gradients,
state dict round trips, multi-tensor lists, threads, bad input."""
import copy

import numpy as np
import pytest

from gradkit import optim
from gradkit.optim import functional as F
from gradkit.reference import optim as ref
from conftest import assert_bitwise_equal, run_threads

# (class name, options): every option of every optimizer, alone and combined
CONFIGS = [
    ("SGD", {}),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.01, maximize=True)),
    ("Adam", {}),
    ("Adam", dict(lr=1e-2, amsgrad=True)),
    ("Adam", dict(lr=1e-2, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, maximize=True)),
    ("Adam", dict(lr=1e-2, betas=(0.3, 0.5), eps=1e-3)),
    ("Adam", dict(lr=1e-2, weight_decay=0.05, amsgrad=True, maximize=True)),
    ("AdamW", {}),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=1e-2, maximize=True)),
    ("RMSprop", {}),
    ("RMSprop", dict(centered=True)),
    ("RMSprop", dict(momentum=0.9)),
    ("RMSprop", dict(weight_decay=0.1, alpha=0.3)),
    ("RMSprop", dict(centered=True, momentum=0.5, weight_decay=0.01, maximize=True)),
    ("Adagrad", {}),
    ("Adagrad", dict(lr_decay=0.1)),
    ("Adagrad", dict(initial_accumulator_value=0.5, weight_decay=0.1)),
    ("Adagrad", dict(lr_decay=0.01, maximize=True, eps=1e-6)),
]
LARS_CONFIGS = [
    dict(lr=0.5),
    dict(lr=0.5, weight_decay=0.01),
    dict(lr=0.5, momentum=0.0, trust_coefficient=0.02, eps=1e-3),
    dict(lr=0.5, weight_decay=0.1, nesterov=True),
]
ALL = CONFIGS + [("LARS", kw) for kw in LARS_CONFIGS]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for n, kw in ALL]

SHAPES = [(1, 1), (7, 13), (33,), (0,), (2, 3, 5), (1000,)]


def _make(rng, shapes, dtype):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _grads(rng, params):
    return [rng.standard_normal(p.shape).astype(p.dtype) for p in params]


def _run(name, kw, params, grad_seq, module=optim):
    o = getattr(module, name)(params, **kw)
    for grads in grad_seq:
        o.step([None if g is None else g.copy() for g in grads])
    return o


def _close(a, b, rtol, scale=None):
    for x, y in zip(a, b):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        s = scale if scale is not None else (float(np.abs(y).max()) if y.size else 1.0)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * max(s, 1e-30))


# ---- against the reference --------------------------------------------------------------

@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_matches_reference_same_dtype(name, kw, dtype, rng):
    """Same formulas in the same dtype and order: equal to a few ulps (in practice
    bitwise; LARS's norms are summed in another order by NumPy)."""
    params = _make(rng, SHAPES, dtype)
    seq = [_grads(rng, params) for _ in range(30)]
    mine = [p.copy() for p in params]
    theirs = [p.copy() for p in params]
    _run(name, kw, mine, seq)
    _run(name, kw, theirs, seq, ref)
    eps = np.finfo(dtype).eps
    _close(mine, theirs, rtol=64 * eps if name == "LARS" else 4 * eps)


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_float32_close_to_float64_reference(name, kw, rng):
    params = _make(rng, SHAPES, np.float32)
    seq = [_grads(rng, params) for _ in range(30)]
    mine = [p.copy() for p in params]
    _run(name, kw, mine, seq)
    theirs = [p.astype(np.float64) for p in params]
    _run(name, kw, theirs, [[g.astype(np.float64) for g in gs] for gs in seq], ref)
    _close(mine, theirs, rtol=2e-4)


# ---- against torch.optim ----------------------------------------------------------------

def _torch_run(torch, name, kw, params, grad_seq):
    ts = [torch.tensor(p.copy()) for p in params]
    o = getattr(torch.optim, name)(ts, **kw)
    for grads in grad_seq:
        for t, g in zip(ts, grads):
            t.grad = None if g is None else torch.tensor(g.copy())
        o.step()
    return [t.numpy() for t in ts], o


@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS[:len(CONFIGS)])
def test_matches_torch(name, kw, dtype, rng):
    torch = pytest.importorskip("torch")
    params = _make(rng, [(7, 13), (33,), (1,), (300,)], dtype)
    seq = [_grads(rng, params) for _ in range(25)]
    for gs in seq[::4]:
        gs[1] = None  # a parameter without gradient on some steps: its step count lags
    mine = [p.copy() for p in params]
    o = _run(name, kw, mine, seq)
    theirs, to = _torch_run(torch, name, kw, params, seq)
    # torch's kernels contract some multiply-adds into FMAs: not bitwise
    _close(mine, theirs, rtol=1e-4 if dtype == np.float32 else 1e-11)
    # same state: step counts and state arrays
    sd, tsd = o.state_dict(), to.state_dict()
    assert sorted(sd["state"]) == sorted(k for k, v in tsd["state"].items() if v)
    for i, st in sd["state"].items():
        for key, val in st.items():
            tv = tsd["state"][i][key]
            if key == "step":
                assert val == int(tv)
            else:
                _close([val], [tv.numpy()], rtol=1e-3 if dtype == np.float32 else 1e-9)


def test_defaults_match_torch():
    torch = pytest.importorskip("torch")
    p = [np.zeros(3)]
    t = [torch.zeros(3)]
    for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]:
        mine = getattr(optim, name)(p).param_groups[0]
        theirs = getattr(torch.optim, name)(t).param_groups[0]
        for k, v in mine.items():
            if k != "params":
                assert theirs[k] == v, (name, k)


# ---- LARS ----------------------------------------------------------------------------------

def test_lars_one_step_by_hand():
    p = np.array([3.0, 4.0])             # ||p|| = 5
    g = np.array([0.6, 0.8])             # ||g + 0.5 p|| = ||(2.1, 2.8)|| = 3.5
    t = np.zeros(2)
    r = F.lars_(p, g, t, lr=0.1, momentum=0.9, weight_decay=0.5, trust_coefficient=0.01,
                eps=0.0)
    assert r == pytest.approx(0.01 * 5 / 3.5, rel=1e-15)
    u = -0.1 * r * np.array([2.1, 2.8])
    np.testing.assert_allclose(t, u, rtol=1e-15)
    np.testing.assert_allclose(p, np.array([3.0, 4.0]) + u, rtol=1e-15)


def test_lars_zero_norms_use_ratio_one():
    t = np.zeros(3)
    p = np.zeros(3)
    g = np.array([1.0, -2.0, 0.5])
    assert F.lars_(p, g, t, lr=0.1) == 1.0         # ||param|| = 0: plain momentum SGD
    np.testing.assert_allclose(p, -0.1 * g)
    q = np.array([1.0, 2.0, 3.0])
    assert F.lars_(q, np.zeros(3), np.zeros(3), lr=0.1) == 1.0   # ||update|| = 0
    np.testing.assert_array_equal(q, [1.0, 2.0, 3.0])


def test_lars_matches_optax():
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    rng = np.random.default_rng(3)
    params = _make(rng, [(5, 4), (9,)], np.float64)
    seq = [_grads(rng, params) for _ in range(10)]
    kw = dict(weight_decay=0.01, trust_coefficient=0.02, eps=1e-4, momentum=0.9)
    mine = [p.copy() for p in params]
    _run("LARS", dict(lr=0.3, **kw), mine, seq)
    tx = optax.lars(0.3, **kw)
    ps = [jnp.asarray(p) for p in params]
    state = tx.init(ps)
    for gs in seq:
        up, state = tx.update([jnp.asarray(g) for g in gs], state, ps)
        ps = optax.apply_updates(ps, up)
    _close(mine, [np.asarray(p) for p in ps], rtol=1e-5)


# ---- groups, lr changes, None gradients ---------------------------------------------------

@pytest.mark.parametrize("name,kw,other", [
    ("SGD", dict(lr=0.1), dict(lr=0.01, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=1e-2), dict(lr=1e-3, amsgrad=True, weight_decay=0.1, betas=(0.5, 0.9))),
    ("AdamW", dict(lr=1e-2), dict(weight_decay=0.5)),
    ("RMSprop", dict(), dict(centered=True, momentum=0.9)),
    ("Adagrad", dict(), dict(lr_decay=0.5, eps=1e-6)),
    ("LARS", dict(lr=0.5), dict(lr=0.1, weight_decay=0.1, nesterov=True)),
])
def test_param_groups_with_different_options(name, kw, other, dtype, rng):
    params = _make(rng, [(4, 5), (100,), (3,), (2, 2)], dtype)
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], **other}]  # noqa: E731
    seq = [_grads(rng, params) for _ in range(12)]
    mine = [p.copy() for p in params]
    theirs = [p.copy() for p in params]
    o = _run(name, kw, groups(mine), seq)
    _run(name, kw, groups(theirs), seq, ref)
    _close(mine, theirs, rtol=64 * np.finfo(dtype).eps)
    assert o.param_groups[1][next(iter(other))] == other[next(iter(other))]


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_lr_changed_between_steps(name, kw, rng):
    params = _make(rng, [(6, 7), (50,)], np.float64)
    mine, theirs = [p.copy() for p in params], [p.copy() for p in params]
    a = getattr(optim, name)(mine, **kw)
    b = getattr(ref, name)(theirs, **kw)
    for k in range(10):
        lr = 0.05 / (1 + k)
        a.param_groups[0]["lr"] = lr
        b.param_groups[0]["lr"] = lr
        gs = _grads(rng, params)
        a.step(gs)
        b.step([g.copy() for g in gs])
    _close(mine, theirs, rtol=1e-13)


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_none_gradients_skip_parameters(name, kw, rng):
    params = _make(rng, [(6, 7), (50,), (3,)], np.float64)
    mine, theirs = [p.copy() for p in params], [p.copy() for p in params]
    seq = []
    for k in range(9):
        gs = _grads(rng, params)
        gs[k % 3] = None
        if k < 3:
            gs[2] = None  # parameter 2 gets its first gradient late
        seq.append(gs)
    o = _run(name, kw, mine, seq)
    _run(name, kw, theirs, seq, ref)
    _close(mine, theirs, rtol=1e-13)
    untouched = [p.copy() for p in mine]
    o.step([None, None, None])
    assert_bitwise_equal(mine, untouched)


def test_changed_params_list_is_read_at_step(rng):
    """As torch, step() re-reads each group's params list: an appended parameter is
    updated from then on, and the gradients must align with the new list."""
    params = _make(rng, [(3,), (4,)], np.float64)
    o = optim.SGD([{"params": [params[0]]}, {"params": [params[1]]}], lr=0.1)
    extra = np.zeros(2)
    o.param_groups[1]["params"].append(extra)
    before = [p.copy() for p in params]
    with pytest.raises(ValueError, match="grads has 2 entries"):
        o.step([np.ones(3), np.ones(4)])
    assert_bitwise_equal(params, before)
    o.step([np.ones(3), np.ones(4), np.ones(2)])
    assert extra.tolist() == [-0.1, -0.1]
    o.param_groups[1]["params"].pop()
    o.add_param_group({"params": [np.zeros(2)], "lr": 1.0})
    o.step([np.ones(3), np.ones(4), np.ones(2)])
    assert o.param_groups[2]["params"][0].tolist() == [-1.0, -1.0]


def test_options_changed_between_steps(rng):
    """Turning on momentum, amsgrad or centering later creates the state then, as
    torch's lazy state does."""
    params = _make(rng, [(5, 5)], np.float64)
    for name, change in [("SGD", dict(momentum=0.9)), ("Adam", dict(amsgrad=True)),
                         ("RMSprop", dict(centered=True, momentum=0.5))]:
        mine, theirs = [params[0].copy()], [params[0].copy()]
        a, b = getattr(optim, name)(mine, lr=0.01), getattr(ref, name)(theirs, lr=0.01)
        for k in range(6):
            if k == 3:
                a.param_groups[0].update(change)
                b.param_groups[0].update(change)
            gs = _grads(rng, params)
            a.step(gs)
            b.step(gs)
        _close(mine, theirs, rtol=1e-14)


# ---- state dict ------------------------------------------------------------------------

@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_state_dict_round_trip_is_bitwise(name, kw, dtype, rng):
    params = _make(rng, [(4, 5), (37,), (1,)], dtype)
    groups = lambda ps: [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.02}]  # noqa: E731
    seq = [_grads(rng, params) for _ in range(10)]
    seq[2][1] = None
    whole = [p.copy() for p in params]
    _run(name, kw, groups(whole), seq)

    first = [p.copy() for p in params]
    o = _run(name, kw, groups(first), seq[:5])
    sd = o.state_dict()
    resumed = [p.copy() for p in first]
    o2 = getattr(optim, name)(groups(resumed), **kw)
    o2.load_state_dict(sd)
    for arr in (a for st in sd["state"].values() for a in st.values()
                if isinstance(a, np.ndarray)):
        arr[...] = 12345  # both optimizers hold copies, not the dict's arrays
    for gs in seq[5:]:
        o2.step([None if g is None else g.copy() for g in gs])
        o.step([None if g is None else g.copy() for g in gs])  # keeps going too
    assert_bitwise_equal(resumed, whole)
    assert_bitwise_equal(first, whole)


def test_state_dict_layout_matches_torch(rng):
    torch = pytest.importorskip("torch")
    params = _make(rng, [(3, 2), (4,)], np.float32)
    seq = [_grads(rng, params)]
    seq[0][1] = None
    o = _run("Adam", dict(amsgrad=True), [p.copy() for p in params], seq)
    _, to = _torch_run(torch, "Adam", dict(amsgrad=True), params, seq)
    sd, tsd = o.state_dict(), to.state_dict()
    assert set(sd["state"]) == set(tsd["state"]) == {0}
    assert set(sd["state"][0]) == set(tsd["state"][0])
    assert sd["param_groups"][0]["params"] == tsd["param_groups"][0]["params"]


@pytest.mark.parametrize("name,kw", [("Adam", dict(amsgrad=True)), ("SGD", dict(momentum=0.9)),
                                     ("RMSprop", dict(centered=True, momentum=0.5)),
                                     ("Adagrad", dict(lr_decay=0.1))])
def test_loads_a_torch_state_dict(name, kw, rng, shapes=((3, 4), (5,)), rtol=1e-11):
    torch = pytest.importorskip("torch")
    params = _make(rng, shapes, np.float64)
    seq = [_grads(rng, params) for _ in range(6)]
    theirs, to = _torch_run(torch, name, kw, params, seq[:3])
    mine = [t.copy() for t in theirs]
    o = getattr(optim, name)(mine, **kw)
    o.load_state_dict(to.state_dict())
    ts = [torch.tensor(t) for t in theirs]  # torch continues from the same point
    to2 = getattr(torch.optim, name)(ts, **kw)
    to2.load_state_dict(to.state_dict())
    for gs in seq[3:]:
        o.step(gs)
        for t, g in zip(ts, gs):
            t.grad = torch.tensor(g)
        to2.step()
    _close(mine, [t.numpy() for t in ts], rtol=rtol)


def test_load_state_dict_rejects_mismatch_and_changes_nothing(rng):
    params = _make(rng, [(3, 2), (4,)], np.float64)
    o = _run("Adam", {}, params, [_grads(rng, params)])
    before = o.state_dict()
    bad = copy.deepcopy(before)
    bad["state"][1]["exp_avg"] = np.zeros(5)
    with pytest.raises(ValueError, match="shape"):
        o.load_state_dict(bad)
    bad = copy.deepcopy(before)
    bad["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr"):
        o.load_state_dict(bad)
    bad = copy.deepcopy(before)
    bad["param_groups"][0]["params"] = [0]
    with pytest.raises(ValueError, match="parameters"):
        o.load_state_dict(bad)
    after = o.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for i in before["state"]:
        assert_bitwise_equal(list(after["state"][i].values())[1:],
                             list(before["state"][i].values())[1:])


# ---- multi-tensor lists, dtypes, threads ---------------------------------------------------

@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_many_arrays_equal_per_array_updates(name, kw):
    rng = np.random.default_rng(7)
    sizes = [int(s) for s in rng.integers(0, 5000, 40)] + [1, 17, 4097, 70001]
    dtypes = [np.float32 if i % 3 else np.float64 for i in range(len(sizes))]
    params = [rng.standard_normal(s).astype(d) for s, d in zip(sizes, dtypes)]
    seq = [_grads(rng, params) for _ in range(4)]
    together = [p.copy() for p in params]
    _run(name, kw, together, seq)
    for i, p in enumerate(params):
        alone = [p.copy()]
        _run(name, kw, alone, [[gs[i]] for gs in seq])
        assert_bitwise_equal(alone[0], together[i])


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_threads_bitwise(name, kw):
    rng = np.random.default_rng(11)
    params = _make(rng, [(100003,), (300, 301)] + [(2049,)] * 30, np.float32)
    seq = [_grads(rng, params) for _ in range(3)]

    def go():
        ps = [p.copy() for p in params]
        _run(name, kw, ps, seq)
        return ps
    one, two = run_threads(go)
    assert_bitwise_equal(one, two)


def test_noncontiguous_gradient_is_copied(rng):
    p = rng.standard_normal((6, 4))
    g = rng.standard_normal((4, 6))
    a, b = [p.copy()], [p.copy()]
    optim.Adam(a, lr=0.1).step([g.T])
    optim.Adam(b, lr=0.1).step([np.ascontiguousarray(g.T)])
    assert_bitwise_equal(a, b)


def test_nan_propagates(rng):
    p = np.ones(4)
    o = optim.Adam([p], amsgrad=True)
    o.step([np.array([np.nan, 1.0, 1.0, 1.0])])
    assert np.isnan(p[0]) and np.isfinite(p[1:]).all()
    o.step([np.ones(4)])
    assert np.isnan(p[0])  # the max of the raw second moment keeps the NaN, as torch


# ---- functional ------------------------------------------------------------------------

def test_functional_single_arrays_match_reference(dtype, rng):
    shape = (9, 11)
    p = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    cases = [
        (lambda m, q, s: m.sgd_(q, g, None, lr=0.1, momentum=0.9), 1),
        (lambda m, q, s: m.adam_(q, g, s[0], s[1], 3, lr=0.1, amsgrad=True,
                                 max_exp_avg_sq=s[2], decoupled=True,
                                 weight_decay=0.1), 3),
        (lambda m, q, s: m.rmsprop_(q, g, s[0], grad_avg=s[1], momentum_buffer=s[2],
                                    centered=True, momentum=0.5), 3),
        (lambda m, q, s: m.adagrad_(q, g, s[0], 4, lr_decay=0.1), 1),
        (lambda m, q, s: m.lars_(q, g, s[0], lr=0.1, weight_decay=0.1), 1),
    ]
    for fn, nstate in cases:
        # states: a second moment (first) larger than the square of the others
        init = [(np.abs(rng.standard_normal(shape)) * (1.0 if k else 4.0) + (0 if k else 1))
                .astype(dtype) * (1 if k == 0 else 0.25) for k in range(nstate)]
        q1, s1 = p.copy(), [a.copy() for a in init]
        q2, s2 = p.copy(), [a.copy() for a in init]
        r1, r2 = fn(F, q1, s1), fn(ref, q2, s2)
        _close([q1] + s1, [q2] + s2, rtol=64 * np.finfo(dtype).eps)
        if isinstance(r2, np.ndarray):
            _close([r1], [r2], rtol=0)
    assert F.sgd_(p.copy(), g, lr=0.1) is None


def test_functional_lists_equal_single_calls(rng):
    ps = _make(rng, [(5,), (70001,), (3, 3)], np.float32)
    gs = _grads(rng, ps)
    ms, vs = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    a = [p.copy() for p in ps]
    F.adam_(a, gs, ms, vs, [1, 2, 3], lr=0.1)
    for i, p in enumerate(ps):
        q = p.copy()
        F.adam_(q, gs[i], np.zeros_like(p), np.zeros_like(p), i + 1, lr=0.1)
        assert_bitwise_equal(q, a[i])
    bufs = F.sgd_(a, gs, [None, None, None], lr=0.1, momentum=0.9)
    assert [b.shape for b in bufs] == [p.shape for p in ps]
    assert_bitwise_equal(bufs, [g for g in gs])  # first step: buffer = gradient


def test_functional_bad_input():
    p, g = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        F.adam_(p, g, np.zeros(3), np.zeros(3), 1, amsgrad=True)
    with pytest.raises(ValueError, match="step"):
        F.adam_(p, g, np.zeros(3), np.zeros(3), 0)
    with pytest.raises(TypeError, match="step"):
        F.adagrad_(p, g, np.zeros(3), 1.5)
    with pytest.raises(ValueError, match="grad_avg"):
        F.rmsprop_(p, g, np.zeros(3), centered=True)
    with pytest.raises(TypeError, match="exp_avg"):
        F.adam_(p, g, np.zeros(3, np.float32), np.zeros(3), 1)
    with pytest.raises(ValueError, match="overlaps"):
        F.adagrad_(p, g, p, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        F.sgd_(np.zeros((3, 3)).T, np.zeros((3, 3)))
    np.testing.assert_array_equal(p, 0)


# ---- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=-1.0),
    lambda ps: optim.SGD(ps, momentum=-0.1),
    lambda ps: optim.SGD(ps, nesterov=True),
    lambda ps: optim.SGD(ps, momentum=0.9, dampening=0.1, nesterov=True),
    lambda ps: optim.Adam(ps, betas=(1.0, 0.999)),
    lambda ps: optim.Adam(ps, betas=(0.9, -0.1)),
    lambda ps: optim.Adam(ps, eps=-1e-8),
    lambda ps: optim.AdamW(ps, weight_decay=-0.1),
    lambda ps: optim.RMSprop(ps, alpha=-0.5),
    lambda ps: optim.Adagrad(ps, lr_decay=-1.0),
    lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1.0),
    lambda ps: optim.LARS(ps, lr=float("nan")),
    lambda ps: optim.Adam([]),
    lambda ps: optim.Adam(ps + [ps[0]]),
    lambda ps: optim.Adam([np.zeros((3, 3)).T]),
])
def test_bad_options_raise_value_error(make):
    with pytest.raises(ValueError):
        make([np.zeros(3)])


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam([np.zeros(3, np.int64)]),
    lambda ps: optim.Adam([[1.0, 2.0]]),
    lambda ps: optim.Adam(ps[0]),
    lambda ps: optim.Adam(ps, betas=0.9),
    lambda ps: optim.SGD(ps, lr="0.1"),
])
def test_bad_types_raise_type_error(make):
    with pytest.raises(TypeError):
        make([np.zeros(3)])


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_bad_grads_leave_everything_untouched(name, kw, rng):
    params = _make(rng, [(4, 3), (5,), (2,)], np.float32)
    o = getattr(optim, name)([{"params": params[:2]}, {"params": params[2:]}], **kw)
    o.step(_grads(rng, params))
    before = [p.copy() for p in params]
    sd = o.state_dict()
    good = _grads(rng, params)
    bad_lists = [
        (good[:2], ValueError, "entries"),
        (good + [good[0]], ValueError, "entries"),
        (good[:2] + [np.ones(3, np.float32)], ValueError, "shape"),
        (good[:2] + [np.ones(2, np.float64)], TypeError, "dtype"),
        (good[:2] + [[1.0, 2.0]], TypeError, "numpy array"),
        (7, TypeError, "list"),
    ]
    for grads, exc, match in bad_lists:
        with pytest.raises(exc, match=match):
            o.step(grads)
    o.param_groups[1]["lr"] = "0.5"    # an option that is no number, in the LAST group
    with pytest.raises(TypeError, match="lr"):
        o.step(good)
    assert_bitwise_equal(params, before)
    after = o.state_dict()
    for i in sd["state"]:
        for k, v in sd["state"][i].items():
            assert_bitwise_equal(np.asarray(after["state"][i][k]), np.asarray(v))


# ---- C level (gradkit.capi) -------------------------------------------------------------

def _capi_adam(sfx):
    """gradkit.capi's gk_adam_<sfx> as a ctypes function, through its capsule."""
    import ctypes
    import gradkit.capi
    cap = gradkit.capi.__pyx_capi__[f"gk_adam_{sfx}"]
    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype = ctypes.c_char_p
    api.PyCapsule_GetName.argtypes = [ctypes.py_object]
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    addr = api.PyCapsule_GetPointer(cap, api.PyCapsule_GetName(cap))
    P = ctypes.c_void_p
    d = ctypes.c_double
    proto = ctypes.CFUNCTYPE(ctypes.c_int, P, P, P, P, ctypes.c_ssize_t, ctypes.c_long,
                             d, d, d, d, d, ctypes.c_int)
    return proto(addr)


@pytest.mark.parametrize("decoupled", [0, 1])
def test_capi_adam_matches_functional(decoupled, dtype, rng):
    fn = _capi_adam("f32" if dtype == np.float32 else "f64")
    p = rng.standard_normal(1001).astype(dtype)
    m, v = np.zeros_like(p), np.zeros_like(p)
    q, m2, v2 = p.copy(), m.copy(), v.copy()
    for step in (1, 2, 3):
        g = rng.standard_normal(p.shape).astype(dtype)
        err = fn(p.ctypes.data, g.ctypes.data, m.ctypes.data, v.ctypes.data, p.size, step,
                 0.01, 0.9, 0.99, 1e-8, 0.1, decoupled)
        assert err == 0
        F.adam_(q, g, m2, v2, step, lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8,
                weight_decay=0.1, decoupled=bool(decoupled))
    assert_bitwise_equal([p, m, v], [q, m2, v2])
    before = p.copy()
    for bad in [dict(lr=-1.0), dict(step=0), dict(beta1=1.0), dict(eps=-1.0)]:
        a = dict(lr=0.01, step=1, beta1=0.9, eps=1e-8) | bad
        assert fn(p.ctypes.data, g.ctypes.data, m.ctypes.data, v.ctypes.data, p.size,
                  a["step"], a["lr"], a["beta1"], 0.99, a["eps"], 0.0, 0) != 0
    assert_bitwise_equal(p, before)


# ---- issue 10 regressions: the kernel runs on what was checked -------------------------

@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad", "LARS"])
def test_replaced_param_is_checked_and_starts_fresh(name):
    """Replacing an array in param_groups[i]["params"] after a step used to check the
    gradients against the old array and run the kernel on the new one (float64 SGD
    with momentum: heap corruption).  Now the new array is checked, and its state starts
    fresh, as torch keys state by parameter."""
    kw = dict(lr=0.1, momentum=0.9) if name in ("SGD", "RMSprop") else dict(lr=0.1)
    old, other = np.ones(4), np.ones(3)
    o = getattr(optim, name)([old, other], **kw)
    o.step([np.ones(4), np.ones(3)])
    big = np.ones(1000)
    o.param_groups[0]["params"][0] = big
    snap = big.copy(), other.copy()
    with pytest.raises(ValueError, match=r"grads\[0\] has shape \(4,\)"):
        o.step([np.ones(4), np.ones(3)])
    assert_bitwise_equal(list(snap), [big, other])
    o.step([np.full(1000, 0.5), np.ones(3)])
    fresh = np.ones(1000)
    getattr(optim, name)([fresh], **kw).step([np.full(1000, 0.5)])
    assert_bitwise_equal(big, fresh)  # a first step: no state from `old`
    # the state follows its parameter: swapping the two keeps each one's state
    a, b = getattr(optim, name)([np.ones(3), np.ones(3) * 2], **kw), None
    a.step([np.ones(3), np.ones(3)])
    sd = a.state_dict()
    ps = a.param_groups[0]["params"]
    ps[0], ps[1] = ps[1], ps[0]
    sd2 = a.state_dict()
    for k in sd["state"][0]:
        assert_bitwise_equal(np.asarray(sd2["state"][1][k]), np.asarray(sd["state"][0][k]))


def test_param_changed_in_place_is_rejected():
    p = np.ones(6)
    o = optim.SGD([p], lr=0.1, momentum=0.9)
    o.step([np.ones(6)])
    p.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\] must be writable"):
        o.step([np.ones(6)])
    p.flags.writeable = True
    p.shape = (2, 3)  # its momentum buffer has shape (6,)
    with pytest.raises(ValueError, match="changed dtype or shape"):
        o.step([np.ones((2, 3))])
    p.shape = (6,)
    q = np.ones(4, np.float32)
    o.param_groups[0]["params"].append(q.astype(">f4"))
    with pytest.raises(TypeError, match=r"params\[1\].*native byte order"):
        o.step([np.ones(6), np.ones(4, np.float32)])
    o.param_groups[0]["params"][1] = p[:3]  # overlaps params[0]
    with pytest.raises(ValueError, match="overlaps"):
        o.step([np.ones(6), np.ones(3)])


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LARS"])
def test_byte_swapped_gradients_are_read_correctly(name):
    """'>f4' gradients used to be read as native bytes (the step silently did nothing
    or garbage); they are converted once, so the step equals the native one."""
    rng = np.random.default_rng(3)
    g = [rng.standard_normal(5).astype(np.float32), rng.standard_normal(3)]
    p1 = [np.ones(5, np.float32), np.ones(3)]
    p2 = [a.copy() for a in p1]
    for p, grads in [(p1, g), (p2, [a.astype(a.dtype.newbyteorder(">")) for a in g])]:
        o = getattr(optim, name)(p, lr=0.1)
        o.step(grads)
        o.step(grads)
    assert_bitwise_equal(p1, p2)
    assert not np.array_equal(p1[0], np.ones(5, np.float32))


def test_functional_aliasing_and_huge_ints_and_names():
    p, g = np.ones(3), np.ones(3)
    m = np.zeros(3)
    with pytest.raises(ValueError, match="exp_avg_sq overlaps exp_avg"):
        F.adam_(p, g, m, m, 1)
    with pytest.raises(ValueError, match="overlaps"):
        F.sgd_(p, g, p, momentum=0.9)
    buf = np.zeros(6)
    with pytest.raises(ValueError, match=r"param\[1\] overlaps param\[0\]"):
        F.sgd_([buf[:4], buf[2:]], [np.ones(4), np.ones(4)], lr=0.1)
    with pytest.raises(ValueError, match="step"):
        F.adam_(p, g, np.zeros(3), np.zeros(3), step=2 ** 70)
    with pytest.raises(ValueError, match="beta1"):
        F.adam_(p, g, np.zeros(3), np.zeros(3), 1, beta1=1.0)
    with pytest.raises(ValueError, match=r"betas\[0\]"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(TypeError, match="param .*native byte order"):
        F.sgd_(np.ones(3, ">f8"), g, lr=0.1)
    with pytest.raises(TypeError, match="exp_avg"):
        F.adam_(p, g, np.zeros(3, ">f8"), np.zeros(3), 1)
    assert_bitwise_equal(p, np.ones(3))
