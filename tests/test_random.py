"""gradkit.random: Philox4x32-10 known answers, the word stream against the NumPy
reference, distribution statistics, reproducibility, threads, chunking, bad input."""
import json
import math
import os
import shutil
import subprocess

import numpy as np
import pytest

import gradkit
from gradkit import random as gr
from gradkit.random import Generator
from gradkit._ext import random as _k
from gradkit.reference import random as rr
from conftest import assert_bitwise_equal, run_threads

# Random123's kat_vectors for philox4x32_10: counter (4 words), key (2 words) -> 4 words.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
BIG = 3 * 32768 + 5  # above the single-thread threshold, not a multiple of the tiles


@pytest.mark.parametrize("ctr,key,want", KAT)
def test_known_answer_vectors(ctr, key, want):
    assert _k.philox_block(ctr, key) == want            # the C header
    got = rr.philox4x32_10([[c] for c in ctr], key)     # the NumPy twin
    assert tuple(int(g[0]) for g in got) == want


def test_stream_starts_with_block_zero():
    # seed 0, counter 0: words 0..3 are the first known-answer block, in order
    assert_bitwise_equal(gr.Generator(0).bits32(4), np.array(KAT[0][2], np.uint32))


def test_installed_header_in_plain_c(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    # the installed headers; an editable install leaves them in the source tree
    here = os.path.dirname(os.path.abspath(__file__))
    inc = [d for d in (gradkit.get_include(), os.path.join(here, "..", "ext", "include"))
           if os.path.exists(os.path.join(d, "gradkit", "philox.h"))]
    if not inc:
        pytest.skip("gradkit/philox.h not found")
    src = tmp_path / "kat.c"
    src.write_text(
        '#include <stdio.h>\n#include "gradkit/philox.h"\n'
        "int main(void) { uint32_t c[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};"
        " uint32_t k[2] = {0xa4093822u, 0x299f31d0u}, o[4]; gk_philox4x32_10(c, k, o);"
        ' printf("%08x %08x %08x %08x %08x\\n", o[0], o[1], o[2], o[3],'
        " gk_philox_word(0, 2)); return 0; }\n")
    exe = tmp_path / "kat"
    subprocess.run([cc, "-std=c99", "-I", inc[0], str(src), "-o", str(exe)],
                   check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["d16cfe09", "94fdcceb", "5001e420", "24126ea1", "bc57ac4c"]


# ---- the kernels against the reference stream ------------------------------------------

STATES = [(1, 0), (2 ** 64 - 1, 2 ** 64 - 7), (12345, 3), (7, 2 ** 34 + 1)]
SIZES = [1, 2, 7, 37, 4099]


def _pair(seed, counter):
    g = gr.Generator(seed)
    g.set_state({"seed": seed, "counter": counter})
    r = rr.Generator(seed)
    r.counter = counter
    return g, r


@pytest.mark.parametrize("seed,counter", STATES)
@pytest.mark.parametrize("n", SIZES)
def test_exact_draws_match_reference(seed, counter, n):
    g, r = _pair(seed, counter)
    assert_bitwise_equal(g.bits32(n), r.bits32(n))
    assert_bitwise_equal(g.uniform(n, -1.5, 3.0), r.uniform(n, -1.5, 3.0))
    assert_bitwise_equal(g.uniform(n, -1.5, 3.0, np.float64),
                         r.uniform(n, -1.5, 3.0, np.float64))
    assert_bitwise_equal(g.integers(n, 7), r.integers(n, 7))
    assert_bitwise_equal(g.integers(n, -5, 3 * 2 ** 31 + 1), r.integers(n, -5, 3 * 2 ** 31 + 1))
    assert_bitwise_equal(g.integers(n, -5, 3 * 2 ** 40), r.integers(n, -5, 3 * 2 ** 40))
    assert_bitwise_equal(g.integers(n, -2 ** 63, 2 ** 63), r.integers(n, -2 ** 63, 2 ** 63))
    assert g.counter == r.counter


@pytest.mark.parametrize("seed,counter", STATES)
@pytest.mark.parametrize("n", SIZES)
def test_normals_match_reference(seed, counter, n):
    g, r = _pair(seed, counter)
    for dt, tol in ((np.float32, 6e-7), (np.float64, 4e-15)):
        a, b = g.normal(n, 0.5, 2.0, dt), r.normal(n, 0.5, 2.0, dt)
        assert a.dtype == dt
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * 8)
        a = g.truncated_normal(n, 1.0, 2.0, -0.5, 4.0, dt)
        b = r.truncated_normal(n, 1.0, 2.0, -0.5, 4.0, dt)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * 4)
        # all above the mean: drawn in the lower tail and negated
        a = g.truncated_normal(n, 0.0, 1.0, 2.5, 6.0, dt)
        b = r.truncated_normal(n, 0.0, 1.0, 2.5, 6.0, dt)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * 4)
    assert g.counter == r.counter


def test_counter_advance_is_documented():
    g = gr.Generator(3)
    for call, words in [(lambda: g.uniform(5), 5), (lambda: g.uniform(5, dtype=np.float64), 10),
                        (lambda: g.normal(5), 6), (lambda: g.normal(5, dtype=np.float64), 12),
                        (lambda: g.truncated_normal(5), 5),
                        (lambda: g.truncated_normal(5, dtype=np.float64), 10),
                        (lambda: g.integers(5, 10), 5), (lambda: g.integers(5, 2 ** 40), 10),
                        (lambda: g.bits32((2, 3)), 6), (lambda: g.uniform((0, 4)), 0)]:
        before = g.counter
        call()
        assert g.counter - before == words


# ---- statistics (fixed seeds: deterministic) ----------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_moments_and_chi_square(dtype):
    u = gr.Generator(11).uniform(1_000_000, dtype=dtype)
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / u.size)
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / u.size)
    counts = np.bincount((u * 100).astype(int), minlength=100)
    chi2 = float(((counts - u.size / 100) ** 2 / (u.size / 100)).sum())
    assert chi2 < 99 + 6 * math.sqrt(2 * 99)   # 99 degrees of freedom, > 6 sigma fails


def test_uniform_bounds_and_resolution():
    g = gr.Generator(5)
    u = g.uniform(200_000, -3.0, 5.0)
    assert u.min() >= -3 and u.max() < 5
    # float32 from 24 bits: the values on [0, 1) are multiples of 2**-24
    u = g.uniform(10_000)
    assert np.all((u * 2.0 ** 24) == np.floor(u * 2.0 ** 24))
    # a rounding onto high is pulled below it; equal bounds give low
    hi = float(np.nextafter(np.float32(1), np.float32(2)))
    assert np.all(g.uniform(1000, 1.0, hi) == 1.0)
    assert np.all(g.uniform(10, 2.0, 2.0) == 2.0)


def _ks_normal(z):
    z = np.sort(np.asarray(z, np.float64))
    cdf = 0.5 * np.array([math.erfc(-v / math.sqrt(2)) for v in z])
    n = z.size
    return max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_moments_and_ks(dtype):
    z = gr.Generator(12).normal(1_000_000, dtype=dtype).astype(np.float64)
    n = z.size
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)
    assert abs(np.mean(z ** 3)) < 5 * math.sqrt(15 / n)
    assert abs(np.mean(z ** 4) - 3) < 5 * math.sqrt(96 / n)
    # Kolmogorov-Smirnov on 100k: 1.95/sqrt(n) is the 0.1% critical value
    assert _ks_normal(z[:100_000]) < 1.95 / math.sqrt(100_000)
    y = gr.Generator(13).normal(400_000, 3.0, 0.5, dtype)
    assert abs(y.mean() - 3.0) < 5 * 0.5 / math.sqrt(y.size)
    assert abs(y.std() - 0.5) < 5 * 0.5 / math.sqrt(2 * y.size)


def _trunc_moments(mean, std, a, b):
    al, be = (a - mean) / std, (b - mean) / std
    if al > 0:  # mirror into the lower tail, where Phi keeps its precision
        m, v = _trunc_moments(0.0, 1.0, -be, -al)
        return mean - std * m, std * std * v
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))             # noqa: E731
    z = Phi(be) - Phi(al)
    m = (phi(al) - phi(be)) / z
    v = 1 + (al * phi(al) - be * phi(be)) / z - m * m
    return mean + std * m, std * std * v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mean,std,a,b", [(0, 1, -2, 2), (1, 2, -0.5, 4), (0, 1, 0.5, 3),
                                          (0, 1, -6, -4), (0, 1, 3, 8), (2, 0.1, -1, 10)])
def test_truncated_normal_bounds_and_moments(dtype, mean, std, a, b):
    n = 400_000
    x = gr.Generator(14).truncated_normal(n, mean, std, a, b, dtype).astype(np.float64)
    assert x.min() >= np.float64(dtype(a)) and x.max() <= np.float64(dtype(b))
    m, v = _trunc_moments(mean, std, a, b)
    assert abs(x.mean() - m) < 6 * math.sqrt(v / n)
    assert abs(x.var() - v) < 0.02 * v
    # no pile-up on the bounds (which clipping normal draws would cause)
    assert np.mean(x == np.float64(dtype(a))) < 1e-3 and np.mean(x == np.float64(dtype(b))) < 1e-3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a,b", [(-40, -38), (38, 40), (-np.inf, np.inf), (1, 1),
                                 (-np.inf, -3), (8, np.inf), (5, 6)])
def test_truncated_normal_far_and_infinite_bounds(dtype, a, b):
    x = gr.Generator(17).truncated_normal(20_000, 0, 1, a, b, dtype)
    assert np.isfinite(x).all()
    assert x.min() >= dtype(a) and x.max() <= dtype(b)
    if np.isfinite(a) and np.isfinite(b) and a < b:
        m, _ = _trunc_moments(0, 1, a, b)
        assert abs(x.astype(np.float64).mean() - m) < 0.02


def test_truncated_normal_ks_against_exact_cdf():
    a, b = -1.0, 2.0
    x = np.sort(gr.Generator(15).truncated_normal(50_000, 0, 1, a, b, np.float64))
    Phi = np.vectorize(lambda t: 0.5 * math.erfc(-t / math.sqrt(2)))
    cdf = (Phi(x) - Phi(a)) / (Phi(b) - Phi(a))
    n = x.size
    d = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert d < 1.95 / math.sqrt(n)


def test_integers_unbiased_and_in_range():
    g = gr.Generator(16)
    v = g.integers(600_000, -3, 3)
    assert v.dtype == np.int64 and v.min() == -3 and v.max() == 2
    counts = np.bincount(v + 3, minlength=6)
    chi2 = float(((counts - v.size / 6) ** 2 / (v.size / 6)).sum())
    assert chi2 < 5 + 6 * math.sqrt(10)
    # a range just above 2**31 rejects almost half the words: still uniform halves
    r = 2 ** 31 + 1
    w = g.integers(200_000, r)
    assert w.min() >= 0 and w.max() < r
    assert abs(np.mean(w < r // 2) - 0.5) < 5 * math.sqrt(0.25 / w.size)
    big = g.integers(100_000, 10 ** 18)
    assert big.min() >= 0 and big.max() < 10 ** 18
    assert abs(big.mean() / 10 ** 18 - 0.5) < 5 * math.sqrt(1 / 12 / big.size)


# ---- reproducibility, state, spawn, default generator -----------------------------------

def test_same_seed_same_numbers_and_state_roundtrip():
    a, b = gr.Generator(42), gr.Generator(42)
    assert_bitwise_equal(a.normal((3, 5)), b.normal((3, 5)))
    st = a.get_state()
    assert json.loads(json.dumps(st)) == st
    x = a.uniform(100)
    a.normal(7)
    a.set_state(st)
    assert_bitwise_equal(a.uniform(100), x)
    c = gr.Generator(0)
    c.set_state(st)
    assert c.seed == 42 and c.counter == st["counter"]
    assert_bitwise_equal(c.uniform(100), x)
    assert gr.Generator(43).uniform(100).tobytes() != x.tobytes()


def test_pickle_and_deepcopy_keep_the_state():
    import copy
    import pickle
    g = gr.Generator(8)
    g.uniform(11)
    for h in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g)):
        assert h.get_state() == g.get_state() and h is not g
        st = g.get_state()
        assert_bitwise_equal(h.normal(9), g.normal(9))   # the same stream from there
        g.set_state(st)


def test_spawn_is_reproducible_and_independent():
    p = gr.Generator(9)
    kids = p.spawn(3)
    more = p.spawn(2)
    assert p.counter == 0  # spawning consumes no words
    seeds = [k.seed for k in kids + more]
    assert len(set(seeds)) == 5 and 9 not in seeds
    assert [k.seed for k in gr.Generator(9).spawn(5)] == seeds
    st = p.get_state()
    q = gr.Generator(0)
    q.set_state(st)
    assert q.spawn(1)[0].seed == p.spawn(1)[0].seed
    x = np.stack([k.uniform(10_000) for k in kids])
    assert np.all(np.abs(np.corrcoef(x)[np.triu_indices(3, 1)]) < 0.05)


def test_default_generator_and_seed():
    g = gr.default_generator()
    assert gr.seed(123) is g
    x = g.uniform(10)
    gr.seed(123)
    assert_bitwise_equal(gr.default_generator().uniform(10), x)
    gr.seed(123)
    assert_bitwise_equal(gradkit.init.uniform(10), x)   # rng=None uses it
    g.uniform(5)
    gr.seed()  # a fresh key from entropy, counter back to 0
    assert g.counter == 0 and 0 <= g.seed < 2 ** 64


def test_as_generator():
    g = gr.Generator(1)
    assert gr.as_generator(g) is g
    assert gr.as_generator(None) is gr.default_generator()
    assert gr.as_generator(5).seed == 5 and gr.as_generator(np.int64(5)).seed == 5
    assert_bitwise_equal(gr.as_generator(5).uniform(4), gr.as_generator(5).uniform(4))
    for bad in (1.5, "3", True, np.random.default_rng(0)):
        with pytest.raises(TypeError, match="rng"):
            gr.as_generator(bad)
    with pytest.raises(ValueError, match="rng"):
        gr.as_generator(-1)
    with pytest.raises(ValueError):
        gr.Generator(2 ** 64)


# ---- threads, chunking, SIMD paths -------------------------------------------------------

def _all_draws(seed):
    g = gr.Generator(seed)
    out = []
    for dt in (np.float32, np.float64):
        out += [g.uniform(BIG, -2, 3, dt), g.normal(BIG, 1, 2, dt),
                g.truncated_normal(BIG, 0, 1, -1.5, 2.5, dt)]
    out += [g.integers(BIG, 1000), g.bits32(BIG)]
    return out


def test_threads_bitwise_identical():
    one, two = run_threads(lambda: _all_draws(77))
    assert_bitwise_equal(one, two)


@pytest.mark.parametrize("n1", [1, 2, 3, 1000, 2047, 2048, 2049, 40001])
def test_chunking_independence(n1):
    """One call of n equals consecutive calls of n1 and n - n1 for every draw that
    reads a fixed number of words per element; for normal (pairs) when n1 is even."""
    n = 50_000
    draws = {
        "uniform32": lambda g, k: g.uniform(k),
        "uniform64": lambda g, k: g.uniform(k, dtype=np.float64),
        "trunc32": lambda g, k: g.truncated_normal(k),
        "trunc64": lambda g, k: g.truncated_normal(k, dtype=np.float64),
        "integers": lambda g, k: g.integers(k, 17),
        "bits32": lambda g, k: g.bits32(k),
        "normal32": lambda g, k: g.normal(k),
        "normal64": lambda g, k: g.normal(k, dtype=np.float64),
    }
    for name, f in draws.items():
        whole = f(gr.Generator(4), n)
        g = gr.Generator(4)
        parts = np.concatenate([f(g, n1), f(g, n - n1)])
        if name.startswith("normal") and n1 % 2:
            # the odd call rounds up to a whole pair: the second call starts one pair on
            assert not np.array_equal(whole, parts)
        else:
            assert_bitwise_equal(whole, parts)


# ---- out=, shapes, zero size, bad input ---------------------------------------------------

def test_out_and_shapes():
    g = gr.Generator(1)
    out = np.empty((4, 5), np.float64)
    assert g.normal(None, out=out) is out
    assert g.uniform((4, 5), out=out) is out
    assert g.uniform(3).shape == (3,) and g.uniform((2, 3)).dtype == np.float32
    before = g.counter
    assert g.normal((3, 0)).shape == (3, 0) and g.counter == before


@pytest.mark.parametrize("call,exc,match", [
    (lambda g: g.uniform(3, 1.0, 0.0), ValueError, "low <= high"),
    (lambda g: g.uniform(3, 0.0, float("inf")), ValueError, "high"),
    (lambda g: g.uniform(3, dtype=np.int32), TypeError, "dtype"),
    (lambda g: g.normal(3, 0.0, -1.0), ValueError, "std"),
    (lambda g: g.normal(3, float("nan")), ValueError, "mean"),
    (lambda g: g.truncated_normal(3, 0.0, 0.0), ValueError, "std"),
    (lambda g: g.truncated_normal(3, 0.0, 1.0, 2.0, 1.0), ValueError, "a <= b"),
    (lambda g: g.integers(3, 5, 5), ValueError, "low < high"),
    (lambda g: g.integers(3, 1.5), TypeError, "int"),
    (lambda g: g.uniform((-1, 2)), ValueError, "shape"),
    (lambda g: g.uniform("x"), TypeError, "shape"),
    (lambda g: g.uniform((2, 2), out=np.empty(3, np.float32)), ValueError, "out"),
    (lambda g: g.normal(None), ValueError, "shape"),
    (lambda g: g.set_state({"seed": 1}), ValueError, "counter"),
    (lambda g: g.set_state({"seed": 1, "counter": 0, "bit_generator": "MT19937"}),
     ValueError, "MT19937"),
])
def test_bad_input_raises_and_consumes_nothing(call, exc, match):
    g = gr.Generator(1)
    with pytest.raises(exc, match=match):
        call(g)
    assert g.counter == 0 and g.seed == 1


# ---- issue 10: huge ints are ValueErrors, malformed states change nothing ----------------

@pytest.mark.parametrize("call,exc,match", [
    (lambda: Generator(-1), ValueError, "seed"),
    (lambda: Generator(2**64), ValueError, "seed"),
    (lambda: Generator(2**200), ValueError, "seed"),
    (lambda: Generator(1.0), TypeError, "seed"),
    (lambda: Generator(True), TypeError, "seed"),
    (lambda: gradkit.random.seed(-3), ValueError, "s"),
    (lambda: Generator(0).uniform((2**70,)), ValueError, "shape"),
    (lambda: Generator(0).uniform((2**40, 2**40)), ValueError, "shape"),
    (lambda: Generator(0).normal((0, 2**70)), ValueError, "shape"),
    (lambda: Generator(0).integers((2**64,), 0, 5), ValueError, "shape"),
    (lambda: Generator(0).bits32(2**63), ValueError, "shape"),
    (lambda: Generator(0).integers(3, 0, 2**70), ValueError, "high"),
    (lambda: Generator(0).integers(3, -2**70, 0), ValueError, "low"),
    (lambda: Generator(0).spawn(-1), ValueError, "n"),
])
def test_huge_and_negative_ints_are_value_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_spawn_past_2_64_children():
    g = Generator(5)
    g.set_state({"seed": 5, "counter": 0, "spawned": 2**64 - 2})
    with pytest.raises(ValueError, match="n"):
        g.spawn(3)
    assert g.get_state()["spawned"] == 2**64 - 2
    assert len(g.spawn(2)) == 2


@pytest.mark.parametrize("state,exc,match", [
    ([("seed", 1)], TypeError, "state"),
    ({"seed": 1}, ValueError, "counter"),
    ({"counter": 1}, ValueError, "seed"),
    ({"seed": -1, "counter": 0}, ValueError, "seed"),
    ({"seed": 1, "counter": 2**64}, ValueError, "counter"),
    ({"seed": 1, "counter": "0"}, TypeError, "counter"),
    ({"seed": 1.0, "counter": 0}, TypeError, "seed"),
    ({"seed": 1, "counter": 0, "spawned": -1}, ValueError, "spawned"),
    ({"seed": 1, "counter": 0, "spawned": True}, TypeError, "spawned"),
    ({"seed": 1, "counter": 0, "spawned": 2**64}, ValueError, "spawned"),
    ({"seed": 1, "counter": 0, "bit_generator": "MT19937"}, ValueError, "MT19937"),
    ({"seed": 1, "counter": 0, "extra": 1}, ValueError, "extra"),
])
def test_set_state_rejects_malformed_dicts_without_changing_anything(state, exc, match):
    g = Generator(77)
    g.uniform(5)
    g.spawn(2)
    before = g.get_state()
    with pytest.raises(exc, match=match):
        g.set_state(state)
    assert g.get_state() == before


def test_numpy_integers_are_accepted():
    g = Generator(np.uint64(2**64 - 1))
    g.set_state({"seed": np.int64(3), "counter": np.uint32(8), "spawned": np.int8(1)})
    assert g.get_state() == {"bit_generator": "Philox4x32-10", "seed": 3, "counter": 8,
                             "spawned": 1}
    assert g.uniform((np.int64(2), np.int32(3))).shape == (2, 3)
