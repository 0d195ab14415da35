"""The C-level API (gradkit.capi, gradkit.get_include()): downstream extensions in Cython
and in C (tests/capi_consumer) are built with meson + ninja against the INSTALLED gradkit,
imported, and must give bitwise the results of the Python API."""
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

import gradkit
from conftest import assert_bitwise_equal

CONSUMER_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "capi_consumer")
PACKAGE_DIR = os.path.dirname(os.path.abspath(gradkit.__file__))
# the kernels capi.pxd must export (later families append theirs)
CAPI_FUNCTIONS = ["gk_layer_norm_f32", "gk_layer_norm_f64", "gk_rms_norm_f32",
                  "gk_rms_norm_f64"]
CAPI_FUNCTIONS += ["gk_dropout_f32", "gk_dropout_f64"]
CAPI_FUNCTIONS += ["gk_adam_f32", "gk_adam_f64", "gk_adam_multi_mp", "gk_sgd_multi_mp",
                   "gk_lamb_multi_mp", "gk_adafactor_multi_mp", "gk_lamb_multi_mp_work",
                   "gk_adafactor_multi_mp_work"]
CAPI_FUNCTIONS += ["gk_softmax_cross_entropy_f32", "gk_softmax_cross_entropy_f64",
                   "gk_kl_div_f32", "gk_kl_div_f64", "gk_mse_f32", "gk_mse_f64"]
CAPI_FUNCTIONS += ["gk_softmax_cross_entropy_weighted_f32",
                   "gk_softmax_cross_entropy_weighted_f64", "gk_kl_div_pointwise_f32",
                   "gk_kl_div_pointwise_f64"]
CAPI_FUNCTIONS += ["gk_gptq_f32", "gk_qlinear_f32", "gk_dequantize_weight_f32"]
# 16-bit storage (uint16_t, spelled unsigned short in capi.pxd)
CAPI_FUNCTIONS += ["gk_dropout_f16", "gk_dropout_bf16", "gk_dropout_backward_f16",
                   "gk_dropout_backward_bf16", "gk_softmax_cross_entropy_f16",
                   "gk_softmax_cross_entropy_bf16"]
CAPI_FUNCTIONS += ["gk_layer_norm_f16", "gk_layer_norm_bf16", "gk_rms_norm_f16",
                   "gk_rms_norm_bf16", "gk_layer_norm_backward_f16",
                   "gk_layer_norm_backward_bf16", "gk_rms_norm_backward_f16",
                   "gk_rms_norm_backward_bf16"]


def _editable_install():
    """True when gradkit was installed with `pip install -e` (PEP 610 direct_url.json)."""
    try:
        text = importlib.metadata.distribution("gradkit").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return False
    return bool(text) and bool(json.loads(text).get("dir_info", {}).get("editable"))


EDITABLE = _editable_install()
needs_normal_install = pytest.mark.skipif(
    EDITABLE, reason="gradkit is an editable install: meson-python's editable loader does "
    "not put gradkit/capi.pxd and gradkit/include on disk in site-packages, so no "
    "downstream build can find them; run against a normal install "
    "(`pip install \".[test]\"`, as CI does)")


def test_capi_module_exports_the_kernels():
    import gradkit.capi as capi
    assert capi.__name__ == "gradkit.capi"
    exported = capi.__pyx_capi__
    for name in CAPI_FUNCTIONS:
        ctype = ("float" if name.endswith("f32") else "double" if name.endswith("f64")
                 else "void" if name.endswith(("_mp", "_mp_work"))  # storage: gk_optim_storage
                 else "unsigned short")
        signature = exported[name].__repr__()
        assert f"{ctype} " in signature and "*" in signature, signature


@needs_normal_install
def test_installed_pxd_and_headers_are_self_contained():
    pxd = os.path.join(PACKAGE_DIR, "capi.pxd")
    assert os.path.isfile(pxd), "gradkit/capi.pxd is not installed"
    text = open(pxd).read()
    for name in CAPI_FUNCTIONS:
        assert re.search(rf"\bcdef int {name}\(", text), name
    # a consumer gets only capi.pxd: it must not cimport gradkit's private declarations
    assert not re.search(r"^\s*(from\s+\S+\s+)?cimport\b", text, re.M)
    include = gradkit.get_include()
    assert include == os.path.join(PACKAGE_DIR, "include")
    top = os.path.join(include, "gradkit", "gradkit.h")
    assert os.path.isfile(top), "gradkit/include/gradkit/gradkit.h is not installed"
    for header in re.findall(r'#include\s+"([^"]+)"', open(top).read()):
        assert os.path.isfile(os.path.join(include, header)), header


def _build_tools():
    """(env, meson command, ninja path) using the tools of the Python running the
    tests, or a skip reason."""
    missing = [package for package, module in (("meson", "mesonbuild"), ("Cython", "Cython"))
               if importlib.util.find_spec(module) is None]
    path = [os.path.dirname(sys.executable)]
    if importlib.util.find_spec("ninja") is not None:
        import ninja
        path.append(getattr(ninja, "BIN_DIR", path[0]))
    path = os.pathsep.join(path + [os.environ.get("PATH", "")])
    ninja_exe = shutil.which("ninja", path=path)
    if ninja_exe is None:
        missing.append("ninja")
    if missing:
        return None, ("the downstream build needs meson, ninja and Cython (the test "
                      f"extras: pip install \".[test]\"); missing: {', '.join(missing)}")
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc and not shutil.which("clang"):
        return None, "no C compiler found for the downstream build"
    env = dict(os.environ, PATH=path, NINJA=ninja_exe,
               CYTHON=f"{shlex.quote(sys.executable)} -m cython")
    # meson's find_installation() is then this very Python, which sees this gradkit
    return (env, [sys.executable, "-m", "mesonbuild.mesonmain"], ninja_exe), None


def _run(cmd, env):
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}")


@pytest.fixture(scope="module")
def consumers(tmp_path_factory):
    """The modules of tests/capi_consumer, built and imported from a temporary folder."""
    if EDITABLE:
        pytest.skip(needs_normal_install.kwargs["reason"])
    tools, reason = _build_tools()
    if tools is None:
        pytest.skip(reason)
    env, meson, ninja_exe = tools
    root = tmp_path_factory.mktemp("capi_consumer")
    src, build = root / "src", root / "build"
    shutil.copytree(CONSUMER_SRC, src)
    _run(meson + ["setup", str(build), str(src)], env)
    _run([ninja_exe, "-C", str(build)], env)
    modules = {}
    sys.path.insert(0, str(build))
    try:
        for name in ("gk_consumer", "gk_c_consumer"):
            modules[name] = importlib.import_module(name)
            assert os.path.dirname(modules[name].__file__) == str(build)
    finally:
        sys.path.remove(str(build))
        for name in ("gk_consumer", "gk_c_consumer"):
            sys.modules.pop(name, None)
    return modules


@pytest.fixture
def consumer(consumers):
    return consumers["gk_consumer"]


@pytest.fixture
def c_consumer(consumers):
    return consumers["gk_c_consumer"]


def _data(rng, shape, dtype, affine):
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    if not affine:
        return x, None, None
    return (x, rng.standard_normal(shape[1]).astype(dtype),
            rng.standard_normal(shape[1]).astype(dtype))


# (300, 257) is above the single-thread threshold: the threaded path runs too
SHAPES = [(1, 1), (7, 13), (37, 301), (300, 257)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [False, True])
def test_consumer_layer_norm_is_bitwise_gradkit(consumer, shape, affine, dtype, rng):
    x, w, b = _data(rng, shape, dtype, affine)
    y, mean, rstd = np.empty_like(x), np.empty(shape[0], dtype), np.empty(shape[0], dtype)
    fn = consumer.layer_norm_f32 if dtype == np.float32 else consumer.layer_norm_f64
    assert fn(x, w, b, y, mean, rstd, 1e-5) == consumer.OK == 0
    y_ref, stats = gradkit.layer_norm(x, w, b, 1e-5)
    assert_bitwise_equal((y, mean, rstd), (y_ref, stats.mean, stats.rstd))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [False, True])
def test_consumer_rms_norm_is_bitwise_gradkit(consumer, shape, affine, dtype, rng):
    x, w, _ = _data(rng, shape, dtype, affine)
    y, rstd = np.empty_like(x), np.empty(shape[0], dtype)
    fn = consumer.rms_norm_f32 if dtype == np.float32 else consumer.rms_norm_f64
    assert fn(x, w, y, rstd, 1e-6) == consumer.OK
    y_ref, stats = gradkit.rms_norm(x, w, 1e-6)
    assert_bitwise_equal((y, rstd), (y_ref, stats.rstd))


def test_consumer_bad_argument_returns_a_code_and_writes_nothing(consumer, dtype, rng):
    x, w, b = _data(rng, (5, 9), dtype, True)
    y, mean, rstd = np.full_like(x, 7), np.full(5, 7, dtype), np.full(5, 7, dtype)
    ln = consumer.layer_norm_f32 if dtype == np.float32 else consumer.layer_norm_f64
    rms = consumer.rms_norm_f32 if dtype == np.float32 else consumer.rms_norm_f64
    rc = ln(x, w, b, y, mean, rstd, 1e-5, rows=-3)
    assert rc != consumer.OK and consumer.explain(rc) == (consumer.ESIZE, "rows")
    assert consumer.explain(rms(x, w, y, rstd, 1e-5, rows=-1)) == (consumer.ESIZE, "rows")
    rc = ln(x, w, b, y, mean, rstd, -1.0)  # eps < 0
    assert rc != consumer.OK and consumer.explain(rc) == (consumer.EVALUE, "eps")
    assert (y == 7).all() and (mean == 7).all() and (rstd == 7).all()


def test_c_consumer_is_bitwise_gradkit(c_consumer, rng):
    x = (rng.standard_normal((300, 257)) * 3 + 1).astype(np.float32)
    y, mean, rstd = np.empty_like(x), np.empty(300, np.float32), np.empty(300, np.float32)
    assert c_consumer.layer_norm_f32(x, y, mean, rstd, 300, 257, 1e-5) == c_consumer.OK
    y_ref, stats = gradkit.layer_norm(x, None, None, 1e-5)
    assert_bitwise_equal((y, mean, rstd), (y_ref, stats.mean, stats.rstd))

    x64, w64 = x.astype(np.float64), rng.standard_normal(257)
    y64, rstd64 = np.full_like(x64, 7), np.full(300, 7.0)
    rc = c_consumer.rms_norm_f64(x64, w64, y64, rstd64, -2, 257, 1e-6)
    assert c_consumer.explain(rc) == (c_consumer.ESIZE, "rows")
    assert (y64 == 7).all() and (rstd64 == 7).all()
    assert c_consumer.rms_norm_f64(x64, w64, y64, rstd64, 300, 257, 1e-6) == c_consumer.OK
    y_ref, stats = gradkit.rms_norm(x64, w64, 1e-6)
    assert_bitwise_equal((y64, rstd64), (y_ref, stats.rstd))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_consumer_dropout_is_bitwise_gradkit(consumer, dtype, rng):
    from gradkit import dropout as D, random as R
    x = rng.standard_normal(70001).astype(dtype)  # several threads' worth, odd size
    y_py, mask = D.dropout(x, 0.3, rng=R.Generator(1234))
    y = np.empty_like(x)
    bits = np.zeros((x.size + 7) // 8, np.uint8)
    fn = consumer.dropout_f32 if dtype == np.float32 else consumer.dropout_f64
    assert fn(x, y, bits, 0.3, mask.seed, mask.counter) == 0
    assert y.tobytes() == y_py.tobytes() and bits.tobytes() == mask.bits.tobytes()
    rc = fn(x, y, bits, 1.5, mask.seed, mask.counter)  # p outside [0, 1]
    assert consumer.explain(rc) == (consumer.EVALUE, "p")


def test_consumer_dropout_bf16_is_bitwise_gradkit(consumer, rng):
    """The 16-bit entry points: bfloat16 storage as uint16 bit patterns."""
    import ml_dtypes
    from gradkit import dropout as D, random as R
    x = rng.standard_normal(70001).astype(ml_dtypes.bfloat16)
    y_py, mask = D.dropout(x, 0.3, rng=R.Generator(99))
    y = np.empty(x.size, np.uint16)
    bits = np.zeros((x.size + 7) // 8, np.uint8)
    assert consumer.dropout_bf16(x.view(np.uint16), y, bits, 0.3, mask.seed,
                                 mask.counter) == 0
    assert y.tobytes() == y_py.tobytes() and bits.tobytes() == mask.bits.tobytes()
    dx = np.empty_like(y)
    assert consumer.dropout_backward_bf16(x.view(np.uint16), bits, dx, 0.3) == 0
    assert dx.tobytes() == D.dropout_backward(x, mask).tobytes()
    rc = consumer.dropout_bf16(x.view(np.uint16), y, bits, -0.5, mask.seed, mask.counter)
    assert consumer.explain(rc) == (consumer.EVALUE, "p")


@pytest.mark.parametrize("half", ["f16", "bf16"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [False, True])
def test_consumer_norms_16bit_are_bitwise_gradkit(consumer, half, shape, affine, rng):
    """The 16-bit LayerNorm/RMSNorm entry points, forward and backward: x, y, dy, dx as
    uint16 bit patterns, weight, bias, statistics and dweight/dbias float32."""
    import ml_dtypes
    bf16 = half == "bf16"
    hdt = np.dtype(ml_dtypes.bfloat16) if bf16 else np.dtype(np.float16)
    x, w, b = _data(rng, shape, np.float32, affine)
    x, dy = x.astype(hdt), rng.standard_normal(shape).astype(hdt)
    u16 = np.uint16
    rows, cols = shape

    y, mean, rstd = np.empty(shape, u16), np.empty(rows, np.float32), np.empty(rows, np.float32)
    assert consumer.layer_norm_half(bf16, x.view(u16), w, b, y, mean, rstd, 1e-5) == 0
    y_ref, st = gradkit.layer_norm(x, w, b, 1e-5)
    assert_bitwise_equal((y, mean, rstd), (y_ref.view(u16), st.mean, st.rstd))
    dx = np.empty(shape, u16)
    dw = np.empty(cols, np.float32) if affine else None
    db = np.empty(cols, np.float32) if affine else None
    assert consumer.layer_norm_backward_half(bf16, dy.view(u16), x.view(u16), mean, rstd, w,
                                             dx, dw, db) == 0
    dx_ref, dw_ref, db_ref = gradkit.layer_norm_backward(dy, x, st, w, bias=affine)
    assert_bitwise_equal(dx, dx_ref.view(u16))
    if affine:
        assert_bitwise_equal((dw, db), (dw_ref, db_ref))

    yr, rstd_r = np.empty(shape, u16), np.empty(rows, np.float32)
    assert consumer.rms_norm_half(bf16, x.view(u16), w, yr, rstd_r, 1e-6) == 0
    y_ref, st = gradkit.rms_norm(x, w, 1e-6)
    assert_bitwise_equal((yr, rstd_r), (y_ref.view(u16), st.rstd))
    assert consumer.rms_norm_backward_half(bf16, dy.view(u16), x.view(u16), rstd_r, w, dx,
                                           dw) == 0
    dx_ref, dw_ref = gradkit.rms_norm_backward(dy, x, st, w)
    assert_bitwise_equal(dx, dx_ref.view(u16))
    if affine:
        assert_bitwise_equal(dw, dw_ref)

    y[...] = 7
    rc = consumer.layer_norm_half(bf16, x.view(u16), w, b, y, mean, rstd, 1e-5, rows=-1)
    assert consumer.explain(rc) == (consumer.ESIZE, "rows")
    rc = consumer.rms_norm_half(bf16, x.view(u16), w, y, rstd_r, -1.0)
    assert consumer.explain(rc) == (consumer.EVALUE, "eps")
    assert (y == 7).all()


@pytest.mark.parametrize("decoupled", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_consumer_adam_is_bitwise_gradkit(consumer, dtype, decoupled, rng):
    from gradkit.optim import functional as F
    p0 = rng.standard_normal(40001).astype(dtype)
    g = rng.standard_normal(p0.size).astype(dtype)
    states = [(p0.copy(), np.zeros_like(p0), np.zeros_like(p0)) for _ in range(2)]
    fn = consumer.adam_f32 if dtype == np.float32 else consumer.adam_f64
    for step in (1, 2, 3):
        p, m, v = states[0]
        F.adam_(p, g, m, v, step, lr=1e-2, weight_decay=0.1, decoupled=bool(decoupled))
        p, m, v = states[1]
        assert fn(p, g, m, v, step, 1e-2, 0.9, 0.999, 1e-8, 0.1, decoupled) == 0
    for a, b in zip(states[0], states[1]):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("layout", ["bf16", "f16", "master_bf16", "f32_state_bf16"])
def test_consumer_adam_mixed_precision_is_bitwise_gradkit(consumer, layout, rng):
    """gk_adam_multi_mp through gradkit.capi: the same bits as gradkit.optim.AdamW in
    the same layout; a gradient with an inf skips the step and writes nothing."""
    import ml_dtypes
    from gradkit import optim
    bf16 = np.dtype(ml_dtypes.bfloat16)
    pdt = {"bf16": bf16, "f16": np.float16, "master_bf16": bf16,
           "f32_state_bf16": np.float32}[layout]
    code = {np.dtype(np.float32): 0, np.dtype(np.float16): 2, bf16: 3}
    master = layout == "master_bf16"
    sdt = np.float32 if master else bf16 if layout == "f32_state_bf16" else pdt
    kw = {"master_weights": True} if master else (
        {"state_dtype": bf16} if layout == "f32_state_bf16" else {})
    p0 = rng.standard_normal(4099).astype(np.float32).astype(pdt)
    p = p0.copy()
    opt = optim.AdamW([p], lr=1e-2, weight_decay=0.1, **kw)
    q = p0.copy()
    mast = q.astype(np.float32) if master else q
    m, v = np.zeros(q.size, sdt), np.zeros(q.size, sdt)
    for step in (1, 2, 3):
        g = rng.standard_normal(q.size).astype(np.float32).astype(pdt)
        opt.step([g])
        rc, found = consumer.adam_mp(mast, g, m, v, step, 1e-2, 0.1, code[np.dtype(pdt)],
                                     code[np.dtype(sdt)], q if master else None, True)
        assert (rc, found) == (0, 0)
        assert p.tobytes() == q.tobytes()
        st = opt.state_dict()["state"][0]
        assert st["exp_avg"].tobytes() == m.tobytes()
        assert st["exp_avg_sq"].tobytes() == v.tobytes()
        if master:
            assert st["master"].tobytes() == mast.tobytes()
    g[7] = np.inf
    before = [a.copy() for a in (mast, q, m, v)]
    assert consumer.adam_mp(mast, g, m, v, 4, 1e-2, 0.1, code[np.dtype(pdt)],
                            code[np.dtype(sdt)], q if master else None, True) == (0, 1)
    for a, b in zip(before, (mast, q, m, v)):
        assert a.tobytes() == b.tobytes()


def _mp_layout(layout):
    """(parameter dtype, master weights?, dtype code of each dtype) of a 16-bit layout."""
    import ml_dtypes
    bf16 = np.dtype(ml_dtypes.bfloat16)
    pdt = {"bf16": bf16, "f16": np.dtype(np.float16), "master_bf16": bf16}[layout]
    return pdt, layout == "master_bf16", {np.dtype(np.float32): 0,
                                          np.dtype(np.float16): 2, bf16: 3}


@pytest.mark.parametrize("layout", ["bf16", "f16", "master_bf16"])
def test_consumer_lamb_mixed_precision_is_bitwise_gradkit(consumer, layout, rng):
    """gk_lamb_multi_mp through gradkit.capi: the bits of gradkit.optim.LAMB in the same
    layout (16-bit states, or a float32 master with float32 states), its trust ratio;
    a gradient with an inf skips the step and writes nothing."""
    from gradkit import optim
    pdt, master, code = _mp_layout(layout)
    p0 = rng.standard_normal(3001).astype(np.float32).astype(pdt)
    p = p0.copy()
    opt = optim.LAMB([p], lr=1e-2, weight_decay=0.1, master_weights=master)
    q = p0.copy()
    mast = q.astype(np.float32) if master else q
    sdt = np.dtype(np.float32) if master else pdt
    m, v = np.zeros(q.size, sdt), np.zeros(q.size, sdt)
    for step in (1, 2, 3):
        g = rng.standard_normal(q.size).astype(np.float32).astype(pdt)
        opt.step([g])
        st = opt.state_dict()["state"][0]
        assert st["exp_avg"].dtype == sdt
        rc, found, ratio = consumer.lamb_mp(mast, g, m, v, step, 1e-2, 0.1, code[pdt],
                                            code[sdt], q if master else None, True)
        assert (rc, found) == (0, 0) and np.isfinite(ratio) and ratio > 0
        assert p.tobytes() == q.tobytes()
        assert st["exp_avg"].tobytes() == m.tobytes()
        assert st["exp_avg_sq"].tobytes() == v.tobytes()
        if master:
            assert st["master"].tobytes() == mast.tobytes()
    g[7] = np.inf
    before = [a.copy() for a in (mast, q, m, v)]
    assert consumer.lamb_mp(mast, g, m, v, 4, 1e-2, 0.1, code[pdt], code[sdt],
                            q if master else None, True)[:2] == (0, 1)
    for a, b in zip(before, (mast, q, m, v)):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("layout", ["bf16", "f16", "master_bf16"])
def test_consumer_adafactor_mixed_precision_is_bitwise_gradkit(consumer, layout, rng):
    """gk_adafactor_multi_mp through gradkit.capi on a factored (rows x cols) parameter:
    the bits of gradkit.optim.Adafactor in the same layout (float32 row and column
    moments, its default for 16-bit parameters); an inf gradient skips the step."""
    from gradkit import optim
    pdt, master, code = _mp_layout(layout)
    f32 = np.dtype(np.float32)
    p0 = rng.standard_normal((37, 61)).astype(np.float32).astype(pdt)
    p = p0.copy()
    eps1 = 1e-30   # given: torch's None resolves per dtype (tested in test_optim_half)
    opt = optim.Adafactor([p], lr=1e-2, eps=(eps1, 1e-3), master_weights=master)
    q = p0.copy()
    mast = q.astype(np.float32) if master else q
    r, c = np.zeros((37, 1), f32), np.zeros((1, 61), f32)
    for step in (1, 2, 3):
        g = rng.standard_normal(q.shape).astype(np.float32).astype(pdt)
        opt.step([g])
        st = opt.state_dict()["state"][0]
        assert st["row_var"].dtype == st["col_var"].dtype == f32
        rc, found = consumer.adafactor_mp(mast, g, r, c, step, 1e-2, eps1, code[pdt],
                                          code[f32], q if master else None, True)
        assert (rc, found) == (0, 0)
        assert p.tobytes() == q.tobytes()
        assert st["row_var"].tobytes() == r.tobytes()
        assert st["col_var"].tobytes() == c.tobytes()
        if master:
            assert st["master"].tobytes() == mast.tobytes()
    g[3, 5] = np.nan
    before = [a.copy() for a in (mast, q, r, c)]
    assert consumer.adafactor_mp(mast, g, r, c, 4, 1e-2, eps1, code[pdt], code[f32],
                                 q if master else None, True) == (0, 1)
    for a, b in zip(before, (mast, q, r, c)):
        assert a.tobytes() == b.tobytes()


def test_consumer_dequantizes_a_low_bit_weight(consumer, rng):
    from gradkit import quant
    w = rng.standard_normal((9, 100)).astype(np.float32)
    qw = quant.quantize_weight(w, bits=4, group_size=32)
    out = np.empty((9, 100), np.float32)
    assert consumer.dequantize_weight_f32(qw.packed, qw.scales, qw.zeros, 100, 32, 4,
                                          out) == consumer.OK
    np.testing.assert_array_equal(out, qw.dequantize())
