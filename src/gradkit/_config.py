"""Threads, the output cache and build facts."""
from __future__ import annotations

import contextlib
import operator
import os
import sys
import warnings
from typing import Any, Iterator, Optional

import numpy as np

from ._ext import runtime as _rt

_INT_MAX = 2**31 - 1            # OpenMP takes the thread count as a C int
_MB = 1 << 20
CACHE_ENV = "GRADKIT_CACHE_MB"
DEFAULT_CACHE_MB = _rt.DEFAULT_CACHE_MB
# Largest cache limit (1 PiB): far above any machine's memory, and its bytes still fit a
# 64-bit size.  The limit is a cap on what is kept, never memory reserved up front.
MAX_CACHE_MB = 1 << 30
_NO_OPENMP = ("gradkit was built without OpenMP: the kernels run on one thread, so "
              "{what} has no effect")


# ---- threads ----------------------------------------------------------------------------
def get_num_threads() -> int:
    """Threads the kernels use: OpenMP's ``omp_get_max_threads()``, or 1 in a build
    without OpenMP.

    It follows ``OMP_NUM_THREADS`` and threadpoolctl.  Small inputs run on one thread
    whatever this says, and results never depend on it.
    """
    return _rt.get_num_threads()


def _check_threads(n, what, stacklevel):
    """n as an int in [1, INT_MAX], or TypeError/ValueError naming it; warns when n > 1
    cannot take effect (no OpenMP)."""
    if isinstance(n, bool):
        raise TypeError("n must be an int, got bool")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be an int, got {type(n).__name__}") from None
    if not 1 <= n <= _INT_MAX:
        raise ValueError(f"n must be between 1 and {_INT_MAX}, got {n}")
    if n > 1 and not _rt.have_openmp():
        warnings.warn(_NO_OPENMP.format(what=f"{what}({n})"), RuntimeWarning,
                      stacklevel=stacklevel + 1)
    return n


def set_num_threads(n: int) -> None:
    """Set the threads the kernels use (``omp_set_num_threads``).

    Like OpenMP's own setting, it applies to kernels called from the current Python
    thread (each thread starts from ``OMP_NUM_THREADS`` or the core count).  In a build
    without OpenMP (``gradkit.show_config()["openmp"]`` is False) the kernels always run
    on one thread: ``n > 1`` warns (RuntimeWarning) and ``get_num_threads()`` stays 1.
    """
    _rt.set_num_threads(_check_threads(n, "set_num_threads", stacklevel=2))


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Context manager: run the kernels inside with ``n`` threads, then restore."""
    n = _check_threads(n, "num_threads", stacklevel=3)  # user -> contextlib -> here
    old = get_num_threads()
    _rt.set_num_threads(n)
    try:
        yield
    finally:
        _rt.set_num_threads(old)


# ---- the output cache -------------------------------------------------------------------
def _cache_bytes(mb):
    """mb (a real number of megabytes, 0..MAX_CACHE_MB) as bytes, else TypeError or
    ValueError naming it."""
    if isinstance(mb, bool) or not isinstance(mb, (int, float, np.integer, np.floating)):
        raise TypeError(f"mb must be a number of megabytes, got {type(mb).__name__}")
    value = float(mb)
    if not 0 <= value <= MAX_CACHE_MB:      # NaN fails too
        raise ValueError(f"mb must be between 0 and {MAX_CACHE_MB} (megabytes), got {mb!r}")
    return int(value * _MB)


def set_stream_threshold(nbytes: Optional[int] = None) -> int:
    """Write outputs of at least ``nbytes`` bytes with non-temporal stores; returns the
    previous threshold in bytes.

    A kernel's output that large (and not written over one of its inputs) goes straight
    to memory instead of through the cache: it then costs its size in memory traffic,
    not twice, but is not in cache for the next kernel.  The default, restored by
    ``None``, is ``GRADKIT_STREAM_MIN_BYTES`` from the environment, else half the
    last-level cache the OS reports, at most 16 MiB, and 16 MiB if it reports none (an
    output smaller than the cache still goes to memory in a program whose working set
    is larger, as in training).
    Where the stores go never changes a result.
    """
    if nbytes is not None:
        if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)):
            raise TypeError(f"nbytes must be an int or None, got {type(nbytes).__name__}")
        if not 0 < nbytes < 2 ** 63:
            raise ValueError(f"nbytes must be positive, got {nbytes}")
    previous = _rt.get_stream_min_bytes()
    for mod in _compiled_modules():   # each holds its own copy (_common.pxi)
        mod._set_stream_min_bytes(0 if nbytes is None else int(nbytes))
    return previous


def set_alias_avoidance(on: Optional[bool] = None) -> bool:
    """Whether kernels work around an output lying just past an input modulo 4 KiB
    (1 MiB for the norm backward): elementwise loops walking backwards, the optimizers
    staging their arrays, the norm backward writing dx through a buffer; returns the
    previous setting.

    ``None`` restores the default chosen for the CPU: on, except on AMD family 1Ah
    (Zen 5) CPUs, where the plain loops cost nothing under such aliasing
    (docs/performance.md).  For tests and measurements: it changes the order and route
    of the stores, never a result.
    """
    if on is not None and not isinstance(on, (bool, np.bool_)):
        raise TypeError(f"on must be a bool or None, got {type(on).__name__}")
    previous = bool(_rt._get_alias_avoidance())
    for mod in _compiled_modules():   # each holds its own copy (_stream_threshold.pxi)
        mod._set_alias_avoidance(-1 if on is None else int(on))
    return previous


def _compiled_modules():
    import importlib
    names = ("runtime", "norm", "clip", "random", "dropout", "optim", "regularization",
             "preprocessing", "losses", "gradcheck", "quant", "linear")
    mods = [importlib.import_module(f"gradkit._ext.{n}") for n in names]
    return mods + [importlib.import_module("gradkit.capi")]


def set_cache_limit(mb: float) -> float:
    """Keep at most ``mb`` megabytes (MiB) of freed output blocks for reuse; returns the
    previous limit in MB.

    gradkit allocates large outputs (>= 1 MiB) from a cache of the blocks of freed
    gradkit outputs, so repeated calls do not pay for fresh pages.  Lowering the limit
    frees what is above it at once; ``0`` empties the cache and turns it off.  The
    default is ``GRADKIT_CACHE_MB`` from the environment, else 256.
    """
    nbytes = _cache_bytes(mb)
    previous = _rt.cache_info()["limit_bytes"] / _MB
    _rt.set_cache_limit(nbytes)
    return previous


def cache_info() -> dict[str, Any]:
    """The output cache as a dict:

    ``limit_mb`` / ``limit_bytes``
        the limit (:func:`set_cache_limit`)
    ``cached_bytes``, ``cached_blocks``
        freed blocks held for reuse
    ``in_use_bytes``, ``in_use_blocks``
        blocks under live arrays (these are also reported to :mod:`tracemalloc`, in the
        domain ``tracemalloc_domain``)
    ``hits``, ``misses``
        outputs served from the cache, and fresh allocations
    ``min_block_bytes``
        outputs smaller than this are plain ``np.empty``
    ``allocator``
        how blocks are allocated on this build
    """
    info = _rt.cache_info()
    info["limit_mb"] = info["limit_bytes"] / _MB
    return info


def _cache_limit_from_env():
    """Apply GRADKIT_CACHE_MB.  Rule: a number of megabytes from 0 to MAX_CACHE_MB (0
    turns the cache off); anything else (empty, not a number, negative, NaN, infinite or
    larger) warns and leaves the default.  Never fails the import."""
    text = os.environ.get(CACHE_ENV)
    if text is None:
        return
    try:
        nbytes = _cache_bytes(float(text))
    except ValueError:
        warnings.warn(f"{CACHE_ENV}={text!r} is not a number of megabytes from 0 to "
                      f"{MAX_CACHE_MB}; the output cache keeps its default limit of "
                      f"{DEFAULT_CACHE_MB} MB", RuntimeWarning, stacklevel=2)
        return
    _rt.set_cache_limit(nbytes)


_cache_limit_from_env()


# ---- build facts ------------------------------------------------------------------------
def get_include() -> str:
    """Folder of gradkit's C headers (``gradkit/gradkit.h``), for a C or Cython
    extension's include path.  The Cython declarations (``gradkit/capi.pxd``) sit in the
    installed package, found by Cython through ``sys.path``."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def show_config(print_: bool = False) -> dict[str, Any]:
    """Build and runtime facts: OpenMP, the SIMD kernels built and the one in use,
    threads, compiler and flags.  Returns a dict (and prints it if ``print_``)."""
    from . import __version__
    from ._ext import _buildinfo
    cfg = {
        "version": __version__,
        "openmp": _rt.have_openmp(),
        "simd": _rt.simd_level(),
        "simd_compiled": _rt.simd_compiled(),
        "simd_env": os.environ.get("GRADKIT_SIMD") or None,
        "half_conversions": _rt.half_path(),
        "num_threads": get_num_threads(),
        "stream_min_bytes": _rt.get_stream_min_bytes(),
        "llc_bytes": _rt.llc_bytes(),
        "alias_avoidance": bool(_rt._get_alias_avoidance()),   # set_alias_avoidance
        "cpu_count": os.cpu_count(),
        "compiler": _buildinfo.compiler,
        "build_flags": _buildinfo.build_flags,
        "build_options": _buildinfo.build_options,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }
    if print_:
        width = max(len(k) for k in cfg)
        for k, v in cfg.items():
            print(f"{k:>{width}}: {v}")
    return cfg
