"""Quantization of 16-bit input (float16, bfloat16): the float32 result on the widened
values, bitwise, against the reference too; dequantize to every float dtype (16-bit
rounded once); bad dtypes."""
import numpy as np
import pytest

from gradkit import quant as Q
from gradkit.reference import quant as R
from _half import BF16, F16, F32, HALVES, bits, data


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("scheme", ["symmetric", "affine"])
@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("qdt", ["int8", "uint8"])
def test_quantize_16bit_input(dt, scheme, axis, qdt):
    x = data(1, (17, 33), dt, 2.0, 0.5)
    q, s, z = Q.quantize(x, scheme=scheme, axis=axis, dtype=qdt)
    q32, s32, z32 = Q.quantize(x.astype(F32), scheme=scheme, axis=axis, dtype=qdt)
    qr, sr, zr = R.quantize(x, scheme=scheme, axis=axis, dtype=qdt)
    assert bits(q) == bits(q32) == bits(qr)
    assert bits(np.asarray(s)) == bits(np.asarray(s32)) and np.array_equal(z, z32)
    xs = x[::2, 1:]                                            # non-contiguous
    assert bits(Q.quantize(xs, scheme=scheme, axis=axis)[0]) == bits(
        Q.quantize(np.ascontiguousarray(xs), scheme=scheme, axis=axis)[0])


@pytest.mark.parametrize("odt", [F32, np.dtype(np.float64), F16, BF16], ids=str)
@pytest.mark.parametrize("axis", [None, 1])
def test_dequantize_to_a_chosen_dtype(odt, axis):
    x = data(2, (9, 70), F32, 3.0)
    q, s, z = Q.quantize(x, scheme="affine", axis=axis)
    y = Q.dequantize(q, s, z, axis=axis, dtype=odt)
    y32 = Q.dequantize(q, s, z, axis=axis)
    assert y.dtype == odt and y32.dtype == F32
    assert bits(y) == bits(y32.astype(odt))
    assert bits(y) == bits(R.dequantize(q, s, z, axis=axis, dtype=odt))


def test_bad_input():
    q, s, z = Q.quantize(data(3, 40, F32))
    with pytest.raises(TypeError, match="dtype"):
        Q.dequantize(q, s, z, dtype=np.int32)
    with pytest.raises(TypeError, match="dtype"):
        Q.dequantize(q, s, z, dtype="complex64")
    x = data(4, 40, F16)
    x[3] = np.inf
    with pytest.raises(ValueError, match="finite"):
        Q.quantize(x)
    with pytest.raises(TypeError, match="x"):
        Q.quantize(np.ones(4, np.int16))
