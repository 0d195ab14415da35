"""Optimizers in 16-bit storage (float16, bfloat16): every optimizer but Adafactor
(whose states default to float32 for 16-bit parameters: tests/test_adafactor_half.py),
through the classes and optim.functional.

- pure 16-bit (parameters, gradients and states in one 16-bit dtype, no master weights,
  as torch steps bf16 parameters): bitwise equal to gradkit's float32 step on the
  widened arrays, each result rounded once, and within 1 ulp of the NumPy twin (float32
  formulas on widened copies, rounded once: _float32_twin);
- master_weights=True: the 16-bit trajectory equals a float32 run of the same updates
  on the master with the parameter = master rounded after each step, bitwise;
- state_dtype: float32 parameters with bfloat16 moments equal the float32 step with the
  moments widened before and rounded after each step, bitwise;
- state_dict / load_state_dict carry the masters and the state dtypes;
- bad input: mixing 16-bit with float32 among parameter / gradient / state is a
  TypeError naming the argument, before anything is written.
Thread counts and SIMD tables: tests/_harness.py's optim16 cases (test_determinism)."""
import ml_dtypes
import numpy as np
import pytest

import gradkit
from conftest import run_threads
from gradkit import optim
from gradkit.optim import functional as F
from gradkit.reference import optim as R

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)
HALVES = (F16, BF16)
SHAPES = [(37, 129), (1,), (0,), (3, 5, 7), (4099,)]

# (class name, options) of every optimizer with a 16-bit step
CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, maximize=True)),
    # coupled decay and 1 - beta1 >= 0.5: the other branches of the fused 16-bit loop
    ("Adam", dict(lr=0.01, weight_decay=0.1, betas=(0.3, 0.9))),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01,
                     initial_accumulator_value=0.1)),
    ("LARS", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.6))),
    ("Adamax", dict(lr=0.01, weight_decay=0.1)),
    ("Adadelta", dict(rho=0.5, weight_decay=0.1)),
    ("Lion", dict(lr=0.01, weight_decay=0.1)),
    ("LAMB", dict(lr=0.01, weight_decay=0.1)),
    ("LAMB", dict(lr=0.01, betas=(0.8, 0.9), eps_root=1e-8, maximize=True)),
]
IDS = [f"{c}-{i}" for i, (c, _) in enumerate(CASES)]
STEPS = 4


def _data(seed, shape, dt, scale=1.0):
    r = np.random.default_rng(seed)
    return (scale * r.standard_normal(shape)).astype(np.float32).astype(dt)


def bits(a):
    return np.ascontiguousarray(a).view(np.uint8).tobytes()


def ulps(a, b):
    def key(v):
        u = v.view(np.uint16).astype(np.int64)
        return np.where(u & 0x8000, 0x8000 - u, u)
    return np.abs(key(a) - key(b))


def _grads(step, dt, shapes=SHAPES):
    return [_data(100 + 10 * step + i, s, dt, 0.5) for i, s in enumerate(shapes)]


def _states(opt):
    """Every state array of the optimizer, in a fixed order."""
    st = opt.state_dict()["state"]
    return [(k, s, np.asarray(v)) for k in sorted(st) for s, v in sorted(st[k].items())
            if isinstance(v, np.ndarray) and v.ndim > 0 or s == "master"]


# ---- pure 16-bit --------------------------------------------------------------------
@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_pure_16bit_is_the_float32_step_rounded_once(name, kw, dt):
    """Each step equals gradkit's float32 step on the widened parameter, gradient and
    states, every result rounded once to the 16-bit dtype."""
    params = [_data(i, s, dt) for i, s in enumerate(SHAPES)]
    opt = getattr(optim, name)(params, **kw)
    wide = [p.astype(F32) for p in params]
    ref = getattr(optim, name)(wide, **kw)
    _resync(opt, ref)  # Adagrad's initial accumulator: rounded to the 16-bit dtype
    for step in range(STEPS):
        g = _grads(step, dt)
        g[1] = None if step == 1 else g[1]  # a parameter without gradient
        opt.step(g)
        # the float32 twin: start from this step's 16-bit values, widened
        ref.step([None if x is None else x.astype(F32) for x in g])
        for p, w in zip(params, wide):
            assert p.dtype == dt
            got, want = p, w.astype(dt)
            if name == "LARS":  # the trust ratio's double sums run in another order
                assert ulps(got, want).max(initial=0) <= 1
            else:
                assert bits(got) == bits(want), (name, step)
            w[...] = p  # the twin goes on from the rounded values
        for (k, s, a), (k2, s2, b) in zip(_states(opt), _states(ref)):
            assert (k, s) == (k2, s2)
            assert a.dtype == dt
            if name != "LARS":
                assert bits(a) == bits(b.astype(dt)), (name, s, step)
        _resync(opt, ref)


def _resync(opt, ref):
    """Load the 16-bit optimizer's (rounded) states into the float32 twin, widened."""
    sd = opt.state_dict()
    ref.load_state_dict(sd)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_functional_against_the_reference_twin(name, kw, dt):
    """optim.functional on 16-bit arrays against the NumPy twin (float32 formulas on
    widened copies, rounded once): at most 1 ulp, almost all exact."""
    fn = name.lower().rstrip("w") + "_"
    call, args, ref_args = _functional_args(name, kw, dt)
    diffs = []
    for step in range(1, STEPS + 1):
        g = _grads(step, dt)[:1] + _grads(step, dt)[2:]
        call(getattr(F, fn), args, g, step, gk=True)
        call(getattr(R, fn), ref_args, [x.copy() for x in g], step, gk=False)
        for a, b in zip(args["arrays"], ref_args["arrays"]):
            assert a.dtype == dt and b.dtype == dt
            diffs.append(ulps(a, b).ravel())
    d = np.concatenate(diffs)
    assert d.max(initial=0) <= 1, name
    assert (d == 0).mean() >= 0.99


def _functional_args(name, kw, dt):
    """A call of the functional kernel and of its twin with the same (copied) arrays."""
    shapes = SHAPES[:1] + SHAPES[2:]
    p = [_data(i, s, dt) for i, s in enumerate(shapes)]
    kw = dict(kw)
    betas = kw.pop("betas", None)
    if betas is not None:
        kw["beta1"], kw["beta2"] = betas
    kw.pop("initial_accumulator_value", None)
    decoupled = name == "AdamW"
    nstate = {"SGD": 1 if kw.get("momentum") else 0, "Adam": 2, "AdamW": 2, "RMSprop": 1,
              "Adagrad": 1, "LARS": 1, "NAdam": 2, "RAdam": 2, "Adamax": 2, "Adadelta": 2,
              "Lion": 1, "LAMB": 2}[name]
    if name in ("Adam", "AdamW"):
        kw["decoupled"] = decoupled
        if kw.get("amsgrad"):
            nstate = 3
    states = [[np.zeros(s, dt) for s in shapes] for _ in range(nstate)]
    if name == "Adamax":
        states[1] = [np.full(s, 0.0, dt) for s in shapes]
    extra = {}
    if name == "RMSprop":
        if kw.get("centered"):
            extra["grad_avg"] = [np.zeros(s, dt) for s in shapes]
        if kw.get("momentum"):
            extra["momentum_buffer"] = [np.zeros(s, dt) for s in shapes]
    if name == "NAdam":
        extra["mu_product"] = [np.ones((), np.float32) for _ in shapes]
    gk = {"params": p, "states": states, "extra": extra, "kw": kw}

    def copy(d):
        return {"params": [a.copy() for a in d["params"]],
                "states": [[a.copy() for a in s] for s in d["states"]],
                "extra": {k: [a.copy() for a in v] for k, v in d["extra"].items()},
                "kw": d["kw"]}
    ref = copy(gk)
    for d in (gk, ref):
        d["arrays"] = d["params"] + [a for s in d["states"] for a in s] + [
            a for k, v in d["extra"].items() if k != "mu_product" for a in v]

    def call(fn, d, grads, step, gk):
        kw = dict(d["kw"])
        if name == "SGD":
            if kw.get("momentum"):
                kw["momentum_buffer"] = d["states"][0] if step > 1 else [None] * len(grads)
                out = fn(d["params"], grads, **kw)
                if step == 1:
                    d["states"][0] = list(out)
                    d["arrays"][len(d["params"]):len(d["params"]) * 2] = d["states"][0]
                return
            fn(d["params"], grads, **kw)
            return
        steps = [step] * len(grads)
        if name in ("Adam", "AdamW"):
            if kw.pop("amsgrad", False):
                kw["amsgrad"] = True
                kw["max_exp_avg_sq"] = d["states"][2]
            fn(d["params"], grads, d["states"][0], d["states"][1], steps, **kw)
        elif name == "RMSprop":
            fn(d["params"], grads, d["states"][0], **kw, **d["extra"])
        elif name == "Adagrad":
            fn(d["params"], grads, d["states"][0], steps, **kw)
        elif name in ("LARS", "Lion"):
            fn(d["params"], grads, d["states"][0], **kw)
        elif name == "NAdam":
            fn(d["params"], grads, d["states"][0], d["states"][1], d["extra"]["mu_product"],
               steps, **kw)
        elif name == "Adadelta":
            fn(d["params"], grads, d["states"][0], d["states"][1], **kw)
        else:
            fn(d["params"], grads, d["states"][0], d["states"][1], steps, **kw)
    return call, gk, ref


# ---- master weights -------------------------------------------------------------------
@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_master_weights_trajectory(name, kw, dt):
    """16-bit parameters and gradients, float32 master and states: the masters follow
    the float32 optimizer fed the widened gradients, bitwise, and each parameter is its
    master rounded once, after every step."""
    params = [_data(i, s, dt) for i, s in enumerate(SHAPES)]
    opt = getattr(optim, name)(params, master_weights=True, **kw)
    masters = [p.astype(F32) for p in params]
    ref = getattr(optim, name)(masters, **kw)
    for step in range(STEPS):
        g = _grads(step, dt)
        opt.step(g)
        ref.step([x.astype(F32) for x in g])
        sd = opt.state_dict()["state"]
        for i, (p, m) in enumerate(zip(params, masters)):
            if i in sd:
                assert sd[i]["master"].dtype == F32
                tol = 1 if name == "LARS" else 0
                assert ulps(sd[i]["master"].astype(dt), m.astype(dt)).max(initial=0) <= tol
                if not tol:
                    assert bits(sd[i]["master"]) == bits(m)
            assert bits(p) == bits(opt.state_dict()["state"][i]["master"].astype(dt)) \
                if i in sd else True
        for (k, s, a), (_, _, b) in zip([x for x in _states(opt) if x[1] != "master"],
                                        _states(ref)):
            assert a.dtype == F32
            if name != "LARS":
                assert bits(a) == bits(b), (name, s)


def test_master_weights_created_from_the_parameter_at_its_first_step():
    p = _data(0, (10,), BF16)
    opt = optim.AdamW([p], master_weights=True)
    assert opt.state_dict()["state"] == {}
    p[...] = np.arange(10, dtype=np.float32).astype(BF16)  # loaded after construction
    opt.step([np.zeros(10, BF16)])
    m = opt.state_dict()["state"][0]["master"]
    np.testing.assert_array_equal(m, (np.arange(10, dtype=np.float32)
                                      * np.float32(1 - 1e-3 * 1e-2)))


def test_master_weights_leave_float32_parameters_as_they_are():
    """master_weights applies to 16-bit parameters; float32 ones are their own master
    (no copy), stepped as without it."""
    a, b = _data(0, (33,), F32), _data(0, (33,), F32)
    g = _data(1, (33,), F32)
    o1, o2 = optim.Adam([a], master_weights=True), optim.Adam([b])
    o1.step([g])
    o2.step([g])
    assert bits(a) == bits(b)
    assert "master" not in o1.state_dict()["state"][0]


# ---- state_dtype ---------------------------------------------------------------------
@pytest.mark.parametrize("name, kw", CASES, ids=IDS)
def test_bfloat16_states_with_float32_parameters(name, kw):
    params = [_data(i, s, F32) for i, s in enumerate(SHAPES)]
    opt = getattr(optim, name)(params, state_dtype=gradkit.bfloat16, **kw)
    twin = [p.copy() for p in params]
    ref = getattr(optim, name)(twin, **kw)
    ref.load_state_dict(opt.state_dict())  # Adagrad's initial accumulator, rounded
    for step in range(STEPS):
        g = _grads(step, F32)
        opt.step(g)
        ref.step(g)
        tol = 1 if name == "LARS" else 0
        for p, q in zip(params, twin):
            if tol:
                np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
            else:
                assert bits(p) == bits(q), (name, step)
        for (k, s, a), (_, _, b) in zip(_states(opt), _states(ref)):
            assert a.dtype == BF16
            if not tol:
                assert bits(a) == bits(b.astype(BF16))
        sd = opt.state_dict()
        ref.load_state_dict(sd)  # the twin goes on from the rounded moments
        for p, q in zip(params, twin):
            q[...] = p


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_master_weights_with_bfloat16_states(dt):
    p = _data(0, (300,), dt)
    opt = optim.AdamW([p], master_weights=True, state_dtype=gradkit.bfloat16)
    m = p.astype(F32)
    st = [np.zeros(300, F32), np.zeros(300, F32)]
    for step in range(1, 4):
        g = _grads(step, dt, [(300,)])[0]
        opt.step([g])
        F.adam_(m, g.astype(F32), st[0], st[1], step, lr=1e-3, weight_decay=1e-2,
                decoupled=True)
        st = [s.astype(BF16).astype(F32) for s in st]
        s0 = opt.state_dict()["state"][0]
        assert s0["exp_avg"].dtype == BF16 and s0["master"].dtype == F32
        assert bits(s0["master"]) == bits(m)
        assert bits(p) == bits(m.astype(dt))
        assert bits(s0["exp_avg"]) == bits(st[0].astype(BF16))


# ---- state dicts -----------------------------------------------------------------------
@pytest.mark.parametrize("name, shape, slot", [("Adam", (50,), "exp_avg"),
                                               ("Adafactor", (40, 30), "col_var")])
def test_state_dict_carries_masters_and_state_dtypes(name, shape, slot):
    cls = getattr(optim, name)
    p = _data(0, shape, BF16)
    opt = cls([p], master_weights=True, state_dtype=gradkit.bfloat16)
    for s in range(3):
        opt.step(_grads(s, BF16, [shape]))
    sd = opt.state_dict()
    st = sd["state"][0]
    assert st["master"].dtype == F32 and st[slot].dtype == BF16
    q = p.copy()
    opt2 = cls([q], master_weights=True, state_dtype=gradkit.bfloat16)
    opt2.load_state_dict(sd)
    g = _grads(9, BF16, [shape])
    opt.step(g)
    opt2.step(g)
    assert bits(p) == bits(q)
    # into an optimizer with float32 states: the moments widened
    opt3 = cls([p.copy()], master_weights=True)
    opt3.load_state_dict(sd)
    assert opt3.state_dict()["state"][0][slot].dtype == F32
    # a master for a float32 parameter is refused
    opt4 = cls([_data(0, shape, F32)], master_weights=True)
    with pytest.raises(ValueError, match="master"):
        opt4.load_state_dict(sd)


# ---- bad input --------------------------------------------------------------------------
def test_mixing_16bit_and_float32_is_a_type_error_naming_the_argument():
    p = _data(0, (8,), BF16)
    before = p.copy()
    with pytest.raises(TypeError, match=r"grad"):
        F.adam_(p, np.ones(8, F32), np.zeros(8, BF16), np.zeros(8, BF16), 1)
    with pytest.raises(TypeError, match=r"exp_avg_sq"):
        F.adam_(p, np.ones(8, BF16), np.zeros(8, BF16), np.zeros(8, F32), 1)
    with pytest.raises(TypeError, match=r"exp_avg"):
        F.adam_(p, np.ones(8, BF16), np.zeros(8, F16), np.zeros(8, BF16), 1)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(TypeError, match=r"grads\[0\]"):
        opt.step([np.ones(8, F16)])
    assert bits(p) == bits(before)


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_lamb_trust_ratio_is_the_float32_steps(dt):
    """LAMB's trust ratio from 16-bit arrays: the norms of the widened parameter and of
    u from the unrounded new moments, as the float32 step on the widened arrays (equal,
    bit for bit), and as the reference twin's (float64 norms of the same values)."""
    shapes = [(37, 129), (4099,), (0,), (5000, 3)]
    p = [_data(i, s, dt) for i, s in enumerate(shapes)]
    m = [_data(10 + i, s, dt, 0.1) for i, s in enumerate(shapes)]
    v = [np.abs(_data(20 + i, s, dt, 0.1)) for i, s in enumerate(shapes)]
    g = [_data(30 + i, s, dt) for i, s in enumerate(shapes)]
    wide = [[a.astype(F32) for a in x] for x in (p, m, v)]
    kw = dict(lr=0.01, weight_decay=0.1, beta1=0.8)
    r16 = F.lamb_(p, g, m, v, 3, **kw)
    r32 = F.lamb_(wide[0], [x.astype(F32) for x in g], wide[1], wide[2], 3, **kw)
    assert r16 == r32
    for a, b in zip(p + m + v, wide[0] + wide[1] + wide[2]):
        assert bits(a) == bits(b.astype(dt))
    pw, mw, vw = [[a.astype(F32) for a in x] for x in (p, m, v)]
    rr = R.lamb_(pw, [x.astype(F32) for x in g], mw, vw, 4, **kw)
    np.testing.assert_allclose(F.lamb_(p, g, m, v, 4, **kw)[:2], rr[:2], rtol=1e-6)


@pytest.mark.parametrize("layout", ["pure", "master", "bf16-states"])
@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_lamb_16bit_scratch_same_bits_as_low_memory(dt, layout):
    """The 16-bit step keeps u in float32 scratch between its passes (the default; the
    first pass then writes the moments) or computes it twice (low_memory=True): the
    same parameters, states and masters, bit for bit, at 1..4 threads, with a parameter
    missing its gradient in one step and arrays of several chunks."""
    pdt = F32 if layout == "bf16-states" else dt
    extra = (dict(master_weights=True) if layout == "master" else
             dict(state_dtype=gradkit.bfloat16) if layout == "bf16-states" else {})
    assert_scratch_same_bits(
        lambda ps, low: optim.LAMB(ps, lr=0.01, weight_decay=0.1, low_memory=low, **extra),
        SHAPES + [(70001,), (3, 40000)], pdt, _states)


def assert_scratch_same_bits(make, shapes, pdt, states, missing=1):
    """An optimizer with its float32 scratch (make(params, False)) steps 16-bit (or
    16-bit-state) parameters of `shapes` as with low_memory=True (make(params, True)):
    the same parameters and states (`states(opt)`), bit for bit, at 1..4 threads, the
    parameter `missing` without a gradient in one step; the scratch covers every
    element."""
    seq = [[np.asarray(g) for g in _grads(k, pdt, shapes)] for k in range(STEPS)]
    seq[2][missing] = None

    def run(low):
        ps = [np.asarray(_data(i, s, pdt)) for i, s in enumerate(shapes)]
        o = make(ps, low)
        for gs in seq:
            o.step([None if g is None else g.copy() for g in gs])
        return [bits(p) for p in ps], [bits(a) for _, _, a in states(o)], o

    ref_ps, ref_states, _ = run(True)
    for ps, sts, o in run_threads(lambda: run(False), (1, 2, 3, 4)):
        assert ps == ref_ps and sts == ref_states
        assert o._work[np.float32].size >= sum(int(np.prod(s)) for s in shapes)


def test_lamb_bad_input_names_the_argument_and_writes_nothing():
    p, m, v = _data(0, (8,), BF16), np.zeros(8, BF16), np.zeros(8, BF16)
    before = [bits(a) for a in (p, m, v)]
    with pytest.raises(TypeError, match=r"grad"):
        F.lamb_(p, np.ones(8, F32), m, v, 1, lr=0.1)
    with pytest.raises(TypeError, match=r"exp_avg_sq"):
        F.lamb_(p, np.ones(8, BF16), m, np.zeros(8, F16), 1, lr=0.1)
    with pytest.raises(TypeError, match=r"exp_avg"):
        F.lamb_(p, np.ones(8, BF16), np.zeros(8, F32), v, 1, lr=0.1)
    opt = optim.LAMB([p], lr=0.1)
    with pytest.raises(TypeError, match=r"grads\[0\]"):
        opt.step([np.ones(8, F16)])
    assert [bits(a) for a in (p, m, v)] == before


@pytest.mark.parametrize("bad", [np.float64, np.int32, "float16x"])
def test_state_dtype_must_be_a_float_storage(bad):
    with pytest.raises(TypeError, match="state_dtype"):
        optim.Adam([_data(0, (8,), F32)], state_dtype=bad)


def test_nan_and_inf_propagate():
    p = _data(0, (20,), F16)
    g = _data(1, (20,), F16)
    g[3], g[5] = np.inf, np.nan
    opt = optim.Adam([p], lr=0.1)
    opt.step([g])
    assert np.isnan(p[3]) and np.isnan(p[5])
    assert np.isfinite(p[[0, 1, 2, 4]]).all()


# ---- loss scaling -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Adam", "LAMB", "Adafactor"])
@pytest.mark.parametrize("master", [False, True])
def test_loss_scaler_fused_step_with_float16_gradients(master, name):
    """scaler.step with float16 gradients: one kernel call checks, unscales and steps;
    equal to the step with grad_scale=1/scale; a step with an inf gradient leaves the
    parameters, masters, moments and step counts exactly as they were."""
    from gradkit.amp import LossScaler
    p = _data(0, (1000,), F16)
    q = p.copy()
    kw = {"master_weights": master}
    cls = getattr(optim, name)
    opt, twin = cls([p], lr=1e-3, **kw), cls([q], lr=1e-3, **kw)
    scaler = LossScaler(init_scale=2.0**10)
    fused = []
    opt._fused_scaled_step = lambda *a, f=opt._fused_scaled_step: fused.append(f(*a)) or \
        fused[-1]
    for step in range(4):
        g = (_data(step, (1000,), F32) * 2.0**10).astype(F16)
        if step == 2:
            g[17] = np.inf
            before = opt.state_dict()
            pb = p.copy()
        g0 = g.copy()
        stepped = scaler.step(opt, [g])
        assert bits(g) == bits(g0)  # only read
        assert stepped == (step != 2)
        if step == 2:
            after = opt.state_dict()
            assert bits(p) == bits(pb)
            for k in before["state"][0]:
                a, b = before["state"][0][k], after["state"][0][k]
                assert bits(np.asarray(a)) == bits(np.asarray(b)), k
        else:
            twin.step([g], grad_scale=1.0 / float(np.float32(2.0**10)))
            assert bits(p) == bits(q)
        scaler.update()
        scaler._scale = np.float32(2.0**10)  # keep the twin's factor
    assert fused[1:] == [False, True, False]  # one kernel call from the second step


def test_loss_scaler_fused_equals_unfused_for_float32():
    from gradkit.amp import LossScaler
    p = _data(0, (5000,), F32)
    q = p.copy()
    o1, o2 = optim.AdamW([p]), optim.AdamW([q])
    s1, s2 = LossScaler(), LossScaler()
    for step in range(3):
        g = _data(10 + step, (5000,), F32) * np.float32(2.0**16)
        g2 = g.copy()
        s1.step(o1, [g])  # fused from the second step
        s2.unscale_([g2], o2)
        s2.step(o2, [g2])
        s1.update()
        s2.update()
        assert bits(p) == bits(q)


def test_loss_scaler_with_bfloat16():
    from gradkit.amp import LossScaler
    p = _data(0, (100,), BF16)
    q = p.copy()
    o1, o2 = optim.SGD([p], lr=0.1), optim.SGD([q], lr=0.1)
    g = _data(1, (100,), BF16)
    assert LossScaler(enabled=False).step(o1, [g])
    o2.step([g])
    assert bits(p) == bits(q)
    s = LossScaler(init_scale=1.0)  # enabled with bf16: checked, stepped
    assert s.step(o1, [g]) and s.step.__self__ is s


# ---- AdamW's root / bc2s without the divider (gk_hdiv_const in gk_half.h) --------------
@pytest.mark.parametrize("kind", ["master-bfloat16", "master-float16", "bf16-states"])
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.3), (0.9, 0.99999)])
def test_fused_adamw_divides_by_the_bias_correction_exactly(kind, betas):
    """The fused 16-bit loops divide the root by sqrt(1 - beta2^t) with fused
    multiply-adds on the AVX2 and AVX-512 tables (the float32 step divides): gradients
    over the whole exponent range (subnormals, zeros and huge values included: their
    lanes divide) and every step count here give the float32 step's bits."""
    dt = np.dtype(gradkit.bfloat16 if kind == "master-bfloat16"
                  else np.float16 if kind == "master-float16" else F32)
    r = np.random.default_rng(7)
    n = 50_003
    expo = r.uniform(-140 if dt != np.float16 else -24, 120 if dt != np.float16 else 15, n)
    g0 = (r.choice([-1.0, 1.0], n) * (1 + r.random(n)) * 2.0 ** expo)
    g0[::97] = 0.0
    kw = dict(lr=1e-3, betas=betas, weight_decay=0.01)
    p = r.standard_normal(n).astype(np.float32).astype(dt)
    if kind == "bf16-states":
        opt = optim.AdamW([p], state_dtype=gradkit.bfloat16, **kw)
        twin = p.copy()
        ref = optim.AdamW([twin], **kw)
    else:
        opt = optim.AdamW([p], master_weights=True, **kw)
        twin = p.astype(F32)
        ref = optim.AdamW([twin], **kw)
    for step in range(6):
        with np.errstate(over="ignore"):
            g = (g0 * r.uniform(0.5, 2.0, n)).astype(np.float32).astype(dt)
        opt.step([g])
        ref.step([g.astype(F32)])
        if kind == "bf16-states":
            assert bits(p) == bits(twin), step
            ref.load_state_dict(opt.state_dict())   # the twin goes on from the rounded moments
            twin[...] = p
        else:
            assert bits(opt.state_dict()["state"][0]["master"]) == bits(twin), step
