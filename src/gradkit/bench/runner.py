"""``python -m gradkit bench``: find the cases, probe the roofline, time every case
against NumPy and the peer in one run, and report.

Each case's gradkit, NumPy and peer callables are timed by
:func:`gradkit.bench.timing.measure` (warm-up, then interleaved batches, median per
call), on the same thread count for gradkit, PyTorch and the BLAS NumPy uses.
Derived figures: GB/s = ``Case.bytes`` / median time; share of the roofline = GB/s /
the probe's best bandwidth; "x NumPy" = time(NumPy) / time(gradkit); "x peer" =
time(peer) / time(gradkit).
"""
import contextlib
import importlib
import os
import pkgutil
import sys
import traceback

from .. import _config
from . import core, report, roofline, timing

FULL = {"budget": 0.3, "min_rounds": 5, "probe_reps": 10}
QUICK = {"budget": 0.1, "min_rounds": 3, "probe_reps": 5}


def _log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def discover():
    """Every ``cases_<family>.py`` module's cases, family by family (sorted), each
    case's ``family`` filled in.  Returns ``(cases, errors)``; a module that fails to
    import or build its cases is reported in ``errors`` rather than ending the run."""
    cases, errors = [], []
    names = sorted(m.name for m in pkgutil.iter_modules([os.path.dirname(__file__)])
                   if m.name.startswith("cases_"))
    for name in names:
        family = name[len("cases_"):]
        try:
            module = importlib.import_module(f"{__package__}.{name}")
            found = list(module.cases())
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
    """gradkit, PyTorch and (when threadpoolctl is installed) NumPy's BLAS all on
    ``threads`` threads; restored afterwards."""
    old_gk = _config.get_num_threads()
    old_torch = torch.get_num_threads() if torch is not None else None
    _config.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
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


def goal_met(x_peer, share, case):
    """True/False against the case's numeric goals; None when it has none or a figure
    the goal needs is missing (no peer installed, compute-bound op)."""
    checks = []
    if case.goal_ratio is not None:
        checks.append(None if x_peer is None else x_peer >= case.goal_ratio)
    if case.goal_roofline is not None:
        checks.append(None if share is None else share >= case.goal_roofline)
    if not checks or None in checks:
        return None
    return all(checks)


def measure_case(case, roofline_gbs, budget, min_rounds):
    """Time one case; returns its result record (a JSON-ready dict)."""
    callables = {"gradkit": case.gradkit}
    if case.numpy is not None:
        callables["numpy"] = case.numpy
    if case.peer is not None:
        callables["peer"] = case.peer
    result = {"family": case.family, "op": case.op, "size": case.size,
              "bytes": case.bytes, "peer_name": case.peer_name, "quick": case.quick,
              "goal": case.goal, "goal_ratio": case.goal_ratio,
              "goal_roofline": case.goal_roofline, "extra": case.extra,
              "times": {"gradkit": None, "numpy": None, "peer": None},
              "gbs": None, "roofline_share": None, "x_numpy": None, "x_peer": None,
              "goal_met": None, "error": None}
    try:
        result["times"].update(timing.measure(callables, budget=budget,
                                              min_rounds=min_rounds))
    except Exception:
        result["error"] = traceback.format_exc()
        return result
    t = {k: (v["median"] if v else None) for k, v in result["times"].items()}
    if case.bytes is not None:
        result["gbs"] = case.bytes / t["gradkit"] / 1e9
        result["roofline_share"] = result["gbs"] / roofline_gbs
    if t["numpy"] is not None:
        result["x_numpy"] = t["numpy"] / t["gradkit"]
    if t["peer"] is not None:
        result["x_peer"] = t["peer"] / t["gradkit"]
    result["goal_met"] = goal_met(result["x_peer"], result["roofline_share"], case)
    return result


def run(args, cases=None, scale=None):
    """Run the benchmark the command line asks for; returns the exit status (nonzero
    when a case or an output failed).

    Parameters
    ----------
    args : argparse.Namespace
        ``quick``, ``json``, ``plot``, ``markdown``, ``threads``, ``filter``.
    cases : list of Case, optional
        Run these instead of the discovered ones.
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


def _run(args, cases, quick, settings, threads, torch):
    status = 0
    errors = []
    if cases is None:
        # built after the threads are set: cases size their peer's threads on gradkit's
        cases, errors = discover()
        for e in errors:
            _log(f"cases_{e['family']}.py failed:\n{e['error']}")
            status = 1
    cases = select(cases, quick, getattr(args, "filter", None))
    if not cases:
        _log("no benchmark case matches")
        return 1
    scale = core.size_scale()
    info = report.machine_info(threads, torch)     # dated when the run starts
    _log(f"roofline probe ({threads} threads)...")
    probe = roofline.probe(scale=scale, reps=settings["probe_reps"])
    _log(f"roofline {probe['roofline_gbs']:.1f} GB/s (scale {probe['scale_gbs']:.1f}, "
         f"copy {probe['copy_gbs']:.1f})")
    results = []
    n = len(cases)
    for i in range(n):
        case = cases[i]
        cases[i] = None     # drop the case's arrays once it has run
        _log(f"[{i + 1}/{n}] {case.family}: {case.op} ({case.size})")
        r = measure_case(case, probe["roofline_gbs"], settings["budget"],
                         settings["min_rounds"])
        del case
        if r["error"]:
            _log(r["error"])
            status = 1
        else:
            _log("    " + report.summary(r))
        results.append(r)
    print(report.text_tables(results, probe, info))
    run_settings = {"quick": quick, "filter": getattr(args, "filter", None),
                    "scale": scale, "budget_seconds": settings["budget"],
                    "min_rounds": settings["min_rounds"], "discovery_errors": errors}
    if getattr(args, "json", None):
        report.write_json(args.json, results, probe, info, run_settings)
        _log(f"wrote {args.json}")
    if getattr(args, "markdown", None):
        note = None if scale == 1 else f"sizes scaled by {scale}: not a measurement"
        with open(args.markdown, "w") as f:
            f.write(report.markdown(results, probe, info, note=note))
        _log(f"wrote {args.markdown}")
    if getattr(args, "plot", None):
        if report.plot(args.plot, results, probe, info):
            _log(f"wrote {args.plot}")
        else:
            status = 1
    return status
