"""Bad input, swept over every public function of the training families (norm, optim,
amp, clip, regularization, losses, schedules), table-driven.

For every array argument the sweep substitutes wrong dtypes (int, float16, object, and
byte-swapped), a wrong shape, and layouts (non-contiguous, read-only, misaligned), and
for every hyperparameter out-of-range values (NaN, inf, negative, bool, huge ints,
strings).  Each substitution must either give the documented exception (TypeError for
a type/dtype, ValueError for a shape/value) whose message names the argument, with
nothing written (every array passed, and optimizer state, compared before and after), or
-- where the documentation says the input is converted (read-only inputs: byte-swapped,
non-contiguous, misaligned, read-only arrays are copied once) -- the very result of the
clean call.  NumPy scalars are valid numbers everywhere.

The rules (docs: the "Bad input" sections, and gradkit._validation):
* read-only input ('in'): int/float16/object -> TypeError; a byte-swapped, non-contiguous,
  read-only or misaligned array is converted: same result.
* written in place ('inplace'): int/float16/object/byte-swapped -> TypeError; read-only,
  non-contiguous, misaligned -> ValueError (never copied silently).
* written in place, any layout ('inplace_any': clip and amp take any layout, as torch):
  non-contiguous and misaligned arrays are processed through a copy written back.
* ``out=``: any of the above -> ValueError (DESIGN.md: out of the wrong dtype is a
  ValueError).
"""
import math
import sys

import numpy as np
import pytest

from gradkit import amp, clip, losses, norm, optim, regularization, schedules
from gradkit.optim import functional as F

SWAP = ">" if sys.byteorder == "little" else "<"
KINDS = ["int", "f16", "object", "swapped", "shape", "noncontig", "readonly", "misaligned"]


def variant(a, kind):
    if kind == "int":
        return a.astype(np.int64)
    if kind == "f16":
        return a.astype(np.float16)
    if kind == "object":
        return a.astype(object)
    if kind == "swapped":
        return a.astype(a.dtype.newbyteorder(SWAP))
    if kind == "shape":
        if a.ndim == 0:
            return np.zeros(2, a.dtype)
        return np.zeros(a.shape[:-1] + (a.shape[-1] + 1,), a.dtype)
    if kind == "noncontig":
        b = np.zeros(a.shape + (2,), a.dtype)
        b[..., 0] = a
        return b[..., 0]
    if kind == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    if kind == "misaligned":
        b = np.frombuffer(bytearray(a.nbytes + 1), a.dtype, a.size, offset=1).reshape(a.shape)
        b[...] = a
        assert not b.flags.aligned or a.size == 0
        return b
    raise AssertionError(kind)


EXPECT = {  # role -> kind -> exception type, or None: converted, same result
    "in": dict(int=TypeError, f16=TypeError, object=TypeError, swapped=None,
               shape=ValueError, noncontig=None, readonly=None, misaligned=None),
    # probabilities as labels: int labels are class indices, of the wrong shape here
    "probs": dict(int=ValueError, f16=TypeError, object=TypeError, swapped=None,
                  shape=ValueError, noncontig=None, readonly=None, misaligned=None),
    "inplace": dict(int=TypeError, f16=TypeError, object=TypeError, swapped=TypeError,
                    shape=ValueError, noncontig=ValueError, readonly=ValueError,
                    misaligned=ValueError),
    "inplace_any": dict(int=TypeError, f16=TypeError, object=TypeError, swapped=TypeError,
                        shape=None, noncontig=None, readonly=ValueError, misaligned=None),
    "out": dict(int=ValueError, f16=ValueError, object=ValueError, swapped=ValueError,
                shape=ValueError, noncontig=ValueError, readonly=ValueError,
                misaligned=ValueError),
}


class Arg:
    """An array argument: kwarg `key`, element `index` of it (a list/tuple) or None,
    its role and the name messages use for it."""

    def __init__(self, key, role, label=None, index=None, shape_ok=False, shape_exc=None):
        self.key, self.role, self.index, self.shape_ok = key, role, index, shape_ok
        self.shape_exc = shape_exc  # overrides the role's rule for a wrong shape
        self.label = label or (key if index is None else f"{key}[{index}]")

    def get(self, kw):
        v = kw[self.key]
        return v if self.index is None else v[self.index]

    def set(self, kw, value):
        if self.index is None:
            kw[self.key] = value
            return
        items = list(kw[self.key])
        items[self.index] = value
        c = kw[self.key]
        kw[self.key] = (type(c)(*items) if hasattr(c, "_fields")
                        else items if isinstance(c, list) else tuple(items))


class Case:
    def __init__(self, name, fn, build, args, hyper=()):
        self.name, self.fn, self.build, self.args, self.hyper = name, fn, build, args, hyper


def _arrays(obj, out):
    """Every ndarray reachable in obj (kwargs, lists, tuples, dicts, optimizer state)."""
    if isinstance(obj, np.ndarray):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            _arrays(x, out)
    elif isinstance(obj, dict):
        for x in obj.values():
            _arrays(x, out)
    elif isinstance(obj, optim.Optimizer):
        for g in obj._groups:
            _arrays(g.params, out)
            _arrays(g.state, out)
    return out


def _snapshot(kw):
    return [(a, a.copy()) for a in _arrays(kw, []) if a.dtype != object]


def _unchanged(snap):
    for a, before in snap:
        assert a.shape == before.shape
        assert np.array_equal(np.ascontiguousarray(a).view(np.uint8),
                              np.ascontiguousarray(before).view(np.uint8)), "input was written"


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert np.array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64),
                              equal_nan=True)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float):
        assert a == b or (math.isnan(a) and math.isnan(b))
    else:
        assert a == b


def _final(kw, case):
    """What a call leaves behind: the in-place arguments' values."""
    return [np.array(a.get(kw), np.float64) for a in case.args
            if a.role in ("inplace", "inplace_any") and a.get(kw) is not None]


# ---- the cases -----------------------------------------------------------------------

def _r(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed + 7 * len(shape)).standard_normal(shape).astype(dtype)


def _opt_step(cls, **opts):
    def run(params, grads):
        o = cls(params, **opts)
        o.step(grads)
        o.step(grads)
        return None
    return run


def _bad_reals(name, *, allow_zero=True, finite=True):
    out = [(name, -1.0, ValueError), (name, float("nan"), ValueError),
           (name, True, TypeError), (name, "0.1", TypeError), (name, None, TypeError),
           (name, 10 ** 400, ValueError), (name, np.float32(0.25), None),
           (name, np.int64(0), None if allow_zero else ValueError)]
    if finite:
        out.append((name, float("inf"), ValueError))
    return out


def _cases():
    c = []
    x = lambda: _r(4, 6)  # noqa: E731
    c.append(Case("layer_norm", norm.layer_norm,
                  lambda: dict(x=x(), weight=_r(6, seed=1), bias=_r(6, seed=2),
                               out=np.zeros((4, 6), np.float32)),
                  [Arg("x", "in", shape_ok=False), Arg("weight", "in"), Arg("bias", "in"),
                   Arg("out", "out")],
                  _bad_reals("eps") + [("normalized_ndim", 0, ValueError),
                                       ("normalized_ndim", 2 ** 70, ValueError),
                                       ("normalized_ndim", 1.0, TypeError)]))
    c.append(Case("rms_norm", norm.rms_norm,
                  lambda: dict(x=x(), weight=_r(6, seed=1), out=np.zeros((4, 6), np.float32)),
                  [Arg("x", "in"), Arg("weight", "in"), Arg("out", "out")],
                  [h for h in _bad_reals("eps") if h[1] is not None]))  # None: finfo.eps

    def ln_back():
        xx, w = x(), _r(6, seed=1)
        return dict(dy=_r(4, 6, seed=3), x=xx, stats=norm.layer_norm(xx, w)[1], weight=w)
    c.append(Case("layer_norm_backward", norm.layer_norm_backward, ln_back,
                  [Arg("dy", "in"), Arg("x", "in"), Arg("weight", "in"),
                   Arg("stats", "in", "stats.mean", 0), Arg("stats", "in", "stats.rstd", 1)]))

    def rms_back():
        xx, w = x(), _r(6, seed=1)
        return dict(dy=_r(4, 6, seed=3), x=xx, stats=norm.rms_norm(xx, w)[1], weight=w)
    c.append(Case("rms_norm_backward", norm.rms_norm_backward, rms_back,
                  [Arg("dy", "in"), Arg("x", "in"), Arg("weight", "in"),
                   Arg("stats", "in", "stats.rstd", 1)]))
    c.append(Case("batch_norm", norm.batch_norm,
                  lambda: dict(x=_r(5, 3, 2), weight=_r(3, seed=1), bias=_r(3, seed=2),
                               running_mean=np.zeros(3, np.float32),
                               running_var=np.ones(3, np.float32),
                               num_batches_tracked=np.zeros((), np.int64),
                               out=np.zeros((5, 3, 2), np.float32)),
                  [Arg("x", "in"), Arg("weight", "in"), Arg("bias", "in"),
                   Arg("running_mean", "inplace"), Arg("running_var", "inplace"),
                   Arg("out", "out")],
                  _bad_reals("eps") + [("momentum", 1.5, ValueError),
                                       ("momentum", float("nan"), ValueError),
                                       ("momentum", True, TypeError),
                                       ("training", "yes", TypeError)]))

    def bn_back():
        xx, w = _r(5, 3, 2), _r(3, seed=1)
        return dict(dy=_r(5, 3, 2, seed=3), x=xx, stats=norm.batch_norm(xx, w)[1], weight=w)
    c.append(Case("batch_norm_backward", norm.batch_norm_backward, bn_back,
                  [Arg("dy", "in"), Arg("x", "in"), Arg("weight", "in"),
                   Arg("stats", "in", "stats.mean", 0), Arg("stats", "in", "stats.rstd", 1)]))

    # optim.functional: one array, and lists
    p = lambda: _r(7, seed=5)  # noqa: E731
    g = lambda: _r(7, seed=6)  # noqa: E731
    pos = lambda: np.abs(_r(7, seed=8)) + 0.1  # noqa: E731
    c.append(Case("sgd_", lambda **k: F.sgd_(**{"lr": 0.1, "momentum": 0.9, **k}),
                  lambda: dict(param=p(), grad=g(), momentum_buffer=_r(7, seed=9)),
                  [Arg("param", "inplace"), Arg("grad", "in"),
                   Arg("momentum_buffer", "inplace")],
                  _bad_reals("lr") + _bad_reals("momentum") + _bad_reals("weight_decay")
                  + [("dampening", float("nan"), ValueError), ("nesterov", "no", TypeError),
                     ("maximize", 2, TypeError)]))
    c.append(Case("adam_", F.adam_,
                  lambda: dict(param=p(), grad=g(), exp_avg=_r(7, seed=9), exp_avg_sq=pos(),
                               step=3, amsgrad=True, max_exp_avg_sq=pos() + 1),
                  [Arg("param", "inplace"), Arg("grad", "in"), Arg("exp_avg", "inplace"),
                   Arg("exp_avg_sq", "inplace"), Arg("max_exp_avg_sq", "inplace")],
                  _bad_reals("lr") + _bad_reals("eps") + _bad_reals("weight_decay")
                  + [("beta1", 1.0, ValueError), ("beta2", -0.1, ValueError),
                     ("beta1", np.float64(0.5), None), ("step", 0, ValueError),
                     ("step", 2 ** 70, ValueError), ("step", 1.0, TypeError),
                     ("step", True, TypeError), ("step", np.int64(5), None),
                     ("amsgrad", "yes", TypeError)]))
    c.append(Case("rmsprop_", lambda **k: F.rmsprop_(**{"momentum": 0.5, "centered": True, **k}),
                  lambda: dict(param=p(), grad=g(), square_avg=pos() + 1,
                               grad_avg=_r(7, seed=10) * 0.1, momentum_buffer=_r(7, seed=11)),
                  [Arg("param", "inplace"), Arg("grad", "in"), Arg("square_avg", "inplace"),
                   Arg("grad_avg", "inplace"), Arg("momentum_buffer", "inplace")],
                  _bad_reals("lr") + _bad_reals("alpha") + _bad_reals("eps")))
    c.append(Case("adagrad_", F.adagrad_,
                  lambda: dict(param=p(), grad=g(), state_sum=pos(), step=2),
                  [Arg("param", "inplace"), Arg("grad", "in"), Arg("state_sum", "inplace")],
                  _bad_reals("lr") + _bad_reals("lr_decay")
                  + [("step", 2 ** 64, ValueError), ("step", -1, ValueError)]))
    c.append(Case("lars_", lambda **k: F.lars_(**{"lr": 0.1, **k}),
                  lambda: dict(param=[p(), _r(3, seed=12)], grad=[g(), _r(3, seed=13)],
                               trace=[_r(7, seed=14), _r(3, seed=15)]),
                  [Arg("param", "inplace", index=0), Arg("grad", "in", index=1),
                   Arg("trace", "inplace", index=1)],
                  _bad_reals("momentum") + _bad_reals("trust_coefficient")
                  + _bad_reals("eps")))

    # optimizer classes: construction + two steps
    classes = [("SGD", optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
               ("Adam", optim.Adam, dict(lr=0.1, amsgrad=True)),
               ("AdamW", optim.AdamW, dict(lr=0.1)),
               ("RMSprop", optim.RMSprop, dict(lr=0.1, momentum=0.5, centered=True)),
               ("Adagrad", optim.Adagrad, dict(lr=0.1, lr_decay=0.1)),
               ("LARS", optim.LARS, dict(lr=0.1))]
    for name, cls, opts in classes:
        hyper = _bad_reals("lr") + _bad_reals("weight_decay")
        if name in ("Adam", "AdamW"):
            hyper += [("betas", (1.0, 0.9), ValueError), ("betas", 0.9, TypeError),
                      ("betas", (0.9, float("nan")), ValueError)]
        c.append(Case(name, lambda cls=cls, opts=opts, **k: _opt_step(cls, **{**opts, **{
                          kk: v for kk, v in k.items() if kk not in ("params", "grads")}})(
                          k["params"], k["grads"]),
                      lambda: dict(params=[p(), _r(2, 3, seed=16, dtype=np.float64)],
                                   grads=[g(), _r(2, 3, seed=17, dtype=np.float64)]),
                      [Arg("params", "inplace", index=0), Arg("params", "inplace", index=1),
                       Arg("grads", "in", index=0), Arg("grads", "in", index=1)],
                      hyper))

    # clip, amp
    grads = lambda: dict(grads=[_r(5, seed=20), _r(2, 3, seed=21, dtype=np.float64)])  # noqa
    clip_args = [Arg("grads", "inplace_any", index=0), Arg("grads", "inplace_any", index=1)]
    c.append(Case("global_norm", clip.global_norm, grads,
                  [Arg("grads", "in", index=0, shape_ok=True),
                   Arg("grads", "in", index=1, shape_ok=True)],
                  [("norm_type", 0.0, ValueError), ("norm_type", float("nan"), ValueError),
                   ("norm_type", -2, ValueError), ("norm_type", True, TypeError),
                   ("norm_type", 10 ** 400, ValueError), ("norm_type", np.int32(3), None)]))
    c.append(Case("clip_grad_norm_", lambda **k: clip.clip_grad_norm_(**{"max_norm": 0.5, **k}),
                  grads, clip_args,
                  [("max_norm", -1.0, ValueError), ("max_norm", float("nan"), ValueError),
                   ("max_norm", True, TypeError), ("max_norm", np.float32(0.1), None),
                   ("norm_type", 0.0, ValueError), ("error_if_nonfinite", "x", TypeError)]))
    c.append(Case("clip_grad_value_",
                  lambda **k: clip.clip_grad_value_(**{"clip_value": 0.3, **k}), grads,
                  clip_args, [("clip_value", -1.0, ValueError),
                              ("clip_value", float("nan"), ValueError),
                              ("clip_value", "1", TypeError)]))
    c.append(Case("LossScaler.unscale_", lambda **k: amp.LossScaler(4.0).unscale_(**k), grads,
                  clip_args))

    def scaler_step(**k):
        o = optim.SGD(k["params"], lr=0.1)
        return amp.LossScaler(4.0).step(o, k["grads"])
    def scaled_step(**k):
        o = optim.AdamW(k.pop("params"), lr=0.1)
        return o.step(**{"grad_scale": 0.5, "max_norm": 1.0, **k})
    c.append(Case("Optimizer.step(grad_scale=)", scaled_step,
                  lambda: dict(params=[p(), _r(3, seed=24, dtype=np.float64)],
                               grads=[g(), _r(3, seed=25, dtype=np.float64)]),
                  [Arg("params", "inplace", index=0), Arg("grads", "in", index=1,
                                                          shape_exc=ValueError)],
                  [("grad_scale", float("nan"), ValueError),
                   ("grad_scale", float("inf"), ValueError), ("grad_scale", True, TypeError),
                   ("grad_scale", "0.5", TypeError), ("grad_scale", 10 ** 400, ValueError),
                   ("grad_scale", -2.0, None), ("grad_scale", 0.0, None),
                   ("grad_scale", np.float32(0.25), None), ("grad_scale", None, None)]))
    c.append(Case("LossScaler.step", scaler_step,
                  lambda: dict(params=[p(), _r(3, seed=22, dtype=np.float64)],
                               grads=[g(), _r(3, seed=23, dtype=np.float64)]),
                  [Arg("params", "inplace", index=0), Arg("grads", "inplace_any", index=1,
                                                          shape_exc=ValueError)]))

    # regularization
    pair = lambda: dict(grads=[_r(5, seed=30), _r(2, 2, seed=31, dtype=np.float64)],  # noqa
                        params=[_r(5, seed=32), _r(2, 2, seed=33, dtype=np.float64)])
    reg_args = [Arg("grads", "inplace", index=0), Arg("grads", "inplace", index=1),
                Arg("params", "in", index=0), Arg("params", "in", index=1)]
    for name, fn in [("add_l2_grad_", regularization.add_l2_grad_),
                     ("add_l1_grad_", regularization.add_l1_grad_)]:
        c.append(Case(name, lambda fn=fn, **k: fn(**{"lam": 0.1, **k}), pair, reg_args,
                      _bad_reals("lam")))
    for name, fn in [("l2_penalty", regularization.l2_penalty),
                     ("l1_penalty", regularization.l1_penalty)]:
        c.append(Case(name, lambda fn=fn, **k: fn(**{"lam": 0.1, **k}),
                      lambda: dict(params=[_r(5, seed=34), _r(3, seed=35)]),
                      [Arg("params", "in", index=0, shape_ok=True)], _bad_reals("lam")))
    c.append(Case("add_grad_noise_",
                  lambda **k: regularization.add_grad_noise_(**{"step": 3, "rng": 1, **k}),
                  lambda: dict(grads=[_r(5, seed=36), _r(4, seed=37)]),
                  [Arg("grads", "inplace", index=0, shape_ok=True)],
                  _bad_reals("eta") + [("step", -1, ValueError), ("step", 2 ** 70, ValueError),
                                       ("step", 1.5, TypeError),
                                       ("gamma", float("nan"), ValueError),
                                       ("gamma", float("inf"), ValueError)]))

    # losses
    logits = lambda: _r(4, 5, seed=40)  # noqa: E731
    c.append(Case("softmax_cross_entropy", losses.softmax_cross_entropy,
                  lambda: dict(logits=logits(), labels=np.array([0, 2, 4, 1])),
                  [Arg("logits", "in", shape_ok=True)],
                  [("label_smoothing", 1.5, ValueError), ("label_smoothing", -0.1, ValueError),
                   ("label_smoothing", True, TypeError), ("reduction", "avg", ValueError),
                   ("reduction", ["mean"], ValueError), ("ignore_index", 2 ** 70, ValueError),
                   ("ignore_index", 1.0, TypeError), ("labels", np.array([0, 9, 1, 1]), ValueError),
                   ("labels", np.array([0, 1]), ValueError),
                   ("labels", np.array([True, False, True, True]), TypeError),
                   ("labels", np.array([0, 2**64 - 1, 1, 1], np.uint64), ValueError),
                   ("labels", np.array([0, 2, 4, 1], ">i8"), None)]))
    c.append(Case("softmax_cross_entropy(probs)", losses.softmax_cross_entropy,
                  lambda: dict(logits=logits(), labels=np.full((4, 5), 0.2, np.float32)),
                  [Arg("logits", "in"), Arg("labels", "probs")]))
    c.append(Case("kl_div", losses.kl_div,
                  lambda: dict(student_logits=logits(), teacher_logits=_r(4, 5, seed=41)),
                  [Arg("student_logits", "in"), Arg("teacher_logits", "in")],
                  _bad_reals("temperature", allow_zero=False)))
    c.append(Case("distillation_loss", losses.distillation_loss,
                  lambda: dict(student_logits=logits(), teacher_logits=_r(4, 5, seed=41),
                               labels=np.array([0, 1, 2, 3])),
                  [Arg("student_logits", "in"), Arg("teacher_logits", "in")],
                  _bad_reals("temperature", allow_zero=False)
                  + [("alpha", 1.5, ValueError), ("alpha", float("nan"), ValueError)]))
    c.append(Case("mse", losses.mse,
                  lambda: dict(pred=_r(3, 4, seed=42), target=_r(3, 4, seed=43)),
                  [Arg("pred", "in"), Arg("target", "in")],
                  [("reduction", "total", ValueError)]))
    return c


CASES = {c.name: c for c in _cases()}
ARRAY_CASES = [(n, i, k) for n, c in CASES.items() for i in range(len(c.args)) for k in KINDS]
HYPER_CASES = [(n, i) for n, c in CASES.items() for i in range(len(c.hyper))]


def _label_in(label, msg):
    return label in msg


# float16 is 16-bit storage for these arguments (docs/precision.md): a float16 array
# there is valid, and the call either runs or rejects the mix with the case's float32
# arrays with a TypeError/ValueError naming one of them, having written nothing
HALF_STORAGE = {
    "layer_norm": {"x"}, "rms_norm": {"x"}, "batch_norm": {"x"}, "lars_": {"param[0]"},
    **{opt: {"params[0]", "params[1]"}
       for opt in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LARS")},
    **{f: {"grads[0]", "grads[1]"}
       for f in ("global_norm", "clip_grad_norm_", "clip_grad_value_")},
    "Optimizer.step(grad_scale=)": {"params[0]"}, "LossScaler.step": {"params[0]"},
    "softmax_cross_entropy": {"logits"},
    # regularization: a list may mix 16-bit and float32 arrays (docs/precision.md)
    "l2_penalty": {"params[0]"}, "l1_penalty": {"params[0]"},
    "add_grad_noise_": {"grads[0]"},
}


@pytest.mark.parametrize("name,i,kind", ARRAY_CASES,
                         ids=[f"{n}-{CASES[n].args[i].label}-{k}" for n, i, k in ARRAY_CASES])
def test_bad_array(name, i, kind):
    case, arg = CASES[name], CASES[name].args[i]
    if kind == "f16" and arg.label in HALF_STORAGE.get(name, ()):
        kw = case.build()
        arg.set(kw, variant(arg.get(kw), kind))
        snap = _snapshot(kw)
        try:
            case.fn(**kw)
        except (TypeError, ValueError) as e:
            assert any(a.label in str(e) or a.key in str(e) for a in case.args), str(e)
            _unchanged(snap)
        return
    expect = EXPECT[arg.role][kind]
    if kind == "shape" and arg.shape_exc is not None:
        expect = arg.shape_exc
    if kind == "shape" and (arg.shape_ok or expect is None):
        expect = "any"  # a shape the function accepts: it must run
    clean = case.build()
    want = case.fn(**clean)
    kw = case.build()
    arg.set(kw, variant(arg.get(kw), kind))
    snap = _snapshot(kw)
    if expect is None:
        got = case.fn(**kw)
        _same(got, want)
        _same(_final(kw, case), _final(clean, case))
    elif expect == "any":
        case.fn(**kw)  # a shape the function accepts
    else:
        with pytest.raises(expect) as info:
            case.fn(**kw)
        msg = str(info.value)
        if kind == "shape":  # a shape mismatch may be blamed on either array
            assert any(a.label in msg or a.key in msg for a in case.args), msg
        else:
            assert arg.label in msg, msg
        _unchanged(snap)


@pytest.mark.parametrize("name,i", HYPER_CASES,
                         ids=[f"{n}-{CASES[n].hyper[i][0]}={CASES[n].hyper[i][1]!r}"[:80]
                              for n, i in HYPER_CASES])
def test_bad_hyperparameter(name, i):
    case = CASES[name]
    key, value, expect = case.hyper[i]
    kw = case.build()
    kw[key] = value
    snap = _snapshot(kw)
    if expect is None:
        case.fn(**kw)
        return
    with pytest.raises(expect) as info:
        case.fn(**kw)
    assert key in str(info.value), str(info.value)
    _unchanged(snap)


# ---- zero-size and 0-d --------------------------------------------------------------

def test_zero_size_arrays_work():
    z = np.zeros((0, 4), np.float32)
    y, st = norm.layer_norm(z)
    assert y.shape == (0, 4) and st.rstd.shape == (0,)
    assert norm.rms_norm(z)[0].shape == (0, 4)
    assert clip.global_norm([np.zeros(0, np.float32)]) == 0.0
    p, g = np.zeros(0), np.zeros(0)
    F.adam_(p, g, np.zeros(0), np.zeros(0), 1)
    optim.SGD([p], lr=0.1, momentum=0.9).step([g])
    assert regularization.l2_penalty([np.zeros(0)], 0.1) == 0.0
    loss, d = losses.mse(np.zeros(0), np.zeros(0), reduction="sum")
    assert loss == 0.0 and d.shape == (0,)


def test_zero_d_arrays():
    with pytest.raises(ValueError, match="x"):
        norm.layer_norm(np.float32(1.0).reshape(()))
    p = np.zeros((), np.float64)
    F.sgd_(p, np.ones(()), lr=0.5)
    assert p == -0.5
    with pytest.raises(ValueError, match="logits"):
        losses.softmax_cross_entropy(np.zeros(()), np.zeros((), np.int64))


# ---- malformed state dicts ---------------------------------------------------------

def _opt():
    o = optim.Adam([np.ones(3), np.ones(2, np.float32)], lr=0.1)
    o.step([np.ones(3), np.ones(2, np.float32)])
    return o


OPT_BAD = [
    (lambda d: [], TypeError, "state_dict"),
    (lambda d: {"state": d["state"]}, ValueError, "param_groups"),
    (lambda d: {**d, "state": []}, TypeError, "state"),
    (lambda d: {**d, "param_groups": 3}, TypeError, "param_groups"),
    (lambda d: {**d, "param_groups": [5]}, TypeError, "param_groups'][0]"),
    (lambda d: {**d, "param_groups": [{"lr": 0.1}]}, ValueError, "params"),
    (lambda d: {**d, "param_groups": [{**d["param_groups"][0], "lr": -1.0}]}, ValueError, "lr"),
    (lambda d: {**d, "param_groups": [{**d["param_groups"][0], "betas": 3}]}, TypeError,
     "betas"),
    (lambda d: {**d, "param_groups": [{**d["param_groups"][0], "params": ["a", 1]}]},
     TypeError, "params"),
    (lambda d: {**d, "state": {0: 5}}, TypeError, "state'][0]"),
    (lambda d: {**d, "state": {7: {"step": 1}}}, ValueError, "7"),
    (lambda d: {**d, "state": {0: {**d["state"][0], "step": -1}}}, ValueError, "step"),
    (lambda d: {**d, "state": {0: {**d["state"][0], "step": 2 ** 70}}}, ValueError, "step"),
    (lambda d: {**d, "state": {0: {**d["state"][0], "step": float("nan")}}}, ValueError,
     "step"),
    (lambda d: {**d, "state": {0: {**d["state"][0], "step": 1.5}}}, ValueError, "step"),
    (lambda d: {**d, "state": {0: {**d["state"][0], "exp_avg": np.ones(4)}}}, ValueError,
     "exp_avg"),
    (lambda d: {**d, "state": {0: {**d["state"][0], "exp_avg": "abc"}}}, TypeError, "exp_avg"),
    (lambda d: {**d, "state": {0: {**d["state"][0], "bogus": 1}}}, ValueError, "bogus"),
]


@pytest.mark.parametrize("i", range(len(OPT_BAD)))
def test_optimizer_load_state_dict_malformed(i):
    make, exc, match = OPT_BAD[i]
    o = _opt()
    good = o.state_dict()
    bad = make(o.state_dict())
    with pytest.raises(exc, match=match.replace("[", r"\[").replace("]", r"\]")):
        o.load_state_dict(bad)
    after = o.state_dict()
    _same([after["state"][k][s] for k in (0, 1) for s in ("step", "exp_avg", "exp_avg_sq")],
          [good["state"][k][s] for k in (0, 1) for s in ("step", "exp_avg", "exp_avg_sq")])
    assert after["param_groups"] == good["param_groups"]


SCALER_BAD = [
    (lambda d: 3, TypeError, "state_dict"),
    (lambda d: {k: v for k, v in d.items() if k != "scale"}, ValueError, "scale"),
    (lambda d: {**d, "scale": -1.0}, ValueError, "init_scale"),
    (lambda d: {**d, "growth_factor": "2"}, TypeError, "growth_factor"),
    (lambda d: {**d, "backoff_factor": 1.5}, ValueError, "backoff_factor"),
    (lambda d: {**d, "growth_interval": 0}, ValueError, "growth_interval"),
    (lambda d: {**d, "growth_interval": 2 ** 70}, ValueError, "growth_interval"),
    (lambda d: {k: v for k, v in d.items() if k != "_growth_tracker"}, ValueError,
     "_growth_tracker"),
    (lambda d: {**d, "_growth_tracker": -1}, ValueError, "_growth_tracker"),
    (lambda d: {**d, "_growth_tracker": 1.0}, TypeError, "_growth_tracker"),
]


@pytest.mark.parametrize("i", range(len(SCALER_BAD)))
def test_loss_scaler_load_state_dict_malformed(i):
    make, exc, match = SCALER_BAD[i]
    s = amp.LossScaler(init_scale=8.0, growth_interval=3)
    src = amp.LossScaler(init_scale=1024.0, growth_factor=4.0, backoff_factor=0.25,
                         growth_interval=5).state_dict()
    before = s.state_dict()
    with pytest.raises(exc, match=match):
        s.load_state_dict(make(src))
    assert s.state_dict() == before


def _sched(kind):
    o = optim.SGD([np.ones(2)], lr=0.1, momentum=0.9)
    s = {"step": lambda: schedules.StepLR(o, 3),
         "seq": lambda: schedules.warmup(o, 2, after=schedules.CosineAnnealingLR(o, 10)),
         "plateau": lambda: schedules.ReduceLROnPlateau(o),
         "cyclic": lambda: schedules.CyclicLR(o, 0.01, 0.1)}[kind]()
    for _ in range(3):
        s.step(1.0) if kind == "plateau" else s.step()
    return s


SCHED_BAD = [
    ("step", lambda d: None, TypeError, "state_dict"),
    ("step", lambda d: {k: v for k, v in d.items() if k != "last_epoch"}, ValueError,
     "last_epoch"),
    ("step", lambda d: {**d, "last_epoch": "3"}, TypeError, "last_epoch"),
    ("step", lambda d: {**d, "base_lrs": [0.1, 0.2]}, ValueError, "base_lrs"),
    ("step", lambda d: {**d, "gamma": None}, TypeError, "gamma"),
    ("step", lambda d: {**d, "bogus": 1}, ValueError, "bogus"),
    ("seq", lambda d: {**d, "_schedulers": [d["_schedulers"][0]]}, ValueError, "_schedulers"),
    ("seq", lambda d: {**d, "_schedulers": [d["_schedulers"][0],
                                            {**d["_schedulers"][1], "T_max": "x"}]},
     TypeError, "T_max"),
    ("plateau", lambda d: {**d, "mode": "sideways"}, ValueError, "mode"),
    ("plateau", lambda d: {**d, "patience": [1]}, TypeError, "patience"),
    ("cyclic", lambda d: {**d, "mode": "zigzag"}, ValueError, "mode"),
    ("cyclic", lambda d: {**d, "_scale_fn_custom": 3}, TypeError, "_scale_fn_custom"),
]


@pytest.mark.parametrize("i", range(len(SCHED_BAD)))
def test_schedule_load_state_dict_malformed(i):
    kind, make, exc, match = SCHED_BAD[i]
    s = _sched(kind)
    before = repr(s.state_dict())
    with pytest.raises(exc, match=match):
        s.load_state_dict(make(_sched(kind).state_dict()))
    assert repr(s.state_dict()) == before


SCHED_HYPER = [
    (lambda o: schedules.StepLR(o, 0), ValueError, "step_size"),
    (lambda o: schedules.StepLR(o, 2 ** 70), ValueError, "step_size"),
    (lambda o: schedules.StepLR(o, 2, gamma=float("nan")), ValueError, "gamma"),
    (lambda o: schedules.ExponentialLR(o, "0.9"), TypeError, "gamma"),
    (lambda o: schedules.CosineAnnealingLR(o, True), TypeError, "T_max"),
    (lambda o: schedules.warmup(o, 5, after=5), TypeError, "after"),
    (lambda o: schedules.warmup(o, 0), ValueError, "steps"),
    (lambda o: schedules.warmup(o, 3, kind="cubic"), ValueError, "kind"),
    (lambda o: schedules.LinearLR(o, start_factor=0.0), ValueError, "start_factor"),
    (lambda o: schedules.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor"),
    (lambda o: schedules.OneCycleLR(o, 1.0, total_steps=-3), ValueError, "total_steps"),
]


@pytest.mark.parametrize("i", range(len(SCHED_HYPER)))
def test_schedule_bad_hyperparameters_write_nothing(i):
    make, exc, match = SCHED_HYPER[i]
    o = optim.SGD([np.ones(2)], lr=0.1, momentum=0.9)
    before = [dict((k, v) for k, v in g.items() if k != "params") for g in o.param_groups]
    with pytest.raises(exc, match=match):
        make(o)
    assert [dict((k, v) for k, v in g.items() if k != "params")
            for g in o.param_groups] == before


# ---- garbage in any argument: TypeError/ValueError naming an argument, nothing else ---

GARBAGE = [None, "x", [], {}, -1, 2 ** 70, -2 ** 70, float("nan"), float("inf"),
           np.zeros(3, np.float16), np.array([object()]), np.zeros(()),
           [[1.0, 2.0], [3.0]], (1, 2), np.zeros((0, 3)), True, 1e308]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # e.g. T**2 overflowing to inf
@pytest.mark.parametrize("name", list(CASES))
def test_garbage_arguments(name):
    case = CASES[name]
    keys = sorted(set(case.build()) | {h[0] for h in case.hyper})
    for key in keys:
        for value in GARBAGE:
            kw = case.build()
            kw[key] = value
            snap = _snapshot({k: v for k, v in kw.items() if k != key})
            try:
                case.fn(**kw)
            except (TypeError, ValueError) as e:
                assert any(k in str(e) for k in kw), (key, value, str(e))
                _unchanged(snap)
