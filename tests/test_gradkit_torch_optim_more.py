"""gradkit.torch.optim's NAdam, RAdam, Adamax, Adadelta, Adafactor (torch.optim subclasses)
and Lion (a torch.optim.Optimizer with optax.lion's formulas): trajectories equal torch's, state
dicts in both directions, schedulers, torch's own step where the kernels do not apply."""
import copy
import inspect

import pytest

torch = pytest.importorskip("torch")
go = pytest.importorskip("gradkit.torch.optim")
from test_gradkit_torch_optim import (TOL, _model, _train,  # noqa: E402
                                      state_dict_both_ways, steps_equal_numpy_twin)

CONFIGS = [
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01, maximize=True)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.6))),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, betas=(0.8, 0.6))),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1, betas=(0.5, 0.9), maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.5, weight_decay=0.1, maximize=True)),
    ("Adafactor", dict()),
    ("Adafactor", dict(lr=0.05, weight_decay=0.1, maximize=True)),
    ("Adafactor", dict(eps=(1e-5, 1e-2), d=2.0, beta2_decay=-0.6)),
]
NAMES = ["NAdam", "RAdam", "Adamax", "Adadelta", "Adafactor"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name,kw", CONFIGS)
def test_trajectory_equals_torch(name, kw, dtype):
    a, b = _model(dtype), _model(dtype)
    oa = getattr(torch.optim, name)(a.parameters(), **kw)
    ob = getattr(go, name)(b.parameters(), **kw)
    _train(a, oa, 6, dtype)
    _train(b, ob, 6, dtype)
    for u, v in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(v, u, **TOL[dtype])
    for pa, pb in zip(a.parameters(), b.parameters()):
        sa, sb = oa.state[pa], ob.state[pb]
        assert set(sa) == set(sb)
        for k in sa:
            assert sa[k].dtype == sb[k].dtype and sa[k].shape == sb[k].shape
            if k == "step" or k == "mu_product":  # NAdam's: updated in float32 as torch
                assert torch.equal(sa[k], sb[k])
            else:
                torch.testing.assert_close(sb[k], sa[k], **TOL[dtype])


@pytest.mark.parametrize("name,kw", CONFIGS)
def test_state_dict_both_ways(name, kw):
    """3 steps with one, its state loaded into the other, 3 more: torch's 6 steps.  In
    float32: in float64 torch's load_state_dict casts NAdam's mu_product to float64."""
    state_dict_both_ways(name, kw, torch.float32)


@pytest.mark.parametrize("name", NAMES)
def test_same_constructor_as_torch(name):
    ours, theirs = getattr(go, name), getattr(torch.optim, name)
    assert issubclass(ours, theirs)
    assert inspect.signature(ours) == inspect.signature(theirs)


def test_schedulers_drive_them():
    dtype = torch.float64
    for name, kw in CONFIGS[::3]:
        a, b = _model(dtype), _model(dtype)
        oa = getattr(torch.optim, name)(a.parameters(), **kw)
        ob = getattr(go, name)(b.parameters(), **kw)
        sa = torch.optim.lr_scheduler.LinearLR(oa, start_factor=1.0, end_factor=0.1,
                                               total_iters=5)
        sb = torch.optim.lr_scheduler.LinearLR(ob, start_factor=1.0, end_factor=0.1,
                                               total_iters=5)
        _train(a, oa, 6, dtype, sa)
        _train(b, ob, 6, dtype, sb)
        assert oa.param_groups[0]["lr"] == ob.param_groups[0]["lr"]
        for u, v in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(v, u, **TOL[dtype])


def test_nadam_with_float64_mu_product_takes_torchs_step(monkeypatch):
    """A state dict loaded into float64 parameters has torch cast mu_product to float64;
    the kernels keep it in float32, so torch's own step runs then."""
    m = _model(torch.float64)
    o = go.NAdam(m.parameters(), lr=0.01)
    _train(m, o, 1, torch.float64)
    assert o._ours()
    o.load_state_dict(copy.deepcopy(o.state_dict()))
    assert o.state[next(m.parameters())]["mu_product"].dtype == torch.float64
    assert not o._ours()
    monkeypatch.setattr(go._f, "nadam_", None)  # would raise if reached
    _train(m, o, 1, torch.float64)


@pytest.mark.parametrize("name,kw", [
    ("Lion", dict(lr=0.01)),
    ("Lion", dict(lr=0.01, betas=(0.5, 0.7), weight_decay=0.1, maximize=True)),
    ("LAMB", dict(lr=0.01)),
    ("LAMB", dict(lr=0.01, betas=(0.5, 0.7), eps_root=1e-8, weight_decay=0.1,
                  maximize=True))])
def test_optax_ones_equal_gradkits_numpy_ones(name, kw):
    m, ours, ref = steps_equal_numpy_twin(name, kw)
    sd = ours.state_dict()
    assert set(sd["state"][0]) == set(ref.state_dict()["state"][0])
    other = getattr(go, name)(_model(torch.float64).parameters(), **kw)
    other.load_state_dict(copy.deepcopy(sd))
    assert torch.equal(other.state_dict()["state"][0]["exp_avg"], sd["state"][0]["exp_avg"])
    with pytest.raises(ValueError):
        getattr(go, name)(m.parameters(), lr=-1.0)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        getattr(go, name)(m.parameters(), lr=0.1, betas=(0.9, 2.0))
    with pytest.raises(TypeError, match=f"{name} steps contiguous CPU"):
        half = torch.nn.Linear(2, 2).half()
        half(torch.ones(1, 2).half()).sum().backward()
        getattr(go, name)(half.parameters(), lr=0.1).step()




def test_adafactor_equals_gradkits_numpy_one_bitwise():
    steps_equal_numpy_twin("Adafactor", dict(weight_decay=0.1))
