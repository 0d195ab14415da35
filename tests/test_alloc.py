"""The cache of large output blocks (gradkit._ext.runtime.empty)."""
import gc

import numpy as np
import pytest

import gradkit
from gradkit._ext import runtime as rt


@pytest.fixture
def fresh_cache():
    _, limit = rt.cache_info()
    rt.set_cache_limit(0)
    rt.set_cache_limit(64 << 20)
    yield
    rt.set_cache_limit(limit)


def test_empty_is_like_np_empty(fresh_cache):
    for shape, dt in [((1024, 1024), np.float32), ((3, 0, 5), np.float64), ((7,), np.uint8),
                      ((600, 700), np.float64)]:
        a = rt.empty(shape, dt)
        assert a.shape == shape and a.dtype == dt
        assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
        a[...] = 1
        assert (a == 1).all()


def test_freed_block_is_reused_only_when_nothing_refers_to_it(fresh_cache):
    a = rt.empty((512, 1024), np.float32)  # 2 MiB: cached
    addr = a.__array_interface__["data"][0]
    view = a[10:20]
    del a
    gc.collect()
    b = rt.empty((512, 1024), np.float32)
    assert b.__array_interface__["data"][0] != addr  # the view still holds the block
    view[...] = 3  # and its memory is intact
    assert (view == 3).all()
    addr_b = b.__array_interface__["data"][0]
    del view, b
    gc.collect()
    assert rt.cache_info()[0] == 2 * (2 << 20)
    c = rt.empty((1024, 512), np.float32)  # same size, another shape: reused
    assert c.__array_interface__["data"][0] in (addr, addr_b)
    assert rt.cache_info()[0] == 2 << 20


def test_limit_bounds_what_is_kept(fresh_cache):
    rt.set_cache_limit(3 << 20)
    arrays = [rt.empty((1 << 20,), np.uint8) for _ in range(5)]
    del arrays
    gc.collect()
    held, limit = rt.cache_info()
    assert held <= limit == 3 << 20
    rt.set_cache_limit(0)
    assert rt.cache_info()[0] == 0
    small = rt.empty((10, 10), np.float32)  # below 1 MiB: plain numpy memory
    assert small.base is None


def test_gradkit_outputs_survive_reuse(fresh_cache):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, 512)).astype(np.float32)
    y1, _ = gradkit.layer_norm(x)
    keep = y1.copy()
    y2, _ = gradkit.layer_norm(x * 2)
    assert y1.__array_interface__["data"][0] != y2.__array_interface__["data"][0]
    np.testing.assert_array_equal(y1, keep)
    del y1
    y3, _ = gradkit.layer_norm(x)
    np.testing.assert_array_equal(y3, keep)
