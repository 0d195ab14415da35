"""The fused residual add + dropout + LayerNorm/RMSNorm: bitwise the unfused sequence of
gradkit calls, close to the NumPy twin, gradients against finite differences, threads,
layouts, bad input."""
import numpy as np
import pytest

import gradkit
from gradkit import dropout as D, norm, reference as ref
from gradkit.random import Generator
from conftest import assert_bitwise_equal, assert_close, numerical_grad, run_threads

# rows ending on a mask byte or not, one element, a 3-D input, a row longer than the
# kernel's stack row buffer (4096), rows that do not divide among threads, short rows
# drawn in blocks whose spans start inside a mask byte (50x37)
SHAPES = [(1, 1), (7, 13), (16, 64), (3, 5, 33), (5, 9001), (331, 307), (40, 1024),
          (50, 37)]
KINDS = ["layer", "rms"]


def _fns(kind):
    if kind == "layer":
        return (norm.add_dropout_layer_norm, norm.add_dropout_layer_norm_backward,
                ref.add_dropout_layer_norm, ref.add_dropout_layer_norm_backward)
    return (norm.add_dropout_rms_norm, norm.add_dropout_rms_norm_backward,
            ref.add_dropout_rms_norm, ref.add_dropout_rms_norm_backward)


def _inputs(rng, shape, dtype, nd=1):
    inner = shape[len(shape) - nd:]
    x, r, dy, dsn = (rng.standard_normal(shape).astype(dtype) for _ in range(4))
    w, b = (rng.standard_normal(inner).astype(dtype) for _ in range(2))
    return x + 0.5, r * 2.0, dy, dsn, w, b


def _params(kind, w, b):
    return (w, b) if kind == "layer" else (w,)


def _unfused(kind, x, r, w, b, p, rng, dy, dsn, store_mask=True, training=True):
    """The same computation as a sequence of gradkit calls."""
    d, m = D.dropout(x, p, rng=rng, store_mask=store_mask, training=training and p > 0)
    s = r + d
    if kind == "layer":
        y, st = norm.layer_norm(s, w, b)
        ds, dw, db = norm.layer_norm_backward(dy, s, st, w)
    else:
        y, st = norm.rms_norm(s, w)
        ds, dw = norm.rms_norm_backward(dy, s, st, w)
        db = None
    if dsn is not None:
        ds = ds + dsn
    dx = D.dropout_backward(ds, m)
    return y, s, m, st, dx, ds, dw, db


def _fused(kind, x, r, w, b, p, rng, dy, dsn, store_mask=True, training=True):
    fwd, bwd, _, _ = _fns(kind)
    y, s, m, st = fwd(x, r, *_params(kind, w, b), p=p, rng=rng, store_mask=store_mask,
                      training=training)
    g = bwd(dy, s, st, m, w, dresidual_out=dsn)
    return (y, s, m, st) + tuple(g) + ((None,) if kind == "rms" else ())


def _masks_equal(a, b):
    if a is None or b is None:
        assert a is None and b is None
        return
    assert (a.shape, a.p, a.seed, a.counter, a.stored) == (b.shape, b.p, b.seed, b.counter,
                                                           b.stored)
    assert_bitwise_equal(a.bits, b.bits)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("p,store", [(0.3, True), (0.3, False), (0.0, True), (1.0, True)])
def test_bitwise_the_unfused_sequence(shape, kind, p, store, dtype, rng):
    x, r, dy, dsn, w, b = _inputs(rng, shape, dtype)
    for grad_next in (dsn, None):
        g1, g2 = Generator(5), Generator(5)
        fused = _fused(kind, x, r, w, b, p, g1, dy, grad_next, store)
        unfused = _unfused(kind, x, r, w, b, p, g2, dy, grad_next, store)
        assert g1.counter == g2.counter
        _masks_equal(fused[2], unfused[2])
        assert_bitwise_equal(fused[:2] + fused[3:], unfused[:2] + unfused[3:])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_matches_reference(shape, kind, dtype, rng):
    fwd, bwd, rfwd, rbwd = _fns(kind)
    x, r, dy, dsn, w, b = _inputs(rng, shape, dtype)
    pw = _params(kind, w, b)
    y, s, m, st = fwd(x, r, *pw, p=0.25, rng=9)
    yr, sr, mr, sr_st = rfwd(x, r, *pw, p=0.25, rng=9)
    assert_bitwise_equal(s, sr)  # one multiply and one add, rounded as NumPy does
    assert_bitwise_equal(m.bits, mr.bits)
    assert (m.seed, m.counter) == (mr.seed, mr.counter)
    f64 = np.float64
    wide = [a.astype(f64) for a in pw]
    yw, stw = (ref.layer_norm(s.astype(f64), *wide) if kind == "layer"
               else ref.rms_norm(s.astype(f64), *wide, eps=float(np.finfo(dtype).eps)))
    assert_close(y, yw, dtype, ulps=8)
    assert_close(st.rstd, stw.rstd, dtype, ulps=8)
    assert_close(yr, yw, dtype, ulps=8)
    got = bwd(dy, s, st, m, w, dresidual_out=dsn)
    want = rbwd(dy.astype(f64), s.astype(f64), type(stw)(*(None if a is None else
                a.astype(f64) for a in st)), mr, w.astype(f64), dresidual_out=dsn.astype(f64))
    scale = float(np.max(np.abs(want[0]))) * (10 if dtype == np.float32 else 1)
    for a, e in zip(got, want):
        if e is None:
            assert a is None
        elif e.shape == got[0].shape:
            assert_close(a, e, dtype, ulps=64, scale=scale)
        else:  # dweight, dbias: sums over rows
            assert_close(a, e, dtype, ulps=64 * max(4, int(np.sqrt(x.size // e.size))),
                         scale=float(np.max(np.abs(e))) + 1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_normalized_ndim(kind, dtype, rng):
    fwd, bwd, _, _ = _fns(kind)
    x, r, dy, dsn, w, b = _inputs(rng, (3, 5, 33), dtype, nd=2)
    y, s, m, st = fwd(x, r, *_params(kind, w, b), p=0.5, rng=3, normalized_ndim=2)
    d, m2 = D.dropout(x, 0.5, rng=3)
    want = (norm.layer_norm(r + d, w, b, normalized_ndim=2) if kind == "layer"
            else norm.rms_norm(r + d, w, normalized_ndim=2))
    assert_bitwise_equal((y, st.rstd), (want[0], want[1].rstd))
    assert st.rstd.shape == (3,)
    g = bwd(dy, s, st, m, w, dresidual_out=dsn)
    assert g[0].shape == x.shape and g[2].shape == (5, 33)


@pytest.mark.parametrize("kind", KINDS)
def test_no_dropout_draws_nothing(kind, dtype, rng):
    fwd, bwd, _, _ = _fns(kind)
    x, r, dy, dsn, w, b = _inputs(rng, (6, 10), dtype)
    for kw in ({"p": 0.0}, {"p": 0.5, "training": False}):
        g = Generator(1)
        y, s, m, st = fwd(x, r, *_params(kind, w, b), rng=g, **kw)
        assert m is None and g.counter == 0
        assert_bitwise_equal(s, r + x)
        dx, dres = bwd(dy, s, st, None, w, dresidual_out=dsn)[:2]
        assert_bitwise_equal(dx, dres)


@pytest.mark.parametrize("kind", KINDS)
def test_seed_only_mask(kind, dtype, rng):
    """store_mask=False: no bits; the backward regenerates the same mask."""
    fwd, bwd, _, _ = _fns(kind)
    x, r, dy, dsn, w, b = _inputs(rng, (33, 77), dtype)
    a = fwd(x, r, *_params(kind, w, b), p=0.4, rng=11)
    s_ = fwd(x, r, *_params(kind, w, b), p=0.4, rng=11, store_mask=False)
    assert a[2].stored and not s_[2].stored
    assert_bitwise_equal(a[2].bits, s_[2].bits)
    assert_bitwise_equal((a[0], a[1]), (s_[0], s_[1]))
    assert_bitwise_equal(bwd(dy, a[1], a[3], a[2], w, dresidual_out=dsn),
                         bwd(dy, s_[1], s_[3], s_[2], w, dresidual_out=dsn))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(0, 5), (4, 0), (0,), (2, 0, 3)])
def test_zero_size(kind, shape, dtype):
    fwd, bwd, rfwd, _ = _fns(kind)
    x = np.zeros(shape, dtype)
    inner = shape[-1:]
    w, b = np.ones(inner, dtype), np.zeros(inner, dtype)
    y, s, m, st = fwd(x, x, *_params(kind, w, b), p=0.5, rng=1)
    yr, sr, _, str_ = rfwd(x, x, *_params(kind, w, b), p=0.5, rng=1)
    assert y.shape == s.shape == shape and st.rstd.shape == shape[:-1]
    assert_close(st.rstd, str_.rstd, dtype)
    g = bwd(x, s, st, m, w, dresidual_out=x)
    assert g[0].shape == g[1].shape == shape
    assert not g[2].any()


@pytest.mark.parametrize("kind", KINDS)
def test_layouts(kind, dtype, rng):
    """Non-contiguous, read-only and byte-swapped inputs give the same bits."""
    fwd, bwd, _, _ = _fns(kind)
    x, r, dy, dsn, w, b = _inputs(rng, (12, 40), dtype)
    pw = _params(kind, w, b)
    want = fwd(x, r, *pw, p=0.2, rng=4)
    want_g = bwd(dy, want[1], want[3], want[2], w, dresidual_out=dsn)
    xt = np.asfortranarray(x)
    ro = r.copy()
    ro.flags.writeable = False
    sw = dtype.newbyteorder(">")
    for args in ((xt, ro) + pw, (x[:, ::1].copy()[::1], r.astype(sw)) + pw,
                 (x.astype(sw), r) + tuple(a.astype(sw) for a in pw)):
        got = fwd(*args, p=0.2, rng=4)
        _masks_equal(got[2], want[2])
        assert_bitwise_equal((got[0], got[1], got[3]), (want[0], want[1], want[3]))
    strided = np.zeros((12, 80), dtype)[:, ::2]
    strided[...] = dy
    got_g = bwd(strided, want[1].astype(sw), want[3], want[2], w,
                dresidual_out=np.asfortranarray(dsn))
    assert_bitwise_equal(got_g, want_g)
    # inputs are not modified
    x0 = x.copy()
    fwd(x, r, *pw, p=0.2, rng=4)
    assert_bitwise_equal(x, x0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(512, 300), (41, 1001), (3, 70001), (8, 8192),
                                   (1001, 37), (2048, 64)])
def test_threads_bitwise_identical(kind, shape, dtype, rng):
    x, r, dy, dsn, w, b = _inputs(rng, shape, dtype)

    def run():
        out = _fused(kind, x, r, w, b, 0.3, Generator(2), dy, dsn)
        seed_only = _fused(kind, x, r, w, b, 0.3, Generator(2), dy, None, store_mask=False)
        return ([a for a in out if not isinstance(a, D.DropoutMask)] + [out[2].bits]
                + [a for a in seed_only if not isinstance(a, D.DropoutMask)])

    one, two = run_threads(run, (1, 2, 3, 4))[:2]
    assert_bitwise_equal(one, two)


@pytest.mark.parametrize("shape,dt", [((4100, 1025), np.float32), ((4100, 1024), np.float32),
                                      ((2100, 1024), np.float64)])
def test_big_streamed_outputs(shape, dt, rng):
    """Outputs past the cache take the non-temporal store path; rows of an odd width
    start at every alignment and every mask bit offset, rows of 1024 on lines and mask
    bytes (the backward's one pass to dresidual and dx's direct streamed stores)."""
    x, r, dy, dsn, w, b = _inputs(rng, shape, dt)
    for kind in KINDS:
        fused = _fused(kind, x, r, w, b, 0.1, Generator(8), dy, dsn)
        unfused = _unfused(kind, x, r, w, b, 0.1, Generator(8), dy, dsn)
        _masks_equal(fused[2], unfused[2])
        assert_bitwise_equal(fused[:2] + fused[3:], unfused[:2] + unfused[3:])


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_finite_differences(kind, rng):
    """Through the whole fused map (x, residual, weight, bias) -> (y, s), with the
    dropout mask fixed by the seed."""
    fwd, bwd, _, _ = _fns(kind)
    x, r, dy, dsn, w, b = _inputs(rng, (3, 4, 5), np.float64)

    def loss(x_, r_, w_, b_):
        y, s, _, _ = fwd(x_, r_, *_params(kind, w_, b_), p=0.3, rng=17, eps=1e-5)
        return float(np.sum(y * dy) + np.sum(s * dsn))

    _, s, m, st = fwd(x, r, *_params(kind, w, b), p=0.3, rng=17, eps=1e-5)
    assert 0 < m.to_bool().sum() < x.size  # some dropped, some kept
    g = bwd(dy, s, st, m, w, dresidual_out=dsn)
    tol = dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g[0], numerical_grad(lambda v: loss(v, r, w, b), x), **tol)
    np.testing.assert_allclose(g[1], numerical_grad(lambda v: loss(x, v, w, b), r), **tol)
    np.testing.assert_allclose(g[2], numerical_grad(lambda v: loss(x, r, v, b), w), **tol)
    if kind == "layer":
        np.testing.assert_allclose(g[3], numerical_grad(lambda v: loss(x, r, w, v), b),
                                   **tol)


def test_reexported_at_top_level():
    assert gradkit.add_dropout_layer_norm is norm.add_dropout_layer_norm
    assert gradkit.add_dropout_rms_norm_backward is norm.add_dropout_rms_norm_backward


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_raises_before_anything_changes(kind, rng):
    fwd, bwd, _, _ = _fns(kind)
    x, r, dy, dsn, w, b = _inputs(rng, (4, 6), np.float32)
    pw = _params(kind, w, b)
    g = Generator(3)
    bad = [
        (TypeError, "x must be", lambda: fwd(x.astype(np.int64), r, *pw, p=0.5, rng=g)),
        (TypeError, "residual has dtype", lambda: fwd(x, r.astype(np.float64), *pw, p=0.5,
                                                     rng=g)),
        (ValueError, "residual must have the shape", lambda: fwd(x, r[:2], *pw, p=0.5,
                                                                 rng=g)),
        (ValueError, "weight must have shape", lambda: fwd(x, r, w[:5], p=0.5, rng=g)),
        (ValueError, "p", lambda: fwd(x, r, *pw, p=1.5, rng=g)),
        (ValueError, "eps", lambda: fwd(x, r, *pw, p=0.5, eps=-1.0, rng=g)),
        (ValueError, "normalized_ndim", lambda: fwd(x, r, *pw, p=0.5, rng=g,
                                                    normalized_ndim=3)),
        (TypeError, "training", lambda: fwd(x, r, *pw, p=0.5, rng=g, training="yes")),
    ]
    for err, match, call in bad:
        with pytest.raises(err, match=match):
            call()
    assert g.counter == 0
    _, s, m, st = fwd(x, r, *pw, p=0.5, rng=g)
    bad_bwd = [
        (ValueError, "dy must have the shape", lambda: bwd(dy[:2], s, st, m, w)),
        (TypeError, "dy has dtype", lambda: bwd(dy.astype(np.float64), s, st, m, w)),
        (ValueError, "dresidual_out must have the shape",
         lambda: bwd(dy, s, st, m, w, dresidual_out=dsn[:2])),
        (TypeError, "mask must be a DropoutMask", lambda: bwd(dy, s, st, "mask", w)),
        (ValueError, "mask has shape", lambda: bwd(
            dy, s, st, D.dropout(np.ones((2, 2), np.float32), 0.5, rng=1)[1], w)),
        (TypeError, "stats", lambda: bwd(dy, s, None, m, w)),
        (ValueError, "weight must have shape", lambda: bwd(dy, s, st, m, w[:5])),
    ]
    for err, match, call in bad_bwd:
        with pytest.raises(err, match=match):
            call()


# ---- nn.Residual ------------------------------------------------------------------------

def _residual(norm_kind, p, seed=6):
    lin = gradkit.nn.Linear(8, 8, rng=1, dtype=np.float64)
    return gradkit.nn.Residual(lin, norm_kind, features=8, dtype=np.float64, p=p, rng=seed)


@pytest.mark.parametrize("norm_kind", [None, "pre", "post"])
def test_residual_is_the_composition(norm_kind, rng):
    x, dy = rng.standard_normal((5, 8)), rng.standard_normal((5, 8))
    m = _residual(norm_kind, 0.25)
    y = m.forward(x)
    lin, ln = m.block, m.norm
    h = x if norm_kind != "pre" else norm.layer_norm(x, ln.weight, ln.bias)[0]
    d, mask = D.dropout(lin.forward(h), 0.25, rng=6)
    want = x + d if norm_kind != "post" else norm.layer_norm(x + d, ln.weight, ln.bias)[0]
    assert_bitwise_equal(y, want)
    assert m.rng.counter == x.size
    # no dropout (the default, and eval): the public behavior of before
    m0 = _residual(norm_kind, 0.0)
    y0 = m0.forward(x)
    b0 = m0.block.forward(h)
    want0 = x + b0 if norm_kind != "post" else norm.layer_norm(x + b0, ln.weight, ln.bias)[0]
    assert_bitwise_equal(y0, want0)
    assert_bitwise_equal(m.forward(x, training=False), y0)
    assert m0.rng.counter == 0


@pytest.mark.parametrize("norm_kind", [None, "pre", "post"])
def test_residual_gradients_finite_differences(norm_kind, rng):
    x, dy = rng.standard_normal((4, 8)), rng.standard_normal((4, 8))

    def loss(x_):
        return float(np.sum(_residual(norm_kind, 0.3).forward(x_) * dy))

    m = _residual(norm_kind, 0.3)
    m.forward(x)
    dx = m.backward(dy)
    np.testing.assert_allclose(dx, numerical_grad(loss, x), rtol=1e-6, atol=1e-7)
    if norm_kind == "post":  # the LayerNorm's parameter gradients
        w = m.norm.weight

        def loss_w(w_):
            r = _residual(norm_kind, 0.3)
            r.norm.weight[...] = w_
            return float(np.sum(r.forward(x) * dy))

        np.testing.assert_allclose(m.norm.dweight, numerical_grad(loss_w, w), rtol=1e-6,
                                   atol=1e-7)


def _strided(a):
    """A row-strided view of a's values: the checked path copies it, the fast path
    leaves the call to it."""
    return np.repeat(a, 2, axis=0)[::2]


def assert_fast_path_matches_checked(kind, x, r, w, b, dy, dsn, p, training, store):
    """The common call runs whole in compiled code (the fused fast paths return a result);
    the checked path (strided x or dy) gives the same bits, mask and generator counter."""
    fwd, bwd, _, _ = _fns(kind)
    layer = kind == "layer"
    pw = _params(kind, w, b)
    g = Generator(3)
    assert norm._k.add_dropout_norm_fast(x, r, w, b if layer else None, p,
                                         1e-5 if layer else None, training, g, 1, store,
                                         layer) is not None
    assert g.counter == (x.size if training and p > 0 else 0)
    g1, g2 = Generator(5), Generator(5)
    fast = fwd(x, r, *pw, p=p, training=training, rng=g1, store_mask=store)
    checked = fwd(_strided(x), r, *pw, p=p, training=training, rng=g2, store_mask=store)
    assert g1.counter == g2.counter
    _masks_equal(fast[2], checked[2])
    assert [type(a) for a in fast] == [type(a) for a in checked]
    assert_bitwise_equal((fast[0], fast[1]) + tuple(fast[3]),
                         (checked[0], checked[1]) + tuple(checked[3]))
    _, s, m, st = fast
    for dn in (dsn, None):
        assert norm._k.add_dropout_norm_backward_fast(dy, s, st, m, w, True, dn,
                                                      layer) is not None
        got = bwd(dy, s, st, m, w, dresidual_out=dn)
        want = bwd(_strided(dy), s, st, m, w, dresidual_out=dn)
        assert len(got) == len(want) == (4 if layer else 3)
        assert [None if a is None else a.dtype for a in got] == \
            [None if a is None else a.dtype for a in want]
        assert_bitwise_equal(got, want)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("p,training,store", [(0.3, True, True), (0.3, True, False),
                                              (0.0, True, True), (0.3, False, True)])
@pytest.mark.parametrize("shape", [(9, 40), (3, 4, 5), (0, 7)], ids=str)
def test_fast_path_matches_checked(kind, p, training, store, shape, dtype, rng):
    x, r, dy, dsn, w, b = _inputs(rng, shape, dtype)
    assert_fast_path_matches_checked(kind, x, r, w, b, dy, dsn, p, training, store)
    assert_fast_path_matches_checked(kind, x, r, None, None, dy, dsn, p, training, store)
