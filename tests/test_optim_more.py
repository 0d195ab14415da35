"""NAdam, RAdam, Adamax, Adadelta (torch.optim's) and Lion (optax's): classes and
functional kernels against gradkit.reference.optim and against torch.optim / optax
themselves; param groups, lr changes, None gradients, state dicts both ways with torch,
multi-tensor lists, threads, fused clipping, bad input."""
import copy

import numpy as np
import pytest

from gradkit import clip, optim
from gradkit.optim import functional as F
from gradkit.reference import optim as ref
import test_optim as _o
from conftest import assert_bitwise_equal, run_threads
from test_optim import _close, _grads, _make, _run, _torch_run

TORCH_CONFIGS = [
    ("NAdam", {}),
    ("NAdam", dict(lr=1e-2, weight_decay=0.1)),
    ("NAdam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=1e-2, momentum_decay=0.05, betas=(0.3, 0.5), eps=1e-3)),
    ("NAdam", dict(lr=1e-2, maximize=True, weight_decay=0.05, decoupled_weight_decay=True)),
    ("RAdam", {}),
    ("RAdam", dict(lr=1e-2, betas=(0.9, 0.6))),  # rectified from step 2 on
    ("RAdam", dict(lr=1e-2, weight_decay=0.1, betas=(0.5, 0.7))),
    ("RAdam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, betas=(0.9, 0.6))),
    ("RAdam", dict(lr=1e-2, maximize=True, eps=1e-3, betas=(0.8, 0.5))),
    ("Adamax", {}),
    ("Adamax", dict(lr=1e-2, weight_decay=0.1)),
    ("Adamax", dict(lr=1e-2, betas=(0.3, 0.5), eps=1e-3)),
    ("Adamax", dict(lr=1e-2, maximize=True, weight_decay=0.01, betas=(0.6, 0.9))),
    ("Adadelta", {}),
    ("Adadelta", dict(rho=0.5, eps=1e-3)),
    ("Adadelta", dict(lr=0.5, weight_decay=0.1)),
    ("Adadelta", dict(rho=0.95, maximize=True, weight_decay=0.01)),
    ("Adadelta", dict(rho=1.0)),
]
LION_CONFIGS = [
    dict(lr=1e-2),
    dict(lr=1e-2, weight_decay=0.0),
    dict(lr=1e-2, betas=(0.5, 0.7), weight_decay=0.1),
    dict(lr=1e-2, betas=(0.0, 1.0), maximize=True),
]
LAMB_CONFIGS = [
    dict(lr=1e-2),
    dict(lr=1e-2, weight_decay=0.01),
    dict(lr=1e-2, betas=(0.5, 0.7), eps=1e-3, eps_root=1e-8, weight_decay=0.1),
    dict(lr=1e-2, maximize=True),
]
OPTAX = [("Lion", kw) for kw in LION_CONFIGS] + [("LAMB", kw) for kw in LAMB_CONFIGS]
ALL = TORCH_CONFIGS + OPTAX
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for n, kw in ALL]
SHAPES = [(1, 1), (7, 13), (33,), (0,), (2, 3, 5), (1000,)]


# ---- against the reference ---------------------------------------------------------------

@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_matches_reference_same_dtype(name, kw, dtype, rng):
    """Same formulas in the same dtype and order of operations: bitwise (LAMB: to a few
    ulps, NumPy sums its norms in another order)."""
    params = _make(rng, SHAPES, dtype)
    seq = [_grads(rng, params) for _ in range(30)]
    mine, theirs = [p.copy() for p in params], [p.copy() for p in params]
    a = _run(name, kw, mine, seq)
    b = _run(name, kw, theirs, seq, ref)
    if name == "LAMB":
        _close(mine, theirs, rtol=64 * np.finfo(dtype).eps)
        return
    assert_bitwise_equal(mine, theirs)
    if name == "NAdam":  # the float32 products too
        got = [st["mu_product"] for st in a.state_dict()["state"].values()]
        assert_bitwise_equal(got, [st["mu_product"] for st in b.state if st])


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_float32_close_to_float64_reference(name, kw, rng):
    params = _make(rng, SHAPES, np.float32)
    seq = [_grads(rng, params) for _ in range(30)]
    mine = [p.copy() for p in params]
    _run(name, kw, mine, seq)
    theirs = [p.astype(np.float64) for p in params]
    _run(name, kw, theirs, [[g.astype(np.float64) for g in gs] for gs in seq], ref)
    if name == "LAMB":  # the norms, in float64 both, differ in the last bits
        _close(mine, theirs, rtol=2e-4)
    elif name == "Lion":  # a sign that flips in float32 moves a weight by 2 lr
        assert np.mean([np.mean(np.abs(x - y) <= 1e-4) for x, y in zip(mine, theirs)
                        if x.size]) > 0.97
    else:
        _close(mine, theirs, rtol=2e-3 if name == "Adadelta" else 2e-4)


# ---- against torch.optim / optax ----------------------------------------------------------

@pytest.mark.parametrize("name,kw", TORCH_CONFIGS, ids=IDS[:len(TORCH_CONFIGS)])
def test_matches_torch(name, kw, dtype, rng):
    """test_optim's check: trajectories, step counts and state arrays equal torch's (to
    its FMAs; NAdam's mu_product bitwise: test_nadam_mu_product_is_float32_as_torch)."""
    _o.test_matches_torch(name, kw, dtype, rng)


def test_defaults_match_torch():
    torch = pytest.importorskip("torch")
    for name in ["NAdam", "RAdam", "Adamax", "Adadelta"]:
        mine = getattr(optim, name)([np.zeros(3)]).param_groups[0]
        theirs = getattr(torch.optim, name)([torch.zeros(3)]).param_groups[0]
        for k, v in mine.items():
            if k != "params":
                assert theirs[k] == v, (name, k)


@pytest.mark.parametrize("name,kw", OPTAX, ids=IDS[len(TORCH_CONFIGS):])
def test_matches_optax(name, kw):
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    rng = np.random.default_rng(3)
    params = _make(rng, [(5, 4), (9,)], np.float32)
    seq = [_grads(rng, params) for _ in range(10)]
    mine = [p.copy() for p in params]
    _run(name, kw, mine, seq)
    kw = dict(kw)
    sign = -1 if kw.get("maximize") else 1
    b1, b2 = kw.pop("betas", (0.9, 0.99) if name == "Lion" else (0.9, 0.999))
    kw.pop("maximize", None)
    tx = getattr(optax, name.lower())(kw.pop("lr"), b1=b1, b2=b2, **kw)
    ps = [jnp.asarray(p) for p in params]
    state = tx.init(ps)
    for gs in seq:
        up, state = tx.update([jnp.asarray(sign * g) for g in gs], state, ps)
        ps = optax.apply_updates(ps, up)
    _close(mine, [np.asarray(p) for p in ps], rtol=1e-6 if name == "Lion" else 2e-5)


def test_nadam_mu_product_is_float32_as_torch():
    """torch keeps mu_product as a float32 0-d tensor and multiplies it in float32 even
    for float64 parameters; gradkit does the same (bitwise over 200 steps)."""
    torch = pytest.importorskip("torch")
    p = np.ones(3)
    o = optim.NAdam([p], momentum_decay=0.05)
    t = torch.ones(3, dtype=torch.float64, requires_grad=True)
    to = torch.optim.NAdam([t], momentum_decay=0.05)
    for _ in range(200):
        o.step([np.full(3, 0.1)])
        t.grad = torch.full((3,), 0.1, dtype=torch.float64)
        to.step()
    mine = o.state_dict()["state"][0]["mu_product"]
    theirs = to.state_dict()["state"][0]["mu_product"]
    assert theirs.dtype == torch.float32 and mine.dtype == np.float32
    assert mine.tobytes() == theirs.numpy().tobytes()


def test_radam_switches_to_rectified_step_when_tractable():
    """rho_t <= 5: an un-adapted momentum step (lr * m / bc1); after: the rectified one."""
    p, g = np.zeros(1), np.array([2.0])
    m, v = np.zeros(1), np.zeros(1)
    F.radam_(p, g, m, v, 1, lr=0.1)   # rho_1 = 1 with the default betas
    assert p[0] == -0.1 * 2.0
    q, m, v = np.zeros(1), np.zeros(1), np.zeros(1)
    F.radam_(q, g, m, v, 1, lr=0.1, beta1=0.9, beta2=0.6)
    F.radam_(q, g, m, v, 2, lr=0.1, beta1=0.9, beta2=0.6)  # rho_2 = 5.375 > 5
    assert q[0] < -0.2 + 1e-3 and q[0] != -0.2 * 1.0


# ---- state dict --------------------------------------------------------------------------

@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_state_dict_round_trip_is_bitwise(name, kw, dtype, rng):
    """test_optim's check (resume from a state dict == an uninterrupted run, bitwise)."""
    _o.test_state_dict_round_trip_is_bitwise(name, kw, dtype, rng)


@pytest.mark.parametrize("name,kw", TORCH_CONFIGS, ids=IDS[:len(TORCH_CONFIGS)])
def test_state_dict_both_ways_with_torch(name, kw, rng):
    """torch's state dict loads into gradkit's optimizer and gradkit's (through
    gradkit.torch.optim.to_torch_state_dict) into torch's; each pair then continues
    equally."""
    torch = pytest.importorskip("torch")
    from gradkit.torch.optim import to_torch_state_dict
    params = _make(rng, [(3, 4), (5,)], np.float32)
    seq = [_grads(rng, params) for _ in range(8)]
    theirs, to = _torch_run(torch, name, kw, params, seq[:3])
    mine = [t.copy() for t in theirs]
    o = getattr(optim, name)(mine, **kw)
    o.load_state_dict(to.state_dict())                       # torch -> gradkit
    ts = [torch.tensor(t) for t in theirs]
    to2 = getattr(torch.optim, name)(ts, **kw)
    to2.load_state_dict(to_torch_state_dict(o.state_dict()))  # gradkit -> torch
    for gs in seq[3:]:
        o.step(gs)
        for t, g in zip(ts, gs):
            t.grad = torch.tensor(g)
        to2.step()
    _close(mine, [t.numpy() for t in ts], rtol=1e-4)
    for i, st in o.state_dict()["state"].items():
        assert int(to2.state_dict()["state"][i]["step"]) == st["step"]


# ---- groups, lr changes, None gradients ---------------------------------------------------

@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_param_groups_lr_changes_and_none_gradients(name, kw, rng):
    params = _make(rng, [(6, 7), (50,), (3,)], np.float64)
    mine, theirs = [p.copy() for p in params], [p.copy() for p in params]
    other = {"lr": 0.003, "weight_decay": 0.2}
    a = getattr(optim, name)([{"params": mine[:1]}, {"params": mine[1:], **other}], **kw)
    b = getattr(ref, name)([{"params": theirs[:1]}, {"params": theirs[1:], **other}], **kw)
    for k in range(9):
        gs = _grads(rng, params)
        gs[k % 3] = None
        if k < 3:
            gs[2] = None  # parameter 2 gets its first gradient late
        lr = 0.05 / (1 + k)
        a.param_groups[0]["lr"] = b.param_groups[0]["lr"] = lr
        a.step(gs)
        b.step([None if g is None else g.copy() for g in gs])
    if name == "LAMB":  # its norms: NumPy sums in another order
        _close(mine, theirs, rtol=1e-13)
    else:
        assert_bitwise_equal(mine, theirs)
    untouched = [p.copy() for p in mine]
    a.step([None, None, None])
    assert_bitwise_equal(mine, untouched)


# ---- multi-tensor lists, threads, fused clipping ------------------------------------------

@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_many_arrays_equal_per_array_updates(name, kw):
    _o.test_many_arrays_equal_per_array_updates(name, kw)


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_threads_bitwise(name, kw):
    rng = np.random.default_rng(11)
    params = _make(rng, [(100003,), (300, 301)] + [(2049,)] * 30, np.float32)
    seq = [_grads(rng, params) for _ in range(3)]

    def go():
        ps = [p.copy() for p in params]
        _run(name, kw, ps, seq)
        return ps
    results = run_threads(go, counts=(1, 2, 3, 4))
    for r in results[1:]:
        assert_bitwise_equal(results[0], r)


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_fused_clip_equals_clip_then_step(name, kw, dtype):
    rng = np.random.default_rng(5)
    params = _make(rng, [(7, 13), (33,), (0,), (1000,)], dtype)
    seq = [_grads(rng, params) for _ in range(3)]
    seq[1][1] = None
    a, b = [p.copy() for p in params], [p.copy() for p in params]
    oa, ob = getattr(optim, name)(a, **kw), getattr(optim, name)(b, **kw)
    for gs in seq:
        g = [None if x is None else x.copy() for x in gs]
        t1 = clip.clip_grad_norm_(g, 0.5)
        oa.step(g)
        assert ob.step(gs, max_norm=0.5) == t1
    assert_bitwise_equal(a, b)


def test_noncontiguous_and_byte_swapped_gradients(rng):
    for name, kw in [("NAdam", {}), ("Lion", dict(lr=0.1)), ("Adadelta", {})]:
        p = rng.standard_normal((6, 4))
        g = rng.standard_normal((4, 6))
        a, b, c = [p.copy()], [p.copy()], [p.copy()]
        getattr(optim, name)(a, **kw).step([g.T])
        getattr(optim, name)(b, **kw).step([np.ascontiguousarray(g.T)])
        getattr(optim, name)(c, **kw).step([np.ascontiguousarray(g.T).astype(">f8")])
        assert_bitwise_equal(a, b)
        assert_bitwise_equal(a, c)


def test_nan_propagates():
    p = np.ones(4)
    o = optim.Adamax([p])
    o.step([np.array([np.nan, 1.0, 1.0, 1.0])])
    assert np.isnan(p[0]) and np.isfinite(p[1:]).all()
    o.step([np.ones(4)])
    assert np.isnan(p[0])  # the running max keeps the NaN, as torch.maximum
    q = np.ones(2)
    optim.Lion([q], lr=0.1).step([np.array([np.nan, 1.0])])
    assert np.isnan(q[0]) and q[1] == np.float64(1.0) + (-0.1) * (1.0 + 1e-3)


# ---- functional ------------------------------------------------------------------------

def _functional_cases(g):
    return [
        (lambda m, q, s: m.nadam_(q, g, s[0], s[1], s[2], 3, lr=0.1, weight_decay=0.1,
                                  decoupled=True), 2),
        (lambda m, q, s: m.radam_(q, g, s[0], s[1], 9, lr=0.1, weight_decay=0.1), 2),
        (lambda m, q, s: m.adamax_(q, g, s[0], s[1], 4, lr=0.1, maximize=True), 2),
        (lambda m, q, s: m.adadelta_(q, g, s[0], s[1], rho=0.5, weight_decay=0.1), 2),
        (lambda m, q, s: m.lion_(q, g, s[0], lr=0.1, weight_decay=0.1), 1),
        (lambda m, q, s: m.lamb_(q, g, s[0], s[1], 5, lr=0.1, weight_decay=0.1), 2),
    ]


def test_functional_single_arrays_match_reference(dtype, rng):
    shape = (9, 11)
    p = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    for fn, nstate in _functional_cases(g):
        init = [np.abs(rng.standard_normal(shape)).astype(dtype) for _ in range(nstate)]
        q1, s1 = p.copy(), [a.copy() for a in init] + [np.array(0.8, np.float32)]
        q2, s2 = p.copy(), [a.copy() for a in init] + [np.array(0.8, np.float32)]
        r1, r2 = fn(F, q1, s1), fn(ref, q2, s2)
        if r2 is not None:  # LAMB: the trust ratio, norms summed in another order
            assert r1 == pytest.approx(r2, rel=1e-12)
            _close([q1] + s1, [q2] + s2, rtol=8 * np.finfo(dtype).eps)
        else:
            assert_bitwise_equal([q1] + s1, [q2] + s2)


def test_functional_read_only_and_zero_size(rng):
    g = np.ones(3)
    p = np.zeros(3)
    p.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        F.lion_(p, g, np.zeros(3), lr=0.1)
    z = np.zeros(0, np.float32)
    mp = np.ones((), np.float32)
    F.nadam_(z, z.copy(), z.copy(), z.copy(), mp, 1)
    assert mp == np.float32(1.0 * np.float32(0.9 * (1 - 0.5 * 0.96 ** 0.004)))


def test_functional_lists_equal_single_calls(rng):
    ps = _make(rng, [(5,), (70001,), (3, 3)], np.float32)
    gs = _grads(rng, ps)
    ms, vs = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    mps = [np.ones((), np.float32) for _ in ps]
    a = [p.copy() for p in ps]
    F.nadam_(a, gs, ms, vs, mps, [1, 2, 3], lr=0.1)
    for i, p in enumerate(ps):
        q, mp = p.copy(), np.ones((), np.float32)
        F.nadam_(q, gs[i], np.zeros_like(p), np.zeros_like(p), mp, i + 1, lr=0.1)
        assert_bitwise_equal(q, a[i])
        assert_bitwise_equal(mp, mps[i])


def test_functional_bad_input():
    p, g = np.zeros(3), np.ones(3)
    with pytest.raises(TypeError, match="mu_product"):
        F.nadam_(p, g, np.zeros(3), np.zeros(3), np.ones(()), 1)
    with pytest.raises(TypeError, match="mu_product"):
        F.nadam_(p, g, np.zeros(3), np.zeros(3), 1.0, 1)
    with pytest.raises(ValueError, match="mu_product"):
        F.nadam_(p, g, np.zeros(3), np.zeros(3), np.ones(2, np.float32), 1)
    with pytest.raises(ValueError, match="step"):
        F.radam_(p, g, np.zeros(3), np.zeros(3), 0)
    with pytest.raises(ValueError, match="exp_inf"):
        F.adamax_(p, g, np.zeros(3), None, 1)
    with pytest.raises(ValueError, match="overlaps"):
        F.adadelta_(p, g, np.zeros(3), p)
    with pytest.raises(ValueError, match="rho"):
        F.adadelta_(p, g, np.zeros(3), np.zeros(3), rho=1.5)
    with pytest.raises(ValueError, match="beta1"):
        F.lion_(p, g, np.zeros(3), lr=0.1, beta1=1.5)
    with pytest.raises(TypeError, match="exp_avg"):
        F.lion_(p, g, np.zeros(3, np.float32), lr=0.1)
    with pytest.raises(ValueError, match="momentum_decay"):
        F.nadam_(p, g, np.zeros(3), np.zeros(3), np.ones((), np.float32), 1,
                 momentum_decay=-1.0)
    np.testing.assert_array_equal(p, 0)


# ---- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda ps: optim.NAdam(ps, lr=-1.0),
    lambda ps: optim.NAdam(ps, betas=(1.0, 0.999)),
    lambda ps: optim.NAdam(ps, momentum_decay=-0.1),
    lambda ps: optim.RAdam(ps, betas=(0.9, -0.1)),
    lambda ps: optim.RAdam(ps, eps=-1e-8),
    lambda ps: optim.Adamax(ps, weight_decay=-0.1),
    lambda ps: optim.Adamax(ps, betas=(0.9, 1.0)),
    lambda ps: optim.Adadelta(ps, rho=1.1),
    lambda ps: optim.Adadelta(ps, lr=float("nan")),
    lambda ps: optim.Lion(ps, lr=0.1, betas=(0.9, 1.5)),
    lambda ps: optim.Lion(ps, lr=-0.1),
    lambda ps: optim.Lion(ps + [ps[0]], lr=0.1),
    lambda ps: optim.LAMB(ps, lr=0.1, betas=(1.0, 0.9)),
    lambda ps: optim.LAMB(ps, lr=0.1, eps_root=-1.0),
])
def test_bad_options_raise_value_error(make):
    with pytest.raises(ValueError):
        make([np.zeros(3)])


@pytest.mark.parametrize("make", [
    lambda ps: optim.NAdam([np.zeros(3, np.int64)]),
    lambda ps: optim.RAdam(ps, betas=0.9),
    lambda ps: optim.Lion(ps, lr=0.1, betas=0.9),
    lambda ps: optim.Adadelta(ps, rho="0.9"),
    lambda ps: optim.Adamax(ps, maximize=2),
])
def test_bad_types_raise_type_error(make):
    with pytest.raises(TypeError):
        make([np.zeros(3)])


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_bad_grads_leave_everything_untouched(name, kw, rng):
    _o.test_bad_grads_leave_everything_untouched(name, kw, rng)


def test_load_state_dict_checks_mu_product(rng):
    params = _make(rng, [(3,)], np.float64)
    o = _run("NAdam", {}, params, [_grads(rng, params)])
    bad = copy.deepcopy(o.state_dict())
    bad["state"][0]["mu_product"] = np.ones(2)
    with pytest.raises(TypeError, match="mu_product"):
        o.load_state_dict(bad)
    bad["state"][0]["mu_product"] = 0.5
    o.load_state_dict(bad)
    assert o.state_dict()["state"][0]["mu_product"] == np.float32(0.5)


def test_replaced_param_keeps_others_mu_product(rng):
    """Replacing a parameter in param_groups re-syncs the state; the others keep their
    mu_product (a per-parameter number kept next to the step count)."""
    a, b = np.ones(3), np.ones(4)
    o = optim.NAdam([a, b])
    o.step([np.ones(3), np.ones(4)])
    mp = o.state_dict()["state"][1]["mu_product"].copy()
    o.param_groups[0]["params"][0] = np.ones(5)
    o.step([np.ones(5), None])
    sd = o.state_dict()["state"]
    assert sd[1]["mu_product"] == mp and sd[1]["step"] == 1
    assert sd[0]["step"] == 1


def test_lamb_one_step_by_hand():
    p = np.array([3.0, 4.0])                 # ||p|| = 5
    g = np.array([0.6, -0.8])
    m, v = np.zeros(2), np.zeros(2)
    r = F.lamb_(p, g, m, v, 1, lr=0.1, eps=0.0, weight_decay=0.5)
    # first step: m/bc1 = g, v/bc2 = g^2, so u = sign(g) + 0.5 p = (2.5, 1.0)
    u = np.array([2.5, 1.0])
    assert r == pytest.approx(5 / np.sqrt(7.25), rel=1e-12)
    np.testing.assert_allclose(p, np.array([3.0, 4.0]) - 0.1 * r * u, rtol=1e-12)
    q = np.zeros(2)
    assert F.lamb_(q, g, np.zeros(2), np.zeros(2), 1, lr=0.1) == 1.0  # ||p|| = 0


# ---- LAMB's scratch for u (gk_lamb_multi_work) --------------------------------------------

@pytest.mark.parametrize("kw", LAMB_CONFIGS, ids=[str(k) for k in LAMB_CONFIGS])
def test_lamb_scratch_same_bits_as_low_memory(kw, dtype, rng):
    """u kept in the scratch between the passes (the default) or computed twice
    (low_memory=True): the same parameters, states and trust ratios, bit for bit, at
    1..4 threads, over arrays of several chunks and none, with gradients missing."""
    shapes = SHAPES + [(70001,), (3, 40000)]
    params = _make(rng, shapes, dtype)
    seq = [_grads(rng, params) for _ in range(4)]
    seq[2][1] = None  # a parameter without gradient: its u is not in that step's scratch

    def run(low):
        ps = [p.copy() for p in params]
        o = optim.LAMB(ps, **kw, low_memory=low)
        for gs in seq:
            o.step([None if g is None else g.copy() for g in gs])
        states = [[st["exp_avg"], st["exp_avg_sq"]] for st in o.state_dict()["state"].values()]
        return ps, states, o

    ref_ps, ref_states, _ = run(True)
    for ps, states, o in run_threads(lambda: run(False), (1, 2, 3, 4)):
        assert_bitwise_equal(ps, ref_ps)
        assert_bitwise_equal(states, ref_states)
        assert all(w.dtype == dtype for w in o._work.values())
        assert sum(w.size for w in o._work.values()) >= sum(p.size for p in params)


def test_lamb_scratch_ratios_and_bad_work(rng):
    """The kernel's trust ratios are the same with the scratch; a work() that returns
    the wrong array is refused before anything is written."""
    from gradkit._ext import optim as k
    p = rng.standard_normal(1000).astype(np.float32)
    g = rng.standard_normal(1000).astype(np.float32)
    opts = (0.01, 0.9, 0.999, 1e-6, 0.0, 0.1, False)

    def call(work, steps):
        q, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
        r = k.lamb([q], [g], [m], [v], steps, *opts, None, None, work)
        return q, m, v, r
    a = call(None, np.zeros(1, np.int64))
    b = call(lambda dt, n: np.full(n + 3, np.nan, dt), np.zeros(1, np.int64))
    assert_bitwise_equal(list(a[:3]), list(b[:3]))
    assert a[3] == b[3]
    for bad in (lambda dt, n: np.empty(n, np.float64), lambda dt, n: np.empty(n - 1, dt),
                lambda dt, n: np.empty(2 * n, dt)[::2]):
        steps = np.zeros(1, np.int64)
        q, m = p.copy(), np.zeros_like(p)
        with pytest.raises(ValueError, match="work"):
            k.lamb([q], [g], [m], [np.zeros_like(p)], steps, *opts, None, None, bad)
        assert_bitwise_equal([q, m, steps], [p, np.zeros_like(p), np.zeros(1, np.int64)])
