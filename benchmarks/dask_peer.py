"""gradkit vs dask-ml on a dask.distributed LocalCluster: Standardizer vs StandardScaler,
PCA vs PCA, on the same persisted dask array (the figures of docs/performance.md, "Dask").

Run from the repository root (needs gradkit[dask] and dask-ml)::

    python benchmarks/dask_peer.py                       # 2e6 x 256 float64, 1e5-row chunks
    python benchmarks/dask_peer.py --rows 500000 --json out.json
    python benchmarks/dask_peer.py --scheduler tcp://host:8786   # a running cluster

What is timed (best and median of --repeat rounds after one warm-up run of each; the
cases of one group, fits or transforms, run in turn within a round, so that a noisy
neighbour slows them alike):

* ``fit``: from a dask array already persisted on the workers (data generation is not
  timed) to the fitted attributes in the client.  gradkit reduces each block to its
  statistics (one read; ``Moments`` or ``Scatter`` through the compiled kernels) and
  merges them in a tree; dask-ml's StandardScaler runs ``nanmean`` and ``nanvar``,
  its PCA a tall-skinny QR (``svd_solver='full'``, exact: the answer to compare) or a
  randomized SVD (``'auto'`` picks it when n_components < 0.8 d; approximate, shown
  for information).
* ``transform``: the lazy result persisted on the workers and waited for; and
  ``transform, summed``: the lazy result's column sums computed (each output block is
  consumed and freed where it was made, as in an out-of-core pipeline that never holds
  the whole output).  A persisted output is all fresh memory: its page faults are part
  of what is timed, the same for both libraries.

Before every run the script waits until the scheduler has released the previous run's
results: dask reuses a key still in memory, and releases are asynchronous, so
back-to-back runs of a deterministic graph would otherwise be timed as cache hits.

Memory is touched once before the cluster starts (``--prefault-gb``, by default 2.5x the
array's bytes, at most what the machine has free less 2 GB).  On a virtual machine the
host backs a guest page only when the guest first touches it: measured on this project's
2-core KVM guests, first-touch page faults ran at 0.2-0.3 GB/s on memory the guest had
never used and at several GB/s on memory it had used and freed.  Without the warm-up,
whichever library first grows into untouched memory pays that.  It does not help where
the guest hands freed memory back to the host (virtio-balloon free page reporting, as on
the AMD EPYC guest of 2026-12-05): there every fresh output faulted at 0.4-1.3 GB/s
whatever was touched before, which is why the persisted transforms of 4 GB outputs take
seconds in both libraries, and why the summed ones are timed too.

Workers are processes with one thread each (``threads_per_worker=1``); dask's nanny sets
OMP/OpenBLAS threads to 1 in them, so each worker computes on one core for both
libraries.  Results are checked to agree (PCA up to the sign of each component) before
any figure is printed.  Timings on a shared machine are noisy: compare the ratios of
one run, and re-measure on a quiet machine.
"""
import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import time

import numpy as np


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _make(rows, cols, chunk, seed=0):
    """Correlated float64 data with a non-zero mean, generated on the workers: a rank-16
    mix plus independent noise of column-dependent scale (cheap to make, a spectrum with
    a few leading directions as PCA data has)."""
    import dask.array as da
    rng = da.random.default_rng(seed)
    z = rng.standard_normal((rows, 16), chunks=(chunk, 16))
    mix = np.random.default_rng(seed + 1).standard_normal((16, cols))
    noise = rng.standard_normal((rows, cols), chunks=(chunk, cols))
    return z @ mix + noise * np.linspace(0.5, 2.0, cols) + 3.0


def _prefault(gb):
    """Touch `gb` GB of memory once, 1 GB at a time, and free it: pages the guest has
    used before are backed by the host already (see the module docstring)."""
    if gb <= 0:
        return
    t = time.perf_counter()
    for _ in range(int(np.ceil(gb))):
        np.ones(2**27)                      # 1 GiB of float64, touched, then freed
    print(f"  touched {gb:.1f} GB once in {time.perf_counter() - t:.1f} s", file=sys.stderr)


def _free_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def _settler(client):
    """A function that waits until the scheduler holds no more tasks than now (X's
    blocks): the previous run's results released.  Without it a run finds the keys of
    the one before still in memory (releases are asynchronous) and reuses them: a
    deterministic graph (dask-ml's transform, gradkit's fit) then "runs" in
    milliseconds."""
    def count(dask_scheduler):
        return len(dask_scheduler.tasks)
    baseline = client.run_on_scheduler(count)

    def settle(timeout=60.0):
        gc.collect()                           # drop the client's futures of the last run
        end = time.monotonic() + timeout
        while client.run_on_scheduler(count) > baseline:
            if time.monotonic() > end:
                raise RuntimeError("the scheduler kept the previous run's results")
            time.sleep(0.02)
    return settle


def _interleaved(cases, repeat, settle):
    """Best and median seconds of each callable in `cases` (name -> fn): one warm-up
    run of each (imports on the workers, caches), then `repeat` rounds, each running
    every case once in turn (in reverse order every other round), so that a noisy
    neighbour slows the cases of one round alike and the ratios of one run compare like
    with like."""
    for fn in cases.values():
        settle()
        fn()
    out = {name: [] for name in cases}
    order = list(cases.items())
    for r in range(repeat):
        # reversed every other round: a case that runs right after another one freed
        # gigabytes gets recently used (fast) memory; alternating shares that around
        for name, fn in (order if r % 2 == 0 else order[::-1]):
            settle()
            t = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t)
    for name, ts in out.items():
        print(f"  {name}: {' '.join(f'{t:.3f}' for t in ts)} s", file=sys.stderr,
              flush=True)
    return {name: (min(ts), statistics.median(ts)) for name, ts in out.items()}


def _persist_wait(arr):
    from distributed import wait
    p = arr.persist()
    wait(p)
    del p


def _check(ours, sc, pca, dpca):
    """The results agree: standardization to 1e-10 relative, PCA to sign."""
    for k in ("mean_", "var_", "scale_"):
        np.testing.assert_allclose(getattr(ours, k), np.asarray(getattr(sc, k)), rtol=1e-10)
    np.testing.assert_allclose(pca.explained_variance_, dpca.explained_variance_, rtol=1e-9)
    signs = np.sign(np.sum(pca.components_ * dpca.components_, axis=1))
    np.testing.assert_allclose(pca.components_, dpca.components_ * signs[:, None], atol=1e-8)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--cols", type=int, default=256)
    ap.add_argument("--chunk", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2,
                    help="worker processes of the LocalCluster started here")
    ap.add_argument("--scheduler", help="address of a running dask scheduler to use "
                    "instead of a LocalCluster (e.g. tcp://host:8786)")
    ap.add_argument("--components", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fit-repeat", type=int, default=None,
                    help="timed rounds of the fits (default --repeat); 0: fit each "
                    "estimator once, untimed (dask-ml's exact PCA takes minutes at 2e6 "
                    "rows), and time the transforms only")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--prefault-gb", type=float, default=None,
                    help="memory to touch once before the cluster starts (default: 2.5x "
                    "the array, at most the free memory less 2 GB; 0: none)")
    args = ap.parse_args(argv)
    gb = args.prefault_gb
    if gb is None:
        gb = min(2.5 * args.rows * args.cols * 8 / 2**30, _free_gb() - 2.0)
    _prefault(gb)

    import dask
    import distributed
    import dask_ml
    from dask_ml.decomposition import PCA as DPCA
    from dask_ml.preprocessing import StandardScaler
    import gradkit
    from gradkit.preprocessing import PCA, Standardizer

    with contextlib.ExitStack() as stack:
        if args.scheduler:
            client = stack.enter_context(distributed.Client(args.scheduler))
        else:
            client = stack.enter_context(distributed.Client(stack.enter_context(
                distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                         processes=True, dashboard_address=":0"))))
        X = _make(args.rows, args.cols, args.chunk).persist()
        distributed.wait(X)
        settle = _settler(client)
        k = args.components
        fitted = {}

        def fit(name, est):
            def run():
                fitted[name] = est.fit(X)
            return run
        cases = {
            "Standardizer.fit": fit("gk_std", Standardizer()),
            "StandardScaler.fit": fit("dml_std", StandardScaler()),
            f"PCA({k}).fit": fit("gk_pca", PCA(k)),
            f"dask-ml PCA({k}, 'full' = tsqr).fit": fit("dml_pca", DPCA(k, svd_solver="full")),
            f"dask-ml PCA({k}, 'auto' = randomized).fit": fit("dml_rand", DPCA(k)),
        }
        fit_repeat = args.repeat if args.fit_repeat is None else args.fit_repeat
        if fit_repeat > 0:
            times = _interleaved(cases, fit_repeat, settle)
        else:
            del cases[f"dask-ml PCA({k}, 'auto' = randomized).fit"]
            for fn in cases.values():
                fn()
            times = {}
        _check(fitted["gk_std"], fitted["dml_std"], fitted["gk_pca"], fitted["dml_pca"])
        models = (("Standardizer.transform", "gk_std"),
                  ("StandardScaler.transform", "dml_std"),
                  (f"PCA({k}).transform", "gk_pca"),
                  (f"dask-ml PCA({k}, 'full').transform", "dml_pca"))
        transforms = {name: (lambda key=key: _persist_wait(fitted[key].transform(X)))
                      for name, key in models}
        # the floor of a transform on this cluster: the same graph shape with a plain
        # copy of each block (one read, one write of fresh memory per block, no
        # arithmetic) -- what no library's transform can beat
        transforms["floor: X.map_blocks(np.copy)"] = lambda: _persist_wait(
            X.map_blocks(np.copy))
        times.update(_interleaved(transforms, args.repeat, settle))
        # the same transforms consumed block by block (a column sum of the output, the
        # shape of an out-of-core pipeline: each output block is freed once summed)
        consumed = {f"{name}, summed":
                    (lambda key=key: fitted[key].transform(X).sum(axis=0).compute())
                    for name, key in models}
        consumed["floor: X.map_blocks(np.copy), summed"] = (
            lambda: X.map_blocks(np.copy).sum(axis=0).compute())
        times.update(_interleaved(consumed, args.repeat, settle))
        workers = client.scheduler_info()["workers"]
        info = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpu": _cpu(), "workers": len(workers),
            "threads_per_worker": sorted({w["nthreads"] for w in workers.values()}),
            "shape": [args.rows, args.cols], "chunk_rows": args.chunk, "dtype": "float64",
            "n_components": k, "repeat": args.repeat, "fit_repeat": fit_repeat,
            "prefault_gb": gb, "load_average_1min_at_end": os.getloadavg()[0],
            "versions": {"gradkit": gradkit.__version__, "dask": dask.__version__,
                         "distributed": distributed.__version__,
                         "dask-ml": dask_ml.__version__, "numpy": np.__version__,
                         "python": sys.version.split()[0]},
            "seconds": {name: {"best": b, "median": m} for name, (b, m) in times.items()},
        }
        del X
    print(f"{info['date']}  {info['cpu']}  {info['workers']} workers x "
          f"{'/'.join(map(str, info['threads_per_worker']))} threads")
    print(f"load average at the end {info['load_average_1min_at_end']:.1f} on "
          f"{os.cpu_count()} cores")
    print(f"X: {args.rows} x {args.cols} float64 ({args.rows * args.cols * 8 / 1e9:.2f} GB) "
          f"in {args.chunk}-row chunks, persisted on the workers")
    print("  ".join(f"{n} {v}" for n, v in info["versions"].items()))
    width = max(map(len, times))
    for name, (b, m) in times.items():
        print(f"  {name:<{width}}  best {b:8.3f} s   median {m:8.3f} s")
    pairs = [("Standardizer.fit", "StandardScaler.fit"),
             (f"PCA({k}).fit", f"dask-ml PCA({k}, 'full' = tsqr).fit"),
             (f"PCA({k}).fit", f"dask-ml PCA({k}, 'auto' = randomized).fit"),
             ("Standardizer.transform", "StandardScaler.transform"),
             (f"PCA({k}).transform", f"dask-ml PCA({k}, 'full').transform"),
             ("Standardizer.transform, summed", "StandardScaler.transform, summed"),
             (f"PCA({k}).transform, summed", f"dask-ml PCA({k}, 'full').transform, summed")]
    info["speedup"] = {}
    for ours, floor in (("Standardizer.transform", "floor: X.map_blocks(np.copy)"),
                        ("StandardScaler.transform", "floor: X.map_blocks(np.copy)"),
                        ("Standardizer.transform, summed",
                         "floor: X.map_blocks(np.copy), summed"),
                        ("StandardScaler.transform, summed",
                         "floor: X.map_blocks(np.copy), summed")):
        if floor in times and ours in times:
            r = times[floor][0] / times[ours][0]
            info["speedup"][f"{floor} / {ours}"] = r
            print(f"  {ours}: {100 * r:.0f}% of the copy floor (best times)")
    for ours, theirs in pairs:
        if theirs not in times:
            continue
        r = times[theirs][0] / times[ours][0]
        info["speedup"][f"{theirs} / {ours}"] = r
        print(f"  {theirs} / {ours}: {r:.2f}x (best times)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(info, f, indent=2)
    return info


if __name__ == "__main__":
    main()
