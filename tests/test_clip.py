"""Gradient clipping: kernels against gradkit.reference and torch.nn.utils, threads,
non-finite values, bad input."""
import math

import numpy as np
import pytest

from gradkit import clip, reference as ref
from conftest import assert_bitwise_equal, run_threads

NORM_TYPES = [2.0, math.inf, 1.0, 3.0, 0.5]
SHAPES = [(1, 1), (7, 13), (33,), (4, 16), (5000,), (3, 5, 17), (0,), (100003,)]


def _grads(rng, dtype, shapes=SHAPES, scale=1.0):
    return [(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]


def _tol(dtype, p):
    # sum of |x|^p in double; a non-integer p goes through pow, and float32 data ends in
    # a float64 result: the reference is the same formula in float64
    return 1e-12 if p in (1.0, 2.0, math.inf) else 1e-11


@pytest.mark.parametrize("p", NORM_TYPES)
def test_global_norm_matches_reference(p, dtype, rng):
    g = _grads(rng, dtype)
    before = [a.copy() for a in g]
    got = clip.global_norm(g, p)
    want = ref.global_norm(g, p)
    assert isinstance(got, float)
    assert got == pytest.approx(want, rel=_tol(dtype, p))
    for a, b in zip(g, before):  # not modified
        assert_bitwise_equal(a, b)


@pytest.mark.parametrize("p", NORM_TYPES)
@pytest.mark.parametrize("max_norm", [0.0, 0.5, 1e9])
def test_clip_grad_norm_matches_reference(p, max_norm, dtype, rng):
    g = _grads(rng, dtype)
    r = [a.copy() for a in g]
    total = clip.clip_grad_norm_(g, max_norm, p)
    total_ref = ref.clip_grad_norm_(r, max_norm, p)
    assert total == pytest.approx(total_ref, rel=_tol(dtype, p))
    eps = np.finfo(dtype).eps
    for a, b in zip(g, r):
        assert a.dtype == dtype
        scale = max(np.abs(b).max(initial=0), 1e-30)
        np.testing.assert_allclose(a, b, rtol=4 * eps, atol=4 * eps * scale)
    if max_norm < total:
        assert clip.global_norm(g, p) == pytest.approx(max_norm, rel=1e-5, abs=1e-5)


def test_many_arrays_one_list(dtype, rng):
    shapes = [(int(n),) for n in rng.integers(0, 9000, size=200)]
    g = _grads(rng, dtype, shapes)
    for p in NORM_TYPES:
        assert clip.global_norm(g, p) == pytest.approx(ref.global_norm(g, p), rel=_tol(dtype, p))


def test_mixed_dtypes_and_none(rng):
    g = [rng.standard_normal(1000).astype(np.float32), None,
         rng.standard_normal((30, 30)), rng.standard_normal(7).astype(np.float32)]
    r = [None if a is None else a.copy() for a in g]
    total = clip.clip_grad_norm_(g, 1.0)
    assert total == pytest.approx(ref.clip_grad_norm_(r, 1.0), rel=1e-12)
    for a, b in zip(g, r):
        if a is not None:
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=1e-6)


def test_single_array_and_empty(rng):
    a = rng.standard_normal(50)
    assert clip.global_norm(a) == pytest.approx(np.linalg.norm(a), rel=1e-14)
    assert clip.global_norm([]) == 0.0
    assert clip.clip_grad_norm_([], 1.0) == 0.0
    clip.clip_grad_value_([], 1.0)


def test_zero_grads_unchanged(dtype):
    g = [np.zeros(10, dtype), np.zeros((3, 3), dtype)]
    assert clip.clip_grad_norm_(g, 1.0) == 0.0
    assert all(not a.any() for a in g)


def test_non_contiguous_written_back(dtype, rng):
    base = rng.standard_normal((40, 60)).astype(dtype)
    view = base[:, ::2]
    expect = view.copy()
    total = ref.clip_grad_norm_([expect], 1.0)
    assert clip.clip_grad_norm_([view], 1.0) == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(base[:, ::2], expect, rtol=4 * np.finfo(dtype).eps)
    clip.clip_grad_value_([view], 0.01)
    assert np.abs(base[:, ::2]).max() <= dtype.type(0.01)


@pytest.mark.parametrize("p", NORM_TYPES)
def test_threads_bitwise(p, dtype, rng):
    # above GK_PARALLEL_MIN, odd sizes so chunks straddle arrays unevenly
    shapes = [(70001,), (3, 40000), (5,), (0,), (131072,)]
    g0 = _grads(rng, dtype, shapes)

    def run():
        g = [a.copy() for a in g0]
        total = clip.clip_grad_norm_(g, 0.1, p)
        return [np.float64(total)] + g

    a, b = run_threads(run)
    assert_bitwise_equal(a, b)

    def unscale():
        from gradkit._ext import clip as k
        g = [a.copy() for a in g0]
        g[1][1, 7] = np.inf
        return [np.bool_(k.unscale_check_(g, 0.125))] + g

    a, b = run_threads(unscale)
    assert_bitwise_equal(a, b)
    assert bool(a[0])


@pytest.mark.parametrize("p", NORM_TYPES)
def test_nonfinite(p, dtype, rng):
    g = _grads(rng, dtype, [(100,), (50000,)])
    g[1][123] = np.nan
    assert math.isnan(clip.global_norm(g, p))
    with pytest.raises(RuntimeError, match="non-finite"):
        clip.clip_grad_norm_([a.copy() for a in g], 1.0, p, error_if_nonfinite=True)
    keep = [a.copy() for a in g]
    with pytest.raises(RuntimeError):
        clip.clip_grad_norm_(keep, 1.0, p, error_if_nonfinite=True)
    assert_bitwise_equal(keep[0], g[0])  # nothing written on error
    # without the check the gradients are scaled by a NaN coefficient (as torch)
    clip.clip_grad_norm_(g, 1.0, p)
    assert np.isnan(g[0]).all()
    h = _grads(rng, dtype, [(100,), (40000,)])
    h[0][3] = -np.inf
    assert clip.global_norm(h, p) == math.inf
    # inf with a NaN elsewhere is NaN, whatever the order
    h[1][-1] = np.nan
    assert math.isnan(clip.global_norm(h, p))


def test_clip_grad_value(dtype, rng):
    g = _grads(rng, dtype, [(1000,), (3, 70000)], scale=3.0)
    g[0][5] = np.nan
    r = [a.copy() for a in g]
    clip.clip_grad_value_(g, 0.7)
    ref.clip_grad_value_(r, 0.7)
    for a, b in zip(g, r):
        assert_bitwise_equal(a, b)
    assert np.isnan(g[0][5])


def test_bad_input(rng):
    g = [rng.standard_normal(10)]
    with pytest.raises(ValueError, match="max_norm"):
        clip.clip_grad_norm_(g, -1.0)
    with pytest.raises(ValueError, match="max_norm"):
        clip.clip_grad_norm_(g, float("nan"))
    for p in (0, -1.0, -math.inf, float("nan")):
        with pytest.raises(ValueError, match="norm_type"):
            clip.clip_grad_norm_(g, 1.0, p)
        with pytest.raises(ValueError, match="norm_type"):
            clip.global_norm(g, p)
    with pytest.raises(ValueError, match="norm_type"):
        clip.global_norm(g, "two")
    assert clip.global_norm(g, "inf") == np.abs(g[0]).max()
    with pytest.raises(TypeError, match="norm_type"):
        clip.global_norm(g, None)
    with pytest.raises(ValueError, match="clip_value"):
        clip.clip_grad_value_(g, -0.5)
    with pytest.raises(TypeError, match=r"grads\[1\]"):
        clip.clip_grad_norm_([g[0], np.arange(3)], 1.0)
    with pytest.raises(TypeError, match=r"grads\[0\]"):
        clip.clip_grad_norm_([[1.0, 2.0]], 1.0)
    with pytest.raises(TypeError, match="grads"):
        clip.global_norm(3.0)
    ro = rng.standard_normal(5)
    ro.flags.writeable = False
    before = g[0].copy()
    with pytest.raises(ValueError, match="writable"):
        clip.clip_grad_norm_([g[0], ro], 1e-3)
    assert_bitwise_equal(g[0], before)
    assert clip.global_norm([ro]) > 0  # reading is fine


# ---- PyTorch ---------------------------------------------------------------------

def _torch_params(torch, g):
    ps = []
    for a in g:
        p = torch.nn.Parameter(torch.zeros(a.shape, dtype=torch.from_numpy(a).dtype))
        p.grad = torch.from_numpy(a.copy())
        ps.append(p)
    return ps


@pytest.mark.parametrize("p", NORM_TYPES)
def test_matches_torch(p, dtype, rng):
    torch = pytest.importorskip("torch")
    # (torch refuses the inf-norm of an empty array; gradkit counts it as 0)
    g = _grads(rng, dtype, [(3, 5), (64, 100), (1,), (9999,)] + [(128,)] * 40)
    ps = _torch_params(torch, g)
    total = clip.clip_grad_norm_(g, 1.0, p)
    t_total = torch.nn.utils.clip_grad_norm_(ps, 1.0, p).item()
    # torch accumulates float32 gradients in float32
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert total == pytest.approx(t_total, rel=rtol)
    for a, q in zip(g, ps):
        np.testing.assert_allclose(a, q.grad.numpy(), rtol=2 * rtol, atol=1e-30)


def test_matches_torch_nonfinite_and_value(dtype, rng):
    torch = pytest.importorskip("torch")
    g = _grads(rng, dtype, [(10,), (20,)], scale=3.0)
    g[1][2] = np.inf
    ps = _torch_params(torch, g)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        clip.clip_grad_norm_(g, 1.0, error_if_nonfinite=True)
    t_total = torch.nn.utils.clip_grad_norm_(ps, 1.0).item()
    assert clip.clip_grad_norm_(g, 1.0) == t_total == math.inf
    for a, q in zip(g, ps):  # coefficient 0: finite entries 0, inf entries NaN
        np.testing.assert_array_equal(a, q.grad.numpy())
    g = _grads(rng, dtype, [(100,), (7, 7)], scale=3.0)
    ps = _torch_params(torch, g)
    clip.clip_grad_value_(g, 0.3)
    torch.nn.utils.clip_grad_value_(ps, 0.3)
    for a, q in zip(g, ps):
        np.testing.assert_array_equal(a, q.grad.numpy())




def _list_variants():
    """Gradient lists that float_array_list takes whole in compiled code (simple) or
    through its Python path (anything else), each as (name, list)."""
    rng = np.random.default_rng(7)
    base = np.arange(64, dtype=np.float32)
    a32 = rng.standard_normal(40).astype(np.float32)
    a64 = rng.standard_normal((3, 5))
    ro = a32.copy()
    ro.flags.writeable = False
    return [
        ("simple mixed", [a32.copy(), a64.copy(), np.zeros(0, np.float32)]),
        ("tuple", (a32.copy(), a64.copy())),
        ("one array", a32.copy()),
        ("adjacent views", [base[:32], base[32:]]),
        ("overlapping views", [base[:33], base[32:]]),
        ("same array twice", [a32, a32]),
        ("None entry", [a32.copy(), None]),
        ("strided", [a64.copy()[:, ::2]]),
        ("byte-swapped", [a32.astype(">f4")]),
        ("int", [np.arange(3)]),
        ("read-only", [ro]),
        ("subclass", [np.ma.masked_array(a32.copy())]),
        ("list input", [[1.0, 2.0]]),
    ]


def _half_variants():
    import ml_dtypes
    a32 = np.ones(5, np.float32)
    return [
        ("bf16 beside f32", [np.ones(4, ml_dtypes.bfloat16), a32.copy()]),
        ("f16 alone", [np.ones(7, np.float16)]),
        ("f64 beside f16", [np.ones(3, np.float16), np.ones(3)]),
        ("byte-swapped f16", [np.ones(3, ">f2")]),
        ("strided bf16", [np.ones(8, ml_dtypes.bfloat16)[::2]]),
    ]


@pytest.mark.parametrize("writable", [False, True])
@pytest.mark.parametrize("half", [False, True])
def test_float_list_compiled_check_agrees_with_python_path(writable, half, monkeypatch):
    # the compiled check of the common call must take exactly the lists the Python path
    # returns unchanged, and hand every other list to it (which copies, skips or raises)
    from gradkit import _validation as v
    from gradkit._ext import clip as ext
    for name, arrays in _list_variants() + _half_variants():
        simple = ext.simple_float_list(arrays, writable, half)
        with monkeypatch.context() as m:
            m.setattr(v, "_simple_float_list", lambda a, w, h=False: None)
            try:
                slow, back = v.float_array_list(arrays, "grads", writable=writable,
                                                half=half)
            except (TypeError, ValueError):
                slow = None
        if simple is None:
            continue   # the Python path decides (tested by the bad-input sweeps)
        assert slow is not None and not back, name
        assert len(simple) == len(slow) and all(p is q for p, q in zip(simple, slow)), name
    names = {n for n, a in _list_variants() + _half_variants()
             if ext.simple_float_list(a, True, half) is not None}
    assert names == {"simple mixed", "tuple", "one array", "adjacent views"} | (
        {"bf16 beside f32", "f16 alone"} if half else set())
