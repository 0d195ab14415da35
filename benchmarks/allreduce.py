"""gradkit.distributed.allreduce_ against one raw MPI Allreduce and torch.distributed.

Run with N ranks (the figures of docs/performance.md, section "Distributed")::

    mpiexec -n 2 python benchmarks/allreduce.py            # + --no-torch, --reps 15
    mpiexec -n 2 python benchmarks/allreduce.py --model    # the cost-model constants

A gradient list of 64 arrays (32 weight matrices 512x1024 and 32 bias vectors of 1024:
16.8M float32 parameters, 67 MB) is averaged in place by ``allreduce_`` (25 MB buckets)
and, interleaved in the same run, the same bytes as ONE contiguous buffer by a raw
``comm.Allreduce(IN_PLACE, buf, SUM)`` (the floor: no packing, one collective), and the
same 64 tensors by torch.distributed's gloo backend (one ``all_reduce`` per tensor,
asynchronous, then waited; and one ``all_reduce`` of a single flat tensor).  Times are
the median over ``--reps`` repetitions, each started after a barrier, as rank 0 sees
them.  ``--model`` times a tiny (8-byte) allreduce and large ones (1-64 MB) to fit the
ring cost model ``t = a + 2(N-1)/N * bytes / B`` of docs/distributed.md.
"""
import argparse
import os
import socket
import statistics
import time

import numpy as np
from mpi4py import MPI

import gradkit.distributed as gd
from gradkit.distributed import allreduce_

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()


def gradient_list():
    rng = np.random.default_rng(rank)
    shapes = [(512, 1024), (1024,)] * 32
    return [rng.standard_normal(s, dtype=np.float32) for s in shapes]


def timed(fn, reps):
    out = []
    for _ in range(reps):
        comm.Barrier()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def interleaved(fns, reps):
    """Median seconds of each callable, the calls interleaved rep by rep (so a noisy
    neighbour slows all of them alike); rank 0's clock, the max over ranks."""
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            times[k] += timed(fn, 1)
    return {k: comm.allreduce(statistics.median(v), op=MPI.MAX) for k, v in times.items()}


def packed(grads, bucket_mb):
    """allreduce_ with every array copied through the buckets (none reduced in place)."""
    direct, gd.DIRECT_BYTES = gd.DIRECT_BYTES, 2**62
    try:
        allreduce_(grads, bucket_mb=bucket_mb)
    finally:
        gd.DIRECT_BYTES = direct


def torch_group():
    """A gloo process group over the MPI ranks (rendezvous on rank 0's free port)."""
    import torch.distributed as dist
    port = None
    if rank == 0:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    port = comm.bcast(port, root=0)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=size)
    return dist


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--model", action="store_true", help="the cost-model constants")
    ap.add_argument("--bucket-mb", type=float, default=25)
    args = ap.parse_args()

    if args.model:
        return cost_model(args.reps)
    grads = gradient_list()
    nbytes = sum(g.nbytes for g in grads)
    flat = np.concatenate([g.reshape(-1) for g in grads])
    fns = {
        "gradkit allreduce_ (64 arrays, mean)":
            lambda: allreduce_(grads, op="mean", bucket_mb=args.bucket_mb),
        "gradkit allreduce_ (64 arrays, sum)":
            lambda: allreduce_(grads, op="sum", bucket_mb=args.bucket_mb),
        "raw mpi4py Allreduce (1 buffer, sum)":
            lambda: comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM),
        "gradkit allreduce_ (all packed, mean)": lambda: packed(grads, args.bucket_mb),
    }

    if not args.no_torch:
        import torch
        torch.set_num_threads(1)
        dist = torch_group()
        tensors = [torch.from_numpy(g.copy()) for g in grads]
        tflat = torch.from_numpy(flat.copy())

        def per_tensor():
            for w in [dist.all_reduce(t, async_op=True) for t in tensors]:
                w.wait()
        fns["torch.distributed gloo (64 tensors)"] = per_tensor
        fns["torch.distributed gloo (1 flat tensor)"] = lambda: dist.all_reduce(tflat)
    # the fixed cost per call: a small list (the demo MLP's 10 arrays, 26.6k float32)
    small = [np.ones(s, np.float32) for s in
             [(128, 64), (128,), (128,), (128,), (128, 128), (128,), (128,), (128,),
              (10, 128), (10,)]]
    small_flat = np.concatenate([a.reshape(-1) for a in small])
    fns["gradkit allreduce_ (10 small arrays, 26.6k)"] = lambda: allreduce_(small)
    fns["raw mpi4py Allreduce (26.6k, 1 buffer)"] = \
        lambda: comm.Allreduce(MPI.IN_PLACE, small_flat, op=MPI.SUM)
    for op in ("mean", "sum"):  # warm: the buckets are allocated on the first call
        allreduce_(grads, op=op, bucket_mb=args.bucket_mb)
    packed(grads, args.bucket_mb)
    allreduce_(small)
    res = interleaved(fns, args.reps)
    if rank == 0:
        base = res["raw mpi4py Allreduce (1 buffer, sum)"]
        print(f"{size} ranks, {len(grads)} arrays, {sum(g.size for g in grads):,} float32 "
              f"({nbytes / 1e6:.1f} MB), bucket {args.bucket_mb} MiB, median of "
              f"{args.reps}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
        for k, t in res.items():
            if "small" in k or "26.6k" in k:
                continue
            print(f"  {k:<42} {t * 1e3:8.2f} ms  {t / base:5.2f}x raw  "
                  f"{nbytes / t / 1e9:5.2f} GB/s")
        t_small = res["gradkit allreduce_ (10 small arrays, 26.6k)"]
        t_raw = res["raw mpi4py Allreduce (26.6k, 1 buffer)"]
        print(f"  small list (10 arrays, 26.6k float32): allreduce_ {t_small * 1e6:.0f} us, "
              f"raw Allreduce {t_raw * 1e6:.0f} us")
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.no_torch:
        dist.destroy_process_group()


def cost_model(reps):
    """Latency a from an 8-byte allreduce; bandwidth B from the slope over large ones."""
    tiny = np.zeros(1, np.float64)
    lat = interleaved({"8 B": lambda: comm.Allreduce(MPI.IN_PLACE, tiny, op=MPI.SUM)},
                      reps * 20)["8 B"]
    sizes = [2**20, 2**22, 2**24, 2**26]  # bytes
    bufs = {s: np.ones(s // 4, np.float32) for s in sizes}
    t = interleaved({s: (lambda b=bufs[s]: comm.Allreduce(MPI.IN_PLACE, b, op=MPI.SUM))
                     for s in sizes}, reps)
    factor = 2 * (size - 1) / size
    x = np.array([factor * s for s in sizes])
    y = np.array([t[s] for s in sizes])
    slope, intercept = np.polyfit(x, y, 1)
    if rank == 0:
        print(f"{size} ranks: tiny allreduce (8 B) {lat * 1e6:.1f} us")
        for s in sizes:
            print(f"  {s / 2**20:5.0f} MiB  {t[s] * 1e3:8.2f} ms")
        print(f"fit t = a + 2(N-1)/N * bytes / B: B = {1 / slope / 1e9:.2f} GB/s, "
              f"a = {intercept * 1e6:.0f} us (fit), tiny-message latency "
              f"{lat * 1e6:.1f} us")


if __name__ == "__main__":
    main()
