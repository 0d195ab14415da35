"""Threads and build facts."""
import contextlib
import os
import sys

import numpy as np

from ._ext import runtime as _rt


def get_num_threads():
    """Threads the kernels use: OpenMP's ``omp_get_max_threads()``.

    It follows ``OMP_NUM_THREADS`` and threadpoolctl.  Small inputs run on one thread
    whatever this says, and results never depend on it.
    """
    return _rt.get_num_threads()


def set_num_threads(n):
    """Set the threads the kernels use (``omp_set_num_threads``).

    Like OpenMP's own setting, it applies to kernels called from the current Python
    thread (each thread starts from ``OMP_NUM_THREADS`` or the core count).
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    _rt.set_num_threads(n)


@contextlib.contextmanager
def num_threads(n):
    """Context manager: run the kernels inside with ``n`` threads, then restore."""
    old = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        _rt.set_num_threads(old)


def get_include():
    """Folder of gradkit's C headers (``gradkit/gradkit.h``), for a C or Cython
    extension's include path.  The Cython declarations (``gradkit/capi.pxd``) sit in the
    installed package, found by Cython through ``sys.path``."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def show_config(print_=False):
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
        "num_threads": get_num_threads(),
        "cpu_count": os.cpu_count(),
        "compiler": _buildinfo.compiler,
        "build_flags": _buildinfo.build_flags,
        "build_options": _buildinfo.build_options,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }
    if print_:
        for k, v in cfg.items():
            print(f"{k:>14}: {v}")
    return cfg
