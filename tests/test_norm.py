"""LayerNorm and RMSNorm: kernels against gradkit.reference, gradients against finite
differences, threads, hard data, bad input."""
import numpy as np
import pytest

import gradkit
from gradkit import norm, reference as ref
from conftest import (placed_past, assert_bitwise_equal, assert_close, numerical_grad, run_threads)

SHAPES = [  # (shape, normalized_ndim)
    ((1, 1), 1), ((7, 13), 1), ((4, 16), 1), ((3, 5, 33), 1), ((3, 5, 33), 2),
    ((2, 3, 4, 5), 3), ((9,), 1), ((2, 100003), 1), ((600, 67), 1),
]


def _params(rng, shape, nd, dtype, affine):
    inner = shape[len(shape) - nd:]
    if not affine:
        return None, None
    return (rng.standard_normal(inner).astype(dtype),
            rng.standard_normal(inner).astype(dtype))


def _f64(a):
    return None if a is None else np.asarray(a, np.float64)


@pytest.mark.parametrize("shape,nd", SHAPES)
@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm_matches_reference(shape, nd, affine, dtype, rng):
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w, b = _params(rng, shape, nd, dtype, affine)
    y, st = norm.layer_norm(x, w, b, normalized_ndim=nd)
    yr, sr = ref.layer_norm(_f64(x), _f64(w), _f64(b), normalized_ndim=nd)
    assert y.dtype == dtype and st.mean.dtype == dtype and st.rstd.shape == sr.rstd.shape
    assert_close(y, yr, dtype)
    assert_close(st.mean, sr.mean, dtype)
    assert_close(st.rstd, sr.rstd, dtype)
    # the same formulas in x's own dtype agree too
    yr32, _ = ref.layer_norm(x, w, b, normalized_ndim=nd)
    assert yr32.dtype == dtype


@pytest.mark.parametrize("shape,nd", SHAPES)
@pytest.mark.parametrize("affine", [False, True])
def test_rms_norm_matches_reference(shape, nd, affine, dtype, rng):
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w, _ = _params(rng, shape, nd, dtype, affine)
    y, st = norm.rms_norm(x, w, normalized_ndim=nd)
    eps = float(np.finfo(dtype).eps)
    yr, sr = ref.rms_norm(_f64(x), _f64(w), eps, normalized_ndim=nd)
    assert st.mean is None and y.dtype == dtype
    assert_close(y, yr, dtype)
    assert_close(st.rstd, sr.rstd, dtype)


@pytest.mark.parametrize("shape,nd", SHAPES)
@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm_backward_matches_reference(shape, nd, affine, dtype, rng):
    x = (rng.standard_normal(shape) * 2 - 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    w, b = _params(rng, shape, nd, dtype, affine)
    _, st = norm.layer_norm(x, w, b, normalized_ndim=nd)
    dx, dw, db = norm.layer_norm_backward(dy, x, st, w, bias=affine)
    st64 = type(st)(_f64(st.mean), _f64(st.rstd))
    rx, rw, rb = ref.layer_norm_backward(_f64(dy), _f64(x), st64, _f64(w), bias=affine)
    assert dx.dtype == dtype
    # dx is a difference of terms of the size of g: judge it on that scale
    assert_close(dx, rx, dtype, ulps=16, scale=float(np.abs(_f64(dy)).max()) * float(st64.rstd.max()))
    if affine:
        assert_close(dw, rw, dtype, ulps=16, scale=float(np.abs(rw).max()) + 1)
        assert_close(db, rb, dtype, ulps=16, scale=float(np.abs(rb).max()) + 1)
    else:
        assert dw is None and db is None


@pytest.mark.parametrize("shape,nd", SHAPES)
@pytest.mark.parametrize("affine", [False, True])
def test_rms_norm_backward_matches_reference(shape, nd, affine, dtype, rng):
    x = (rng.standard_normal(shape) * 2 - 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    w, _ = _params(rng, shape, nd, dtype, affine)
    _, st = norm.rms_norm(x, w, normalized_ndim=nd)
    dx, dw = norm.rms_norm_backward(dy, x, st, w)
    rx, rw = ref.rms_norm_backward(_f64(dy), _f64(x), type(st)(None, _f64(st.rstd)), _f64(w))
    assert_close(dx, rx, dtype, ulps=16, scale=float(np.abs(_f64(dy)).max()) * float(_f64(st.rstd).max()))
    if affine:
        assert_close(dw, rw, dtype, ulps=16, scale=float(np.abs(rw).max()) + 1)
    else:
        assert dw is None


@pytest.mark.parametrize("nd", [1, 2])
def test_layer_norm_gradients_finite_differences(nd, rng):
    shape = (3, 4, 5)
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(shape[3 - nd:]), rng.standard_normal(shape[3 - nd:])
    dy = rng.standard_normal(shape)

    def loss(x_, w_, b_):
        return float(np.sum(norm.layer_norm(x_, w_, b_, normalized_ndim=nd)[0] * dy))

    _, st = norm.layer_norm(x, w, b, normalized_ndim=nd)
    dx, dw, db = norm.layer_norm_backward(dy, x, st, w)
    np.testing.assert_allclose(dx, numerical_grad(lambda v: loss(v, w, b), x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, numerical_grad(lambda v: loss(x, v, b), w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, numerical_grad(lambda v: loss(x, w, v), b), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("nd", [1, 2])
def test_rms_norm_gradients_finite_differences(nd, rng):
    shape = (3, 4, 5)
    x = rng.standard_normal(shape)
    w = rng.standard_normal(shape[3 - nd:])
    dy = rng.standard_normal(shape)

    def loss(x_, w_):
        return float(np.sum(norm.rms_norm(x_, w_, 1e-5, normalized_ndim=nd)[0] * dy))

    _, st = norm.rms_norm(x, w, 1e-5, normalized_ndim=nd)
    dx, dw = norm.rms_norm_backward(dy, x, st, w)
    np.testing.assert_allclose(dx, numerical_grad(lambda v: loss(v, w), x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dw, numerical_grad(lambda v: loss(x, v), w), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(512, 300), (3, 70001), (1, 300000), (64, 64, 17)])
def test_threads_bitwise_identical(shape, dtype, rng):
    x = (rng.standard_normal(shape) + 0.5).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(shape[-1]).astype(dtype)
    b = rng.standard_normal(shape[-1]).astype(dtype)

    def run():
        y, st = norm.layer_norm(x, w, b)
        g = norm.layer_norm_backward(dy, x, st, w)
        ry, rst = norm.rms_norm(x, w)
        rg = norm.rms_norm_backward(dy, x, rst, w)
        return (y, st.mean, st.rstd) + tuple(g) + (ry, rst.rstd) + tuple(rg)

    one, two = run_threads(run)
    assert_bitwise_equal(one, two)


def test_hard_data_large_mean(dtype, rng):
    # E[x^2] - E[x]^2 collapses here in float32; the kernels centre before squaring
    x = (1e4 + rng.standard_normal((64, 1000))).astype(dtype)
    y, st = norm.layer_norm(x)
    yr, sr = ref.layer_norm(x.astype(np.longdouble))
    # float32: within a few ulps of the exact answer.  float64: the mean itself is only
    # known to an ulp of 1e4, so judge on the scale of the data.
    scale = 1e4 if dtype == np.float64 else None
    assert_close(st.rstd, sr.rstd.astype(np.float64), dtype, ulps=4, scale=scale and 1.0)
    assert_close(y, yr.astype(np.float64), dtype, ulps=4, scale=scale)
    np.testing.assert_allclose(y.std(axis=1, dtype=np.float64), 1.0, rtol=1e-4)


def _f32_rows(rng):
    """float32 rows of the kinds the row statistics treat differently (docs/norm.md,
    "Accuracy"): i.i.d. rows (several lengths: whole 128-element blocks, a partial
    block, several 4096-element chunks, shorter than the 16-element shift head), a large
    mean, a shift head near the limit of the block path (ratio ~0.9), an outlier in the
    head and a head off the rest (both past the limit: the exact double path), and rows
    too small or too large for float32 squares (the double path)."""
    g = rng.standard_normal
    near = g(256)
    near[:16] = 1.0  # shift 1, mean ~1/16, var ~1: (mean - shift)^2 / var ~ 0.9
    outlier = g(1000)
    outlier[0] = 1e3
    off = 1e3 + g(4096)
    off[:16] = 0.0  # shift ~0, mean ~996, var ~3900: ratio ~250
    rows = [3 * g(1024) + 1, 3 * g(1000) + 1, g(2 * 4096 + 37), g(7), 1e4 + g(1000),
            near, outlier, off, 1e-20 * g(640), 1e25 * g(640), 2.5 + g(300)]
    return [np.asarray(r, np.float32).reshape(1, -1) for r in rows]


def test_float32_statistics_error_bound(rng):
    # The bounds derived in docs/norm.md ("Accuracy") for float32 rows, against float64
    # arithmetic on the same float32 inputs, in units of u = 2**-24:
    #   LayerNorm y (no affine)  |y - xhat| <= u (24.4 |xhat| + 11.4)
    #             rstd           relative error <= 22.4 u
    #   RMSNorm   y, rstd        relative error <= 6 u, 5 u
    # (eps = 0, so that the statistics and not eps decide the output.)
    u = 2.0 ** -24
    tiny = np.finfo(np.float64).tiny   # 0 / tiny is 0: an exact zero is within any bound

    def ratio(err, bound):  # largest err / bound; NaN (a NaN output) fails the assert
        return float(np.max(np.abs(err) / np.maximum(bound, tiny)))

    worst = []
    for x in _f32_rows(rng):
        x64 = x.astype(np.float64)
        m = x64.mean(axis=1, keepdims=True)
        r = 1 / np.sqrt(((x64 - m) ** 2).mean(axis=1, keepdims=True))
        xhat = (x64 - m) * r
        y, st = norm.layer_norm(x, eps=0.0)
        worst.append(("ln y", x.shape, ratio(y - xhat, u * (24.4 * np.abs(xhat) + 11.4))))
        worst.append(("ln rstd", x.shape, ratio(st.rstd / r[:, 0] - 1, 22.4 * u)))
        rr = 1 / np.sqrt((x64 ** 2).mean(axis=1, keepdims=True))
        y, st = norm.rms_norm(x, eps=0.0)
        worst.append(("rms y", x.shape, ratio(y - x64 * rr, 6 * u * np.abs(x64 * rr))))
        worst.append(("rms rstd", x.shape, ratio(st.rstd / rr[:, 0] - 1, 5 * u)))
    assert all(w[2] <= 1.0 for w in worst), [w for w in worst if not w[2] <= 1.0]


def test_float32_backward_error_bound(rng):
    # The bound derived in docs/norm.md ("Accuracy of the float32 backward"): pass A sums
    # g = dy w and g xhat in float32 blocks of 8 terms per lane.  Against float64
    # arithmetic on the same float32 inputs and statistics, in units of u = 2**-24 and
    # with mean(.) over the row:
    #   LayerNorm |dx - ref| <= u r (5 |g| + 5 |mean g| + 8 |xhat mean(g xhat)|
    #                                + 8 mean|g| + 12 |xhat| mean|g xhat|)
    #   RMSNorm   |dx - ref| <= u r (4 |g| + 5 |x mgx| + 9 r^2 |x| mean|g x|),
    #             mgx = r^2 mean(g x)
    # Rows: whole and partial blocks, several chunks, shorter than a block, a large
    # mean, dy whose g nearly cancels (mean g << mean |g|), with and without weight,
    # tiny and huge dy, and dy large enough that a float32 block sum overflows (the
    # float64 pass A then runs).
    u = 2.0 ** -24
    tiny = np.finfo(np.float64).tiny
    g_ = rng.standard_normal
    cases = [(g_((4, 1024)), g_((4, 1024))), (3 * g_((3, 1037)) + 1, g_((3, 1037))),
             (g_((2, 2 * 4096 + 37)), g_((2, 2 * 4096 + 37))), (g_((5, 7)), g_((5, 7))),
             (1e4 + g_((4, 300)), g_((4, 300))), (g_((4, 640)), 1e-20 * g_((4, 640))),
             (g_((4, 640)), 1e20 * g_((4, 640))), (g_((4, 512)), 1e37 * (g_((4, 512)) + 3)),
             (g_((4, 1000)), 0.5 + 1e-4 * g_((4, 1000)))]   # g cancels: mean g ~ 0
    cases[-1][1][:, 1::2] *= -1
    worst = []
    for xs, dys in cases:
        x, dy = xs.astype(np.float32), dys.astype(np.float32)
        n = x.shape[1]
        for w in (None, (1 + 0.5 * g_(n)).astype(np.float32)):
            x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
            g = dy64 * (1.0 if w is None else w.astype(np.float64))
            _, st = norm.layer_norm(x, w, None if w is None else np.zeros_like(w))
            m = st.mean.astype(np.float64)[:, None]
            r = st.rstd.astype(np.float64)[:, None]
            h = (x64 - m) * r
            mg, mgh = g.mean(1, keepdims=True), (g * h).mean(1, keepdims=True)
            exact = r * (g - mg - h * mgh)
            dx = norm.layer_norm_backward(dy, x, st, w)[0]
            bound = u * r * (5 * abs(g) + 5 * abs(mg) + 8 * abs(h * mgh)
                             + 8 * abs(g).mean(1, keepdims=True)
                             + 12 * abs(h) * abs(g * h).mean(1, keepdims=True))
            worst.append(("ln", x.shape, w is None, float(
                np.max(abs(dx - exact) / np.maximum(bound, tiny)))))
            _, st = norm.rms_norm(x, w)
            r = st.rstd.astype(np.float64)[:, None]
            mgx = r * r * (g * x64).mean(1, keepdims=True)
            exact = r * (g - x64 * mgx)
            dx = norm.rms_norm_backward(dy, x, st, w)[0]
            bound = u * r * (4 * abs(g) + 5 * abs(x64 * mgx)
                             + 9 * r * r * abs(x64) * abs(g * x64).mean(1, keepdims=True))
            worst.append(("rms", x.shape, w is None, float(
                np.max(abs(dx - exact) / np.maximum(bound, tiny)))))
    assert all(w[3] <= 1.0 for w in worst), [w for w in worst if not w[3] <= 1.0]
    assert max(w[3] for w in worst) > 0.01   # the bound is not vacuous


def test_float32_block_statistics_well_inside_tolerance(rng):
    # The bound above is the worst case; on i.i.d. rows the errors are a few u.  This
    # guards the ordinary accuracy (the 4-ulp tolerance of the reference tests) on many
    # rows at once, so a regression in the typical error does not hide under the bound.
    x = (3 * rng.standard_normal((512, 1024)) + 1).astype(np.float32)
    y, st = norm.layer_norm(x)
    yr, sr = ref.layer_norm(x.astype(np.float64))
    assert_close(st.rstd, sr.rstd, np.float32, ulps=2)
    assert_close(y, yr, np.float32, ulps=4)


def test_non_contiguous_and_readonly_inputs(dtype, rng):
    base = rng.standard_normal((20, 40)).astype(dtype)
    for x in (base[:, ::2], base.T, base[::3]):
        y, st = norm.layer_norm(x)
        yr, _ = ref.layer_norm(np.ascontiguousarray(x).astype(np.float64))
        assert_close(y, yr, dtype)
    ro = base.copy()
    ro.flags.writeable = False
    y, st = norm.rms_norm(ro)
    assert_close(y, ref.rms_norm(ro.astype(np.float64), eps=float(np.finfo(dtype).eps))[0], dtype)


def test_inputs_not_modified(dtype, rng):
    x = rng.standard_normal((8, 9)).astype(dtype)
    w, b, dy = (rng.standard_normal(9).astype(dtype), rng.standard_normal(9).astype(dtype),
                rng.standard_normal((8, 9)).astype(dtype))
    copies = [a.copy() for a in (x, w, b, dy)]
    _, st = norm.layer_norm(x, w, b)
    norm.layer_norm_backward(dy, x, st, w)
    _, st = norm.rms_norm(x, w)
    norm.rms_norm_backward(dy, x, st, w)
    for a, c in zip((x, w, b, dy), copies):
        assert_bitwise_equal(a, c)


def test_out_and_in_place(dtype, rng):
    x = rng.standard_normal((6, 10)).astype(dtype)
    expect, _ = norm.layer_norm(x)
    out = np.empty_like(x)
    y, _ = norm.layer_norm(x, out=out)
    assert y is out
    assert_bitwise_equal(out, expect)
    xc = x.copy()
    norm.layer_norm(xc, out=xc)
    assert_bitwise_equal(xc, expect)
    expect, _ = norm.rms_norm(x)
    xc = x.copy()
    y, _ = norm.rms_norm(xc, out=xc)
    assert y is xc
    assert_bitwise_equal(xc, expect)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0,), (2, 0, 3)])
def test_zero_size(shape, dtype):
    x = np.zeros(shape, dtype)
    y, st = norm.layer_norm(x)
    assert y.shape == shape and st.mean.shape == shape[:-1]
    yr, sr = ref.layer_norm(x)
    assert_bitwise_equal(st.mean, sr.mean)
    np.testing.assert_allclose(st.rstd, sr.rstd, rtol=1e-6)
    dx, dw, db = norm.layer_norm_backward(x, x, st, None)
    assert dx.shape == shape and db.shape == shape[-1:] and dw is None
    assert not db.any()
    y, st = norm.rms_norm(x)
    dx, _ = norm.rms_norm_backward(x, x, st)
    assert dx.shape == shape


def test_reexported_at_top_level():
    assert gradkit.layer_norm is norm.layer_norm
    assert gradkit.rms_norm_backward is norm.rms_norm_backward


def test_bad_input_raises_before_writing(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    w = np.ones(6, np.float32)
    with pytest.raises(TypeError, match="x must be a float32, float64, float16 or bfloat16"):
        norm.layer_norm(x.astype(np.int64))
    with pytest.raises(TypeError, match="weight has dtype float64"):
        norm.layer_norm(x, w.astype(np.float64))
    with pytest.raises(ValueError, match="weight must have shape"):
        norm.layer_norm(x, np.ones(5, np.float32))
    with pytest.raises(ValueError, match="bias must have shape"):
        norm.layer_norm(x, w, np.ones((1, 6), np.float32))
    with pytest.raises(ValueError, match="normalized_ndim"):
        norm.layer_norm(x, normalized_ndim=3)
    with pytest.raises(ValueError, match="normalized_ndim"):
        norm.rms_norm(x, normalized_ndim=0)
    with pytest.raises(ValueError, match="eps"):
        norm.layer_norm(x, eps=-1.0)
    with pytest.raises(ValueError, match="eps"):
        norm.rms_norm(x, eps=float("nan"))
    with pytest.raises(TypeError, match="eps"):
        norm.rms_norm(x, eps="small")
    sentinel = np.full((4, 6), 7.0, np.float32)
    for bad_out, err in [(np.empty((4, 6), np.float64), ValueError),
                         (np.empty((4, 5), np.float32), ValueError),
                         (np.empty((6, 4), np.float32).T, ValueError),
                         ([0.0] * 24, TypeError)]:
        with pytest.raises(err, match="out"):
            norm.layer_norm(x, out=bad_out)
    ro = sentinel.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        norm.layer_norm(x, out=ro)
    with pytest.raises(ValueError, match="weight must have shape"):
        norm.layer_norm(x, np.ones(5, np.float32), out=sentinel)
    assert (sentinel == 7.0).all()
    _, st = norm.layer_norm(x)
    with pytest.raises(ValueError, match="dy must have the shape"):
        norm.layer_norm_backward(x[:2], x, st)
    with pytest.raises(TypeError, match="dy has dtype"):
        norm.layer_norm_backward(x.astype(np.float64), x, st)
    with pytest.raises(TypeError, match="stats"):
        norm.layer_norm_backward(x, x, None)
    with pytest.raises(ValueError, match="stats.rstd has shape"):
        norm.layer_norm_backward(x, x, norm.NormStats(st.mean[:2], st.rstd[:2]))
    _, rst = norm.rms_norm(x)
    with pytest.raises(ValueError, match="stats.mean is None"):
        norm.layer_norm_backward(x, x, rst)


@pytest.mark.parametrize("fn", ["layer_norm", "rms_norm"])
def test_outputs_past_the_cache_are_streamed_correctly(fn, rng):
    # > 32 MiB of float32 output takes the non-temporal store path; rows of an odd
    # width start at every alignment
    x = (rng.standard_normal((8200, 1025)) + 2).astype(np.float32)
    w = rng.standard_normal(1025).astype(np.float32)
    y, st = getattr(norm, fn)(x, w)
    yr, _ = getattr(ref, fn)(x.astype(np.float64), w.astype(np.float64),
                             **({"eps": float(np.finfo(np.float32).eps)} if fn == "rms_norm" else {}))
    assert_close(y, yr, np.float32)
    with gradkit.num_threads(1):
        y1, _ = getattr(norm, fn)(x, w)
    assert_bitwise_equal(y, y1)


@pytest.mark.parametrize("cols", [1000, 1024])
@pytest.mark.parametrize("fn", ["layer_norm", "rms_norm"])
def test_backward_past_the_cache(fn, cols, rng):
    # > 16 MiB of float32 dx takes the streamed path, the next rows prefetched; rows go
    # in groups of 4 (1000 columns) or 2 (1024: rows 4 KiB apart), and 4301 rows leave
    # short groups at the ends of the tasks
    x = (rng.standard_normal((4301, cols)) * 2 - 1).astype(np.float32)
    dy = rng.standard_normal((4301, cols)).astype(np.float32)
    w = rng.standard_normal(cols).astype(np.float32)
    _, st = getattr(norm, fn)(x, w)
    got = getattr(norm, fn + "_backward")(dy, x, st, w)
    st64 = type(st)(_f64(st.mean), _f64(st.rstd))
    want = getattr(ref, fn + "_backward")(_f64(dy), _f64(x), st64, _f64(w))
    assert_close(got[0], want[0], np.float32, ulps=16,
                 scale=float(np.abs(dy).max()) * float(st64.rstd.max()))
    for g, r in zip(got[1:], want[1:]):
        assert_close(g, r, np.float32, ulps=16, scale=float(np.abs(r).max()) + 1)
    with gradkit.num_threads(1):
        one = getattr(norm, fn + "_backward")(dy, x, st, w)
    assert_bitwise_equal(got, one)


@pytest.mark.parametrize("fn", [norm.layer_norm, norm.rms_norm])
def test_byte_swapped_arrays_are_not_misread(fn, dtype):
    """The fast path used to take '>f4' as native (results off by up to 4.0)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 16)).astype(dtype)
    w = rng.standard_normal(16).astype(dtype)
    want = fn(x, w)[0]
    sw = dtype.newbyteorder(">")
    assert_bitwise_equal(fn(x.astype(sw), w)[0], want)
    assert_bitwise_equal(fn(x, w.astype(sw))[0], want)
    out = np.zeros((5, 16), sw)
    with pytest.raises(ValueError, match="out must have dtype"):
        fn(x, w, out=out)
    assert not out.any()


@pytest.mark.parametrize("shape,nd", [((1,), 1), ((6,), 1), ((0, 3), 1), ((5, 0), 1),
                                      ((9, 4, 3), 1), ((9, 4, 3), 2), ((100, 1000), 1)])
@pytest.mark.parametrize("with_w", [True, False], ids=["w", "no_w"])
def test_norm_backward_fast_path_matches_checked(dtype, shape, nd, with_w):
    """The compiled common call of the backwards (ndarrays of one dtype, the forward's
    statistics) and the checked path (dy a strided view, which it copies) give the same
    bits and the same outputs: a new dx, out=, dy itself, dbias only when asked for."""
    rng = np.random.default_rng(17)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(shape[len(shape) - nd:]).astype(dtype) if with_w else None
    strided = np.repeat(dy, 2, axis=-1)[..., ::2]
    assert not strided.flags.c_contiguous or shape[-1] <= 1 or dy.size == 0
    for fwd, bwd, kw in ((norm.layer_norm, norm.layer_norm_backward, {"bias": True}),
                         (norm.layer_norm, norm.layer_norm_backward, {"bias": False}),
                         (norm.rms_norm, norm.rms_norm_backward, {})):
        _, st = fwd(x, w, normalized_ndim=nd)
        want = bwd(strided, x, st, w, **kw)
        got = bwd(dy, x, st, w, **kw)
        assert_bitwise_equal(got, want)
        assert len(got) == (3 if "bias" in kw else 2)
        assert (got[1] is None) == (w is None)
        if "bias" in kw:
            assert (got[2] is None) == (not kw["bias"])
        out = np.full_like(x, 7)
        assert bwd(dy, x, st, w, out=out, **kw)[0] is out
        assert_bitwise_equal(out, want[0])
        inplace = dy.copy()
        assert bwd(inplace, x, st, w, out=inplace, **kw)[0] is inplace
        assert_bitwise_equal(inplace, want[0])


def test_rms_norm_backward_rejects_layer_norm_stats():
    x = np.random.default_rng(5).standard_normal((3, 8))
    _, ln_stats = norm.layer_norm(x)
    _, rms_stats = norm.rms_norm(x)
    with pytest.raises(ValueError, match="layer_norm's statistics"):
        norm.rms_norm_backward(np.ones_like(x), x, ln_stats)
    with pytest.raises(ValueError, match="stats.mean is None"):
        norm.layer_norm_backward(np.ones_like(x), x, rms_stats)


@pytest.mark.parametrize("rows", [7, 4301])
@pytest.mark.parametrize("fn", ["layer_norm", "rms_norm"])
def test_backward_out(fn, rows, dtype, rng):
    """out= receives dx with the bits of a fresh dx, also when it is dy or x itself (in
    place); 4301x1024 float32 is past 16 MiB (the streamed path, or the direct one when
    out is an input); a wrong out is refused before anything is written."""
    cols = 1024 if rows > 100 else 33
    x = rng.standard_normal((rows, cols)).astype(dtype)
    dy = rng.standard_normal((rows, cols)).astype(dtype)
    w = rng.standard_normal(cols).astype(dtype)
    fwd, bwd = getattr(norm, fn), getattr(norm, fn + "_backward")
    _, st = fwd(x, w)
    want = bwd(dy, x, st, w)
    out = np.full_like(x, np.nan)
    got = bwd(dy, x, st, w, out=out)
    assert got[0] is out
    assert_bitwise_equal(got, want)
    for alias in ("dy", "x"):
        a, b = dy.copy(), x.copy()
        target = a if alias == "dy" else b
        got = bwd(a, b, st, w, out=target)
        assert got[0] is target
        assert_bitwise_equal(got, want)
    for bad, err, msg in ((np.zeros((rows, cols + 1), dtype), ValueError, "out must have shape"),
                          (np.zeros((rows, cols), np.float16), ValueError, "out must have dtype"),
                          (np.zeros((cols, rows), dtype).T, ValueError, "out must be C-contiguous")):
        with pytest.raises(err, match=msg):
            bwd(dy, x, st, w, out=bad)
        assert not bad.any()


@pytest.mark.parametrize("dt", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("rms", [False, True])
def test_forward_output_just_past_the_input_mod_4k_same_bits(dt, rms, alias_avoidance):
    # an output 1..2047 bytes past x modulo 4 KiB is written backwards (gk_alias_ahead):
    # the same bits as any other placement, the row ends included
    dtype = gradkit.bfloat16 if dt == "bfloat16" else np.dtype(dt)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 1000)).astype(dtype)
    w = rng.standard_normal(1000).astype(np.float32 if dt in ("float16", "bfloat16") else dtype)
    b = rng.standard_normal(1000).astype(w.dtype)
    f = (lambda o: norm.rms_norm(x, w, out=o)) if rms else (lambda o: norm.layer_norm(x, w, b, out=o))
    want = f(placed_past(x, 0, x.shape, dtype))[0].copy()
    for off in (8, 16, 48, 64, 1024, 2040, 2048, 4088):
        out = placed_past(x, off, x.shape, dtype)
        np.testing.assert_array_equal(f(out)[0].view(np.uint8), want.view(np.uint8),
                                      err_msg=f"offset {off}")


def _backward_case(dt, rms, shape, seed):
    """dtype, x, dy and bwd(out=None): the LayerNorm (or RMSNorm) backward of a fixed
    forward, weight and dweight in float32 for 16-bit data."""
    dtype = np.dtype(gradkit.bfloat16 if dt == "bfloat16" else dt)
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    pdt = np.float32 if dtype.itemsize == 2 else dtype
    w = rng.standard_normal(shape[1]).astype(pdt)
    if rms:
        _, st = norm.rms_norm(x, w)
        return dtype, x, dy, lambda o=None: norm.rms_norm_backward(dy, x, st, w, out=o)
    _, st = norm.layer_norm(x, w, w)
    return dtype, x, dy, lambda o=None: norm.layer_norm_backward(dy, x, st, w, out=o)


@pytest.mark.parametrize("dt", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("shape", [(40, 1030), (300, 37), (5, 3000)], ids=str)
def test_backward_out_one_row_past_an_input(dt, rms, shape, alias_avoidance):
    # dx one row past x or dy modulo 1 MiB (give or take 16 bytes) goes through the L1
    # buffer (gk_alias_line_at in norm_bwd): the bits of a dx placed elsewhere, and
    # nothing outside out is written
    dtype, x, dy, bwd = _backward_case(dt, rms, shape, 6)
    want = [a.copy() for a in bwd(placed_past(x, 100 * 64, modulus=1 << 20))]
    row = shape[1] * dtype.itemsize
    for like in (x, dy):
        for off in (row - 16, row, row + 16):
            n = x.size
            buf = placed_past(like, off - 64, (n + 64 // dtype.itemsize * 2,), dtype,
                              modulus=1 << 20)
            buf[...] = np.array(7, dtype)
            out = buf[64 // dtype.itemsize:][:n].reshape(shape)
            got = bwd(out)
            assert got[0] is out
            assert_bitwise_equal(list(got), want)
            rest = np.concatenate([buf[:64 // dtype.itemsize],
                                   buf[64 // dtype.itemsize + n:]])
            assert_bitwise_equal(rest, np.full(rest.shape, 7, dtype))


@pytest.mark.parametrize("dt", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("shape", [(9, 37), (6, 1030), (3, 5)], ids=str)
def test_backward_out_at_every_alignment(dt, rms, shape):
    # the backward stores aligned vectors and writes each row's ends as overlapping
    # unaligned vectors that add only their own columns' terms to dweight/dbias (one by
    # one in place, and in rows shorter than a vector): out= at every element offset
    # within two lines gives the bits of a fresh dx, dweight and dbias, and nothing is
    # written outside out
    dtype, x, dy, bwd = _backward_case(dt, rms, shape, 5)
    want = [a.copy() for a in bwd()]
    n = x.size
    for off in range(128 // dtype.itemsize):
        buf = np.full(n + 2 * off + 64, 7, dtype)
        out = buf[off:off + n].reshape(shape)
        got = bwd(out)
        assert got[0] is out
        assert_bitwise_equal(list(got), want)
        rest = np.concatenate([buf[:off], buf[off + n:]])
        assert_bitwise_equal(rest, np.full(rest.shape, 7, dtype))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("fn", ["layer_norm", "rms_norm", "batch_norm"])
def test_streamed_rows_at_every_line_offset_same_bits(dt, fn, rng):
    """Streamed outputs (past a lowered threshold) at every element offset from a line:
    the line two rows share is carried from one row to the next (reduce_tmpl.h's carry,
    its lanes moved by one permute on AVX-512) and streamed whole; the bits of the
    output in cache, nothing written around it."""
    x = (rng.standard_normal((64, 200)) + 1).astype(dt)
    w = rng.standard_normal(200).astype(dt)
    call = {"layer_norm": lambda o: norm.layer_norm(x, w, None, out=o),
            "rms_norm": lambda o: norm.rms_norm(x, w, out=o),
            "batch_norm": lambda o: norm.batch_norm(x, w, None, out=o)}[fn]
    want = call(None)[0].copy()
    es = np.dtype(dt).itemsize
    before = gradkit.set_stream_threshold(4096)
    try:
        for off in range(0, 64, es):
            buf = np.full(x.size * es + 192, 0x5A, np.uint8)
            lead = -buf.ctypes.data % 64 + 64 + off
            out = buf[lead:lead + x.size * es].view(dt).reshape(x.shape)
            call(out)
            assert_bitwise_equal(out, want)
            assert (buf[:lead] == 0x5A).all() and (buf[lead + x.size * es:] == 0x5A).all()
    finally:
        gradkit.set_stream_threshold(before)
