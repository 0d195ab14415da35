"""Every initializer in 16-bit storage (float16, bfloat16): bitwise the float32 result of
the same call with the same generator, rounded once (NumPy's / ml_dtypes' astype);
out= 16-bit arrays; the generator advances as for float32; bad dtypes and outs."""
import math

import numpy as np
import pytest

import gradkit
from gradkit import init
from gradkit.random import Generator
from _half import BF16, F16, F32, HALVES, bits

SHAPE = (37, 5, 3)
CALLS = [
    ("zeros", ()), ("ones", ()), ("constant", (0.1,)), ("normal", (0.5, 2.0)),
    ("uniform", (-1.0, 3.0)), ("trunc_normal", (0.0, 1.0, -1.5, 2.0)),
    ("xavier_uniform", (1.3,)), ("xavier_normal", ()), ("kaiming_uniform", (math.sqrt(5),)),
    ("kaiming_normal", (0.0, "fan_out", "relu")), ("variance_scaling", (2.0, "fan_avg")),
    ("lecun_uniform", ()), ("lecun_normal", ()), ("orthogonal", (1.5,)),
]


@pytest.mark.parametrize("dt", HALVES, ids=str)
@pytest.mark.parametrize("name,args", CALLS, ids=[c[0] for c in CALLS])
def test_equals_float32_rounded_once(dt, name, args):
    fn = getattr(init, name)
    g16, g32 = Generator(5), Generator(5)
    y = fn(SHAPE, *args, rng=g16, dtype=dt)
    y32 = fn(SHAPE, *args, rng=g32, dtype=np.float32)
    assert y.dtype == dt and y.shape == SHAPE
    assert bits(y) == bits(y32.astype(dt))
    assert g16.counter == g32.counter                     # the same draws consumed
    out = np.empty(SHAPE, dt)                             # out= 16-bit, dtype from out
    assert fn(None, *args, rng=Generator(5), out=out) is out and bits(out) == bits(y)


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_eye_and_lora(dt):
    e = init.eye((5, 7), dtype=dt)
    assert e.dtype == dt and bits(e) == bits(np.eye(5, 7, dtype=F32).astype(dt))
    for method in ("kaiming", "gaussian"):
        a, b = init.lora(33, 17, 4, method=method, rng=Generator(3), dtype=dt)
        a32, b32 = init.lora(33, 17, 4, method=method, rng=Generator(3))
        assert a.dtype == b.dtype == dt and bits(a) == bits(a32.astype(dt)) and not b.any()
        oa, ob = np.empty((4, 33), dt), np.ones((17, 4), dt)
        assert init.lora(33, 17, 4, method=method, rng=Generator(3), out=(oa, ob)) == (oa, ob)
        assert bits(oa) == bits(a) and not ob.astype(F32).any()


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_threads_and_large(dt):
    runs = []
    for n in (1, 2, 3, 4):
        with gradkit.num_threads(n):
            runs.append(bits(init.normal((301, 1031), rng=Generator(8), dtype=dt)))
    assert all(r == runs[0] for r in runs)


@pytest.mark.parametrize("dt", HALVES, ids=str)
def test_bad_out_and_dtype(dt):
    other = BF16 if dt == F16 else F16
    with pytest.raises(ValueError, match="out"):
        init.normal(SHAPE, dtype=dt, out=np.empty(SHAPE, other))
    with pytest.raises(ValueError, match="out"):
        init.normal(SHAPE, dtype=dt, out=np.empty((3, 3), dt))
    ro = np.zeros(SHAPE, dt)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        init.uniform(None, out=ro)
    with pytest.raises(TypeError, match="dtype"):
        init.normal(SHAPE, dtype=np.int16)
    with pytest.raises(ValueError, match="std"):     # bad arguments before anything
        init.normal(SHAPE, 0.0, -1.0, dtype=dt)
