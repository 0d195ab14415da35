"""BatchNorm in steps (gradkit.norm's split kernels of a synchronized BatchNorm):
against the NumPy twins, composed on one part against batch_norm / batch_norm_backward
(bit for bit), over parts of a batch against the whole batch (round-off of the merge
order), finite differences, threads, zero-size, layouts, PyTorch, bad input.  The MPI
driver (sync_batch_norm) is tested under mpiexec in test_sync_batch_norm.py."""
import itertools

import numpy as np
import pytest

from gradkit import norm, reference as ref
from conftest import assert_bitwise_equal, assert_close, numerical_grad, run_threads

# both layouts of batch_norm_tmpl.h: (N, C) columns (narrow ones folded), planes of
# >= 128 values, odd sizes around the vector widths and the 4096-value segments
SHAPES = [(2, 1), (7, 13), (37, 5), (600, 67), (40, 2100), (3, 5, 33), (70, 3, 5),
          (2, 3, 4, 5), (1, 4, 7), (5, 3, 70), (2, 3, 9000), (3, 2, 7, 11), (1000, 3),
          (129, 7, 3), (4, 3, 130), (3, 5, 8, 16)]


def _data(rng, shape, dtype, offset=1.0):
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + offset).astype(dtype)
    return (x, rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype),
            rng.standard_normal(shape).astype(dtype))


def _stack(parts):
    """(counts, means, m2s) of a list of BatchNormStats, as a gather delivers them."""
    return (np.array([p.n for p in parts], np.int64), np.array([p.mean for p in parts]),
            np.array([p.m2 for p in parts]))


def _cuts(n, sizes):
    """Slices of axis 0 into parts of the given relative sizes (0: an empty part)."""
    edges = np.concatenate([[0], np.cumsum(sizes)]) * n // max(sum(sizes), 1)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _split_forward(x, w, b, cuts, rm=None, rv=None, **kw):
    """batch_norm through the steps, x split along axis 0 as by ranks."""
    mean, invstd = norm.batch_norm_gather_stats(
        *_stack([norm.batch_norm_stats(x[s]) for s in cuts]), rm, rv, **kw)
    y = np.concatenate([norm.batch_norm_elemt(x[s], w, b, mean, invstd) for s in cuts])
    return y, norm.NormStats(mean.astype(x.dtype), invstd.astype(x.dtype))


def _split_backward(dy, x, st, w, cuts):
    """batch_norm_backward through the steps: (dx, sum of the parts' dw, db)."""
    red = [norm.batch_norm_backward_reduce(dy[s], x[s], st.mean, st.rstd, w) for s in cuts]
    sum_dy, sum_dy_xmu = sum(r[0] for r in red), sum(r[1] for r in red)
    n = x.size // x.shape[1]
    dx = np.concatenate([norm.batch_norm_backward_elemt(dy[s], x[s], st.mean, st.rstd, w,
                                                        sum_dy, sum_dy_xmu, n)
                         for s in cuts])
    return (dx, sum(r[2].astype(np.float64) for r in red),
            sum(r[3].astype(np.float64) for r in red))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [False, True])
def test_steps_on_one_part_are_batch_norm_bit_for_bit(shape, affine, dtype, rng):
    x, w, b, dy = _data(rng, shape, dtype)
    if not affine:
        w = b = None
    for momentum, counter in ((0.3, None), (None, np.array(4, np.int64))):
        rm, rv = np.zeros(shape[1], dtype), np.ones(shape[1], dtype)
        rm2, rv2, counter2 = rm.copy(), rv.copy(), None if counter is None else counter.copy()
        y, st = norm.batch_norm(x, w, b, rm, rv, momentum=momentum,
                                num_batches_tracked=counter)
        part = norm.batch_norm_stats(x)
        assert part.n == x.size // shape[1]
        assert part.mean.dtype == part.m2.dtype == np.float64
        mean, invstd = norm.batch_norm_gather_stats(*_stack([part]), rm2, rv2,
                                                    momentum=momentum,
                                                    num_batches_tracked=counter2)
        assert mean.dtype == invstd.dtype == np.float64
        y2 = norm.batch_norm_elemt(x, w, b, mean, invstd)
        assert_bitwise_equal((y2, rm2, rv2), (y, rm, rv))
        assert_bitwise_equal((mean.astype(dtype), invstd.astype(dtype)), tuple(st))
        if counter is not None:
            assert int(counter2) == int(counter) == 5
    # the forward's statistics in x's dtype are taken as float64 (exactly)
    assert_bitwise_equal(norm.batch_norm_elemt(x, w, b, st.mean, st.rstd),
                         norm.batch_norm_elemt(x, w, b, st.mean.astype(np.float64),
                                               st.rstd.astype(np.float64)))
    dx, dw, db = norm.batch_norm_backward(dy, x, st, w, bias=affine)
    sum_dy, sum_dy_xmu, dw2, db2 = norm.batch_norm_backward_reduce(dy, x, st.mean, st.rstd,
                                                                   w, bias=affine)
    dx2 = norm.batch_norm_backward_elemt(dy, x, st.mean, st.rstd, w, sum_dy, sum_dy_xmu,
                                         part.n)
    assert_bitwise_equal((dx2, dw2, db2), (dx, dw, db))
    # float64 statistics are rounded to x's dtype, as batch_norm saves them
    dx3 = norm.batch_norm_backward_elemt(dy, x, mean, invstd, w, sum_dy, sum_dy_xmu, part.n)
    assert_bitwise_equal(dx3, dx)


@pytest.mark.parametrize("shape", SHAPES)
def test_kernels_match_twins(shape, dtype, rng):
    x, w, b, dy = _data(rng, shape, dtype)
    xl = x.astype(np.longdouble)   # the twins in extended precision: the exact answer
    scale = float(np.abs(x.astype(np.float64)).max())
    part, want = norm.batch_norm_stats(x), ref.batch_norm_stats(xl)
    assert part.n == want.n
    # float32 data are summed partly in float32 (batch_norm_tmpl.h): judge on x's dtype
    assert_close(part.mean, want.mean.astype(np.float64), dtype, scale=scale)
    assert_close(part.m2, want.m2.astype(np.float64), dtype, ulps=8)
    halves = [norm.batch_norm_stats(x[: shape[0] // 2]), norm.batch_norm_stats(x[shape[0] // 2:])]
    stacked = _stack(halves)
    merged = norm.batch_norm_merge_stats(*stacked)
    want_m = ref.batch_norm_merge_stats(*stacked)
    assert merged.n == want_m.n
    assert_close(merged.mean, want_m.mean, np.float64, ulps=4, scale=scale)
    assert_close(merged.m2, want_m.m2, np.float64, ulps=8)
    rm, rv = np.zeros(shape[1], dtype), np.ones(shape[1], dtype)
    rml, rvl = rm.astype(np.longdouble), rv.astype(np.longdouble)
    mean, invstd = norm.batch_norm_gather_stats(*stacked, rm, rv, momentum=0.25)
    meanr, invstdr = ref.batch_norm_gather_stats(*stacked, rml, rvl, momentum=0.25)
    assert_close(mean, meanr.astype(np.float64), np.float64, scale=scale)
    assert_close(invstd, invstdr.astype(np.float64), np.float64, ulps=8)
    assert_close(rm, rml.astype(np.float64), dtype, scale=scale)
    assert_close(rv, rvl.astype(np.float64), dtype)
    y = norm.batch_norm_elemt(x, w, b, mean, invstd)
    yr = ref.batch_norm_elemt(xl, w, b, mean, invstd)
    assert_close(y, yr.astype(np.float64), dtype, ulps=4, scale=None)
    m, r = mean.astype(dtype), invstd.astype(dtype)
    got = norm.batch_norm_backward_reduce(dy, x, m, r, w)
    want_r = ref.batch_norm_backward_reduce(dy.astype(np.longdouble), xl, m, r, w)
    gscale = float(np.abs(dy.astype(np.float64)).sum(axis=0).max()) * scale
    for a, e, dt, s in zip(got, want_r, (np.float64, np.float64, dtype, dtype),
                           (gscale, gscale * float(r.max()), None, None)):
        assert a.shape == (shape[1],)
        assert_close(a, e.astype(np.float64), dtype, ulps=16,
                     scale=s if s is not None else float(np.abs(e).max()) + 1)
    count = x.size // shape[1]
    dx = norm.batch_norm_backward_elemt(dy, x, m, r, w, got[0], got[1], count)
    dxr = ref.batch_norm_backward_elemt(dy.astype(np.longdouble), xl, m, r, w, got[0],
                                        got[1], count)
    assert dx.dtype == dtype
    assert_close(dx, dxr.astype(np.float64), dtype, ulps=16,
                 scale=float(np.abs(dy).max() * np.abs(w).max() * r.max()))


@pytest.mark.parametrize("shape", [(600, 67), (3, 5, 33), (2, 3, 9000), (1000, 3),
                                   (129, 7, 3), (3, 5, 8, 16)])
@pytest.mark.parametrize("sizes", [(1, 1), (3, 1, 2), (2, 0, 5), (1, 1, 1, 1, 1)])
def test_parts_give_the_whole_batch(shape, sizes, dtype, rng):
    """Split along the batch (uneven parts, an empty one): the merged statistics, y,
    running statistics, dx and the parts' parameter gradients summed are the whole
    batch's to round-off (the reduction order is the only difference)."""
    x, w, b, dy = _data(rng, shape, dtype)
    cuts = _cuts(shape[0], sizes)
    whole = norm.batch_norm_stats(x)
    parts = [norm.batch_norm_stats(x[s]) for s in cuts]
    merged = norm.batch_norm_merge_stats(*_stack(parts))
    scale = float(np.abs(x.astype(np.float64)).max())
    assert merged.n == whole.n
    assert_close(merged.mean, whole.mean, dtype, scale=scale)
    assert_close(merged.m2, whole.m2, dtype, ulps=8)
    # any order of the parts, and a merge of merges (a tree), agree to round-off
    for order in itertools.islice(itertools.permutations(range(len(parts))), 1, 4):
        other = norm.batch_norm_merge_stats(*_stack([parts[i] for i in order]))
        np.testing.assert_allclose(other.mean, merged.mean, rtol=1e-13, atol=1e-13 * scale)
        np.testing.assert_allclose(other.m2, merged.m2, rtol=1e-13)
    tree = norm.batch_norm_merge_stats(*_stack(
        [norm.batch_norm_merge_stats(*_stack(parts[:1])),
         norm.batch_norm_merge_stats(*_stack(parts[1:]))]))
    np.testing.assert_allclose(tree.mean, merged.mean, rtol=1e-13, atol=1e-13 * scale)
    np.testing.assert_allclose(tree.m2, merged.m2, rtol=1e-13)

    rm, rv = np.zeros(shape[1], dtype), np.ones(shape[1], dtype)
    rm1, rv1 = rm.copy(), rv.copy()
    y, st = _split_forward(x, w, b, cuts, rm, rv)
    y1, st1 = norm.batch_norm(x, w, b, rm1, rv1)
    assert_close(y, y1, dtype, ulps=8)
    assert_close(rm, rm1, dtype, ulps=4, scale=scale)
    assert_close(rv, rv1, dtype, ulps=4)
    dx, dw, db = _split_backward(dy, x, st1, w, cuts)
    dx1, dw1, db1 = norm.batch_norm_backward(dy, x, st1, w)
    assert_close(dx, dx1, dtype, ulps=16,
                 scale=float(np.abs(dy).max() * np.abs(w).max() * st1.rstd.max()))
    assert_close(dw, dw1, dtype, ulps=16, scale=float(np.abs(dw1).max()) + 1)
    assert_close(db, db1, dtype, ulps=16, scale=float(np.abs(db1).max()) + 1)


def test_one_part_and_empty_parts_merge_exactly(rng):
    x = rng.standard_normal((9, 4, 5))
    p = norm.batch_norm_stats(x)
    empty = norm.batch_norm_stats(x[:0])
    assert empty.n == 0 and not empty.mean.any() and not empty.m2.any()
    for parts in ([p], [empty, p], [p, empty, empty]):
        assert_bitwise_equal(tuple(norm.batch_norm_merge_stats(*_stack(parts)))[1:],
                             (p.mean, p.m2))
    # infinities come through a single part as they are (no inf - inf in the merge)
    inf = norm.BatchNormStats(3, np.array([np.inf, 1.0, 0, 0]), np.array([0.0, np.inf, 0, 0]))
    got = norm.batch_norm_merge_stats(*_stack([empty, inf]))
    assert_bitwise_equal((got.mean, got.m2), (inf.mean, inf.m2))
    none = norm.batch_norm_merge_stats(*_stack([empty, empty]))
    assert none.n == 0 and not none.mean.any() and not none.m2.any()


@pytest.mark.parametrize("shape", [(6, 3), (4, 2, 5), (3, 2, 3, 3), (5, 2, 130)])
def test_gradients_finite_differences(shape, rng):
    """The steps over three uneven parts against centred differences of the loss
    sum(y * dy) with y from the same steps."""
    x, w, b, dy = _data(rng, shape, np.float64)
    cuts = _cuts(shape[0], (1, 2, 1))

    def loss(x_, w_, b_):
        return float(np.sum(_split_forward(x_, w_, b_, cuts)[0] * dy))

    _, st = _split_forward(x, w, b, cuts)
    dx, dw, db = _split_backward(dy, x, st, w, cuts)
    np.testing.assert_allclose(dx, numerical_grad(lambda v: loss(v, w, b), x),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, numerical_grad(lambda v: loss(x, v, b), w),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, numerical_grad(lambda v: loss(x, w, v), b),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(512, 300), (40000, 3), (64, 2500), (16, 8, 300),
                                   (3, 2, 70001), (100, 7, 50)])
def test_threads_bitwise_identical(shape, dtype, rng):
    x, w, b, dy = _data(rng, shape, dtype)
    cuts = _cuts(shape[0], (2, 1))

    def run():
        rm, rv = np.zeros(shape[1], dtype), np.ones(shape[1], dtype)
        parts = [norm.batch_norm_stats(x[s]) for s in cuts]
        y, st = _split_forward(x, w, b, cuts, rm, rv)
        return parts, y, st, rm, rv, _split_backward(dy, x, st, w, cuts)

    results = run_threads(run, counts=(1, 2, 3, 4))
    for other in results[1:]:
        assert_bitwise_equal(other, results[0])


@pytest.mark.parametrize("shape", [(0, 5), (0, 3, 4), (4, 3, 0), (4, 0), (4, 0, 3)])
def test_zero_size(shape, dtype):
    x = np.zeros(shape, dtype)
    c = shape[1]
    part = norm.batch_norm_stats(x)
    assert part.n == (0 if c else int(np.prod((shape[0],) + shape[2:])))
    assert part.mean.shape == part.m2.shape == (c,) and not part.mean.any()
    rm, rv = np.full(c, 2.0, dtype), np.full(c, 3.0, dtype)
    counter = np.array(0, np.int64)
    mean, invstd = norm.batch_norm_gather_stats(*_stack([part, part]), rm, rv,
                                                momentum=None, num_batches_tracked=counter)
    # an empty batch: mean 0, variance 0, running statistics left alone (as batch_norm)
    assert not mean.any() and (rm == 2).all() and (rv == 3).all() and int(counter) == 1
    np.testing.assert_allclose(invstd, 1 / np.sqrt(1e-5))
    y = norm.batch_norm_elemt(x, None, None, mean, invstd)
    assert y.shape == shape
    w = np.ones(c, dtype)
    sums = norm.batch_norm_backward_reduce(x, x, mean.astype(dtype), invstd.astype(dtype), w)
    for s in sums:
        assert s.shape == (c,) and not s.any()
    dx = norm.batch_norm_backward_elemt(x, x, mean, invstd, w, sums[0], sums[1], part.n)
    assert dx.shape == shape
    # an empty part of a batch whose other parts hold values (another rank's)
    dx = norm.batch_norm_backward_elemt(x, x, mean, invstd, w, sums[0], sums[1], part.n + 10)
    assert dx.shape == shape
    assert norm.batch_norm_merge_stats(np.zeros(0, np.int64), np.zeros((0, c)),
                                       np.zeros((0, c))).n == 0


def test_large_mean_split_across_parts(dtype, rng):
    # E[x^2] - E[x]^2 would collapse; the parts' means are merged with Chan's formula
    shape = (4000, 8)
    x = (1e4 + rng.standard_normal(shape)).astype(dtype)
    cuts = _cuts(shape[0], (1, 3, 2))
    merged = norm.batch_norm_merge_stats(*_stack([norm.batch_norm_stats(x[s]) for s in cuts]))
    exact = ref.batch_norm_stats(x.astype(np.longdouble))
    assert_close(merged.mean, exact.mean.astype(np.float64), dtype, ulps=2)
    # float64: each part's mean is a float64 near 1e4, known to half an ulp of 1e4, so
    # the spread between the parts' means (~0.03 here) carries a relative 1e-11 into the
    # merge's delta^2 term, ~1e-3 of M2: a few 1e-14 of M2 (one process, which centres
    # on a pivot, does better); float32 data: a few float32 ulps
    if dtype == np.float64:
        np.testing.assert_allclose(merged.m2, exact.m2.astype(np.float64), rtol=2e-13)
    else:
        assert_close(merged.m2, exact.m2.astype(np.float64), dtype, ulps=4)
    y, _ = _split_forward(x, None, None, cuts)
    yr, _ = ref.batch_norm(x.astype(np.longdouble))
    assert_close(y, yr.astype(np.float64), dtype, ulps=4,
                 scale=1e4 if dtype == np.float64 else None)


def test_layouts_inputs_untouched_and_out(dtype, rng):
    base, dybase = (rng.standard_normal((20, 6, 30)).astype(dtype) for _ in range(2))
    w = rng.standard_normal(3).astype(dtype)
    for sl in [np.s_[::2, ::2], np.s_[:, ::2, ::3]]:
        x, dy = base[sl], dybase[sl]
        assert not x.flags.c_contiguous
        xc, dyc = np.ascontiguousarray(x), np.ascontiguousarray(dy)
        x.flags.writeable = dy.flags.writeable = False   # read-only inputs are fine
        part = norm.batch_norm_stats(x)
        assert_bitwise_equal(tuple(part)[1:], tuple(norm.batch_norm_stats(xc))[1:])
        mean, invstd = norm.batch_norm_gather_stats(*_stack([part]))
        mean.flags.writeable = invstd.flags.writeable = False
        y = norm.batch_norm_elemt(x, w, None, mean[::1], invstd)
        assert_bitwise_equal(y, norm.batch_norm_elemt(xc, w, None, mean, invstd))
        m, r = mean.astype(dtype), invstd.astype(dtype)
        sums = norm.batch_norm_backward_reduce(dy, x, m, r, w)
        assert_bitwise_equal(sums, norm.batch_norm_backward_reduce(dyc, xc, m, r, w))
        dx = norm.batch_norm_backward_elemt(dy, x, m, r, w, sums[0], sums[1], part.n)
        assert_bitwise_equal(dx, norm.batch_norm_backward_elemt(dyc, xc, m, r, w, *sums[:2],
                                                                part.n))
        assert_bitwise_equal((x, dy), (xc, dyc))
        base.flags.writeable = dybase.flags.writeable = True
    # out=: a given array, or x / dy themselves
    x, _, b, dy = _data(rng, (6, 3, 7), dtype)
    mean, invstd = norm.batch_norm_gather_stats(*_stack([norm.batch_norm_stats(x)]))
    want = norm.batch_norm_elemt(x, w, b, mean, invstd)
    m, r = mean.astype(dtype), invstd.astype(dtype)
    sums = norm.batch_norm_backward_reduce(dy, x, m, r, w)
    want_dx = norm.batch_norm_backward_elemt(dy, x, m, r, w, *sums[:2], 42)
    xc, dyc = x.copy(), dy.copy()
    assert norm.batch_norm_elemt(xc, w, b, mean, invstd, out=xc) is xc
    got = norm.batch_norm_backward_elemt(dyc, x, m, r, w, *sums[:2], 42, out=dyc)
    assert got is dyc
    assert_bitwise_equal((xc, dyc), (want, want_dx))


def test_torch_split_ops_if_this_torch_runs_them(rng):
    """torch.batch_norm_stats & co. against the steps, where this torch build has them
    on the CPU (2.13's are CUDA-only: skipped with the reason)."""
    torch = pytest.importorskip("torch")
    x, w, b, dy = _data(rng, (8, 3, 5), np.float64)
    tx = torch.from_numpy(x)
    try:
        tmean, tinvstd = torch.batch_norm_stats(tx, 1e-5)
    except (RuntimeError, NotImplementedError) as e:
        pytest.skip(f"torch {torch.__version__} has no CPU batch_norm_stats: "
                    f"{str(e).splitlines()[0][:100]}")
    part = norm.batch_norm_stats(x)
    np.testing.assert_allclose(part.mean, tmean.numpy(), rtol=1e-13)
    np.testing.assert_allclose(1 / np.sqrt(part.m2 / part.n + 1e-5), tinvstd.numpy(),
                               rtol=1e-13)
    mean, invstd = norm.batch_norm_gather_stats(*_stack([part]))
    ty = torch.batch_norm_elemt(tx, torch.from_numpy(w), torch.from_numpy(b),
                                torch.from_numpy(mean), torch.from_numpy(invstd), 1e-5)
    np.testing.assert_allclose(norm.batch_norm_elemt(x, w, b, mean, invstd), ty.numpy(),
                               rtol=1e-13, atol=1e-13)
    sums = norm.batch_norm_backward_reduce(dy, x, mean, invstd, w)
    t = torch.batch_norm_backward_reduce(torch.from_numpy(dy), tx, torch.from_numpy(mean),
                                         torch.from_numpy(invstd), torch.from_numpy(w),
                                         True, True, True)
    for a, e in zip(sums, t):
        np.testing.assert_allclose(a, e.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 10), (2, 3, 5, 4)])
def test_parts_match_torch_on_the_whole_batch(shape, dtype, rng):
    """SyncBatchNorm's meaning: the steps over parts give what torch's BatchNorm gives
    on the concatenated batch (output, running statistics with momentum and the
    cumulative average, autograd's gradients)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b, dy = _data(rng, shape, dtype)
    cuts = _cuts(shape[0], (1, 0, 2, 1))
    for momentum in (0.2, None):
        rm, rv = np.zeros(shape[1], dtype), np.ones(shape[1], dtype)
        counter = np.array(2, np.int64)
        trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
        y, st = _split_forward(x, w, b, cuts, rm, rv, momentum=momentum,
                               num_batches_tracked=counter)
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        tw = torch.from_numpy(w.copy()).requires_grad_(True)
        tb = torch.from_numpy(b.copy()).requires_grad_(True)
        ty = F.batch_norm(tx, trm, trv, tw, tb, training=True,
                          momentum=0.2 if momentum is not None else 1 / 3)
        ty.backward(torch.from_numpy(dy))
        assert_close(y, ty.detach().numpy(), dtype, ulps=16)
        assert_close(rm, trm.numpy(), dtype, ulps=8)
        assert_close(rv, trv.numpy(), dtype, ulps=8)
        dx, dw, db = _split_backward(dy, x, st, w, cuts)
        assert_close(dx, tx.grad.numpy(), dtype, ulps=64,
                     scale=float(np.abs(dy).max() * np.abs(w).max() * st.rstd.max()))
        assert_close(dw, tw.grad.numpy(), dtype, ulps=64, scale=float(np.abs(dw).max()) + 1)
        assert_close(db, tb.grad.numpy(), dtype, ulps=64, scale=float(np.abs(db).max()) + 1)


def test_bad_input_raises_before_writing(rng):
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    part = norm.batch_norm_stats(x)
    counts, means, m2s = _stack([part, part])
    rm, rv = np.full(3, 7.0, np.float32), np.full(3, 9.0, np.float32)
    counter = np.array(4, np.int64)

    def untouched():
        assert (rm == 7).all() and (rv == 9).all() and int(counter) == 4

    gather_cases = [
        (ValueError, "Expected more than 1 value per channel",
         (np.array([1, 0]), means, m2s), {}),
        (ValueError, "counts must be >= 0", (np.array([-1, 3]), means, m2s), {}),
        (TypeError, "counts must be a 1-D integer", (counts.astype(float), means, m2s), {}),
        (TypeError, "counts must be a 1-D integer", (counts[:, None], means, m2s), {}),
        (ValueError, r"means must have shape \(parts, C\)", (counts, means[:1], m2s), {}),
        (ValueError, r"m2s must have shape \(parts, C\)", (counts, means, m2s[0]), {}),
        (ValueError, "m2s must have the shape of means", (counts, means, m2s[:, :2]), {}),
        (TypeError, "means must be a float32 or float64", (counts, means.astype(int), m2s), {}),
        (TypeError, "running_var has dtype float64", (counts, means, m2s),
         {"running_var": rv.astype(np.float64)}),
        (ValueError, "running_mean must have shape", (counts, means, m2s),
         {"running_mean": np.zeros(4, np.float32), "running_var": np.zeros(4, np.float32)}),
        (ValueError, "given together", (counts, means, m2s), {"running_var": None}),
        (ValueError, "momentum=None", (counts, means, m2s),
         {"momentum": None, "num_batches_tracked": None}),
        (ValueError, "momentum", (counts, means, m2s), {"momentum": 2.0}),
        (ValueError, "eps", (counts, means, m2s), {"eps": -1.0}),
        (TypeError, "num_batches_tracked", (counts, means, m2s),
         {"num_batches_tracked": np.array(1, np.int32)}),
    ]
    for err, msg, args, kw in gather_cases:
        kw = {"running_mean": rm, "running_var": rv, "num_batches_tracked": counter, **kw}
        with pytest.raises(err, match=msg):
            norm.batch_norm_gather_stats(*args, **kw)
        untouched()
    with pytest.raises(ValueError, match="running_mean must be writable"):
        ro = rm.copy()
        ro.flags.writeable = False
        norm.batch_norm_gather_stats(counts, means, m2s, ro, rv)
    with pytest.raises(ValueError, match="counts must be >= 0"):
        norm.batch_norm_merge_stats(np.array([2, -2]), means, m2s)

    mean, invstd = norm.batch_norm_gather_stats(counts, means, m2s)
    out = np.full(x.shape, 5.0, np.float32)
    w = np.ones(3, np.float32)
    elemt_cases = [
        (TypeError, "mean has dtype float16; it must be float64 or x's dtype float32",
         (x, w, None, mean.astype(np.float16), invstd)),
        (TypeError, "invstd has dtype float32; it must be float64 or x's dtype float64",
         (x.astype(np.float64), w.astype(np.float64), None, mean, invstd.astype(np.float32))),
        (ValueError, r"invstd must have shape \(3,\)", (x, w, None, mean, invstd[:2])),
        (ValueError, "weight must have shape", (x, w[:2], None, mean, invstd)),
        (TypeError, "bias has dtype float64", (x, w, w.astype(np.float64), mean, invstd)),
        (ValueError, r"shape \(N, C\)", (x[:, 0, 0], w, None, mean, invstd)),
        (TypeError, "x must be a float32, float64, float16 or bfloat16",
         (x.astype(int), w, None, mean, invstd)),
    ]
    for err, msg, args in elemt_cases:
        with pytest.raises(err, match=msg):
            norm.batch_norm_elemt(*args, out=out)
        assert (out == 5).all()
    with pytest.raises(ValueError, match="out must have shape"):
        norm.batch_norm_elemt(x, w, None, mean, invstd, out=out[:2])

    m, r = mean.astype(np.float32), invstd.astype(np.float32)
    sums = norm.batch_norm_backward_reduce(x, x, m, r, w)
    with pytest.raises(ValueError, match="dy must have the shape"):
        norm.batch_norm_backward_reduce(x[:2], x, m, r, w)
    with pytest.raises(TypeError, match="dy has dtype"):
        norm.batch_norm_backward_reduce(x.astype(np.float64), x, m, r, w)
    with pytest.raises(ValueError, match=r"mean must have shape \(3,\)"):
        norm.batch_norm_backward_reduce(x, x, m[:1], r, w)
    with pytest.raises(ValueError, match="count must be >= 20"):
        norm.batch_norm_backward_elemt(x, x, m, r, w, sums[0], sums[1], 19, out=out)
    with pytest.raises(TypeError, match="count must be an int"):
        norm.batch_norm_backward_elemt(x, x, m, r, w, sums[0], sums[1], 20.0, out=out)
    with pytest.raises(ValueError, match=r"sum_dy_xmu must have shape \(3,\)"):
        norm.batch_norm_backward_elemt(x, x, m, r, w, sums[0], sums[1][:2], 20, out=out)
    assert (out == 5).all()
