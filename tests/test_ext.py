"""The compiled wrapper layer (gradkit._ext.*): its checks are the last line of defence
behind the Python API, so every call of it either runs the kernel on arrays it reads
correctly or raises (TypeError for a type or dtype, ValueError for a layout, size or
value) naming the argument, before anything is written.  Also: the map of kernel
status codes to exceptions, and the generated C declarations being current."""
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import gradkit
from gradkit._ext import clip as kclip
from gradkit._ext import dropout as kdrop
from gradkit._ext import losses as kloss
from gradkit._ext import norm as knorm
from gradkit._ext import optim as kopt
from gradkit._ext import preprocessing as kpre
from gradkit._ext import quant as kquant
from gradkit._ext import random as krand
from gradkit._ext import regularization as kreg

EXT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ext")
needs_source = pytest.mark.skipif(not os.path.isfile(os.path.join(EXT, "gen_decls.py")),
                                  reason="needs gradkit's source tree (ext/gen_decls.py)")


def _gen_decls():
    spec = importlib.util.spec_from_file_location("gen_decls", os.path.join(EXT, "gen_decls.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- generated declarations ----------------------------------------------------------------
@needs_source
def test_generated_declarations_match_the_headers():
    """_c_*.pxd, capi.pxd, capi.pyx and the GK_ARG_* block of common.h are what
    ext/gen_decls.py makes of the headers now (run it after editing a header)."""
    proc = subprocess.run([sys.executable, os.path.join(EXT, "gen_decls.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# float32 by design: GPTQ and the low-bit weights compute in float32 as the reference
# implementation does (a float64 weight is rounded first), qlinear takes float32 x
FLOAT32_ONLY = {"gk_rtn_f32", "gk_gptq_f32", "gk_gptq_hinv_f32",
                "gk_dequantize_weight_f32", "gk_qlinear_f32"}


@needs_source
def test_every_f32_kernel_has_a_dtype_dispatcher():
    """Each f32/f64 pair of a family header (with its 16-bit variants, _f16/_bf16) gets
    one entry point taking the dtype, so a wrapper calls each kernel once, whatever the
    dtype."""
    gen = _gen_decls()
    for fam in gen.FAMILIES:
        funcs = gen.parse(os.path.join(gen.INCLUDE, fam + ".h"))[3]
        paired = {f.name for _, group in gen.pairs(funcs) for _, f in group}
        unpaired = [f.name for f in funcs
                    if re.search(r"_(f32|f16|bf16)$", f.name) and f.name not in paired
                    and f.name not in FLOAT32_ONLY]
        assert not unpaired, unpaired
        text = open(os.path.join(EXT, f"_c_{fam}.pxd")).read()
        for name, group in gen.pairs(funcs):
            assert re.search(rf"^cdef inline \w+ {name}\(int dtype", text, re.M), name
            for code, f in group[2:]:   # the 16-bit variants are dispatched too
                assert re.search(rf"if dtype == {code}:\n\s+return {f.name}\(", text), f.name


@needs_source
def test_capi_exports_what_the_table_lists():
    from test_capi import CAPI_FUNCTIONS
    import gradkit.capi
    listed = [name for _, names in _gen_decls().CAPI for name in names]
    assert sorted(gradkit.capi.__pyx_capi__) == sorted(listed) == sorted(CAPI_FUNCTIONS)


# ---- status codes -> exceptions --------------------------------------------------------------
GK_ENULL, GK_ESIZE, GK_EVALUE, GK_ENOMEM, GK_EDTYPE, GK_EALIAS = 1, 2, 3, 4, 5, 6
KINDS = [(GK_ENULL, TypeError), (GK_ESIZE, ValueError), (GK_EVALUE, ValueError),
         (GK_ENOMEM, MemoryError), (GK_EDTYPE, TypeError), (GK_EALIAS, ValueError)]


@needs_source
@pytest.mark.parametrize("kind, exc", KINDS, ids=[e.__name__ + str(k) for k, e in KINDS])
@pytest.mark.parametrize("name", ["x", "eps", "exp_avg_sq", "zero_point", "rows"])
def test_status_maps_to_exception_naming_the_argument(kind, exc, name):
    arg = _gen_decls().arg_names().index(name) + 1  # the GK_ARG_<name> id
    err = knorm._status_error(kind | (arg << 8))
    assert type(err) is exc
    assert str(err).startswith(f"{name}: "), str(err)


def test_status_without_argument_and_unknown_kind():
    err = knorm._status_error(GK_ENOMEM)
    assert type(err) is MemoryError and "scratch memory" in str(err)
    err = knorm._status_error(0x7f)
    assert type(err) is ValueError and "unknown" in str(err)


def _raises(exc, name, fn, *args):
    with pytest.raises(exc) as info:
        fn(*args)
    assert re.search(rf"(^|\b){re.escape(name)}\b", str(info.value)), str(info.value)


def test_kernel_statuses_name_the_argument(rng):
    """The C entry points' own checks, reached through the wrappers."""
    x = rng.standard_normal((4, 6)).astype(np.float32)
    y, mean, rstd = np.full_like(x, 7), np.full(4, 7, np.float32), np.full(4, 7, np.float32)
    _raises(ValueError, "eps", knorm.layer_norm, x, None, None, y, mean, rstd, 4, 6, -1.0)
    _raises(ValueError, "rows", knorm.rms_norm, x, None, y, rstd, -4, 6, 1e-5)
    assert (y == 7).all() and (mean == 7).all() and (rstd == 7).all()
    _raises(ValueError, "p", kdrop.dropout, x, y, None, x.size, 1.5, 1, 0)
    _raises(ValueError, "norm_type", kclip.grad_norm, [x], -1.0)
    _raises(ValueError, "high", krand.uniform, y, y.size, 1.0, 0.0, 1, 0)
    labels = np.array([0, 1, 9, 2], np.int64)
    _raises(ValueError, "labels", kloss.softmax_cross_entropy, x, labels, None, None, None,
            y, 4, 6, 0.0, -100, 1)
    q = np.zeros(x.shape, np.int8)
    _raises(ValueError, "scale", kquant.quantize, x, np.array([-1.0], np.float32),
            np.zeros(1, np.int32), q, 1, 1, x.size)
    assert (y == 7).all()


def test_optimizer_statuses_name_the_option_and_the_state(rng):
    p = rng.standard_normal(10)
    g, m, v = rng.standard_normal(10), np.zeros(10), np.zeros(10)
    before = p.copy()
    steps = np.zeros(1, np.int64)
    # the hyperparameters are the caller's to check, where the user sets them (as
    # torch.optim): the kernel steps with any value, here lr = -0.1 (an ascent)
    q, m2, v2 = p.copy(), m.copy(), v.copy()
    kopt.adam([q], [g], [m2], [v2], None, np.zeros(1, np.int64), -0.1, 0.9, 0.999, 1e-8,
              0.0, False, False, False)
    np.testing.assert_allclose(q - p, 0.1 * np.sign(g), rtol=1e-6)
    adam = (0.1, 0.9, 0.999, 1e-8, 0.0, False, False, False)
    _raises(ValueError, "exp_avg_sq", kopt.adam, [p], [g], [m], [m], None, steps, *adam)
    _raises(ValueError, "lam", kreg.add_l2_grad, [g], [p], -1.0)
    assert p.tobytes() == before.tobytes() and steps[0] == 0 and (m == 0).all()


# ---- arrays the compiled layer must not misread ------------------------------------------------
def _swapped(a):
    return a.astype(a.dtype.newbyteorder())


def _misaligned(a):
    buf = np.zeros(a.nbytes + 1, np.uint8)
    out = np.frombuffer(buf[1:].data, a.dtype).reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.parametrize("bad", [_swapped, _misaligned], ids=["byteswapped", "misaligned"])
@pytest.mark.parametrize("which", ["x", "weight", "y", "rstd"])
def test_norm_wrapper_rejects_unreadable_arrays(bad, which, dtype, rng):
    args = {"x": rng.standard_normal((3, 5)).astype(dtype),
            "weight": rng.standard_normal(5).astype(dtype),
            "y": np.full((3, 5), 7, dtype), "rstd": np.full(3, 7, dtype)}
    args[which] = bad(args[which])
    exc = TypeError if bad is _swapped else ValueError
    with pytest.raises(exc, match=rf"^{which}\b"):
        knorm.rms_norm(args["x"], args["weight"], args["y"], args["rstd"], 3, 5, 1e-5)
    assert (np.asarray(args["y"]) == 7).all() and (np.asarray(args["rstd"]) == 7).all()


def test_norm_wrapper_checks_sizes_and_writability(rng):
    x = rng.standard_normal((3, 5)).astype(np.float32)
    y, rstd = np.empty_like(x), np.empty(3, np.float32)
    with pytest.raises(ValueError, match="^weight has 4 elements, expected 5"):
        knorm.rms_norm(x, np.ones(4, np.float32), y, rstd, 3, 5, 1e-5)
    y.flags.writeable = False
    with pytest.raises(ValueError, match="^y is read-only"):
        knorm.rms_norm(x, None, y, rstd, 3, 5, 1e-5)
    with pytest.raises(TypeError, match="^y must have dtype float32"):
        knorm.rms_norm(x, None, y.astype(np.float64), rstd, 3, 5, 1e-5)


def test_fast_paths_leave_byteswapped_arrays_to_the_checked_path(rng):
    x = rng.standard_normal((3, 5)).astype(np.float32)
    for args in [(_swapped(x), None, None), (x, _swapped(np.ones(5, np.float32)), None)]:
        assert knorm.layer_norm_fast(*args, 1e-5, 1, None) is None
        assert knorm.rms_norm_fast(args[0], args[1], 1e-5, 1, None) is None
    out = _swapped(np.zeros_like(x))
    assert knorm.layer_norm_fast(x, None, None, 1e-5, 1, out) is None
    assert knorm.rms_norm_fast(_misaligned(x), None, 1e-5, 1, None) is None


def test_backward_fast_paths_leave_uncommon_calls_to_the_checked_path(rng):
    x = rng.standard_normal((3, 5)).astype(np.float32)
    dy = rng.standard_normal((3, 5)).astype(np.float32)
    _, ln = gradkit.norm.layer_norm(x)
    _, rms = gradkit.norm.rms_norm(x)
    w = np.ones(5, np.float32)
    assert knorm.layer_norm_backward_fast(dy, x, ln, w, True, None) is not None
    assert knorm.rms_norm_backward_fast(dy, x, rms, w, None) is not None
    f64 = (ln.mean.astype(np.float64), ln.rstd.astype(np.float64))
    for args in [(_swapped(dy), x, ln, w), (dy, _swapped(x), ln, w),
                 (dy, x, ln, _swapped(w)), (dy, _misaligned(x), ln, w),
                 (dy[:, :4], x, ln, w), (dy, x, f64, w), (dy, x, (ln.mean, None), w),
                 (dy, x, (None, ln.rstd), w), (dy, x, (ln.mean[:2], ln.rstd), w),
                 (dy, x, ln, np.ones(4, np.float32)), (dy, x, [ln.mean, ln.rstd], w),
                 (dy.tolist(), x, ln, w)]:
        assert knorm.layer_norm_backward_fast(*args, True, None) is None
    assert knorm.layer_norm_backward_fast(dy, x, ln, w, 1, None) is None  # bias not a bool
    assert knorm.rms_norm_backward_fast(dy, x, ln, w, None) is None       # LayerNorm's stats
    assert knorm.rms_norm_backward_fast(dy, x, (None, ln.rstd[:, None]), w, None) is None
    for out in (_swapped(np.zeros_like(x)), np.zeros((3, 4), np.float32),
                np.zeros_like(x, np.float64)):
        assert knorm.layer_norm_backward_fast(dy, x, ln, w, True, out) is None
    ro = np.zeros_like(x)
    ro.flags.writeable = False
    assert knorm.rms_norm_backward_fast(dy, x, rms, w, ro) is None


def test_batch_norm_fast_paths_leave_uncommon_calls_to_the_checked_path(rng):
    x = rng.standard_normal((4, 3, 2)).astype(np.float32)
    dy = rng.standard_normal((4, 3, 2)).astype(np.float32)
    w, rm, rv = np.ones(3, np.float32), np.zeros(3, np.float32), np.ones(3, np.float32)
    nbt = np.zeros((), np.int64)
    ok = (x, w, w, rm, rv, True, 0.1, 1e-5, nbt, None)
    assert knorm.batch_norm_fast(*ok) is not None
    assert int(nbt) == 1
    ro = rm.copy()
    ro.flags.writeable = False
    bad = {0: [_swapped(x), _misaligned(x), x[:, :, :1].copy()[:, :, 0][:1], x[0]],
           1: [np.ones(2, np.float32), _swapped(w), w.astype(np.float64)],
           3: [ro, None, rm[:2]], 5: [np.True_, 1], 6: [None, 1, 1.5, -0.1],
           7: [1, -1.0, float("inf")], 8: [np.zeros(1, np.int64), nbt.astype(np.int32)],
           9: [np.zeros((4, 3, 1), np.float32), _swapped(np.zeros_like(x))]}
    for at, values in bad.items():
        for v in values:
            args = list(ok)
            args[at] = v
            assert knorm.batch_norm_fast(*args) is None, (at, v)
    # eval mode without running statistics, one value per channel in training
    assert knorm.batch_norm_fast(x, w, w, None, None, False, 0.1, 1e-5, None, None) is None
    assert knorm.batch_norm_fast(x[:1, :, :1].copy(), w, w, None, None, True, 0.1, 1e-5,
                                 None, None) is None
    assert int(nbt) == 1
    ro.flags.writeable = False
    assert knorm.batch_norm_fast(x, w, w, ro, ro, False, 0.1, 1e-5, None, None) is not None
    _, st = gradkit.norm.batch_norm(x)
    assert knorm.batch_norm_backward_fast(dy, x, st, w, True, None) is not None
    for args in [(dy, x, st, w, 1), (dy[:, :, :1], x, st, w, True),
                 (dy, x, (None, st.rstd), w, True), (dy, x, (st.mean[:2], st.rstd), w, True),
                 (dy, x, [st.mean, st.rstd], w, True), (dy, x, st, np.ones(2, np.float32), True),
                 (_swapped(dy), x, st, w, True), (dy, x, st, w.astype(np.float64), True)]:
        assert knorm.batch_norm_backward_fast(*args, None) is None


def test_dropout_backward_fast_path_leaves_uncommon_calls_to_the_checked_path(rng):
    x = rng.standard_normal((3, 5)).astype(np.float32)
    _, mask = gradkit.dropout.dropout(x, 0.5, rng=1)
    assert kdrop.dropout_backward_fast(x, mask, None) is not None
    M = gradkit.dropout.DropoutMask

    def poked(**fields):
        m = M.__new__(M)
        for k in M.__slots__:
            object.__setattr__(m, k, fields.get(k, object.__getattribute__(mask, k)))
        return m
    bits = mask.bits
    for m in [None, mask.bits, M.__new__(M), poked(_shape=[3, 5]), poked(_shape=(3, 4)),
              poked(_shape=(3, np.int64(5))), poked(_p=1), poked(_p=1.5), poked(_p=-0.0 - 1),
              poked(_seed=-1), poked(_seed=2 ** 64), poked(_counter=1.0),
              poked(_bits=bits[:-1]), poked(_bits=bits.astype(np.int8)),
              poked(_bits=np.zeros(4, np.uint8)[::2]),
              poked(_bits=np.zeros((2, 1), np.uint8))]:
        assert kdrop.dropout_backward_fast(x, m, None) is None, m
    assert kdrop.dropout_backward_fast(x.astype(np.float16), mask, None) is not None
    for dy in [_swapped(x), _misaligned(x), x.astype(">f2"), x.astype(np.int32), x.tolist(),
               x[:, :4]]:
        assert kdrop.dropout_backward_fast(dy, mask, None) is None
    for out in [np.zeros((3, 4), np.float32), _swapped(np.zeros_like(x)),
                np.zeros_like(x, np.float64)]:
        assert kdrop.dropout_backward_fast(x, mask, out) is None


def test_cross_entropy_fast_path_leaves_uncommon_calls_to_the_checked_path(rng):
    z = rng.standard_normal((4, 5)).astype(np.float32)
    lab = np.array([0, 4, -100, 2], np.int64)
    w = np.ones(5, np.float32)
    ok = [z, lab, 0.1, "mean", -100, w]
    assert kloss.softmax_cross_entropy_fast(*ok) is not None
    # 16-bit logits with a float32 weight are compiled too; a 16-bit weight is not
    assert kloss.softmax_cross_entropy_fast(z.astype(np.float16), *ok[1:]) is not None
    assert kloss.softmax_cross_entropy_fast(z.astype(np.float16), *ok[1:5],
                                            w.astype(np.float16)) is None
    bad = {0: [_swapped(z), _misaligned(z), z.astype(">f2"), z.astype(np.int32), z.tolist(), z[0],
               np.zeros((4, 0), np.float32), z[None]],
           1: [lab.astype(np.int32), _swapped(lab), lab[:3], lab[:, None], lab.tolist(),
               np.array([0, 5, 1, 1], np.int64), np.array([0, -1, 1, 1], np.int64)],
           2: [0, 1.5, -0.1, np.float64(0.1)], 3: ["batchmean", "Mean", None],
           4: [True, 2 ** 63, np.int64(-100), -100.0],
           5: [np.ones(4, np.float32), w.astype(np.float64), _swapped(w)]}
    for at, values in bad.items():
        for v in values:
            args = list(ok)
            args[at] = v
            assert kloss.softmax_cross_entropy_fast(*args) is None, (at, v)


def test_dropout_fast_path_leaves_uncommon_calls_to_the_checked_path(rng):
    x = rng.standard_normal((3, 5)).astype(np.float32)
    g = gradkit.random.Generator(3)
    assert kdrop.dropout_fast(x, 0.5, g, None, True) is not None
    assert g.counter == 15
    for args in [(x, 1, None, True), (x, 1.5, None, True), (x, 0.5, None, np.True_),
                 (x, 0.5, None, 1), (_swapped(x), 0.5, None, True),
                 (_misaligned(x), 0.5, None, True), (x.astype(">f2"), 0.5, None, True),
                 (x.astype(np.int32), 0.5, None, True),
                 (x.tolist(), 0.5, None, True), (x, 0.5, np.zeros((3, 4), np.float32), True),
                 (x, 0.5, _swapped(np.zeros_like(x)), True)]:
        assert kdrop.dropout_fast(args[0], args[1], g, args[2], args[3]) is None, args[1:]
    assert g.counter == 15   # nothing drawn for a call the fast path leaves


def test_fused_norm_fast_paths_leave_uncommon_calls_to_the_checked_path(rng):
    x = rng.standard_normal((3, 8)).astype(np.float32)
    r = rng.standard_normal((3, 8)).astype(np.float32)
    w, b = np.ones(8, np.float32), np.zeros(8, np.float32)
    g = gradkit.random.Generator(3)
    ok = [x, r, w, b, 0.5, 1e-5, True, g, 1, True, True]
    y, s, mask, st = knorm.add_dropout_norm_fast(*ok)
    assert g.counter == 24 and mask.counter == 0 and mask.bits is not None
    bad = {0: [_swapped(x), _misaligned(x), x.astype(">f2"), x.astype(np.int32), x.tolist(),
               x[:, :4]],
           1: [_swapped(r), r[:, :4], r.astype(np.float64), r.tolist()],
           2: [np.ones(4, np.float32), _swapped(w), w.astype(np.float64)],
           3: [b.astype(np.float16), np.zeros(4, np.float32)],
           4: [1, 1.5, -0.1, np.float64(0.5)], 5: [None, 1, -1.0, float("inf")],
           6: [1, np.True_], 7: [], 8: [0, 3, True, 1.0], 9: [1, np.True_]}
    for at, values in bad.items():
        for v in values:
            args = list(ok)
            args[at] = v
            assert knorm.add_dropout_norm_fast(*args) is None, (at, v)
    assert g.counter == 24   # nothing drawn for a call the fast path leaves
    with pytest.raises(TypeError, match="rng"):   # after every other check, as checked
        knorm.add_dropout_norm_fast(*ok[:7], "seed", *ok[8:])
    assert knorm.add_dropout_norm_fast(*ok[:6], False, "seed", *ok[8:])[2] is None
    dy = rng.standard_normal((3, 8)).astype(np.float32)
    okb = [dy, s, st, mask, w, True, None, True]
    assert knorm.add_dropout_norm_backward_fast(*okb) is not None
    M = gradkit.dropout.DropoutMask
    f64 = (st.mean.astype(np.float64), st.rstd.astype(np.float64))
    bad = {0: [_swapped(dy), dy[:, :4], dy.tolist(), dy.astype(np.float64)],
           1: [_swapped(s), _misaligned(s), s.tolist()],
           2: [f64, (st.mean, None), (None, st.rstd), [st.mean, st.rstd]],
           3: [mask.bits, M.__new__(M), M((3, 4), 0.5, 0, 0)],
           4: [np.ones(4, np.float32), w.astype(np.float64)], 5: [1, None],
           6: [dy[:, :4], _swapped(dy), dy.astype(np.float64)]}
    for at, values in bad.items():
        for v in values:
            args = list(okb)
            args[at] = v
            assert knorm.add_dropout_norm_backward_fast(*args) is None, (at, v)
    # RMSNorm: LayerNorm's statistics are not its own
    assert knorm.add_dropout_norm_backward_fast(dy, s, st, mask, w, False, None,
                                                False) is None


def test_optimizer_wrappers_reject_byteswapped_entries(rng):
    p = rng.standard_normal(8).astype(np.float32)
    before = p.copy()
    g = _swapped(rng.standard_normal(8).astype(np.float32))
    with pytest.raises(TypeError, match=r"^grads\[0\]"):
        kopt.check_grads([p], [g])
    m, v, steps = np.zeros_like(p), np.zeros_like(p), np.zeros(1, np.int64)
    adam = (0.1, 0.9, 0.999, 1e-8, 0.0, False, False, False)
    with pytest.raises(TypeError, match=r"^grads\[0\]"):
        kopt.adam([p], [g], [m], [v], None, steps, *adam)
    with pytest.raises(TypeError, match=r"^exp_avg\[0\]"):
        kopt.adam([p], [g.astype(np.float32)], [_swapped(m)], [v], None, steps, *adam)
    with pytest.raises(TypeError, match=r"^params\[0\]"):
        kopt.sgd([_swapped(p)], [p.copy()], [None], [False], 0.1, 0.0, 0.0, 0.0, False,
                 False)
    assert p.tobytes() == before.tobytes() and steps[0] == 0


def test_list_wrappers_reject_byteswapped_entries(rng):
    a = rng.standard_normal(6)
    with pytest.raises(TypeError, match=r"^arrays\[1\]"):
        kclip.grad_norm([a, _swapped(a)], 2.0)
    with pytest.raises(TypeError, match=r"^xs\[0\]"):
        kreg.sum_squares([_swapped(a)])
    g = a.copy()
    with pytest.raises(TypeError, match=r"^params\[0\]"):
        kreg.add_l1_grad([g], [_swapped(a)], 0.5)
    assert g.tobytes() == a.tobytes()


def test_other_wrappers_reject_byteswapped_arrays(rng):
    x = rng.standard_normal((4, 3))
    with pytest.raises(TypeError, match="^out"):
        krand.normal(_swapped(np.zeros(5)), 5, 0.0, 1.0, 1, 0)
    with pytest.raises(TypeError, match="^x"):
        kdrop.dropout(_swapped(x), np.empty_like(x), None, x.size, 0.5, 1, 0)
    with pytest.raises(TypeError, match="^target"):
        kloss.mse(x, _swapped(x), None, np.empty_like(x), x.size, 1)
    with pytest.raises(TypeError, match="^mean"):
        kpre.col_moments(x, _swapped(np.zeros(3)), np.zeros(3))
    with pytest.raises(TypeError, match="^x"):
        kquant.minmax(_swapped(x), 1, 1, x.size, np.empty(1), np.empty(1))


def test_marshaller_keeps_entries_in_their_places(rng):
    """Mixed float32/float64 lists with skipped entries: each result lands at its own
    index (the marshaller groups entries by dtype for the typed kernels)."""
    xs = [rng.standard_normal(n).astype(dt) for n, dt in
          [(5, np.float64), (3, np.float32), (7, np.float64), (2, np.float32)]]
    sums = kreg.sum_squares(xs)
    for s, x in zip(sums, xs):
        assert s == pytest.approx(float(np.sum(x.astype(np.float64) ** 2)), rel=1e-12)
    params = [x.copy() for x in xs]
    grads = [x * 0.5 if i != 2 else None for i, x in enumerate(xs)]
    ratios = kopt.lars(params, grads, [np.zeros_like(x) for x in xs], 0.1, 0.9, 0.0,
                       1e-3, 0.0, False)
    assert ratios[2] is None and params[2].tobytes() == xs[2].tobytes()
    for i in (0, 1, 3):
        alone = kopt.lars([xs[i].copy()], [grads[i]], [np.zeros_like(xs[i])], 0.1, 0.9, 0.0,
                          1e-3, 0.0, False)
        assert ratios[i] == alone[0]


# ---- the public API never misreads a byte-swapped array ------------------------------------
@pytest.mark.parametrize("call", [
    lambda x: gradkit.layer_norm(x)[0],
    lambda x: gradkit.rms_norm(x)[0],
    lambda x: gradkit.clip.global_norm([x]),
    lambda x: gradkit.losses.mse(x, np.zeros_like(x))[0],
], ids=["layer_norm", "rms_norm", "global_norm", "mse"])
def test_public_api_computes_or_rejects_byteswapped_input(call, rng):
    """A byte-swapped input either gives the result of its native copy (the Python layer
    converted it) or raises TypeError naming it -- never a misread."""
    x = rng.standard_normal((4, 8)).astype(np.float32)
    try:
        got = call(_swapped(x))
    except TypeError as e:
        assert re.search(r"\b(x|pred|grads|arrays|target)\b", str(e)), str(e)
        return
    np.testing.assert_array_equal(np.asarray(got, np.float64),
                                  np.asarray(call(x), np.float64))
