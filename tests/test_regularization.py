"""Regularization: penalties and gradients against gradkit.reference (float64 sums),
finite differences, threads, lists of mixed dtypes, bad input."""
import numpy as np
import pytest

import gradkit
from gradkit import regularization as reg
from gradkit.reference import regularization as ref
from conftest import placed_past, assert_bitwise_equal, numerical_grad, run_threads

SHAPES = [(1, 1), (7, 13), (33,), (0,), (100003,), (3, 5, 17)]


def _params(rng, dtype, shapes=SHAPES):
    return [(rng.standard_normal(s) * 2).astype(dtype) for s in shapes]


@pytest.mark.parametrize("name", ["l2_penalty", "l1_penalty"])
def test_penalties_match_reference(name, dtype, rng):
    ps = _params(rng, dtype)
    mine = getattr(reg, name)(ps, 0.37)
    theirs = getattr(ref, name)(ps, 0.37)
    assert isinstance(mine, float)
    assert mine == pytest.approx(theirs, rel=1e-13)   # float64 sums either way
    assert getattr(reg, name)(ps[1], 2.0) == pytest.approx(getattr(ref, name)(ps[1], 2.0),
                                                          rel=1e-13)


def test_penalty_formulas_by_hand():
    w = [np.array([1.0, -2.0]), np.array([[3.0]], np.float32)]
    assert reg.l2_penalty(w, 0.5) == 0.5 / 2 * 14.0
    assert reg.l1_penalty(w, 0.5) == 0.5 * 6.0
    assert reg.l2_penalty([np.zeros(0)], 1.0) == 0.0


@pytest.mark.parametrize("name", ["add_l2_grad_", "add_l1_grad_"])
def test_gradients_match_reference(name, dtype, rng):
    ps = _params(rng, dtype)
    ps[1][0, :3] = 0.0  # sign(0) = 0
    gs = [rng.standard_normal(p.shape).astype(dtype) for p in ps]
    mine, theirs = [g.copy() for g in gs], [g.copy() for g in gs]
    assert getattr(reg, name)(mine, ps, 0.25) is mine
    getattr(ref, name)(theirs, ps, 0.25)
    assert_bitwise_equal(mine, theirs)   # one rounding, the same in both


@pytest.mark.parametrize("pen,grad", [("l2_penalty", "add_l2_grad_"),
                                      ("l1_penalty", "add_l1_grad_")])
def test_gradient_is_the_penalty_derivative(pen, grad, rng):
    w = rng.standard_normal((3, 4))
    g = np.zeros_like(w)
    getattr(reg, grad)(g, w, 0.7)
    num = numerical_grad(lambda x: getattr(reg, pen)(x, 0.7), w)
    np.testing.assert_allclose(g, num, rtol=1e-7, atol=1e-8)


def test_lists_of_mixed_dtypes_and_threads():
    rng = np.random.default_rng(5)
    ps = [rng.standard_normal(s).astype(np.float32 if i % 2 else np.float64)
          for i, s in enumerate([100003, 7, 40000, 0, 65537])]
    gs = [rng.standard_normal(p.shape).astype(p.dtype) for p in ps]

    def go():
        a, b = [g.copy() for g in gs], [g.copy() for g in gs]
        reg.add_l2_grad_(a, ps, 0.1)
        reg.add_l1_grad_(b, ps, 0.1)
        return a, b, reg.l2_penalty(ps, 1.0), reg.l1_penalty(ps, 1.0)
    one, two = run_threads(go)
    assert_bitwise_equal(one[:2], two[:2])
    assert one[2] == two[2] and one[3] == two[3]
    # a list equals the arrays one at a time
    for i, p in enumerate(ps):
        g = gs[i].copy()
        reg.add_l2_grad_(g, p, 0.1)
        assert_bitwise_equal(g, one[0][i])


def test_grad_noise_matches_reference_and_anneals():
    gs = [np.zeros((50, 40), np.float32), np.zeros(2001)]
    theirs = [g.copy() for g in gs]
    reg.add_grad_noise_(gs, 10, rng=3)
    ref.add_grad_noise_(theirs, 10, rng=3)
    # the same Philox words; the normals agree to rounding (different libm-quality
    # functions in the kernels and in NumPy)
    for a, b in zip(gs, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5 if a.dtype == np.float32 else 1e-12,
                                   atol=1e-6 if a.dtype == np.float32 else 1e-13)
    assert gs[0].dtype == np.float32
    sigma = np.sqrt(0.3 / 11 ** 0.55)
    assert reg.noise_std(10) == pytest.approx(sigma)
    assert np.std(gs[1]) == pytest.approx(sigma, rel=0.1)
    late = np.zeros(20000)
    reg.add_grad_noise_(late, 10000, eta=1.0, rng=gradkit.random.Generator(0))
    assert np.std(late) == pytest.approx(np.sqrt(1.0 / 10001 ** 0.55), rel=0.05)
    a, b = np.zeros(10), np.zeros(10)
    reg.add_grad_noise_(a, 0, rng=7)
    reg.add_grad_noise_(b, 0, rng=7)
    assert_bitwise_equal(a, b)
    gen = gradkit.random.Generator(5)
    reg.add_grad_noise_(a, 0, rng=gen)
    reg.add_grad_noise_(b, 0, rng=gen)   # the generator advanced: new noise
    assert not np.array_equal(a, b)


def test_grad_noise_threads_bitwise():
    def go():
        g = np.zeros(100003, np.float32)
        reg.add_grad_noise_(g, 3, rng=11)
        return g
    one, two = run_threads(go)
    assert_bitwise_equal(one, two)


def test_bad_input_raises_before_writing():
    w = [np.ones(3), np.ones(4)]
    g = [np.zeros(3), np.zeros(4)]
    with pytest.raises(ValueError, match="lam"):
        reg.l2_penalty(w, -1.0)
    with pytest.raises(ValueError, match="lam"):
        reg.add_l1_grad_(g, w, float("nan"))
    with pytest.raises(ValueError, match="shape"):
        reg.add_l2_grad_(g, [np.ones(3), np.ones(5)], 0.1)
    with pytest.raises(TypeError, match="dtype"):
        reg.add_l2_grad_(g, [np.ones(3), np.ones(4, np.float32)], 0.1)
    with pytest.raises(ValueError, match="arrays"):
        reg.add_l2_grad_(g, w[:1], 0.1)
    with pytest.raises(ValueError, match="C-contiguous"):
        reg.add_l2_grad_(np.zeros((3, 3)).T, np.ones((3, 3)), 0.1)
    with pytest.raises(TypeError, match="grads"):
        reg.add_l2_grad_([[0.0, 0.0, 0.0]], [np.ones(3)], 0.1)
    with pytest.raises(TypeError, match="params"):
        reg.l1_penalty([np.ones(3, np.int32)], 1.0)
    with pytest.raises(ValueError, match="step"):
        reg.add_grad_noise_(g, -1)
    with pytest.raises(TypeError, match="rng"):
        reg.add_grad_noise_(g, 1, rng="seed")
    assert_bitwise_equal(g, [np.zeros(3), np.zeros(4)])


def test_inputs_not_modified(rng):
    ps = _params(rng, np.float64, [(5, 5)])
    before = [p.copy() for p in ps]
    reg.l2_penalty(ps, 1.0)
    reg.add_l1_grad_([np.zeros((5, 5))], ps, 1.0)
    assert_bitwise_equal(ps, before)
    nc = np.asfortranarray(ps[0])
    assert reg.l2_penalty(nc, 1.0) == pytest.approx(reg.l2_penalty(ps, 1.0), rel=1e-14)


@pytest.mark.parametrize("dt", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("name", ["add_l2_grad_", "add_l1_grad_"])
def test_grads_just_past_params_mod_4k(name, dt, rng, alias_avoidance):
    """Gradients 1..2047 bytes past their parameters modulo 4 KiB are updated backwards
    (gk_alias_ahead): the bits of any other placement, the vector tails included."""
    dtype = np.dtype(gradkit.bfloat16 if dt == "bfloat16" else dt)
    p = (rng.standard_normal(100_003) * 2).astype(dtype)
    p[::7] = 0
    g0 = rng.standard_normal(p.size).astype(dtype)
    want = g0.copy()
    getattr(reg, name)([want], [p], 0.3)
    for off in (8, 16, 64, 2040):
        g = placed_past(p, off, dtype=g0.dtype)
        g[...] = g0
        getattr(reg, name)([g], [p], 0.3)
        assert_bitwise_equal(g, want)
