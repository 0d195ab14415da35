"""gradkit.torch.optim: torch.optim's optimizers stepping with gradkit's kernels --
trajectories equal torch's, state dicts in both directions, lr schedulers, and
PyTorch's own step where the kernels do not take the case."""
import copy
import inspect

import pytest

torch = pytest.importorskip("torch")
go = pytest.importorskip("gradkit.torch.optim")

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, betas=(0.8, 0.99))),
    ("Adam", dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-10, atol=1e-12)}


def _model(dtype):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(7, 13), torch.nn.Tanh(),
                               torch.nn.Linear(13, 3)).to(dtype)


def _train(model, opt, steps, dtype, sched=None):
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(9, 7, generator=g, dtype=dtype)
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
        if sched is not None:
            sched.step()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name,kw", CONFIGS)
def test_trajectory_equals_torch(name, kw, dtype):
    a, b = _model(dtype), _model(dtype)
    _train(a, getattr(torch.optim, name)(a.parameters(), **kw), 6, dtype)
    _train(b, getattr(go, name)(b.parameters(), **kw), 6, dtype)
    for u, v in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(v, u, **TOL[dtype])


@pytest.mark.parametrize("name,kw", CONFIGS)
def test_state_dict_both_ways(name, kw):
    """Train 3 steps with one, load its state into the other, train 3 more: the same
    parameters as 6 steps with torch (gradkit -> torch and torch -> gradkit)."""
    state_dict_both_ways(name, kw, torch.float64)


def state_dict_both_ways(name, kw, dtype):
    ref = _model(dtype)
    _train(ref, getattr(torch.optim, name)(ref.parameters(), **kw), 6, dtype)
    for first, second in ((go, torch.optim), (torch.optim, go)):
        m = _model(dtype)
        o1 = getattr(first, name)(m.parameters(), **kw)
        _train(m, o1, 3, dtype)
        o2 = getattr(second, name)(m.parameters(), **kw)
        o2.load_state_dict(copy.deepcopy(o1.state_dict()))
        g = torch.Generator().manual_seed(1)
        for _ in range(3):  # the first 3 batches again: advance the data stream
            torch.randn(9, 7, generator=g, dtype=dtype)
        for _ in range(3):
            x = torch.randn(9, 7, generator=g, dtype=dtype)
            o2.zero_grad()
            m(x).square().mean().backward()
            o2.step()
        for u, v in zip(ref.parameters(), m.parameters()):
            torch.testing.assert_close(v, u, **TOL[dtype])


def test_lr_schedulers_drive_it():
    dtype = torch.float64
    a, b = _model(dtype), _model(dtype)
    oa, ob = torch.optim.AdamW(a.parameters(), lr=0.05), go.AdamW(b.parameters(), lr=0.05)
    sa = torch.optim.lr_scheduler.OneCycleLR(oa, max_lr=0.1, total_steps=8)
    sb = torch.optim.lr_scheduler.OneCycleLR(ob, max_lr=0.1, total_steps=8)
    _train(a, oa, 8, dtype, sa)
    _train(b, ob, 8, dtype, sb)
    assert oa.param_groups[0]["lr"] == ob.param_groups[0]["lr"]
    for u, v in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(v, u, **TOL[dtype])


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_same_constructor_as_torch(name):
    ours, theirs = getattr(go, name), getattr(torch.optim, name)
    assert issubclass(ours, theirs)
    assert inspect.signature(ours) == inspect.signature(theirs)


def test_kernel_runs_in_place_on_the_tensors(monkeypatch):
    from gradkit.optim import functional
    seen = []
    real = functional.adam_

    def spy(param, *args, **kwargs):
        seen.extend(p.ctypes.data for p in param)
        return real(param, *args, **kwargs)

    monkeypatch.setattr(go._f, "adam_", spy)
    m = _model(torch.float32)
    opt = go.Adam(m.parameters(), lr=0.1, fused=True)  # accepted, no effect
    m(torch.randn(2, 7)).sum().backward()
    opt.step()
    assert seen == [p.data_ptr() for p in m.parameters()]


def test_torch_step_where_the_kernels_do_not_apply(monkeypatch):
    """float16 parameters take torch's own step (and so does differentiable=True,
    whose autograd through the step only torch's code gives)."""
    monkeypatch.setattr(go._f, "adam_", None)  # would raise TypeError if reached
    for dtype, kw in ((torch.float16, {}), (torch.float16, dict(foreach=True))):
        m = _model(dtype)
        ref = copy.deepcopy(m)
        oa, ob = torch.optim.Adam(ref.parameters(), lr=0.1, **kw), \
            go.Adam(m.parameters(), lr=0.1, **kw)
        for mm, o in ((ref, oa), (m, ob)):
            o.zero_grad()
            mm(torch.ones(2, 7, dtype=dtype)).float().sum().backward()
            o.step()
        for u, v in zip(ref.parameters(), m.parameters()):
            assert torch.equal(u, v)
    m = _model(torch.float32)
    assert not go.Adam(m.parameters(), differentiable=True)._ours()
    assert go.Adam(m.parameters())._ours()


def test_closure_and_missing_gradients():
    m = _model(torch.float64)
    frozen = m[2].bias
    opt = go.SGD(m.parameters(), lr=0.1, momentum=0.9)
    before = frozen.detach().clone()

    def closure():
        opt.zero_grad()
        out = m[1](m[0](torch.ones(2, 7, dtype=torch.float64)))
        loss = (out @ m[2].weight.T).sum()  # bias not used: its grad stays None
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss is not None and torch.equal(frozen, before)
    assert "momentum_buffer" not in opt.state[frozen]
    assert opt.state[m[0].weight]["momentum_buffer"].shape == m[0].weight.shape


def steps_equal_numpy_twin(name, kw):
    """4 steps of gradkit.torch.optim.<name> on a torch model and of gradkit.optim.<name>
    on NumPy copies of its parameters, with the same gradients: bitwise the same
    parameters.  Returns (model, torch-side optimizer, NumPy-side optimizer)."""
    import numpy as np

    import gradkit
    m = _model(torch.float64)
    arrays = [p.detach().numpy().copy() for p in m.parameters()]
    ours = getattr(go, name)(m.parameters(), **kw)
    ref = getattr(gradkit.optim, name)(arrays, **kw)
    g = torch.Generator().manual_seed(1)
    for _ in range(4):
        x = torch.randn(9, 7, generator=g, dtype=torch.float64)
        ours.zero_grad()
        m(x).square().mean().backward()
        ref.step([p.grad.numpy().copy() for p in m.parameters()])
        ours.step()
    for p, a in zip(m.parameters(), arrays):
        np.testing.assert_array_equal(p.detach().numpy(), a)
    return m, ours, ref


def test_lars_equals_gradkits_numpy_lars():
    m, ours, _ = steps_equal_numpy_twin("LARS", dict(lr=0.1, weight_decay=1e-3,
                                                     nesterov=True))
    assert set(ours.state_dict()["state"][0]) == {"trace"}
    with pytest.raises(ValueError):
        go.LARS(m.parameters(), lr=-1.0)
    with pytest.raises(TypeError, match="CPU float32/float64"):
        half = torch.nn.Linear(2, 2).half()
        half(torch.ones(1, 2).half()).sum().backward()
        go.LARS(half.parameters(), lr=0.1).step()


@pytest.mark.parametrize("name,kw", CONFIGS)
def test_numpy_optimizers_state_dict_into_torch_and_back(name, kw):
    """gradkit.optim (NumPy) -> torch.optim through to_torch_state_dict, and torch ->
    gradkit.optim directly: either way the run continues as 6 steps of torch."""
    import gradkit
    dtype = torch.float64
    ref = _model(dtype)
    _train(ref, getattr(torch.optim, name)(ref.parameters(), **kw), 6, dtype)

    def grads_of(m, x):
        m.zero_grad()
        m(x).square().mean().backward()
        return [p.grad.numpy().copy() for p in m.parameters()]

    for numpy_first in (True, False):
        m = _model(dtype)
        arrays = [p.detach().numpy() for p in m.parameters()]  # views: shared memory
        g = torch.Generator().manual_seed(1)
        if numpy_first:
            first = getattr(gradkit.optim, name)(arrays, **kw)
            for _ in range(3):
                first.step(grads_of(m, torch.randn(9, 7, generator=g, dtype=dtype)))
            second = getattr(torch.optim, name)(m.parameters(), **kw)
            second.load_state_dict(go.to_torch_state_dict(first.state_dict()))
            step = lambda x: (grads_of(m, x), second.step())  # noqa: E731
        else:
            first = getattr(torch.optim, name)(m.parameters(), **kw)
            for _ in range(3):
                grads_of(m, torch.randn(9, 7, generator=g, dtype=dtype))
                first.step()
            second = getattr(gradkit.optim, name)(arrays, **kw)
            second.load_state_dict(first.state_dict())
            step = lambda x: second.step(grads_of(m, x))  # noqa: E731
        for _ in range(3):
            step(torch.randn(9, 7, generator=g, dtype=dtype))
        for u, v in zip(ref.parameters(), m.parameters()):
            torch.testing.assert_close(v, u, **TOL[dtype])
    with pytest.raises(TypeError, match="state_dict"):
        go.to_torch_state_dict({"state": {}})
