"""gradkit.distributed: data parallelism over MPI.

Across ranks (``mpiexec -n 2`` and ``-n 3``, uneven shards): tests/_distributed_script.py
checks allreduce_ in every dtype and op against the gathered inputs (bound stated
there), bucket sizes below one array and above many, arrays reduced in place, mismatched
lists and bad arguments on one rank raising on every rank, broadcast_, per-rank random
streams, and N ranks on shards reaching the parameters of one process on the whole
batch (SGD, AdamW; plain, clipped fused and explicit, with the loss scaler).  In
process: the same functions on ``MPI.COMM_SELF``, the bucket layout, bad input, the
optimizer wrapper, and that gradkit imports without mpi4py.
"""
import pathlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from _mpi import require_mpi, run_mpi
from gradkit import amp, clip, optim, schedules
from gradkit.random import Generator

SCRIPT = pathlib.Path(__file__).with_name("_distributed_script.py")


# ---- across ranks (one mpiexec launch per rank count) -------------------------------

@pytest.mark.parametrize("n", [2, 3])
def test_across_ranks(tmp_path, n):
    pytest.importorskip("ml_dtypes")
    out = run_mpi(SCRIPT.read_text(), n=n, tmp_path=tmp_path, timeout=300)
    for r in range(n):
        assert f"rank {r}: all ok" in out, out


def test_demo_distributed(tmp_path):
    out = run_mpi("""
        import sys
        from gradkit.__main__ import main
        sys.exit(main(["demo", "--distributed", "--epochs", "3"]))
    """, n=2, tmp_path=tmp_path, timeout=300)
    assert "data-parallel over 2 MPI ranks" in out
    assert "parameters bitwise identical on all 2 ranks: yes" in out
    acc = float(out.strip().splitlines()[-1].split(": ")[1].rstrip("%"))
    assert acc >= 85.0, out  # 3 epochs; the single-process demo reaches ~92% there


# ---- without mpi4py -----------------------------------------------------------------

def test_imports_without_mpi4py():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import gradkit, gradkit.distributed as d, numpy as np\n"
            "assert 'mpi4py.MPI' not in sys.modules\n"
            "try:\n    d.allreduce_([np.ones(2)])\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert 'pip install "gradkit[mpi]"' in out


def test_demo_distributed_without_mpi4py_says_how_to_get_it():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "from gradkit.__main__ import main\n"
            "sys.exit(main(['demo', '--distributed', '--epochs', '1']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 1 and r.stdout == ""
    assert 'demo --distributed: ' in r.stderr and 'pip install "gradkit[mpi]"' in r.stderr


# ---- in process, on COMM_SELF ---------------------------------------------------------

@pytest.fixture
def self_comm():
    require_mpi()
    from mpi4py import MPI
    return MPI.COMM_SELF


@pytest.fixture
def dist():
    require_mpi()
    import gradkit.distributed as d
    return d


def _arrays(dtype, rng):
    return [rng.standard_normal((1, 1)).astype(dtype), rng.standard_normal(17).astype(dtype),
            rng.standard_normal((9, 14)).astype(dtype)[:, ::2], np.zeros((0, 3), dtype),
            None, rng.standard_normal((5, 7)).astype(dtype)]


def _dtypes():
    out = [np.float16, np.float32, np.float64]
    try:
        import ml_dtypes
        out.append(ml_dtypes.bfloat16)
    except ImportError:
        pass
    return [np.dtype(d) for d in out]


@pytest.mark.parametrize("dtype", _dtypes(), ids=str)
@pytest.mark.parametrize("op", ["mean", "sum", "max", "min", "prod"])
@pytest.mark.parametrize("bucket_mb", [16 / 2**20, 25])
def test_allreduce_on_one_rank_is_the_identity(self_comm, dist, dtype, op, bucket_mb):
    """On one rank every op gives the input back, bit for bit (16-bit values survive
    the float32 wire exactly), whatever the layout and the bucket size."""
    arrays = _arrays(dtype, np.random.default_rng(0))
    before = [None if a is None else a.copy() for a in arrays]
    views = arrays[2]
    dist.allreduce_(arrays, self_comm, op=op, bucket_mb=bucket_mb)
    assert arrays[2] is views  # in place, also the non-contiguous view
    for a, b in zip(arrays, before):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_bucket_layout_covers_every_element_once(dist):
    """The plan: every element of every array in exactly one bucket segment, packed
    buckets no larger than the capacity, arrays of the wire dtype past DIRECT_BYTES
    reduced where they are, and the float64 arrays in buckets of their own."""
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    items = [("float32", (10,)), None, ("float16", (7,)), ("float64", (5,)),
             ("float32", (3, 4)), ("float32", (0,)), ("float32", (400,))]
    wires = [None if e is None else (f64 if e[0] == "float64" else f32) for e in items]
    direct = [i == 6 for i in range(len(items))]
    plan = dist._Plan(items, wires, direct, capacity=32)  # 8 float32 or 4 float64
    seen = {i: np.zeros(int(np.prod(e[1])), int) for i, e in enumerate(items) if e}
    for b in plan.buckets:
        if b.buf is None:
            assert len(b.segments) == 1 and direct[b.segments[0][0]]
        else:
            assert b.buf.nbytes <= 32 and b.buf.dtype in (f32, f64)
            used = sum(hi - lo for _, lo, hi, _ in b.segments)
            assert used == b.buf.size
        for i, lo, hi, off in b.segments:
            assert b.buf is None or b.buf.dtype == wires[i]
            assert hi - lo <= 32 // wires[i].itemsize
            seen[i][lo:hi] += 1
    assert all((v == 1).all() for v in seen.values())
    # many small arrays share one bucket
    many = dist._Plan([("float32", (3,))] * 10, [f32] * 10, [False] * 10, capacity=2**20)
    assert len(many.buckets) == 1 and len(many.buckets[0].segments) == 10
    # an array reduced in place goes in pieces of at most PIECE_BYTES, even when the
    # buckets are larger (a piece stays in cache until it is unpacked)
    n = 3 * dist.PIECE_BYTES // 4 + 5
    big = dist._Plan([("float32", (n,))], [f32], [True], capacity=2**30)
    sizes = [b.segments[0][2] - b.segments[0][1] for b in big.buckets]
    assert all(b.buf is None for b in big.buckets) and sum(sizes) == n
    assert max(sizes) * 4 == dist.PIECE_BYTES and len(sizes) == 4


def test_buckets_are_reused_between_calls(self_comm, dist):
    grads = [np.ones((64, 64), np.float32), np.ones(3, np.float16)]
    dist.allreduce_(grads, self_comm)
    plans = {k: [id(b.buf) for b in p.buckets] for k, p in dist._plans.items()}
    for _ in range(3):
        dist.allreduce_(grads, self_comm)
    assert {k: [id(b.buf) for b in p.buckets] for k, p in dist._plans.items()
            if k in plans} == plans


def test_concurrent_calls_from_threads(self_comm, dist):
    """Two threads, each on its own communicator, same list signature: the second
    finds the cached buckets busy and uses its own."""
    comms = [self_comm.Dup() for _ in range(2)]

    def work(k):
        a = [np.full((256, 64), k + 1.0, np.float32), np.full(5, k + 1.0, np.float16)]
        for _ in range(50):
            dist.allreduce_(a, comms[k], op="max", bucket_mb=1 / 1024)
        return a
    with ThreadPoolExecutor(2) as pool:  # an exception in a thread raises here
        results = list(pool.map(work, range(2)))
    for c in comms:
        c.Free()
    for k, a in enumerate(results):
        assert (a[0] == k + 1).all() and (a[1] == k + 1).all()


def test_broadcast_on_one_rank(self_comm, dist):
    a = [np.arange(6, dtype=np.int64), np.ones((4, 6))[:, ::2], None, np.array(True)]
    before = [None if x is None else x.copy() for x in a]
    dist.broadcast_(a, 0, self_comm)
    for x, y in zip(a, before):
        assert x is None or np.array_equal(x, y)
    with pytest.raises(ValueError, match="root"):
        dist.broadcast_(a, 1, self_comm)


@pytest.mark.parametrize("call, exc, match", [
    (lambda d, c: d.allreduce_([np.ones(3, np.int32)], c), TypeError, r"arrays\[0\].*int32"),
    (lambda d, c: d.allreduce_([np.ones(3, ">f4")], c), TypeError, r"arrays\[0\]"),
    (lambda d, c: d.allreduce_([[1.0, 2.0]], c), TypeError, r"arrays\[0\] must be a numpy"),
    (lambda d, c: d.allreduce_("abc", c), TypeError, "arrays must be a list"),
    (lambda d, c: d.allreduce_([np.ones(3)], c, op="avg"), ValueError, "op must be one of"),
    (lambda d, c: d.allreduce_([np.ones(3)], c, bucket_mb=0), ValueError, "bucket_mb"),
    (lambda d, c: d.allreduce_([np.ones(3)], c, bucket_mb=True), TypeError, "bucket_mb"),
    (lambda d, c: d.allreduce_([np.ones(3)], comm="world"), TypeError, "comm must be"),
    (lambda d, c: d.broadcast_([np.ones(3, object)], 0, c), TypeError, r"arrays\[0\]"),
    (lambda d, c: d.broadcast_([np.ones(3)], -1, c), ValueError, "root"),
])
def test_bad_input(self_comm, dist, call, exc, match):
    with pytest.raises(exc, match=match):
        call(dist, self_comm)


def test_read_only_and_overlapping_arrays_raise_before_anything_moves(self_comm, dist):
    a = np.ones(4)
    a.flags.writeable = False
    with pytest.raises(ValueError, match=r"arrays\[1\] must be writable"):
        dist.allreduce_([np.ones(2), a], self_comm)
    base = np.arange(10.0)
    with pytest.raises(ValueError, match="overlaps"):
        dist.allreduce_([base[:6], base[4:]], self_comm, op="sum")
    assert np.array_equal(base, np.arange(10.0))


def test_rank_generator_on_one_rank(self_comm, dist):
    assert dist.rank_generator(7, self_comm).seed == Generator(7).spawn(1)[0].seed
    g = Generator(7)
    assert dist.rank_generator(g, self_comm).seed == Generator(7).spawn(1)[0].seed
    with pytest.raises(ValueError, match="seed"):
        dist.rank_generator(-1, self_comm)


# ---- DistributedOptimizer on one rank: exactly the wrapped optimizer ----------------

def _problem(seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((6, 5)), rng.standard_normal(6)]
    grads = [[rng.standard_normal(p.shape) for p in params] for _ in range(5)]
    return params, grads


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: optim.AdamW(p, lr=1e-2)])
@pytest.mark.parametrize("mode", ["plain", "fused", "explicit", "scaler"])
def test_optimizer_on_one_rank_equals_the_optimizer(self_comm, dist, make, mode):
    runs = []
    for wrap in (False, True):
        params, grads = _problem()
        opt = make(params)
        if wrap:
            opt = dist.DistributedOptimizer(opt, self_comm)
        scaler = amp.LossScaler(init_scale=4.0)
        out = []
        for t, g in enumerate(grads):
            if mode == "fused":
                out.append(opt.step(g, max_norm=1.0))
            elif mode == "explicit":
                if wrap:
                    opt.synchronize(g)
                out.append(clip.clip_grad_norm_(g, 1.0))
                opt.step(g)
            elif mode == "scaler":
                if t == 2:
                    g[0][0, 0] = np.nan
                out.append(scaler.step(opt, g))
                scaler.update()
            else:
                opt.step(g)
        runs.append((params, out, scaler.get_scale()))
    (p1, o1, s1), (p2, o2, s2) = runs
    assert o1 == o2 and s1 == s2
    for a, b in zip(p1, p2):
        assert a.tobytes() == b.tobytes()


def test_optimizer_wrapper_passes_through(self_comm, dist):
    params, grads = _problem()
    inner = optim.AdamW(params, lr=1e-2)
    opt = dist.DistributedOptimizer(inner, self_comm)
    assert opt.param_groups is inner.param_groups and opt.defaults is inner.defaults
    sched = schedules.StepLR(opt, step_size=1, gamma=0.5)
    opt.step(grads[0])
    sched.step()
    assert inner.param_groups[0]["lr"] == 5e-3
    assert opt.state_dict()["state"].keys() == inner.state_dict()["state"].keys()
    assert "DistributedOptimizer" in repr(opt)
    with pytest.raises(TypeError, match="optimizer must have a step"):
        dist.DistributedOptimizer(object(), self_comm)
    with pytest.raises(TypeError, match="already"):
        dist.DistributedOptimizer(opt, self_comm)
    with pytest.raises(ValueError, match="op"):
        dist.DistributedOptimizer(inner, self_comm, op="max")
    with pytest.raises(ValueError, match=r"grads"):
        opt.step([np.ones(3), np.ones(6)])
    assert np.array_equal(params[0], inner.param_groups[0]["params"][0])
