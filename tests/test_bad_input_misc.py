"""Bad input, swept table by table over every public function of gradkit.dropout,
random, init, gradcheck, preprocessing, quant, diagnostics and the command line.

Each bad case asserts the documented exception (TypeError for a type or dtype,
ValueError for a shape or value) with a message naming the argument, and that nothing
was written: ``out=`` and in-place arguments keep their contents, a generator keeps its
counter.  Layouts that are valid (non-contiguous, read-only, misaligned) must give the
bits of the plain C-contiguous call."""
import subprocess
import sys

import numpy as np
import pytest

from gradkit import dropout as gd
from gradkit import gradcheck as gc
from gradkit import init
from gradkit import preprocessing as pp
from gradkit import quant
from gradkit.diagnostics import activation_stats, update_ratio
from gradkit.random import Generator
from conftest import assert_bitwise_equal

X32 = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
X64 = X32.astype(np.float64)
_, MASK = gd.dropout(X32, 0.3, rng=9)
KEEP = np.array([True, False, True, True, False])
# byte-swapped float32/float64 inputs are valid (copied once to native order); a
# byte-swapped out= is not (see BAD_OUTS)
BAD_FLOAT_DTYPES = [np.int32, np.int64, np.uint8, np.float16, ">f2", object, np.bool_,
                    np.complex64, "<U3"]
HUGE = [2**70, 10**400]


def _misaligned(a):
    """a's values in a C-contiguous, writable array one byte off alignment."""
    m = np.frombuffer(bytearray(a.nbytes + 1), a.dtype, a.size, offset=1).reshape(a.shape)
    m[...] = a
    assert not m.flags.aligned
    return m


def _strided(a):
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    v = big[..., ::2]
    v[...] = a
    assert not v.flags.c_contiguous
    return v


def _swapped(a):
    s = a.astype(a.dtype.newbyteorder(">" if a.dtype.byteorder in "=<" else "<"))
    assert s.dtype != a.dtype and np.array_equal(s, a)
    return s


def _readonly(a):
    r = a.copy()
    r.flags.writeable = False
    return r


def _sumsq(v):
    return float(np.sum(np.asarray(v, np.float64) ** 2))


def _bits(r):
    """A result as comparable arrays (tuples/dicts/floats flattened)."""
    if isinstance(r, dict):
        return [_bits(r[k]) for k in sorted(r)]
    if isinstance(r, (tuple, list)):
        return [_bits(v) for v in r]
    if isinstance(r, gd.DropoutMask):
        return [r.bits, np.array(r.shape)]
    if isinstance(r, gc.GradCheckResult):
        return [r.numerical, r.analytical]
    return np.asarray(r)


# ---- array arguments: (call with the array, the argument's name, a good array) -----------

ARRAY_CASES = {
    "dropout.x": (lambda a: gd.dropout(a, 0.3, rng=5), "x", X32),
    "dropout.x_eval": (lambda a: gd.dropout(a, 0.3, training=False)[0].copy(), "x", X32),
    "dropout_backward.dy": (lambda a: gd.dropout_backward(a, MASK), "dy", X32),
    "dropout_backward.dy_seed": (
        lambda a: gd.dropout_backward(a, gd.DropoutMask.from_state(
            MASK.shape, MASK.p, MASK.seed, MASK.counter)), "dy", X32),
    "drop_path.x": (lambda a: gd.drop_path(a, 0.3, rng=5), "x", X32),
    "drop_path_backward.dy": (lambda a: gd.drop_path_backward(a, KEEP, 0.3), "dy", X32),
    "quantize.x": (lambda a: quant.quantize(a, scheme="affine", axis=1), "x", X32),
    "activation_stats.a": (lambda a: activation_stats(a, "relu"), "a", X32),
    "update_ratio.params": (lambda a: update_ratio([a], [X32]), "params", X32),
    "update_ratio.updates": (lambda a: update_ratio([X32], [a]), "updates", X32),
    "numerical_grad.x": (lambda a: gc.numerical_grad(_sumsq, a), "x", X64),
    "check_grad.x": (lambda a: gc.check_grad(lambda v: (_sumsq(v), 2 * v), a), "x", X64),
    "check_grad.grad": (lambda a: gc.check_grad(_sumsq, X64, a), "grad", 2 * X64),
}


# the arguments that take 16-bit storage (docs/precision.md; tests/test_*_half.py)
HALF_OK = {"dropout.x", "dropout.x_eval", "dropout_backward.dy", "dropout_backward.dy_seed",
           "drop_path.x", "drop_path_backward.dy", "quantize.x"}


@pytest.mark.parametrize("dt", BAD_FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("case", sorted(ARRAY_CASES))
def test_wrong_dtype_is_a_type_error(case, dt):
    call, name, good = ARRAY_CASES[case]
    if case in HALF_OK and np.dtype(dt).kind == "f" and np.dtype(dt).itemsize == 2:
        pytest.skip("16-bit storage is valid here")
    with pytest.raises(TypeError, match=name):
        call(good.astype(dt))


@pytest.mark.parametrize("case", sorted(ARRAY_CASES))
def test_non_arrays_are_type_errors(case):
    call, name, good = ARRAY_CASES[case]
    for bad in (None, "abc", {"a": 1}):
        if case.startswith("update_ratio") and bad is None:
            continue  # a None entry is not a list; checked below
        with pytest.raises(TypeError, match=name):
            call(bad)


@pytest.mark.parametrize("layout", [_strided, _readonly, _misaligned, _swapped],
                         ids=["strided", "readonly", "misaligned", "byteswapped"])
@pytest.mark.parametrize("case", sorted(ARRAY_CASES))
def test_valid_layouts_give_the_same_bits(case, layout):
    call, name, good = ARRAY_CASES[case]
    a = layout(good)
    before = a.copy()
    with np.errstate(all="ignore"):
        want, got = _bits(call(good.copy())), _bits(call(a))
    assert_bitwise_equal(got, want)
    assert_bitwise_equal(a, before)  # inputs are never modified


@pytest.mark.parametrize("shape", [(), (0,), (0, 6), (5, 0)])
@pytest.mark.parametrize("case", sorted(ARRAY_CASES))
def test_zero_size_and_0d_work_or_name_the_argument(case, shape):
    call, name, good = ARRAY_CASES[case]
    a = np.zeros(shape, good.dtype)
    if case == "drop_path_backward.dy":
        pytest.skip("keep is sized for the 5 samples; covered by test_drop_path_shapes")
    try:
        with np.errstate(all="ignore"):
            call(a)
    except ValueError as e:  # a documented shape error
        assert name in str(e) or "shape" in str(e), e


def test_drop_path_shapes():
    with pytest.raises(ValueError, match="x"):
        gd.drop_path(np.float32(1.0) + np.zeros((), np.float32), 0.5, rng=1)
    with pytest.raises(ValueError, match="keep"):
        gd.drop_path_backward(X32, KEEP[:3], 0.5)
    with pytest.raises(TypeError, match="keep"):
        gd.drop_path_backward(X32, KEEP.astype(np.int8), 0.5)
    y, keep = gd.drop_path(np.zeros((0, 3), np.float32), 0.5, rng=1)
    assert y.shape == (0, 3) and keep.shape == (0,)


def test_shape_mismatches():
    with pytest.raises(ValueError, match="dy"):
        gd.dropout_backward(X32.T.copy(), MASK)
    with pytest.raises(ValueError, match="updates"):
        update_ratio([X32], [X32[:2]])
    with pytest.raises(ValueError, match="same length"):
        update_ratio([X32, X32], [X32])
    with pytest.raises(ValueError, match="grad"):
        gc.check_grad(_sumsq, X64, X64[:2])
    with pytest.raises(ValueError, match="axis"):
        quant.quantize(X32, axis=2)
    with pytest.raises(TypeError, match="axis"):
        quant.quantize(X32, axis=1.0)


# ---- out= : every bad out raises before anything is written ------------------------------

def _gen_counter_unchanged(call):
    g = Generator(4)
    g.uniform(3)
    c = g.counter
    call(g)
    assert g.counter == c


OUT_CASES = {
    "dropout": lambda out, g: gd.dropout(X32, 0.3, rng=g, out=out),
    "dropout_eval": lambda out, g: gd.dropout(X32, 0.3, training=False, out=out),
    "dropout_backward": lambda out, g: gd.dropout_backward(X32, MASK, out=out),
    "Generator.uniform": lambda out, g: g.uniform(X32.shape, out=out, dtype=np.float32),
    "Generator.normal": lambda out, g: g.normal(X32.shape, out=out, dtype=np.float32),
    "Generator.truncated_normal": lambda out, g: g.truncated_normal(X32.shape, out=out,
                                                                     dtype=np.float32),
}
for _name in ("zeros", "ones", "normal", "uniform", "trunc_normal", "xavier_uniform",
              "xavier_normal", "kaiming_uniform", "kaiming_normal", "lecun_uniform",
              "lecun_normal", "variance_scaling", "orthogonal", "eye"):
    OUT_CASES[f"init.{_name}"] = (lambda f: lambda out, g: f(
        X32.shape, rng=g, dtype=np.float32, out=out))(getattr(init, _name))
OUT_CASES["init.constant"] = lambda out, g: init.constant(X32.shape, 2.0, rng=g,
                                                          dtype=np.float32, out=out)

BAD_OUTS = {
    "float64": lambda: np.full(X32.shape, 7, np.float64),
    ">f4": lambda: np.full(X32.shape, 7, ">f4"),
    "float16": lambda: np.full(X32.shape, 7, np.float16),
    "int32": lambda: np.full(X32.shape, 7, np.int32),
    "shape": lambda: np.full(X32.shape[::-1], 7, np.float32),
    "size": lambda: np.full((X32.size + 1,), 7, np.float32),
    "strided": lambda: _strided(np.full(X32.shape, 7, np.float32)),
    "readonly": lambda: _readonly(np.full(X32.shape, 7, np.float32)),
    "list": lambda: np.full(X32.shape, 7, np.float32).tolist(),
}


@pytest.mark.parametrize("bad", sorted(BAD_OUTS))
@pytest.mark.parametrize("case", sorted(OUT_CASES))
def test_bad_out_raises_before_writing(case, bad):
    out = BAD_OUTS[bad]()
    before = np.array(out, copy=True)

    def call(g):
        with pytest.raises((TypeError, ValueError), match="out|dtype"):
            OUT_CASES[case](out, g)

    _gen_counter_unchanged(call)
    assert_bitwise_equal(np.asarray(out), before)


@pytest.mark.parametrize("case", sorted(OUT_CASES))
def test_misaligned_out_works_or_is_refused_untouched(case):
    want = OUT_CASES[case](None, Generator(4))
    want = want[0] if isinstance(want, tuple) else want
    out = _misaligned(np.full(X32.shape, 7, np.float32))
    try:
        got = OUT_CASES[case](out, Generator(4))
    except ValueError as e:
        assert "out" in str(e)
        assert np.all(out == 7)
        return
    got = got[0] if isinstance(got, tuple) else got
    assert got is out
    assert_bitwise_equal(out, want)


# ---- hyperparameters -------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")
# (call with the value, argument name, bad values with their exception, good values)
PARAM_CASES = {
    "dropout.p": (lambda v: gd.dropout(X32, v, rng=1), "p",
                  [(-0.1, ValueError), (1.5, ValueError), (NAN, ValueError), (INF, ValueError),
                   (True, TypeError), ("0.5", TypeError), (None, TypeError)]
                  + [(h, ValueError) for h in HUGE], [np.float32(0.25), np.float64(1.0), 0]),
    "drop_path.p": (lambda v: gd.drop_path(X32, v, rng=1), "p",
                    [(-1, ValueError), (NAN, ValueError), (True, TypeError)], [np.float16(0.5)]),
    "drop_path_backward.p": (lambda v: gd.drop_path_backward(X32, KEEP, v), "p",
                             [(2.0, ValueError), (NAN, ValueError), ([0.1], TypeError)], [0.0]),
    "dropout.rng": (lambda v: gd.dropout(X32, 0.5, rng=v), "rng",
                    [(-1, ValueError), (2**64, ValueError), (1.5, TypeError),
                     (True, TypeError), (np.random.default_rng(0), TypeError)]
                    + [(h, ValueError) for h in HUGE], [np.int64(3), np.uint64(2**63)]),
    "Generator.seed": (lambda v: Generator(v), "seed",
                       [(-1, ValueError), (2**64, ValueError), (1.0, TypeError),
                        (np.bool_(True), TypeError), ("1", TypeError)]
                       + [(h, ValueError) for h in HUGE], [np.uint8(3), 2**64 - 1]),
    "Generator.shape": (lambda v: Generator(0).uniform(v), "shape",
                        [(-1, ValueError), ((2, -1), ValueError), (2.0, TypeError),
                         ((2, 2.0), TypeError), ((True,), TypeError), ("3", TypeError)]
                        + [((h,), ValueError) for h in HUGE] + [((2**40, 2**40), ValueError)],
                        [(np.int64(2), 3), np.int32(4), ()]),
    "Generator.uniform.low": (lambda v: Generator(0).uniform(3, v, 2.0), "low",
                              [(NAN, ValueError), (-INF, ValueError), (3.0, ValueError),
                               (True, TypeError)], [np.float32(1.0)]),
    "Generator.normal.std": (lambda v: Generator(0).normal(3, 0.0, v), "std",
                             [(-1.0, ValueError), (NAN, ValueError), (INF, ValueError)],
                             [np.float64(2.0), 0]),
    "Generator.truncated_normal.b": (lambda v: Generator(0).truncated_normal(3, 0, 1, 0.0, v),
                                     "b", [(-1.0, ValueError), (NAN, ValueError),
                                           ("1", TypeError)], [INF, np.float32(1.0)]),
    "Generator.integers.high": (lambda v: Generator(0).integers(3, 0, v), "high",
                                [(0, ValueError), (2**64, ValueError), (1.5, TypeError),
                                 (True, TypeError)], [np.int8(5), 2**63]),
    "Generator.spawn.n": (lambda v: Generator(0).spawn(v), "n",
                          [(-1, ValueError), (1.0, TypeError), (True, TypeError)],
                          [np.int64(2), 0]),
    "Generator.dtype": (lambda v: Generator(0).uniform(3, dtype=v), "dtype",
                        [(np.int32, TypeError), (np.float16, TypeError), (">f4", TypeError),
                         ("float", None)], [np.float64, "float32"]),
    "random.seed": (lambda v: __import__("gradkit").random.seed(v), "s",
                    [(-5, ValueError), (1.5, TypeError)], [np.int64(4)]),
    "init.shape": (lambda v: init.normal(v, rng=0), "shape",
                   [((2, -1), ValueError), ((2.5,), TypeError)]
                   + [((h, 2), ValueError) for h in HUGE], [(np.int64(2), 3)]),
    "init.fans.shape": (lambda v: init.fans(v), "shape",
                        [((3,), ValueError), ((2**70, 3), ValueError), ("ab", TypeError)],
                        [(np.int32(3), 4, 5)]),
    "init.uniform.a": (lambda v: init.uniform((3, 3), v, 1.0, rng=0), "a",
                       [(2.0, ValueError), (NAN, ValueError), (-INF, ValueError),
                        (True, TypeError)] + [(10**400, ValueError)], [np.float32(-1.0)]),
    "init.normal.std": (lambda v: init.normal((3, 3), 0.0, v, rng=0), "std",
                        [(-1.0, ValueError), (NAN, ValueError)], [np.float64(0.5)]),
    "init.constant.value": (lambda v: init.constant((3,), v), "value",
                            [(NAN, ValueError), ("1", TypeError), (None, TypeError)],
                            [np.int64(3), INF]),
    "init.xavier_uniform.gain": (lambda v: init.xavier_uniform((3, 3), v, rng=0), "gain",
                                 [(NAN, ValueError), (INF, ValueError), (True, TypeError)],
                                 [np.float32(2.0)]),
    "init.kaiming_uniform.a": (lambda v: init.kaiming_uniform((3, 3), v, rng=0), "a",
                               [(NAN, ValueError), ("0", TypeError)], [np.float32(0.1)]),
    "init.kaiming_normal.mode": (lambda v: init.kaiming_normal((3, 3), mode=v, rng=0), "mode",
                                 [("fan", ValueError), (1, TypeError)], ["fan_out", "FAN_IN"]),
    "init.kaiming_normal.nonlinearity": (
        lambda v: init.kaiming_normal((3, 3), nonlinearity=v, rng=0), "nonlinearity",
        [("swish", ValueError), (None, TypeError)], ["tanh"]),
    "init.variance_scaling.scale": (lambda v: init.variance_scaling((3, 3), v, rng=0), "scale",
                                    [(0.0, ValueError), (-1.0, ValueError), (NAN, ValueError)],
                                    [np.float64(2.0)]),
    "init.variance_scaling.distribution": (
        lambda v: init.variance_scaling((3, 3), distribution=v, rng=0), "distribution",
        [("cauchy", ValueError), (3, TypeError)], ["uniform"]),
    "init.orthogonal.gain": (lambda v: init.orthogonal((3, 3), v, rng=0), "gain",
                             [(NAN, ValueError), ("1", TypeError)], [np.float64(2.0)]),
    "init.calculate_gain.param": (lambda v: init.calculate_gain("leaky_relu", v), "param",
                                  [(NAN, ValueError), ("0.1", TypeError), (True, TypeError)],
                                  [np.float32(0.2), 0]),
    "init.dtype": (lambda v: init.zeros((2,), dtype=v), "dtype",
                   [(np.int64, TypeError), (">f2", TypeError), (">f8", TypeError),
                    ("nonsense", TypeError)], [np.float64, np.float16]),
    "init.lora.rank": (lambda v: init.lora(4, 3, v, rng=0), "rank",
                       [(0, ValueError), (2.0, TypeError), (True, TypeError)], [np.int64(2)]),
    "init.lora.method": (lambda v: init.lora(4, 3, 2, method=v, rng=0), "method",
                         [("xavier", ValueError), (None, ValueError)], ["gaussian"]),
    "quantize.scheme": (lambda v: quant.quantize(X32, scheme=v), "scheme",
                        [("sym", ValueError)], ["affine"]),
    "quantize.dtype": (lambda v: quant.quantize(X32, dtype=v), "dtype",
                       [("int4", ValueError), ("int16", ValueError)], ["uint8", np.int8]),
    "dequantize.scale": (lambda v: quant.dequantize(np.zeros(3, np.int8), v, 0), "scale",
                         [(0.0, ValueError), (-1.0, ValueError), (NAN, ValueError),
                          (INF, ValueError), ("1", TypeError), (np.ones(2), ValueError)],
                         [np.float32(0.5), 1]),
    "dequantize.zero_point": (lambda v: quant.dequantize(np.zeros(3, np.int8), 1.0, v),
                              "zero_point", [(200, ValueError), (0.5, TypeError),
                                             (2**70, ValueError)], [np.int64(-3), 127]),
    "activation_stats.saturation": (lambda v: activation_stats(X32, saturation=v),
                                    "saturation", [(0.0, ValueError), (1.0, ValueError),
                                                   (NAN, ValueError), (True, TypeError)],
                                    [np.float32(0.9)]),
    "activation_stats.bins": (lambda v: activation_stats(X32, bins=v), "bins",
                              [(0, ValueError), (2.0, TypeError)], [np.int64(7)]),
    "activation_stats.nonlinearity": (lambda v: activation_stats(X32, v), "nonlinearity",
                                      [("elu", ValueError)], ["sigmoid"]),
    "check_grad.eps": (lambda v: gc.check_grad(lambda x: (_sumsq(x), 2 * x), X64, eps=v),
                       "eps", [(0.0, ValueError), (-1.0, ValueError), (NAN, ValueError),
                               (INF, ValueError), ("1", TypeError)], [np.float64(1e-6)]),
    "numerical_grad.batch_size": (
        lambda v: gc.numerical_grad(lambda s: np.sum(s.reshape(len(s), -1) ** 2, axis=1), X64,
                                    batched=True, batch_size=v), "batch_size",
        [(0, ValueError), (1.5, TypeError)], [np.int32(3)]),
}


def _param_ids():
    out = []
    for case, (_, _, bads, goods) in sorted(PARAM_CASES.items()):
        out += [(case, i, "bad") for i in range(len(bads))]
        out += [(case, i, "good") for i in range(len(goods))]
    return out


@pytest.mark.parametrize("case,i,kind", _param_ids(),
                         ids=[f"{c}-{k}{i}" for c, i, k in _param_ids()])
def test_hyperparameters(case, i, kind):
    call, name, bads, goods = PARAM_CASES[case]
    if kind == "good":
        call(goods[i])   # numpy scalars and edge values are accepted
        return
    value, exc = bads[i]
    if exc is None:
        return
    with pytest.raises(exc, match=name):
        call(value)


# ---- state (more cases: test_random's set_state table, test_dropout's tampered masks) ----

@pytest.mark.parametrize("state,exc,match", [
    (None, TypeError, "state"), ({"seed": 2**70, "counter": 0}, ValueError, "seed"),
    ({"seed": 1, "counter": -1}, ValueError, "counter"),
    ({"seed": 1, "counter": np.float64(3)}, TypeError, "counter"),
    ({"seed": 1, "counter": 0, "spawned": 10**400}, ValueError, "spawned")])
def test_generator_set_state(state, exc, match):
    g = Generator(3)
    g.normal(7)
    before = g.get_state()
    with pytest.raises(exc, match=match):
        g.set_state(state)
    assert g.get_state() == before


def test_standardizer_transform_copy_flag():
    s = pp.Standardizer().fit(XP)
    with pytest.raises(TypeError, match="copy"):
        s.transform(XP, copy="no")

def test_dropout_writes_nothing_on_a_bad_mask_or_p():
    out = np.full_like(X32, 7)
    g = Generator(2)
    with pytest.raises(ValueError, match="p"):
        gd.dropout(X32, 1.5, rng=g, out=out)
    with pytest.raises(TypeError, match="mask"):
        gd.dropout_backward(X32, (MASK.bits, MASK.p), out=out)
    assert g.counter == 0 and np.all(out == 7)


# ---- preprocessing -----------------------------------------------------------------------

ESTIMATORS = {"Standardizer": pp.Standardizer, "PCA": lambda: pp.PCA(2),
              "Whitener": pp.Whitener}
XP = np.random.default_rng(1).standard_normal((20, 4))


@pytest.mark.parametrize("est", sorted(ESTIMATORS))
@pytest.mark.parametrize("method", ["fit", "partial_fit", "transform", "inverse_transform"])
def test_estimators_reject_bad_X(est, method):
    fitted = ESTIMATORS[est]().fit(XP)
    width = fitted.transform(XP).shape[1]
    for bad, exc in [(np.array([["a"] * 4] * 3), TypeError), (XP[0], ValueError),
                     (XP[None], ValueError), (XP.astype(np.complex128), ValueError),
                     (None, ValueError), (np.zeros((3, 0)), ValueError)]:
        if method == "inverse_transform" and bad is not None and bad.ndim == 2 \
                and bad.shape[1] == 4:
            bad = bad[:, :width]
        with pytest.raises(exc, match="X|Complex|feature|2D|dim 3"):
            getattr(fitted, method)(bad)
    Xnan = XP.copy()
    # the Standardizer ignores NaN (scikit-learn's StandardScaler) and refuses infinity
    Xnan[2, 1] = np.inf if est == "Standardizer" else np.nan
    if method != "inverse_transform" or est == "Standardizer":
        with pytest.raises(ValueError, match="NaN|infinity"):
            getattr(fitted, method)(Xnan)


@pytest.mark.parametrize("est", sorted(ESTIMATORS))
@pytest.mark.parametrize("layout", [_strided, _readonly, _misaligned, lambda a: a.astype(">f8"),
                                    lambda a: a.astype(np.int64)],
                         ids=["strided", "readonly", "misaligned", ">f8", "int64"])
def test_estimators_take_any_real_layout(est, layout):
    X = np.round(XP * 4) if layout.__name__ == "<lambda>" else XP  # exact in int64
    a = layout(X)
    before = np.array(a, copy=True)
    want = ESTIMATORS[est]().fit(X.astype(np.float64)).transform(X.astype(np.float64))
    got = ESTIMATORS[est]().fit(a).transform(a)
    assert_bitwise_equal(got, want)
    assert_bitwise_equal(np.asarray(a), before)


@pytest.mark.parametrize("make,exc,match", [
    (lambda: pp.Standardizer(with_mean=2), TypeError, "with_mean"),
    (lambda: pp.Standardizer(copy="no"), TypeError, "copy"),
    (lambda: pp.PCA(whiten=None), TypeError, "whiten"),
    (lambda: pp.PCA(n_components=-1), ValueError, "n_components"),
    (lambda: pp.PCA(n_components=1.5), ValueError, "n_components"),
    (lambda: pp.PCA(n_components=True), TypeError, "n_components"),
    (lambda: pp.PCA(n_components=NAN), ValueError, "n_components"),
    (lambda: pp.PCA(n_components=2**70), ValueError, "n_components"),
    (lambda: pp.PCA(svd_solver="lapack"), ValueError, "svd_solver"),
    (lambda: pp.PCA(tol=-1.0), ValueError, "tol"),
    (lambda: pp.PCA(copy="no"), TypeError, "copy"),
    (lambda: pp.PCA(n_components="mlx"), ValueError, "n_components"),
    (lambda: pp.PCA(svd_solver=None), ValueError, "svd_solver"),
    (lambda: pp.Whitener(method="cholesky"), ValueError, "method"),
    (lambda: pp.Whitener(eps=-1.0), ValueError, "eps"),
    (lambda: pp.Whitener(eps=NAN), ValueError, "eps"),
    (lambda: pp.Whitener(eps="0"), TypeError, "eps"),
    (lambda: pp.Whitener(n_components=0), ValueError, "n_components"),
    (lambda: pp.Whitener(n_components=2.0), TypeError, "n_components"),
])
def test_estimator_parameters_checked_at_fit(make, exc, match):
    est = make()
    with pytest.raises(exc, match=match):
        est.fit(XP)
    assert not hasattr(est, "n_features_in_")


# ---- the command line --------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["demo", "--epochs", "-1"], ["demo", "--epochs", "0"], ["demo", "--epochs", "1.5"],
    ["demo", "--epochs", "many"], ["demo", "--seed", "-1"], ["demo", "--seed", str(2**64)],
    ["demo", "--plot", ""], ["bench", "--threads", "0"], ["bench", "--threads", "-2"],
    ["bench", "--json", ""], ["demo", "--unknown"]])
def test_command_line_rejects_nonsense(args, capsys):
    """`demo --epochs -1` used to run (and train nothing).  The parser, in process (the
    command line itself: test_command_line_exit_status)."""
    from gradkit.__main__ import main
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    assert e.value.code == 2, out + err
    assert "error: " in err and out == ""
    opt = next((a for a in args if a.startswith("--")), None)
    assert opt in err


def test_command_line_exit_status():
    """`python -m gradkit` exits with the parser's status 2 and its message."""
    r = subprocess.run([sys.executable, "-m", "gradkit", "demo", "--epochs", "-1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "error: " in r.stderr and "--epochs" in r.stderr and r.stdout == ""


def test_demo_main_checks_its_arguments():
    from types import SimpleNamespace

    from gradkit._demo import main
    with pytest.raises(ValueError, match="epochs"):
        main(SimpleNamespace(epochs=-1, seed=0, plot=None))
    with pytest.raises(ValueError, match="seed"):
        main(SimpleNamespace(epochs=1, seed=-1, plot=None))


def test_messages_name_the_argument():
    with pytest.raises(TypeError, match="params"):
        update_ratio(None, [X32])
    with pytest.raises(TypeError, match="updates"):
        update_ratio([X32], 3)
    with pytest.raises(TypeError, match="log10"):
        update_ratio([X32], [X32], log10="yes")
    with pytest.raises(ValueError, match=r"out\[1\]"):
        init.lora(4, 3, 2, out=(np.zeros((2, 4), np.float32), np.zeros((3, 3), np.float32)))
    with pytest.raises(ValueError, match="shape"):
        init.eye((2, 2, 2))
    with pytest.raises(ValueError, match="shape"):
        init.orthogonal((4,))
    with pytest.raises(ValueError, match="scale"):
        quant.dequantize(np.zeros(3, np.int8), 10**400, 0)
