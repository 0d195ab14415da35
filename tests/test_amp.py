"""LossScaler: the fused unscale kernel against the reference, the skip/backoff/growth
rules against the reference and torch.amp.GradScaler, stage errors, state dicts."""
import numpy as np
import pytest

from gradkit import amp, reference as ref
from conftest import assert_bitwise_equal, run_threads


class FakeOptimizer:
    """The optimizer interface the scaler uses: step(grads)."""

    def __init__(self, lr=0.1):
        self.param_groups = [{"lr": lr}]
        self.steps = []

    def step(self, grads):
        self.steps.append([g.copy() for g in grads])


def _grads(rng, dtype, shapes=((3, 5), (40000,), (1,), (0,), (7, 9)), scale=1.0):
    return [(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]


@pytest.mark.parametrize("bad", [None, np.inf, -np.inf, np.nan])
def test_unscale_matches_reference(bad, dtype, rng):
    g = _grads(rng, dtype, scale=1000.0)
    if bad is not None:
        g[1][-1] = bad
    r = [a.copy() for a in g]
    s = amp.LossScaler(init_scale=3.0)  # 1/3 is inexact: float32 rounding matters
    found = s.unscale_(g)
    found_ref = ref.amp.unscale_check_(r, np.float32(1.0 / 3.0))
    assert found is found_ref is (bad is not None)
    for a, b in zip(g, r):
        assert_bitwise_equal(a, b)


def test_unscale_mixed_dtypes_and_threads(rng):
    g0 = [rng.standard_normal(50000).astype(np.float32), rng.standard_normal((300, 200)),
          rng.standard_normal(17).astype(np.float32)]
    g0[2][4] = np.nan

    def run():
        g = [a.copy() for a in g0]
        found = amp.LossScaler(init_scale=1024.0).unscale_(g)
        return [np.bool_(found)] + g

    a, b = run_threads(run)
    assert_bitwise_equal(a, b)
    r = [x.copy() for x in g0]
    assert ref.amp.unscale_check_(r, np.float32(1 / 1024.0))
    for x, y in zip(a[1:], r):
        assert_bitwise_equal(x, y)


def _drive(scaler, pattern, rng, dtype, opt):
    """One step per entry of `pattern` (None: clean, else the bad value injected)."""
    scales, stepped = [], []
    for bad in pattern:
        g = _grads(rng, dtype, [(20,), (5, 5)])
        if bad is not None:
            g[1][2, 3] = bad
        stepped.append(scaler.step(opt, g))
        scaler.update()
        scales.append(scaler.get_scale())
    return scales, stepped


PATTERN = ([None] * 7 + [np.inf] + [None] * 3 + [np.nan, -np.inf] + [None] * 12
           + [np.nan] + [None] * 5)


def test_rules_match_reference(dtype, rng):
    kw = dict(init_scale=1024.0, growth_factor=3.0, backoff_factor=0.25, growth_interval=4)
    a = _drive(amp.LossScaler(**kw), PATTERN, np.random.default_rng(1), dtype, FakeOptimizer())
    b = _drive(ref.amp.LossScaler(**kw), PATTERN, np.random.default_rng(1), dtype, FakeOptimizer())
    assert a == b
    assert a[1] == [bad is None for bad in PATTERN]
    # the rules spelled out for the first steps: 4 clean steps grow, a bad one backs off
    assert a[0][:8] == [1024.0, 1024.0, 1024.0, 3072.0, 3072.0, 3072.0, 3072.0, 768.0]


def test_growth_never_overflows_float32():
    s = amp.LossScaler(init_scale=2.0 ** 127, growth_interval=1)
    opt = FakeOptimizer()
    for _ in range(3):
        s.step(opt, [np.ones(3, np.float32)])
        s.update()
        assert s.get_scale() == 2.0 ** 127


def test_step_skips_and_passes_unscaled_grads(rng):
    s = amp.LossScaler(init_scale=8.0)
    opt = FakeOptimizer()
    g = [np.full(4, 16.0, np.float32)]
    assert s.step(opt, g) is True
    np.testing.assert_array_equal(opt.steps[0][0], np.full(4, 2.0, np.float32))
    s.update()
    g = [np.array([1.0, np.inf], np.float32)]
    assert s.step(opt, g) is False and len(opt.steps) == 1
    s.update()
    assert s.get_scale() == 4.0


def test_stage_errors():
    s = amp.LossScaler()
    opt = FakeOptimizer()
    g = [np.ones(3)]
    s.unscale_(g)
    with pytest.raises(RuntimeError, match="already been called"):
        s.unscale_(g)
    assert s.step(opt, g)  # uses the recorded check: no second unscale
    np.testing.assert_array_equal(opt.steps[0][0], np.full(3, 2.0 ** -16))
    with pytest.raises(RuntimeError, match="step"):
        s.step(opt, g)
    with pytest.raises(RuntimeError, match="after step"):
        s.unscale_(g, optimizer=opt)
    s.update()
    with pytest.raises(RuntimeError, match="No inf checks"):
        s.update()  # update reset the per-step state
    s.unscale_(g, optimizer=opt)  # allowed again after update
    s.step(opt, g)
    s.update()


def test_scale_values(dtype):
    s = amp.LossScaler(init_scale=512.0)
    assert s.scale(2.5) == 1280.0 and isinstance(s.scale(2.5), float)
    y = s.scale(np.array([1.5, -2.0], dtype))
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, np.array([768.0, -1024.0], dtype))
    assert s.scale(dtype.type(2.0)).dtype == dtype
    out = s.scale([1.0, np.ones(2, dtype)])
    assert out[0] == 512.0 and out[1].dtype == dtype
    with pytest.raises(TypeError, match="loss"):
        s.scale("1.0")


def test_disabled_passes_through():
    s = amp.LossScaler(enabled=False)
    opt = FakeOptimizer()
    g = [np.array([np.inf, 2.0])]
    loss = np.ones(2)
    assert s.scale(loss) is loss
    assert s.unscale_(g) is False and g[0][1] == 2.0
    assert s.step(opt, g) is True and len(opt.steps) == 1
    s.update()
    assert s.get_scale() == 1.0 and s.state_dict() == {}
    s.load_state_dict({})


def test_state_dict_round_trip():
    s = amp.LossScaler(init_scale=256.0, growth_interval=5)
    opt = FakeOptimizer()
    for _ in range(3):
        s.step(opt, [np.ones(2)])
        s.update()
    d = s.state_dict()
    assert d == {"scale": 256.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                 "growth_interval": 5, "_growth_tracker": 3}
    t = amp.LossScaler()
    t.load_state_dict(d)
    assert t.state_dict() == d
    for _ in range(2):
        t.step(opt, [np.ones(2)])
        t.update()
    assert t.get_scale() == 512.0
    with pytest.raises(RuntimeError, match="empty"):
        t.load_state_dict({})


@pytest.mark.parametrize("kw,match", [
    (dict(growth_factor=1.0), "growth_factor"), (dict(growth_factor=0.5), "growth_factor"),
    (dict(backoff_factor=1.0), "backoff_factor"), (dict(backoff_factor=0.0), "backoff_factor"),
    (dict(backoff_factor=-0.5), "backoff_factor"), (dict(init_scale=0.0), "init_scale"),
    (dict(init_scale=float("inf")), "init_scale"), (dict(growth_interval=0), "growth_interval"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        amp.LossScaler(**kw)


def test_bad_grads():
    s = amp.LossScaler()
    with pytest.raises(TypeError, match=r"grads\[0\]"):
        s.unscale_([np.arange(3)])
    with pytest.raises(TypeError, match=r"grads\[0\]"):
        s.unscale_([[1.0, 2.0]])
    s.unscale_([np.ones(2)])  # a failed call did not record a stage


# ---- PyTorch ---------------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    dict(init_scale=1024.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=3),
    dict(init_scale=3.0, growth_factor=1.7, backoff_factor=0.3, growth_interval=2),
    dict(init_scale=2.0 ** 126, growth_factor=4.0, backoff_factor=0.5, growth_interval=1),
])
def test_matches_torch_grad_scaler(kw, dtype, rng):
    torch = pytest.importorskip("torch")
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    params = [torch.nn.Parameter(torch.zeros(s, dtype=tdtype)) for s in [(20,), (5, 5)]]
    topt = torch.optim.SGD(params, lr=0.1)
    tscaler = torch.amp.GradScaler("cpu", **kw)
    scaler = amp.LossScaler(**kw)
    opt = FakeOptimizer()
    for i, bad in enumerate(PATTERN):
        g = _grads(rng, dtype, [(20,), (5, 5)], scale=100.0)
        if bad is not None:
            g[1][2, 3] = bad
        for p, a in zip(params, g):
            p.grad = torch.from_numpy(a.copy())
        before = [p.detach().clone() for p in params]
        tscaler.scale(torch.ones((), dtype=tdtype))
        if i % 2:  # explicit unscale_ on odd steps
            tscaler.unscale_(topt)
            scaler.unscale_(g)
        tscaler.step(topt)
        stepped = scaler.step(opt, g)
        for a, p in zip(g, params):  # same unscaled gradients
            assert_bitwise_equal(a, p.grad.numpy())
        assert stepped == any((p.detach() != b).any().item() for p, b in zip(params, before))
        tscaler.update()
        scaler.update()
        assert scaler.get_scale() == tscaler.get_scale()
        assert scaler.state_dict() == tscaler.state_dict()
    ours = amp.LossScaler()
    ours.load_state_dict(tscaler.state_dict())
    assert ours.state_dict() == tscaler.state_dict()


def test_step_with_a_bad_gradient_writes_nothing():
    """LossScaler.step used to unscale every gradient, then let the optimizer raise on
    the bad one and stay "stepped"; now the gradients are checked first."""
    from gradkit import optim
    p = [np.ones(3), np.ones(2)]
    o = optim.SGD(p, lr=0.5)
    s = amp.LossScaler(init_scale=4.0)
    good = [np.full(3, 4.0), np.full(2, 8.0)]
    bad = [good[0].copy(), np.ones(5)]
    with pytest.raises(ValueError, match=r"grads\[1\]"):
        s.step(o, bad)
    assert_bitwise_equal(bad[0], np.full(3, 4.0))
    assert_bitwise_equal(p, [np.ones(3), np.ones(2)])
    assert s.step(o, good)  # not "stepped": the corrected retry works
    assert_bitwise_equal(p, [np.full(3, 0.5), np.full(2, 0.0)])
    s.update()


def test_load_state_dict_is_all_or_nothing():
    s = amp.LossScaler(init_scale=8.0)
    before = s.state_dict()
    d = amp.LossScaler(init_scale=2.0, growth_factor=3.0).state_dict()
    del d["_growth_tracker"]
    with pytest.raises(ValueError, match="_growth_tracker"):
        s.load_state_dict(d)
    d = amp.LossScaler(init_scale=2.0, growth_factor=3.0).state_dict()
    d["backoff_factor"] = 2.0
    with pytest.raises(ValueError, match="backoff_factor"):
        s.load_state_dict(d)
    assert s.state_dict() == before


def test_unscale_rejects_byte_swapped_and_overlapping_grads():
    s = amp.LossScaler(init_scale=4.0)
    g = [np.ones(3), np.ones(3, ">f8")]
    with pytest.raises(TypeError, match=r"grads\[1\].*native byte order"):
        s.unscale_(g)
    assert_bitwise_equal(g[0], np.ones(3))
    buf = np.ones(4)
    with pytest.raises(ValueError, match="overlaps"):
        s.unscale_([buf[:3], buf[1:]])
    assert_bitwise_equal(buf, np.ones(4))
