"""The fused residual add + dropout + LayerNorm/RMSNorm in 16-bit storage (float16,
bfloat16): residual_out is the float32 sum rounded once (bitwise the reference), y is
the 16-bit norm of it, the backward is bitwise the unfused 16-bit calls; against the
reference, float64 finite differences, every thread count and SIMD table, layouts,
zero sizes and bad input."""
import hashlib

import ml_dtypes
import numpy as np
import pytest

import gradkit
from gradkit import dropout as D, norm as N
from gradkit.random import Generator
from gradkit.reference import norm as R
from _half import (BF16, F16, F32, HALVES, assert_every_simd_table_gives_the_same_bits,
                   assert_rounded_once, bits, data)

KINDS = ["layer", "rms"]
# rows ending on a mask byte or not, one element, a 3-D input, a row longer than the
# kernel's stack row buffer (4096), rows that do not divide among threads
SHAPES = [(1, 1), (7, 13), (16, 64), (3, 5, 33), (5, 9001), (331, 307)]
# dx against float64 finite differences, relative to the largest |dx| (test_norm_half's)
GRAD_RTOL = {F16: 4e-3, BF16: 3e-2}
EPS = {dt: float(ml_dtypes.finfo(dt).eps) for dt in HALVES}


def _inputs(shape, dt, pdt, seed=0):
    x = data(seed, shape, dt, 1.0, 0.5)
    r = data(seed + 1, shape, dt, 2.0)
    dy, dsn = data(seed + 2, shape, dt), data(seed + 3, shape, dt)
    w = data(seed + 4, shape[-1:], pdt or F32, 1.0, 1.0)
    b = data(seed + 5, shape[-1:], pdt or F32, 0.5)
    return x, r, dy, dsn, w, b


def _fused(kind, x, r, w, b, p, rng, dy, dsn, store_mask=True, mod=N):
    """Forward and backward of the fused call of gradkit.norm, or of the reference
    (mod=R): (y, s, mask, stats, dx, dresidual, dweight, dbias)."""
    kw = {"store_mask": store_mask} if mod is N else {}
    if kind == "layer":
        y, s, m, st = mod.add_dropout_layer_norm(x, r, w, b, p, rng=rng, **kw)
        g = mod.add_dropout_layer_norm_backward(dy, s, st, m, w, dresidual_out=dsn)
    else:
        y, s, m, st = mod.add_dropout_rms_norm(x, r, w, p, rng=rng, **kw)
        g = tuple(mod.add_dropout_rms_norm_backward(dy, s, st, m, w,
                                                    dresidual_out=dsn)) + (None,)
    return (y, s, m, st) + tuple(g)


def _unfused_from_s(kind, s, w, b, m, dy, dsn):
    """y and the backward as the unfused 16-bit gradkit calls, from the fused s."""
    if kind == "layer":
        y, st = gradkit.layer_norm(s, w, b)
        ds, dw, db = gradkit.layer_norm_backward(dy, s, st, w)
    else:
        y, st = gradkit.rms_norm(s, w)
        ds, dw = gradkit.rms_norm_backward(dy, s, st, w)
        db = None
    if dsn is not None:
        ds = (ds.astype(F32) + dsn.astype(F32)).astype(s.dtype)
    dx = D.dropout_backward(ds, m) if m is not None else ds
    return y, st, dx, ds, dw, db


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("p,store", [(0.3, True), (0.3, False), (0.0, True), (1.0, True)])
def test_reference_and_unfused_calls(dt, shape, kind, p, store):
    pdt = F32 if shape[0] % 2 else dt  # float32 and 16-bit affine parameters
    x, r, dy, dsn, w, b = _inputs(shape, dt, pdt)
    for grad_next in (dsn, None):
        y, s, m, st, dx, dres, dw, db = _fused(kind, x, r, w, b, p, Generator(5), dy,
                                                grad_next, store)
        yr, sr, mr, str_, dxr, dresr, dwr, dbr = _fused(kind, x, r, w, b, p, 5, dy,
                                                          grad_next, mod=R)
        assert y.dtype == s.dtype == dx.dtype == dres.dtype == dt
        assert st.rstd.dtype == F32 and dw.dtype == pdt
        # residual_out: the float32 sum of the widened arrays, rounded once
        assert bits(s) == bits(sr)
        if p > 0:
            assert (m.seed, m.counter) == (mr.seed, mr.counter)
            if store:
                assert bits(m.bits) == bits(mr.bits)
        # y: the 16-bit norm of s, within the norms' rounding of the reference
        assert_rounded_once(y, yr, 0.0 if kind == "rms" else np.abs(b.astype(F32)).max())
        np.testing.assert_allclose(st.rstd, str_.rstd, rtol=1e-5)
        # the backward: bitwise the unfused 16-bit calls on the fused s
        yu, stu, dxu, dsu, dwu, dbu = _unfused_from_s(kind, s, w, b, m, dy, grad_next)
        assert bits(y) == bits(yu) and bits(st.rstd) == bits(stu.rstd)
        assert bits(st.mean) == bits(stu.mean)
        assert bits(dx) == bits(dxu) and bits(dres) == bits(dsu)
        assert bits(dw) == bits(dwu) and bits(db) == bits(dbu)
        # and close to the reference's (ds is rounded before the add: 2 roundings)
        tol = 4.0 * EPS[dt] * max(float(np.abs(dresr.astype(F32)).max()), 1e-30)
        scale = 1.0 / (1.0 - p) if 0 < p < 1 else 1.0
        for a, ar in ((dres, dresr), (dx, dxr)):
            np.testing.assert_allclose(a.astype(F32), ar.astype(F32), rtol=0,
                                       atol=tol * scale)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(64, 1024), (67, 1000)], ids=str)
def test_streamed_outputs(dt, kind, shape):
    """Every output streamed (threshold 1 byte): rows on lines and mask bytes take the
    backward's one pass to dresidual and dx's direct streamed stores, the others the
    piecewise path; bitwise the unfused 16-bit calls either way."""
    x, r, dy, dsn, w, b = _inputs(shape, dt, F32)
    before = gradkit.set_stream_threshold(1)
    try:
        y, s, m, st, dx, dres, dw, db = _fused(kind, x, r, w, b, 0.3, Generator(5), dy, dsn)
        yu, stu, dxu, dsu, dwu, dbu = _unfused_from_s(kind, s, w, b, m, dy, dsn)
    finally:
        gradkit.set_stream_threshold(before)
    assert bits(y) == bits(yu) and bits(dx) == bits(dxu) and bits(dres) == bits(dsu)
    assert bits(dw) == bits(dwu) and bits(db) == bits(dbu)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_threads_bitwise_identical(dt, kind):
    # above the single-thread threshold; a long row split across threads; 3 rows
    for shape in [(512, 300), (41, 1001), (3, 70001)]:
        x, r, dy, dsn, w, b = _inputs(shape, dt, F32, seed=7)
        runs = []
        for n in (1, 2, 3, 4):
            with gradkit.num_threads(n):
                out = _fused(kind, x, r, w, b, 0.25, Generator(9), dy, dsn)
            y, s, m, st, *g = out
            runs.append(b"".join(bits(a) for a in (y, s, m.bits, st.mean, st.rstd, *g)
                                 if a is not None))
        assert all(u == runs[0] for u in runs)


def _digest():
    """A hash of the 16-bit fused results (run under each GRADKIT_SIMD)."""
    h = hashlib.sha256()
    for dt in HALVES:
        for shape in [(33, 257), (3, 4099), (5, 19), (64, 1024)]:
            x, r, dy, dsn, w, b = _inputs(shape, dt, F32, seed=21)
            for kind in KINDS:
                for p, grad_next in ((0.0, dsn), (0.4, dsn), (0.4, None)):
                    y, s, m, st, *g = _fused(kind, x, r, w, b, p, Generator(3), dy,
                                             grad_next)
                    for a in (y, s, None if m is None else m.bits, st.mean, st.rstd, *g):
                        if a is not None:
                            h.update(bits(a))
    return h.hexdigest()


def test_every_simd_table_gives_the_same_bits():
    assert_every_simd_table_gives_the_same_bits("test_norm_fused_half")


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_against_float64_finite_differences(dt, kind):
    """dx and dresidual of the 16-bit backward against central differences of the
    float64 fused forward with the same mask, at the 16-bit inputs widened: loss =
    sum(y dy) + sum(s dsn)."""
    shape = (3, 37)
    x, r, dy, dsn, w, b = _inputs(shape, dt, F32, seed=31)
    p = 0.3
    _, s, m, st, dx, dres, _, _ = _fused(kind, x, r, w, b, p, Generator(4), dy, dsn)
    f64 = np.float64
    r64, dy64, dsn64, w64, b64 = (a.astype(f64) for a in (r, dy, dsn, w, b))

    def loss(xv, rv):
        if kind == "layer":
            y, s, _, _ = N.add_dropout_layer_norm(xv, rv, w64, b64, p, rng=Generator(4))
        else:
            y, s, _, _ = N.add_dropout_rms_norm(xv, rv, w64, p, rng=Generator(4),
                                                eps=EPS[dt])
        return float((y * dy64).sum() + (s * dsn64).sum())

    def grad(wrt):
        x0, g, h = x.astype(f64), np.zeros(shape), 1e-6
        v = x0 if wrt == "x" else r64.copy()
        for i in np.ndindex(shape):
            old = v[i]
            v[i] = old + h
            fp = loss(v, r64) if wrt == "x" else loss(x0, v)
            v[i] = old - h
            fm = loss(v, r64) if wrt == "x" else loss(x0, v)
            v[i] = old
            g[i] = (fp - fm) / (2 * h)
        return g

    for got, wrt in ((dx, "x"), (dres, "residual")):
        num = grad(wrt)
        np.testing.assert_allclose(got.astype(f64), num, rtol=0,
                                   atol=GRAD_RTOL[dt] * np.abs(num).max())


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_layouts(dt, kind):
    """Non-contiguous, byte-swapped and read-only inputs: the results of contiguous ones;
    no input modified."""
    x, r, dy, dsn, w, b = _inputs((9, 40), dt, F32, seed=41)
    want = _fused(kind, x, r, w, b, 0.2, Generator(2), dy, dsn)
    big = [np.repeat(a, 2, axis=-1)[..., ::2] for a in (x, r, dy, dsn)]  # strided
    swapped = [a.astype(a.dtype.newbyteorder()) if a.dtype == F16 else a for a in big]
    for arrays in (big, swapped):
        copies = [a.copy() for a in arrays]
        for a in arrays:
            a.flags.writeable = False
        got = _fused(kind, arrays[0], arrays[1], w, b, 0.2, Generator(2), arrays[2],
                     arrays[3])
        for u, v in zip(got, want):
            if isinstance(u, np.ndarray):
                assert bits(u) == bits(v)
        for a, c in zip(arrays, copies):
            assert bits(a) == bits(c)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(0, 5), (4, 0), (0,)], ids=str)
def test_zero_size(dt, kind, shape):
    x = np.zeros(shape, dt)
    w = np.ones(shape[-1:], F32)
    y, s, m, st, dx, dres, dw, db = _fused(kind, x, x, w, w, 0.5, Generator(1), x, x)
    assert y.shape == s.shape == dx.shape == dres.shape == shape and y.dtype == dt
    assert st.rstd.dtype == F32 and dw.dtype == F32 and (dw == 0).all()


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_mixed_dtypes_name_the_argument(dt):
    other = BF16 if dt == F16 else F16
    x, r, dy, dsn, w, b = _inputs((4, 8), dt, F32)
    for bad, name in ((r.astype(F32), "residual"), (r.astype(other), "residual")):
        with pytest.raises(TypeError, match=name):
            N.add_dropout_layer_norm(x, bad, w, b)
    with pytest.raises(TypeError, match="weight"):
        N.add_dropout_rms_norm(x, r, w.astype(np.float64))
    with pytest.raises(TypeError, match="bias"):
        N.add_dropout_layer_norm(x, r, w, b.astype(dt))
    y, s, m, st = N.add_dropout_layer_norm(x, r, w, b, 0.5, rng=1)
    with pytest.raises(TypeError, match="dy"):
        N.add_dropout_layer_norm_backward(dy.astype(F32), s, st, m, w)
    with pytest.raises(TypeError, match="dresidual_out"):
        N.add_dropout_layer_norm_backward(dy, s, st, m, w, dresidual_out=dsn.astype(other))
    with pytest.raises(TypeError, match="stats.rstd"):
        N.add_dropout_layer_norm_backward(dy, s, N.NormStats(st.mean, st.rstd.astype(dt)),
                                          m, w)


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("pdt", [None, F32, "x"], ids=["plain", "float32", "xdtype"])
def test_fast_paths_match_checked(dt, kind, pdt):
    """16-bit data with float32 parameters, or parameters of their own dtype (widened,
    their gradients rounded back), run whole in compiled code, the default eps of
    add_dropout_rms_norm (the 16-bit dtype's epsilon) included; the checked path gives
    the same bits."""
    from test_norm_fused import assert_fast_path_matches_checked
    x, r, dy, dsn, w, b = _inputs((6, 33), dt, dt if pdt == "x" else F32)
    if pdt is None:
        w = b = None
    for p, training, store in ((0.3, True, True), (0.3, True, False), (0.3, False, True)):
        assert_fast_path_matches_checked(kind, x, r, w, b, dy, dsn, p, training, store)
