"""Regularization in 16-bit storage (float16, bfloat16): the penalties (float64 sums of
the widened values) and the in-place gradient updates (float32 arithmetic, each result
rounded once) bitwise against the reference and against the float32 kernels on the
widened arrays, lists mixing dtypes, every thread count and SIMD table, zero-size, odd
shapes and layouts, NaN, bad input."""
import hashlib

import numpy as np
import pytest

import gradkit
from gradkit import regularization as reg
from gradkit.reference import regularization as ref
from _half import F32, HALVES, assert_every_simd_table_gives_the_same_bits, bits, data
from conftest import run_threads

# odd sizes around the vector widths (8 float32 lanes) and the multi-array chunks
SHAPES = [(1, 1), (7, 13), (33,), (0,), (100003,), (3, 5, 17), (16,), (65537,)]


def _params(seed, dt, shapes=SHAPES):
    ps = [data(seed + i, s, dt, 2.0) for i, s in enumerate(shapes)]
    ps[1][0, :3] = 0.0   # sign(0) = 0
    return ps


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("name", ["l2_penalty", "l1_penalty"])
def test_penalties_are_float64_sums_of_the_widened_values(name, dt):
    ps = _params(1, dt)
    mine = getattr(reg, name)(ps, 0.37)
    assert isinstance(mine, float)
    # the float32 kernel on the widened arrays: the same float64 chunk sums, bitwise
    assert mine == getattr(reg, name)([p.astype(F32) for p in ps], 0.37)
    assert mine == pytest.approx(getattr(ref, name)(ps, 0.37), rel=1e-12)
    one = getattr(reg, name)(ps[4], 2.0)
    assert one == pytest.approx(getattr(ref, name)(ps[4], 2.0), rel=1e-12)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("name", ["add_l2_grad_", "add_l1_grad_"])
def test_gradients_are_the_reference_bit_for_bit(name, dt):
    """g + lam w (or lam sign(w)) in float32 from the widened values, rounded once: the
    reference computes exactly that, so the bits agree; so do the float32 kernel's on
    the widened arrays, rounded once."""
    ps = _params(2, dt)
    gs = [data(20 + i, p.shape, dt) for i, p in enumerate(ps)]
    mine, theirs = [g.copy() for g in gs], [g.copy() for g in gs]
    wide = [g.astype(F32) for g in gs]
    assert getattr(reg, name)(mine, ps, 0.25) is mine
    getattr(ref, name)(theirs, ps, 0.25)
    getattr(reg, name)(wide, [p.astype(F32) for p in ps], 0.25)
    for a, b, c in zip(mine, theirs, wide):
        assert a.dtype == dt and bits(a) == bits(b) == bits(c.astype(dt))
    # a lam that float32 rounds: rounded once, to float32 (torch's alpha on bf16)
    g = gs[4].copy()
    reg.add_l2_grad_(g, ps[4], 0.1)
    want = (gs[4].astype(F32) + np.float32(0.1) * ps[4].astype(F32)).astype(dt)
    assert bits(g) == bits(want)


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_nan_and_inf(dt):
    w = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -3.0] * 3, dt)
    g = np.ones(w.shape, dt)
    g[-1] = np.inf
    for fn in (reg.add_l2_grad_, reg.add_l1_grad_):
        mine, theirs = g.copy(), g.copy()
        fn(mine, w, 0.5)
        getattr(ref, fn.__name__)(theirs, w, 0.5)
        assert bits(mine) == bits(theirs)
    assert np.isnan(reg.l2_penalty(w, 1.0)) and np.isnan(reg.l1_penalty(w, 1.0))
    assert reg.l1_penalty(w[1:3], 1.0) == np.inf


def test_lists_mixing_dtypes_are_each_array_alone():
    """One call over float32, float64, float16 and bfloat16 pairs (grouped per dtype
    in the kernels) equals the arrays one at a time, in every thread count."""
    dts = [F32, HALVES[1], np.dtype(np.float64), HALVES[0]] * 2
    sizes = [100003, 7, 40000, 65537, 0, 33, 1, 50001]
    ps = [data(40 + i, n, d) for i, (n, d) in enumerate(zip(sizes, dts))]
    gs = [data(60 + i, p.shape, p.dtype) for i, p in enumerate(ps)]

    def go():
        a, b = [g.copy() for g in gs], [g.copy() for g in gs]
        reg.add_l2_grad_(a, ps, 0.1)
        reg.add_l1_grad_(b, ps, 0.3)
        return a, b, reg.l2_penalty(ps, 1.0), reg.l1_penalty(ps, 1.0)

    runs = run_threads(go, counts=(1, 2, 3, 4))
    for other in runs[1:]:
        assert [bits(x) for x in other[0] + other[1]] == [bits(x) for x in
                                                          runs[0][0] + runs[0][1]]
        assert other[2:] == runs[0][2:]
    total = 0.0
    for i, p in enumerate(ps):
        g = gs[i].copy()
        reg.add_l2_grad_(g, p, 0.1)
        assert bits(g) == bits(runs[0][0][i])
        total += reg.l2_penalty(p, 1.0)
    assert runs[0][2] == pytest.approx(total, rel=1e-14)


def _digest():
    """A hash of the 16-bit regularization results (run under each GRADKIT_SIMD)."""
    h = hashlib.sha256()
    for dt in HALVES:
        ps = _params(70, dt)
        gs = [data(80 + i, p.shape, dt) for i, p in enumerate(ps)]
        reg.add_l2_grad_(gs, ps, 0.01)
        h.update(b"".join(bits(g) for g in gs))
        reg.add_l1_grad_(gs, ps, 0.02)
        h.update(b"".join(bits(g) for g in gs))
        h.update(np.float64([reg.l2_penalty(ps, 1.0), reg.l1_penalty(ps, 1.0)]).tobytes())
        reg.add_grad_noise_(gs, 3, rng=5)
        h.update(b"".join(bits(g) for g in gs))
    return h.hexdigest()


def test_every_simd_table_gives_the_same_bits():
    assert_every_simd_table_gives_the_same_bits("test_regularization_half")


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_grad_noise_is_the_float32_noise_added_and_rounded_once(dt):
    g = data(90, (300, 7), dt)
    mine = g.copy()
    reg.add_grad_noise_([mine], 5, rng=gradkit.random.Generator(3))
    wide = g.astype(F32)
    reg.add_grad_noise_([wide], 5, rng=gradkit.random.Generator(3))
    assert mine.dtype == dt and bits(mine) == bits(wide.astype(dt))
    theirs = g.copy()
    ref.add_grad_noise_([theirs], 5, rng=3)
    # the same Philox words; the normals agree to float32 rounding, then one rounding
    d = np.abs(mine.astype(F32) - theirs.astype(F32))
    assert (d <= np.abs(mine.astype(F32)) * 2.0 ** -7 + 1e-6).all()


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_layouts_and_inputs_untouched(dt):
    p = data(100, (40, 30), dt)
    keep = bits(p)
    nc = p[:, ::2]                           # params: any layout (read through a copy)
    sw = p.astype(p.dtype.newbyteorder(">"))   # byte-swapped: its values
    ro = p.copy()
    ro.flags.writeable = False
    g = data(101, p.shape, dt)
    want = g.copy()
    reg.add_l2_grad_(want, p, 0.5)
    for q in (sw, ro):
        got = g.copy()
        reg.add_l2_grad_(got, q, 0.5)
        assert bits(got) == bits(want)
        assert reg.l1_penalty(q, 1.0) == reg.l1_penalty(p, 1.0)
    got = np.ascontiguousarray(g[:, ::2])
    reg.add_l1_grad_(got, nc, 0.5)
    exp = np.ascontiguousarray(g[:, ::2])
    ref.add_l1_grad_(exp, np.ascontiguousarray(nc), 0.5)
    assert bits(got) == bits(exp)
    assert reg.l2_penalty(nc, 1.0) == reg.l2_penalty(np.ascontiguousarray(nc), 1.0)
    assert bits(p) == keep
    empty = np.zeros((0, 3), dt)
    assert reg.l2_penalty(empty, 1.0) == 0.0
    assert reg.add_l1_grad_(empty, empty.copy(), 1.0) is empty


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_bad_input_names_the_argument_before_writing(dt):
    other = HALVES[1] if dt == HALVES[0] else HALVES[0]
    w = [np.ones(3, dt), np.ones(4, dt)]
    g = [np.zeros(3, dt), np.zeros(4, dt)]
    keep = [bits(a) for a in g]
    for err, msg, args in [
            (TypeError, r"params\[1\] has dtype", (g, [w[0], w[1].astype(other)], 0.1)),
            (TypeError, r"params\[0\] has dtype", (g, [w[0].astype(F32), w[1]], 0.1)),
            (ValueError, "shape", (g, [w[0], np.ones(5, dt)], 0.1)),
            (ValueError, "lam", (g, w, -1.0))]:
        for fn in (reg.add_l2_grad_, reg.add_l1_grad_):
            with pytest.raises(err, match=msg):
                fn(*args)
            assert [bits(a) for a in g] == keep
    with pytest.raises(ValueError, match="C-contiguous"):
        reg.add_l2_grad_(np.zeros((3, 3), dt).T, np.ones((3, 3), dt), 0.1)
    ro = np.zeros(3, dt)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="grads"):
        reg.add_l2_grad_(ro, np.ones(3, dt), 0.1)
    with pytest.raises(ValueError, match="grads"):
        reg.add_grad_noise_(ro, 1, rng=1)
    with pytest.raises(TypeError, match=r"params\[1\]"):
        reg.l2_penalty([w[0], np.ones(3, np.int16)], 1.0)
