r"""Data-parallel training over MPI (mpi4py; the optional extra ``gradkit[mpi]``).

Every rank computes gradients on its shard of the batch; :func:`allreduce_` averages
them in place so every rank holds the same gradient, and every rank takes the same
step.  :class:`DistributedOptimizer` wraps any gradkit optimizer so that a training
script changes one line.  gradkit writes no transport: the collectives are MPI's
(``Iallreduce``/``Ibcast``), reached through mpi4py.

Bucketing. An array of the wire dtype (float32/float64) with at least
:data:`DIRECT_BYTES` bytes is reduced where it is, without a copy, in pieces of at most
:data:`PIECE_BYTES` (or ``bucket_mb``, if smaller); the other arrays are packed, in list
order, into contiguous buckets of at most ``bucket_mb`` MiB (an array larger than a
bucket is split across buckets; many small arrays share one). Each bucket is reduced by
one nonblocking ``Iallreduce`` as soon as it is packed, one in flight at a time: the
next bucket is packed while the previous one's collective runs, then that one is waited
for and unpacked (scaled by 1/N, for the mean) at once, while its bytes are in cache.
The layout depends on the list's signature only (so it is the same on every rank) and is
cached with its buffers per signature (count, shapes, dtypes, op, bucket size): a
training loop allocates nothing per step. The cache keeps the last :data:`CACHE_SIZE`
signatures.

Checks.  Before any data moves, every rank's signature (and whether its own arguments
were valid) goes through one tiny collective; a list that differs on some rank, or bad
arguments on some rank, raise on EVERY rank (the offending rank its own error, the
others a ValueError naming that rank) instead of hanging or reducing mismatched bytes.

Importing this module does not import mpi4py; the first call does (see
:mod:`gradkit._mpi`).
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

from . import _mpi
from . import _validation as _v
from . import clip as _clip
from . import optim as _optim
from . import random as _random

if TYPE_CHECKING:
    from ._typing import Arrays, FloatArray

__all__ = ["allreduce_", "broadcast_", "DistributedOptimizer", "rank_generator",
           "CACHE_SIZE", "DIRECT_BYTES", "PIECE_BYTES"]

#: how many list signatures keep their buckets between calls
CACHE_SIZE = 4
#: an array of the wire dtype with at least this many bytes is reduced (or broadcast)
#: where it is, without being copied into a bucket
DIRECT_BYTES = 2**20
#: such an array goes in pieces of at most this many bytes (or ``bucket_mb``, if
#: smaller): a piece small enough to stay in cache between its collective and its
#: unpacking (the mean's scaling).  Measured (2 ranks, MPICH on shared memory, 4 arrays
#: of 16 MiB, the quiet AMD EPYC guest): 25 MiB pieces sum 26 ms / mean 37 ms, 8 MiB
#: 27 / 38 ms, 2 MiB 21-23 / 30-32 ms, 1 MiB 22 / 29 ms, 512 KiB 23 / 32 ms, against
#: 39-40 ms for one raw Allreduce of the 64 MiB.
PIECE_BYTES = 2**20

_OPS = ("mean", "sum", "max", "min", "prod")
_F32, _F64, _U8 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8)
_F16 = np.dtype(np.float16)


def _wire(dt):
    """The dtype an array of dtype `dt` is reduced in, or None if it cannot be.

    float16 and bfloat16 are reduced in float32 (MPI has no bfloat16 type, and a float32
    sum of 16-bit values rounds once, to the 16-bit result, when unpacked)."""
    if dt == _F32 or dt == _F16 or (dt.name == "bfloat16" and dt.kind == "V"):
        return _F32
    if dt == _F64:
        return _F64
    return None


# ---- signatures checked across ranks ------------------------------------------------

def _describe(entry):
    return "None" if entry is None else f"{entry[0]} {entry[1]}"


def _first_difference(sigs, what):
    """A message for the first way some rank's signature differs from rank 0's."""
    (opts0, items0) = sigs[0]
    for r, (opts, items) in enumerate(sigs[1:], 1):
        if opts.keys() != opts0.keys():  # ranks in different calls: a program error
            return (f"rank 0 and rank {r} are in different calls ({sorted(opts0)} vs "
                    f"{sorted(opts)}); every rank must make the same calls in order")
        for key in opts0:
            if opts[key] != opts0[key]:
                return (f"{key} is {opts0[key]!r} on rank 0 but {opts[key]!r} on rank {r}; "
                        "every rank must pass the same")
        if len(items) != len(items0):
            return (f"{what} has {len(items0)} entries on rank 0 but {len(items)} on rank "
                    f"{r}; every rank must pass matching lists")
        for i, (a, b) in enumerate(zip(items0, items)):
            if a != b:
                return (f"{what}[{i}] is {_describe(a)} on rank 0 but {_describe(b)} on "
                        f"rank {r}; every rank must pass matching lists (same count, "
                        "shapes, dtypes, None entries)")
    return None  # equal hashes of different signatures: not reached in practice


def _agree(comm, who, what, local):
    """Run ``local()`` (the rank's own checks; returns ``(signature, payload)``, the
    signature being ``(opts, items)``) and make sure every rank succeeded with the same
    signature, with one collective of a 62-bit hash (a second one, gathering the
    details, only when something is wrong).

    Returns ``(signature, payload)``; raises on every rank if any rank failed or
    differs: the failing rank re-raises its own exception, the others raise ValueError
    naming it."""
    MPI = _mpi.mpi()
    error = sig = payload = None
    try:
        sig, payload = local()
        digest = hashlib.blake2b(repr(sig).encode(), digest_size=8).digest()
        h = int.from_bytes(digest, "little") >> 2
    except (TypeError, ValueError) as exc:
        error, h = exc, 0
    v = np.array([h, -h, error is not None], np.int64)
    comm.Allreduce(MPI.IN_PLACE, v, op=MPI.MAX)
    if v[2] == 0 and v[0] == -v[1]:
        return sig, payload
    info = comm.allgather(("error", f"{type(error).__name__}: {error}") if error is not None
                          else ("ok", sig))
    failed = [(r, msg) for r, (kind, msg) in enumerate(info) if kind == "error"]
    if error is not None:
        raise error
    if failed:
        r, msg = failed[0]
        raise ValueError(f"{who}: rank {r} rejected its arguments ({msg}); every rank "
                         "raises so that none waits for it")
    msg = _first_difference([s for _, s in info], what)
    raise ValueError(f"{who}: {msg or 'the ' + what + ' differ across ranks'}")


_names: dict[Any, str] = {}


def _dtype_name(dt):
    """``str(dt)`` ('float32', 'bfloat16', '>f4'), cached: numpy's is slow."""
    name = _names.get(dt)
    if name is None:
        name = _names[dt] = str(dt)
    return name


def _array_items(arrays, name, *, accept, kinds, writable):
    """``(entries, arrays)`` for a list of arrays (one ndarray counts as a list of one;
    None entries are kept as None): the signature entry ``(dtype, shape)`` of each, and
    the arrays.  ``accept(dtype)`` says whether a dtype is allowed (TypeError saying it
    must be `kinds` if not); ``writable`` whether every array must be writable;
    overlapping arrays raise."""
    if isinstance(arrays, np.ndarray):
        arrays = [arrays]
    elif arrays is None or isinstance(arrays, (str, bytes, dict)) or \
            not hasattr(arrays, "__iter__"):
        raise TypeError(f"{name} must be a list of arrays, got {type(arrays).__name__}")
    arrays = list(arrays)
    items, named = [], []
    for i, a in enumerate(arrays):
        if a is None:
            items.append(None)
            continue
        label = f"{name}[{i}]"
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{label} must be a numpy array (it is modified in place), got "
                            f"{type(a).__name__}")
        if not accept(a.dtype):
            raise TypeError(f"{label} must be {kinds}, got dtype "
                            f"{_v.dtype_name(a.dtype)}")
        if writable and not a.flags.writeable:
            raise ValueError(f"{label} must be writable (it is modified in place)")
        items.append((_dtype_name(a.dtype), a.shape))
        named.append((label, a))
    _v.disjoint(named)
    return items, arrays


# ---- bucket plans ---------------------------------------------------------------------

class _Bucket:
    __slots__ = ("buf", "segments")

    def __init__(self, buf, segments):
        # buf: a contiguous 1-D buffer of the wire dtype, or None for a piece of one
        # array reduced where it is (then one segment, offset 0)
        self.buf = buf
        self.segments = segments  # (array index, first element, end element, offset)


class _Plan:
    """The buckets of one list signature, the same on every rank (they depend on the
    signature only).  An array of the wire dtype with at least :data:`DIRECT_BYTES`
    bytes is reduced where it is (no copy), in pieces of at most ``capacity`` bytes;
    the others fill, in list order, one open packed bucket per wire dtype of
    ``capacity`` bytes, closed (and sent) as soon as it is full, so the first arrays of
    the list go first."""

    def __init__(self, items, wires, direct, capacity):
        self.lock = threading.Lock()
        self.buckets = []
        open_ = {}  # wire dtype -> (segments, elements used) of its open bucket
        for i, (entry, wire) in enumerate(zip(items, wires)):
            if entry is None:
                continue
            size = int(np.prod(entry[1], dtype=np.int64))
            cap = max(1, capacity // wire.itemsize)
            if direct[i]:
                step = max(1, min(capacity, PIECE_BYTES) // wire.itemsize)
                for lo in range(0, size, step):
                    self.buckets.append(_Bucket(None, [(i, lo, min(size, lo + step), 0)]))
                continue
            lo = 0
            while lo < size:  # the array's elements, spread over as many buckets as needed
                segs, used = open_.get(wire, ([], 0))
                hi = min(size, lo + cap - used)
                segs.append((i, lo, hi, used))
                used += hi - lo
                if used == cap:
                    self._close(wire, segs, used)
                    segs, used = [], 0
                open_[wire] = (segs, used)
                lo = hi
        for wire, (segs, used) in open_.items():
            if segs:
                self._close(wire, segs, used)

    def _close(self, wire, segs, used):
        self.buckets.append(_Bucket(np.empty(used, wire), segs))

    def fresh(self):
        """A copy with its own buffers (for a call that finds this plan in use)."""
        other = object.__new__(_Plan)
        other.lock = threading.Lock()
        other.buckets = [_Bucket(None if b.buf is None else np.empty_like(b.buf),
                                 b.segments) for b in self.buckets]
        return other


# One bucket in flight at a time: the next bucket is packed while the previous one's
# collective runs, then that collective is waited for and its bucket unpacked (scaled
# by 1/N, for the mean) at once, while its bytes are still in this core's cache, before
# the next one starts.  Measured with MPICH on shared memory (2 ranks, the 64-array
# list of benchmarks/allreduce.py in 1 MiB pieces, the quiet 2-core AMD EPYC guest,
# 2026-12-05): the sum 27 ms as collectives one after the other against 33 ms with 2 in
# flight, the mean 34 against 45 ms (with 2 in flight a finished piece is unpacked only
# after the next one has moved, out of cache), one Allreduce of all 64 MiB 38 ms.  MPI
# moves the bytes inside its calls between processes on one machine, so a second
# request in flight overlaps nothing; on a network with progress of its own the packing
# of the next bucket still overlaps the transfer.

_plans: OrderedDict[Any, _Plan] = OrderedDict()
_plans_lock = threading.Lock()


def _plan(key, items, wires, capacity):
    """The plan for `key` (built on first use, least recently used evicted; a copy
    with its own buffers if another thread holds it), locked: release ``plan.lock``."""
    key = key + (DIRECT_BYTES, PIECE_BYTES)
    with _plans_lock:
        plan = _plans.get(key)
        if plan is not None:
            _plans.move_to_end(key)
        else:
            direct = [e is not None and _wire_is_own(e[0], w) and
                      w.itemsize * int(np.prod(e[1], dtype=np.int64)) >= DIRECT_BYTES
                      for e, w in zip(items, wires)]
            plan = _plans[key] = _Plan(items, wires, direct, capacity)
            while len(_plans) > CACHE_SIZE:
                _plans.popitem(last=False)
    if not plan.lock.acquire(blocking=False):  # another thread is using its buffers
        plan = plan.fresh()
        plan.lock.acquire()
    return plan


def _wire_is_own(dtype_name, wire):
    return dtype_name == _dtype_name(wire)


def _flat_views(arrays, view=None):
    """Each array as a flat view (C-contiguous ones) or as a contiguous staging copy
    (viewed as `view` if given); returns the views and the ``(original, copy)`` pairs to
    write back."""
    flats, back = [], []
    for a in arrays:
        if a is None:
            flats.append(None)
            continue
        if not a.flags.c_contiguous:
            c = np.ascontiguousarray(a)
            back.append((a, c))
            a = c
        f = a.reshape(-1)
        flats.append(f if view is None else f.view(view))
    return flats, back


def _run(plan, flats, start, to_wire, from_wire):
    """Pack bucket after bucket (``to_wire(bucket_part, array_part)``) while the
    previous bucket's collective (``start(buffer)`` returns a request) is in flight;
    then wait for that one, unpack it (``from_wire(array_part, bucket_part)``; for a
    piece reduced in place both are the same view) and start the packed one.  None for
    to_wire/from_wire: nothing to do on this rank."""
    def unpack(b):
        if from_wire is not None:
            for i, lo, hi, off in b.segments:
                part = flats[i][lo:hi]
                from_wire(part, part if b.buf is None else b.buf[off:off + hi - lo])

    flight = None  # (bucket, request) in flight
    for b in plan.buckets:
        if b.buf is None:
            i, lo, hi, _ = b.segments[0]
            send = flats[i][lo:hi]
        else:
            if to_wire is not None:
                for i, lo, hi, off in b.segments:
                    to_wire(b.buf[off:off + hi - lo], flats[i][lo:hi])
            send = b.buf
        if flight is not None:
            flight[1].Wait()
            unpack(flight[0])
        flight = (b, start(send))
    if flight is not None:
        flight[1].Wait()
        unpack(flight[0])


# ---- allreduce_ -------------------------------------------------------------------------

def _bucket_bytes(bucket_mb, name="bucket_mb"):
    mb = _v.positive_float(bucket_mb, name)
    return max(1, int(mb * 2**20))


def _reduce_plan(arrays, comm, op, bucket_mb, precheck):
    """The checks of an allreduce, agreed across ranks: ``(arrays, signature items,
    bucket capacity in bytes)``."""
    def local():
        _v.choice(op, "op", _OPS)
        capacity = _bucket_bytes(bucket_mb)
        items, arrs = _array_items(arrays, "arrays", accept=lambda d: _wire(d) is not None,
                                   kinds="float16, bfloat16, float32 or float64 (native "
                                   "byte order)", writable=True)
        if precheck is not None:
            precheck()
        return ({"op": op, "bucket_mb": capacity}, tuple(items)), arrs

    (opts, items), arrs = _agree(comm, "allreduce_", "arrays", local)
    return arrs, items, opts["bucket_mb"]


def allreduce_(arrays: Arrays, comm: Any = None, op: str = "mean",
               bucket_mb: float = 25) -> None:
    r"""Reduce every array across the ranks of ``comm``, in place.

    With ``op="mean"`` (the gradient average of data parallelism) every rank ends with

    .. math:: a \leftarrow \frac{1}{N} \sum_{r=0}^{N-1} a^{(r)}

    (``"sum"`` without the division; ``"max"``, ``"min"``, ``"prod"`` elementwise).
    The sum is MPI's, in the wire dtype (float32 for float16/bfloat16/float32 arrays,
    float64 for float64), in an order the MPI library chooses: it differs from a
    sequential sum by round-off (at most about ``(N-1)·eps·Σ|a^{(r)}|`` per element), and
    MPICH gives every rank the same bits.

    The mean is that sum times :math:`1/N`, both rounded to the wire dtype, computed
    after the reduction (as a bucket is unpacked, or as a piece reduced in place
    completes) identically on every rank, so every rank keeps the same bits; 16-bit
    arrays are rounded once more, from float32, when unpacked.  For N a power of two
    :math:`1/N` is exact and the result has the bits of the sum divided by N; otherwise
    its relative error against the exact quotient is at most :math:`2u` (:math:`u` the
    wire dtype's unit roundoff, ``eps/2``), where a division would give :math:`u`.  A
    multiplication because vector division is several times slower on common CPUs (on
    the AMD EPYC this was tuned on, 64 MiB of float32 in cache: 10 ms divided, 2.5 ms
    multiplied).  Order: PyTorch's DDP divides each rank's gradient by N *before* its
    allreduce (``tensor.div_(world_size)`` in the default hook), to keep float16 sums
    from overflowing; gradkit scales after, since it sums 16-bit arrays in float32,
    where a sum of N 16-bit values cannot overflow.  For N a power of two both orders
    give the same bits, barring results within a factor N of the wire dtype's
    subnormal range (which dividing first rounds) and float32/float64 sums that
    overflow (which dividing first avoids).

    Parameters
    ----------
    arrays : list of ndarray, or one ndarray
        float16, bfloat16, float32 or float64 (dtypes may mix), modified in place; None
        entries are skipped (their positions must match across ranks).  Any strides
        work (non-contiguous arrays go through a contiguous copy written back); arrays
        must be writable, in native byte order and must not overlap.  Every rank must
        pass the same count, shapes and dtypes.
    comm : mpi4py.MPI.Intracomm or None
        None is ``MPI.COMM_WORLD``.
    op : {"mean", "sum", "max", "min", "prod"}
    bucket_mb : float
        Bucket size in MiB (of the wire dtype), > 0; the same on every rank.  Arrays of
        the wire dtype with at least :data:`DIRECT_BYTES` bytes are reduced where they
        are (no copy), in pieces of at most this size and :data:`PIECE_BYTES`; the
        others are packed.

    Raises
    ------
    TypeError, ValueError
        On every rank, before any data moves, if some rank's arguments are invalid or
        its list differs from rank 0's (the message names the rank and the entry).
    """
    _allreduce(arrays, _mpi.comm_or_world(comm), op, bucket_mb)


def _allreduce(arrays, comm, op, bucket_mb, precheck=None):
    """allreduce_ on a checked comm; ``precheck()`` runs with the local checks, so its
    exception also raises on every rank."""
    arrs, items, capacity = _reduce_plan(arrays, comm, op, bucket_mb, precheck)
    MPI = _mpi.mpi()
    wires = [None if e is None else _wire(a.dtype) for e, a in zip(items, arrs)]
    plan = _plan(("allreduce", items, capacity), items, wires, capacity)
    try:
        flats, back = _flat_views(arrs)
        mpi_op = {"mean": MPI.SUM, "sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN,
                  "prod": MPI.PROD}[op]
        inv_n = 1.0 / comm.Get_size()

        def from_wire(dst, src):
            if op == "mean":  # the sum times 1/N in the wire dtype, rounded to dst's
                np.multiply(src, src.dtype.type(inv_n), out=dst, casting="unsafe")
            elif dst is not src:
                np.copyto(dst, src, casting="unsafe")

        _run(plan, flats, lambda buf: comm.Iallreduce(MPI.IN_PLACE, buf, mpi_op),
             np.copyto, from_wire)
        for original, copy in back:
            original[...] = copy
    finally:
        plan.lock.release()


# ---- broadcast_ ----------------------------------------------------------------------

def broadcast_(arrays: Arrays, root: int = 0, comm: Any = None, *,
               bucket_mb: float = 25) -> None:
    """Copy the arrays of rank ``root`` into the arrays of every other rank, in place.

    For the start of data-parallel training: parameters (and buffers such as running
    statistics) made identical on every rank.  Any numeric or bool dtype (the bytes are
    sent as they are), any strides; None entries are skipped.  The arrays of ``root``
    are only read; every other rank's must be writable and must not overlap.  Bucketed
    like :func:`allreduce_` (one nonblocking ``Ibcast`` per bucket).

    Parameters
    ----------
    arrays : list of ndarray or one ndarray
        The same count, shapes and dtypes on every rank.
    root : int
        The rank whose values everyone gets, in ``[0, comm.size)``.
    comm : mpi4py.MPI.Intracomm or None
        None is ``MPI.COMM_WORLD``.
    bucket_mb : float
        Bucket size in MiB, > 0.

    Raises
    ------
    TypeError, ValueError
        On every rank, before any data moves, as :func:`allreduce_`.
    """
    comm = _mpi.comm_or_world(comm)
    rank, size = comm.Get_rank(), comm.Get_size()

    def local():
        r = _v.integer(root, "root", 0, size - 1)
        capacity = _bucket_bytes(bucket_mb)
        items, arrs = _array_items(arrays, "arrays",
                                   accept=lambda d: d.kind in "biufcV" and d.hasobject
                                   is False, kinds="numeric or bool",
                                   writable=r != rank)
        return ({"root": r, "bucket_mb": capacity}, tuple(items)), arrs

    (opts, items), arrs = _agree(comm, "broadcast_", "arrays", local)
    r = opts["root"]
    wires = [None if a is None else _U8 for a in arrs]
    # the plan counts bytes: the signature's shapes become byte counts
    byte_items = tuple(None if a is None else ("uint8", (a.nbytes,)) for a in arrs)
    plan = _plan(("broadcast", items, opts["bucket_mb"]), byte_items, wires,
                 opts["bucket_mb"])
    try:
        flats, back = _flat_views(arrs, view=_U8)
        root_copies = rank == r

        def copy(dst, src):
            if dst is not src:
                dst[...] = src

        _run(plan, flats, lambda buf: comm.Ibcast(buf, root=r),
             copy if root_copies else None, None if root_copies else copy)
        if not root_copies:
            for original, c in back:
                original[...] = c
    finally:
        plan.lock.release()


# ---- randomness -----------------------------------------------------------------------

def rank_generator(seed: Any, comm: Any = None) -> _random.Generator:
    """This rank's own random stream: child ``rank`` of ``Generator(seed).spawn(size)``.

    For dropout masks and data order that must differ between ranks; initialize the
    parameters from ``Generator(seed)`` itself (the same numbers on every rank).  The
    children of one seed are independent streams (see :meth:`Generator.spawn`), and
    rank ``r`` of a run with N ranks always gets the same one.

    Parameters
    ----------
    seed : int or gradkit.random.Generator
        A seed in ``[0, 2**64)``, or a generator (its ``spawn`` is used, which advances
        its spawn count by ``size`` — do it on every rank alike).
    comm : mpi4py.MPI.Intracomm or None
    """
    comm = _mpi.comm_or_world(comm)
    parent = seed if isinstance(seed, _random.Generator) else _random.Generator(
        _v.uint64(seed, "seed"))
    return parent.spawn(comm.Get_size())[comm.Get_rank()]


# ---- DistributedOptimizer ------------------------------------------------------------

class DistributedOptimizer:
    """Wrap a gradkit optimizer so that ``step(grads)`` averages the gradients across
    ranks (:func:`allreduce_`, in place) and then steps: every rank takes the same step.

    A training script changes one line::

        opt = DistributedOptimizer(AdamW(model.params, lr=1e-3))

    Everything else reads and writes the wrapped optimizer (``param_groups``, so
    schedulers work; ``state_dict``; ...).  Composition:

    * clipping: ``opt.step(grads, max_norm=1.0)`` clips by the norm of the AVERAGED
      gradient (identical on every rank, returned).  To call ``clip_grad_norm_``
      yourself, average first with ``opt.synchronize(grads)``; the next ``step`` with
      the same arrays then does not average again.
    * :class:`gradkit.amp.LossScaler`: ``scaler.step(opt, grads, ...)`` unscales the
      local gradients, then asks this optimizer for the verdict of all ranks (the
      found-inf flag is reduced with MAX), so every rank skips, or steps, together and
      the scale stays the same on every rank.

    Parameters
    ----------
    optimizer : a gradkit optimizer (anything with ``step(grads, **kwargs)``)
    comm : mpi4py.MPI.Intracomm or None
        None is ``MPI.COMM_WORLD``.
    op : {"mean", "sum"}
        "sum" when each rank already weighted its gradient (e.g. uneven shards: the
        loss of a shard of n_r samples scaled by n_r / n_global).
    bucket_mb : float
        Bucket size of the allreduce, MiB.
    """

    def __init__(self, optimizer: Any, comm: Any = None, *, op: str = "mean",
                 bucket_mb: float = 25) -> None:
        if not callable(getattr(optimizer, "step", None)):
            raise TypeError(f"optimizer must have a step(grads) method, got "
                            f"{type(optimizer).__name__}")
        if isinstance(optimizer, DistributedOptimizer):
            raise TypeError("optimizer is already a DistributedOptimizer")
        self.optimizer = optimizer
        self.comm = _mpi.comm_or_world(comm)
        self.op = _v.choice(op, "op", ("mean", "sum"))
        self.bucket_mb = _v.positive_float(bucket_mb, "bucket_mb")
        self._synced: Optional[list[Any]] = None  # the arrays synchronize() averaged

    # the wrapped optimizer's attributes (param_groups, defaults, state_dict, ...)
    def __getattr__(self, name: str) -> Any:
        if name == "optimizer":  # not set yet (during unpickling)
            raise AttributeError(name)
        return getattr(self.optimizer, name)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    def _local_check(self, grads, kwargs):
        check = getattr(self.optimizer, "_check_step", None)
        if callable(check):
            check(grads)
        if kwargs.get("max_norm") is not None:
            _clip._clip_args(kwargs["max_norm"], kwargs.get("norm_type", 2.0),
                             kwargs.get("error_if_nonfinite", False), positive=True)
        if kwargs.get("grad_scale") is not None:
            _v.finite_real(kwargs["grad_scale"], "grad_scale")

    def synchronize(self, grads: Sequence[Optional[FloatArray]]) -> None:
        """Average ``grads`` across ranks in place (checked against the optimizer on
        every rank first), and remember them: the next :meth:`step` with these same
        arrays steps without averaging again."""
        _allreduce(grads, self.comm, self.op, self.bucket_mb,
                   precheck=lambda: self._local_check(grads, {}))
        self._synced = [g for g in grads if g is not None]

    def _is_synced(self, grads):
        synced, self._synced = self._synced, None
        if synced is None:
            return False
        mine = [g for g in grads if g is not None]
        return len(mine) == len(synced) and all(a is b for a, b in zip(mine, synced))

    def step(self, grads: Sequence[Optional[FloatArray]], **kwargs: Any) -> Any:
        """Average ``grads`` across ranks unless :meth:`synchronize` just did, then
        ``optimizer.step(grads, **kwargs)`` (e.g. ``max_norm=``: the clip of the
        averaged gradient).  Returns what the optimizer's step returns.

        With a gradkit optimizer and ``op="mean"`` the arrays are SUMMED across ranks
        in place and the ``1/N`` of the mean is folded into the step
        (``Optimizer.step(grad_scale=1/N)``: each gradient element is multiplied as the
        step reads it), which saves a pass over all gradients; the step is the same, to
        round-off, and ``grads`` hold the sum afterwards.  Call :meth:`synchronize`
        first to have them hold the mean.  Any other optimizer gets averaged arrays."""
        if self._is_synced(grads):
            return self.optimizer.step(grads, **kwargs)
        fold = self.op == "mean" and isinstance(self.optimizer, _optim.Optimizer)
        _allreduce(grads, self.comm, "sum" if fold else self.op, self.bucket_mb,
                   precheck=lambda: self._local_check(grads, kwargs))
        if fold:
            scale = 1.0 / self.comm.Get_size()
            if kwargs.get("grad_scale") is not None:
                scale *= _v.finite_real(kwargs["grad_scale"], "grad_scale")
            kwargs["grad_scale"] = scale
        return self.optimizer.step(grads, **kwargs)

    def _check_step(self, grads: Sequence[Optional[FloatArray]]) -> Any:
        """The wrapped optimizer's checks, agreed across ranks (a collective): what
        LossScaler.step runs before it unscales, so that a bad list raises everywhere."""
        def local():
            check = getattr(self.optimizer, "_check_step", None)
            return ({}, ()), check(grads) if callable(check) else None
        return _agree(self.comm, "DistributedOptimizer.step", "grads", local)[1]

    def _reduce_found_inf(self, found: bool) -> bool:
        """True if some rank found inf/NaN in its gradients (a MAX over ranks): the
        verdict LossScaler uses so that every rank skips the step together."""
        MPI = _mpi.mpi()
        v = np.array([1 if found else 0], np.int64)
        self.comm.Allreduce(MPI.IN_PLACE, v, op=MPI.MAX)
        if v[0]:
            self._synced = None  # the step is skipped: a new one must average again
        return bool(v[0])

    def __repr__(self) -> str:
        return f"DistributedOptimizer({self.optimizer!r}, size={self.comm.Get_size()})"
