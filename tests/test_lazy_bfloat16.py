"""gradkit does not import ml_dtypes (registering its types with NumPy takes longer than
the rest of ``import gradkit``): bfloat16 is recognized once somebody has loaded it, and
loaded by gradkit itself only when asked for by name (``gradkit.bfloat16``,
``dtype="bfloat16"``).  Each scenario runs in a fresh interpreter, since the test
session has imported ml_dtypes long before."""
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("ml_dtypes")

_PRELUDE = """
import sys
import numpy as np
import gradkit
from gradkit import clip, dropout, init, losses, optim, quant, regularization
rng = np.random.default_rng(0)
x = rng.standard_normal((6, 40)).astype(np.float32)
labels = np.arange(6) % 40

def every_family(x):
    y, _ = gradkit.layer_norm(x, None, None)
    d = dropout.dropout(x, 0.25, rng=gradkit.Generator(1))
    n = clip.global_norm([x, x[:2]])
    r = regularization.l2_penalty([x], 0.1)
    loss, g = losses.softmax_cross_entropy(x, labels)
    q = quant.quantize(x)
    p = x.copy()
    optim.AdamW([p], lr=1e-2).step([x])
    return y, d, n, r, loss, p
"""


def _run(body):
    code = textwrap.dedent(_PRELUDE) + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_and_float32_calls_do_not_load_ml_dtypes():
    out = _run("""
        every_family(x)
        for bad in (x.astype(">f4"), x.astype(np.int32)):
            try:
                gradkit.layer_norm(bad, None, None)
            except TypeError:
                pass
        print("ml_dtypes" in sys.modules)
    """)
    assert out.split() == ["False"]


def test_bfloat16_arrays_made_after_gradkit_loaded_work_everywhere():
    """ml_dtypes imported by the user after gradkit (and after every compiled module
    has run on float32): bfloat16 arrays are taken and give the float32 results
    rounded the same way as when ml_dtypes was there first."""
    out = _run("""
        ref = every_family(x)
        import ml_dtypes
        xb = x.astype(ml_dtypes.bfloat16)
        got = every_family(xb)
        assert got[0].dtype == xb.dtype and got[1][0].dtype == xb.dtype
        assert got[5].dtype == xb.dtype
        assert np.allclose(got[0].astype(np.float32), ref[0], atol=0.05)
        assert gradkit.bfloat16 is ml_dtypes.bfloat16
        print("ok")
    """)
    assert out.split() == ["ok"]


def test_bfloat16_by_name_loads_ml_dtypes():
    """A bfloat16 output asked for by name, before anybody loaded ml_dtypes: by the
    string, by gradkit.bfloat16, and as float32 parameters' optimizer state."""
    out = _run("""
        w = init.normal((3, 5), dtype="bfloat16", rng=gradkit.Generator(0))
        print(w.dtype.name, "ml_dtypes" in sys.modules)
        p = x.copy()
        opt = optim.AdamW([p], lr=1e-2, state_dtype="bfloat16")
        opt.step([x])
        print(opt.state_dict()["state"][0]["exp_avg"].dtype.name)
        print(init.zeros((2,), dtype=gradkit.bfloat16).dtype.name)
    """)
    assert out.split() == ["bfloat16", "True", "bfloat16", "bfloat16"]
