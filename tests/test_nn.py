"""gradkit.nn: layers' forward against plain NumPy, every backward against finite
differences, parameter/gradient lists, and a whole model through check_grad."""
import math

import numpy as np
import pytest

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
    np.testing.assert_allclose(lin.forward(x), x @ lin.weight.T + lin.bias, rtol=1e-5)
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
