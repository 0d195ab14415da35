"""gradkit.linear (matmul, linear, linear_backward) against its NumPy twin
(gradkit.reference.linear) and exact float64 products: every dtype, shapes that end the
kernel's panels, row groups and step blocks part-way, empty extents, layouts (transposed
views, slices, byte-swapped, unaligned, read-only), threads (bitwise), the SIMD tables,
bad input (nothing written), finite differences."""
import json
import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import gradkit
from gradkit import linear as L
from gradkit.reference import linear as R

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
F16, BF16 = np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)
EPS = {F32: 2.0 ** -24, F64: 2.0 ** -53}


def _data(seed, shape, dt):
    return np.random.default_rng(seed).standard_normal(shape).astype(dt)


def _bound(a, b, dt, extra=0.0):
    """The error bound of a sum of k products rounded in dt: k eps sum |a_r b_r| (the
    blocks and chains only reorder the sum), plus `extra` (a bias) rounded once."""
    k = a.shape[-1]
    mag = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    return (k + 2) * EPS[dt] * (mag + np.abs(extra)) + 1e-300


def _check_product(got, a, b, dt, bias=None):
    exact = a.astype(np.float64) @ b.astype(np.float64)
    if bias is not None:
        exact = exact + bias.astype(np.float64)
    err = np.abs(got.astype(np.float64) - exact)
    assert (err <= _bound(a, b, dt, 0.0 if bias is None else bias)).all(), err.max()


# shapes (m, k, n): 1x1x1; widths around a float32 panel (16) and a tile (48), float64's
# (8, 24); rows around a row group (8, 4 on AVX2); steps around a block (128) and a chain
# (64); long steps
SHAPES = [(1, 1, 1), (3, 5, 7), (9, 17, 15), (8, 64, 16), (17, 127, 49), (33, 128, 48),
          (5, 129, 47), (40, 300, 97), (2, 1000, 3), (64, 65, 25), (7, 2, 200)]


@pytest.mark.parametrize("dt", [F32, F64], ids=str)
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matmul_within_the_rounding_of_a_sum(dt, m, k, n):
    a, b = _data(1, (m, k), dt), _data(2, (k, n), dt)
    c = L.matmul(a, b)
    assert c.dtype == dt and c.shape == (m, n)
    _check_product(c, a, b, dt)
    np.testing.assert_allclose(c, R.matmul(a, b), rtol=1e-4 if dt == F32 else 1e-12,
                               atol=1e-4 if dt == F32 else 1e-12)


@pytest.mark.parametrize("dt", [F32, F64], ids=str)
@pytest.mark.parametrize("m,k,n", SHAPES[::2])
@pytest.mark.parametrize("ta,tb", [(0, 1), (1, 0), (1, 1)])
def test_transposed_views_are_read_in_place_with_the_same_bits(dt, m, k, n, ta, tb):
    a, b = _data(3, (m, k), dt), _data(4, (k, n), dt)
    at = np.ascontiguousarray(a.T).T if ta else a   # a's values, Fortran order
    bt = np.ascontiguousarray(b.T).T if tb else b
    np.testing.assert_array_equal(L.matmul(at, bt), L.matmul(a, b))


@pytest.mark.parametrize("dt", [F32, F64], ids=str)
def test_strided_byteswapped_unaligned_and_readonly_inputs(dt):
    a, b = _data(5, (40, 70), dt), _data(6, (35, 53), dt)
    want = L.matmul(a[:, ::2], b[:, 1:50])
    sw = a.astype(dt.newbyteorder()), b.astype(dt.newbyteorder())
    np.testing.assert_array_equal(L.matmul(sw[0][:, ::2], sw[1][:, 1:50]), want)
    buf = np.empty(a.size * dt.itemsize + 1, np.uint8)
    un = buf[1:].view(dt).reshape(a.shape)
    un[...] = a
    assert not un.flags.aligned
    np.testing.assert_array_equal(L.matmul(un[:, ::2], b[:, 1:50]), want)
    ro_a, ro_b = a.copy(), b.copy()
    ro_a.flags.writeable = ro_b.flags.writeable = False
    np.testing.assert_array_equal(L.matmul(ro_a[:, ::2], ro_b[:, 1:50]), want)


@pytest.mark.parametrize("dt", [F32, F64], ids=str)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape,fan_in,fan_out", [((7, 33), 33, 19), ((2, 3, 50), 50, 130),
                                                 ((1, 1), 1, 1), ((513, 129), 129, 49)])
def test_linear_and_backward_against_the_reference(dt, bias, shape, fan_in, fan_out):
    x, w = _data(7, shape, dt), _data(8, (fan_out, fan_in), dt)
    b = _data(9, fan_out, dt) if bias else None
    y = L.linear(x, w, b)
    assert y.shape == shape[:-1] + (fan_out,) and y.dtype == dt
    x2 = x.reshape(-1, fan_in)
    _check_product(y.reshape(-1, fan_out), x2, w.T, dt, b)
    dy = _data(10, y.shape, dt)
    dx, dw, db = L.linear_backward(dy, x, w, bias_grad=bias)
    dy2 = dy.reshape(-1, fan_out)
    _check_product(dx.reshape(-1, fan_in), dy2, w, dt)
    _check_product(dw, dy2.T, x2, dt)
    rdx, rdw, rdb = R.linear_backward(dy, x, w)
    tol = dict(rtol=1e-4, atol=1e-4) if dt == F32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, rdx, **tol)
    np.testing.assert_allclose(dw, rdw, **tol)
    np.testing.assert_allclose(y, R.linear(x, w, b), **tol)
    if bias:
        # summed in float64, rounded once
        np.testing.assert_array_equal(db, dy2.astype(np.float64).sum(0).astype(dt))
    else:
        assert db is None


@pytest.mark.parametrize("dt", [F32, F64], ids=str)
def test_backward_parts_alone(dt):
    x, w, dy = _data(11, (20, 30), dt), _data(12, (9, 30), dt), _data(13, (20, 9), dt)
    full = L.linear_backward(dy, x, w)
    dx, dw, db = L.linear_backward(dy, x, w, weight_grad=False, bias_grad=False)
    assert dw is None and db is None
    np.testing.assert_array_equal(dx, full[0])
    dx, dw, db = L.linear_backward(dy, x, w, input_grad=False, weight_grad=False)
    assert dx is None and dw is None
    np.testing.assert_array_equal(db, full[2])
    _, dw, db = L.linear_backward(dy, x, w, input_grad=False, bias_grad=False)
    np.testing.assert_array_equal(dw, full[1])


@pytest.mark.parametrize("dt", [F16, BF16], ids=str)
def test_16bit_storage_is_the_float32_product_rounded_once(dt):
    x, w, b = _data(14, (30, 70), dt), _data(15, (21, 70), dt), _data(16, 21, dt)
    y = L.linear(x, w, b)
    assert y.dtype == dt
    y32 = L.linear(x.astype(F32), w.astype(F32), b.astype(F32))
    np.testing.assert_array_equal(y.view(np.uint16), y32.astype(dt).view(np.uint16))
    dy = _data(17, y.shape, dt)
    got = L.linear_backward(dy, x, w)
    want = L.linear_backward(dy.astype(F32), x.astype(F32), w.astype(F32))
    for g, w32 in zip(got, want):
        assert g.dtype == dt
        np.testing.assert_array_equal(g.view(np.uint16), w32.astype(dt).view(np.uint16))
    ref = R.linear(x, w, b)
    assert np.abs(y.astype(F32) - ref.astype(F32)).max() <= 2 * np.abs(ref.astype(F32)).max() * (
        2.0 ** -7 if dt == BF16 else 2.0 ** -10)
    np.testing.assert_array_equal(L.matmul(x, w.T).view(np.uint16),
                                  L.matmul(x.astype(F32), w.T.astype(F32)).astype(dt)
                                  .view(np.uint16))


@pytest.mark.parametrize("dt", [F32, F64], ids=str)
def test_empty_extents(dt):
    z = L.matmul(np.zeros((0, 5), dt), np.zeros((5, 3), dt))
    assert z.shape == (0, 3)
    # no steps: the empty sum, then the bias
    b = np.arange(3, dtype=dt)
    y = L.linear(np.zeros((4, 0), dt), np.zeros((3, 0), dt), b)
    np.testing.assert_array_equal(y, np.broadcast_to(b, (4, 3)))
    np.testing.assert_array_equal(L.matmul(np.zeros((2, 0), dt), np.zeros((0, 6), dt)),
                                  np.zeros((2, 6), dt))
    dx, dw, db = L.linear_backward(np.zeros((0, 3), dt), np.zeros((0, 4), dt),
                                   np.ones((3, 4), dt))
    assert dx.shape == (0, 4)
    np.testing.assert_array_equal(dw, np.zeros((3, 4), dt))
    np.testing.assert_array_equal(db, np.zeros(3, dt))
    # no input features: the bias gradient still sums dy
    dy = _data(18, (5, 3), dt)
    dx, dw, db = L.linear_backward(dy, np.zeros((5, 0), dt), np.zeros((3, 0), dt))
    assert dx.shape == (5, 0) and dw.shape == (3, 0)
    np.testing.assert_array_equal(db, dy.astype(np.float64).sum(0).astype(dt))
    assert L.linear(np.zeros((4, 3), dt), np.zeros((0, 3), dt)).shape == (4, 0)


def _bits(a):
    return None if a is None else (a.dtype, a.shape, a.tobytes())


@pytest.mark.parametrize("dt", [F32, F64, F16, BF16], ids=str)
@pytest.mark.parametrize("xshape,n", [((7, 33), 19), ((2, 3, 50), 13), ((33,), 5),
                                      ((0, 4), 3), ((5, 0), 3), ((2, 3, 0), 4), ((4, 3), 0)],
                         ids=str)
def test_fast_path_matches_the_checked_path(dt, xshape, n):
    """The common call (C-contiguous arrays of one dtype, no out=) runs whole in compiled
    code; the checked path (a strided view of x, which it copies) gives the same bits,
    16-bit included, and the same None entries for the gradients not asked for."""
    k = xshape[-1]
    x, w, b = _data(31, xshape, dt), _data(32, (n, k), dt), _data(33, (n,), dt)
    dy = _data(34, xshape[:-1] + (n,), dt)
    strided = lambda a: np.repeat(a, 2, axis=-1)[..., ::2]   # noqa: E731
    assert not strided(x).flags.c_contiguous or x.size == 0
    for bias in (b, None):
        assert L._k.linear_fast(x, w, bias) is not None
        assert _bits(L.linear(x, w, bias)) == _bits(L.linear(strided(x), w, bias))
    for flags in [(True, True, True), (True, False, False), (False, True, False),
                  (False, False, True), (False, False, False)]:
        assert L._k.linear_backward_fast(dy, x, w, *flags) is not None
        got = L.linear_backward(dy, x, w, input_grad=flags[0], weight_grad=flags[1],
                                bias_grad=flags[2])
        want = L.linear_backward(strided(dy), x, w, input_grad=flags[0],
                                 weight_grad=flags[1], bias_grad=flags[2])
        assert [_bits(a) for a in got] == [_bits(a) for a in want]
        # into the caller's arrays (a layer's gradient buffers), fast and checked alike
        outs = tuple(np.full(shape, 7, dt) if f else None for f, shape in
                     zip(flags, (x.shape, w.shape, (n,))))
        assert L._k.linear_backward_fast(dy, x, w, *flags, outs) is not None
        outs2 = tuple(None if o is None else o.copy() for o in outs)
        got = L.linear_backward(dy, x, w, input_grad=flags[0], weight_grad=flags[1],
                                bias_grad=flags[2], out=outs)
        want = L.linear_backward(strided(dy), x, w, input_grad=flags[0],
                                 weight_grad=flags[1], bias_grad=flags[2], out=outs2)
        assert all(g is o for g, o in zip(got, outs) if o is not None)
        assert [_bits(a) for a in got] == [_bits(a) for a in want]


def test_fast_paths_leave_uncommon_calls_to_the_checked_path():
    x, w, b, dy = _data(1, (4, 6), F32), _data(2, (3, 6), F32), _data(3, (3,), F32), \
        _data(4, (4, 3), F32)
    swapped = lambda a: a.astype(a.dtype.newbyteorder(">"))   # noqa: E731
    for args in [(x.T.copy().T, w, b), (swapped(x), w, b), (x, swapped(w), b),
                 (x, w, swapped(b)), (x, w.astype(F64), b), (x, w, b.astype(F64)),
                 (x, w[:, :5], b), (x, w, b[:2]), (x, w, b[None]), (x.tolist(), w, b),
                 (x, w[None], b), (x.astype(np.int32), w, b), (np.float32(1), w, b)]:
        assert L._k.linear_fast(*args) is None
    for args in [(swapped(dy), x, w), (dy, swapped(x), w), (dy[:, :2], x, w),
                 (dy[:3], x, w), (dy[None], x, w), (dy.astype(F64), x, w),
                 (dy, x, w[:2])]:
        assert L._k.linear_backward_fast(*args, True, True, True) is None
    assert L._k.linear_backward_fast(dy, x, w, 1, True, True) is None
    assert L._k.linear_backward_fast(dy, x, w, True, np.True_, True) is None
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    assert L._k.linear_backward_fast(dy, x, w, True, True, True, (dx, dw, db)) is not None
    ro = np.empty_like(w)
    ro.flags.writeable = False
    both = np.empty(w.size + b.size, F32)
    for out in [[dx, dw, db], (dx, dw), (dx, dw, db, None), (dx.T.copy().T, dw, db),
                (dx, ro, db), (dx, dw, db.astype(F64)), (dx, dw[:2], db), (x, dw, db),
                (dx, w, db), (dy[:, :1].copy(), dw, db), (dx, both[:w.size].reshape(w.shape),
                                                          both[w.size - 1:][:3]),
                (dx, dw, swapped(db)), (dx[None], dw, db)]:
        assert L._k.linear_backward_fast(dy, x, w, True, True, True, out) is None, out
    # an array for a gradient not asked for: the checked path's ValueError
    assert L._k.linear_backward_fast(dy, x, w, True, False, True, (dx, dw, db)) is None
    assert L._k.linear_backward_fast(dy, x, w, True, True, False, (None, dw, db)) is None


@pytest.mark.parametrize("dt", [F32, F64], ids=str)
def test_out_is_written_and_returned(dt):
    x, w, b = _data(19, (6, 2, 40), dt), _data(20, (18, 40), dt), _data(21, 18, dt)
    out = np.full((6, 2, 18), np.nan, dt)
    assert L.linear(x, w, b, out=out) is out
    np.testing.assert_array_equal(out, L.linear(x, w, b))
    c = np.empty((12, 18), dt)
    assert L.matmul(x.reshape(12, 40), w.T, out=c) is c


@pytest.mark.parametrize("dt", [F32, F64, F16, BF16], ids=str)
def test_backward_out_is_written_and_returned(dt):
    x, w, dy = _data(40, (3, 4, 40), dt), _data(41, (18, 40), dt), _data(42, (3, 4, 18), dt)
    want = L.linear_backward(dy, x, w)
    outs = (np.full(x.shape, np.nan, dt), np.full(w.shape, np.nan, dt),
            np.full(18, np.nan, dt))
    got = L.linear_backward(dy, x, w, out=outs)
    for g, o, ref in zip(got, outs, want):
        assert g is o
        np.testing.assert_array_equal(o.view(np.uint8), ref.view(np.uint8))
    # some entries given, others allocated; a gradient not asked for stays None
    dw = np.full(w.shape, np.nan, dt)
    dx, dw2, db = L.linear_backward(dy, x, w, bias_grad=False, out=(None, dw, None))
    assert dw2 is dw and db is None
    np.testing.assert_array_equal(dx.view(np.uint8), want[0].view(np.uint8))
    np.testing.assert_array_equal(dw.view(np.uint8), want[1].view(np.uint8))


def test_backward_bad_out_is_refused_before_anything_is_written():
    x, w, dy = _data(43, (6, 5), F32), _data(44, (3, 5), F32), _data(45, (6, 3), F32)
    dx, dw, db = np.full((6, 5), 7.0, F32), np.full((3, 5), 7.0, F32), np.full(3, 7.0, F32)
    with pytest.raises(ValueError, match=r"out\[1\] \(dweight\) must have shape"):
        L.linear_backward(dy, x, w, out=(dx, np.empty((5, 3), F32), db))
    with pytest.raises(ValueError, match=r"out\[2\] \(dbias\) must have dtype"):
        L.linear_backward(dy, x, w, out=(dx, dw, np.empty(3, F64)))
    with pytest.raises(ValueError, match="bias_grad=False"):
        L.linear_backward(dy, x, w, bias_grad=False, out=(dx, dw, db))
    with pytest.raises(TypeError, match="out must be None or a tuple"):
        L.linear_backward(dy, x, w, out=dx)
    with pytest.raises(TypeError, match="length 2"):
        L.linear_backward(dy, x, w, out=(dx, dw))
    big = np.full(100, 7.0, F32)
    with pytest.raises(ValueError, match="overlaps"):  # two outputs in one buffer
        L.linear_backward(dy, x, w, out=(None, big[:15].reshape(3, 5), big[10:13]))
    with pytest.raises(ValueError, match=r"out\[0\] \(dx\) overlaps x"):
        L.linear_backward(dy, x, w, out=(x, dw, db))
    np.testing.assert_array_equal(dx, 7.0)
    np.testing.assert_array_equal(dw, 7.0)
    np.testing.assert_array_equal(db, 7.0)
    np.testing.assert_array_equal(big, 7.0)


@pytest.mark.parametrize("dt", [F32, F64], ids=str)
def test_threads_give_the_same_bits(dt):
    x, w, b = _data(22, (300, 257), dt), _data(23, (131, 257), dt), _data(24, 131, dt)
    dy = _data(25, (300, 131), dt)
    runs = []
    for nt in (1, 2, 3, 4):
        with gradkit.num_threads(nt):
            runs.append((L.linear(x, w, b),) + L.linear_backward(dy, x, w))
    for r in runs[1:]:
        for a, c in zip(runs[0], r):
            np.testing.assert_array_equal(a, c)


def test_a_large_product_within_its_bound():
    """Many row blocks and several tasks' panels at once (512 x 1024 x 1024)."""
    x, w = _data(26, (512, 1024), F32), _data(27, (1024, 1024), F32)
    _check_product(L.linear(x, w), x, w.T, F32)


def test_bad_input_names_the_argument_and_writes_nothing():
    x, w = _data(28, (4, 5), F32), _data(29, (3, 5), F32)
    out = np.full((4, 3), 7.0, F32)
    with pytest.raises(TypeError, match="weight"):
        L.linear(x, w.astype(F64), out=out)
    with pytest.raises(TypeError, match="bias"):
        L.linear(x, w, np.zeros(3), out=out)
    with pytest.raises(ValueError, match="bias"):
        L.linear(x, w, np.zeros(4, F32), out=out)
    with pytest.raises(ValueError, match="x must have 5 features"):
        L.linear(x[:, :4], w, out=out)
    with pytest.raises(ValueError, match="weight must be 2-D"):
        L.linear(x, w[0], out=out)
    with pytest.raises(ValueError, match="out"):
        L.linear(x, w, out=np.empty((4, 4), F32))
    with pytest.raises(ValueError, match="out"):
        L.linear(x, w, out=np.empty((4, 3), F64))
    with pytest.raises(TypeError, match="x"):
        L.linear(x.astype(np.int32), w)
    with pytest.raises(TypeError, match="x"):
        L.linear(None, w)
    np.testing.assert_array_equal(out, 7.0)
    ro = np.zeros((4, 3), F32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        L.linear(x, w, out=ro)
    with pytest.raises(ValueError, match="dy must have shape"):
        L.linear_backward(np.zeros((4, 2), F32), x, w)
    with pytest.raises(TypeError, match="dy"):
        L.linear_backward(np.zeros((4, 3)), x, w)
    with pytest.raises(TypeError, match="input_grad"):
        L.linear_backward(np.zeros((4, 3), F32), x, w, input_grad="yes")
    with pytest.raises(ValueError, match="b must have 5 rows"):
        L.matmul(x, w)
    with pytest.raises(ValueError, match="a must be 2-D"):
        L.matmul(x[0], w.T)
    with pytest.raises(TypeError, match="b"):
        L.matmul(x, w.T.astype(F64))


@pytest.mark.parametrize("dt", [F32, F64], ids=str)
def test_inputs_are_not_modified(dt):
    x, w, b, dy = (_data(30, (9, 11), dt), _data(31, (6, 11), dt), _data(32, 6, dt),
                   _data(33, (9, 6), dt))
    keep = [a.copy() for a in (x, w, b, dy)]
    L.linear(x, w, b)
    L.linear_backward(dy, x, w)
    for a, k in zip((x, w, b, dy), keep):
        np.testing.assert_array_equal(a, k)


def test_backward_matches_finite_differences():
    """The gradients of L = sum(g * linear(x, W, b)) against centred differences."""
    rng = np.random.default_rng(34)
    x, w, b = rng.standard_normal((5, 7)), rng.standard_normal((4, 7)), rng.standard_normal(4)
    g = rng.standard_normal((5, 4))

    def loss(x_, w_, b_):
        return float(np.sum(g * L.linear(x_, w_, b_)))

    dx, dw, db = L.linear_backward(g, x, w)
    for arr, grad in ((x, dx), (w, dw), (b, db)):
        num = np.empty_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + 1e-6
            up = loss(x, w, b)
            arr[i] = old - 1e-6
            down = loss(x, w, b)
            arr[i] = old
            num[i] = (up - down) / 2e-6
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-7)


def _simd_inputs(dt):
    """x, w, b, dy of the SIMD-table check (the same in the subprocess and here)."""
    rng = np.random.default_rng({"float32": 35, "float64": 36}[dt])
    return (rng.standard_normal((70, 150)).astype(dt), rng.standard_normal((53, 150)).astype(dt),
            rng.standard_normal(53).astype(dt), rng.standard_normal((70, 53)).astype(dt))


_SIMD_CODE = """
import json, sys
sys.path.insert(0, %r)
import gradkit
from gradkit import linear as L
from test_linear import _simd_inputs
out = {"simd": gradkit.show_config()["simd"]}
for dt in ("float32", "float64"):
    x, w, b, dy = _simd_inputs(dt)
    res = (L.linear(x, w, b),) + L.linear_backward(dy, x, w)
    out[dt] = [r.tobytes().hex() for r in res]
print(json.dumps(out))
""" % os.path.dirname(os.path.abspath(__file__))


def _run_simd(simd):
    env = dict(os.environ, GRADKIT_SIMD=simd, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", _SIMD_CODE], env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_every_simd_table_against_the_reference():
    """Each compiled table (BLAS on the baseline one, the tiles on AVX2 and AVX-512)
    within the reference's tolerance; the tables with FMA give the same bits."""
    fma = {}
    for simd in gradkit.show_config()["simd_compiled"]:
        got = _run_simd(simd)
        if got["simd"] != simd:
            continue   # this CPU cannot run it: fell back to a table checked anyway
        for dt in ("float32", "float64"):
            x, w, b, dy = _simd_inputs(dt)
            want = (R.linear(x, w, b),) + R.linear_backward(dy, x, w)
            tol = dict(rtol=1e-4, atol=1e-4) if dt == "float32" else dict(rtol=1e-12, atol=1e-12)
            for h, ref in zip(got[dt], want):
                arr = np.frombuffer(bytes.fromhex(h), dt).reshape(ref.shape)
                np.testing.assert_allclose(arr, ref, **tol)
        if simd != "baseline":
            fma[simd] = (got["float32"], got["float64"])
    assert len(set(map(str, fma.values()))) <= 1
