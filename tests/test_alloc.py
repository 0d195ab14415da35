"""The cache of large output blocks: gradkit._ext.runtime.empty and its public control
(gradkit.set_cache_limit, gradkit.cache_info, GRADKIT_CACHE_MB), tracemalloc."""
import gc
import math
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

import gradkit
from gradkit import _config
from gradkit._ext import runtime as rt

MIB = 1 << 20


@pytest.fixture
def fresh_cache():
    """An empty cache with a 64 MB limit; the limit is restored afterwards."""
    limit = gradkit.cache_info()["limit_mb"]
    gradkit.set_cache_limit(0)
    gradkit.set_cache_limit(64)
    yield
    gradkit.set_cache_limit(limit)


def _addr(a):
    return a.__array_interface__["data"][0]


def test_empty_is_like_np_empty(fresh_cache):
    for shape, dt in [((1024, 1024), np.float32), ((3, 0, 5), np.float64), ((7,), np.uint8),
                      ((600, 700), np.float64), ((1024, 1024), np.dtype(">f4")),
                      ((np.int64(512), 1024), np.float64), (np.int64(MIB), np.uint8),
                      ([1024, 1024], np.float32)]:
        a = rt.empty(shape, dt)
        assert a.shape == np.empty(shape, dt).shape
        assert a.dtype == dt                               # the dtype whole: byte order
        assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
        a[...] = 1
        assert (a == 1).all()


def test_empty_keeps_user_dtypes(fresh_cache):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    a = rt.empty((1024, 1024), ml_dtypes.bfloat16)
    assert a.dtype == np.dtype(ml_dtypes.bfloat16) and a.base is not None


@pytest.mark.parametrize("shape", [(-1, 2 * MIB), (-2, -MIB), (2**40, 2**40),
                                   (2**62, 4), (1.5, MIB), ("a",), (2**70,)])
def test_empty_bad_shapes_fail_as_numpy_does(fresh_cache, shape):
    """Negative or overflowing sizes are NumPy's to reject (they never reach a block)."""
    with pytest.raises(Exception) as expected:
        np.empty(shape, np.float32)
    with pytest.raises(expected.type):
        rt.empty(shape, np.float32)
    assert gradkit.cache_info()["in_use_blocks"] == 0


def test_blocks_are_aligned(fresh_cache):
    info = gradkit.cache_info()
    a = rt.empty((MIB,), np.float64)
    align = 1 << 21 if "MADV_HUGEPAGE" in info["allocator"] else 64
    assert _addr(a) % align == 0


def test_freed_block_is_reused_only_when_nothing_refers_to_it(fresh_cache):
    start = gradkit.cache_info()
    a = rt.empty((512, 1024), np.float32)  # 2 MiB: cached
    addr = _addr(a)
    view = a[10:20]
    del a
    gc.collect()
    b = rt.empty((512, 1024), np.float32)
    assert _addr(b) != addr  # the view still holds the block
    view[...] = 3  # and its memory is intact
    assert (view == 3).all()
    addr_b = _addr(b)
    del view, b
    gc.collect()
    info = gradkit.cache_info()
    assert info["cached_bytes"] == 2 * (2 * MIB) and info["cached_blocks"] == 2
    assert info["in_use_bytes"] == 0 and info["in_use_blocks"] == 0
    c = rt.empty((1024, 512), np.float32)  # same size, another shape: reused
    assert _addr(c) in (addr, addr_b)
    info = gradkit.cache_info()
    assert info["cached_bytes"] == 2 * MIB and info["cached_blocks"] == 1
    assert info["in_use_bytes"] == 2 * MIB and info["in_use_blocks"] == 1
    assert info["misses"] - start["misses"] == 2 and info["hits"] - start["hits"] == 1


def test_limit_bounds_what_is_kept(fresh_cache):
    gradkit.set_cache_limit(3)
    arrays = [rt.empty((MIB,), np.uint8) for _ in range(5)]
    del arrays
    gc.collect()
    info = gradkit.cache_info()
    assert info["cached_bytes"] <= info["limit_bytes"] == 3 * MIB
    assert info["limit_mb"] == 3.0
    gradkit.set_cache_limit(0)
    assert gradkit.cache_info()["cached_bytes"] == 0
    small = rt.empty((10, 10), np.float32)  # below 1 MiB: plain numpy memory
    assert small.base is None
    off = rt.empty((MIB,), np.float32)      # cache off: plain numpy memory too
    assert off.base is None


def test_lowering_the_limit_frees_what_is_above_it(fresh_cache):
    arrays = [rt.empty((MIB,), np.uint8) for _ in range(4)]
    del arrays
    gc.collect()
    assert gradkit.cache_info()["cached_bytes"] == 4 * MIB
    gradkit.set_cache_limit(2.5)
    info = gradkit.cache_info()
    assert info["cached_bytes"] == 2 * MIB and info["cached_blocks"] == 2


def test_a_full_cache_makes_room_for_the_size_in_use(fresh_cache):
    # Outputs of a shape a program no longer uses fill the cache; the blocks freed longest
    # ago make room, so the shape in use now is served from the cache, not fresh memory.
    gradkit.set_cache_limit(4)
    stale = [rt.empty((MIB,), np.uint8) for _ in range(4)]
    del stale
    gc.collect()
    assert gradkit.cache_info()["cached_bytes"] == 4 * MIB
    hits = gradkit.cache_info()["hits"]
    for _ in range(3):
        a = rt.empty((2 * MIB,), np.uint8)
        del a
    info = gradkit.cache_info()
    assert info["hits"] == hits + 2                      # every call after the first
    assert info["cached_bytes"] == 4 * MIB and info["cached_blocks"] == 3
    # a block larger than the whole limit is not kept, and evicts nothing
    big = rt.empty((5 * MIB,), np.uint8)
    del big
    assert gradkit.cache_info()["cached_blocks"] == 3


def test_eviction_frees_the_least_recently_freed_size_first(fresh_cache):
    gradkit.set_cache_limit(6)
    a, b = rt.empty((2 * MIB,), np.uint8), rt.empty((3 * MIB,), np.uint8)
    del a                       # 2 MiB freed first
    del b                       # then 3 MiB
    c = rt.empty((MIB,), np.uint8)
    del c                       # 6 MiB held: fits
    assert gradkit.cache_info()["cached_bytes"] == 6 * MIB
    d = rt.empty((4 * MIB,), np.uint8)  # a miss; freeing it must evict 2 then 3 MiB
    del d
    info = gradkit.cache_info()
    assert info["cached_bytes"] == 5 * MIB and info["cached_blocks"] == 2
    hits = info["hits"]
    e = rt.empty((MIB,), np.uint8)      # the 1 MiB block is still there
    assert gradkit.cache_info()["hits"] == hits + 1
    del e


def test_set_cache_limit_returns_the_previous_limit(fresh_cache):
    assert gradkit.set_cache_limit(10) == 64.0
    assert gradkit.set_cache_limit(np.float32(0.5)) == 10.0
    assert gradkit.cache_info()["limit_bytes"] == MIB // 2
    assert gradkit.set_cache_limit(np.int64(1)) == 0.5


@pytest.mark.parametrize("bad,exc", [
    (-1, ValueError), (-0.5, ValueError), (math.nan, ValueError), (math.inf, ValueError),
    (_config.MAX_CACHE_MB + 1, ValueError), (1e30, ValueError),
    ("64", TypeError), (None, TypeError), (True, TypeError), ([64], TypeError),
    (1j, TypeError),
])
def test_set_cache_limit_rejects_bad_values_and_changes_nothing(fresh_cache, bad, exc):
    a = rt.empty((MIB,), np.uint8)
    del a
    gc.collect()
    before = gradkit.cache_info()
    with pytest.raises(exc, match="mb must"):
        gradkit.set_cache_limit(bad)
    assert gradkit.cache_info() == before


def test_cache_info_keys():
    info = gradkit.cache_info()
    ints = ["limit_bytes", "cached_bytes", "cached_blocks", "in_use_bytes",
            "in_use_blocks", "hits", "misses", "min_block_bytes", "tracemalloc_domain"]
    for key in ints:
        assert isinstance(info[key], int) and info[key] >= 0, key
    assert isinstance(info["limit_mb"], float)
    assert info["limit_mb"] * MIB == info["limit_bytes"]
    assert info["min_block_bytes"] == MIB
    assert info["allocator"].split()[0] in ("posix_memalign", "_aligned_malloc", "malloc")
    assert gradkit.cache_info is _config.cache_info
    assert "set_cache_limit" in gradkit.__all__ and "cache_info" in gradkit.__all__


def test_blocks_in_use_are_visible_to_tracemalloc(fresh_cache):
    domain = gradkit.cache_info()["tracemalloc_domain"]
    only_gradkit = [tracemalloc.DomainFilter(True, domain)]

    def traced():
        stats = tracemalloc.take_snapshot().filter_traces(only_gradkit).statistics("lineno")
        return sum(s.size for s in stats), stats

    was_tracing = tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        for _ in range(2):      # a fresh block, then the same block from the cache
            a = rt.empty((1024, 1024), np.float32)
            size, stats = traced()
            assert size == 4 * MIB
            assert stats[0].traceback[0].filename == __file__   # who asked for it
            del a
            gc.collect()
            assert traced()[0] == 0     # back in the cache: not the program's memory
        assert gradkit.cache_info()["cached_bytes"] == 4 * MIB
    finally:
        if not was_tracing:
            tracemalloc.stop()


def test_gradkit_outputs_survive_reuse(fresh_cache):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, 512)).astype(np.float32)
    y1, _ = gradkit.layer_norm(x)
    keep = y1.copy()
    y2, _ = gradkit.layer_norm(x * 2)
    assert _addr(y1) != _addr(y2)
    np.testing.assert_array_equal(y1, keep)
    del y1
    y3, _ = gradkit.layer_norm(x)
    np.testing.assert_array_equal(y3, keep)


# ---- GRADKIT_CACHE_MB -------------------------------------------------------------------
# The rule: a number of megabytes from 0 to MAX_CACHE_MB; anything else warns and keeps the
# default.  Never an import error, never a silently disabled cache.
BAD_ENV = ["", "   ", "abc", "64MB", "1e30", "nan", "inf", "-inf", "-5", "-0.5",
           str(_config.MAX_CACHE_MB * 2)]
GOOD_ENV = [("0", 0.0), ("64", 64.0), (" 0.5 ", 0.5), ("1e3", 1000.0),
            (str(_config.MAX_CACHE_MB), float(_config.MAX_CACHE_MB))]


@pytest.fixture
def restore_limit():
    limit = gradkit.cache_info()["limit_mb"]
    gradkit.set_cache_limit(17)
    yield
    gradkit.set_cache_limit(limit)


@pytest.mark.parametrize("text", BAD_ENV)
def test_bad_env_value_warns_and_keeps_the_default(restore_limit, monkeypatch, text):
    monkeypatch.setenv("GRADKIT_CACHE_MB", text)
    with pytest.warns(RuntimeWarning, match="GRADKIT_CACHE_MB"):
        _config._cache_limit_from_env()
    assert gradkit.cache_info()["limit_mb"] == 17.0      # untouched: still the default


@pytest.mark.parametrize("text,mb", GOOD_ENV)
def test_good_env_value_sets_the_limit(restore_limit, monkeypatch, text, mb):
    monkeypatch.setenv("GRADKIT_CACHE_MB", text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _config._cache_limit_from_env()
    assert gradkit.cache_info()["limit_mb"] == mb


def _import_with_env(value):
    code = "import gradkit; print(gradkit.cache_info()['limit_mb'])"
    env = {k: v for k, v in __import__("os").environ.items() if k != "GRADKIT_CACHE_MB"}
    if value is not None:
        env["GRADKIT_CACHE_MB"] = value
    proc = subprocess.run([sys.executable, "-W", "default", "-c", code], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return float(proc.stdout), proc.stderr


@pytest.mark.parametrize("value", ["", "abc", "1e30", "nan", "-1"])
def test_import_survives_a_bad_env_value(value):
    limit, err = _import_with_env(value)
    assert limit == _config.DEFAULT_CACHE_MB
    assert "RuntimeWarning" in err and "GRADKIT_CACHE_MB" in err and repr(value) in err


def test_import_applies_a_good_env_value():
    assert _import_with_env("0")[0] == 0.0
    limit, err = _import_with_env(None)
    assert limit == _config.DEFAULT_CACHE_MB and "GRADKIT_CACHE_MB" not in err
