"""Benchmark engine: the Case type every family's cases use, and the helpers that build
a case's limit.

A ``cases_<family>.py`` module in this package defines ``cases() -> list[Case]`` (the
table of ``gradkit bench``) and, for its memory-bound kernels, ``sweep(n) ->
list[Case]`` (the same kernels at about ``n`` elements, for ``gradkit bench --sweep``).
Each Case times gradkit's callable and, in the same run and interleaved, gradkit with
``out=``, the case's limit (a probe that moves the kernel's streams with no arithmetic),
the NumPy reference and the peer (PyTorch, or scikit-learn for preprocessing)."""
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

# Set by the runner (``run(..., scale=...)``); else ``GRADKIT_BENCH_SCALE``; else 1.
_scale_override = None

# The target share of the limit of every memory-bound kernel.
GOAL_LIMIT = 0.85


@dataclass
class Case:
    op: str                                   # "layer_norm forward"
    size: str                                 # "8192x1024 f32"
    gradkit: Callable[[], object]             # the timed call, as a user writes it
    bytes: Optional[int] = None               # minimal bytes moved (GB/s, information)
    numpy: Optional[Callable[[], object]] = None   # NumPy reference call
    peer: Optional[Callable[[], object]] = None    # torch (or sklearn) call; None if absent
    peer_name: str = "torch"
    quick: bool = False                       # part of `bench --quick`
    goal: str = ""                            # the target as shown, e.g. ">=1.5x warm torch"
    goal_ratio: Optional[float] = None        # target of time(warm peer)/time(gradkit)
    goal_limit: Optional[float] = None        # target of time(limit)/time(gradkit) (0-1)
    extra: dict = field(default_factory=dict)
    family: str = ""                          # filled by the runner from cases_<family>.py
    limit: Optional[Callable[[], object]] = None   # per-case probe: core.probe(reads, writes)
    gradkit_out: Optional[Callable[[], object]] = None  # the gradkit call with out= given
    # The peer without first-touch page faults: ``peer`` itself when the peer writes
    # only arrays it was given (in place, or torch's out=); None: the runner times the
    # peer in a subprocess whose malloc keeps freed blocks (see runner.warm_env).
    peer_warm: Optional[Callable[[], object]] = None
    elements: Optional[int] = None            # problem size in elements (sweep axis)
    goal_time: Optional[float] = None         # target seconds per gradkit call (overhead)
    unfused: Optional[Callable[[], object]] = None  # a fusion's unfused gradkit sequence
    goal_unfused: Optional[float] = None      # target time(unfused) / time(gradkit)
    # what `unfused` is, in the log ("unfused"; "float32" where a 16-bit case is set
    # beside gradkit's float32 kernel on the same shape)
    unfused_name: str = "unfused"


class Lazy:
    """A case's arrays and callables, built on the first call of any of them: listing
    the cases costs no memory, and a case's data go when its last callable does.

    ``build()`` returns ``{key: callable}``; ``lazy[key]`` is a callable that builds on
    first use and calls ``build()[key]`` (the same object for the same key, so
    ``peer_warm=lazy["peer"]`` can say "the peer is warm")."""

    def __init__(self, build):
        self._build, self._fns, self._calls = build, None, {}

    def __getitem__(self, key):
        if key not in self._calls:
            def call():
                if self._fns is None:
                    self._fns = self._build()
                return self._fns[key]()
            self._calls[key] = call
        return self._calls[key]


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
    kernels choose (``store=-1``; 1 non-temporal, 0 ordinary; 2 a constant fill's
    choice).  Time it beside the kernel: % of limit = probe time / kernel time.

    List only the streams that scale with the problem (x, y, dy, parameters and
    states); per-column weights and per-row statistics stay in cache.  The probe
    writes garbage (ORed bytes of what it read) into ``writes``: for a stream the
    kernel updates in place (parameters, states, gradients), give the probe a copy of
    its own, or the kernel goes on with NaN and Inf.  A read-only stream must hold
    written pages (not a fresh ``np.empty``, whose untouched pages all map the zero
    page and never reach memory).
    """
    reads, writes = list(reads), list(writes)
    if work is None:
        work = max(a.size for a in reads + writes)
    return _probe_positions([reads], [writes], work, store)


def _probe_positions(reads, writes, work, store):
    """The probe of one or more positions (``reads[p]``, ``writes[p]``: the streams of
    position p), walked in one parallel region (``runtime.probe_streams``' count)."""
    from .._ext import runtime as _rt
    # An output the case also hands to gradkit as out= gets a buffer of the probe's
    # own: sharing it kept those lines in cache for out= (the probe had just written
    # them) and for the probe alike, but not for the blocks gradkit's output cache
    # gives, which only every other call of the rotation touches -- the cached call was
    # timed against a warmer limit (LayerNorm forward+backward 8192x1024 on an Intel
    # Xeon guest: out= 3.6 ms, cached 4.7, limit 3.3 with the shared buffers; with its
    # own, the limit 5.1, out= 5.3, cached 6.0).  Every callable then writes lines of
    # its own, in the same state.  An array also read is updated in place and stays.
    flat_reads, flat_writes = [], []
    for r, w in zip(reads, writes):
        flat_reads += r
        flat_writes += [a if any(a is b for b in r) else _own_buffer(a) for a in w]
    count = len(reads)

    def call():
        return _rt.probe_streams(flat_reads, flat_writes, work, store, _SCHEDULE[0], count)
    return call


_SCHEDULE = [0]   # the schedule every probe runs with (1 while limit_forms' phased runs)
LIMIT_FORMS = ("limit_walk", "limit_phased")


def limit_forms(limit):
    """A case's limit in its two schedules, to be timed side by side:
    ``{"limit_walk": limit, "limit_phased": ...}``, the second running every probe of
    ``limit`` (one :func:`probe`, :func:`passes`, :func:`probe_each`) phased -- each 2
    KiB step's inputs read before the step is walked (``schedule`` of
    ``runtime.probe_streams``).  Neither order is the fastest on every machine: on an
    AMD EPYC (Zen 5) guest the phased one moved LayerNorm's forward streams 17% faster
    than the walk, and the kernels, which read a row for its statistics before writing
    it, ran up to 27% past the walk.  :func:`pick_limit` keeps the faster."""
    def phased():
        _SCHEDULE[0] = 1
        try:
            return limit()
        finally:
            _SCHEDULE[0] = 0
    return {"limit_walk": limit, "limit_phased": phased}


def pick_limit(times):
    """``times["limit"]``: the faster (by median) of the timed forms of
    :func:`limit_forms` in ``times`` (a :func:`timing.measure` result); the forms stay
    in ``times``.  Returns the name of the form kept, or None when none was timed."""
    timed = [k for k in LIMIT_FORMS if times.get(k)]
    if not timed:
        return None
    best = min(timed, key=lambda k: times[k]["median"])
    times["limit"] = times[best]
    return best


_SCRUB: list[np.ndarray] = []   # the scrub buffer, made once (cache_scrub)


def cache_scrub():
    """A callable that reads a buffer of twice the last-level cache the OS reports, at
    least 8 times the streaming threshold (600 MiB on a guest reporting 300 MiB;
    faulted in once, kept) on gradkit's threads: run between the
    timed batches of a case past the cache, it evicts what the previous callable left
    there -- its data, which the next one would find warm, and its dirty lines, which
    the next one would pay to write back.  On an Intel Xeon guest reporting a 300 MiB
    L3, add_dropout_layer_norm forward on 8192x1024 float32 took 3.9 ms right after
    itself (its 64 MB of inputs still cached), 9.3 ms right after the limit probe, 11.2
    right after the unfused sequence (their dirty outputs written back on its time),
    and 7.0-8.0 ms after a scrub, the probe 3.1, 4.2-7.5 and 6.5-7.2 ms: which callable
    ran before decided the ratio."""
    from .._ext import runtime as _rt
    # Sized on the cache, not the threshold alone: 8 times a 16 MiB threshold (128 MiB)
    # left 32 MB inputs in that guest's cache -- its reads ran at cache speed up to
    # 192 MB, at memory speed from 512 MB.
    want = max(2 * _rt.llc_bytes(), 8 * _rt.get_stream_min_bytes()) // 8 * 8
    if not _SCRUB or _SCRUB[0].nbytes != want:
        _SCRUB[:] = [np.ones(want // 8, np.float64)]
    buf = _SCRUB[0]

    def scrub():
        _rt.probe_streams([buf], [], buf.size)
    return scrub


def _own_buffer(a):
    """A written (faulted-in) array like ``a``, for a probe's output."""
    b = np.empty_like(a)
    b.fill(0)
    return b


def passes(*calls):
    """One callable running ``calls`` in order: the limit of a kernel that must make
    several passes (BatchNorm's statistics before its output, a norm before clipping by
    it), each pass a :func:`probe`."""
    def call():
        for c in calls:
            c()
    return call


def probe_each(reads, writes):
    """The limit of a kernel over lists of arrays (an optimizer step, clipping): the
    positions in turn, all in one parallel region, as the multi-tensor kernels walk a
    list (until 2026-12-07 one :func:`probe` per position, each with its own fork and
    join: on an AMD EPYC (Zen 5) guest LossScaler.unscale_ over 64 arrays ran at 113%
    of that limit).  ``reads`` and ``writes`` are lists of equally long lists of arrays,
    e.g. ``reads=[params, grads, exp_avgs]``, ``writes=[params, exp_avgs]``: array i
    of every list forms position i."""
    n = {len(a) for a in list(reads) + list(writes)}
    if len(n) != 1:
        raise ValueError(f"probe_each: the lists differ in length: {sorted(n)}")
    count = n.pop()
    if count == 0:
        raise ValueError("probe_each: no arrays")
    pos_reads = [[r[i] for r in reads] for i in range(count)]
    pos_writes = [[w[i] for w in writes] for i in range(count)]
    work = sum(max(a.size for a in r + w) for r, w in zip(pos_reads, pos_writes))
    return _probe_positions(pos_reads, pos_writes, work, -1)


def accepts(fn, keyword):
    """Whether ``fn`` takes the keyword argument (e.g. ``out``): a case then times
    that form too, so the bench follows the API as it grows."""
    import inspect
    try:
        return keyword in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def torch_backward(torch, forward, inputs, dy):
    """PyTorch's backward alone, as autograd runs it: ``forward()`` is recorded once
    (on ``inputs``, which require grad) and each call of the result runs
    ``y.backward(dy)`` through the same graph, the gradients reset first."""
    y = forward()

    def call():
        for t in inputs:
            t.grad = None
        y.backward(dy, retain_graph=True)
        return [t.grad for t in inputs]
    return call


def label(shape, dtype="f32"):
    return "x".join(str(s) for s in shape) + f" {dtype}"
