"""Clipping over 16-bit gradients (float16, bfloat16), alone and beside float32 ones:
the norms (every norm type) against the float64 reference on the widened values,
clip_grad_norm_ / clip_grad_value_ bitwise against the reference (float32 arithmetic,
rounded once), layouts, threads, every SIMD table, NaN/Inf, bad input."""
import hashlib

import numpy as np
import pytest

import gradkit
from gradkit.reference import clip as R
from _half import (BF16, F16, F32, HALVES, assert_every_simd_table_gives_the_same_bits,
                   bits, data)

NORMS = [2.0, 1.0, float("inf"), 3.0, 0.5]


def _grads(dt, seed=1):
    """Odd sizes (vector groups and their tails), a 16-bit list with a float32 entry."""
    return [data(seed, (7, 13), dt, 2.0), data(seed + 1, 100003, dt), data(seed + 2, 1, dt),
            data(seed + 3, (3, 1025), F32), data(seed + 4, 0, dt)]


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("p", NORMS)
def test_global_norm(dt, p):
    g = _grads(dt)
    n = gradkit.global_norm(g, p)
    np.testing.assert_allclose(n, R.global_norm(g, p), rtol=1e-12)
    # the norm of the widened values exactly: the same sums as float32 arrays
    assert n == gradkit.global_norm([a.astype(F32) for a in g], p)
    assert gradkit.global_norm(g[1], p) == gradkit.global_norm(g[1].astype(F32), p)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("p", [2.0, float("inf"), 1.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e9])
def test_clip_grad_norm_(dt, p, max_norm):
    g, r = _grads(dt), _grads(dt)
    total = gradkit.clip_grad_norm_(g, max_norm, p)
    rt = R.clip_grad_norm_(r, max_norm, p)
    np.testing.assert_allclose(total, rt, rtol=1e-12)
    for a, b in zip(g, r):
        assert a.dtype == b.dtype and bits(a) == bits(b)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("v", [0.0, 0.3, 1.004, 1e6])
def test_clip_grad_value_(dt, v):
    g, r = _grads(dt), _grads(dt)
    g[0][0, 0] = r[0][0, 0] = np.nan
    gradkit.clip_grad_value_(g, v)
    R.clip_grad_value_(r, v)
    for a, b in zip(g, r):
        assert bits(a) == bits(b)
    assert np.isnan(g[0][0, 0].astype(F32))


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_layouts_in_place_and_nonfinite(dt):
    base = data(5, (40, 70), dt)
    view = base[::2, 3:68]                                    # non-contiguous, written back
    ref = np.ascontiguousarray(view)
    gradkit.clip_grad_norm_([view], 0.1)
    R.clip_grad_norm_([ref], 0.1)
    assert bits(np.ascontiguousarray(view)) == bits(ref)
    sw = ref.astype(dt.newbyteorder(">"))                      # byte-swapped: read-only ok
    assert gradkit.global_norm([sw]) == gradkit.global_norm([ref])
    with pytest.raises(TypeError, match="byte"):
        gradkit.clip_grad_norm_([sw], 1.0)
    bad = data(6, 40, dt)
    bad[3] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        gradkit.clip_grad_norm_([bad], 1.0, error_if_nonfinite=True)
    assert np.isinf(bad[3].astype(F32))                        # nothing modified
    gradkit.clip_grad_norm_([bad], 1.0)                        # coef 0: x * 0, inf * 0 = NaN
    b32 = bad.astype(F32)
    assert np.isnan(b32[3]) and (b32[np.arange(40) != 3] == 0).all()


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_every_16bit_pattern(dt):
    """All 65,536 bit patterns through the scaling and the clamp: bitwise the float32
    arithmetic on the widened values, rounded by astype (the clamp keeps every NaN's
    payload)."""
    x = np.arange(1 << 16, dtype=np.uint16).view(dt)
    finite = x[np.isfinite(x.astype(F32))]
    with np.errstate(all="ignore"):
        g = finite.copy()
        gradkit.clip_grad_norm_([g], 0.3)            # a finite norm: a real coefficient
        r = finite.copy()
        R.clip_grad_norm_([r], 0.3)
        assert bits(g) == bits(r)
        g = x.copy()                                 # NaN and inf: coefficient NaN
        assert np.isnan(gradkit.clip_grad_norm_([g], 0.3))
        assert np.isnan(g.astype(F32)).all()         # (which NaN: the multiply's choice)
        g, r = x.copy(), x.copy()
        gradkit.clip_grad_value_([g], 0.7)
        R.clip_grad_value_([r], 0.7)
        assert bits(g) == bits(r)


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_threads_bitwise_equal(dt):
    runs = []
    for n in (1, 2, 3, 4):
        g = [data(7, (300, 1031), dt), data(8, 50001, F32)]
        with gradkit.num_threads(n):
            t = gradkit.clip_grad_norm_(g, 1.0)
            i = gradkit.global_norm(g, float("inf"))
            gradkit.clip_grad_value_(g, 1e-3)
        runs.append(bits(np.array([t, i])) + b"".join(bits(a) for a in g))
    assert all(r == runs[0] for r in runs)


def _digest():
    """A hash of 16-bit clipping results (run under each GRADKIT_SIMD)."""
    h = hashlib.sha256()
    for dt in HALVES:
        g = _grads(dt, 11)
        for p in NORMS:
            h.update(bits(np.array(gradkit.global_norm(g, p))))
        gradkit.clip_grad_norm_(g, 0.5)
        gradkit.clip_grad_value_(g, 1e-3)
        for a in g:
            h.update(bits(a))
    return h.hexdigest()


def test_every_simd_table_gives_the_same_bits():
    assert_every_simd_table_gives_the_same_bits("test_clip_half")


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_float64_beside_16bit_names_the_entry(dt):
    g = [data(9, 10, dt), np.ones(5)]
    before = bits(g[0])
    with pytest.raises(TypeError, match=r"grads\[1\].*float64"):
        gradkit.clip_grad_norm_(g, 0.1)
    with pytest.raises(TypeError, match=r"grads\[1\]"):
        gradkit.global_norm(g)
    assert bits(g[0]) == before
    other = BF16 if dt == F16 else F16      # float16 beside bfloat16: both 16-bit, fine
    assert gradkit.global_norm([g[0], data(10, 3, other)]) > 0
