"""dropout and drop_path in 16-bit storage (float16, bfloat16): forward and backward
(stored mask and seed only) bitwise against the reference (the float32 formula on the
widened input, rounded once) and against gradkit's float32 kernel on the widened input,
the mask the float32 one, odd sizes and alignments (the vector spans and their tails),
layouts, threads, every SIMD table, NaN/Inf, bad input."""
import hashlib

import numpy as np
import pytest

import gradkit
from gradkit import dropout as gd
from gradkit.random import Generator
from gradkit.reference import dropout as rd
from gradkit.reference import random as rr
from _half import (BF16, F16, F32, HALVES, assert_every_simd_table_gives_the_same_bits,
                   bits, data)

SHAPES = [(1,), (7, 13), (3, 5, 33), (100003,), (256, 300), (2, 0), (17,), (40, 16)]
PS = [0.0, 0.1, 0.5, 0.9, 1.0]


def _gens(seed=31, counter=5):
    g = Generator(seed)
    g.set_state({"seed": seed, "counter": counter})   # an unaligned start
    r = rr.Generator(seed)
    r.counter = counter
    return g, r


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("p", PS)
def test_dropout_matches_reference_and_float32_bitwise(dt, shape, p):
    x = data(1, shape, dt, 3.0)
    g, r = _gens()
    y, m = gd.dropout(x, p, rng=g)
    yr, (rbits, _, _) = rd.dropout(x, p, rng=r)
    assert y.dtype == dt and y.shape == x.shape and g.counter == 5 + x.size
    assert bits(y) == bits(yr) and bits(m.bits) == bits(rbits)
    # the float32 kernel on the widened input, rounded once; the same mask
    y32, m32 = gd.dropout(x.astype(F32), p, rng=_gens()[0])
    assert bits(y) == bits(y32.astype(dt)) and bits(m.bits) == bits(m32.bits)
    # backward from the bits and from the seed alone
    dy = data(2, shape, dt)
    dx = gd.dropout_backward(dy, m)
    assert bits(dx) == bits(rd.dropout_backward(dy, m.to_bool(), p))
    assert bits(dx) == bits(gd.dropout_backward(dy.astype(F32), m32).astype(dt))
    _, ms = gd.dropout(x, p, rng=_gens()[0], store_mask=False)
    assert not ms.stored and bits(gd.dropout_backward(dy, ms)) == bits(dx)


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_every_start_and_length(dt):
    """Spans of every length mod 16 and outputs at every 2-byte offset: the vector
    groups, their tails and the mask bytes they write."""
    base = data(3, 300, dt, 2.0)
    for start in range(0, 9):
        for n in (1, 7, 8, 15, 16, 17, 31, 33, 64, 65, 127, 200):
            x = base[start:start + n]
            out = np.empty(n + 8, dt)[start % 8:][:n]          # misaligned out
            g, r = _gens(7, start)
            y, m = gd.dropout(x, 0.4, rng=g, out=out)
            yr, (rbits, _, _) = rd.dropout(x, 0.4, rng=r)
            assert y is out and bits(y) == bits(yr) and bits(m.bits) == bits(rbits)
            dx = gd.dropout_backward(x, m)
            assert bits(dx) == bits(rd.dropout_backward(x, m.to_bool(), 0.4))


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_large_streamed_output(dt):
    """Past the streaming threshold (16 MiB of output): the non-temporal stores."""
    n = (16 << 20) // 2 + 4099
    x = data(4, n, dt)
    g, r = _gens(9, 3)
    y, m = gd.dropout(x, 0.25, rng=g)
    yr, (rbits, _, _) = rd.dropout(x, 0.25, rng=r)
    assert bits(y) == bits(yr) and bits(m.bits) == bits(rbits)
    assert bits(gd.dropout_backward(x, m)) == bits(rd.dropout_backward(x, m.to_bool(), 0.25))
    keep = np.arange(64) % 3 != 0
    xp = x[: 64 * (n // 64)].reshape(64, -1)
    assert bits(gd.drop_path_backward(xp, keep, 0.25)) == bits(
        rd.drop_path_backward(xp, keep, 0.25))


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_streamed_output_at_every_line_offset(dt):
    """Streamed outputs (a threshold of 1 MiB here) at every element offset from a
    line: bfloat16 on AVX-512 streams 32 elements (a line) a step, an output 32 bytes
    past a line taking its first 16 elements alone; outputs not 32 bytes from a line go
    through a line-carrying copy (gk_nt_run)."""
    n = (1 << 20) // 2 + 4099
    x = data(12, n, dt)
    previous = gradkit.set_stream_threshold(1 << 20)
    try:
        for off in range(32):                                  # elements from a line
            buf = np.empty(n + 64, dt)
            lead = (-buf.ctypes.data % 64) // 2 + off
            out = buf[lead:lead + n]
            assert (out.ctypes.data - off * 2) % 64 == 0
            g, r = _gens(13, 5)
            y, m = gd.dropout(x, 0.3, rng=g, out=out)
            yr, (rbits, _, _) = rd.dropout(x, 0.3, rng=r)
            assert y is out and bits(y) == bits(yr) and bits(m.bits) == bits(rbits)
    finally:
        gradkit.set_stream_threshold(previous)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", [(1, 1), (5, 3, 7), (64, 33), (3, 4099), (0, 4), (4, 0)],
                         ids=str)
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_drop_path(dt, shape, p):
    x = data(5, shape, dt, 2.0)
    g, r = _gens(11, 2)
    y, keep = gd.drop_path(x, p, rng=g)
    yr, kr = rd.drop_path(x, p, rng=r)
    assert y.dtype == dt and bits(y) == bits(yr) and np.array_equal(keep, kr)
    y32, k32 = gd.drop_path(x.astype(F32), p, rng=_gens(11, 2)[0])
    assert bits(y) == bits(y32.astype(dt)) and np.array_equal(keep, k32)
    dy = data(6, shape, dt)
    dx = gd.drop_path_backward(dy, keep, p)
    assert dx.dtype == dt and bits(dx) == bits(rd.drop_path_backward(dy, keep, p))
    out = np.empty_like(dy)
    assert gd.drop_path_backward(dy, keep, p, out=out) is out and bits(out) == bits(dx)


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_layouts_inputs_untouched_and_in_place(dt):
    base = data(7, (40, 70), dt)
    x = base[::2, 3:68]                                        # non-contiguous
    xc = np.ascontiguousarray(x)
    y, m = gd.dropout(x, 0.5, rng=3)
    y0, _ = gd.dropout(xc, 0.5, rng=3)
    assert bits(y) == bits(y0)
    sw = xc.astype(dt.newbyteorder(">"))                       # byte-swapped
    assert bits(gd.dropout(sw, 0.5, rng=3)[0]) == bits(y0)
    ro = xc.copy()
    ro.flags.writeable = False
    before = bits(ro)
    assert bits(gd.dropout(ro, 0.5, rng=3)[0]) == bits(y0) and bits(ro) == before
    assert bits(gd.dropout_backward(ro, m)) == bits(gd.dropout_backward(xc, m))
    z = xc.copy()                                              # in place (out=x)
    assert gd.dropout(z, 0.5, rng=3, out=z)[0] is z and bits(z) == bits(y0)
    yp, kp = gd.drop_path(x, 0.5, rng=4)
    assert bits(yp) == bits(gd.drop_path(xc, 0.5, rng=4)[0])
    assert bits(gd.drop_path_backward(x, kp, 0.5)) == bits(gd.drop_path_backward(xc, kp, 0.5))


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_eval_mode_and_p_zero_return_x(dt):
    x = data(8, (5, 9), dt)
    assert gd.dropout(x, 0.5, training=False) == (x, None)
    out = np.empty_like(x)
    assert gd.dropout(x, 0.5, training=False, out=out)[0] is out and bits(out) == bits(x)
    assert gd.dropout_backward(x, None) is x
    y, keep = gd.drop_path(x, 0.0)
    assert y is x and keep.all()


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_nan_inf_propagate(dt):
    x = np.array([np.nan, np.inf, -np.inf, 1.0, -0.0, 65504.0] * 11, F32).astype(dt)
    for p in (0.5, 1.0):
        g, r = _gens(1, 0)
        y, _ = gd.dropout(x, p, rng=g)
        assert bits(y) == bits(rd.dropout(x, p, rng=r)[0])
        y32 = y.astype(F32)
        assert np.isnan(y32[::6]).all()                        # NaN * m
        assert not (y32[1::6] == 0).any()                     # inf * 0 -> NaN, not 0
    if dt == F16:   # 65504 * 2 overflows float16 to inf, as the float32 result rounds
        y, m = gd.dropout(x, 0.5, rng=1)
        kept = m.to_bool()[5::6]
        assert np.isinf(y[5::6][kept].astype(F32)).all()


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_every_16bit_pattern(dt):
    """All 65,536 bit patterns (NaNs of every payload, signaling ones included, infs,
    subnormals) through the forward and both backwards: bitwise the float32 kernel on
    the widened values, rounded by astype."""
    x = np.arange(1 << 16, dtype=np.uint16).view(dt)
    with np.errstate(all="ignore"):
        for p in (0.0, 0.4):
            y, m = gd.dropout(x, p, rng=Generator(2))
            y32, m32 = gd.dropout(x.astype(F32), p, rng=Generator(2))
            assert bits(y) == bits(y32.astype(dt)) and bits(m.bits) == bits(m32.bits)
            assert bits(gd.dropout_backward(x, m)) == bits(
                gd.dropout_backward(x.astype(F32), m32).astype(dt))
        xp = x.reshape(256, 256)
        keep = np.arange(256) % 3 != 0
        assert bits(gd.drop_path_backward(xp, keep, 0.4)) == bits(
            gd.drop_path_backward(xp.astype(F32), keep, 0.4).astype(dt))


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_threads_bitwise_equal(dt):
    x = data(9, (300, 1031), dt)                               # threaded
    runs = []
    for n in (1, 2, 3, 4):
        with gradkit.num_threads(n):
            y, m = gd.dropout(x, 0.3, rng=5)
            dx = gd.dropout_backward(x, m)
            yp, kp = gd.drop_path(x, 0.3, rng=6)
            dp = gd.drop_path_backward(x, kp, 0.3)
        runs.append(b"".join(bits(a) for a in (y, m.bits, dx, yp, kp, dp)))
    assert all(r == runs[0] for r in runs)


def _digest():
    """A hash of 16-bit dropout results (run under each GRADKIT_SIMD)."""
    h = hashlib.sha256()
    for dt in HALVES:
        for shape in [(33, 257), (3, 4099), (5, 19), (128, 1024)]:
            x = data(21, shape, dt, 2.0)
            y, m = gd.dropout(x, 0.3, rng=Generator(4))
            yp, kp = gd.drop_path(x, 0.5, rng=Generator(5))
            for a in (y, m.bits, gd.dropout_backward(x, m), yp,
                      gd.drop_path_backward(x, kp, 0.5)):
                h.update(bits(a))
    return h.hexdigest()


def test_every_simd_table_gives_the_same_bits():
    assert_every_simd_table_gives_the_same_bits("test_dropout_half")


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_bad_input_names_the_argument(dt):
    other = BF16 if dt == F16 else F16
    x = data(10, (4, 8), dt)
    _, m = gd.dropout(x, 0.5, rng=1)
    with pytest.raises(ValueError, match="dy"):
        gd.dropout_backward(x[:2], m)
    with pytest.raises(ValueError, match="out"):
        gd.dropout(x, 0.5, rng=1, out=np.empty((4, 8), F32))
    with pytest.raises(ValueError, match="out"):
        gd.drop_path_backward(x, np.ones(4, bool), 0.5, out=np.empty((4, 8), other))
    with pytest.raises(TypeError, match="keep"):
        gd.drop_path_backward(x, np.ones(4, dt), 0.5)
    with pytest.raises(ValueError, match="p"):
        gd.dropout(x, 1.5)
    with pytest.raises(TypeError, match="x"):
        gd.dropout(x.astype(np.int16))
