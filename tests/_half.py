"""Shared helpers of the 16-bit storage tests (float16, bfloat16): data, bit patterns,
ulp distances and the "rounded once" check of a 16-bit result against its reference."""
import ml_dtypes
import numpy as np

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
HALVES = (F16, BF16)
F32 = np.dtype(np.float32)


def data(seed, shape, dt, scale=1.0, offset=0.0):
    r = np.random.default_rng(seed)
    return (offset + scale * r.standard_normal(shape)).astype(np.float32).astype(dt)


def ulps(a, b):
    """|a - b| in units in the last place of the 16-bit type (on the ordered bits)."""
    def key(v):
        u = v.view(np.uint16).astype(np.int64)
        return np.where(u & 0x8000, 0x8000 - u, u)  # monotone in the value; -0 == +0
    return np.abs(key(a) - key(b))


def assert_rounded_once(got, ref, scale=0.0):
    """At most 1 ulp, 0 ulp in >= 99% of the elements.  More than 1 ulp only where the
    two float32 computations themselves differ by more than the 16-bit rounding: a
    result near 0 from a cancellation (y = xhat w + b with xhat w ~ -b; dx = rt (g - mean
    g - ...)), whose float32 error is a few float32 ulps of the terms that cancelled
    (`scale`, besides the array's own largest value), while a float16 ulp there is
    far smaller (2^-24 at 1e-4)."""
    assert got.dtype == ref.dtype and got.shape == ref.shape
    if got.size == 0:
        return
    g32, r32 = got.astype(np.float32), ref.astype(np.float32)
    nan = np.isnan(g32)
    assert np.array_equal(nan, np.isnan(r32))
    d = ulps(got[~nan], ref[~nan])
    f32_err = 16 * 2.0**-24 * (np.abs(r32[~nan]).max(initial=0) + scale)
    far = (d > 1) & (np.abs(g32[~nan] - r32[~nan]) > f32_err)
    assert not far.any(), f"max {d.max()} ulp beyond the float32 error"
    assert (d <= 1).mean() >= 0.999 and (d == 0).mean() >= 0.99, (
        f"only {(d == 0).mean():.4f} exact, {(d <= 1).mean():.4f} within 1 ulp")


def bits(a):
    return None if a is None else np.ascontiguousarray(a).view(np.uint8).tobytes()


def _digest_modules():
    """The test modules that call assert_every_simd_table_gives_the_same_bits."""
    import pathlib
    here = pathlib.Path(__file__).parent
    return tuple(sorted(p.stem for p in here.glob("test_*.py")
                        if "assert_every_simd_table_gives_the_same_bits(" in p.read_text()))


# The test modules whose ``_digest()`` (a hash of 16-bit results) runs under each
# compiled SIMD table: one subprocess per table computes all of them, once per session
# (a start-up per table, not per table and module).
SIMD_DIGEST_MODULES = _digest_modules()
_SIMD_DIGESTS = {}   # table -> (table used, {module: digest} or None if it fell back)


def _simd_digests():
    import json
    import os
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import gradkit
    code = ("import sys, os, json, importlib; sys.path.insert(0, %r); import gradkit; "
            "used = gradkit.show_config()['simd']; "
            "d = None if used != os.environ['GRADKIT_SIMD'] else "
            "{m: importlib.import_module(m)._digest() for m in %r}; "
            "print(json.dumps([used, d]))"
            % (os.path.dirname(os.path.abspath(__file__)), SIMD_DIGEST_MODULES))

    def run(simd):
        env = dict(os.environ, GRADKIT_SIMD=simd, OMP_NUM_THREADS="2")
        p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=600)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)
    if not _SIMD_DIGESTS:
        tables = gradkit.show_config()["simd_compiled"]
        with ThreadPoolExecutor(2) as pool:
            _SIMD_DIGESTS.update(zip(tables, pool.map(run, tables)))
    return _SIMD_DIGESTS


def assert_every_simd_table_gives_the_same_bits(module):
    """``module._digest()`` under each compiled SIMD table (GRADKIT_SIMD) gives one
    digest, from at least two tables (baseline and avx2 on any AVX2 machine); a table
    this CPU cannot run falls back to one that is checked already."""
    assert module in SIMD_DIGEST_MODULES, module
    digests = {}
    for simd, (used, found) in _simd_digests().items():
        if found is None:
            assert used != simd
        else:
            digests.setdefault(found[module], []).append(used)
    assert len(digests) == 1, digests
    assert len({u for us in digests.values() for u in us}) >= 2
