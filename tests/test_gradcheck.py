"""Gradient checking: the numerical gradient against the reference loop, verdicts on
correct and planted wrong gradients (full, fast and batched modes), dicts, every
backward gradkit has, threads, bad input."""
import warnings

import numpy as np
import pytest

import gradkit
from gradkit import gradcheck as gc, norm, losses, reference as ref
from gradkit.gradcheck import check_grad, numerical_grad
from conftest import assert_bitwise_equal, run_threads


def _quadratic(rng, n=12):
    """f(x) = 1/2 x^T A x + b.x with its gradient A x + b."""
    a = rng.standard_normal((n, n))
    a = a @ a.T
    b = rng.standard_normal(n)
    f = lambda x: float(0.5 * x.reshape(-1) @ a @ x.reshape(-1) + b @ x.reshape(-1))
    g = lambda x: (a @ x.reshape(-1) + b).reshape(x.shape)
    return f, g


def _batched(f):
    """f over a stack: one loss per row."""
    return lambda stack: np.array([f(s) for s in stack])


# ---- numerical_grad --------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1,), (3, 4), (2, 3, 5)])
def test_numerical_grad_matches_reference_loop(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype) * 3
    f = lambda v: float(np.sum(np.sin(v.astype(np.float64)) * np.arange(v.size).reshape(v.shape)))
    g = numerical_grad(f, x)
    assert g.dtype == dtype and g.shape == shape
    assert_bitwise_equal(g, ref.numerical_grad(f, x))
    # batched: the compiled stack-and-difference path gives the same bits
    assert_bitwise_equal(numerical_grad(_batched(f), x, batched=True, batch_size=4), g)
    assert_bitwise_equal(numerical_grad(_batched(f), x, batched=True), g)
    # and it is the derivative
    want = np.cos(x.astype(np.float64)) * np.arange(x.size).reshape(shape)
    tol = 1e-8 if dtype == np.float64 else 5e-3
    np.testing.assert_allclose(g, want, rtol=tol, atol=tol * 10)


def test_numerical_grad_explicit_eps_and_dict(rng):
    f, grad = _quadratic(rng, 6)
    x = rng.standard_normal(6)
    np.testing.assert_allclose(numerical_grad(f, x, eps=1e-4), grad(x), rtol=1e-7, atol=1e-9)
    w, b = rng.standard_normal((2, 3)), rng.standard_normal(3)
    fd = lambda p: float(np.sum(np.tanh(p["w"]).sum(0) * p["b"]))
    g = numerical_grad(fd, {"w": w, "b": b})
    assert set(g) == {"w", "b"} and g["w"].shape == (2, 3)
    np.testing.assert_allclose(g["b"], np.tanh(w).sum(0), rtol=1e-9)
    np.testing.assert_allclose(g["w"], (1 - np.tanh(w) ** 2) * b, rtol=1e-8)


def test_input_never_modified_and_stack_layout(rng):
    x = rng.standard_normal((3, 2))
    keep = x.copy()
    seen = []

    def f(stack):
        seen.append(stack.copy())
        return stack.reshape(len(stack), -1).sum(1)

    numerical_grad(f, x, batched=True, batch_size=2)
    assert_bitwise_equal(x, keep)
    first = seen[0]
    assert first.shape == (4, 3, 2)
    h = np.cbrt(np.finfo(np.float64).eps) * np.maximum(1, np.abs(x.reshape(-1)[:2]))
    # rows [0, k) moved up, rows [k, 2k) moved down, one coordinate each
    assert first[0].reshape(-1)[0] == x.reshape(-1)[0] + h[0]
    assert first[2].reshape(-1)[0] == x.reshape(-1)[0] - h[0]
    assert first[1].reshape(-1)[1] == x.reshape(-1)[1] + h[1]
    assert np.array_equal(np.delete(first[1].reshape(-1), 1), np.delete(x.reshape(-1), 1))


# ---- verdicts --------------------------------------------------------------------------

def test_correct_gradient_is_ok(rng):
    f, grad = _quadratic(rng)
    x = rng.standard_normal(12)
    r = check_grad(f, x, grad(x))
    assert r.ok and r.status == "ok" and r.difference < 1e-9
    assert r.n_evaluations == 24 and r.allclose is None and bool(r)
    assert "ok" in str(r) and "x[" in str(r)
    assert len(r.worst) == 5 and r.worst[0][0] == "x"
    errs = [abs(n - a) for _, _, n, a in r.worst]
    assert errs == sorted(errs, reverse=True)


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("batched", [False, True])
def test_planted_wrong_gradients_are_caught(fast, batched, rng):
    f, grad = _quadratic(rng)
    x = rng.standard_normal(12)
    g = grad(x)
    fn = _batched(f) if batched else f
    kw = dict(fast=fast, batched=batched, rng=0, n_directions=16)
    ok = check_grad(fn, x, g, **kw)
    assert ok.status == "ok", str(ok)
    scaled = check_grad(fn, x, g * 1.01, **kw)          # 1% off everywhere
    assert scaled.status == "wrong" and not scaled.ok
    np.testing.assert_allclose(scaled.difference, 0.01 / 2.01, rtol=1e-4)
    slight = check_grad(fn, x, g * 1.0001, **kw)        # 0.01% off: worth a look
    assert slight.status == "suspect" and not slight.ok
    one = g.copy()
    one[5] += 1.0                                        # one coordinate off
    bad = check_grad(fn, x, one, **kw)
    assert bad.status == "wrong" and not bad.ok
    if not fast:
        assert bad.worst[0][:2] == ("x", (5,))
    sign = check_grad(fn, x, -g, **kw)
    assert sign.status == "wrong" and sign.difference == pytest.approx(1.0)


def test_single_coordinate_slightly_off_is_suspect(rng):
    f, grad = _quadratic(rng)
    x = rng.standard_normal(12)
    g = grad(x)
    g[3] *= 1.001
    r = check_grad(f, x, g)
    assert r.status == "suspect"
    assert r.worst[0][1] == (3,)


def test_allclose_tolerances(rng):
    f, grad = _quadratic(rng)
    x = rng.standard_normal(12)
    g = grad(x)
    r = check_grad(f, x, g, atol=1e-5, rtol=1e-3)
    assert r.allclose and r.ok
    off = g + 1e-4
    r = check_grad(f, x, off, atol=1e-5, rtol=0.0)
    assert r.allclose is False and not r.ok and "allclose: False" in str(r)
    r = check_grad(f, x, off, atol=1e-3)
    assert r.allclose


def test_zero_gradients_give_zero_difference():
    r = check_grad(lambda v: 3.0, np.ones(4), np.zeros(4))
    assert r.difference == 0.0 and r.ok
    r = check_grad(lambda v: 3.0, np.ones(4), np.zeros(4), fast=True)
    assert r.difference == 0.0 and r.ok
    r = check_grad(lambda v: 3.0, np.ones(4), np.ones(4))
    assert r.difference == 1.0 and r.status == "wrong"


def test_nan_gradient_is_wrong():
    r = check_grad(lambda v: float(np.sum(v ** 2)), np.ones(3), np.array([2.0, np.nan, 2.0]))
    assert r.status == "wrong" and r.worst[0][1] == (1,)


def test_dict_parameters_and_loss_grad_form(rng):
    w, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    xin = rng.standard_normal((5, 4))
    y = rng.integers(0, 3, 5)

    def f(p):
        z = xin @ p["w"] + p["b"]
        loss, dz = losses.softmax_cross_entropy(z, y, label_smoothing=0.1)
        return loss, {"w": xin.T @ dz, "b": dz.sum(0)}

    r = check_grad(f, {"w": w, "b": b})
    assert r.ok, str(r)
    assert r.n_evaluations == 2 * 15 + 1
    _, g = f({"w": w, "b": b})
    g["w"] = g["w"].copy()
    g["w"][2, 1] *= 1.5
    r = check_grad(lambda p: f(p)[0], {"w": w, "b": b}, g)
    assert not r.ok and r.worst[0][:2] == ("w", (2, 1))
    # batched on a dict: f receives a dict of stacks
    fb = lambda st: np.array([f({"w": st["w"][i], "b": st["b"][i]})[0]
                              for i in range(len(st["b"]))])
    assert check_grad(fb, {"w": w, "b": b}, f({"w": w, "b": b})[1], batched=True,
                      batch_size=5).ok
    assert check_grad(fb, {"w": w, "b": b}, f({"w": w, "b": b})[1], batched=True,
                      fast=True, rng=3).ok


def test_float32_warns():
    x = np.ones(3, np.float32)
    with pytest.warns(UserWarning, match="float32"):
        r = check_grad(lambda v: float(np.sum(v.astype(np.float64) ** 2)), x, 2 * x)
    assert r.status in ("ok", "suspect")


def test_rng_forms(rng):
    f, grad = _quadratic(rng)
    x = rng.standard_normal(12)
    from gradkit.random import Generator
    a = check_grad(f, x, grad(x) * 1.01, fast=True, rng=7)
    b = check_grad(f, x, grad(x) * 1.01, fast=True, rng=Generator(7))
    assert a.difference == b.difference
    n = check_grad(f, x, grad(x) * 1.01, fast=True, rng=np.random.default_rng(7))
    assert n.status == "wrong"
    c = check_grad(f, x, grad(x) * 1.001, fast=True, rng=None)
    assert c.status == "suspect"
    assert check_grad(f, x, grad(x), fast=True, rng=Generator(3)).ok


# ---- every backward gradkit has ----------------------------------------------------------

@pytest.mark.parametrize("nd", [1, 2])
def test_layer_norm_backward(nd, rng):
    shape = (3, 4, 5)
    inner = shape[3 - nd:]
    p = {"x": rng.standard_normal(shape), "w": rng.standard_normal(inner),
         "b": rng.standard_normal(inner)}
    dy = rng.standard_normal(shape)

    def f(q):
        y, st = norm.layer_norm(q["x"], q["w"], q["b"], normalized_ndim=nd)
        dx, dw, db = norm.layer_norm_backward(dy, q["x"], st, q["w"])
        return float(np.sum(y * dy)), {"x": dx, "w": dw, "b": db}

    r = check_grad(f, p)
    assert r.ok, str(r)
    assert check_grad(f, p, fast=True, rng=0).ok


@pytest.mark.parametrize("nd", [1, 2])
def test_rms_norm_backward(nd, rng):
    shape = (3, 4, 5)
    p = {"x": rng.standard_normal(shape), "w": rng.standard_normal(shape[3 - nd:])}
    dy = rng.standard_normal(shape)

    def f(q):
        y, st = norm.rms_norm(q["x"], q["w"], 1e-5, normalized_ndim=nd)
        dx, dw = norm.rms_norm_backward(dy, q["x"], st, q["w"])
        return float(np.sum(y * dy)), {"x": dx, "w": dw}

    r = check_grad(f, p)
    assert r.ok, str(r)


def test_batch_norm_backward(rng):
    if not hasattr(norm, "batch_norm_backward"):
        pytest.skip("batch_norm is not in this build")
    x = rng.standard_normal((6, 3, 2))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    dy = rng.standard_normal(x.shape)

    def f(q):
        y, st = norm.batch_norm(q["x"], q["w"], q["b"], training=True)
        dx, dw, db = norm.batch_norm_backward(dy, q["x"], st, q["w"])
        return float(np.sum(y * dy)), {"x": dx, "w": dw, "b": db}

    r = check_grad(f, {"x": x, "w": w, "b": b})
    assert r.ok, str(r)


def test_dropout_backward(rng):
    dropout = pytest.importorskip("gradkit.dropout")
    x = rng.standard_normal((5, 7))
    dy = rng.standard_normal(x.shape)
    _, mask = dropout.dropout(x, 0.3, rng=11)

    def f(v):  # the same mask at every point: the seed is fixed
        y, _ = dropout.dropout(v, 0.3, rng=11)
        return float(np.sum(y * dy))

    r = check_grad(f, x, dropout.dropout_backward(dy, mask))
    assert r.ok, str(r)


# ---- threads and bad input ---------------------------------------------------------------

def test_batched_threads_bitwise(rng):
    x = rng.standard_normal(300)
    f = lambda st: np.sin(st).sum(axis=1) * np.arange(1, len(st) + 1) ** 0
    one, two = run_threads(lambda: numerical_grad(f, x, batched=True, batch_size=150))
    assert_bitwise_equal(one, two)
    v = np.random.default_rng(0).standard_normal((4, 300))
    s1, s2 = np.empty((8, 300)), np.empty((8, 300))
    with gradkit.num_threads(1):
        gc._k.stack_dir(x, v, 1e-3, s1)
    with gradkit.num_threads(2):
        gc._k.stack_dir(x, v, 1e-3, s2)
    assert_bitwise_equal(s1, s2)
    np.testing.assert_allclose(s1[:4], x + 1e-3 * v, rtol=1e-15)


def test_bad_input(rng):
    x = rng.standard_normal(4)
    f = lambda v: float(np.sum(v))
    with pytest.raises(TypeError, match="f must be callable"):
        check_grad(None, x, x)
    with pytest.raises(TypeError, match="x must be a float32 or float64"):
        check_grad(f, np.arange(4), x)
    with pytest.raises(ValueError, match="grad must have shape"):
        check_grad(f, x, x[:2])
    with pytest.raises(TypeError, match=r"\(loss, grad\)"):
        check_grad(f, x)
    with pytest.raises(ValueError, match="batched=True needs"):
        check_grad(f, x, batched=True)
    with pytest.raises(ValueError, match="losses"):
        check_grad(lambda st: np.zeros(3), x, x, batched=True)
    with pytest.raises(TypeError, match="f must return a real number"):
        check_grad(lambda v: "a", x, x)
    with pytest.raises(ValueError, match="eps"):
        check_grad(f, x, x, eps=0.0)
    with pytest.raises(ValueError, match="n_directions"):
        check_grad(f, x, x, fast=True, n_directions=0)
    with pytest.raises(ValueError, match="batch_size"):
        check_grad(_batched(f), x, x, batched=True, batch_size=0)
    with pytest.raises(ValueError, match="keys"):
        check_grad(lambda p: 0.0, {"a": x}, {"b": x})
    with pytest.raises(TypeError, match="x\\['b'\\] has dtype"):
        check_grad(lambda p: 0.0, {"a": x, "b": x.astype(np.float32)}, {"a": x, "b": x})
    with pytest.raises(TypeError, match="rng"):
        check_grad(f, x, x, fast=True, rng="seed")
    with pytest.raises(ValueError, match="eps"):
        numerical_grad(f, x, eps=-1.0)


def test_drop_path_backward(rng):
    dropout = pytest.importorskip("gradkit.dropout")
    x = rng.standard_normal((8, 3, 4))
    dy = rng.standard_normal(x.shape)
    _, keep = dropout.drop_path(x, 0.4, rng=5)

    def f(v):  # the same samples dropped at every point: the seed is fixed
        y, _ = dropout.drop_path(v, 0.4, rng=5)
        return float(np.sum(y * dy))

    r = check_grad(f, x, dropout.drop_path_backward(dy, keep, 0.4))
    assert r.ok, str(r)
    assert check_grad(f, x, dropout.drop_path_backward(dy, keep, 0.4), fast=True, rng=2).ok


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_regularization_gradients(kind, rng):
    reg = pytest.importorskip("gradkit.regularization")
    p = {"w": rng.standard_normal((4, 5)) + 0.1, "b": rng.standard_normal(5) + 0.1}
    penalty = reg.l2_penalty if kind == "l2" else reg.l1_penalty
    add_grad = reg.add_l2_grad_ if kind == "l2" else reg.add_l1_grad_

    def f(q):
        grads = [np.zeros_like(q["w"]), np.zeros_like(q["b"])]
        add_grad(grads, [q["w"], q["b"]], 0.3)
        return penalty([q["w"], q["b"]], 0.3), {"w": grads[0], "b": grads[1]}

    r = check_grad(f, p)
    assert r.ok, str(r)


# ---- issue 10: the analytical gradient must be float32/float64 ---------------------------

@pytest.mark.parametrize("gdtype", [np.int64, np.int32, np.float16, ">f2", np.complex128,
                                    object, bool])
def test_grad_of_a_lossy_dtype_is_rejected(gdtype):
    """An int or float16 gradient was converted and checked: it cannot carry the digits
    the relative difference measures (and ints truncate)."""
    x = np.linspace(-1, 1, 6)
    calls = []

    def f(v):
        calls.append(1)
        return float(np.sum(v ** 2))

    g = (2 * x).astype(gdtype)
    with pytest.raises(TypeError, match="grad"):
        check_grad(f, x, g)
    with pytest.raises(TypeError, match="grad returned by f"):
        check_grad(lambda v: (f(v), (2 * v).astype(gdtype)), x)
    with pytest.raises(TypeError, match=r"grad\['w'\]"):
        check_grad(f_dict, {"w": x}, {"w": g})
    assert len(calls) == 1  # only the call that returned the bad gradient


def f_dict(d):
    return float(np.sum(d["w"] ** 2))


@pytest.mark.parametrize("kw,exc,match", [
    (dict(eps=0.0), ValueError, "eps"), (dict(eps=-1e-3), ValueError, "eps"),
    (dict(eps=float("nan")), ValueError, "eps"), (dict(eps="1e-3"), TypeError, "eps"),
    (dict(fast=True, n_directions=0), ValueError, "n_directions"),
    (dict(fast=True, n_directions=2.5), TypeError, "n_directions"),
    (dict(atol=-1.0), ValueError, "atol"), (dict(rtol=float("inf")), ValueError, "rtol"),
    (dict(batch_size=0), ValueError, "batch_size"), (dict(fast="yes"), TypeError, "fast"),
    (dict(batched=2), TypeError, "batched"), (dict(fast=True, rng="x"), TypeError, "rng"),
])
def test_options_checked_before_f_is_called(kw, exc, match):
    calls = []

    def f(v):
        calls.append(1)
        return float(np.sum(v ** 2)), 2 * v

    with pytest.raises(exc, match=match):
        check_grad(f, np.linspace(-1, 1, 4), **kw)
    assert not calls
