"""LR schedulers: the lr (and momentum) sequences against torch.optim.lr_scheduler and
against the closed forms of gradkit.reference.schedules; state dicts; bad input."""
import math
import pickle
import warnings

import numpy as np
import pytest

from gradkit import schedules as S
from gradkit.reference import schedules as R

LRS = [0.1, 0.05]


class FakeOptimizer:
    """What a scheduler needs: param_groups (dicts with 'lr', options) and defaults."""

    def __init__(self, lrs=LRS, kind="sgd"):
        opts = {"momentum": 0.9} if kind == "sgd" else {"betas": (0.9, 0.999)}
        self.defaults = {"lr": lrs[0], **opts}
        self.param_groups = [{"lr": lr, **opts} for lr in lrs]

    def step(self, grads=None):
        pass


def _momentum(opt):
    g = opt.param_groups
    return [x["betas"][0] if "betas" in x else x["momentum"] for x in g]


def _run(sched, opt, n, metrics=None):
    """lrs (n+1, groups) and momenta after construction and after each of n steps."""
    lrs, moms = [list(sched.get_last_lr())], [_momentum(opt)]
    for i in range(n):
        opt.step()
        sched.step() if metrics is None else sched.step(metrics[i])
        lrs.append(list(sched.get_last_lr()))
        moms.append(_momentum(opt))
    return np.array(lrs), np.array(moms)


def _torch_opt(torch, kind="sgd", lrs=LRS):
    ps = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(ps, lrs)]
    if kind == "sgd":
        return torch.optim.SGD(groups, momentum=0.9)
    return torch.optim.Adam(groups)


CASES = [  # (name, kwargs, kind, steps)
    ("StepLR", dict(step_size=7), "sgd", 300),
    ("StepLR", dict(step_size=3, gamma=0.7), "adam", 300),
    ("MultiStepLR", dict(milestones=[3, 10, 10, 50]), "sgd", 300),
    ("MultiStepLR", dict(milestones=[100, 5], gamma=0.5), "sgd", 300),
    ("ConstantLR", dict(), "sgd", 50),
    ("ConstantLR", dict(factor=0.25, total_iters=20), "sgd", 50),
    ("LinearLR", dict(), "sgd", 50),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.5, total_iters=97), "sgd", 300),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=60), "sgd", 300),
    ("ExponentialLR", dict(gamma=0.99), "sgd", 300),
    ("PolynomialLR", dict(), "sgd", 50),
    ("PolynomialLR", dict(total_iters=100, power=2.0), "sgd", 300),
    ("PolynomialLR", dict(total_iters=123, power=0.5), "adam", 300),
    ("CosineAnnealingLR", dict(T_max=40), "sgd", 300),
    ("CosineAnnealingLR", dict(T_max=33, eta_min=0.001), "sgd", 300),
    ("CosineAnnealingWarmRestarts", dict(T_0=10), "sgd", 300),
    ("CosineAnnealingWarmRestarts", dict(T_0=7, T_mult=2, eta_min=0.001), "sgd", 300),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=3, eta_min=0.01), "sgd", 300),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=13), "sgd", 300),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=13, mode="triangular2"), "sgd", 300),
    ("CyclicLR", dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=11,
                      step_size_down=4, mode="exp_range", gamma=0.99), "adam", 300),
    ("CyclicLR", dict(base_lr=0.001, max_lr=0.01, step_size_up=20, cycle_momentum=False),
     "sgd", 300),
    ("CyclicLR", dict(base_lr=0.001, max_lr=0.01, step_size_up=5, base_momentum=0.7,
                      max_momentum=0.95), "adam", 300),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=300), "sgd", 299),
    ("OneCycleLR", dict(max_lr=[1.0, 0.5], total_steps=300, anneal_strategy="linear"),
     "adam", 299),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=250, three_phase=True), "sgd", 249),
    ("OneCycleLR", dict(max_lr=0.3, epochs=10, steps_per_epoch=31, pct_start=0.25,
                        div_factor=10.0, final_div_factor=100.0, three_phase=True,
                        cycle_momentum=False), "adam", 310),
]


def _ids(case):
    return case[0] + "-" + "-".join(f"{k}={v}" for k, v in case[1].items())


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_matches_torch(case):
    torch = pytest.importorskip("torch")
    name, kw, kind, n = case
    opt = FakeOptimizer(kind=kind)
    topt = _torch_opt(torch, kind)
    ours = getattr(S, name)(opt, **kw)
    theirs = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    a_lr, a_m = _run(ours, opt, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b_lr, b_m = _run(theirs, topt, n)
    np.testing.assert_allclose(a_lr, b_lr, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(a_m, b_m, rtol=1e-12, atol=1e-18)
    assert ours.last_epoch == theirs.last_epoch
    for g, tg in zip(opt.param_groups, topt.param_groups):
        assert g["initial_lr"] == tg["initial_lr"]


def test_lambda_lr_matches_torch():
    torch = pytest.importorskip("torch")
    fns = [lambda e: 0.95 ** e, lambda e: 1.0 / (1 + e)]
    opt, topt = FakeOptimizer(), _torch_opt(torch)
    a, _ = _run(S.LambdaLR(opt, fns), opt, 100)
    b, _ = _run(torch.optim.lr_scheduler.LambdaLR(topt, fns), topt, 100)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def _sequential(mod, opt):
    first = mod.LinearLR(opt, start_factor=0.1, total_iters=10)
    second = mod.CosineAnnealingLR(opt, T_max=50, eta_min=0.001)
    third = mod.ExponentialLR(opt, gamma=0.97)
    return mod.SequentialLR(opt, [first, second, third], milestones=[10, 60])


def test_sequential_lr_matches_torch():
    torch = pytest.importorskip("torch")
    opt, topt = FakeOptimizer(), _torch_opt(torch)
    a, _ = _run(_sequential(S, opt), opt, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b, _ = _run(_sequential(torch.optim.lr_scheduler, topt), topt, 200)
    np.testing.assert_allclose(a, b, rtol=1e-12)


PLATEAU = [
    dict(), dict(mode="max", patience=2), dict(patience=1, cooldown=3, factor=0.5),
    dict(threshold_mode="abs", threshold=0.05, patience=0), dict(mode="max",
    threshold_mode="abs", threshold=0.1, patience=1, cooldown=1, min_lr=[0.02, 0.001]),
    dict(patience=0, factor=0.5, min_lr=0.04, eps=1e-3),
]


def _metrics(n=200):
    rng = np.random.default_rng(7)
    return list(np.abs(np.cumsum(rng.standard_normal(n))) + 0.1 * np.arange(n) % 7)


@pytest.mark.parametrize("kw", PLATEAU)
def test_reduce_lr_on_plateau_matches_torch_and_reference(kw):
    m = _metrics()
    opt = FakeOptimizer()
    a, _ = _run(S.ReduceLROnPlateau(opt, **kw), opt, len(m), m)
    min_lr = kw.get("min_lr", 0.0)
    for gi, lr0 in enumerate(LRS):
        rkw = dict(kw, min_lr=min_lr[gi] if isinstance(min_lr, list) else min_lr)
        np.testing.assert_allclose(a[1:, gi], R.reduce_lr_on_plateau(lr0, m, **rkw), rtol=1e-15)
    assert a[-1, 0] < LRS[0]  # the metric sequence does trigger reductions
    torch = pytest.importorskip("torch")
    topt = _torch_opt(torch)
    b, _ = _run(torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw), topt, len(m), m)
    np.testing.assert_allclose(a, b, rtol=1e-15)


def test_warm_restarts_fractional_epochs_match_torch():
    torch = pytest.importorskip("torch")
    for T_mult in (1, 2):
        opt, topt = FakeOptimizer(), _torch_opt(torch)
        ours = S.CosineAnnealingWarmRestarts(opt, T_0=5, T_mult=T_mult, eta_min=0.01)
        theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=5, T_mult=T_mult,
                                                                       eta_min=0.01)
        for epoch in range(30):
            for i in range(4):
                e = epoch + i / 4
                ours.step(e)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    theirs.step(e)
                np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)


def test_resume_with_last_epoch_matches_torch():
    torch = pytest.importorskip("torch")
    for name, kw in [("StepLR", dict(step_size=4)), ("CosineAnnealingLR", dict(T_max=30)),
                     ("ExponentialLR", dict(gamma=0.9))]:
        opt, topt = FakeOptimizer(), _torch_opt(torch)
        for g in opt.param_groups + topt.param_groups:
            g["initial_lr"] = g["lr"]
        a, _ = _run(getattr(S, name)(opt, last_epoch=9, **kw), opt, 40)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b, _ = _run(getattr(torch.optim.lr_scheduler, name)(topt, last_epoch=9, **kw), topt, 40)
        np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(FakeOptimizer(), 3, last_epoch=5)


# ---- closed forms (no torch needed) ------------------------------------------------

REF_CASES = [
    ("StepLR", dict(step_size=7, gamma=0.5), lambda b, n: R.step_lr(b, n, 7, 0.5)),
    ("MultiStepLR", dict(milestones=[3, 10, 10, 50]),
     lambda b, n: R.multi_step_lr(b, n, [3, 10, 10, 50])),
    ("ConstantLR", dict(factor=0.25, total_iters=20), lambda b, n: R.constant_lr(b, n, 0.25, 20)),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.5, total_iters=97),
     lambda b, n: R.linear_lr(b, n, 0.1, 0.5, 97)),
    ("ExponentialLR", dict(gamma=0.99), lambda b, n: R.exponential_lr(b, n, 0.99)),
    ("PolynomialLR", dict(total_iters=100, power=2.0),
     lambda b, n: R.polynomial_lr(b, n, 100, 2.0)),
    ("CosineAnnealingLR", dict(T_max=33, eta_min=0.001),
     lambda b, n: R.cosine_annealing_lr(b, n, 33, 0.001)),
    ("CosineAnnealingWarmRestarts", dict(T_0=7, T_mult=2, eta_min=0.001),
     lambda b, n: R.cosine_annealing_warm_restarts(b, n, 7, 2, 0.001)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=11, step_size_down=4,
                      mode="exp_range", gamma=0.99),
     lambda b, n: R.cyclic_lr(n, 0.01, 0.1, 11, 4, "exp_range", 0.99)[0]),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=13, mode="triangular2"),
     lambda b, n: R.cyclic_lr(n, 0.01, 0.1, 13, None, "triangular2")[0]),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=301, three_phase=True),
     lambda b, n: R.one_cycle_lr(n, 0.3, 301, three_phase=True)),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=301, anneal_strategy="linear"),
     lambda b, n: R.one_cycle_lr(n, 0.3, 301, anneal_strategy="linear")),
]


@pytest.mark.parametrize("case", REF_CASES, ids=[c[0] for c in REF_CASES])
def test_matches_closed_form(case):
    name, kw, closed = case
    opt = FakeOptimizer()
    a, _ = _run(getattr(S, name)(opt, **kw), opt, 300)
    for gi, lr0 in enumerate(LRS):
        want = closed(lr0, 301)
        # recursive updates drift by rounding only; judge near-zero values on the lr scale
        np.testing.assert_allclose(a[:, gi], want, rtol=1e-10, atol=1e-13 * lr0)


def test_cyclic_momentum_closed_form():
    opt = FakeOptimizer(kind="adam")
    s = S.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=6, mode="triangular2",
                   base_momentum=0.8, max_momentum=0.9)
    _, m = _run(s, opt, 100)
    _, amp = R.cyclic_lr(101, 0.01, 0.1, 6, None, "triangular2")
    np.testing.assert_allclose(m[:, 0], 0.9 - (0.9 - 0.8) * amp, rtol=1e-13)
    assert opt.param_groups[0]["betas"][1] == 0.999


def test_hand_computed_sequences():
    opt = FakeOptimizer(lrs=[1.0])
    a, _ = _run(S.StepLR(opt, step_size=3, gamma=0.5), opt, 7)
    assert a[:, 0].tolist() == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    opt = FakeOptimizer(lrs=[1.0])
    a, _ = _run(S.MultiStepLR(opt, [2, 2, 5], gamma=0.5), opt, 6)
    assert a[:, 0].tolist() == [1, 1, 0.25, 0.25, 0.25, 0.125, 0.125]
    opt = FakeOptimizer(lrs=[0.9])
    a, _ = _run(S.ConstantLR(opt, factor=0.5, total_iters=2), opt, 3)
    assert a[:, 0].tolist() == [0.45, 0.45, 0.9, 0.9]
    opt = FakeOptimizer(lrs=[2.0])
    a, _ = _run(S.CosineAnnealingLR(opt, T_max=2), opt, 4)
    np.testing.assert_allclose(a[:, 0], [2.0, 1.0, 0.0, 1.0, 2.0], atol=1e-15)
    opt = FakeOptimizer(lrs=[1.0])
    a, m = _run(S.CyclicLR(opt, 0.0, 1.0, step_size_up=2), opt, 5)
    np.testing.assert_allclose(a[:, 0], [0.0, 0.5, 1.0, 0.5, 0.0, 0.5], atol=1e-15)
    np.testing.assert_allclose(m[:, 0], [0.9, 0.85, 0.8, 0.85, 0.9, 0.85])
    opt = FakeOptimizer(lrs=[1.0])
    a, _ = _run(S.PolynomialLR(opt, total_iters=4, power=2.0), opt, 5)
    np.testing.assert_allclose(a[:, 0], [1, 9 / 16, 1 / 4, 1 / 16, 0, 0], atol=1e-15)


# ---- warmup ------------------------------------------------------------------------

def test_warmup_linear_and_exponential():
    opt = FakeOptimizer(lrs=[1.0])
    a, _ = _run(S.warmup(opt, 4), opt, 6)
    np.testing.assert_allclose(a[:, 0], [0.25, 0.5, 0.75, 1, 1, 1, 1], rtol=1e-15)
    opt = FakeOptimizer(lrs=[1.0])
    a, _ = _run(S.warmup(opt, 3, "exponential", start_factor=0.01), opt, 4)
    np.testing.assert_allclose(a[:, 0], [0.01, 0.1, 1, 1, 1], rtol=1e-14)
    for kind in ("linear", "exponential"):
        opt = FakeOptimizer()
        a, _ = _run(S.warmup(opt, 17, kind), opt, 40)
        for gi, lr0 in enumerate(LRS):
            np.testing.assert_allclose(a[:, gi], R.warmup(lr0, 41, 17, kind), rtol=1e-14)
    opt = FakeOptimizer(lrs=[1.0])
    a, _ = _run(S.warmup(opt, 1), opt, 2)
    assert a[:, 0].tolist() == [1.0, 1.0, 1.0]


def test_warmup_chained_into_after():
    opt = FakeOptimizer()
    after = S.CosineAnnealingLR(opt, T_max=20, eta_min=0.001)
    a, _ = _run(S.warmup(opt, 5, after=after), opt, 60)
    for gi, lr0 in enumerate(LRS):
        np.testing.assert_allclose(a[:5, gi], lr0 * np.arange(1, 6) / 5, rtol=1e-14)
        np.testing.assert_allclose(a[5:, gi], R.cosine_annealing_lr(lr0, 56, 20, 0.001),
                                   rtol=1e-10, atol=1e-15)
    opt = FakeOptimizer(lrs=[1.0])
    after = S.StepLR(opt, step_size=2, gamma=0.1)
    a, _ = _run(S.warmup(opt, 2, after=after), opt, 6)
    np.testing.assert_allclose(a[:, 0], [0.5, 1, 1, 1, 0.1, 0.1, 0.01], rtol=1e-14)


def test_warmup_matches_torch_sequential():
    torch = pytest.importorskip("torch")
    opt, topt = FakeOptimizer(), _torch_opt(torch)
    a, _ = _run(S.warmup(opt, 8, after=S.ExponentialLR(opt, gamma=0.95)), opt, 50)
    tl = torch.optim.lr_scheduler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = tl.ExponentialLR(topt, gamma=0.95)
        warm = tl.LambdaLR(topt, lambda t: (t + 1) / 8 if t < 8 else 1.0)
        b, _ = _run(tl.SequentialLR(topt, [warm, exp], milestones=[8]), topt, 50)
    np.testing.assert_allclose(a, b, rtol=1e-14)


# ---- state dicts -------------------------------------------------------------------

class Decay:
    """A picklable callable with state, as LambdaLR's state_dict keeps."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, epoch):
        return self.rate ** epoch


def _builders():
    return {
        "StepLR": lambda o: S.StepLR(o, 5, 0.5),
        "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, 30, 0.001),
        "CosineAnnealingWarmRestarts": lambda o: S.CosineAnnealingWarmRestarts(o, 4, 2),
        "CyclicLR": lambda o: S.CyclicLR(o, 0.01, 0.1, 7, mode="triangular2"),
        "CyclicLR-custom": lambda o: S.CyclicLR(o, 0.01, 0.1, 7, scale_fn=Decay(0.9),
                                                scale_mode="iterations"),
        "OneCycleLR": lambda o: S.OneCycleLR(o, 1.0, total_steps=100, three_phase=True),
        "LambdaLR": lambda o: S.LambdaLR(o, Decay(0.97)),
        "MultiplicativeLR": lambda o: S.MultiplicativeLR(o, [Decay(0.99), lambda e: 0.9]),
        "ChainedScheduler": lambda o: _chained(S, o),
        "SequentialLR": lambda o: _sequential(S, o),
        "warmup": lambda o: S.warmup(o, 5, after=S.PolynomialLR(o, 50, 2.0)),
        "ReduceLROnPlateau": lambda o: S.ReduceLROnPlateau(o, patience=1, cooldown=2),
    }


@pytest.mark.parametrize("name", list(_builders()))
def test_state_dict_round_trip(name):
    build = _builders()[name]
    plateau = name == "ReduceLROnPlateau"
    m = _metrics(80)
    opt = FakeOptimizer()
    s = build(opt)
    _run(s, opt, 30, m[:30] if plateau else None)
    state = pickle.loads(pickle.dumps(s.state_dict()))
    groups = pickle.loads(pickle.dumps(opt.param_groups))
    rest_a, _ = _run(s, opt, 40, m[30:] if plateau else None)
    opt2 = FakeOptimizer()
    s2 = build(opt2)
    s2.load_state_dict(state)
    opt2.param_groups[:] = groups
    rest_b, _ = _run(s2, opt2, 40, m[30:] if plateau else None)
    np.testing.assert_array_equal(rest_a[1:], rest_b[1:])
    assert "optimizer" not in state


def test_lambda_state_dict_keeps_callable_state():
    opt = FakeOptimizer()
    fn = Decay(0.5)
    s = S.LambdaLR(opt, [fn, lambda e: 1.0])
    d = s.state_dict()
    assert d["lr_lambdas"] == [{"rate": 0.5}, None]
    fn2 = Decay(0.9)
    s2 = S.LambdaLR(FakeOptimizer(), [fn2, lambda e: 1.0])
    s2.load_state_dict(d)
    assert fn2.rate == 0.5


# ---- bad input ---------------------------------------------------------------------

@pytest.mark.parametrize("make,exc,match", [
    (lambda o: S.CyclicLR(o, 0.1, 1.0, mode="sawtooth"), ValueError, "mode"),
    (lambda o: S.CyclicLR(o, 0.1, 1.0, scale_fn=abs, scale_mode="epoch"), ValueError, "scale_mode"),
    (lambda o: S.CyclicLR(o, [0.1], 1.0), ValueError, "base_lr"),
    (lambda o: S.OneCycleLR(o, 1.0, 100, anneal_strategy="cosine"), ValueError, "anneal_strategy"),
    (lambda o: S.OneCycleLR(o, 1.0), ValueError, "total_steps"),
    (lambda o: S.OneCycleLR(o, 1.0, 100, pct_start=1.5), ValueError, "pct_start"),
    (lambda o: S.ReduceLROnPlateau(o, mode="maximum"), ValueError, "mode"),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="relative"), ValueError, "threshold_mode"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor"),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "min_lr"),
    (lambda o: S.StepLR(o, 0), ValueError, "step_size"),
    (lambda o: S.StepLR(o, 2.5), TypeError, "step_size"),
    (lambda o: S.ConstantLR(o, factor=1.5), ValueError, "factor"),
    (lambda o: S.LinearLR(o, start_factor=0.0), ValueError, "start_factor"),
    (lambda o: S.LinearLR(o, end_factor=2.0), ValueError, "end_factor"),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), ValueError, "T_max"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "T_0"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0), ValueError, "T_mult"),
    (lambda o: S.LambdaLR(o, [lambda e: 1.0]), ValueError, "lr_lambdas"),
    (lambda o: S.LambdaLR(o, 0.5), TypeError, "callable"),
    (lambda o: S.warmup(o, 0), ValueError, "steps"),
    (lambda o: S.warmup(o, 5, kind="cosine"), ValueError, "kind"),
    (lambda o: S.warmup(o, 5, start_factor=0.0), ValueError, "start_factor"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3)], milestones=[]),
     ValueError, "milestones"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.ReduceLROnPlateau(o)], milestones=[3]),
     ValueError, "ReduceLROnPlateau"),
    (lambda o: S.SequentialLR(o, [S.StepLR(FakeOptimizer(), 2)], milestones=[]),
     ValueError, "optimizer"),
    (lambda o: S.StepLR(object(), 2), TypeError, "param_groups"),
    (lambda o: S.MultiplicativeLR(o, [lambda e: 1.0]), ValueError, "lr_lambdas"),
    (lambda o: S.MultiplicativeLR(o, 0.9), TypeError, "callable"),
    (lambda o: S.ChainedScheduler([]), ValueError, "at least one"),
    (lambda o: S.ChainedScheduler([S.StepLR(o, 2), S.ReduceLROnPlateau(o)]),
     ValueError, "ReduceLROnPlateau"),
    (lambda o: S.ChainedScheduler([S.StepLR(o, 2), S.StepLR(FakeOptimizer(), 2)]),
     ValueError, "different optimizer"),
    (lambda o: S.ChainedScheduler([S.StepLR(o, 2)], optimizer=FakeOptimizer()),
     ValueError, "different optimizer"),
    (lambda o: S.ChainedScheduler([object()]), TypeError, "optimizer"),
    (lambda o: S.StepLR(o, 2).step(-1), ValueError, "epoch"),
    (lambda o: S.StepLR(o, 2).step(1.5), TypeError, "epoch"),
    (lambda o: S.ReduceLROnPlateau(o).step(1.0, "3"), TypeError, "epoch"),
])
def test_bad_input(make, exc, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # step(epoch)'s deprecation
        with pytest.raises(exc, match=match):
            make(FakeOptimizer())


def test_cycle_momentum_needs_momentum():
    class NoMomentum:
        param_groups = [{"lr": 0.1}]
    with pytest.raises(ValueError, match="momentum"):
        S.CyclicLR(NoMomentum(), 0.01, 0.1)
    with pytest.raises(ValueError, match="momentum"):
        S.OneCycleLR(NoMomentum(), 0.1, total_steps=10)
    S.CyclicLR(NoMomentum(), 0.01, 0.1, cycle_momentum=False)  # fine without


def test_one_cycle_past_total_steps_raises():
    opt = FakeOptimizer()
    s = S.OneCycleLR(opt, 1.0, total_steps=5)
    for _ in range(5):
        s.step()
    with pytest.raises(ValueError, match="total steps"):
        s.step()


def test_momentum_without_defaults_uses_groups():
    class Groups:  # no .defaults: the first group decides
        def __init__(self):
            self.param_groups = [{"lr": 0.1, "betas": (0.9, 0.99)}]
    o = Groups()
    S.OneCycleLR(o, 1.0, total_steps=10)
    assert o.param_groups[0]["betas"] == (0.95, 0.99)
    assert math.isclose(o.param_groups[0]["lr"], 0.04)


NAMES = ["LambdaLR", "MultiplicativeLR", "ChainedScheduler", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
         "SequentialLR", "PolynomialLR", "CosineAnnealingLR", "ReduceLROnPlateau",
         "CyclicLR", "CosineAnnealingWarmRestarts", "OneCycleLR"]


@pytest.mark.parametrize("name", NAMES)
def test_same_signature_and_defaults_as_torch(name):
    torch = pytest.importorskip("torch")
    import inspect
    ours = inspect.signature(getattr(S, name)).parameters
    theirs = inspect.signature(getattr(torch.optim.lr_scheduler, name)).parameters
    assert list(ours) == list(theirs)
    for k in ours:
        assert ours[k].default == theirs[k].default, k


def test_stacked_schedulers_match_torch():
    """Two schedulers on one optimizer compose through the current lr, as in torch."""
    torch = pytest.importorskip("torch")
    opt, topt = FakeOptimizer(), _torch_opt(torch)

    def build(mod, o):
        return [mod.StepLR(o, step_size=5, gamma=0.5), mod.ExponentialLR(o, gamma=0.98),
                mod.CosineAnnealingLR(o, T_max=30, eta_min=0.001)]

    ours = build(S, opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = build(torch.optim.lr_scheduler, topt)
        for _ in range(120):
            for s in ours:
                s.step()
            for s in theirs:
                s.step()
            np.testing.assert_allclose(_lrs(opt), _lrs(topt), rtol=1e-12)


def _lrs(opt):
    return [g["lr"] for g in opt.param_groups]


@pytest.mark.parametrize("name", NAMES + ["CosineAnnealingWarmRestarts"])
def test_step_takes_torchs_arguments(name):
    """step(epoch) where torch 2.13 still takes it, step() where it does not."""
    torch = pytest.importorskip("torch")
    import inspect
    ours = inspect.signature(getattr(S, name).step).parameters
    theirs = inspect.signature(getattr(torch.optim.lr_scheduler, name).step).parameters
    assert list(ours) == list(theirs)


# ---- MultiplicativeLR, ChainedScheduler, step(epoch) -------------------------------

def test_multiplicative_lr_matches_torch():
    torch = pytest.importorskip("torch")
    fns = [lambda e: 0.95, lambda e: 1.0 - 0.5 / (e + 3)]
    opt, topt = FakeOptimizer(), _torch_opt(torch)
    a, _ = _run(S.MultiplicativeLR(opt, fns), opt, 150)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b, _ = _run(torch.optim.lr_scheduler.MultiplicativeLR(topt, fns), topt, 150)
    np.testing.assert_array_equal(a, b)  # the same products in the same order
    np.testing.assert_allclose(a[:, 0], 0.1 * 0.95 ** np.arange(151), rtol=1e-13)


def _chained(mod, opt):
    return mod.ChainedScheduler([mod.ConstantLR(opt, factor=0.1, total_iters=20),
                                 mod.ExponentialLR(opt, gamma=0.9),
                                 mod.MultiStepLR(opt, milestones=[30, 60], gamma=0.5)])


def test_chained_scheduler_matches_torch():
    """torch's docstring example (ConstantLR, then ExponentialLR) and a MultiStepLR."""
    torch = pytest.importorskip("torch")
    opt, topt = FakeOptimizer([0.05, 0.2]), _torch_opt(torch, lrs=[0.05, 0.2])
    chained = _chained(S, opt)
    a, _ = _run(chained, opt, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _chained(torch.optim.lr_scheduler, topt)
        b, _ = _run(theirs, topt, 100)
    np.testing.assert_array_equal(a, b)
    assert math.isclose(a[19, 0], 0.05 * 0.1 * 0.9 ** 19, rel_tol=1e-12)
    assert math.isclose(a[20, 0], 0.05 * 0.9 ** 20, rel_tol=1e-12)
    assert chained.optimizer is opt


EPOCH_CASES = [c for c in CASES if c[0] != "CosineAnnealingWarmRestarts"] + [
    ("LambdaLR", dict(lr_lambda=lambda e: 0.9 ** e), "sgd", 300),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.9), "sgd", 300)]


@pytest.mark.parametrize("case", EPOCH_CASES, ids=[_ids(c) for c in EPOCH_CASES])
def test_step_epoch_matches_torch(case):
    """The deprecated step(epoch): torch's warning, last_epoch = epoch, the closed form
    where the scheduler has one (get_lr at that epoch otherwise), mixed with step()."""
    torch = pytest.importorskip("torch")
    name, kw, kind, n = case
    epochs = [3, None, 10, 7, None, 0, 25, None, None, 60, 2, n - 1, None]
    if name == "OneCycleLR":
        epochs = [e if e is None else min(e, n - 2) for e in epochs]
    opt, topt = FakeOptimizer(kind=kind), _torch_opt(torch, kind)
    ours = getattr(S, name)(opt, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    for e in epochs:
        if e is None:
            ours.step()
        else:
            with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step"):
                ours.step(e)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.step() if e is None else theirs.step(e)
        assert ours.last_epoch == theirs.last_epoch
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12,
                                   atol=1e-18)
        np.testing.assert_allclose(_momentum(opt), _momentum(topt), rtol=1e-12)


def test_reduce_lr_on_plateau_step_epoch_matches_torch():
    torch = pytest.importorskip("torch")
    opt, topt = FakeOptimizer(), _torch_opt(torch)
    ours = S.ReduceLROnPlateau(opt, patience=1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, patience=1)
    for i, m in enumerate(_metrics(40)):
        e = 100 + 2 * i if i % 3 == 0 else None
        if e is None:
            ours.step(m)
        else:
            with pytest.warns(UserWarning, match="epoch parameter"):
                ours.step(m, e)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.step(m, e)
        assert ours.last_epoch == theirs.last_epoch
        assert ours.get_last_lr() == theirs.get_last_lr()
