"""gradkit.torch: the custom operators against PyTorch's own functions (values and
gradients to round-off, gradcheck in float64), zero-copy, fallbacks, the modules
(constructor signatures, state_dict, patch) and torch.compile."""
import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional
nn = torch.nn
gt = pytest.importorskip("gradkit.torch")
GF = gt.functional

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=2e-5, atol=2e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def _leaf(*shape, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_()


def _both(fn_ours, fn_torch, inputs, dtype, grad_seed=1):
    """Values and gradients of the two functions on the same inputs agree."""
    a = [t.detach().clone().requires_grad_(t.requires_grad) for t in inputs]
    b = [t.detach().clone().requires_grad_(t.requires_grad) for t in inputs]
    ya, yb = fn_ours(*a), fn_torch(*b)
    torch.testing.assert_close(ya, yb, **TOL[dtype])
    g = torch.randn(ya.shape, generator=torch.Generator().manual_seed(grad_seed),
                    dtype=ya.dtype)
    ga = torch.autograd.grad(ya, [t for t in a if t.requires_grad], g)
    gb = torch.autograd.grad(yb, [t for t in b if t.requires_grad], g)
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, **TOL[dtype])


# ---- functional: values and gradients against torch, gradcheck -------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,nshape", [((5, 17), (17,)), ((2, 3, 4, 5), (4, 5)),
                                          ((1, 1), (1,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch(dtype, shape, nshape, affine):
    x = _leaf(*shape, dtype=dtype)
    w = _leaf(*nshape, dtype=dtype, seed=2) if affine else None
    b = _leaf(*nshape, dtype=dtype, seed=3) if affine else None
    inputs = [x] + ([w, b] if affine else [])
    if affine:
        _both(lambda x, w, b: GF.layer_norm(x, nshape, w, b),
              lambda x, w, b: F.layer_norm(x, nshape, w, b), inputs, dtype)
    else:
        _both(lambda x: GF.layer_norm(x, nshape), lambda x: F.layer_norm(x, nshape),
              inputs, dtype)
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(lambda *t: GF.layer_norm(t[0], nshape, *t[1:]),
                                        inputs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [None, 1e-6])
def test_rms_norm_matches_torch(dtype, eps):
    x, w = _leaf(7, 33, dtype=dtype), _leaf(33, dtype=dtype, seed=2)
    _both(lambda x, w: GF.rms_norm(x, (33,), w, eps),
          lambda x, w: F.rms_norm(x, (33,), w, eps), [x, w], dtype)
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(lambda x, w: GF.rms_norm(x, 33, w, eps), (x, w))
        assert torch.autograd.gradcheck(lambda x: GF.rms_norm(x, 33, None, eps), (x,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 5, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(dtype, shape, training):
    c = shape[1]
    x, w, b = _leaf(*shape, dtype=dtype), _leaf(c, dtype=dtype, seed=2), \
        _leaf(c, dtype=dtype, seed=3)
    stats_a = [torch.rand(c, dtype=dtype), torch.rand(c, dtype=dtype) + 0.5]
    stats_b = [s.clone() for s in stats_a]
    _both(lambda x, w, b: GF.batch_norm(x, *stats_a, w, b, training, 0.3),
          lambda x, w, b: F.batch_norm(x, *stats_b, w, b, training, 0.3), [x, w, b], dtype)
    for s, t in zip(stats_a, stats_b):  # running statistics updated alike (or not at all)
        torch.testing.assert_close(s, t, **TOL[dtype])
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(
            lambda x, w, b: GF.batch_norm(x, None if training else stats_a[0],
                                          None if training else stats_a[1], w, b,
                                          training), (x, w, b))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_matches_torch(dtype, reduction, smoothing):
    z = _leaf(9, 7, dtype=dtype)
    t = torch.tensor([0, 6, 3, -100, 2, 2, 5, 1, -100])
    _both(lambda z: GF.cross_entropy(z, t, reduction=reduction, label_smoothing=smoothing),
          lambda z: F.cross_entropy(z, t, reduction=reduction, label_smoothing=smoothing),
          [z], dtype)
    probs = torch.softmax(torch.randn(9, 7, dtype=dtype), 1)
    _both(lambda z: GF.cross_entropy(z, probs, reduction=reduction,
                                     label_smoothing=smoothing),
          lambda z: F.cross_entropy(z, probs, reduction=reduction,
                                    label_smoothing=smoothing), [z], dtype)
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(
            lambda z: GF.cross_entropy(z, t, reduction=reduction,
                                       label_smoothing=smoothing), (z,))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_other_layouts(reduction):
    z = _leaf(2, 5, 3, 4)  # classes on axis 1, positions (3, 4)
    t = torch.randint(0, 5, (2, 3, 4), generator=torch.Generator().manual_seed(0))
    _both(lambda z: GF.cross_entropy(z, t, reduction=reduction),
          lambda z: F.cross_entropy(z, t, reduction=reduction), [z], torch.float64)
    assert torch.autograd.gradcheck(lambda z: GF.cross_entropy(z, t, reduction=reduction),
                                    (z,))
    z1 = _leaf(5)  # one unbatched sample
    _both(lambda z: GF.cross_entropy(z, torch.tensor(3), reduction=reduction),
          lambda z: F.cross_entropy(z, torch.tensor(3), reduction=reduction), [z1],
          torch.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_mask_scale_and_gradient(dtype):
    x = _leaf(64, 129, dtype=dtype)
    torch.manual_seed(5)
    y = GF.dropout(x, 0.25)
    kept = y != 0
    assert abs(kept.double().mean().item() - 0.75) < 0.02
    scale = torch.tensor(1 / 0.75, dtype=dtype)
    torch.testing.assert_close(y[kept], x.detach()[kept] * scale, rtol=0, atol=0)
    (g,) = torch.autograd.grad(y, x, torch.ones_like(y))
    torch.testing.assert_close(g, kept.to(dtype) * scale, rtol=0, atol=0)  # the same mask
    torch.manual_seed(5)
    torch.testing.assert_close(GF.dropout(x, 0.25), y, rtol=0, atol=0)  # torch's seed
    assert not torch.equal(GF.dropout(x, 0.25), y)  # a new mask per call
    assert GF.dropout(x, 0.25, training=False) is x
    assert torch.count_nonzero(GF.dropout(x, 1.0)) == 0
    torch.manual_seed(1)
    assert torch.autograd.gradcheck(
        lambda t: (torch.manual_seed(1), GF.dropout(t, 0.4))[1], (_leaf(4, 6),))


def test_dropout_bad_probability():
    with pytest.raises(ValueError, match="between 0 and 1"):
        GF.dropout(torch.ones(3), 1.5)


# ---- zero-copy and fallbacks -------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 33), (2, 3, 50), (1, 1)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(dtype, shape, bias):
    fan_in, fan_out = shape[-1], 19
    x, w = _leaf(*shape, dtype=dtype), _leaf(fan_out, fan_in, dtype=dtype, seed=1)
    b = _leaf(fan_out, dtype=dtype, seed=2) if bias else None
    inputs = [x, w] + ([b] if bias else [])
    _both(lambda *a: GF.linear(*a), lambda *a: F.linear(*a), inputs, dtype)
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(GF.linear, tuple(inputs))


def test_linear_transposed_weight_and_partial_gradients():
    x = _leaf(6, 9)
    wt = _leaf(9, 4, seed=1)           # a weight stored transposed: read in place
    w = wt.t()
    assert not w.is_contiguous()
    assert torch.autograd.gradcheck(lambda x_, w_: GF.linear(x_, w_.t()), (x, wt))
    xd = x.detach()                    # no input gradient wanted
    y = GF.linear(xd, w)
    torch.testing.assert_close(y, F.linear(xd, w), rtol=1e-12, atol=1e-12)
    y.sum().backward()
    assert xd.grad is None and wt.grad is not None


def test_linear_kernel_sees_the_tensors_memory(monkeypatch):
    from gradkit import linear
    from gradkit.torch import _ops
    seen = {}
    real = linear.linear

    def spy(x, w, b=None, **kwargs):
        seen["ptrs"] = (x.ctypes.data, w.ctypes.data)
        out = real(x, w, b, **kwargs)
        seen["out"] = out.ctypes.data
        return out

    monkeypatch.setattr(_ops._linear, "linear", spy)
    x, w = torch.randn(4, 8), torch.randn(3, 8)
    y = GF.linear(x, w)
    assert seen["ptrs"] == (x.data_ptr(), w.data_ptr()) and seen["out"] == y.data_ptr()


def test_kernel_sees_the_tensors_memory(monkeypatch):
    from gradkit import norm
    from gradkit.torch import _ops
    seen = {}
    real = norm.layer_norm

    def spy(x, *args, **kwargs):
        seen["ptr"] = x.ctypes.data
        out = real(x, *args, **kwargs)
        seen["out"] = out[0].ctypes.data
        return out

    monkeypatch.setattr(_ops._norm, "layer_norm", spy)
    x = torch.randn(4, 8)
    y = GF.layer_norm(x, (8,))
    assert seen["ptr"] == x.data_ptr() and seen["out"] == y.data_ptr()


@pytest.mark.parametrize("fused", [False, True])
def test_dropout_mask_bits_are_not_copied(monkeypatch, fused):
    """The mask's bits go from the kernel's array to the saved tensor and back to the
    backward kernel without a copy, and without torch's warning about read-only memory;
    no zeros are made for the gradients of the stats and masks."""
    import warnings

    from torch.utils._python_dispatch import TorchDispatchMode

    from gradkit import dropout as gd
    from gradkit import norm
    made, seen, zeros = [], [], []
    real_fwd = norm._fused_forward if fused else gd.dropout
    real_bwd = norm.add_dropout_rms_norm_backward if fused else gd.dropout_backward

    def fwd(*args, **kwargs):
        out = real_fwd(*args, **kwargs)
        made.append(out[2 if fused else 1].bits)  # kept alive: no address reused
        return out

    def bwd(dy, *args, **kwargs):
        seen.append((args[2] if fused else args[0]).bits)
        return real_bwd(dy, *args, **kwargs)

    class Zeros(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if "zero" in str(func):
                zeros.append(func)
            return func(*args, **(kwargs or {}))

    if fused:
        monkeypatch.setattr(norm, "_fused_forward", fwd)
        monkeypatch.setattr(norm, "add_dropout_rms_norm_backward", bwd)
    else:
        monkeypatch.setattr(gd, "dropout", fwd)
        monkeypatch.setattr(gd, "dropout_backward", bwd)
    x, r = _leaf(16, 33), _leaf(16, 33, seed=2)
    with warnings.catch_warnings(), Zeros():
        warnings.simplefilter("error")
        if fused:
            y, s = GF.add_dropout_rms_norm(x, r, 33, p=0.3)
            (y.sum() + s.sum()).backward()
        else:
            GF.dropout(x, 0.3).sum().backward()
    assert len(made) == len(seen) == 1 and np.shares_memory(made[0], seen[0])
    assert not zeros


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_other_dtypes_go_to_torch(dtype):
    x = torch.randn(4, 8).to(dtype)
    torch.testing.assert_close(GF.layer_norm(x, (8,)), F.layer_norm(x, (8,)), rtol=0, atol=0)
    torch.testing.assert_close(GF.rms_norm(x, (8,)), F.rms_norm(x, (8,)), rtol=0, atol=0)
    w = torch.randn(3, 8).to(dtype)
    torch.testing.assert_close(GF.linear(x, w), F.linear(x, w), rtol=0, atol=0)


def test_linear_bad_shapes_raise_torchs_errors():
    with pytest.raises(RuntimeError):
        GF.linear(torch.randn(4, 8), torch.randn(3, 7))
    with pytest.raises(RuntimeError):
        GF.linear(torch.randn(4, 8), torch.randn(3, 8), torch.randn(4))


def test_other_devices_go_to_torch():
    x = torch.empty(4, 8, device="meta")
    assert GF.linear(x, torch.empty(3, 8, device="meta")).shape == (4, 3)
    assert GF.layer_norm(x, (8,)).device.type == "meta"
    assert GF.rms_norm(x, (8,)).device.type == "meta"
    assert GF.dropout(x, 0.5).device.type == "meta"
    assert GF.batch_norm(x, None, None, training=True).device.type == "meta"


def test_batch_norm_one_value_per_channel_raises_like_torch():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        GF.batch_norm(torch.randn(1, 3), None, None, training=True)


# ---- modules and patch ---------------------------------------------------------------------
PAIRS = [(gt.Linear, nn.Linear, (10, 7)), (gt.LayerNorm, nn.LayerNorm, (10,)), (gt.RMSNorm, nn.RMSNorm, (10,)),
         (gt.BatchNorm1d, nn.BatchNorm1d, (10,)), (gt.BatchNorm2d, nn.BatchNorm2d, (10,)),
         (gt.BatchNorm3d, nn.BatchNorm3d, (10,)), (gt.Dropout, nn.Dropout, (0.1,))]


@pytest.mark.parametrize("ours,theirs,args", PAIRS)
def test_modules_take_torchs_constructor_and_state_dict(ours, theirs, args):
    assert inspect.signature(ours) == inspect.signature(theirs)
    a, b = ours(*args), theirs(*args)
    assert list(a.state_dict()) == list(b.state_dict())
    a.load_state_dict(b.state_dict())  # a torch checkpoint loads unchanged


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), nn.LayerNorm(16), nn.ReLU(), nn.Dropout(0.0),
                         nn.Linear(16, 8), nn.BatchNorm1d(8), nn.RMSNorm(8),
                         nn.Linear(8, 3))


def test_patch_keeps_outputs_parameters_and_training():
    ref, model = _model(), _model()
    params = list(model.parameters())
    assert gt.patch(model) is model
    kinds = [type(m) for m in model]
    assert kinds[0] is kinds[4] is kinds[7] is gt.Linear
    assert kinds[1] is gt.LayerNorm and kinds[3] is gt.Dropout
    assert kinds[5] is gt.BatchNorm1d and kinds[6] is gt.RMSNorm
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    opt_a = torch.optim.SGD(ref.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(20, 12, generator=torch.Generator().manual_seed(1))
    for _ in range(3):  # training steps: same losses, gradients, running statistics
        for m, opt in ((ref, opt_a), (model, opt_b)):
            opt.zero_grad()
            m(x).square().mean().backward()
            opt.step()
    for (k, u), (_, v) in zip(ref.state_dict().items(), model.state_dict().items()):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-6, msg=k)
    ref.eval(), model.eval()
    torch.testing.assert_close(model(x), ref(x), rtol=1e-5, atol=1e-6)


def test_patch_leaves_subclasses_alone_and_checks_its_argument():
    class MyNorm(nn.LayerNorm):
        pass
    m = nn.Sequential(MyNorm(4))
    gt.patch(m)
    assert type(m[0]) is MyNorm
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        gt.patch("not a model")


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("track", [True, False])
def test_batch_norm_module_bookkeeping(momentum, track):
    a = gt.BatchNorm2d(3, momentum=momentum, track_running_stats=track)
    b = nn.BatchNorm2d(3, momentum=momentum, track_running_stats=track)
    for i in range(3):
        x = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(i))
        torch.testing.assert_close(a(x), b(x), rtol=1e-5, atol=1e-5)
    for (k, u), (_, v) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(u, v, rtol=1e-6, atol=1e-6, msg=k)
    a.eval(), b.eval()
    torch.testing.assert_close(a(x), b(x), rtol=1e-5, atol=1e-5)


# ---- torch.compile -------------------------------------------------------------------------
def test_compile_traces_every_operator():
    model = gt.patch(_model())
    model[3].p = 0.2
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    x = torch.randn(20, 12)
    out = compiled(x)
    loss = torch.compile(lambda z, t: GF.cross_entropy(z, t, label_smoothing=0.1),
                         backend="aot_eager", fullgraph=True)(out, torch.randint(0, 3, (20,)))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    torch.testing.assert_close(compiled(x), model(x))


def test_compile_with_inductor():
    model = nn.Sequential(nn.Linear(16, 16), gt.RMSNorm(16), gt.Dropout(0.0),
                          gt.LayerNorm(16), nn.Linear(16, 4))
    x = torch.randn(8, 16)
    compiled = torch.compile(model, fullgraph=True)
    torch.testing.assert_close(compiled(x), model(x))
    compiled(x).sum().backward()
    assert model[0].weight.grad is not None


# ---- fused residual add + dropout + norm ---------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer", [True, False])
def test_add_dropout_norm_matches_unfused_torch(dtype, layer):
    x, r = _leaf(6, 4, 10, dtype=dtype), _leaf(6, 4, 10, dtype=dtype, seed=1)
    w, b = _leaf(4, 10, dtype=dtype, seed=2), _leaf(4, 10, dtype=dtype, seed=3)

    def ours(x, r, w, b):
        if layer:
            return torch.cat(GF.add_dropout_layer_norm(x, r, (4, 10), w, b, p=0.3,
                                                       training=False))
        return torch.cat(GF.add_dropout_rms_norm(x, r, (4, 10), w, p=0.3, training=False))

    def theirs(x, r, w, b):
        s = r + x
        y = F.layer_norm(s, (4, 10), w, b) if layer else F.rms_norm(s, (4, 10), w)
        return torch.cat([y, s])

    inputs = [x, r, w, b] if layer else [x, r, w]
    if layer:
        _both(ours, theirs, inputs, dtype)
    else:
        _both(lambda x, r, w: ours(x, r, w, None), lambda x, r, w: theirs(x, r, w, None),
              inputs, dtype)
    if dtype == torch.float64:  # with dropout: the same seed each evaluation
        def seeded(*t):
            torch.manual_seed(7)
            fn = GF.add_dropout_layer_norm if layer else GF.add_dropout_rms_norm
            extra = (t[3],) if layer else ()
            return torch.cat(fn(t[0], t[1], (4, 10), t[2], *extra, p=0.3))
        assert torch.autograd.gradcheck(seeded, inputs)


def test_add_dropout_norm_mask_is_dropouts():
    x, r = torch.randn(64, 33), torch.randn(64, 33)
    torch.manual_seed(4)
    y, s = GF.add_dropout_rms_norm(x, r, 33, p=0.2)
    torch.manual_seed(4)
    d = GF.dropout(x, 0.2)  # the same seed draws the same mask
    torch.testing.assert_close(s, r + d, rtol=0, atol=0)
    torch.testing.assert_close(y, F.rms_norm(s, (33,)), rtol=1e-6, atol=1e-6)
    h = x.half()  # float16: PyTorch's unfused functions
    y16, s16 = GF.add_dropout_layer_norm(h, r.half(), 33, p=0.0)
    torch.testing.assert_close(y16, F.layer_norm(r.half() + h, (33,)), rtol=0, atol=0)


def test_add_dropout_norm_compiles():
    w = torch.ones(16, requires_grad=True)
    fn = torch.compile(lambda x, r: GF.add_dropout_rms_norm(x, r, 16, w, p=0.1),
                       backend="aot_eager", fullgraph=True)
    x, r = torch.randn(8, 16, requires_grad=True), torch.randn(8, 16, requires_grad=True)
    y, s = fn(x, r)
    (y.sum() + s.square().sum()).backward()
    assert x.grad is not None and r.grad is not None and w.grad is not None


# ---- class weights and F.kl_div ------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_class_weights(dtype, reduction):
    z = _leaf(9, 7, dtype=dtype)
    t = torch.tensor([0, 6, 3, -100, 2, 2, 5, 1, 4])
    w = torch.rand(7, generator=torch.Generator().manual_seed(3), dtype=dtype) + 0.1
    kw = dict(weight=w, reduction=reduction, label_smoothing=0.1)
    _both(lambda z: GF.cross_entropy(z, t, **kw), lambda z: F.cross_entropy(z, t, **kw),
          [z], dtype)
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(lambda z: GF.cross_entropy(z, t, **kw), (z,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(dtype, reduction, log_target):
    x = torch.log_softmax(_leaf(6, 5, dtype=dtype), 1).detach().requires_grad_()
    t = torch.softmax(torch.randn(6, 5, generator=torch.Generator().manual_seed(2),
                                  dtype=dtype), 1)
    t[0, 0] = 0.0  # xlogy(0, 0) = 0
    if log_target:
        t = t.clamp_min(1e-12).log()
    kw = dict(reduction=reduction, log_target=log_target)
    with pytest.warns(UserWarning) if reduction == "mean" else _no_warning():
        _both(lambda x: GF.kl_div(x, t, **kw), lambda x: F.kl_div(x, t, **kw), [x], dtype)
    if dtype == torch.float64 and reduction != "mean":
        assert torch.autograd.gradcheck(lambda x: GF.kl_div(x, t, **kw), (x,))


def _no_warning():
    import contextlib
    return contextlib.nullcontext()


def test_kl_div_target_gradient_goes_to_torch():
    x = torch.log_softmax(torch.randn(3, 4), 1)
    t = torch.softmax(torch.randn(3, 4), 1).requires_grad_()
    GF.kl_div(x, t, reduction="batchmean").backward()
    assert t.grad is not None
