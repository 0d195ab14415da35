"""gradkit.dropout: the kernel against the NumPy twin (bitwise), mask statistics and
layout, backward from the bits and from the seed, eval mode, p = 0 / 1, threads,
chunking, drop_path, the C-level API, bad input."""
import ctypes
import math

import numpy as np
import pytest

import gradkit
from gradkit import dropout as gd
from gradkit.random import Generator
from gradkit.reference import dropout as rd
from gradkit.reference import random as rr
from conftest import placed_past, assert_bitwise_equal, numerical_grad, run_threads
from _half import HALVES

# the fast paths' dtypes: float32, float64 and the 16-bit storages
FAST_DTYPES = pytest.mark.parametrize(
    "dtype", [np.dtype(np.float32), np.dtype(np.float64)] + [np.dtype(h) for h in HALVES],
    ids=["f32", "f64"] + [str(h) for h in HALVES])

SHAPES = [(1,), (7, 13), (3, 5, 33), (100003,), (256, 300), (2, 0)]
PS = [0.0, 0.1, 0.5, 0.9, 1.0]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("p", PS)
def test_matches_reference_bitwise(shape, p, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    g = Generator(31)
    g.set_state({"seed": 31, "counter": 5})       # an unaligned start
    r = rr.Generator(31)
    r.counter = 5
    y, mask = gd.dropout(x, p, rng=g)
    yr, (bits, seed, counter) = rd.dropout(x, p, rng=r)
    assert y.dtype == dtype and y.shape == x.shape
    assert_bitwise_equal(y, yr)
    assert_bitwise_equal(mask.bits, bits)
    assert (mask.seed, mask.counter, mask.p, mask.shape) == (31, 5, p, shape)
    assert g.counter == 5 + x.size


def test_values_and_mask_statistics(rng):
    x = rng.standard_normal(1_000_003).astype(np.float32)
    for p in (0.1, 0.5, 0.8):
        y, m = gd.dropout(x, p, rng=7)
        keep = m.to_bool()
        n = x.size
        assert abs(keep.mean() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
        assert_bitwise_equal(y[keep], x[keep] * np.float32(1 / (1 - p)))
        assert np.all(y[~keep] == 0)
        # neighbours independent: correlation of consecutive keep flags ~ 0
        k = keep.astype(np.float64)
        assert abs(np.corrcoef(k[:-1], k[1:])[0, 1]) < 5 / math.sqrt(n)
        # E[y] = x in expectation: sum(y) close to sum(x) on |x| data
        ay, _ = gd.dropout(np.abs(x), p, rng=8)
        assert abs(ay.astype(np.float64).sum() / np.abs(x).astype(np.float64).sum() - 1) < 0.01


def test_mask_layout(rng):
    x = rng.standard_normal((5, 7)).astype(np.float32)
    y, m = gd.dropout(x, 0.5, rng=3)
    assert m.bits.dtype == np.uint8 and m.bits.shape == (5,)    # ceil(35 / 8)
    keep = (y != 0)
    flat = keep.ravel()
    for i in range(35):                                          # bit i % 8 of byte i // 8
        assert bool((m.bits[i // 8] >> (i % 8)) & 1) == flat[i]
    assert m.bits[-1] >> 3 == 0                                  # unused bits are 0
    assert_bitwise_equal(m.to_bool(), keep)
    assert m.to_bool().shape == (5, 7) and m.stored


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_backward_from_bits_and_from_seed(p, dtype, rng):
    shape = (33, 1001)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    y, m = gd.dropout(x, p, rng=21)
    dx = gd.dropout_backward(dy, m)
    keep = m.to_bool()
    assert_bitwise_equal(dx, rd.dropout_backward(dy, keep, p))
    # no stored mask: regenerated from (seed, counter), bit for bit the same
    y2, m2 = gd.dropout(x, p, rng=21, store_mask=False)
    assert not m2.stored and m2._bits is None
    assert_bitwise_equal(y2, y)
    assert_bitwise_equal(gd.dropout_backward(dy, m2), dx)
    m3 = gd.DropoutMask.from_state(shape, p, m.seed, m.counter)
    assert_bitwise_equal(gd.dropout_backward(dy, m3), dx)
    assert_bitwise_equal(m3.bits, m.bits)
    # in place
    buf = dy.copy()
    assert gd.dropout_backward(buf, m, out=buf) is buf
    assert_bitwise_equal(buf, dx)


def test_backward_is_the_gradient(rng):
    x = rng.standard_normal((4, 6))
    dy = rng.standard_normal((4, 6))
    _, m = gd.dropout(x, 0.4, rng=5)
    num = numerical_grad(lambda v: float(np.sum(gd.dropout(v, 0.4, rng=5)[0] * dy)), x)
    np.testing.assert_allclose(gd.dropout_backward(dy, m), num, rtol=1e-6, atol=1e-8)


def test_eval_mode_identity(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    g = Generator(1)
    y, m = gd.dropout(x, 0.5, training=False, rng=g)
    assert y is x and m is None and g.counter == 0
    out = np.empty_like(x)
    y, m = gd.dropout(x, 0.5, training=False, out=out)
    assert y is out and m is None
    assert_bitwise_equal(out, x)
    assert gd.dropout_backward(x, None) is x


def test_p_zero_and_one(dtype, rng):
    x = rng.standard_normal(70_001).astype(dtype)
    y, m = gd.dropout(x, 0.0, rng=1)
    assert_bitwise_equal(y, x)
    assert m.to_bool().all()
    y, m = gd.dropout(x, 1.0, rng=1)
    assert np.all(y == 0) and not m.to_bool().any()
    assert np.all(gd.dropout_backward(x, m) == 0)


def test_nan_propagates_like_torch():
    x = np.full(64, np.nan, np.float32)
    y, m = gd.dropout(x, 0.5, rng=2)
    assert np.isnan(y).all()   # dropped elements are x * 0, as in PyTorch


def test_threads_bitwise_identical(dtype, rng):
    x = rng.standard_normal((97, 1031)).astype(dtype)

    def run():
        y, m = gd.dropout(x, 0.3, rng=Generator(9))
        return y, m.bits, gd.dropout_backward(x, m), gd.dropout_backward(
            x, gd.DropoutMask.from_state(m.shape, m.p, m.seed, m.counter))

    one, two = run_threads(run)
    assert_bitwise_equal(one, two)


@pytest.mark.parametrize("n1", [1, 7, 8, 4095, 4097, 30001])
def test_chunking_independence(n1, rng):
    """One word per element: dropout of x equals dropout of x[:n1] then x[n1:] drawn
    from the same generator, for any split."""
    x = rng.standard_normal(70_000).astype(np.float32)
    whole, mw = gd.dropout(x, 0.3, rng=Generator(6))
    g = Generator(6)
    a, ma = gd.dropout(x[:n1], 0.3, rng=g)
    b, mb = gd.dropout(x[n1:], 0.3, rng=g)
    assert_bitwise_equal(np.concatenate([a, b]), whole)
    assert_bitwise_equal(np.concatenate([ma.to_bool(), mb.to_bool()]), mw.to_bool())


def test_out_non_contiguous_and_inputs_untouched(rng):
    base = rng.standard_normal((40, 50)).astype(np.float32)
    x = base[:, ::2]
    keep = x.copy()
    y, m = gd.dropout(x, 0.5, rng=4)
    assert_bitwise_equal(x, keep)
    assert_bitwise_equal(y, rd.dropout(np.ascontiguousarray(x), 0.5, rng=4)[0])
    buf = np.ascontiguousarray(x)
    y2, _ = gd.dropout(buf, 0.5, rng=4, out=buf)
    assert y2 is buf
    assert_bitwise_equal(buf, y)


# ---- drop_path ------------------------------------------------------------------------------

def test_drop_path(dtype, rng):
    x = rng.standard_normal((64, 3, 5)).astype(dtype)
    y, keep = gd.drop_path(x, 0.25, rng=12)
    yr, kr = rd.drop_path(x, 0.25, rng=12)
    assert keep.dtype == bool and keep.shape == (64,)
    assert_bitwise_equal(keep, kr)
    assert_bitwise_equal(y, yr)
    assert_bitwise_equal(y[keep], x[keep] * dtype.type(1 / 0.75))
    assert np.all(y[~keep] == 0)
    dy = rng.standard_normal(x.shape).astype(dtype)
    assert_bitwise_equal(gd.drop_path_backward(dy, keep, 0.25), rd.drop_path_backward(dy, keep, 0.25))
    # eval and p = 0: x itself, everything kept (timm)
    for kw in ({"training": False}, {}):
        p = 0.25 if kw else 0.0
        y0, k0 = gd.drop_path(x, p, **kw)
        assert y0 is x and k0.all()
    y1, k1 = gd.drop_path(x, 1.0, rng=1)
    assert np.all(y1 == 0) and not k1.any()
    kk = gd.drop_path(np.zeros((200_000, 1)), 0.3, rng=3)[1]
    assert abs(kk.mean() - 0.7) < 5 * math.sqrt(0.21 / kk.size)


@pytest.mark.parametrize("shape", [(1,), (1, 1), (7,), (5, 1), (3, 1023), (9, 17, 3),
                                   (4097, 5), (2, 4096 * 2 + 3), (1100, 1024 * 4 + 1)])
def test_drop_path_matches_reference(dtype, shape):
    # samples that straddle the kernel's tiles, widths not a multiple of 8, and outputs
    # past 16 MiB (streamed stores, from a misaligned start when a sample is odd-sized)
    rng = np.random.default_rng(len(shape) + shape[0])
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[::97] = np.nan
    x.flat[1::89] = -np.inf
    x.flat[2::83] = -0.0
    with np.errstate(invalid="ignore"):     # NaN and Inf times 0 on dropped samples
        yr, kr = rd.drop_path(x, 0.4, rng=21)
        dxr = rd.drop_path_backward(x, kr, 0.4)
    for y, keep, dx in run_threads(lambda: gd.drop_path(x, 0.4, rng=21)
                                   + (gd.drop_path_backward(x, kr, 0.4),), (1, 3)):
        assert_bitwise_equal(keep, kr)
        assert_bitwise_equal(y, yr)
        assert_bitwise_equal(dx, dxr)


def test_drop_path_layouts(dtype):
    rng = np.random.default_rng(3)
    base = rng.standard_normal((40, 12)).astype(dtype)
    keep = np.arange(40) % 3 != 0
    want = rd.drop_path_backward(base[::2, 1::2], keep[::2], 0.3)
    for dy in (base[::2, 1::2], base[::2, 1::2].astype(dtype.newbyteorder(">"))):
        assert_bitwise_equal(gd.drop_path_backward(dy, keep[::2], 0.3), want)
    ro = base.copy()
    ro.flags.writeable = False
    y, k = gd.drop_path(ro, 0.3, rng=2)
    assert_bitwise_equal(y, rd.drop_path(ro, 0.3, rng=2)[0])
    # keep bytes other than 0/1 (a bool view of uint8) count as kept
    odd = np.where(keep, np.uint8(7), np.uint8(0)).view(bool)
    assert_bitwise_equal(gd.drop_path_backward(base, odd, 0.3),
                         rd.drop_path_backward(base, keep, 0.3))


def test_drop_path_out(dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((33, 7)).astype(dtype)
    y, keep = gd.drop_path(x, 0.3, rng=4)
    buf = np.full_like(x, 9.0)
    y2, keep2 = gd.drop_path(x, 0.3, rng=4, out=buf)
    assert y2 is buf and np.array_equal(keep2, keep)
    assert_bitwise_equal(buf, y)
    inplace = x.copy()
    assert gd.drop_path(inplace, 0.3, rng=4, out=inplace)[0] is inplace
    assert_bitwise_equal(inplace, y)
    dx = gd.drop_path_backward(x, keep, 0.3)
    assert gd.drop_path_backward(x, keep, 0.3, out=buf) is buf
    assert_bitwise_equal(buf, dx)
    ev = np.empty_like(x)
    assert gd.drop_path(x, 0.3, training=False, out=ev)[0] is ev
    assert_bitwise_equal(ev, x)
    for bad in (np.empty((33, 6), dtype), np.empty((33, 7), np.float16)):
        with pytest.raises(ValueError, match="out"):
            gd.drop_path(x, 0.3, rng=4, out=bad)
        with pytest.raises(ValueError, match="out"):
            gd.drop_path_backward(x, keep, 0.3, out=bad)


@FAST_DTYPES
@pytest.mark.parametrize("shape", [(1,), (7,), (0, 3), (5, 0), (9, 4, 3), (100, 1000)])
@pytest.mark.parametrize("store", [True, False], ids=["bits", "seed"])
def test_dropout_fast_path_matches_checked(dtype, shape, store):
    """The compiled common call (training=True, an ndarray x, float p, bool store_mask)
    and the checked path (training a NumPy bool) draw the same words and give the same
    output and mask, into a new array, out= and x itself."""
    x = np.random.default_rng(21).standard_normal(shape).astype(dtype)
    assert gd._k.dropout_fast(x, 0.3, Generator(1), None, store) is not None   # compiled
    results = []
    for flag in (True, np.True_):
        g = Generator(77)
        y, m = gd.dropout(x, 0.3, training=flag, rng=g, store_mask=store)
        out = np.full_like(x, 5.0)
        assert gd.dropout(x, 0.3, training=flag, rng=g, store_mask=store, out=out)[0] is out
        inplace = x.copy()
        assert gd.dropout(inplace, 0.3, training=flag, rng=g, out=inplace)[0] is inplace
        assert type(m) is gd.DropoutMask and m.stored == store
        if store:
            assert not m.bits.flags.writeable
        results.append((y, m.shape, m.p, m.seed, m.counter, m.bits, out, inplace, g.counter))
    assert_bitwise_equal(results[0], results[1])
    assert results[0][4] == 0 and results[0][-1] == 3 * x.size % 2 ** 64


class _SubMask(gd.DropoutMask):
    """A DropoutMask subclass: dropout_backward's checked path takes it, the fast path not."""
    __slots__ = ()


@FAST_DTYPES
@pytest.mark.parametrize("shape", [(1,), (7,), (0, 3), (5, 0), (9, 4, 3), (100, 1000)])
@pytest.mark.parametrize("store", [True, False], ids=["bits", "seed"])
def test_dropout_backward_fast_path_matches_checked(dtype, shape, store):
    """The compiled common call (ndarray dy, a DropoutMask as dropout() made it) and the
    checked path (the same mask as a subclass) give the same bits, into a new array,
    out= and dy itself; a mask rebuilt from its fields takes the fast path too."""
    rng = np.random.default_rng(19)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    _, mask = gd.dropout(x, 0.3, rng=5, store_mask=store)
    sub = _SubMask._trusted(mask.shape, mask.p, mask.seed, mask.counter,
                            mask.bits if store else None)
    want = gd.dropout_backward(dy, sub)
    assert_bitwise_equal(gd.dropout_backward(dy, mask), want)
    rebuilt = gd.DropoutMask(list(mask.shape), np.float64(mask.p), mask.seed, mask.counter,
                             mask.bits if store else None)
    assert_bitwise_equal(gd.dropout_backward(dy, rebuilt), want)
    out = np.full_like(dy, 9.0)
    assert gd.dropout_backward(dy, mask, out=out) is out
    assert_bitwise_equal(out, want)
    inplace = dy.copy()
    assert gd.dropout_backward(inplace, mask, out=inplace) is inplace
    assert_bitwise_equal(inplace, want)
    with pytest.raises(ValueError, match="dy must have the mask's shape"):
        gd.dropout_backward(dy.reshape(-1)[:-1] if dy.size else np.ones(2, dtype), mask)


@FAST_DTYPES
@pytest.mark.parametrize("shape", [(1,), (6,), (0, 3), (5, 0), (9, 4, 3), (100, 1000)])
def test_drop_path_backward_fast_path_matches_checked(dtype, shape):
    """The compiled common call (ndarray dy, bool keep, float p) and the checked path
    (the same call with p a NumPy float and keep a strided view) give the same bits,
    into a new array, out= and dy itself."""
    rng = np.random.default_rng(11)
    dy = rng.standard_normal(shape).astype(dtype)
    keep = rng.random(shape[0]) < 0.6
    want = rd.drop_path_backward(dy, keep, 0.25)
    assert_bitwise_equal(gd.drop_path_backward(dy, keep, 0.25), want)
    strided = np.repeat(keep, 2)[::2]
    assert_bitwise_equal(gd.drop_path_backward(dy, strided, np.float64(0.25)), want)
    out = np.full_like(dy, 9.0)
    assert gd.drop_path_backward(dy, keep, 0.25, out=out) is out
    assert_bitwise_equal(out, want)
    inplace = dy.copy()
    assert gd.drop_path_backward(inplace, keep, 0.25, out=inplace) is inplace
    assert_bitwise_equal(inplace, want)
    for bad_p in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="p"):
            gd.drop_path_backward(dy, keep, bad_p)
    with pytest.raises(TypeError, match="keep"):
        gd.drop_path_backward(dy, keep.astype(np.uint8), 0.25)
    with pytest.raises(ValueError, match="keep"):
        gd.drop_path_backward(dy, keep[:-1] if shape[0] else np.ones(1, bool), 0.25)


def test_drop_path_kernel_checks_its_sizes():
    from gradkit._ext import dropout as k
    x, keep = np.zeros((4, 3), np.float32), np.zeros(4, bool)
    with pytest.raises(ValueError, match="rows"):
        k.drop_path(x, x.copy(), keep, -1, 3, 0.5, 1, 0)
    with pytest.raises(ValueError, match="row_len"):
        k.drop_path_backward(x, keep, x.copy(), 4, -3, 0.5)
    with pytest.raises(ValueError, match="p"):
        k.drop_path_backward(x, keep, x.copy(), 4, 3, 1.5)
    with pytest.raises(ValueError, match="keep"):
        k.drop_path(x, x.copy(), keep[:3], 4, 3, 0.5, 1, 0)


def test_drop_path_bad_input():
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="p"):
        gd.drop_path(x, 1.5)
    with pytest.raises(TypeError, match="keep"):
        gd.drop_path_backward(x, np.ones(4), 0.5)
    with pytest.raises(ValueError, match="keep"):
        gd.drop_path_backward(x, np.ones(3, bool), 0.5)


# ---- the C-level API, through gradkit.capi's exported pointers -------------------------------

def _capi(name, ctype):
    cap = gradkit.capi.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    ptr = get_ptr(cap, get_name(cap))
    proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctype), ctypes.POINTER(ctype),
                             ctypes.POINTER(ctypes.c_ubyte), ctypes.c_ssize_t, ctypes.c_double,
                             ctypes.c_ulonglong, ctypes.c_ulonglong)
    return proto(ptr)


@pytest.mark.parametrize("name,dt,ct", [("gk_dropout_f32", np.float32, ctypes.c_float),
                                        ("gk_dropout_f64", np.float64, ctypes.c_double)])
def test_capi_dropout(name, dt, ct, rng):
    import gradkit.capi  # noqa: F401
    f = _capi(name, ct)
    x = rng.standard_normal(1001).astype(dt)
    y = np.empty_like(x)
    bits = np.empty(126, np.uint8)
    ptr = lambda a, t: a.ctypes.data_as(ctypes.POINTER(t))  # noqa: E731
    assert f(ptr(x, ct), ptr(y, ct), ptr(bits, ctypes.c_ubyte), x.size, 0.3, 77, 12) == 0
    g = Generator(77)
    g.set_state({"seed": 77, "counter": 12})
    yr, m = gd.dropout(x, 0.3, rng=g)
    assert_bitwise_equal(y, yr)
    assert_bitwise_equal(bits, m.bits)
    y2 = np.empty_like(x)
    assert f(ptr(x, ct), ptr(y2, ct), None, x.size, 0.3, 77, 12) == 0   # no mask stored
    assert_bitwise_equal(y2, yr)
    before = y.copy()
    assert f(ptr(x, ct), ptr(y, ct), None, x.size, 1.5, 77, 12) != 0     # p outside [0, 1]
    assert f(ptr(x, ct), ptr(y, ct), None, -1, 0.5, 77, 12) != 0
    assert_bitwise_equal(y, before)


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [-0.1, 1.0001, float("nan"), float("inf")])
def test_p_outside_range(p):
    x = np.ones(10, np.float32)
    with pytest.raises(ValueError, match="p"):
        gd.dropout(x, p)
    with pytest.raises(ValueError, match="p"):
        gd.dropout(x, p, training=False)


def test_bad_input_raises_before_writing(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    out = np.full_like(x, 7)
    g = Generator(1)
    with pytest.raises(TypeError, match="p"):
        gd.dropout(x, "0.5")
    with pytest.raises(TypeError, match="x"):
        gd.dropout(x.astype(np.int32), 0.5, rng=g)
    with pytest.raises(ValueError, match="out"):
        gd.dropout(x, 0.5, rng=g, out=np.empty((4, 3), np.float32))
    with pytest.raises(ValueError, match="out"):
        gd.dropout(x, 0.5, rng=g, out=out.astype(np.float64))
    with pytest.raises(TypeError, match="rng"):
        gd.dropout(x, 0.5, rng=0.5)
    assert g.counter == 0 and np.all(out == 7)
    _, m = gd.dropout(x, 0.5, rng=g)
    with pytest.raises(ValueError, match="dy"):
        gd.dropout_backward(np.ones((4, 3), np.float32), m)
    with pytest.raises(TypeError, match="mask"):
        gd.dropout_backward(x, m.bits)
    with pytest.raises(ValueError, match="bits"):
        gd.DropoutMask((3, 4), 0.5, 1, 0, np.zeros(1, np.uint8))


# ---- issue 10: an immutable mask, re-validated by the backward ----------------------------

def test_mask_is_immutable(rng):
    x = rng.standard_normal((6, 5)).astype(np.float32)
    _, m = gd.dropout(x, 0.5, rng=3)
    for name, value in (("shape", (1000, 1000)), ("p", 1.5), ("seed", 1), ("counter", 9),
                        ("bits", np.zeros(4, np.uint8)), ("_shape", (10**6,)), ("_p", 2.0)):
        with pytest.raises(AttributeError):
            setattr(m, name, value)
    with pytest.raises(AttributeError):
        del m.shape
    assert m.shape == (6, 5) and m.p == 0.5
    assert not m.bits.flags.writeable
    with pytest.raises(ValueError):
        m.bits[0] = 255
    # a mask built from the caller's bits keeps its own copy
    own = m.bits.copy()
    m2 = gd.DropoutMask((6, 5), 0.5, m.seed, m.counter, own)
    own[:] = 0
    assert_bitwise_equal(m2.bits, m.bits)
    assert not gd.DropoutMask.from_state((6, 5), 0.5, 1, 2).bits.flags.writeable
    import pickle
    m3 = pickle.loads(pickle.dumps(m))
    assert (m3.shape, m3.p, m3.seed, m3.counter) == (m.shape, m.p, m.seed, m.counter)
    assert_bitwise_equal(m3.bits, m.bits)


@pytest.mark.parametrize("field,value,exc", [
    ("_shape", (10**6,), ValueError), ("_shape", (2, 15), None), ("_shape", (-1,), ValueError),
    ("_shape", "30", TypeError), ("_p", 1.5, ValueError), ("_p", float("nan"), ValueError),
    ("_seed", -1, ValueError), ("_counter", 2**64, ValueError),
    ("_bits", np.zeros(1, np.uint8), ValueError), ("_bits", np.zeros(4, np.int8), TypeError),
    ("_bits", [0, 0, 0, 0], TypeError)])
def test_backward_revalidates_a_tampered_mask(field, value, exc, rng):
    """Private fields forced past the read-only properties (object.__setattr__) still
    never reach the kernel: the backward checks every field (before: a reassigned shape
    read out of bounds, p = 1.5 gave 'kernel rejected its arguments (code 3)')."""
    x = rng.standard_normal((6, 5)).astype(np.float32)
    _, m = gd.dropout(x, 0.5, rng=3)
    object.__setattr__(m, field, value)
    dy = rng.standard_normal(m._shape if field == "_shape" and exc is None else (6, 5))
    dy = dy.astype(np.float32)
    out = np.full_like(dy, 7)
    if exc is None:  # same element count, other shape: consistent, so it runs
        gd.dropout_backward(dy, m, out=out)
        return
    with pytest.raises(exc, match="mask"):
        gd.dropout_backward(dy, m, out=out)
    assert np.all(out == 7)


@pytest.mark.parametrize("kw,exc,match", [
    (dict(seed=-1), ValueError, "seed"), (dict(seed=2**64), ValueError, "seed"),
    (dict(counter=-5), ValueError, "counter"), (dict(counter=2**70), ValueError, "counter"),
    (dict(seed=1.5), TypeError, "seed"), (dict(seed=True), TypeError, "seed"),
    (dict(p=1.5), ValueError, "p"), (dict(shape=(2**70,)), ValueError, "shape"),
    (dict(shape=(2**40, 2**40)), ValueError, "shape"), (dict(shape=(-2,)), ValueError, "shape")])
def test_mask_constructor_rejects_out_of_range(kw, exc, match):
    args = dict(shape=(3, 4), p=0.5, seed=1, counter=0)
    args.update(kw)
    with pytest.raises(exc, match=match):
        gd.DropoutMask(**args)
    # numpy integers are ints
    m = gd.DropoutMask((np.int64(3), 4), np.float32(0.5), np.uint64(2**63), np.int32(7))
    assert m.shape == (3, 4) and m.seed == 2**63 and m.counter == 7


def test_flags_must_be_bools(rng):
    x = rng.standard_normal(8).astype(np.float32)
    g = Generator(0)
    with pytest.raises(TypeError, match="training"):
        gd.dropout(x, 0.5, training="no", rng=g)
    with pytest.raises(TypeError, match="store_mask"):
        gd.dropout(x, 0.5, store_mask=2, rng=g)
    with pytest.raises(TypeError, match="training"):
        gd.drop_path(x, 0.5, training=None, rng=g)
    assert g.counter == 0
    y, m = gd.dropout(x, 0.5, training=np.bool_(True), rng=g)
    assert m is not None


@pytest.mark.parametrize("shape", [(7, 13), (100003,), (3, 4099)], ids=str)
def test_out_just_past_the_input_mod_4k(shape, dtype, rng, alias_avoidance):
    """An output 1..2047 bytes past its input modulo 4 KiB is written backwards
    (gk_alias_ahead): the bits of any other placement, forward (stored and seed-only
    mask), backward and drop_path."""
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    keep = np.arange(shape[0]) % 3 > 0
    y0, m0 = gd.dropout(x, 0.3, rng=5)
    ys0, ms0 = gd.dropout(x, 0.3, rng=5, store_mask=False)
    dx0, dxs0 = gd.dropout_backward(dy, m0), gd.dropout_backward(dy, ms0)
    dp0 = gd.drop_path_backward(dy, keep, 0.25)
    for off in (8, 16, 48, 64, 2040, 4096 + 32):
        y, m = gd.dropout(x, 0.3, rng=5, out=placed_past(x, off))
        assert_bitwise_equal(y, y0)
        assert_bitwise_equal(m.bits, m0.bits)
        assert_bitwise_equal(gd.dropout(x, 0.3, rng=5, store_mask=False,
                                        out=placed_past(x, off))[0], ys0)
        assert_bitwise_equal(gd.dropout_backward(dy, m0, out=placed_past(dy, off)), dx0)
        assert_bitwise_equal(gd.dropout_backward(dy, ms0, out=placed_past(dy, off)), dxs0)
        assert_bitwise_equal(gd.drop_path_backward(dy, keep, 0.25,
                                                   out=placed_past(dy, off)), dp0)


def test_streamed_output_at_every_line_offset(dtype):
    """Streamed outputs (a threshold of 1 MiB here) at every element offset from a
    line: float32 on AVX-512 streams 16 elements (a line) a step from a line-aligned
    output; the others go through the chunk buffer, whose lines are shifted into the
    output's (gk_nt_shift on AVX-512, the line-carrying copy gk_nt_run elsewhere); the
    bytes around the output are left alone."""
    itemsize = np.dtype(dtype).itemsize
    n = (1 << 20) // itemsize + 4099
    x = np.random.default_rng(3).standard_normal(n).astype(dtype)
    previous = gradkit.set_stream_threshold(1 << 20)
    try:
        for off in range(0, 64, itemsize):
            buf = np.full(n * itemsize + 192, 0xA5, np.uint8)
            lead = -buf.ctypes.data % 64 + 64 + off
            out = buf[lead:lead + n * itemsize].view(dtype)
            g, r = Generator(17), rr.Generator(17)
            y, m = gd.dropout(x, 0.3, rng=g, out=out)
            yr, (rbits, _, _) = rd.dropout(x, 0.3, rng=r)
            assert y is out
            assert_bitwise_equal(y, yr)
            assert_bitwise_equal(m.bits, rbits)
            ys, _ = gd.dropout(x, 0.3, rng=Generator(17), out=out, store_mask=False)
            assert_bitwise_equal(ys, yr)
            assert (buf[:lead] == 0xA5).all() and (buf[lead + n * itemsize:] == 0xA5).all()
    finally:
        gradkit.set_stream_threshold(previous)
