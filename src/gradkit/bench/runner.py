"""``python -m gradkit bench``: find the cases, time each against its limit, NumPy and
the peer in one run, time the peer warm, and report.

Each case's callables -- gradkit as a user calls it (its output cache warm), gradkit
with ``out=``, the case's limit (a probe moving the kernel's streams with no
arithmetic), the NumPy reference, the peer as a user meets it and, where the case has
one, the peer without first-touch page faults -- are timed by
:func:`gradkit.bench.timing.measure` in one call (interleaved batches, median per call),
on the same thread count for gradkit, PyTorch and BLAS.  Derived figures:

* share of the limit = time(limit) / time(gradkit), and the same with ``out=``;
* "x NumPy" = time(NumPy) / time(gradkit); "x peer" = time(peer) / time(gradkit);
* "x peer warm" = time(warm peer) / time(gradkit with out=): a peer that allocates its
  outputs is timed warm in a subprocess (:mod:`gradkit.bench.warm`) whose glibc malloc
  keeps freed blocks in the heap (:data:`WARM_TUNABLES`), interleaved there with
  gradkit and the limit.

The global STREAM roofline (:mod:`roofline`) is measured once and reported as
information; nothing is scored against it.
"""
import contextlib
import ctypes
import gc
import importlib
import json
import os
import pkgutil
import platform
import resource
import subprocess
import sys
import tempfile
import traceback

from .. import _config
from . import core, report, roofline, timing

FULL = {"budget": 0.3, "min_rounds": 5, "probe_reps": 10}
QUICK = {"budget": 0.1, "min_rounds": 3, "probe_reps": 5}
SWEEP = {"budget": 0.05, "min_rounds": 3}
SWEEP_SIZES = (10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6, 10 ** 7, 10 ** 8)
SWEEP_NUMPY_AT = 10 ** 6      # the NumPy reference is timed at this sweep size only
# glibc malloc of the warm subprocess: nothing is mmap'ed (every block comes from the
# heap) and the heap is never trimmed, so a freed output's pages stay mapped and the
# next output of that size reuses them without page faults.
WARM_TUNABLES = ("glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"
                 ":glibc.malloc.arena_max=1")
# How long the thread pools of the contenders keep spinning once a call is done: libgomp
# (gradkit's and PyTorch's OpenMP) spins GOMP_SPINCOUNT times (300,000 by default, 2-5
# ms on the Intel Xeon guest), OpenBLAS (NumPy's and SciPy's BLAS) 2^OPENBLAS_THREAD_
# TIMEOUT cycles (2^28 by default, about 0.1 s).  Batches of different callables
# alternate, so a pool still spinning from the batch before takes a core from the next
# one: qlinear batch 1 took 1.6x as long right after a NumPy batch, NumPy's product
# 1.2x as long right after a gradkit batch.  A bench process starts with these
# (``exec_with_idle_pools``): each pool stops spinning within about 0.5 ms of its
# last call, far more than the gap between two calls of one batch, so a batch still
# finds its own pool awake.  A value the environment sets is kept.
IDLE_POOLS = {"GOMP_SPINCOUNT": "30000", "OPENBLAS_THREAD_TIMEOUT": "20"}
FAULT_CALLS = 3               # calls over which the minor page faults are counted
TIMED = ("gradkit", "gradkit_out", "limit", "numpy", "peer", "peer_warm", "unfused")


def _log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def exec_with_idle_pools(argv):
    """Re-run ``python -m gradkit <argv>`` in a fresh interpreter with
    :data:`IDLE_POOLS` in its environment (they are read when the libraries load, so
    the running process cannot take them); returns only when nothing is missing or
    the platform has no ``execve``."""
    missing = {k: v for k, v in IDLE_POOLS.items() if k not in os.environ}
    if not missing or os.name != "posix":
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "gradkit", *argv],
              dict(os.environ, **missing))


def idle_pools():
    """The spin settings this process runs with (None: the library's default)."""
    return {k: os.environ.get(k) for k in IDLE_POOLS}


def _modules():
    """``(family, module)`` of every ``cases_<family>.py``, sorted, and the import
    errors."""
    found, errors = [], []
    names = sorted(m.name for m in pkgutil.iter_modules([os.path.dirname(__file__)])
                   if m.name.startswith("cases_"))
    for name in names:
        family = name[len("cases_"):]
        try:
            found.append((family, importlib.import_module(f"{__package__}.{name}")))
        except Exception:
            errors.append({"family": family, "error": traceback.format_exc()})
    return found, errors


def discover(n=None, families=None):
    """Every ``cases_<family>.py`` module's cases, family by family (sorted), each
    case's ``family`` filled in: ``cases()``, or with ``n`` the sweep's ``sweep(n)``
    (modules without one give none).  Returns ``(cases, errors)``; a module that fails
    to import or build its cases is reported in ``errors`` rather than ending the run."""
    modules, errors = _modules()
    cases = []
    for family, module in modules:
        if families is not None and family not in families:
            continue
        try:
            if n is None:
                found = list(module.cases())
            elif hasattr(module, "sweep"):
                found = list(module.sweep(n))
            else:
                found = []
        except Exception:
            errors.append({"family": family, "error": traceback.format_exc()})
            continue
        for case in found:
            case.family = case.family or family
        cases.extend(found)
    return cases, errors


def select(cases, quick=False, pattern=None):
    """The cases ``--quick`` and ``--filter`` keep (the filter is a case-insensitive
    substring of the op name), as a new list."""
    cases = list(cases)
    if quick:
        cases = [c for c in cases if c.quick]
    if pattern:
        cases = [c for c in cases if pattern.lower() in c.op.lower()]
    return cases


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@contextlib.contextmanager
def same_threads(threads, torch):
    """gradkit, PyTorch and (when threadpoolctl is installed) every BLAS of the process
    on ``threads`` threads; restored afterwards."""
    old_gk = _config.get_num_threads()
    old_torch = torch.get_num_threads() if torch is not None else None
    _config.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
        try:
            import scipy.linalg  # noqa: F401  (scipy's own BLAS, limited too)
        except ImportError:
            pass
        limits = threadpool_limits(limits=threads, user_api="blas")
    except ImportError:
        limits = contextlib.nullcontext()
    try:
        with limits:
            yield
    finally:
        _config.set_num_threads(old_gk)
        if torch is not None:
            torch.set_num_threads(old_torch)


def has_glibc():
    return platform.libc_ver()[0] == "glibc"


def release_memory():
    """Return what a finished case freed to the system: collect cycles, and on glibc
    trim the heap (malloc_trim releases the free pages inside it too).  Without it the
    heap of a long run grows with every mid-sized block its cases freed, until a sweep's
    1e8 point does not fit in memory."""
    gc.collect()
    if has_glibc():
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except (OSError, AttributeError):
            pass


def warm_env(threads):
    """The environment of the warm subprocess."""
    env = dict(os.environ, GLIBC_TUNABLES=WARM_TUNABLES, OMP_NUM_THREADS=str(threads))
    old = os.environ.get("GLIBC_TUNABLES")
    if old:
        env["GLIBC_TUNABLES"] = old + ":" + WARM_TUNABLES
    return env


def minor_faults(fn, calls=FAULT_CALLS):
    """Minor page faults of the process per call of ``fn`` (after the warm-up the
    timing did): a call whose outputs come from fresh memory faults in every page."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def goal_met(result):
    """True/False against the result's numeric goals; None when it has none or a figure
    the goal needs is missing (no peer installed, no warm measurement).  The ratio goal
    is scored on the warm peer; the limit and time goals on the worse of gradkit with its
    cache and with ``out=``."""
    checks = []
    if result["goal_ratio"] is not None:
        x = result["x_peer_warm"]
        checks.append(None if x is None else x >= result["goal_ratio"])
    if result["goal_limit"] is not None:
        shares = [s for s in (result["limit_share"], result["limit_share_out"])
                  if s is not None]
        checks.append(min(shares) >= result["goal_limit"] if shares else None)
    if result.get("goal_unfused") is not None:
        x = result.get("x_unfused")
        checks.append(None if x is None else x >= result["goal_unfused"])
    if result["goal_time"] is not None:
        times = [(result["times"].get(k) or {}).get("median")
                 for k in ("gradkit", "gradkit_out")]
        times = [t for t in times if t is not None]
        checks.append(max(times) <= result["goal_time"] if times else None)
    if not checks or None in checks:
        return None
    return all(checks)


def _key(case, n):
    return {"family": case.family, "op": case.op, "size": case.size, "n": n}


def new_result(case, n=None, threads=None):
    return dict(_key(case, n), threads=threads, bytes=case.bytes, elements=case.elements,
                peer_name=case.peer_name, quick=case.quick, goal=case.goal,
                goal_ratio=case.goal_ratio, goal_limit=case.goal_limit,
                goal_time=case.goal_time, goal_unfused=case.goal_unfused,
                unfused_name=case.unfused_name, extra=case.extra,
                times=dict.fromkeys(TIMED), faults={}, gbs=None, limit_share=None,
                limit_schedule=None,
                limit_share_out=None, x_numpy=None, x_peer=None, x_peer_warm=None, x_unfused=None,
                warm_how=None, warm_limit_share=None, goal_met=None, error=None)


def scrub_for(case):
    """The cache scrub (core.cache_scrub) for a case that moves at least the streaming
    threshold's bytes per call (past the cache, by gradkit's own measure), else None:
    a case in cache is timed warm, as it is used."""
    from .._ext import runtime as _rt
    if case.bytes is None or case.bytes < _rt.get_stream_min_bytes():
        return None
    return core.cache_scrub()


def measure_case(case, budget, min_rounds, n=None, threads=None, numpy=True,
                 faults=True):
    """Time one case (and count the page faults of its calls unless ``faults`` is
    false); returns its result record (a JSON-ready dict)."""
    result = new_result(case, n, threads)
    warm_is_peer = case.peer is not None and case.peer_warm is case.peer
    callables = {"gradkit": case.gradkit}
    for name in ("gradkit_out", "limit", "numpy", "peer", "peer_warm", "unfused"):
        fn = getattr(case, name)
        if fn is None or (name == "peer_warm" and warm_is_peer) or \
                (name == "numpy" and not numpy):
            continue
        if name == "limit":   # both schedules, the faster kept (core.limit_forms)
            callables.update(core.limit_forms(fn))
        else:
            callables[name] = fn
    try:
        result["times"].update(timing.measure(callables, budget=budget,
                                              min_rounds=min_rounds,
                                              between=scrub_for(case)))
        result["limit_schedule"] = core.pick_limit(result["times"])
        for name in ("gradkit", "gradkit_out", "peer"):
            if faults and name in callables:
                result["faults"][name] = minor_faults(callables[name])
    except Exception:
        result["error"] = traceback.format_exc()
        return result
    t = {k: (v["median"] if v else None) for k, v in result["times"].items()}
    gk, gk_out = t["gradkit"], t["gradkit_out"]
    if case.bytes is not None:
        result["gbs"] = case.bytes / gk / 1e9
    if t["limit"] is not None:
        result["limit_share"] = t["limit"] / gk
        if gk_out is not None:
            result["limit_share_out"] = t["limit"] / gk_out
    if t["numpy"] is not None:
        result["x_numpy"] = t["numpy"] / gk
    if t["peer"] is not None:
        result["x_peer"] = t["peer"] / gk
    if t["unfused"] is not None:
        result["x_unfused"] = t["unfused"] / gk
    if warm_is_peer:
        result["x_peer_warm"] = t["peer"] / (gk_out or gk)
        result["warm_how"] = "in place"
    elif t["peer_warm"] is not None:
        result["x_peer_warm"] = t["peer_warm"] / (gk_out or gk)
        result["warm_how"] = "out="
    result["goal_met"] = goal_met(result)
    return result


def needs_warm(result):
    return (result["error"] is None and result["times"]["peer"] is not None
            and result["warm_how"] is None)


def warm_pass(results, threads, scale, settings):
    """Time, in one subprocess with :data:`WARM_TUNABLES`, the peers that allocate
    their outputs, each interleaved with gradkit (``out=``) and the limit; fill in
    ``x_peer_warm`` (or say in ``warm_how`` why not).  Returns False when the
    subprocess failed."""
    todo = [r for r in results if needs_warm(r)]
    if not todo:
        return True
    if not has_glibc():
        for r in todo:
            r["warm_how"] = "skipped: no glibc"
        _log("not glibc: the warm peer column is skipped")
        return True
    request = {"threads": threads, "scale": scale, "budget": settings["budget"],
               "min_rounds": settings["min_rounds"],
               "items": [{k: r[k] for k in ("family", "op", "size", "n")} for r in todo]}
    _log(f"warm peers: {len(todo)} cases in a subprocess (GLIBC_TUNABLES={WARM_TUNABLES})")
    with tempfile.TemporaryDirectory() as tmp:
        req, out = os.path.join(tmp, "request.json"), os.path.join(tmp, "warm.json")
        with open(req, "w") as f:
            json.dump(request, f)
        proc = subprocess.run([sys.executable, "-m", "gradkit.bench.warm", req, out],
                              env=warm_env(threads), stdout=subprocess.PIPE)
        answers = []
        if os.path.exists(out):
            with open(out) as f:
                answers = json.load(f)
    for r, a in zip(todo, answers + [None] * (len(todo) - len(answers))):
        if a is None or a.get("error"):
            r["warm_how"] = "failed" if a is None else "error"
            r["warm_error"] = None if a is None else a["error"]
            continue
        r["times"]["peer_warm"] = a["times"]["peer"]
        r["times"]["warm_gradkit"] = a["times"]["gradkit"]
        r["times"]["warm_limit"] = a["times"].get("limit")
        r["faults"]["peer_warm"] = a["faults"].get("peer")
        t = {k: (v or {}).get("median") for k, v in a["times"].items()}
        r["x_peer_warm"] = t["peer"] / t["gradkit"]
        if t.get("limit"):
            r["warm_limit_share"] = t["limit"] / t["gradkit"]
        r["warm_how"] = "warm heap"
        r["goal_met"] = goal_met(r)
    return proc.returncode == 0 and len(answers) == len(todo)


def run(args, cases=None, scale=None):
    """Run the benchmark the command line asks for; returns the exit status (nonzero
    when a case or an output failed).

    Parameters
    ----------
    args : argparse.Namespace
        ``quick``, ``json``, ``plot``, ``markdown``, ``threads``, ``filter``,
        ``sweep``, ``sizes``.
    cases : list of Case, optional
        Run these instead of the discovered ones (their peers are not timed warm: the
        warm subprocess finds cases by discovery).
    scale : float, optional
        Size factor for the cases and the roofline probe (default ``GRADKIT_BENCH_SCALE``
        or 1); below 1 for tests only: the figures stop meaning anything.
    """
    quick = bool(getattr(args, "quick", False))
    settings = FULL if not quick else QUICK
    threads = getattr(args, "threads", None)
    threads = available_cores() if threads is None else threads
    if threads < 1:
        _log(f"--threads must be >= 1, got {threads}")
        return 2
    if threads > 1 and not _config.show_config()["openmp"]:
        # gradkit cannot use more; the peers get the same one thread, as always
        _log(f"gradkit was built without OpenMP: running on 1 thread, not {threads}")
        threads = 1
    torch = core.try_import_torch()
    old_scale = core._scale_override
    core._scale_override = scale
    try:
        with same_threads(threads, torch):
            return _run(args, cases, quick, settings, threads, torch)
    finally:
        core._scale_override = old_scale


def _run_cases(cases, settings, threads, n=None, numpy=True, warm=True):
    """Measure ``cases`` (dropping each once measured), then their warm peers."""
    results, status = [], 0
    total = len(cases)
    for i in range(total):
        case = cases[i]
        cases[i] = None     # drop the case's arrays once it has run
        where = "" if n is None else f", n={n}, {threads} thr"
        _log(f"[{i + 1}/{total}] {case.family}: {case.op} ({case.size}{where})")
        r = measure_case(case, settings["budget"], settings["min_rounds"], n=n,
                         threads=threads, numpy=numpy, faults=n is None)
        del case
        release_memory()
        if r["error"]:
            _log(r["error"])
            status = 1
        else:
            _log("    " + report.summary(r))
        results.append(r)
    if warm and not warm_pass(results, threads, core.size_scale(), settings):
        _log("the warm subprocess failed for some cases (see warm_how in the JSON)")
        status = 1
    return results, status


def _sweep(args, threads_list, pattern):
    """Every memory-bound kernel (the modules' ``sweep(n)``) at every size and thread
    count; returns (points, status)."""
    sizes = getattr(args, "sizes", None) or SWEEP_SIZES
    points, status = [], 0
    for threads in threads_list:
        with same_threads(threads, core.try_import_torch()):
            results = []
            for n in sizes:
                cases, errors = discover(n)
                for e in errors:
                    _log(f"cases_{e['family']}.py sweep({n}) failed:\n{e['error']}")
                    status = 1
                cases = select(cases, pattern=pattern)
                numpy = n == SWEEP_NUMPY_AT
                rs, st = _run_cases(cases, SWEEP, threads, n=n, numpy=numpy, warm=False)
                status |= st
                # a warm subprocess per size: its heap keeps every block it frees (that
                # is what makes it warm), so one for all sizes would hold the largest
                # cases of every size at once
                if not warm_pass(rs, threads, core.size_scale(), SWEEP):
                    _log("the warm subprocess failed for some cases "
                         "(see warm_how in the JSON)")
                    status = 1
                results += rs
            points += results
    return points, status


def sweep_threads(threads):
    """1 and 2 threads, and every core when there are more (never above ``threads``
    when it was given)."""
    cores = available_cores()
    out = [t for t in (1, 2) if t <= cores]
    if cores > 2:
        out.append(cores)
    if threads is not None:
        out = [t for t in out if t <= threads] or [1]
    if not _config.show_config()["openmp"]:
        out = [1]
    return out


def _run(args, cases, quick, settings, threads, torch):
    status = 0
    errors = []
    warm = cases is None
    if cases is None:
        # built after the threads are set: cases size their peer's threads on gradkit's
        cases, errors = discover()
        for e in errors:
            _log(f"cases_{e['family']}.py failed:\n{e['error']}")
            status = 1
    pattern = getattr(args, "filter", None)
    cases = select(cases, quick, pattern)
    sweep = bool(getattr(args, "sweep", False))
    if not cases and not sweep:
        _log("no benchmark case matches")
        return 1
    scale = core.size_scale()
    info = report.machine_info(threads, torch)     # dated when the run starts
    info["idle_pools"] = idle_pools()
    _log(f"roofline probe ({threads} threads, information only)...")
    probe = roofline.probe(scale=scale, reps=settings["probe_reps"])
    _log(f"roofline {probe['roofline_gbs']:.1f} GB/s (scale {probe['scale_gbs']:.1f}, "
         f"copy {probe['copy_gbs']:.1f})")
    results, st = _run_cases(cases, settings, threads, warm=warm)
    status |= st
    points = None
    if sweep:
        given = getattr(args, "threads", None)
        points, st = _sweep(args, sweep_threads(given), pattern)
        status |= st
    print(report.text_tables(results, probe, info))
    if points:
        print(report.sweep_text(points))
    run_settings = {"quick": quick, "filter": pattern, "scale": scale,
                    "budget_seconds": settings["budget"],
                    "min_rounds": settings["min_rounds"], "discovery_errors": errors,
                    "warm_tunables": WARM_TUNABLES if has_glibc() else None,
                    "sweep": None if points is None else
                    {"sizes": list(getattr(args, "sizes", None) or SWEEP_SIZES),
                     "budget_seconds": SWEEP["budget"], "numpy_at": SWEEP_NUMPY_AT}}
    if getattr(args, "json", None):
        report.write_json(args.json, results, probe, info, run_settings, points)
        _log(f"wrote {args.json}")
    if getattr(args, "markdown", None):
        note = None if scale == 1 else f"sizes scaled by {scale}: not a measurement"
        with open(args.markdown, "w") as f:
            f.write(report.markdown(results, probe, info, note=note, points=points))
        _log(f"wrote {args.markdown}")
    if getattr(args, "plot", None):
        if report.plot(args.plot, results, probe, info, points):
            _log(f"wrote {args.plot}")
        else:
            status = 1
    return status
