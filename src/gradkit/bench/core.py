"""Benchmark engine: the Case type every family's cases use.

A ``cases_<family>.py`` module in this package defines ``cases() -> list[Case]``.  Each
Case times gradkit's callable and, in the same run, the NumPy reference and the peer
(PyTorch, or scikit-learn for preprocessing), and states the minimal bytes the op must
move so its effective bandwidth can be scored against the roofline probe."""
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

# Set by the runner (``run(..., scale=...)``); else ``GRADKIT_BENCH_SCALE``; else 1.
_scale_override = None


@dataclass
class Case:
    op: str                                   # "layer_norm forward"
    size: str                                 # "8192x1024 f32"
    gradkit: Callable[[], object]             # the timed call
    bytes: Optional[int] = None               # minimal bytes moved; None if compute-bound
    numpy: Optional[Callable[[], object]] = None   # NumPy reference call
    peer: Optional[Callable[[], object]] = None    # torch (or sklearn) call; None if absent
    peer_name: str = "torch"
    quick: bool = False                       # part of `bench --quick`
    goal: str = ""                            # the target as shown, e.g. ">=5x torch, >=70% roofline"
    goal_ratio: Optional[float] = None        # numeric target for time(peer)/time(gradkit)
    goal_roofline: Optional[float] = None     # numeric target share of the roofline (0-1)
    extra: dict = field(default_factory=dict)
    family: str = ""                          # filled by the runner from cases_<family>.py
    limit: Optional[Callable[[], object]] = None   # per-case probe: core.probe(reads, writes)
    gradkit_out: Optional[Callable[[], object]] = None  # the gradkit call with out= given


def try_import_torch():
    """torch, or None when it is not installed (it is a benchmark peer, never a
    dependency)."""
    try:
        import torch
    except Exception:
        return None
    return torch


def size_scale():
    """Factor applied to the benchmark sizes: 1 for real measurements; tests shrink it
    (``GRADKIT_BENCH_SCALE=0.01``) so the whole pipeline runs in seconds."""
    if _scale_override is not None:
        return _scale_override
    text = os.environ.get("GRADKIT_BENCH_SCALE")
    if not text:
        return 1.0
    value = float(text)
    if not value > 0:
        raise ValueError(f"GRADKIT_BENCH_SCALE must be > 0, got {text!r}")
    return value


def scaled(n):
    """``n`` times :func:`size_scale`, at least 1: use it in ``cases()`` for the
    dimension that sets the bandwidth-sized shapes (e.g. the 8192 rows of 8192x1024)."""
    return max(1, round(n * size_scale()))


def probe(reads, writes, work=None, store=-1):
    """The per-case limit: a callable that moves the case's streams -- reads every
    array of ``reads``, writes every array of ``writes`` (an array in both is updated
    in place) -- with no arithmetic, on the threads gradkit gives a kernel of ``work``
    elements (default: the elements of the longest stream), with the store kind the
    kernels choose (``store=-1``; 1 non-temporal, 0 ordinary).  Time it beside the
    kernel: % of limit = probe time / kernel time.

    List only the streams that scale with the problem (x, y, dy, parameters and
    states); per-column weights and per-row statistics stay in cache.
    """
    from .._ext import runtime as _rt
    reads, writes = list(reads), list(writes)
    if work is None:
        work = max(a.size for a in reads + writes)

    def call():
        return _rt.probe_streams(reads, writes, work, store)
    return call
