"""The BatchNorm steps (the split kernels of a synchronized BatchNorm) in 16-bit storage:
on one part bit for bit the 16-bit batch_norm / batch_norm_backward, bitwise the float32
steps on the widened data rounded once, against the reference rounded once, over parts
against the whole batch, in every layout, thread count and SIMD table, zero-size, bad
input.  The MPI driver in 16-bit is tested under mpiexec in test_sync_batch_norm.py."""
import hashlib

import numpy as np
import pytest

from gradkit import norm
from gradkit.reference import norm as R
from _half import (F32, HALVES, assert_every_simd_table_gives_the_same_bits,
                   assert_rounded_once, bits, data as _data, ulps)
from conftest import run_threads
from test_batch_norm_steps import _cuts, _stack   # the parts of a batch, as ranks hold them

# both layouts of batch_norm_tmpl.h: (N, C) columns (narrow ones folded), planes of
# >= 128 values, odd sizes around the vector widths
SHAPES = [(2, 1), (7, 13), (37, 5), (600, 67), (3, 5, 33), (2, 3, 4, 5), (1, 4, 7),
          (5, 3, 70), (2, 3, 9000), (1000, 3), (129, 7, 3), (4, 3, 130)]
F64 = np.dtype(np.float64)


def _inputs(shape, dt, pdt, seed=1):
    """x (mean 1, spread 3), dy, and weight/bias of dtype pdt (None: no affine)."""
    c = shape[1]
    x, dy = _data(seed, shape, dt, 3.0, 1.0), _data(seed + 1, shape, dt)
    if pdt is None:
        return x, dy, None, None
    return x, dy, _data(seed + 2, c, pdt, 1.0, 0.5), _data(seed + 3, c, pdt)


def _steps(x, dy, w, b, cuts, rm=None, rv=None, **kw):
    """Forward and backward through the steps, x split along axis 0 as by ranks:
    (y, stats, dx, summed dweight, summed dbias) -- the sums in float64."""
    mean, invstd = norm.batch_norm_gather_stats(
        *_stack([norm.batch_norm_stats(x[s]) for s in cuts]), rm, rv, **kw)
    y = np.concatenate([norm.batch_norm_elemt(x[s], w, b, mean, invstd) for s in cuts])
    st = norm.NormStats(mean.astype(F32), invstd.astype(F32))
    red = [norm.batch_norm_backward_reduce(dy[s], x[s], st.mean, st.rstd, w) for s in cuts]
    sum_dy, sum_dy_xmu = sum(r[0] for r in red), sum(r[1] for r in red)
    n = x.size // x.shape[1]
    dx = np.concatenate([norm.batch_norm_backward_elemt(dy[s], x[s], st.mean, st.rstd, w,
                                                        sum_dy, sum_dy_xmu, n)
                         for s in cuts])
    dw = None if w is None else sum(r[2].astype(F64) for r in red)
    return y, st, dx, dw, sum(r[3].astype(F64) for r in red)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("pdt", [None, "x", F32], ids=["noaffine", "xdtype", "float32"])
def test_steps_on_one_part_are_batch_norm_bit_for_bit(dt, shape, pdt):
    x, dy, w, b = _inputs(shape, dt, dt if pdt == "x" else pdt)
    for momentum, counter in ((0.3, None), (None, np.array(4, np.int64))):
        rm, rv = _data(5, shape[1], F32), _data(6, shape[1], F32, 0.1, 1.0)
        rm2, rv2 = rm.copy(), rv.copy()
        counter2 = None if counter is None else counter.copy()
        y, st = norm.batch_norm(x, w, b, rm, rv, momentum=momentum,
                                num_batches_tracked=counter)
        part = norm.batch_norm_stats(x)
        assert part.n == x.size // shape[1] and part.mean.dtype == part.m2.dtype == F64
        mean, invstd = norm.batch_norm_gather_stats(*_stack([part]), rm2, rv2,
                                                    momentum=momentum,
                                                    num_batches_tracked=counter2)
        y2 = norm.batch_norm_elemt(x, w, b, mean, invstd)
        assert y2.dtype == dt
        assert bits(y2) == bits(y) and bits(rm2) == bits(rm) and bits(rv2) == bits(rv)
        assert bits(mean.astype(F32)) == bits(st.mean)
        assert bits(invstd.astype(F32)) == bits(st.rstd)
        # the float32 statistics batch_norm saved are taken as float64, exactly
        assert bits(norm.batch_norm_elemt(x, w, b, st.mean, st.rstd)) == bits(
            norm.batch_norm_elemt(x, w, b, st.mean.astype(F64), st.rstd.astype(F64)))
    dx, dw, db = norm.batch_norm_backward(dy, x, st, w, bias=b is not None)
    sum_dy, sum_dy_xmu, dw2, db2 = norm.batch_norm_backward_reduce(
        dy, x, st.mean, st.rstd, w, bias=b is not None)
    assert (dw2 is None) == (w is None) and (db2 is None) == (b is None)
    if w is not None:
        assert dw2.dtype == w.dtype and db2.dtype == w.dtype
    dx2 = norm.batch_norm_backward_elemt(dy, x, st.mean, st.rstd, w, sum_dy, sum_dy_xmu,
                                         part.n)
    assert dx2.dtype == dt
    assert [bits(a) for a in (dx2, dw2, db2)] == [bits(a) for a in (dx, dw, db)]
    # float64 statistics are rounded to float32, as batch_norm saves them
    dx3 = norm.batch_norm_backward_elemt(dy, x, mean, invstd, w, sum_dy, sum_dy_xmu, part.n)
    assert bits(dx3) == bits(dx)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", [s for s in SHAPES if np.prod(s) >= 100], ids=str)
def test_the_float32_steps_on_the_widened_data_rounded_once(dt, shape):
    """No widened copy, the same bits: each step is the float32 kernel on x and dy
    widened exactly, its 16-bit output rounded once; and within the reference's
    rounding (float32 formulas on the widened data, rounded once)."""
    x, dy, w, b = _inputs(shape, dt, F32, seed=11)
    x32, dy32 = x.astype(F32), dy.astype(F32)
    part, part32 = norm.batch_norm_stats(x), norm.batch_norm_stats(x32)
    assert bits(part.mean) == bits(part32.mean) and bits(part.m2) == bits(part32.m2)
    ref = R.batch_norm_stats(x)
    np.testing.assert_allclose(part.mean, ref.mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(part.m2, ref.m2, rtol=1e-5)
    mean, invstd = norm.batch_norm_gather_stats(*_stack([part]))
    y = norm.batch_norm_elemt(x, w, b, mean, invstd)
    assert bits(y) == bits(norm.batch_norm_elemt(x32, w, b, mean, invstd).astype(dt))
    assert_rounded_once(y, R.batch_norm_elemt(x, w, b, mean, invstd),
                        float(np.abs(b).max()))
    m, r = mean.astype(F32), invstd.astype(F32)
    got = norm.batch_norm_backward_reduce(dy, x, m, r, w)
    got32 = norm.batch_norm_backward_reduce(dy32, x32, m, r, w)
    assert [bits(a) for a in got] == [bits(a) for a in got32]
    want = R.batch_norm_backward_reduce(dy, x, m, r, w)
    for a, e in zip(got, want):
        assert a.dtype == e.dtype
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-4 * (np.abs(e).max() + 1))
    count = x.size // shape[1]
    dx = norm.batch_norm_backward_elemt(dy, x, m, r, w, got[0], got[1], count)
    dx32 = norm.batch_norm_backward_elemt(dy32, x32, m, r, w, got[0], got[1], count)
    assert bits(dx) == bits(dx32.astype(dt))
    assert_rounded_once(dx, R.batch_norm_backward_elemt(dy, x, m, r, w, got[0], got[1],
                                                        count),
                        float(np.abs(dy.astype(F32)).max() * np.abs(w).max() * r.max()))


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", [(600, 67), (3, 5, 33), (2, 3, 9000), (1000, 3),
                                   (129, 7, 3)], ids=str)
@pytest.mark.parametrize("sizes", [(1, 1), (3, 0, 2), (1, 1, 1, 1)], ids=str)
def test_parts_give_the_whole_batch(dt, shape, sizes):
    """Split along the batch (uneven parts, an empty one): y, dx and the running
    statistics are the one-part results up to the reduction order -- at most 1 ulp of
    the 16-bit type, nearly all elements exact."""
    x, dy, w, b = _inputs(shape, dt, F32, seed=21)
    rm, rv = np.zeros(shape[1], F32), np.ones(shape[1], F32)
    rm1, rv1 = rm.copy(), rv.copy()
    y, st, dx, dw, db = _steps(x, dy, w, b, _cuts(shape[0], sizes), rm, rv)
    y1, st1, dx1, dw1, db1 = _steps(x, dy, w, b, [slice(None)], rm1, rv1)
    for a, e in ((y, y1), (dx, dx1)):
        d = ulps(a, e)
        assert d.max() <= 1 and (d == 0).mean() >= 0.99, (d.max(), (d == 0).mean())
    np.testing.assert_allclose(st.mean, st1.mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(st.rstd, st1.rstd, rtol=1e-6)
    np.testing.assert_allclose(rm, rm1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(rv, rv1, rtol=1e-6)
    for a, e in ((dw, dw1), (db, db1)):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5 * (np.abs(e).max() + 1))


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_threads_bitwise_equal(dt):
    cases = [(_inputs(shape, dt, F32, seed=31), _cuts(shape[0], (2, 1)))
             for shape in [(512, 300), (40000, 3), (16, 8, 300), (3, 2, 70001)]]

    def run():
        out = []
        for (x, dy, w, b), cuts in cases:
            rm, rv = np.zeros(x.shape[1], F32), np.ones(x.shape[1], F32)
            y, st, dx, dw, db = _steps(x, dy, w, b, cuts, rm, rv)
            out.append(b"".join(bits(a) for a in (y, *st, dx, dw, db, rm, rv)))
        return out

    results = run_threads(run, counts=(1, 2, 3, 4))
    assert all(r == results[0] for r in results[1:])


def _digest():
    """A hash of the 16-bit steps' results (run under each GRADKIT_SIMD)."""
    h = hashlib.sha256()
    for dt in HALVES:
        for shape in [(33, 257), (5, 19), (4, 3, 1030), (300, 5, 3)]:
            x, dy, w, b = _inputs(shape, dt, F32, seed=41)
            y, st, dx, dw, db = _steps(x, dy, w, b, _cuts(shape[0], (1, 2)))
            for a in (y, *st, dx, dw, db):
                h.update(bits(a))
    return h.hexdigest()


def test_every_simd_table_gives_the_same_bits():
    assert_every_simd_table_gives_the_same_bits("test_batch_norm_steps_half")


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_layouts_read_only_and_out(dt):
    base, dybase = _data(51, (20, 6, 30), dt, 2.0, 1.0), _data(52, (20, 6, 30), dt)
    w = _data(53, 3, dt)
    for sl in [np.s_[::2, ::2], np.s_[:, ::2, ::3]]:
        x, dy = base[sl], dybase[sl]
        assert not x.flags.c_contiguous
        xc, dyc = np.ascontiguousarray(x), np.ascontiguousarray(dy)
        x.flags.writeable = dy.flags.writeable = False
        part = norm.batch_norm_stats(x)
        assert bits(part.m2) == bits(norm.batch_norm_stats(xc).m2)
        mean, invstd = norm.batch_norm_gather_stats(*_stack([part]))
        y = norm.batch_norm_elemt(x, w, None, mean, invstd)
        assert bits(y) == bits(norm.batch_norm_elemt(xc, w, None, mean, invstd))
        m, r = mean.astype(F32), invstd.astype(F32)
        sums = norm.batch_norm_backward_reduce(dy, x, m, r, w)
        assert [bits(a) for a in sums] == [
            bits(a) for a in norm.batch_norm_backward_reduce(dyc, xc, m, r, w)]
        dx = norm.batch_norm_backward_elemt(dy, x, m, r, w, sums[0], sums[1], part.n)
        assert bits(dx) == bits(norm.batch_norm_backward_elemt(dyc, xc, m, r, w,
                                                               *sums[:2], part.n))
        assert bits(x) == bits(xc) and bits(dy) == bits(dyc)
        base.flags.writeable = dybase.flags.writeable = True
    # byte-swapped 16-bit input is taken as its values
    x = _data(54, (6, 3, 7), dt, 2.0)
    sw = x.astype(x.dtype.newbyteorder(">"))
    assert bits(norm.batch_norm_stats(sw).m2) == bits(norm.batch_norm_stats(x).m2)
    # out=: a given array, or x / dy themselves
    dy = _data(55, x.shape, dt)
    mean, invstd = norm.batch_norm_gather_stats(*_stack([norm.batch_norm_stats(x)]))
    want = norm.batch_norm_elemt(x, w, w, mean, invstd)
    m, r = mean.astype(F32), invstd.astype(F32)
    sums = norm.batch_norm_backward_reduce(dy, x, m, r, w)
    want_dx = norm.batch_norm_backward_elemt(dy, x, m, r, w, *sums[:2], 42)
    xc, dyc = x.copy(), dy.copy()
    assert norm.batch_norm_elemt(xc, w, w, mean, invstd, out=xc) is xc
    assert norm.batch_norm_backward_elemt(dyc, x, m, r, w, *sums[:2], 42, out=dyc) is dyc
    assert bits(xc) == bits(want) and bits(dyc) == bits(want_dx)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", [(0, 5), (0, 3, 4), (4, 3, 0), (4, 0), (4, 0, 3)],
                         ids=str)
def test_zero_size(dt, shape):
    x = np.zeros(shape, dt)
    c = shape[1]
    part = norm.batch_norm_stats(x)
    assert part.mean.shape == (c,) and not part.mean.any() and not part.m2.any()
    rm, rv = np.full(c, 2.0, F32), np.full(c, 3.0, F32)
    mean, invstd = norm.batch_norm_gather_stats(*_stack([part, part]), rm, rv)
    assert not mean.any() and (rm == 2).all() and (rv == 3).all()
    y = norm.batch_norm_elemt(x, None, None, mean, invstd)
    assert y.shape == shape and y.dtype == dt
    w = np.ones(c, dt)
    sums = norm.batch_norm_backward_reduce(x, x, mean, invstd, w)
    assert all(s.shape == (c,) and not s.any() for s in sums)
    assert sums[2].dtype == dt
    dx = norm.batch_norm_backward_elemt(x, x, mean, invstd, w, sums[0], sums[1],
                                        part.n + 10)
    assert dx.shape == shape and dx.dtype == dt


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_bad_input_names_the_argument_before_writing(dt):
    other = HALVES[1] if dt == HALVES[0] else HALVES[0]
    x = _data(61, (4, 3, 5), dt, 2.0, 1.0)
    part = norm.batch_norm_stats(x)
    mean, invstd = norm.batch_norm_gather_stats(*_stack([part]))
    w = np.ones(3, F32)
    out = np.full(x.shape, 5.0, dt)
    keep = bits(out)
    for err, msg, args in [
            (TypeError, "mean has dtype float16; it must be float64 or the float32",
             (x, w, None, mean.astype(np.float16), invstd)),
            (TypeError, "invstd has dtype bfloat16",
             (x, w, None, mean, invstd.astype(HALVES[1]))),
            (TypeError, "weight has dtype float64", (x, w.astype(F64), None, mean, invstd)),
            (TypeError, f"weight has dtype {other}", (x, w.astype(other), None, mean,
                                                      invstd)),
            (TypeError, "bias has dtype", (x, w, w.astype(dt), mean, invstd)),
            (ValueError, r"weight must have shape \(3,\)", (x, w[:2], None, mean, invstd))]:
        with pytest.raises(err, match=msg):
            norm.batch_norm_elemt(*args, out=out)
        assert bits(out) == keep
    with pytest.raises(ValueError, match="out"):
        norm.batch_norm_elemt(x, w, None, mean, invstd, out=np.empty(x.shape, F32))
    m, r = mean.astype(F32), invstd.astype(F32)
    sums = norm.batch_norm_backward_reduce(x, x, m, r, w)
    for err, msg, args in [
            (TypeError, "dy has dtype", (x.astype(F32), x, m, r, w)),
            (TypeError, "dy has dtype", (x.astype(other), x, m, r, w)),
            (TypeError, "mean has dtype", (x, x, m.astype(dt), r, w)),
            (TypeError, "weight has dtype", (x, x, m, r, w.astype(F64)))]:
        with pytest.raises(err, match=msg):
            norm.batch_norm_backward_reduce(*args)
        with pytest.raises(err, match=msg):
            norm.batch_norm_backward_elemt(*args, sums[0], sums[1], 20, out=out)
        assert bits(out) == keep
    with pytest.raises(TypeError, match="running_mean must be a float32 or float64 array"):
        norm.batch_norm_gather_stats(*_stack([part]), np.zeros(3, dt), np.ones(3, dt))
