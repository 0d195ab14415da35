"""Quantization: kernels against gradkit.reference, PyTorch observers and quantized
tensors, round trips, threads, bad input."""
import warnings

import numpy as np
import pytest

import gradkit
from gradkit import quant, reference as ref
from conftest import assert_bitwise_equal, run_threads

SCHEMES = ["symmetric", "affine"]
QDTYPES = ["int8", "uint8"]
CASES = [((1,), None), ((7,), None), ((40, 7, 9), None), ((40, 7, 9), 0), ((40, 7, 9), 1),
         ((40, 7, 9), 2), ((40, 7, 9), -1), ((3, 100003), None), ((3, 100003), 0),
         ((70000, 3), 1), ((5, 200, 70), 1)]


def _data(rng, shape, dtype):
    x = rng.standard_normal(shape) * 2 + 0.4
    return x.astype(dtype)


@pytest.mark.parametrize("shape,axis", CASES)
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("qdtype", QDTYPES)
def test_matches_reference(shape, axis, scheme, qdtype, dtype, rng):
    x = _data(rng, shape, dtype)
    q, s, z = quant.quantize(x, scheme=scheme, axis=axis, dtype=qdtype)
    rq, rs, rz = ref.quantize(x, scheme=scheme, axis=axis, dtype=qdtype)
    assert q.dtype == np.dtype(qdtype) and q.shape == shape
    if axis is None:
        assert isinstance(s, float) and isinstance(z, int)
    else:
        assert s.dtype == np.float32 and z.dtype == np.int64 and s.shape == (shape[axis],)
    assert np.array_equal(s, rs) and np.array_equal(z, rz)
    assert_bitwise_equal(q, rq)
    y = quant.dequantize(q, s, z, axis=axis)
    assert y.dtype == np.float32
    assert_bitwise_equal(y, ref.dequantize(rq, rs, rz, axis=axis))
    # round trip: within half a step (plus float32 rounding) of x
    step = np.asarray(s, np.float64)
    if axis is not None:
        step = np.expand_dims(step, tuple(i for i in range(x.ndim) if i != axis % x.ndim))
    err = np.abs(y.astype(np.float64) - x.astype(np.float64))
    assert np.all(err <= step * 0.5 * (1 + 1e-5) + 1e-6 * np.abs(x))


def test_observer_rules_by_hand():
    x = np.array([-1.0, 0.5, 3.0], np.float32)
    q, s, z = quant.quantize(x)                          # symmetric int8
    assert s == float(np.float32(3.0) / np.float32(127.5)) and z == 0
    q, s, z = quant.quantize(x, dtype="uint8")           # symmetric uint8
    assert z == 128
    q, s, z = quant.quantize(x, scheme="affine", dtype="uint8")
    assert s == float(np.float32(4.0) / np.float32(255)) and z == 0 - round(-1.0 / s)
    # the range always contains 0
    q, s, z = quant.quantize(np.array([2.0, 4.0], np.float32), scheme="affine",
                             dtype="int8")
    assert z == -128 and s == float(np.float32(4.0) / np.float32(255))
    # all zeros: the scale floors at float32 eps
    q, s, z = quant.quantize(np.zeros(5, np.float32), scheme="affine")
    assert s == float(np.finfo(np.float32).eps) and z == -128 and np.all(q == -128)
    assert not quant.dequantize(q, s, z).any()
    # round half to even
    q, s, z = quant.quantize(np.array([-127.5, 0.5, 1.5, 2.5, 127.5], np.float32))
    assert s == 1.0 and q.tolist() == [-128, 0, 2, 2, 127]


def _torch_setup():
    torch = pytest.importorskip("torch")
    warnings.filterwarnings("ignore", message=".*deprecated.*")
    from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver
    return torch, MinMaxObserver, PerChannelMinMaxObserver


@pytest.mark.parametrize("scheme", ["symmetric", "affine"])
@pytest.mark.parametrize("qdtype", ["int8", "uint8"])
def test_per_tensor_parameters_are_qparams(scheme, qdtype, rng):
    # quantize's per-tensor parameters (NumPy scalars) are qparams' on the observation
    vals = np.concatenate([rng.standard_normal(400) * 10.0 ** rng.uniform(-40, 38, 400),
                           [0.0, -0.0, 1e-45, -1e-45, 3.4e38, -3.4e38]]).astype(np.float32)
    pairs = [np.sort(rng.choice(vals, 2)) for _ in range(500)]
    pairs += [(v, v) for v in vals[-6:]] + [(np.float32(np.inf), np.float32(-np.inf))]
    for mn, mx in pairs:
        scale, zp = quant.qparams(np.array([mn]), np.array([mx]), scheme=scheme,
                                  dtype=qdtype)
        one, z = quant._qparams_one(np.float32(mn), np.float32(mx), scheme,
                                    *quant._RANGES[qdtype])
        assert np.float32(one).tobytes() == scale[0].tobytes() and z == zp[0], (mn, mx)
    x = rng.standard_normal(1000).astype(np.float32)
    q, s, z = quant.quantize(x, scheme=scheme, dtype=qdtype)
    scale, zp = quant.qparams(np.array([x.min()]), np.array([x.max()]), scheme=scheme,
                              dtype=qdtype)
    assert (s, z) == (float(scale[0]), int(zp[0]))


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("qdtype", QDTYPES)
def test_per_tensor_matches_torch(scheme, qdtype, rng):
    torch, MinMaxObserver, _ = _torch_setup()
    tq = {"int8": torch.qint8, "uint8": torch.quint8}[qdtype]
    qs = {"symmetric": torch.per_tensor_symmetric, "affine": torch.per_tensor_affine}[scheme]
    for x in (_data(rng, (64, 33, 5), np.float32), _data(rng, (1000,), np.float32) * 7 - 3,
              np.abs(_data(rng, (100,), np.float32))):
        ob = MinMaxObserver(dtype=tq, qscheme=qs)
        ob(torch.tensor(x))
        ts, tz = ob.calculate_qparams()
        tqx = torch.quantize_per_tensor(torch.tensor(x), float(ts), int(tz), tq)
        q, s, z = quant.quantize(x, scheme=scheme, dtype=qdtype)
        assert s == float(ts) and z == int(tz)
        assert np.array_equal(q, tqx.int_repr().numpy())
        assert np.array_equal(quant.dequantize(q, s, z), tqx.dequantize().numpy())


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("qdtype", QDTYPES)
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_per_channel_matches_torch(scheme, qdtype, axis, rng):
    torch, _, PerChannelMinMaxObserver = _torch_setup()
    tq = {"int8": torch.qint8, "uint8": torch.quint8}[qdtype]
    qs = {"symmetric": torch.per_channel_symmetric, "affine": torch.per_channel_affine}[scheme]
    x = _data(rng, (64, 33, 5), np.float32)
    ob = PerChannelMinMaxObserver(ch_axis=axis, dtype=tq, qscheme=qs)
    ob(torch.tensor(x))
    ts, tz = ob.calculate_qparams()
    tqx = torch.quantize_per_channel(torch.tensor(x), ts.double(), tz, axis, tq)
    q, s, z = quant.quantize(x, scheme=scheme, dtype=qdtype, axis=axis)
    assert np.array_equal(s, ts.numpy()) and np.array_equal(z, tz.numpy())
    tqi = tqx.int_repr().numpy()
    # PyTorch's per-channel kernel rounds x/s before adding the zero point; gradkit
    # rounds x/s + z once.  They can differ by one step only where x/s lies within a
    # float32 ulp of a half, and agree everywhere else.
    differ = q != tqi
    assert np.all(np.abs(q.astype(int) - tqi) <= 1)
    shape = [1] * 3
    shape[axis] = -1
    v = x.astype(np.float64) * (np.float32(1) / s).astype(np.float64).reshape(shape)
    frac = np.abs(v - np.floor(v) - 0.5)
    assert np.all(frac[differ] < 1e-4)
    same = ~differ
    y = quant.dequantize(q, s, z, axis=axis)
    assert np.array_equal(y[same], torch.dequantize(tqx).numpy()[same])


def test_float64_input(rng):
    x = _data(rng, (30, 20), np.float64)
    q, s, z = quant.quantize(x, scheme="affine", axis=1, dtype="uint8")
    rq, rs, rz = ref.quantize(x, scheme="affine", axis=1, dtype="uint8")
    assert_bitwise_equal(q, rq)
    assert np.array_equal(s, rs)


def test_threads_bitwise(dtype, rng):
    x = _data(rng, (300, 257), dtype)

    def run():
        out = []
        for axis in (None, 0, 1):
            q, s, z = quant.quantize(x, scheme="affine", axis=axis, dtype="uint8")
            out += [q, np.asarray(s), np.asarray(z), quant.dequantize(q, s, z, axis=axis)]
        return out

    one, two = run_threads(run)
    assert_bitwise_equal(one, two)


def test_zero_size_and_non_contiguous(rng):
    q, s, z = quant.quantize(np.zeros((0, 3), np.float32))
    assert q.shape == (0, 3) and s == 1.0 and z == 0
    q, s, z = quant.quantize(np.zeros((0, 3), np.float32), axis=1)
    assert np.array_equal(s, np.ones(3, np.float32)) and not z.any()
    assert quant.dequantize(q, s, z, axis=1).shape == (0, 3)
    base = _data(rng, (20, 30), np.float32)
    keep = base.copy()
    for x in (base[:, ::2], base.T):
        q, s, z = quant.quantize(x, axis=0)
        rq, _, _ = ref.quantize(np.ascontiguousarray(x), axis=0)
        assert_bitwise_equal(q, rq)
        assert_bitwise_equal(quant.dequantize(q.T, s, z, axis=1),
                             quant.dequantize(q, s, z, axis=0).T.copy())
    assert_bitwise_equal(base, keep)


def test_reexported_at_top_level():
    assert gradkit.quantize is quant.quantize and gradkit.dequantize is quant.dequantize


def test_bad_input(rng):
    x = _data(rng, (4, 5), np.float32)
    with pytest.raises(TypeError, match="x must be a float32"):
        quant.quantize(x.astype(np.int32))
    with pytest.raises(ValueError, match="scheme"):
        quant.quantize(x, scheme="per_tensor")
    with pytest.raises(ValueError, match="dtype"):
        quant.quantize(x, dtype="int16")
    with pytest.raises(ValueError, match="axis"):
        quant.quantize(x, axis=2)
    with pytest.raises(TypeError, match="axis"):
        quant.quantize(x, axis=1.0)
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[2, 3] = bad
        with pytest.raises(ValueError, match="finite"):
            quant.quantize(y, axis=1)
        with pytest.raises(ValueError, match="finite"):
            quant.quantize(y)
    q, s, z = quant.quantize(x)
    with pytest.raises(TypeError, match="q must be an int8 or uint8"):
        quant.dequantize(q.astype(np.int16), s, z)
    with pytest.raises(ValueError, match="scale"):
        quant.dequantize(q, -1.0, z)
    with pytest.raises(ValueError, match="zero_point"):
        quant.dequantize(q, s, 200)
    with pytest.raises(ValueError, match="scale must have shape"):
        quant.dequantize(q, np.ones(3), np.zeros(5, np.int64), axis=1)
    with pytest.raises(ValueError, match="zero_point must have shape"):
        quant.dequantize(q, np.ones(5), np.zeros(3, np.int64), axis=1)


# ---- issue 10: the reference checks, it does not reuse ---------------------------------------

def test_reference_imports_nothing_from_the_api():
    """gradkit.reference took qparams/_axis/_RANGES from gradkit.quant and NormStats
    from gradkit.norm, so a test compared qparams with itself.  Every reference module
    may import only the standard library, numpy, scipy, ml_dtypes (bfloat16) and its
    sibling references."""
    import ast
    import pathlib
    import sys
    folder = pathlib.Path(ref.__file__).parent
    allowed = {"numpy", "scipy", "ml_dtypes"} | set(sys.stdlib_module_names)
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:         # from .sibling import ...: another reference
                    continue
                assert node.level == 0, f"{path.name}: from {'.' * node.level}{node.module}"
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("qdtype", QDTYPES)
def test_qparams_against_the_independent_reference(scheme, qdtype, rng):
    mins = np.concatenate([rng.standard_normal(50) * 3, [0.0, -1e-30, np.inf, 5.0, -7.0]])
    maxs = np.concatenate([mins[:50] + rng.uniform(0, 4, 50), [0.0, 1e-30, -np.inf, 6.0, -6.0]])
    s, z = quant.qparams(mins, maxs, scheme=scheme, dtype=qdtype)
    rs, rz = ref.quant.qparams(mins, maxs, scheme=scheme, dtype=qdtype)
    assert_bitwise_equal(s, rs)
    assert_bitwise_equal(z, rz)


@pytest.mark.parametrize("qdtype", QDTYPES)
@pytest.mark.parametrize("n", [1, 31, 32, 33, 100, 1027])
def test_kernel_zero_point_zero_clamps_and_ties(qdtype, n, rng):
    # the zero-point-0 path (float vectors): values past the range, exact halves (ties
    # to even), NaN (-> the zero point) and every tail length, against the formula
    from gradkit._ext import quant as qk
    from gradkit.reference.quant import _round_q
    qmin, qmax = (-128, 127) if qdtype == "int8" else (0, 255)
    x = (rng.standard_normal(n) * 200).astype(np.float32)
    x[::5] = np.round(x[::5]) + 0.5            # exact halves at scale 1
    x[1::7] = np.nan
    for scale in (1.0, 0.75, 3.0):
        s = np.array([scale], np.float32)
        q = np.empty(n, np.dtype(qdtype))
        qk.quantize(x, s, np.zeros(1, np.int32), q, 1, 1, n)
        want = _round_q(np.nan_to_num(x, nan=0.0), s[0], 0, qmin, qmax)
        assert_bitwise_equal(q, want.astype(qdtype))
