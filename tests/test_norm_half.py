"""The norm family in 16-bit storage (float16, bfloat16): LayerNorm, RMSNorm, BatchNorm
forward and backward against the reference (float32 math on the widened inputs,
rounded once), bitwise against gradkit's float32 kernel on the widened inputs, against
float64 finite differences, in every layout, thread count and SIMD table."""
import hashlib

import ml_dtypes
import numpy as np
import pytest

import gradkit
from gradkit import norm as N
from gradkit.reference import norm as R
from _half import (BF16, F16, F32, HALVES, assert_every_simd_table_gives_the_same_bits,
                   assert_rounded_once, bits, data as _data)

# the tolerance of a 16-bit gradient against float64 finite differences, relative to
# the largest |dx|: a few units of the type's rounding (2^-8 bfloat16, 2^-11 float16)
# -- dx's own rounding plus dy's, x's and the weight's, which the float64 check sees
# exactly
GRAD_RTOL = {F16: 4e-3, BF16: 3e-2}

SHAPES = [(37, 129), (5, 3, 7), (2, 4099), (1, 1), (64, 1024), (3, 17)]


def _params(shape, pdt):
    if pdt is None:
        return None, None
    return _data(3, shape, pdt), _data(4, shape, pdt, 0.5)


# ---- forward ----------------------------------------------------------------------------
@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("pdt", [None, "x", F32], ids=["noaffine", "xdtype", "float32"])
def test_layer_and_rms_norm_forward(dt, shape, pdt):
    x = _data(1, shape, dt, 3.0, 0.5)
    w, b = _params(shape[-1:], dt if pdt == "x" else pdt)
    y, st = gradkit.layer_norm(x, w, b)
    yr, str_ = R.layer_norm(x, w, b)
    assert y.dtype == dt and st.mean.dtype == F32 and st.rstd.dtype == F32
    assert_rounded_once(y, yr, 0.0 if b is None else np.abs(b.astype(F32)).max())
    np.testing.assert_allclose(st.rstd, str_.rstd, rtol=1e-5)
    # bitwise: gradkit's float32 kernel on the widened data, rounded once
    y32, st32 = gradkit.layer_norm(x.astype(F32), _f32(w), _f32(b))
    assert bits(y) == bits(y32.astype(dt)) and bits(st.rstd) == bits(st32.rstd)
    z, zs = gradkit.rms_norm(x, w)
    zr, _ = R.rms_norm(x, w)
    assert_rounded_once(z, zr)
    z32, _ = gradkit.rms_norm(x.astype(F32), _f32(w), eps=float(ml_dtypes.finfo(dt).eps))
    assert bits(z) == bits(z32.astype(dt))


def _f32(a):
    return None if a is None else a.astype(F32)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", [(16, 5), (7, 3, 11, 13), (2, 8, 300)], ids=str)
def test_batch_norm_forward(dt, shape):
    x = _data(5, shape, dt, 2.0, 1.0)
    w, b = _params((shape[1],), F32)
    rm, rv = np.zeros(shape[1], F32), np.ones(shape[1], F32)
    rm2, rv2 = rm.copy(), rv.copy()
    y, st = gradkit.batch_norm(x, w, b, rm, rv)
    yr, _ = R.batch_norm(x, w, b, rm2, rv2)
    assert y.dtype == dt and st.mean.dtype == F32
    assert_rounded_once(y, yr, np.abs(b).max())
    np.testing.assert_allclose(rm, rm2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, rv2, rtol=1e-5)
    ye, _ = gradkit.batch_norm(x, w.astype(dt), b.astype(dt), rm, rv, training=False)
    assert_rounded_once(ye, R.batch_norm(x, w.astype(dt), b.astype(dt), rm, rv,
                                         training=False)[0], np.abs(b).max())


# the column path (inner < 128: (N, C), folded narrow rows, a partial fold), the plane
# path (inner >= 128), a long batch split among threads, odd sizes
BN_SHAPES = [(16, 5), (33, 3), (7, 3, 11, 13), (2, 8, 300), (3, 2, 4099), (2051, 37),
             (1, 1, 2), (64, 9, 61)]


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_native_is_the_float32_kernel_rounded_once(dt, shape):
    """The 16-bit BatchNorm kernel (no widened copy): bitwise gradkit's float32 kernel on
    the widened x and dy, y and dx rounded once; the statistics, running statistics and
    parameter gradients bitwise; out= may be x (forward) or dy (backward)."""
    x = _data(6, shape, dt, 2.0, 1.0)
    dy = _data(7, shape, dt)
    w, b = _params((shape[1],), F32)
    rm, rv = np.zeros(shape[1], F32), np.ones(shape[1], F32)
    rm32, rv32 = rm.copy(), rv.copy()
    y, st = gradkit.batch_norm(x, w, b, rm, rv)
    y32, st32 = gradkit.batch_norm(x.astype(F32), w, b, rm32, rv32)
    assert bits(y) == bits(y32.astype(dt))
    assert bits((st.mean, st.rstd, rm, rv)) == bits((st32.mean, st32.rstd, rm32, rv32))
    g = gradkit.batch_norm_backward(dy, x, st, w)
    g32 = gradkit.batch_norm_backward(dy.astype(F32), x.astype(F32), st32, w)
    assert bits(g[0]) == bits(g32[0].astype(dt))
    assert bits(g[1:]) == bits(g32[1:])
    ye, _ = gradkit.batch_norm(x, w, b, rm, rv, training=False)
    ye32, _ = gradkit.batch_norm(x.astype(F32), w, b, rm, rv, training=False)
    assert bits(ye) == bits(ye32.astype(dt))
    xa, dya = x.copy(), dy.copy()
    gradkit.batch_norm(xa, w, b, out=xa)
    assert bits(xa) == bits(gradkit.batch_norm(x, w, b)[0])
    gradkit.batch_norm_backward(dya, x, st, w, out=dya)
    assert bits(dya) == bits(g[0])


# ---- backward ---------------------------------------------------------------------------
@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("pdt", [None, "x", F32], ids=["noaffine", "xdtype", "float32"])
def test_layer_and_rms_norm_backward(dt, shape, pdt):
    x = _data(1, shape, dt, 3.0, 0.5)
    dy = _data(2, shape, dt)
    w, _ = _params(shape[-1:], dt if pdt == "x" else pdt)
    wdt = F32 if w is None else w.dtype
    _, st = gradkit.layer_norm(x, w)
    dx, dw, db = gradkit.layer_norm_backward(dy, x, st, w)
    dxr, dwr, dbr = R.layer_norm_backward(dy, x, st, w)
    assert dx.dtype == dt and db.dtype == wdt and (dw is None or dw.dtype == wdt)
    assert_rounded_once(dx, dxr)
    dx32, dw32, db32 = gradkit.layer_norm_backward(dy.astype(F32), x.astype(F32), st,
                                                   _f32(w))
    assert bits(dx) == bits(dx32.astype(dt))
    np.testing.assert_allclose(db.astype(F32), db32.astype(wdt).astype(F32), rtol=1e-2,
                               atol=1e-6)
    _, sr = gradkit.rms_norm(x, w)
    ex, ew = gradkit.rms_norm_backward(dy, x, sr, w)
    exr, ewr = R.rms_norm_backward(dy, x, sr, w)
    assert_rounded_once(ex, exr)
    ex32, _ = gradkit.rms_norm_backward(dy.astype(F32), x.astype(F32), sr, _f32(w))
    assert bits(ex) == bits(ex32.astype(dt))
    if w is not None and w.dtype != F32:   # the weight's own dtype, rounded once
        assert_rounded_once(ew, ewr) if shape[0] > 1 else None


def _fd_grad(f, x, eps=1e-6):
    g = np.empty_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("which", ["layer", "rms", "batch"])
def test_backward_against_float64_finite_differences(dt, which):
    shape = (6, 4, 5) if which == "batch" else (5, 23)
    x = _data(7, shape, dt, 2.0)
    dy = _data(8, shape, dt)
    w = _data(9, (shape[1],) if which == "batch" else shape[-1:], dt)
    x64, dy64, w64 = (a.astype(np.float64) for a in (x, dy, w))
    if which == "layer":
        _, st = gradkit.layer_norm(x, w)
        dx, dw, _ = gradkit.layer_norm_backward(dy, x, st, w)
        f = lambda v: float((R.layer_norm(v, w64)[0] * dy64).sum())
        fw = lambda v: float((R.layer_norm(x64, v)[0] * dy64).sum())
    elif which == "rms":
        _, st = gradkit.rms_norm(x, w, 1e-5)
        dx, dw = gradkit.rms_norm_backward(dy, x, st, w)
        f = lambda v: float((R.rms_norm(v, w64, 1e-5)[0] * dy64).sum())
        fw = lambda v: float((R.rms_norm(x64, v, 1e-5)[0] * dy64).sum())
    else:
        _, st = gradkit.batch_norm(x, w)
        dx, dw, _ = gradkit.batch_norm_backward(dy, x, st, w)
        f = lambda v: float((R.batch_norm(v, w64)[0] * dy64).sum())
        fw = lambda v: float((R.batch_norm(x64, v)[0] * dy64).sum())
    gx, gw = _fd_grad(f, x64), _fd_grad(fw, w64)
    tol = GRAD_RTOL[dt]
    assert np.abs(dx.astype(np.float64) - gx).max() <= tol * np.abs(gx).max()
    assert np.abs(dw.astype(np.float64) - gw).max() <= tol * np.abs(gw).max()


# ---- layouts, sizes, threads -----------------------------------------------------------
@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_non_contiguous_byteswapped_readonly(dt):
    base = _data(11, (40, 70), dt, 2.0)
    x = base[::2, 3:68]                       # non-contiguous
    y, st = gradkit.layer_norm(x)
    y0, _ = gradkit.layer_norm(np.ascontiguousarray(x))
    assert bits(y) == bits(y0)
    sw = np.ascontiguousarray(x).astype(dt.newbyteorder(">"))   # byte-swapped
    assert not sw.dtype.isnative
    assert bits(gradkit.rms_norm(sw)[0]) == bits(gradkit.rms_norm(np.ascontiguousarray(x))[0])
    ro = np.ascontiguousarray(x)
    ro.flags.writeable = False
    keep = ro.copy()
    dy = _data(12, ro.shape, dt)
    dy.flags.writeable = False
    yr, sr = gradkit.layer_norm(ro)
    dx, _, _ = gradkit.layer_norm_backward(dy, ro, sr)
    assert bits(ro) == bits(keep) and bits(yr) == bits(y0) and dx.dtype == dt
    # out= (16-bit, may be x itself)
    out = np.empty_like(ro)
    assert gradkit.layer_norm(ro, out=out)[0] is out and bits(out) == bits(y0)
    z = np.ascontiguousarray(x)
    gradkit.layer_norm(z, out=z)
    assert bits(z) == bits(y0)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", [(6, 33), (3, 4, 5), (0, 7), (2, 1030)], ids=str)
@pytest.mark.parametrize("pdt", [None, F32, "x"], ids=["plain", "float32", "xdtype"])
def test_fast_paths_match_checked(dt, shape, pdt):
    """16-bit data with float32 parameters, or parameters of their own dtype (widened),
    run whole in compiled code (the fast paths); the checked path (a strided view of x
    or dy, which it copies; a NumPy bool) gives the same bits, the same output types
    (gradients of a 16-bit weight in its dtype), the same running statistics."""
    affine = pdt is not None
    pdt = dt if pdt == "x" else pdt
    from gradkit._ext import norm as K
    x = _data(21, shape, dt, 2.0, 0.5)
    dy = _data(22, shape, dt)
    c = shape[-1]
    w, b = _params((c,), pdt) if affine else (None, None)
    strided = lambda a: np.repeat(a, 2, axis=0)[::2]   # noqa: E731
    assert K.layer_norm_fast(x, w, b, 1e-5, 1, None) is not None
    if affine:   # two dtypes among the parameters: the checked path's TypeError
        other = b.astype(F32 if pdt != F32 else dt)
        assert K.layer_norm_fast(x, w, other, 1e-5, 1, None) is None
    assert K.rms_norm_fast(x, w, None, 1, None) is not None   # the dtype's eps
    for fwd, bwd, kw in ((gradkit.layer_norm, gradkit.layer_norm_backward, {"bias": True}),
                         (gradkit.rms_norm, gradkit.rms_norm_backward, {})):
        args = (w, b, 1e-5) if fwd is gradkit.layer_norm else (w, 1e-5)
        if fwd is gradkit.rms_norm:   # eps None: the 16-bit dtype's epsilon, both paths
            assert bits(fwd(x, w)[0]) == bits(fwd(strided(x), w)[0]) \
                == bits(fwd(x, w, float(ml_dtypes.finfo(dt).eps))[0])
        y, st = fwd(x, *args)
        y2, st2 = fwd(strided(x), *args)
        assert y.dtype == dt and st.rstd.dtype == F32
        assert bits(y) == bits(y2) and bits(st.rstd) == bits(st2.rstd)
        fast_bwd = (K.layer_norm_backward_fast(dy, x, st, w, True, None)
                    if fwd is gradkit.layer_norm else K.rms_norm_backward_fast(dy, x, st, w, None))
        assert fast_bwd is not None   # compiled, 16-bit weight included
        got, want = bwd(dy, x, st, w, **kw), bwd(strided(dy), x, st, w, **kw)
        assert len(got) == len(want) and got[0].dtype == dt
        for g, r in zip(got, want):
            assert (g is None) == (r is None)
            if g is not None:
                assert g.dtype == r.dtype and bits(g) == bits(r)
        out = np.empty_like(x)
        assert fwd(x, *args, out=out)[0] is out and bits(out) == bits(y)
    ch = shape[1]                                       # BatchNorm's channels: axis 1
    wc, bc = _params((ch,), pdt) if affine else (None, None)
    assert K.batch_norm_fast(x, wc, bc, None, None, True, 0.1, 1e-5, None, None) is not None
    runs = []
    for fast in (True, False):
        rm, rv = np.zeros(ch, F32), np.ones(ch, F32)
        y, st = gradkit.batch_norm(x if fast else strided(x), wc, bc, rm, rv,
                                   training=True if fast else np.True_)
        g = gradkit.batch_norm_backward(dy if fast else strided(dy), x, st, wc,
                                        bias=True if fast else np.True_)
        runs.append([y, st.mean, st.rstd, rm, rv] + [a for a in g if a is not None])
    assert [a.dtype for a in runs[0]] == [a.dtype for a in runs[1]]
    assert all(bits(a) == bits(r) for a, r in zip(*runs))


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", [(0, 5), (4, 0), (0, 0)], ids=str)
def test_zero_size(dt, shape):
    x = np.zeros(shape, dt)
    y, st = gradkit.layer_norm(x)
    assert y.shape == shape and y.dtype == dt and st.rstd.dtype == F32
    dx, _, db = gradkit.layer_norm_backward(x, x, st)
    assert dx.shape == shape and db.shape == shape[1:] and not db.any()
    z, sr = gradkit.rms_norm(x, np.ones(shape[1:], dt))
    ex, ew = gradkit.rms_norm_backward(x, x, sr, np.ones(shape[1:], dt))
    assert ex.shape == shape and ew.dtype == dt


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_threads_bitwise_equal(dt):
    x = _data(13, (300, 1031), dt, 2.0, 3.0)    # > 2**15 elements: threaded
    dy = _data(14, x.shape, dt)
    w = _data(15, x.shape[-1:], F32)
    xb = _data(16, (64, 9, 61), dt)
    runs = []
    for n in (1, 2, 3, 4):
        with gradkit.num_threads(n):
            y, st = gradkit.layer_norm(x, w, w)
            g = gradkit.layer_norm_backward(dy, x, st, w)
            r, sr = gradkit.rms_norm(x, w)
            h = gradkit.rms_norm_backward(dy, x, sr, w)
            yb, sb = gradkit.batch_norm(xb, w[:9], w[:9])
            gb = gradkit.batch_norm_backward(xb, xb, sb, w[:9])
        runs.append(b"".join(bits(a) for a in (y, *st, *g, r, sr.rstd, *h, yb, *sb, *gb)))
    assert all(r == runs[0] for r in runs)


def _digest():
    """A hash of 16-bit norm results (run under each GRADKIT_SIMD)."""
    h = hashlib.sha256()
    for dt in HALVES:
        for shape in [(33, 257), (3, 4099), (5, 19), (128, 1024)]:
            x = _data(21, shape, dt, 2.0, 1.0)
            dy = _data(22, shape, dt)
            w = _data(23, shape[-1:], F32)
            y, st = gradkit.layer_norm(x, w, w)
            outs = [y, *st, *gradkit.layer_norm_backward(dy, x, st, w)]
            r, sr = gradkit.rms_norm(x, w.astype(dt))
            outs += [r, sr.rstd, *gradkit.rms_norm_backward(dy, x, sr, w.astype(dt))]
            yb, sb = gradkit.batch_norm(x, w, w)      # BatchNorm's column path (N, C)
            outs += [yb, *sb, *gradkit.batch_norm_backward(dy, x, sb, w)]
            xp, dyp = x.reshape(shape[0], 1, -1), dy.reshape(shape[0], 1, -1)  # planes
            yc, sc = gradkit.batch_norm(xp)
            outs += [yc, *sc, gradkit.batch_norm_backward(dyp, xp, sc)[0]]
            for a in outs:
                h.update(bits(a))
    return h.hexdigest()


def test_every_simd_table_gives_the_same_bits():
    assert_every_simd_table_gives_the_same_bits("test_norm_half")


# ---- bad input --------------------------------------------------------------------------
@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_mixed_dtypes_name_the_argument(dt):
    other = BF16 if dt == F16 else F16
    x = _data(1, (4, 8), dt)
    with pytest.raises(TypeError, match="weight"):
        gradkit.layer_norm(x, np.ones(8, other))
    with pytest.raises(TypeError, match="weight"):
        gradkit.layer_norm(x, np.ones(8, np.float64))
    with pytest.raises(TypeError, match="bias"):
        gradkit.layer_norm(x, np.ones(8, F32), np.ones(8, dt))
    y, st = gradkit.layer_norm(x)
    with pytest.raises(TypeError, match="dy"):
        gradkit.layer_norm_backward(x.astype(F32), x, st)
    with pytest.raises(TypeError, match="stats.rstd"):
        gradkit.layer_norm_backward(x, x, N.NormStats(st.mean, st.rstd.astype(dt)))
    rm, rv = np.zeros(8, dt), np.ones(8, dt)
    for training in (True, False):   # the message names x's dtype, not its compute dtype
        with pytest.raises(TypeError, match=f"running_mean has dtype {N._v.dtype_name(dt)}; "
                                            f"with {N._v.dtype_name(dt)} x the running "
                                            "statistics are float32"):
            gradkit.batch_norm(x, running_mean=rm, running_var=rv, training=training)
    with pytest.raises(TypeError, match="running_var has dtype"):
        gradkit.batch_norm(x, running_mean=np.zeros(8, F32), running_var=rv)
    assert bits(rm) == bits(np.zeros(8, dt)) and bits(rv) == bits(np.ones(8, dt))
    with pytest.raises(ValueError, match="out"):
        gradkit.layer_norm(x, out=np.empty((4, 8), F32))


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_nan_and_inf_propagate(dt):
    x = _data(1, (3, 40), dt)
    x[0, 5] = np.nan
    x[1, 7] = np.inf
    y, _ = gradkit.layer_norm(x)
    assert np.isnan(y[0].astype(F32)).all() and np.isnan(y[1].astype(F32)).all()
    assert np.isfinite(y[2].astype(F32)).all()


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shuffle", [False, True], ids=["sorted", "shuffled"])
def test_every_bit_pattern(dt, shuffle):
    """All 65,536 patterns (NaNs signaling and quiet, infinities, subnormals) as x and dy,
    forward and backward, against the float32 kernel on the widened data rounded once:
    the same bits wherever that gives a number, NaN wherever it gives NaN (a NaN's
    payload is not reproduced: it depends on the summation path, in float32 too).  The
    vector loads and stores (float16 through F16C with no NaN check, gk_half.h) take
    every pattern; rows of 67: vectors and one-by-one ends both."""
    u = np.arange(65536, dtype=np.uint16)
    if shuffle:
        np.random.default_rng(41).shuffle(u)
    u = np.concatenate([u, u[:67 * 979 - u.size]])
    x = u.view(dt).reshape(979, 67)
    dy = np.roll(u, 12345).view(dt).reshape(x.shape)
    w = _data(42, 67, F32, 1.0, 1.0)
    x32, dy32 = x.astype(F32), dy.astype(F32)

    def same(got, want32):
        want = want32.astype(dt)
        nan = np.isnan(want.astype(F32))
        assert np.array_equal(np.isnan(got.astype(F32)), nan)
        assert bits(got[~nan]) == bits(want[~nan])

    with np.errstate(all="ignore"):
        y, st = gradkit.layer_norm(x, w, w)
        y32, st32 = gradkit.layer_norm(x32, w, w)
        same(y, y32)
        dx = gradkit.layer_norm_backward(dy, x, st, w)[0]
        same(dx, gradkit.layer_norm_backward(dy32, x32, st, w)[0])
        z, sr = gradkit.rms_norm(x, w, 1e-5)
        same(z, gradkit.rms_norm(x32, w, 1e-5)[0])
        ex = gradkit.rms_norm_backward(dy, x, sr, w)[0]
        same(ex, gradkit.rms_norm_backward(dy32, x32, sr, w)[0])
    if not shuffle:   # most rows are numbers (shuffled, most rows hold a NaN or an inf)
        assert np.isfinite(y.astype(F32)).mean() > 0.5


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_nn_norm_layers_take_16bit(dt):
    from gradkit import nn
    x = _data(31, (8, 5, 16), dt, 2.0)
    dy = _data(32, x.shape, dt)
    for layer, fn in ((nn.LayerNorm(16, dtype=dt), gradkit.layer_norm),
                      (nn.RMSNorm(16, dtype=dt), gradkit.rms_norm)):
        layer.params[0][...] = _data(33, 16, dt)
        y = layer.forward(x)
        assert y.dtype == dt and bits(y) == bits(fn(x, *layer.params)[0])
        dx = layer.backward(dy)
        assert dx.dtype == dt and all(g.dtype == dt for g in layer.grads)
        with pytest.raises(TypeError, match="x"):
            layer.forward(x.astype(F32))
    bn = nn.BatchNorm(5, dtype=dt)
    assert bn.running_mean.dtype == F32 and bn.weight.dtype == dt
    y = bn.forward(x)
    assert y.dtype == dt and bn.running_var.dtype == F32 and bn.num_batches_tracked == 1
    assert bn.backward(dy).dtype == dt and bn.dweight.dtype == dt
    assert bn.forward(x, training=False).dtype == dt
    assert bn.backward(dy).dtype == dt
