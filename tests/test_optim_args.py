"""The torch.optim arguments real code passes: foreach/fused/capturable/differentiable,
hyperparameters as 0-d arrays and torch tensors, validation where the user sets a value
(not at a step: an lr a scheduler drove below 0 by round-off steps as in torch), and
Adagrad's initial_accumulator_value as torch reads it."""
import inspect
import subprocess
import sys
import warnings

import numpy as np
import pytest

from gradkit import optim, schedules
from conftest import assert_bitwise_equal

TORCH_NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax",
               "Adadelta", "Adafactor"]
FLAGS = ("foreach", "capturable", "differentiable", "fused")
# a run of each optimizer with every state slot in use
KW = {"SGD": dict(lr=0.1, momentum=0.9), "Adam": dict(lr=1e-2, amsgrad=True),
      "AdamW": dict(lr=1e-2), "RMSprop": dict(centered=True, momentum=0.5),
      "Adagrad": dict(lr_decay=0.1), "LARS": dict(lr=0.5), "NAdam": dict(lr=1e-2),
      "RAdam": dict(lr=1e-2), "Adamax": dict(lr=1e-2), "Adadelta": dict(lr=0.5),
      "Lion": dict(lr=1e-3), "LAMB": dict(lr=1e-2), "Adafactor": dict(weight_decay=0.1)}


def _params(rng, dtype=np.float64):
    return [rng.standard_normal(s).astype(dtype) for s in [(3, 4), (5,)]]


def _grad_seq(rng, params, n=6):
    return [[rng.standard_normal(p.shape).astype(p.dtype) for p in params]
            for _ in range(n)]


def _run(o, seq):
    for gs in seq:
        o.step([g.copy() for g in gs])


def _torch_steps(torch, o, ts, seq, sched=None):
    for gs in seq:
        for t, g in zip(ts, gs):
            t.grad = torch.tensor(g.copy())
        o.step()
        if sched is not None:
            sched.step()


# ---- foreach / fused / capturable / differentiable ------------------------------------------

@pytest.mark.parametrize("name", TORCH_NAMES)
def test_signature_takes_torchs_arguments_with_torchs_defaults(name):
    """Every argument of the torch optimizer, with its default, in its position (the
    positional ones in torch's order)."""
    torch = pytest.importorskip("torch")
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    mine = inspect.signature(getattr(optim, name)).parameters
    for k, p in theirs.items():
        assert k in mine, (name, k)
        assert mine[k].default == p.default, (name, k)
        assert mine[k].kind == p.kind, (name, k)
    pos = [k for k, p in theirs.items() if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert [k for k, p in mine.items() if p.kind == p.POSITIONAL_OR_KEYWORD] == pos


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_param_group_keys_are_torchs(name, rng):
    """The same option keys in param_groups (and so in state dicts) as torch, with the
    same default values."""
    torch = pytest.importorskip("torch")
    mine = getattr(optim, name)(_params(rng)).param_groups[0]
    theirs = getattr(torch.optim, name)([torch.zeros(3)]).param_groups[0]
    assert set(mine) == set(theirs)
    for k, v in mine.items():
        if k != "params":
            assert theirs[k] == v, (name, k)


@pytest.mark.parametrize("name", list(KW))
def test_foreach_and_fused_give_the_same_result(name, rng):
    params = _params(rng)
    seq = _grad_seq(rng, params)
    sig = inspect.signature(getattr(optim, name)).parameters
    base = [p.copy() for p in params]
    _run(getattr(optim, name)(base, **KW[name]), seq)
    for flags in [dict(foreach=True), dict(foreach=False), dict(fused=True),
                  dict(fused=False), dict(foreach=False, fused=True),
                  dict(capturable=False, differentiable=False)]:
        flags = {k: v for k, v in flags.items() if k in sig}
        mine = [p.copy() for p in params]
        o = getattr(optim, name)(mine, **KW[name], **flags)
        _run(o, seq)
        assert_bitwise_equal(mine, base)
        for k, v in flags.items():
            assert o.param_groups[0][k] == v


@pytest.mark.parametrize("name,flag", [
    (n, f) for n in KW for f in ("capturable", "differentiable")
    if f in inspect.signature(getattr(optim, n)).parameters])
def test_values_that_cannot_hold_raise_where_set(name, flag, rng):
    params = _params(rng)
    with pytest.raises(ValueError, match=f"{flag}=True"):
        getattr(optim, name)(params, **KW[name], **{flag: True})
    o = getattr(optim, name)(params[:1], **KW[name])
    with pytest.raises(ValueError, match=f"{flag}=True"):
        o.add_param_group({"params": params[1:], flag: True})
    sd = o.state_dict()
    sd["param_groups"][0][flag] = True
    with pytest.raises(ValueError, match=f"{flag}=True"):
        o.load_state_dict(sd)
    assert o.param_groups[0][flag] is False


@pytest.mark.parametrize("name", list(KW))
def test_bad_switch_types_raise_type_error(name, rng):
    sig = inspect.signature(getattr(optim, name)).parameters
    for flag, bad in [("foreach", "yes"), ("fused", 2), ("capturable", None),
                      ("differentiable", "no")]:
        if flag in sig:
            with pytest.raises(TypeError, match=flag):
                getattr(optim, name)(_params(rng), **KW[name], **{flag: bad})


def test_rmsprop_positional_order_is_torchs(rng):
    """torch's RMSprop takes capturable, foreach, maximize, differentiable positionally
    after centered."""
    a, b = _params(rng), _params(rng)
    o = optim.RMSprop(a, 0.01, 0.9, 1e-8, 0.0, 0.0, False, False, None, True, False)
    assert o.param_groups[0]["maximize"] is True
    ref = optim.RMSprop(b, lr=0.01, alpha=0.9, maximize=True)
    assert {k: v for k, v in o.param_groups[0].items() if k != "params"} == \
        {k: v for k, v in ref.param_groups[0].items() if k != "params"}


# ---- hyperparameters as 0-d arrays and tensors ---------------------------------------------

def _as_array(kw):
    out = {}
    for k, v in kw.items():
        if isinstance(v, float):
            out[k] = np.array(v)
        elif isinstance(v, tuple):
            out[k] = tuple(np.array(x) for x in v)
        else:
            out[k] = v
    return out


HYPER = {"SGD": dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
         "Adam": dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
         "AdamW": dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
         "RMSprop": dict(lr=1e-2, alpha=0.9, eps=1e-6, momentum=0.5, weight_decay=0.1),
         "Adagrad": dict(lr=0.1, lr_decay=0.1, weight_decay=0.1,
                         initial_accumulator_value=0.5, eps=1e-6),
         "LARS": dict(lr=0.5, momentum=0.8, weight_decay=0.01, trust_coefficient=0.01,
                      eps=1e-6),
         "NAdam": dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1,
                       momentum_decay=0.01),
         "RAdam": dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
         "Adamax": dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
         "Adadelta": dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1),
         "Lion": dict(lr=1e-3, betas=(0.8, 0.95), weight_decay=0.1),
         "LAMB": dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-5, weight_decay=0.1),
         "Adafactor": dict(lr=1e-2, beta2_decay=-0.7, eps=(1e-20, 1e-3), d=1.5,
                           weight_decay=0.1)}


@pytest.mark.parametrize("name", list(HYPER))
def test_zero_d_arrays_step_as_floats(name, rng):
    params = _params(rng)
    seq = _grad_seq(rng, params)
    a, b = [p.copy() for p in params], [p.copy() for p in params]
    _run(getattr(optim, name)(a, **HYPER[name]), seq)
    o = getattr(optim, name)(b, **_as_array(HYPER[name]))
    _run(o, seq)
    assert_bitwise_equal(b, a)
    with pytest.raises(ValueError, match="lr"):
        getattr(optim, name)(_params(rng), **{**HYPER[name], "lr": np.array(-1.0)})
    with pytest.raises(TypeError, match="lr"):
        getattr(optim, name)(_params(rng), **{**HYPER[name], "lr": np.array([0.1, 0.2])})
    with pytest.raises(TypeError, match="lr"):
        getattr(optim, name)(_params(rng), **{**HYPER[name], "lr": np.array(True)})


@pytest.mark.parametrize("name", list(HYPER))
def test_torch_tensor_hyperparameters(name, rng):
    torch = pytest.importorskip("torch")
    params = _params(rng)
    seq = _grad_seq(rng, params)
    a, b = [p.copy() for p in params], [p.copy() for p in params]
    _run(getattr(optim, name)(a, **HYPER[name]), seq)
    f64 = torch.float64  # float32 tensors would round the values
    kw = {k: (torch.tensor(v, dtype=f64) if isinstance(v, float) else
              tuple(torch.tensor(x, dtype=f64) for x in v) if isinstance(v, tuple) else v)
          for k, v in HYPER[name].items()}
    kw["lr"] = kw["lr"].reshape(1)  # one element, any shape (torch's rule)
    o = getattr(optim, name)(b, **kw)
    _run(o, seq[:3])
    kw["lr"].fill_(HYPER[name]["lr"])  # a tensor changed in place is read again
    _run(o, seq[3:])
    assert_bitwise_equal(b, a)
    with pytest.raises(TypeError, match="lr"):
        getattr(optim, name)(_params(rng), **{**kw, "lr": torch.ones(2)})


def test_tensor_lr_matches_torch_with_a_scheduler(rng):
    """torch's schedulers fill a tensor lr in place; the gradkit optimizer reads it."""
    torch = pytest.importorskip("torch")
    params = _params(rng)
    seq = _grad_seq(rng, params, 8)
    mine = [p.copy() for p in params]
    o = optim.Adam(mine, lr=torch.tensor(0.01, dtype=torch.float64))
    s = schedules.StepLR(o, 2, 0.5)
    ts = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    to = torch.optim.Adam(ts, lr=torch.tensor(0.01, dtype=torch.float64))
    tsched = torch.optim.lr_scheduler.StepLR(to, 2, 0.5)
    for gs in seq:
        o.step([g.copy() for g in gs])
        s.step()
    _torch_steps(torch, to, ts, seq, tsched)
    np.testing.assert_allclose(o.param_groups[0]["lr"], to.param_groups[0]["lr"].item(),
                               rtol=0)
    for m, t in zip(mine, ts):
        np.testing.assert_allclose(m, t.detach().numpy(), rtol=1e-12)


def test_hyperparameter_conversion_does_not_import_torch():
    code = ("import sys, numpy as np\n"
            "from gradkit import optim\n"
            "p = [np.zeros(3)]\n"
            "o = optim.Adam(p, lr=np.array(0.1), betas=(np.array(0.9), 0.99))\n"
            "o.step([np.ones(3)])\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- validation where set, not at the step ------------------------------------------------

def _linear_to_zero(module_optim, module_sched, params, **kw):
    o = module_optim.Adam(params, lr=1e-3)
    return o, module_sched.LinearLR(o, start_factor=1 / 3, end_factor=0.0, total_iters=4,
                                    **kw)


def test_linear_lr_to_zero_then_step_matches_torch(rng):
    """LinearLR's recursion ends a rounding error below 0 (-1.85e-20 here); torch steps
    with that lr, and so does gradkit, with torch's lrs and parameters."""
    torch = pytest.importorskip("torch")
    params = _params(rng)
    seq = _grad_seq(rng, params, 6)
    mine = [p.copy() for p in params]
    o, s = _linear_to_zero(optim, schedules, mine)
    lrs = []
    for gs in seq:
        o.step([g.copy() for g in gs])
        s.step()
        lrs.append(o.param_groups[0]["lr"])
    assert lrs[-1] < 0  # the case in question
    ts = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    to, ts_ = _linear_to_zero(torch.optim, torch.optim.lr_scheduler, ts)
    tl = []
    for gs in seq:
        _torch_steps(torch, to, ts, [gs], ts_)
        tl.append(to.param_groups[0]["lr"])
    assert lrs == tl
    for m, t in zip(mine, ts):
        np.testing.assert_allclose(m, t.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", list(KW))
def test_negative_lr_written_between_steps_is_used_as_torch(name, rng):
    """A value written into param_groups is not range-checked at the step (torch checks
    only its constructor's arguments): lr = -0.1 ascends, as torch's step does."""
    params = _params(rng)
    seq = _grad_seq(rng, params, 4)
    a, b = [p.copy() for p in params], [p.copy() for p in params]
    oa = getattr(optim, name)(a, **KW[name])
    ob = getattr(optim, name)(b, **KW[name])
    _run(oa, seq[:2])
    _run(ob, seq[:2])
    oa.param_groups[0]["lr"] = -0.1
    ob.param_groups[0]["lr"] = 0.1
    no_twin = name not in TORCH_NAMES  # LARS, Lion, LAMB: a step with lr < 0 runs
    ob.param_groups[0]["lr" if no_twin else "maximize"] = -0.1 if no_twin else True
    if no_twin:
        _run(oa, seq[2:])
        _run(ob, seq[2:])
        assert_bitwise_equal(a, b)
        return
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    to = getattr(torch.optim, name)(ts, **KW[name])
    _torch_steps(torch, to, ts, seq[:2])
    to.param_groups[0]["lr"] = -0.1
    _torch_steps(torch, to, ts, seq[2:])
    _run(oa, seq[2:])
    for m, t in zip(a, ts):
        np.testing.assert_allclose(m, t.detach().numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("name", list(KW))
def test_values_are_checked_where_the_user_sets_them(name, rng):
    params = _params(rng)
    o = getattr(optim, name)(params[:1], **KW[name])
    with pytest.raises(ValueError, match="lr"):
        o.add_param_group({"params": params[1:], "lr": -0.1})
    sd = o.state_dict()
    sd["param_groups"][0]["lr"] = -1e-20
    with pytest.raises(ValueError, match="lr"):
        o.load_state_dict(sd)
    assert len(o.param_groups) == 1 and o.param_groups[0]["lr"] == KW[name].get(
        "lr", o.defaults["lr"])
    o.param_groups[0]["lr"] = None  # no number at all: the step cannot use it
    with pytest.raises(TypeError, match="lr"):
        o.step([np.ones_like(params[0])])


def test_sgd_nesterov_condition_is_a_constructor_check(rng):
    """torch checks nesterov's momentum > 0, dampening = 0 in the constructor only; a
    step after momentum was set to 0 is plain SGD, as torch's."""
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(_params(rng), momentum=0.0, nesterov=True)
    params = _params(rng)
    seq = _grad_seq(rng, params, 3)
    a, b = [p.copy() for p in params], [p.copy() for p in params]
    o = optim.SGD(a, lr=0.1, momentum=0.9, nesterov=True)
    o.param_groups[0]["momentum"] = 0.0
    _run(o, seq)
    _run(optim.SGD(b, lr=0.1), seq)
    assert_bitwise_equal(a, b)


# ---- Adagrad's initial_accumulator_value ---------------------------------------------------

def test_adagrad_group_initial_accumulator_value_as_torch(rng):
    """torch starts every state at the constructor's initial_accumulator_value, whatever
    a group says (in the constructor's groups and in add_param_group); gradkit does the
    same and warns that the group's value is not used."""
    torch = pytest.importorskip("torch")
    params = [rng.standard_normal(s) for s in [(3, 4), (5,), (2,)]]
    seq = _grad_seq(rng, params, 5)
    mine = [p.copy() for p in params]
    with pytest.warns(UserWarning, match="initial_accumulator_value=2.0 is not used"):
        o = optim.Adagrad([{"params": mine[:1]},
                           {"params": mine[1:2], "initial_accumulator_value": 2.0}],
                          initial_accumulator_value=0.5)
    with pytest.warns(UserWarning, match="not used"):
        o.add_param_group({"params": mine[2:], "initial_accumulator_value": 3.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the constructor's own value: no warning
        optim.Adagrad([{"params": [np.zeros(2)], "initial_accumulator_value": 0.5}],
                      initial_accumulator_value=0.5)
    ts = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    to = torch.optim.Adagrad([{"params": ts[:1]},
                              {"params": ts[1:2], "initial_accumulator_value": 2.0}],
                             initial_accumulator_value=0.5)
    to.add_param_group({"params": ts[2:], "initial_accumulator_value": 3.0})
    _run(o, seq)
    _torch_steps(torch, to, ts, seq)
    for m, t in zip(mine, ts):
        np.testing.assert_allclose(m, t.detach().numpy(), rtol=1e-12)
    for i, st in o.state_dict()["state"].items():
        np.testing.assert_allclose(st["sum"], to.state_dict()["state"][i]["sum"].numpy(),
                                   rtol=1e-12)
    assert o.param_groups[1]["initial_accumulator_value"] == 2.0  # kept, as torch


def test_adagrad_bad_initial_accumulator_value(rng):
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        optim.Adagrad(_params(rng), initial_accumulator_value=-1.0)
    o = optim.Adagrad(_params(rng)[:1])
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        o.add_param_group({"params": [np.zeros(2)], "initial_accumulator_value": -1.0})


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_state_dict_loads_into_torch_and_continues_alike(name, rng):
    """With torch's option keys in param_groups, a gradkit state dict (its arrays made
    tensors) loads into the torch optimizer, which then steps as gradkit does."""
    torch = pytest.importorskip("torch")
    params = _params(rng)
    seq = _grad_seq(rng, params, 6)
    mine = [p.copy() for p in params]
    o = getattr(optim, name)(mine, **KW[name])
    _run(o, seq[:3])
    sd = o.state_dict()
    sd["state"] = {i: {k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                       for k, v in st.items()} for i, st in sd["state"].items()}
    ts = [torch.tensor(p.copy(), requires_grad=True) for p in mine]
    to = getattr(torch.optim, name)(ts, **KW[name])
    to.load_state_dict(sd)
    _run(o, seq[3:])
    _torch_steps(torch, to, ts, seq[3:])
    for m, t in zip(mine, ts):
        np.testing.assert_allclose(m, t.detach().numpy(), rtol=1e-11, atol=1e-14)
