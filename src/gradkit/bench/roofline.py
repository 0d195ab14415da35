"""This machine's memory roofline, measured by a STREAM-like probe in the same run as the
benchmarks it scores (DESIGN.md, "Performance").

Two kernels on float64 arrays far larger than the last-level cache, on the benchmark's
thread count; bytes are counted as they cross the memory bus:

* scale, ``a[i] = s*a[i] + t`` in place: 16 B per element (read a, write a back);
* copy, ``b[i] = a[i]``: 24 B per element (read a, the write-allocate read of b, write b).

The roofline is the better of the two bandwidths; both are reported.
"""
import glob
import os
import re
import subprocess

import numpy as np

from .._ext import runtime as _rt

SCALE_BYTES_PER_ELEMENT = 16
COPY_BYTES_PER_ELEMENT = 24
MIN_PROBE_BYTES = 256 << 20     # per array, and at least 8x the L3 size
L3_MULTIPLE = 8
_DEFAULT_L3 = 32 << 20          # when the size cannot be read


def _parse_size(text):
    """'32768K' / '32 MiB' / '1.5 MB' -> bytes."""
    m = re.match(r"\s*([\d.]+)\s*([KMG]?)(i?B)?\s*$", text.strip(), re.IGNORECASE)
    if not m:
        return None
    unit = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]
    return int(float(m.group(1)) * unit)


def l3_bytes():
    """Total L3 of the machine (the sum over distinct L3 instances), from /sys, else
    lscpu, else None."""
    instances = {}
    for idx in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cache/index[0-9]*"):
        try:
            with open(os.path.join(idx, "level")) as f:
                if f.read().strip() != "3":
                    continue
            with open(os.path.join(idx, "shared_cpu_list")) as f:
                shared = f.read().strip()
            with open(os.path.join(idx, "size")) as f:
                size = _parse_size(f.read())
        except OSError:
            continue
        if size:
            instances[shared] = size
    if instances:
        return sum(instances.values())
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"^L3 cache:\s*([\d.]+\s*[KMG]i?B)", out, re.MULTILINE)
    return _parse_size(m.group(1)) if m else None


def probe(scale=1.0, reps=10):
    """Measure the roofline on gradkit's current thread count.

    Parameters
    ----------
    scale : float
        Shrinks the arrays (tests only: below 1 the arrays may fit in cache and the
        figure is no longer a memory bandwidth).
    reps : int
        Runs of each kernel; the best is kept (the first also faults the pages in).

    Returns
    -------
    dict
        ``scale_gbs``, ``copy_gbs``, ``roofline_gbs`` (the best), ``array_bytes``,
        ``l3_bytes``, ``threads``.
    """
    l3 = l3_bytes()
    array_bytes = max(MIN_PROBE_BYTES, L3_MULTIPLE * (l3 or _DEFAULT_L3))
    n = max(1024, int(array_bytes * scale) // 8)
    # zeros: the pages are first touched by the (parallel) kernel, and a converges to
    # t/(1-s) without denormals.
    a = np.zeros(n)
    b = np.zeros(n)
    t_scale = _rt.stream_scale(a, reps)
    t_copy = _rt.stream_copy(a, b, reps)
    if not (t_scale > 0 and t_copy > 0):
        raise RuntimeError(f"the roofline probe measured no time (scale {t_scale} s, "
                           f"copy {t_copy} s): its clock does not advance")
    scale_gbs = SCALE_BYTES_PER_ELEMENT * n / t_scale / 1e9
    copy_gbs = COPY_BYTES_PER_ELEMENT * n / t_copy / 1e9
    return {
        "scale_gbs": scale_gbs,
        "copy_gbs": copy_gbs,
        "roofline_gbs": max(scale_gbs, copy_gbs),
        "array_bytes": n * 8,
        "l3_bytes": l3,
        "threads": _rt.get_num_threads(),
    }
