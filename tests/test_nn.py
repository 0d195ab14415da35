"""gradkit.nn: layers' forward against plain NumPy, every backward against finite
differences, parameter/gradient lists, and a whole model through check_grad."""
import math

import numpy as np
import pytest

import gradkit
from gradkit import nn
from conftest import numerical_grad


def _fd_check(layer, x, rng, rtol=1e-6, atol=1e-8):
    """dx and every parameter gradient of sum(forward(x) * dy) vs centred differences
    (float64, training mode with deterministic layers)."""
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)

    def loss_x(v):
        return float(np.sum(layer.forward(v) * dy))

    layer.forward(x)
    dx = layer.backward(dy)
    grads = [g.copy() for g in layer.grads]
    np.testing.assert_allclose(dx, numerical_grad(loss_x, x), rtol=rtol, atol=atol)
    for p, g in zip(layer.params, grads):
        def loss_p(v, p=p):
            old = p.copy()
            p[...] = v
            out = float(np.sum(layer.forward(x) * dy))
            p[...] = old
            return out
        np.testing.assert_allclose(g, numerical_grad(loss_p, p.copy()), rtol=rtol, atol=atol)


LAYERS = {
    "linear": lambda: nn.Linear(5, 4, rng=1, dtype=np.float64),
    "linear_nobias": lambda: nn.Linear(5, 4, bias=False, rng=1, dtype=np.float64),
    "linear_kaiming": lambda: nn.Linear(5, 4, init="kaiming", rng=1, dtype=np.float64),
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "gelu_tanh": lambda: nn.GELU("tanh"),
    "layernorm": lambda: nn.LayerNorm(5, dtype=np.float64),
    "rmsnorm": lambda: nn.RMSNorm(5, eps=1e-6, dtype=np.float64),
    "batchnorm": lambda: nn.BatchNorm(5, dtype=np.float64),
    "sequential": lambda: nn.Sequential(nn.Linear(5, 6, rng=2, dtype=np.float64),
                                        nn.LayerNorm(6, dtype=np.float64), nn.Tanh(),
                                        nn.Linear(6, 5, rng=3, dtype=np.float64)),
    "residual": lambda: nn.Residual(nn.Linear(5, 5, rng=4, dtype=np.float64)),
    "residual_pre": lambda: nn.Residual(nn.Sequential(nn.Linear(5, 5, rng=4, dtype=np.float64),
                                                      nn.GELU()),
                                        norm="pre", features=5, dtype=np.float64),
    "residual_post": lambda: nn.Residual(nn.Linear(5, 5, rng=4, dtype=np.float64),
                                         norm="post", features=5, dtype=np.float64),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_backward_matches_finite_differences(name):
    rng = np.random.default_rng(0)
    layer = LAYERS[name]()
    x = rng.standard_normal((7, 5)) + 0.3  # away from ReLU's kink at 0
    x[np.abs(x) < 1e-3] = 0.5
    if name == "batchnorm":
        # running statistics change with every forward; the batch statistics don't
        _fd_check(layer, x, rng, rtol=1e-5, atol=1e-7)
    else:
        _fd_check(layer, x, rng)
    assert len(layer.params) == len(layer.grads)
    for p, g in zip(layer.params, layer.grads):
        assert p.shape == g.shape and p.dtype == g.dtype


def test_linear_matches_formula_and_torch_init_bounds():
    lin = nn.Linear(300, 20, rng=0)
    assert lin.weight.shape == (20, 300) and lin.weight.dtype == np.float32
    bound = 1 / math.sqrt(300)  # kaiming_uniform(a=sqrt(5)) on fan_in
    assert np.abs(lin.weight).max() <= bound and np.abs(lin.bias).max() <= bound
    assert np.abs(lin.weight).max() > 0.9 * bound
    x = np.random.default_rng(1).standard_normal((4, 300)).astype(np.float32)
    np.testing.assert_allclose(lin.forward(x), x @ lin.weight.T + lin.bias, rtol=1e-5,
                               atol=1e-6)  # sums that cancel: absolute round-off
    assert nn.Linear(300, 20, rng=0).weight.tobytes() == lin.weight.tobytes()


def test_activations_match_formulas():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_array_equal(nn.ReLU().forward(x), np.maximum(x, 0))
    np.testing.assert_allclose(nn.Tanh().forward(x), np.tanh(x))
    from scipy.special import erf
    np.testing.assert_allclose(nn.GELU().forward(x), x * 0.5 * (1 + erf(x / math.sqrt(2))))
    k = math.sqrt(2 / math.pi)
    np.testing.assert_allclose(nn.GELU("tanh").forward(x),
                               0.5 * x * (1 + np.tanh(k * (x + 0.044715 * x ** 3))))
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(x)
    np.testing.assert_allclose(nn.GELU().forward(x), torch.nn.functional.gelu(t).numpy(),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(nn.GELU("tanh").forward(x),
                               torch.nn.functional.gelu(t, approximate="tanh").numpy(),
                               rtol=1e-12, atol=1e-15)


def test_dropout_layer_training_and_eval():
    x = np.ones((64, 32), np.float32)
    layer = nn.Dropout(0.25, rng=0)
    y = layer.forward(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert 0.6 < kept.mean() < 0.9
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(dx, y)  # same mask, same scale
    assert layer.forward(x, training=False) is x or np.array_equal(layer.forward(x, False), x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.ones_like(x))


def test_batchnorm_layer_tracks_running_stats_and_eval_backward():
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm(3, dtype=np.float64)
    x = rng.standard_normal((16, 3)) * 2 + 1
    bn.forward(x)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=0))
    assert int(bn.num_batches_tracked) == 1
    # evaluation mode is an affine map of x: check its backward too
    bn.weight[...] = [0.5, 2.0, -1.0]
    dy = rng.standard_normal(x.shape)

    def loss(v):
        return float(np.sum(bn.forward(v, training=False) * dy))

    bn.forward(x, training=False)
    dx = bn.backward(dy)
    np.testing.assert_allclose(dx, numerical_grad(loss, x), rtol=1e-6, atol=1e-8)


def test_sequential_and_residual_lists_and_bad_arguments():
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Linear(8, 2, rng=1))
    assert len(model.params) == 4 and all(a is b for a, b in zip(model.params, [
        model.layers[0].weight, model.layers[0].bias, model.layers[2].weight,
        model.layers[2].bias]))
    assert "Linear(4, 8" in repr(model)
    with pytest.raises(ValueError, match="norm"):
        nn.Residual(nn.ReLU(), norm="middle")
    with pytest.raises(ValueError, match="features"):
        nn.Residual(nn.ReLU(), norm="pre")
    with pytest.raises(ValueError, match="init"):
        nn.Linear(2, 2, init="xavier")
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("erf")


def test_check_grad_on_a_whole_model():
    from gradkit import gradcheck, losses
    model = nn.Sequential(
        nn.Linear(6, 8, rng=0, dtype=np.float64), nn.LayerNorm(8, dtype=np.float64),
        nn.GELU(), nn.Residual(nn.Sequential(nn.Linear(8, 8, rng=1, dtype=np.float64),
                                             nn.Tanh()), norm="pre", features=8,
                               dtype=np.float64),
        nn.RMSNorm(8, eps=1e-6, dtype=np.float64), nn.Linear(8, 3, rng=2, dtype=np.float64))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 6)), np.array([0, 2, 1, 1, 0])
    names = [f"p{i}" for i in range(len(model.params))]

    def f(theta):
        for n, p in zip(names, model.params):
            p[...] = theta[n]
        loss, dlogits = losses.softmax_cross_entropy(model.forward(x), y)
        model.backward(dlogits)
        return loss, {n: g.copy() for n, g in zip(names, model.grads)}

    theta = {n: p.copy() for n, p in zip(names, model.params)}
    result = gradcheck.check_grad(f, theta)
    assert result.ok and result.status == "ok", str(result)
    # a planted error in one layer's gradient is caught
    lin = model.layers[-1]
    orig = lin.backward

    def wrong(dy):
        dx = orig(dy)
        lin.dweight[0, 0] += 1e-2
        return dx

    lin.backward = wrong
    assert not gradcheck.check_grad(f, theta).ok


def test_params_plug_into_an_optimizer_and_train():
    from gradkit import losses, optim
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 16, init="kaiming", rng=0), nn.ReLU(),
                          nn.Linear(16, 2, rng=1))
    opt = optim.Adam(model.params, lr=1e-2)
    first = None
    for _ in range(100):
        loss, d = losses.softmax_cross_entropy(model.forward(x), y)
        first = loss if first is None else first
        model.backward(d)
        opt.step(model.grads)
    assert loss < 0.3 * first
    acc = (model.forward(x, training=False).argmax(1) == y).mean()
    assert acc > 0.95


# ---- issue 10: layers check their arguments and inputs -------------------------------------

@pytest.mark.parametrize("make,exc,match", [
    (lambda: nn.Dropout(p=1.5), ValueError, "p"),
    (lambda: nn.Dropout(p="0.1"), TypeError, "p"),
    (lambda: nn.Dropout(p=0.1, rng=-1), ValueError, "rng"),
    (lambda: nn.Linear(-1, 3), ValueError, "in_features"),
    (lambda: nn.Linear(3, 2.5), TypeError, "out_features"),
    (lambda: nn.Linear(3, 2, bias="yes"), TypeError, "bias"),
    (lambda: nn.Linear(3, 2, dtype=np.int32), TypeError, "dtype"),
    (lambda: nn.Linear(3, 2, dtype=">f4"), TypeError, "dtype"),
    (lambda: nn.LayerNorm(0), ValueError, "features"),
    (lambda: nn.LayerNorm(4, eps=-1.0), ValueError, "eps"),
    (lambda: nn.LayerNorm(4, eps=float("nan")), ValueError, "eps"),
    (lambda: nn.RMSNorm(4, eps="1e-6"), TypeError, "eps"),
    (lambda: nn.BatchNorm(4, momentum=2.0), ValueError, "momentum"),
    (lambda: nn.BatchNorm(4, affine=None), TypeError, "affine"),
    (lambda: nn.Sequential(nn.ReLU(), np.tanh), TypeError, r"layers\[1\]"),
    (lambda: nn.Residual(lambda x: x), TypeError, "block"),
    (lambda: nn.GELU(approximate=None), ValueError, "approximate"),
])
def test_constructor_arguments_checked(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


LAYERS_F32 = {
    "linear": lambda: nn.Linear(4, 3, rng=1),
    "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU,
    "layernorm": lambda: nn.LayerNorm(4), "rmsnorm": lambda: nn.RMSNorm(4),
    "batchnorm": lambda: nn.BatchNorm(4), "dropout": lambda: nn.Dropout(0.3, rng=2),
    "sequential": lambda: nn.Sequential(nn.Linear(4, 4, rng=1), nn.ReLU()),
    "residual": lambda: nn.Residual(nn.Linear(4, 4, rng=1), norm="pre", features=4),
}


@pytest.mark.parametrize("name", sorted(LAYERS_F32))
def test_backward_before_forward_is_a_runtime_error(name):
    layer = LAYERS_F32[name]()
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((2, 4), np.float32))


@pytest.mark.parametrize("name", sorted(LAYERS_F32))
@pytest.mark.parametrize("bad,exc", [
    (np.ones((3, 4), np.int64), TypeError),            # no silent upcast of ints
    (np.ones((3, 4), np.float16), TypeError),
    (np.ones((3, 4), ">f2"), TypeError),
    (np.ones((3, 4), object), TypeError),
    (np.ones((3, 5), np.float32), ValueError),         # wrong feature count
    (None, TypeError),
])
def test_forward_rejects_bad_input(name, bad, exc):
    layer = LAYERS_F32[name]()
    if name in ("relu", "tanh", "gelu", "dropout") and exc is ValueError:
        pytest.skip("elementwise layers take any shape")
    if name in ("relu", "tanh", "gelu", "dropout") and bad is not None \
            and bad.dtype.kind == "f":  # float16: a layer without parameters takes it
        assert layer.forward(bad).dtype == np.float16
        return
    with pytest.raises(exc, match="x"):
        layer.forward(bad)


@pytest.mark.parametrize("name", sorted(LAYERS_F32))
def test_backward_checks_dy_against_the_forward(name):
    layer = LAYERS_F32[name]()
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    y = layer.forward(x)
    with pytest.raises(TypeError, match="dy"):
        layer.backward(np.ones(y.shape, np.float64))
    with pytest.raises(ValueError, match="dy"):
        layer.backward(np.ones((y.shape[0] + 1,) + y.shape[1:], np.float32))
    assert layer.backward(np.ones(y.shape, np.float32)).shape == x.shape


def test_float64_layers_reject_float32_input():
    layer = nn.Linear(4, 3, rng=0, dtype=np.float64)
    with pytest.raises(TypeError, match="x"):
        layer.forward(np.ones((2, 4), np.float32))
    with pytest.raises(TypeError, match="x"):
        nn.LayerNorm(4, dtype=np.float64).forward(np.ones((2, 4), np.float32))


def test_byteswapped_input_is_taken_as_its_values():
    layer = nn.Linear(4, 3, rng=0)
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_array_equal(layer.forward(x.astype(">f4")), layer.forward(x))


# ---- 16-bit storage ----------------------------------------------------------------------
HALF = [np.float16, gradkit.bfloat16]


def _round(a, dtype):
    return np.asarray(a, np.float32).astype(dtype)


@pytest.mark.parametrize("dtype", HALF, ids=["f16", "bf16"])
def test_linear_in_16_bit_is_the_float32_product_rounded_once(dtype):
    ref = nn.Linear(5, 3, rng=0)
    layer = nn.Linear(5, 3, rng=0, dtype=dtype)
    # the same draws, rounded once (init in 16-bit)
    np.testing.assert_array_equal(layer.weight.view(np.uint16),
                                  ref.weight.astype(dtype).view(np.uint16))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5)).astype(dtype)
    w, b = layer.weight.astype(np.float32), layer.bias.astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == dtype
    want = _round(x.astype(np.float32) @ w.T + b, dtype)
    np.testing.assert_array_equal(y.view(np.uint16), want.view(np.uint16))
    dy = rng.standard_normal((4, 3)).astype(dtype)
    dx = layer.backward(dy)
    d32, x32 = dy.astype(np.float32), x.astype(np.float32)
    np.testing.assert_array_equal(dx.view(np.uint16), _round(d32 @ w, dtype).view(np.uint16))
    np.testing.assert_array_equal(layer.dweight.view(np.uint16),
                                  _round(d32.T @ x32, dtype).view(np.uint16))
    np.testing.assert_array_equal(layer.dbias.view(np.uint16),
                                  _round(d32.sum(0), dtype).view(np.uint16))
    with pytest.raises(TypeError, match="x has dtype"):
        layer.forward(x.astype(np.float32))
    with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
        ref.forward(x)  # a float32 layer: 16-bit x is not its storage


@pytest.mark.parametrize("dtype", HALF, ids=["f16", "bf16"])
@pytest.mark.parametrize("make", [nn.ReLU, nn.Tanh, nn.GELU, lambda: nn.GELU("tanh")],
                         ids=["relu", "tanh", "gelu", "gelu_tanh"])
def test_activations_in_16_bit_round_the_float32_result_once(make, dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 7)).astype(dtype)
    dy = rng.standard_normal((3, 7)).astype(dtype)
    layer, ref = make(), make()
    y, y32 = layer.forward(x), ref.forward(x.astype(np.float32))
    dx, dx32 = layer.backward(dy), None
    assert y.dtype == dtype and dx.dtype == dtype
    np.testing.assert_array_equal(y.view(np.uint16), y32.astype(dtype).view(np.uint16))
    if isinstance(layer, nn.Tanh):  # the backward reads the (rounded) output
        ref._y = y.astype(np.float32)
    dx32 = ref.backward(dy.astype(np.float32))
    np.testing.assert_array_equal(dx.view(np.uint16), dx32.astype(dtype).view(np.uint16))


@pytest.mark.parametrize("dtype", [np.float32, np.float64] + HALF,
                         ids=["f32", "f64", "f16", "bf16"])
def test_relu_special_values_as_numpy_forward_and_torch_backward(dtype):
    """Forward np.maximum(x, 0) (a NaN of either sign stays that NaN, -0 and -inf give
    +0); backward dy where x > 0 or NaN, 0 where x <= 0 (torch's threshold_backward).
    The 16-bit layers select by bits: every 16-bit pattern against the float32 layer."""
    special = np.array([-0.0, 0.0, np.nan, -np.nan, 1.0, -1.0, np.inf, -np.inf, 1e-30,
                        -1e-30, 3.5, -2.25], np.float32)
    x = special.astype(dtype)
    if dtype in HALF:   # and every bit pattern
        x = np.concatenate([x, np.arange(2 ** 16, dtype=np.uint32).astype(np.uint16)
                            .view(dtype)])
    dy = np.arange(1, x.size + 1).astype(np.float32).astype(dtype)
    layer, ref = nn.ReLU(), nn.ReLU()
    y, dx = layer.forward(x), layer.backward(dy)
    x32 = x.astype(np.float32)
    y32, dx32 = ref.forward(x32), ref.backward(dy.astype(np.float32))
    want_dx = np.where(x32 <= 0, 0, dy.astype(np.float32))
    assert y.dtype == dtype and dx.dtype == dtype
    if dtype in (np.float32, np.float64):
        np.testing.assert_array_equal(y.view(np.uint8), np.maximum(x, 0).view(np.uint8))
    else:   # a NaN is selected, payload and all; the rest as float32's rounded
        nan = np.isnan(x32)
        np.testing.assert_array_equal(y.view(np.uint16)[nan], x.view(np.uint16)[nan])
        np.testing.assert_array_equal(y.view(np.uint16)[~nan],
                                      y32.astype(dtype).view(np.uint16)[~nan])
    np.testing.assert_array_equal(y32.view(np.uint32), np.maximum(x32, 0).view(np.uint32))
    np.testing.assert_array_equal(dx.astype(np.float32), want_dx)
    np.testing.assert_array_equal(dx32, want_dx)


def _mlp(rng, dtype=np.float32):
    return nn.Sequential(nn.Linear(6, 8, rng=rng, dtype=dtype), nn.LayerNorm(8, dtype=dtype),
                         nn.ReLU(), nn.Linear(8, 3, rng=rng, dtype=dtype))


@pytest.mark.parametrize("dtype", HALF, ids=["f16", "bf16"])
def test_sequential_dtype_and_to_convert_parameters_once(dtype):
    a = _mlp(0)
    b = nn.Sequential(*_mlp(0).layers, dtype=dtype)
    c = _mlp(0, dtype)
    for pa, pb, pc in zip(a.params, b.params, c.params):
        assert pb.dtype == dtype and pc.dtype == dtype
        np.testing.assert_array_equal(pb.view(np.uint16), pa.astype(dtype).view(np.uint16))
        np.testing.assert_array_equal(pb.view(np.uint16), pc.view(np.uint16))
    # params and grads are the layers' own (new) arrays, aligned
    assert [id(p) for p in b.params] == [id(p) for layer in b.layers for p in layer.params]
    assert b.params[0] is b.layers[0].weight and b.grads[0] is b.layers[0].dweight
    assert all(g.dtype == dtype and not g.any() for g in b.grads)
    # a whole step in 16-bit: forward, backward into the grads, an optimizer step
    from gradkit import losses, optim
    x = np.random.default_rng(3).standard_normal((5, 6)).astype(dtype)
    opt = optim.AdamW(b.params, lr=1e-2, master_weights=True)
    before = [p.copy() for p in b.params]
    loss, dlogits = losses.softmax_cross_entropy(b.forward(x), np.arange(5) % 3)
    b.backward(dlogits)
    assert all(g.any() for g in b.grads)
    opt.step(b.grads)
    assert all((p != q).any() for p, q in zip(b.params, before))
    assert b.to(np.float32) is b and all(p.dtype == np.float32 for p in b.params)
    np.testing.assert_array_equal(b.params[0], b.layers[0].weight)


def test_to_keeps_batchnorm_running_statistics_float32_for_16_bit():
    bn = nn.BatchNorm(4).to(gradkit.bfloat16)
    assert bn.weight.dtype == gradkit.bfloat16 and bn.dtype == gradkit.bfloat16
    assert bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32
    assert bn.params == [bn.weight, bn.bias] and bn.grads == [bn.dweight, bn.dbias]
    bn.to(np.float64)
    assert bn.running_mean.dtype == np.float64 and bn.weight.dtype == np.float64
    with pytest.raises(TypeError, match="dtype"):
        nn.ReLU().to(np.int32)
