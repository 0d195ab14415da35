"""Run on every rank by tests/test_distributed.py under ``mpiexec -n N`` (N = 2, 3).

Each check raises AssertionError on failure (the run then exits nonzero and the test
fails with every rank's output); the last line each rank prints is "rank r: all ok".
The round-off bounds are stated where they are checked.
"""
import sys

import ml_dtypes
import numpy as np
from mpi4py import MPI

import gradkit
from gradkit import amp, clip, distributed as dist, losses, nn, optim
from gradkit.random import Generator

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
BF16 = np.dtype(ml_dtypes.bfloat16)
DTYPES = [np.dtype(np.float16), BF16, np.dtype(np.float32), np.dtype(np.float64)]


def same_on_every_rank(arrays, what):
    blobs = comm.allgather(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays))
    assert all(b == blobs[0] for b in blobs), f"{what}: ranks differ"


def expect_raise_everywhere(fn, exc, *needles):
    """fn() must raise `exc` (on every rank: each rank checks its own) whose message
    contains every needle; then a plain collective shows that nobody hangs."""
    try:
        fn()
    except exc as e:
        for n in needles:
            assert n in str(e), (n, str(e))
    else:
        raise AssertionError(f"rank {rank}: no {exc.__name__} from {fn}")
    assert comm.allreduce(1) == size


# ---- allreduce_ ---------------------------------------------------------------------

def shapes():
    # 1x1, odd widths, a non-contiguous view, zero-size, a None entry, and one array of
    # 3000 elements (reduced where it is, in pieces, when its dtype is the wire dtype:
    # DIRECT_BYTES is lowered below)
    return [(1, 1), (17,), "strided", (0, 3), None, (5, 7), (3000,)]


def make(dtype, seed):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes():
        if s is None:
            out.append(None)
        elif s == "strided":
            out.append(rng.standard_normal((9, 14)).astype(dtype)[:, ::2])
        else:
            out.append(rng.standard_normal(s).astype(dtype))
    return out


def check_allreduce():
    dist.DIRECT_BYTES = 8000  # the 3000-element array: in place when of the wire dtype
    for dtype in DTYPES:
        wire = np.float64 if dtype == np.float64 else np.float32
        eps_wire, eps_out = np.finfo(wire).eps, float(ml_dtypes.finfo(dtype).eps)
        tiny_out = float(ml_dtypes.finfo(dtype).smallest_subnormal)
        for op in ("mean", "sum", "max", "min", "prod"):
            # tiny buckets (arrays split over many), 4 KiB, and one bucket for all
            for bucket_mb in (64 / 2**20, 4 / 1024, 25):
                arrays = make(dtype, 1000 * rank + 7)
                before = comm.allgather([None if a is None else a.astype(np.float64)
                                         for a in arrays])
                dist.allreduce_(arrays, op=op, bucket_mb=bucket_mb)
                same_on_every_rank([a for a in arrays if a is not None],
                                   f"{dtype} {op} {bucket_mb}")
                for i, a in enumerate(arrays):
                    if a is None:
                        continue
                    assert a.dtype == dtype
                    parts = np.stack([b[i] for b in before])
                    got = a.astype(np.float64)
                    if op in ("max", "min"):  # exact
                        want = parts.max(0) if op == "max" else parts.min(0)
                        assert np.array_equal(got, want.astype(dtype).astype(np.float64))
                        continue
                    if op == "prod":
                        want, scale = parts.prod(0), np.abs(parts).prod(0)
                    else:
                        want, scale = parts.sum(0), np.abs(parts).sum(0)
                        if op == "mean":
                            want, scale = want / size, scale / size
                    # the bound: MPI sums N values in the wire dtype in its own order
                    # (<= N roundings, each <= eps_wire relative to the sum of |terms|),
                    # the mean divides once more, and a 16-bit result is rounded once
                    # (to a subnormal near 0: an absolute spacing)
                    tol = ((size + 1) * eps_wire * scale + eps_out * np.abs(want)
                           + tiny_out)
                    err = np.abs(got - want)
                    assert (err <= tol).all(), (str(dtype), op, bucket_mb, i, err.max())
    # mixed dtypes in one list: one bucket per wire dtype
    mixed = [np.full(3, rank + 1, np.float16), np.full(4, rank + 1, np.float64),
             np.full(5, rank + 1, BF16), np.full((2, 2), rank + 1, np.float32)]
    dist.allreduce_(mixed, op="sum", bucket_mb=16 / 2**20)
    for a in mixed:
        assert (a.astype(np.float64) == size * (size + 1) / 2).all(), a
    # a training loop allocates nothing per step: the second call reuses the buckets
    grads = make(np.float32, rank)
    dist.allreduce_(grads, bucket_mb=1 / 1024)
    plans = dict(dist._plans)
    bufs = [id(b.buf) for p in plans.values() for b in p.buckets]
    dist.allreduce_(grads, bucket_mb=1 / 1024)
    assert [id(b.buf) for p in dist._plans.values() for b in p.buckets] == bufs
    dist.DIRECT_BYTES = 2**20


def check_mismatches():
    def extra_array():
        dist.allreduce_([np.ones(3, np.float32)] * 1 + [np.ones(2, np.float32)] * (rank == 1))
    expect_raise_everywhere(extra_array, ValueError, "1 entries on rank 0 but 2 on rank 1")

    def shape():
        dist.allreduce_([np.ones(4), np.ones((2, 3 + (rank == size - 1)))])
    expect_raise_everywhere(shape, ValueError, "arrays[1] is float64 (2, 3) on rank 0",
                            f"(2, 4) on rank {size - 1}")

    def dtype():
        dist.allreduce_([np.ones(4, np.float32 if rank else np.float64)])
    expect_raise_everywhere(dtype, ValueError, "arrays[0] is float64 (4,) on rank 0",
                            "float32 (4,) on rank 1")

    def none_entry():
        dist.allreduce_([np.ones(2), None if rank else np.ones(2)])
    expect_raise_everywhere(none_entry, ValueError, "arrays[1]", "None on rank 1")

    def op():
        dist.allreduce_([np.ones(2)], op="sum" if rank else "mean")
    expect_raise_everywhere(op, ValueError, "op is 'mean' on rank 0 but 'sum' on rank 1")

    def bucket():
        dist.allreduce_([np.ones(2)], bucket_mb=1 + rank)
    expect_raise_everywhere(bucket, ValueError, "bucket_mb")

    # bad arguments on ONE rank: it raises its own error, the others name it
    a = np.ones(5, np.float32)
    if rank == size - 1:
        a.flags.writeable = False
    if rank == size - 1:
        expect_raise_everywhere(lambda: dist.allreduce_([a]), ValueError, "must be writable")
    else:
        expect_raise_everywhere(lambda: dist.allreduce_([a]), ValueError,
                                f"rank {size - 1} rejected", "must be writable")
    assert (a == 1).all()  # nothing moved
    ints = np.ones(3, np.int32 if rank == 0 else np.float32)
    exc = TypeError if rank == 0 else ValueError
    expect_raise_everywhere(lambda: dist.allreduce_([ints]), exc, "int32")
    # and the next matching call works
    b = [np.full(3, rank, np.float32)]
    dist.allreduce_(b, op="sum")
    assert (b[0] == size * (size - 1) / 2).all()


# ---- broadcast_ and randomness -------------------------------------------------------

def check_broadcast():
    root = size - 1
    arrays = [np.full(5, rank, np.int64), np.full((6, 8), rank, np.float32)[:, ::3],
              np.full(3, rank % 2 == 0, bool), np.full(4000, rank, np.float64),
              None, np.zeros((0, 2)), np.full(7, rank, BF16)]
    if rank == root:
        for a in arrays:
            if a is not None:
                a.flags.writeable = False  # the root's arrays are only read
    dist.DIRECT_BYTES = 8000  # the 4000 float64: sent where they are, in 100-byte pieces
    dist.broadcast_(arrays, root=root, bucket_mb=100 / 2**20)
    dist.DIRECT_BYTES = 2**20
    for a in arrays:
        if a is not None and a.size:
            want = root % 2 == 0 if a.dtype == bool else root
            assert (a == want).all(), a

    def bad_root():
        dist.broadcast_([np.ones(2)], root=0 if rank else 1)
    expect_raise_everywhere(bad_root, ValueError, "root is 1 on rank 0 but 0 on rank 1")


def check_randomness():
    g = dist.rank_generator(123)
    assert g.seed == Generator(123).spawn(size)[rank].seed
    seeds = comm.allgather(g.seed)
    assert len(set(seeds)) == size, seeds  # a stream of its own on every rank
    masks = comm.allgather(nn.Dropout(0.5, rng=g).forward(np.ones(64)))
    assert not any(np.array_equal(masks[0], m) for m in masks[1:])
    model = nn.Sequential(nn.Linear(8, 16, rng=Generator(5)), nn.Linear(16, 4, rng=Generator(6)))
    same_on_every_rank(model.params, "initialization from one seed")


# ---- training: N ranks on shards == one process on the whole batch -----------------

N_GLOBAL, STEPS, MAX_NORM = 37, 8, 0.5  # 37 rows: uneven shards at 2 and 3 ranks
# float64 everywhere; the shards' gradients differ from the whole batch's by the
# summation order only (per-shard matmuls and MPI's sum instead of one matmul), a few
# eps of the gradient; after 8 steps the parameters agree to this relative bound
# (measured: 4e-16 at 2 ranks, 5e-16 at 3; the bound leaves room for Adam's division
# by sqrt(v), which can amplify round-off)
RTOL = 1e-13


def data():
    rng = np.random.default_rng(42)
    X = rng.standard_normal((STEPS, N_GLOBAL, 8))
    y = rng.integers(0, 4, (STEPS, N_GLOBAL))
    return X, y


def new_model():
    g = Generator(0)
    return nn.Sequential(nn.Linear(8, 16, rng=g, dtype=np.float64), nn.Tanh(),
                         nn.Linear(16, 4, rng=g, dtype=np.float64))


def new_opt(name, params):
    if name == "SGD":
        return optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4)
    return optim.AdamW(params, lr=1e-2, weight_decay=1e-2)


def train(opt_name, mode, distributed, op="sum"):
    """8 steps; mode "plain", "fused" (step(max_norm)), "explicit" (clip_grad_norm_ of
    the averaged gradient) or "scaler" (LossScaler, inf on the last rank at step 3)."""
    X, y = data()
    model = new_model()
    opt = new_opt(opt_name, model.params)
    if distributed:
        opt = dist.DistributedOptimizer(opt, op=op)
    scaler = amp.LossScaler(init_scale=2.0**10) if mode == "scaler" else None
    shard = np.array_split(np.arange(N_GLOBAL), size)[rank] if distributed else \
        np.arange(N_GLOBAL)
    norms, stepped = [], []
    for t in range(STEPS):
        logits = model.forward(X[t, shard])
        _, dlogits = losses.softmax_cross_entropy(logits, y[t, shard], reduction="sum")
        # the global batch's mean loss; with op="mean" every rank's share is scaled by N
        dlogits *= (size if distributed and op == "mean" else 1) / N_GLOBAL
        if scaler is not None:
            dlogits *= scaler.get_scale()
        model.backward(dlogits)
        grads = model.grads
        if scaler is not None and t == 3 and (not distributed or rank == size - 1):
            grads[0][0, 0] = np.inf  # an overflow on one rank: every rank must skip
        if mode == "fused":
            norms.append(opt.step(grads, max_norm=MAX_NORM))
        elif mode == "explicit":
            if distributed:
                opt.synchronize(grads)
            norms.append(clip.clip_grad_norm_(grads, MAX_NORM))
            opt.step(grads)
        elif mode == "scaler":
            stepped.append(scaler.step(opt, grads, max_norm=MAX_NORM))
            scaler.update()
        else:
            opt.step(grads)
    return model.params, norms, stepped, scaler and scaler.get_scale()


def check_training():
    worst = 0.0
    for opt_name in ("SGD", "AdamW"):
        for mode in ("plain", "fused", "explicit", "scaler"):
            for op in ("sum", "mean"):
                p1, n1, s1, sc1 = train(opt_name, mode, False)
                pN, nN, sN, scN = train(opt_name, mode, True, op)
                same_on_every_rank(pN, f"{opt_name} {mode} {op}: parameters")
                assert s1 == sN and sc1 == scN, (opt_name, mode, s1, sN, sc1, scN)
                if mode == "scaler":
                    assert sN[3] is False and all(sN[:3] + sN[4:]), sN
                assert np.allclose(n1, nN, rtol=1e-12, atol=0), (n1, nN)
                assert comm.allgather(nN) == [nN] * size  # the same norm on every rank
                for a, b in zip(p1, pN):
                    err = np.abs(a - b).max() / np.abs(a).max()
                    worst = max(worst, err)
                    assert err <= RTOL, (opt_name, mode, op, err)
    print(f"rank {rank}: training equivalence, worst relative difference {worst:.1e}")


def check_mean_fold():
    """op="mean" with a gradkit optimizer sums in place and folds 1/N into the step
    (grads hold the sum afterwards, the step is the mean's); another optimizer gets
    averaged arrays; synchronize() averages."""
    class Recorder:  # not a gradkit optimizer: sees the averaged arrays
        def step(self, grads):
            self.seen = [g.copy() for g in grads]

    local = [np.full((3, 4), float(rank + 1)), np.arange(5.0) * (rank + 1)]
    total = [sum(float(r + 1) for r in range(size)) * np.ones((3, 4)),
             np.arange(5.0) * sum(r + 1 for r in range(size))]
    params = [np.zeros((3, 4)), np.zeros(5)]
    grads = [g.copy() for g in local]
    dist.DistributedOptimizer(optim.SGD(params, lr=1.0)).step(grads)
    for g, t, p in zip(grads, total, params):
        assert np.array_equal(g, t), (g, t)
        assert np.allclose(p, -t / size, rtol=1e-15), (p, t)
    rec = Recorder()
    grads = [g.copy() for g in local]
    dist.DistributedOptimizer(rec).step(grads)
    for g, t in zip(rec.seen, total):
        assert np.allclose(g, t / size, rtol=1e-15)
    grads = [g.copy() for g in local]
    opt = dist.DistributedOptimizer(optim.SGD([p.copy() for p in params], lr=1.0))
    opt.synchronize(grads)
    for g, t in zip(grads, total):
        assert np.allclose(g, t / size, rtol=1e-15)
    expect_raise_everywhere(lambda: opt.step([g.copy() for g in local],
                                             grad_scale=np.nan if rank == 0 else 1.0),
                            ValueError, *(["grad_scale"] if rank == 0 else
                                          ["rank 0 rejected"]))


def check_bad_optimizer_input():
    model = new_model()
    opt = dist.DistributedOptimizer(new_opt("SGD", model.params))
    grads = [g.copy() for g in model.grads]
    if rank == 1:
        grads[0] = np.ones((3, 3))  # the wrong shape for its parameter, on one rank
    exc = ValueError
    expect_raise_everywhere(lambda: opt.step(grads), exc, *(["grads[0]"] if rank == 1
                                                            else ["rank 1 rejected"]))
    scaler = amp.LossScaler()
    expect_raise_everywhere(lambda: scaler.step(opt, grads), exc)


for check in (check_allreduce, check_mismatches, check_broadcast, check_randomness,
              check_training, check_mean_fold, check_bad_optimizer_input):
    check()
    comm.Barrier()
print(f"rank {rank}: all ok")
sys.stdout.flush()
