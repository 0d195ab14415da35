"""Optimizer steps on arrays that malloc put back to back (each 16 bytes further past a
4 KiB boundary than the one before): the kernels then run staged (optim_tmpl.h,
stage_lagged), and must give the bits of arrays placed anywhere else."""
import contextlib

import numpy as np
import pytest

from gradkit.optim import functional as F
from conftest import assert_bitwise_equal, placed_past


def _back_to_back(arrays, gap):
    """Copies of ``arrays``, array k placed k * ``gap`` bytes past array 0 modulo 4 KiB,
    as malloc lays out arrays of whole pages allocated one after another (gap 16; a
    multiple of 4096: all at one offset)."""
    out = [arrays[0].copy()]
    for k, a in enumerate(arrays[1:], 1):
        out.append(placed_past(out[0], k * gap))
        out[-1][...] = a
    return out


# (step, the number of state arrays after param and grad; the states are positive)
STEPS = {
    "sgd": (lambda p, g, s: F.sgd_(p, g, s[0], lr=0.1, momentum=0.9, nesterov=True,
                                   weight_decay=0.1), 1),
    "adam": (lambda p, g, s: F.adam_(p, g, s[0], s[1], 7, lr=0.1, weight_decay=0.1,
                                     decoupled=True), 2),
    "amsgrad": (lambda p, g, s: F.adam_(p, g, s[0], s[1], 7, lr=0.1, amsgrad=True,
                                        max_exp_avg_sq=s[2]), 3),
    "rmsprop": (lambda p, g, s: F.rmsprop_(p, g, s[0], grad_avg=s[1], momentum_buffer=s[2],
                                           lr=0.1, momentum=0.5, centered=True), 3),
    "adagrad": (lambda p, g, s: F.adagrad_(p, g, s[0], 3, lr=0.1), 1),
    "radam": (lambda p, g, s: F.radam_(p, g, s[0], s[1], 9, lr=0.1, weight_decay=0.1), 2),
    "adamax": (lambda p, g, s: F.adamax_(p, g, s[0], s[1], 4, lr=0.1), 2),
    "adadelta": (lambda p, g, s: F.adadelta_(p, g, s[0], s[1], rho=0.5), 2),
    "lion": (lambda p, g, s: F.lion_(p, g, s[0], lr=0.1, weight_decay=0.1), 1),
    "lamb": (lambda p, g, s: F.lamb_(p, g, s[0], s[1], 5, lr=0.1, weight_decay=0.1), 2),
    "lars": (lambda p, g, s: F.lars_(p, g, s[0], lr=0.1, weight_decay=0.1), 1),
}


@pytest.mark.parametrize("name", sorted(STEPS))
@pytest.mark.parametrize("n", [5, 300, 1000, 100_003])
@pytest.mark.parametrize("gap", [16, 48, 2064])
@pytest.mark.parametrize("order", ["param-first", "states-first"])
def test_arrays_back_to_back_same_bits(name, n, gap, order, dtype, rng, alias_avoidance):
    step, nstate = STEPS[name]
    p = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    states = [np.abs(rng.standard_normal(n)).astype(dtype) for _ in range(nstate)]
    arrays = [p, g] + states
    want = _back_to_back(arrays, 4096)   # a page apart: in place (fresh copies may not be)
    step(want[0], want[1], want[2:])
    if order == "states-first":
        placed = _back_to_back(arrays[::-1], gap)[::-1]
    else:
        placed = _back_to_back(arrays, gap)
    step(placed[0], placed[1], placed[2:])
    for got, exp in zip(placed, want):
        assert_bitwise_equal(got, exp)


@pytest.mark.parametrize("shape", [(1000,), (300, 7)], ids=str)
@pytest.mark.parametrize("gap", [16, 48])
def test_adafactor_back_to_back_same_bits(shape, gap, dtype, rng, alias_avoidance):
    """Adafactor's staged passes (param written, grad and the 1-d variance read or
    written); the factored (2-d) row and column factors are small and stay apart."""
    p = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    extra = [np.abs(rng.standard_normal(shape)).astype(dtype)] if len(shape) == 1 else []

    def step(q, gr, rest):
        if len(shape) == 1:
            F.adafactor_(q, gr, None, None, rest[0], 4, lr=0.1, weight_decay=0.1)
        else:
            row, col = np.zeros((shape[0], 1), dtype), np.zeros((1, shape[1]), dtype)
            F.adafactor_(q, gr, row, col, None, 4, lr=0.1, weight_decay=0.1)

    arrays = [g, p] + extra     # the parameter just past the gradient
    want = _back_to_back(arrays, 4096)
    step(want[1], want[0], want[2:])
    placed = _back_to_back(arrays, gap)
    step(placed[1], placed[0], placed[2:])
    for got, exp in zip(placed, want):
        assert_bitwise_equal(got, exp)


# ---- steps past the cache: prefetched, in blocks (optim_tmpl.h, GK_OPT_FAR) ----------

@contextlib.contextmanager
def _stream_threshold(nbytes):
    """Steps whose arrays total at least the streaming threshold prefetch ahead: a tiny
    threshold makes every step here take that path, a huge one none."""
    import gradkit
    old = gradkit.set_stream_threshold(nbytes)
    try:
        yield
    finally:
        gradkit.set_stream_threshold(old)


def _arrays(rng, n, nstate, dtype):
    return ([rng.standard_normal(n).astype(dtype) for _ in range(2)]
            + [np.abs(rng.standard_normal(n)).astype(dtype) for _ in range(nstate)])


def _step_both_ways(step, arrays, placed=None):
    """The step on copies of arrays without the prefetched path, and with it on placed
    (default: copies a page apart, so the step runs in place, not staged)."""
    plain = _back_to_back(arrays, 4096)
    fetched = placed if placed is not None else _back_to_back(arrays, 4096)
    with _stream_threshold(1 << 62):
        step(plain[0], plain[1], plain[2:])
    with _stream_threshold(4096):
        step(fetched[0], fetched[1], fetched[2:])
    return plain, fetched


@pytest.mark.parametrize("name", sorted(STEPS))
@pytest.mark.parametrize("n", [5, 1000, 300_007])
def test_prefetched_step_same_bits(name, n, dtype, rng):
    """Past the cache the step prefetches and runs in 512-byte blocks: the same bits."""
    step, nstate = STEPS[name]
    plain, fetched = _step_both_ways(step, _arrays(rng, n, nstate, dtype))
    for got, exp in zip(fetched, plain):
        assert_bitwise_equal(got, exp)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "sgd"])
def test_prefetched_lagged_step_same_bits(name, dtype, rng):
    """Back to back (staged, lagged) and past the cache (prefetched): the bits of arrays
    a page apart."""
    step, nstate = STEPS[name]
    arrays = _arrays(rng, 300_007, nstate, dtype)
    plain, fetched = _step_both_ways(step, arrays, _back_to_back(arrays, 16))
    for got, exp in zip(fetched, plain):
        assert_bitwise_equal(got, exp)


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", ["adam", "lion", "radam"])
def test_prefetched_step_same_bits_16bit(name, half, rng):
    """16-bit storage: the staged path widens blocks and, past the cache, prefetches
    the ones ahead; the same bits."""
    import gradkit
    step, nstate = STEPS[name]
    dt = np.dtype(gradkit.bfloat16 if half == "bfloat16" else half)
    arrays = [a.astype(dt) for a in _arrays(rng, 300_007, nstate, np.float32)]
    plain, fetched = _step_both_ways(step, arrays)
    for got, exp in zip(fetched, plain):
        assert_bitwise_equal(got, exp)


@pytest.mark.parametrize("kind", ["master-bfloat16", "master-float16", "bf16-states"])
def test_prefetched_mixed_adamw_same_bits(kind, rng):
    """AdamW's fused 16-bit loops (float32 masters with a 16-bit model; float32 with
    bfloat16 moments) prefetch past the cache too: the same bits."""
    import gradkit
    from gradkit import optim
    n = 300_007
    if kind == "bf16-states":
        dt, kw = np.dtype(np.float32), {"state_dtype": gradkit.bfloat16}
    else:
        dt = np.dtype(gradkit.bfloat16 if kind == "master-bfloat16" else np.float16)
        kw = {"master_weights": True}
    p0 = rng.standard_normal(n).astype(dt)
    grads = [rng.standard_normal(n).astype(dt) for _ in range(2)]
    out = []
    for threshold in (1 << 62, 4096):
        p = p0.copy()
        opt = optim.AdamW([p], lr=0.1, weight_decay=0.1, **kw)
        with _stream_threshold(threshold):
            for g in grads:
                opt.step([g])
        state = opt.state_dict()["state"][0]
        out.append([p] + [v for v in state.values() if isinstance(v, np.ndarray)
                          and v.ndim > 0])
    for got, exp in zip(out[1], out[0]):
        assert_bitwise_equal(got, exp)
