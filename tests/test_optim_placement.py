"""Optimizer steps on arrays that malloc put back to back (each 16 bytes further past a
4 KiB boundary than the one before): the kernels then run staged (optim_tmpl.h,
stage_lagged), and must give the bits of arrays placed anywhere else."""
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
def test_arrays_back_to_back_same_bits(name, n, gap, order, dtype, rng):
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
def test_adafactor_back_to_back_same_bits(shape, gap, dtype, rng):
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


# ---- spans past L2: prefetched, in blocks (optim_tmpl.h, GK_OPT_PF_MIN_BYTES) --------

ELEMENTWISE = sorted(set(STEPS) - {"lamb", "lars"})   # no per-array norm


def _arrays(rng, n, nstate, dtype):
    return ([rng.standard_normal(n).astype(dtype) for _ in range(2)]
            + [np.abs(rng.standard_normal(n)).astype(dtype) for _ in range(nstate)])


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_prefetched_span_same_bits_as_small_arrays(name, dtype, rng):
    """One array of 1M elements on one thread (a span of 12 MB or more: the prefetched,
    blocked path) gives the bits of the same elements stepped as 40 arrays of 25,000
    (spans under 8 MiB: one loop over each)."""
    import gradkit
    step, nstate = STEPS[name]
    n, piece = 1_000_003, 25_000
    big = _arrays(rng, n, nstate, dtype)
    small = [[a[i:i + piece].copy() for i in range(0, n, piece)] for a in big]
    with gradkit.num_threads(1):
        step(big[0], big[1], big[2:])
    step(small[0], small[1], small[2:])
    for got, pieces in zip(big, small):
        assert_bitwise_equal(got, np.concatenate(pieces))


@pytest.mark.parametrize("name", ["lamb", "lars"])
def test_prefetched_span_same_bits_per_array_norm(name, dtype, rng):
    """LAMB and LARS (a norm per array): 700,001 elements on one thread (prefetched) and
    on three (spans under 8 MiB) give the same bits."""
    import gradkit
    step, nstate = STEPS[name]
    arrays = _arrays(rng, 700_001, nstate, dtype)
    one, three = [a.copy() for a in arrays], [a.copy() for a in arrays]
    with gradkit.num_threads(1):
        step(one[0], one[1], one[2:])
    with gradkit.num_threads(3):
        step(three[0], three[1], three[2:])
    for got, exp in zip(one, three):
        assert_bitwise_equal(got, exp)


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_prefetched_lagged_span_same_bits(name, dtype, rng):
    """Back to back (staged, lagged) and past L2 (prefetched): the bits of arrays a page
    apart."""
    import gradkit
    step, nstate = STEPS[name]
    arrays = _arrays(rng, 1_000_003, nstate, dtype)
    want = _back_to_back(arrays, 4096)
    placed = _back_to_back(arrays, 16)
    with gradkit.num_threads(1):
        step(want[0], want[1], want[2:])
        step(placed[0], placed[1], placed[2:])
    for got, exp in zip(placed, want):
        assert_bitwise_equal(got, exp)


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_prefetched_span_same_bits_16bit(half, rng):
    """16-bit storage (the staged path widens blocks; past L2 it prefetches ahead): one
    array of 2M elements on one thread against 40 arrays of 50,000."""
    import gradkit
    dt = np.dtype(gradkit.bfloat16 if half == "bfloat16" else half)
    n, piece = 2_000_003, 50_000
    big = [a.astype(dt) for a in _arrays(rng, n, 2, np.float32)]
    small = [[a[i:i + piece].copy() for i in range(0, n, piece)] for a in big]
    step = STEPS["adam"][0]
    with gradkit.num_threads(1):
        step(big[0], big[1], big[2:])
    step(small[0], small[1], small[2:])
    for got, pieces in zip(big, small):
        assert_bitwise_equal(got, np.concatenate(pieces))
