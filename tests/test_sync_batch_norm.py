"""Synchronized BatchNorm under mpiexec: N ranks on shards of a batch (uneven, one
holding a single row, one holding none) give what one process gives on the whole batch
-- y, dx, the running statistics and the parameter gradients summed over the ranks --
to the round-off of the reduction order (the ranks' partial sums and the merge), and
the same statistics and running statistics bit for bit on every rank.  Also
nn.BatchNorm(sync=comm), comm=COMM_SELF (one rank: batch_norm bit for bit), eval mode,
a whole batch of one value per channel, and bad input (raised on every rank before any
collective, so the ranks stay in step), and data-parallel training of a small model
with a synchronized BatchNorm reaching one process's parameters; the same in 16-bit
storage (bfloat16 and float16 activations, float32 or 16-bit weights; a bfloat16
nn.BatchNorm(sync=comm) and a bfloat16 data-parallel model through
gradkit.distributed.DistributedOptimizer with float32 master weights).  Each launch runs every check (mpiexec costs
about a second)."""
import pytest

from _mpi import run_mpi

SCRIPT = r'''
import sys
import numpy as np
from mpi4py import MPI
from gradkit import nn, norm

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
ROWS = [int(v) for v in sys.argv[1].split(",")]   # rows of each rank's shard
assert len(ROWS) == size
lo, hi = sum(ROWS[:rank]), sum(ROWS[:rank + 1])


def close(a, b, dtype, ulps, scale=None, what=""):
    """a within `ulps` ulps of b, relative and on `scale` (default: b's magnitude)."""
    eps = float(np.finfo(dtype).eps)
    b = np.asarray(b, np.float64)
    s = float(np.abs(b).max()) if scale is None and b.size else (scale or 1.0)
    np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=ulps * eps,
                               atol=ulps * eps * s, err_msg=f"rank {rank}: {what}")


def same_on_all_ranks(a, what):
    for other in comm.allgather(np.ascontiguousarray(a)):
        assert other.tobytes() == np.ascontiguousarray(a).tobytes(), f"{what} differs"


def data(shape, dtype, seed):
    rng = np.random.default_rng(seed)   # the same global batch on every rank
    c = shape[1]
    return ((rng.standard_normal(shape) * 2 + 3).astype(dtype),
            rng.standard_normal(shape).astype(dtype),
            rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype))


checks = 0
for dtype in (np.float32, np.float64):
    # (N, C) columns, (N, C, L >= 128) planes, (N, C, H, W)
    for tail in ((5,), (2, 300), (3, 4, 5)):
        shape = (sum(ROWS),) + tail
        X, DY, w, b = data(shape, dtype, 7)
        x, dy = X[lo:hi], DY[lo:hi]
        c = shape[1]
        rm, rv, nbt = np.zeros(c, dtype), np.ones(c, dtype), np.zeros((), np.int64)
        rm1, rv1, nbt1 = rm.copy(), rv.copy(), nbt.copy()
        for step, momentum in enumerate((0.1, None, 0.5)):
            Xs = X * (step + 1) + step
            xs = Xs[lo:hi]
            y, st = norm.sync_batch_norm(xs, w, b, rm, rv, momentum=momentum,
                                         num_batches_tracked=nbt, comm=comm)
            y1, st1 = norm.batch_norm(Xs, w, b, rm1, rv1, momentum=momentum,
                                      num_batches_tracked=nbt1)
            what = f"{dtype.__name__} {shape} step {step}"
            assert y.shape == xs.shape and y.dtype == dtype
            close(y, y1[lo:hi], dtype, 8, scale=float(np.abs(y1).max()), what="y " + what)
            close(st.mean, st1.mean, dtype, 4, scale=float(np.abs(Xs).max()), what=what)
            close(st.rstd, st1.rstd, dtype, 4, what="rstd " + what)
            close(rm, rm1, dtype, 4, scale=float(np.abs(Xs).max()), what="rm " + what)
            close(rv, rv1, dtype, 4, what="rv " + what)
            assert int(nbt) == int(nbt1) == step + 1
            for a, name in ((st.mean, "mean"), (st.rstd, "rstd"), (rm, "running_mean"),
                            (rv, "running_var")):
                same_on_all_ranks(a, f"{name} {what}")
            # backward: dx of the shard, and the ranks' dweight/dbias summed
            dx, dw, db = norm.sync_batch_norm_backward(dy, xs, st, w, comm=comm)
            dx1, dw1, db1 = norm.batch_norm_backward(DY, Xs, st1, w)
            gscale = float(np.abs(DY).max() * np.abs(w).max() * st1.rstd.max())
            close(dx, dx1[lo:hi], dtype, 16, scale=gscale, what="dx " + what)
            close(comm.allreduce(dw.astype(np.float64)), dw1, dtype, 16,
                  scale=float(np.abs(dw1).max()) + 1, what="dweight " + what)
            close(comm.allreduce(db.astype(np.float64)), db1, dtype, 16,
                  scale=float(np.abs(db1).max()) + 1, what="dbias " + what)
            checks += 1
        # eval mode: the running statistics, locally, no communication
        ye, _ = norm.sync_batch_norm(x, w, b, rm, rv, training=False, comm=comm)
        assert ye.tobytes() == norm.batch_norm(x, w, b, rm, rv, training=False)[0].tobytes()
        # one rank alone (COMM_SELF): batch_norm bit for bit
        if x.shape[0] * int(np.prod(tail[1:])) != 1:   # else both raise
            a, b2 = (rm.copy(), rv.copy()), (rm.copy(), rv.copy())
            ys, sts = norm.sync_batch_norm(x, w, b, *a, comm=MPI.COMM_SELF)
            yb, stb = norm.batch_norm(x, w, b, *b2)
            assert ys.tobytes() == yb.tobytes() and a[0].tobytes() == b2[0].tobytes()
            assert a[1].tobytes() == b2[1].tobytes()
            got = norm.sync_batch_norm_backward(dy, x, sts, w, comm=MPI.COMM_SELF)
            want = norm.batch_norm_backward(dy, x, stb, w)
            assert all(u.tobytes() == v.tobytes() for u, v in zip(got, want))

# nn.BatchNorm(sync=comm) against nn.BatchNorm on the whole batch, a few steps
shape = (sum(ROWS), 4, 3, 3)
X, DY, _, _ = data(shape, np.float64, 11)
layer, whole = nn.BatchNorm(4, momentum=0.3, dtype=np.float64, sync=comm), \
    nn.BatchNorm(4, momentum=0.3, dtype=np.float64)
assert "sync=True" in repr(layer) and nn.BatchNorm(4, sync=True).sync is MPI.COMM_WORLD
for step in range(3):
    layer.weight[...] = whole.weight[...] = 1 + 0.1 * step
    Xs = X + step
    y = layer.forward(Xs[lo:hi])
    y1 = whole.forward(Xs)
    close(y, y1[lo:hi], np.float64, 8, scale=float(np.abs(y1).max()), what="nn y")
    dx = layer.backward(DY[lo:hi])
    dx1 = whole.backward(DY)
    close(dx, dx1[lo:hi], np.float64, 16, scale=float(np.abs(dx1).max()), what="nn dx")
    for g, g1 in zip(layer.grads, whole.grads):
        close(comm.allreduce(g), g1, np.float64, 16, scale=float(np.abs(g1).max()) + 1,
              what="nn grads")
    close(layer.running_var, whole.running_var, np.float64, 4, what="nn running_var")
    same_on_all_ranks(layer.running_mean, "nn running_mean")
    assert int(layer.num_batches_tracked) == step + 1
close(layer.forward(X[lo:hi], training=False), whole.forward(X, training=False)[lo:hi],
      np.float64, 8, scale=float(np.abs(X).max()), what="nn eval")

# data parallel: a small model with a synchronized BatchNorm, each rank's loss gradient
# the whole batch's (sum / N), the parameter gradients summed over the ranks, SGD with
# momentum: the parameters follow one process on the whole batch
from gradkit import losses, optim


def model(sync):
    return nn.Sequential(nn.Linear(6, 8, rng=1, dtype=np.float64),
                         nn.BatchNorm(8, momentum=0.2, dtype=np.float64, sync=sync),
                         nn.ReLU(), nn.Linear(8, 3, rng=2, dtype=np.float64))


par, one = model(comm), model(None)
opt_par = optim.SGD(par.params, lr=0.1, momentum=0.9)
opt_one = optim.SGD(one.params, lr=0.1, momentum=0.9)
rng = np.random.default_rng(5)
X, T = rng.standard_normal((sum(ROWS), 6)) * 2 + 1, rng.standard_normal((sum(ROWS), 3))
for step in range(4):
    _, d = losses.mse(par.forward(X[lo:hi]), T[lo:hi], reduction="sum")
    par.backward(d / len(X))
    for g in par.grads:
        comm.Allreduce(MPI.IN_PLACE, g, op=MPI.SUM)
    opt_par.step(par.grads)
    _, d = losses.mse(one.forward(X), T, reduction="sum")
    one.backward(d / len(X))
    opt_one.step(one.grads)
for p, q in zip(par.params, one.params):
    np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-13, err_msg="data parallel")
    same_on_all_ranks(p, "data-parallel parameters")
close(par.forward(X[lo:hi], training=False), one.forward(X, training=False)[lo:hi],
      np.float64, 64, what="data-parallel eval")

# a whole batch of one value per channel: every rank raises (after the one collective),
# nothing written; then the ranks are still in step
x1 = np.ones((1 if rank == 0 else 0, 3))
rm, rv = np.zeros(3), np.ones(3)
try:
    norm.sync_batch_norm(x1, None, None, rm, rv, comm=comm)
    raise AssertionError("one value per channel over all ranks was accepted")
except ValueError as e:
    assert "Expected more than 1 value per channel" in str(e), e
assert (rm == 0).all() and (rv == 1).all()

# ---- 16-bit storage (bfloat16, float16): x, y, dy, dx 16-bit; statistics and running
# statistics float32, weights float32 or x's dtype.  Against one process on the whole
# batch only the reduction order differs (float64 statistics, float32 arithmetic): y and
# dx within one ulp of the 16-bit type where they are not a cancellation's remainder
# (there: the float32 round-off, 2^-20 of the scale), at least 90% of them exact
import ml_dtypes
from gradkit import distributed as dist


def close16(a, b, scale, what):
    assert a.dtype == b.dtype and a.shape == b.shape, what
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    eps = float(ml_dtypes.finfo(a.dtype).eps)
    far = np.abs(a32 - b32) > eps * np.abs(b32) + 2.0**-20 * scale
    assert not far.any(), f"rank {rank}: {what}: {np.abs(a32 - b32).max()} apart"
    assert a.size == 0 or (a32 == b32).mean() >= 0.9, (
        f"rank {rank}: {what}: only {(a32 == b32).mean():.3f} exact")


half_checks = 0
for dt in (np.dtype(ml_dtypes.bfloat16), np.dtype(np.float16)):
    for tail in ((5,), (2, 300), (3, 4, 5)):
        shape = (sum(ROWS),) + tail
        X32, DY32, w, b = data(shape, np.float32, 17)
        X, DY = X32.astype(dt), DY32.astype(dt)
        x, dy = X[lo:hi], DY[lo:hi]
        c = shape[1]
        for pdt in (np.dtype(np.float32), dt):
            what = f"{dt} {shape} weights {pdt}"
            wp, bp = w.astype(pdt), b.astype(pdt)
            rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
            rm1, rv1 = rm.copy(), rv.copy()
            y, st = norm.sync_batch_norm(x, wp, bp, rm, rv, comm=comm)
            y1, st1 = norm.batch_norm(X, wp, bp, rm1, rv1)
            assert y.dtype == dt and st.mean.dtype == st.rstd.dtype == np.float32, what
            close16(y, y1[lo:hi], float(np.abs(y1.astype(np.float32)).max()), "y " + what)
            xs = float(np.abs(X32).max())
            np.testing.assert_allclose(st.mean, st1.mean, rtol=1e-6, atol=1e-6 * xs)
            np.testing.assert_allclose(st.rstd, st1.rstd, rtol=1e-6)
            np.testing.assert_allclose(rm, rm1, rtol=1e-6, atol=1e-6 * xs)
            np.testing.assert_allclose(rv, rv1, rtol=1e-6)
            for a, name in ((st.mean, "mean"), (st.rstd, "rstd"), (rm, "running_mean"),
                            (rv, "running_var")):
                same_on_all_ranks(a, f"{name} {what}")
            dx, dw, db = norm.sync_batch_norm_backward(dy, x, st, wp, comm=comm)
            dx1, dw1, db1 = norm.batch_norm_backward(DY, X, st1, wp)
            assert dx.dtype == dt and dw.dtype == db.dtype == pdt, what
            close16(dx, dx1[lo:hi], float(np.abs(dx1.astype(np.float32)).max()),
                    "dx " + what)
            # the ranks' shares (each rounded to pdt) summed: pdt's rounding of each
            peps = float(ml_dtypes.finfo(pdt).eps)
            for g, g1, name in ((dw, dw1, "dweight"), (db, db1, "dbias")):
                total = comm.allreduce(g.astype(np.float64))
                bound = comm.allreduce(np.abs(g.astype(np.float64)))
                np.testing.assert_allclose(total, g1.astype(np.float64), rtol=2 * peps,
                                           atol=2 * peps * float(bound.max()) + 1e-6,
                                           err_msg=f"rank {rank}: {name} {what}")
            # one rank alone (COMM_SELF): the 16-bit batch_norm bit for bit
            if x.shape[0] * int(np.prod(tail[1:])) > 1:
                a, b2 = (rm.copy(), rv.copy()), (rm.copy(), rv.copy())
                ys, sts = norm.sync_batch_norm(x, wp, bp, *a, comm=MPI.COMM_SELF)
                yb, stb = norm.batch_norm(x, wp, bp, *b2)
                assert ys.tobytes() == yb.tobytes() and a[1].tobytes() == b2[1].tobytes()
                got = norm.sync_batch_norm_backward(dy, x, sts, wp, comm=MPI.COMM_SELF)
                want = norm.batch_norm_backward(dy, x, stb, wp)
                assert all(u.tobytes() == v.tobytes() for u, v in zip(got, want)), what
            half_checks += 1

# nn.BatchNorm(sync=comm, dtype=bfloat16) and a data-parallel bfloat16 model through
# gradkit.distributed (DistributedOptimizer over SGD with float32 master weights): the
# parameters follow one process on the whole batch to bfloat16's rounding
BF = np.dtype(ml_dtypes.bfloat16)
layer = nn.BatchNorm(4, momentum=0.3, dtype=BF, sync=comm)
whole = nn.BatchNorm(4, momentum=0.3, dtype=BF)
assert layer.running_mean.dtype == np.float32 and layer.weight.dtype == BF
X = data((sum(ROWS), 4, 3, 3), np.float32, 19)[0].astype(BF)
DY = data((sum(ROWS), 4, 3, 3), np.float32, 20)[0].astype(BF)
for step in range(3):
    y, y1 = layer.forward(X[lo:hi]), whole.forward(X)
    close16(y, y1[lo:hi], float(np.abs(y1.astype(np.float32)).max()), "nn y")
    dx, dx1 = layer.backward(DY[lo:hi]), whole.backward(DY)
    close16(dx, dx1[lo:hi], float(np.abs(dx1.astype(np.float32)).max()), "nn dx")
    np.testing.assert_allclose(layer.running_var, whole.running_var, rtol=1e-6)
    same_on_all_ranks(layer.running_mean, "nn bf16 running_mean")


def model16(sync):
    return nn.Sequential(nn.Linear(6, 8, rng=1, dtype=BF),
                         nn.BatchNorm(8, momentum=0.2, dtype=BF, sync=sync),
                         nn.ReLU(), nn.Linear(8, 3, rng=2, dtype=BF))


par, one = model16(comm), model16(None)
opt_par = dist.DistributedOptimizer(
    optim.SGD(par.params, lr=0.1, momentum=0.9, master_weights=True), comm, op="sum")
opt_one = optim.SGD(one.params, lr=0.1, momentum=0.9, master_weights=True)
rng = np.random.default_rng(6)
X = (rng.standard_normal((sum(ROWS), 6)) * 2 + 1).astype(BF)
T = rng.standard_normal((sum(ROWS), 3)).astype(BF)
for step in range(3):
    _, d = losses.mse(par.forward(X[lo:hi]), T[lo:hi], reduction="sum")
    par.backward((d.astype(np.float32) / len(X)).astype(BF))
    opt_par.step(par.grads)
    _, d = losses.mse(one.forward(X), T, reduction="sum")
    one.backward((d.astype(np.float32) / len(X)).astype(BF))
    opt_one.step(one.grads)
for p, q in zip(par.params, one.params):
    assert p.dtype == BF
    np.testing.assert_allclose(p.astype(np.float32), q.astype(np.float32), rtol=2.0**-6,
                               atol=1e-3, err_msg=f"rank {rank}: bf16 data parallel")
    same_on_all_ranks(p, "bf16 data-parallel parameters")
print(f"ok 16-bit rank {rank}: {half_checks} forward/backward steps")

# bad input: raised on every rank before any collective (each rank makes the same bad
# calls, and the valid calls after them still meet in the same collectives)
x, dy = np.ones((2, 3, 4)), np.ones((2, 3, 4))
y, st = norm.sync_batch_norm(x + np.arange(4), None, None, comm=comm)
out = np.full(x.shape, 5.0)
bad = [
    (TypeError, "dy has dtype", (dy.astype(np.float32), x, st), {}),
    (ValueError, "dy must have the shape", (dy[:1], x, st), {}),
    (TypeError, "stats must be the NormStats", (dy, x, None), {}),
    (ValueError, "stats.mean is None", (dy, x, norm.NormStats(None, st.rstd)), {}),
    (ValueError, "stats.rstd must have shape", (dy, x, norm.NormStats(st.mean, st.rstd[:2])), {}),
    (ValueError, "weight must have shape", (dy, x, st, np.ones(2)), {}),
    (TypeError, "x must be a float32, float64, float16 or bfloat16", (dy, x.astype(int), st), {}),
    (TypeError, "comm must be an mpi4py Intracomm", (dy, x, st), {"comm": "world"}),
    (ValueError, "out must have shape", (dy, x, st), {"out": out[:1]}),
]
for err, msg, args, kw in bad:
    try:
        norm.sync_batch_norm_backward(*args, **{"out": out, **kw})
        raise AssertionError(f"accepted: {msg}")
    except err as e:
        assert msg in str(e), (msg, e)
    assert (out == 5).all()
for err, msg, args, kw in [
        (TypeError, "x must be a float32, float64, float16 or bfloat16", (x.astype(int),), {}),
        (ValueError, "weight must have shape", (x, np.ones(2)), {}),
        (TypeError, "comm must be an mpi4py Intracomm", (x,), {"comm": 3}),
        (ValueError, "momentum=None", (x, None, None, np.zeros(3), np.ones(3)),
         {"momentum": None})]:
    try:
        norm.sync_batch_norm(*args, **kw)
        raise AssertionError(f"accepted: {msg}")
    except err as e:
        assert msg in str(e), (msg, e)
dx, _, _ = norm.sync_batch_norm_backward(dy, x + np.arange(4), st, comm=comm)
assert dx.shape == x.shape
print(f"ok rank {rank} of {size}: {checks} forward/backward steps")
'''


@pytest.mark.parametrize("n,rows", [(2, "5,8"), (3, "1,0,12")],
                         ids=["2 ranks", "3 ranks uneven, one row, none"])
def test_sync_batch_norm_over_ranks(n, rows, tmp_path):
    out = run_mpi(SCRIPT, n=n, tmp_path=tmp_path, args=[rows], timeout=240)
    assert out.count("ok rank") == n and out.count("ok 16-bit rank") == n, out
