"""A generic bad-input sweep over every public callable.

Every public function, class and method of gradkit's public modules is found by
introspection and must have an entry in VALID (a valid example call) or in NO_ARRAYS
(why it takes no arrays).  For each array argument of each valid call (an array inside
a list, tuple or dict counts: the first one is replaced), the sweep substitutes generic
bad arrays -- int64, float16 (valid only as the x of a norm: 16-bit storage), complex,
object, byte-swapped ('>f4'/'<f8' swapped: same values, non-native byte order) and 0-d
-- and requires TypeError or ValueError whose message names the argument, with every
array argument, out= and the object's state left exactly as they were.  An argument the
call writes (in place or out=) is also passed read-only.

A variant that an argument legitimately takes (int labels, a 0-d counter, estimators
that convert any numeric input) is listed in the entry's ``ok``.
"""
import fnmatch
import inspect
import types

import numpy as np
import pytest

import gradkit
from gradkit import (amp, clip, diagnostics, dropout, gradcheck, init, linear, losses, nn,
                     norm, optim, quant, random, regularization, schedules)
from gradkit import preprocessing
from gradkit.optim import functional

from _harness import digest

MODULES = [norm, random, dropout, init, functional, optim, clip, amp, schedules,
           regularization, losses, gradcheck, preprocessing, quant, linear, diagnostics, nn,
           gradkit]

_DTYPE_VARIANTS = ("int64", "float16", "complex", "object", "byteswapped")
VARIANTS = _DTYPE_VARIANTS + ("0-d",)


# ---- enumeration -----------------------------------------------------------------------

def _public_names(mod):
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in dir(mod) if not n.startswith("_")]
    return names


def _methods(cls):
    """Public methods defined by gradkit (not by object, tuple or scikit-learn)."""
    out = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        for base in cls.__mro__:
            if name in vars(base):
                attr = vars(base)[name]
                break
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if not inspect.isfunction(attr):
            continue
        if not (getattr(attr, "__module__", "") or "").startswith("gradkit"):
            continue
        out.append(name)
    return out


def public_callables():
    """{key: object}: every public function and class (first public module that
    exports it) and every public method of those classes ('module.Class.method')."""
    seen, out = set(), {}
    for mod in MODULES:
        for name in _public_names(mod):
            obj = getattr(mod, name)
            if isinstance(obj, types.ModuleType) or not callable(obj) or id(obj) in seen:
                continue
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue
            seen.add(id(obj))
            key = f"{mod.__name__}.{name}"
            out[key] = obj
            if inspect.isclass(obj):
                for m in _methods(obj):
                    out[f"{key}.{m}"] = getattr(obj, m)
    return out


# ---- the table of valid calls ------------------------------------------------------------

F = np.float32


def arr(*shape, seed=0, dtype=F, offset=0.0):
    return (offset + np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


class V:
    """A valid call: ``fn(*args, **kw)``; ``watch`` are zero-argument callables whose
    results must not change when the call is rejected; ``ok`` maps an argument name to
    the variants it accepts."""

    def __init__(self, fn, *args, watch=(), ok=None, **kw):
        self.fn, self.args, self.kw = fn, list(args), kw
        self.watch, self.ok = list(watch), ok or {}

    def arguments(self):
        """(label, container, key) for each argument holding an array."""
        out = []
        for i, a in enumerate(self.args):
            if _first_array(a) is not None:
                out.append((_arg_name(self.fn, i), self.args, i))
        for k, a in self.kw.items():
            if _first_array(a) is not None:
                out.append((k, self.kw, k))
        return out


def _arg_name(fn, i):
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return params[i].name
    except (TypeError, ValueError, IndexError):
        return f"arg{i}"


def _first_array(v):
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, (list, tuple)):
        for x in v:
            if _first_array(x) is not None:
                return _first_array(x)
    if isinstance(v, dict):
        for x in v.values():
            if _first_array(x) is not None:
                return _first_array(x)
    return None


def _replace_first(v, make):
    """v with its first array replaced by make(that array)."""
    if isinstance(v, np.ndarray):
        return make(v)
    if isinstance(v, (list, tuple)):
        items = list(v)
        for i, x in enumerate(items):
            if _first_array(x) is not None:
                items[i] = _replace_first(x, make)
                break
        return type(v)(*items) if hasattr(v, "_fields") else type(v)(items)
    if isinstance(v, dict):
        d = dict(v)
        for k, x in d.items():
            if _first_array(x) is not None:
                d[k] = _replace_first(x, make)
                break
        return d
    raise AssertionError(v)


def bad(a, variant):
    """The bad version of array a, or None when the variant does not apply to it."""
    if variant == "int64":
        return None if a.dtype == np.int64 else (a * 3).astype(np.int64)
    if variant == "float16":
        return a.astype(np.float16)
    if variant == "complex":
        return a.astype(np.complex128)
    if variant == "object":
        return a.astype(object)
    if variant == "byteswapped":
        if a.dtype.itemsize == 1 or a.dtype.kind not in "fiu":
            return None
        return a.astype(a.dtype.newbyteorder("S"))
    if variant == "0-d":
        return None if a.ndim == 0 else np.asarray(a.reshape(-1)[0] if a.size else 0,
                                                    a.dtype)
    if variant == "read-only":   # generated only for arrays the call writes
        r = a.copy()
        r.flags.writeable = False
        return r
    raise AssertionError(variant)


def SCALAR_OK(name):
    """A 0-d array is a valid value of `name` (a scalar parameter, gradient, point)."""
    return {name: {"0-d"}}


def _gen(seed=3):
    return random.Generator(seed)


# 16-bit x with float32 weights is the norms' documented mix (docs/precision.md); with a
# float32 out= it is then out= that is refused (tests/test_norm_half.py); so for dropout's
# x and dy, the logits of the losses, quantize's x and the gradients of clipping and
# regularization (a list may mix 16-bit and float32 arrays)
HALF_X = {"x": {"float16"}}
HALF_DY = {"dy": {"float16"}}
HALF_GRADS = {"grads": {"0-d", "float16"}}
HALF_PARAMS = {"params": {"0-d", "float16"}}   # the penalties: any float array
HALF_Z = {"logits": {"float16"}}


def _norm_calls():
    x, dy, w, b = arr(6, 7), arr(6, 7, seed=1), arr(7, seed=2), arr(7, seed=3)
    _, ls = norm.layer_norm(x)
    _, rs = norm.rms_norm(x)
    xb, dyb = arr(6, 3, 4, offset=2.0), arr(6, 3, 4, seed=5)
    wb, bb = arr(3, seed=6), arr(3, seed=7)
    _, bs = norm.batch_norm(xb)
    parts = arr(3, 3, seed=8) ** 2
    fl = norm.add_dropout_layer_norm(x, dy, w, b, p=0.3, rng=5)
    fr = norm.add_dropout_rms_norm(x, dy, w, p=0.3, rng=5)

    def fused_fwd(fn, *params):
        def make():
            g = _gen()
            return V(fn, x.copy(), dy.copy(), *(a.copy() for a in params), p=0.3, rng=g,
                     watch=[g.get_state])
        return make

    return {
        "gradkit.norm.layer_norm": lambda: V(norm.layer_norm, x.copy(), w.copy(), b.copy(),
                                             out=np.zeros_like(x), ok=HALF_X),
        "gradkit.norm.layer_norm_backward": lambda: V(norm.layer_norm_backward, dy.copy(),
                                                      x.copy(), ls, w.copy(),
                                                      out=np.zeros_like(x)),
        "gradkit.norm.rms_norm": lambda: V(norm.rms_norm, x.copy(), w.copy(),
                                           out=np.zeros_like(x), ok=HALF_X),
        "gradkit.norm.rms_norm_backward": lambda: V(norm.rms_norm_backward, dy.copy(),
                                                    x.copy(), rs, w.copy(),
                                                    out=np.zeros_like(x)),
        "gradkit.norm.batch_norm": lambda: V(
            norm.batch_norm, xb.copy(), wb.copy(), bb.copy(), np.zeros(3, F), np.ones(3, F),
            num_batches_tracked=np.zeros((), np.int64), out=np.zeros_like(xb),
            ok={"num_batches_tracked": {"int64"}, **HALF_X}),
        "gradkit.norm.batch_norm_backward": lambda: V(norm.batch_norm_backward, dyb.copy(),
                                                      xb.copy(), bs, wb.copy(),
                                                      out=np.zeros_like(xb)),
        "gradkit.norm.batch_norm_stats": lambda: V(norm.batch_norm_stats, xb.copy(),
                                                   ok=HALF_X),
        "gradkit.norm.batch_norm_merge_stats": lambda: V(
            norm.batch_norm_merge_stats, np.array([24, 0, 5]), parts.copy(), parts.copy()),
        "gradkit.norm.batch_norm_gather_stats": lambda: V(
            norm.batch_norm_gather_stats, np.array([24, 0, 5]), parts.copy(), parts.copy(),
            np.zeros(3, F), np.ones(3, F), num_batches_tracked=np.zeros((), np.int64),
            ok={"num_batches_tracked": {"int64"}}),
        "gradkit.norm.batch_norm_elemt": lambda: V(
            norm.batch_norm_elemt, xb.copy(), wb.copy(), bb.copy(), bs.mean.copy(),
            bs.rstd.copy(), out=np.zeros_like(xb), ok=HALF_X),
        "gradkit.norm.batch_norm_backward_reduce": lambda: V(
            norm.batch_norm_backward_reduce, dyb.copy(), xb.copy(), bs.mean.copy(),
            bs.rstd.copy(), wb.copy()),
        "gradkit.norm.batch_norm_backward_elemt": lambda: V(
            norm.batch_norm_backward_elemt, dyb.copy(), xb.copy(), bs.mean.copy(),
            bs.rstd.copy(), wb.copy(), np.arange(3.0), np.arange(3.0), 30,
            out=np.zeros_like(xb)),
        # eval mode: local, no communicator needed; training runs the same checks
        # (_batch_norm_args) before its collective
        "gradkit.norm.sync_batch_norm": lambda: V(
            norm.sync_batch_norm, xb.copy(), wb.copy(), bb.copy(), np.zeros(3, F),
            np.ones(3, F), training=False, out=np.zeros_like(xb), ok=HALF_X),
        "gradkit.norm.add_dropout_layer_norm": fused_fwd(norm.add_dropout_layer_norm, w, b),
        "gradkit.norm.add_dropout_rms_norm": fused_fwd(norm.add_dropout_rms_norm, w),
        "gradkit.norm.add_dropout_layer_norm_backward": lambda: V(
            norm.add_dropout_layer_norm_backward, dy.copy(), fl[1].copy(), fl[3], fl[2],
            w.copy(), dresidual_out=dy.copy()),
        "gradkit.norm.add_dropout_rms_norm_backward": lambda: V(
            norm.add_dropout_rms_norm_backward, dy.copy(), fr[1].copy(), fr[3], fr[2],
            w.copy(), dresidual_out=dy.copy()),
    }


def _generator_calls():
    def draw(name, out_dtype=F, ok=(), **kw):
        def make():   # shape None: out's shape, so a 0-d out is a scalar draw
            g = _gen()
            return V(getattr(g, name), None, out=np.zeros((5, 7), out_dtype),
                     watch=[g.get_state], ok={"out": {"0-d", *ok}}, **kw)
        return make
    return {
        "gradkit.random.Generator.uniform": draw("uniform"),
        "gradkit.random.Generator.normal": draw("normal"),
        "gradkit.random.Generator.truncated_normal": draw("truncated_normal"),
        "gradkit.random.Generator.bits32": draw("bits32", np.uint32),
        "gradkit.random.Generator.integers": draw("integers", np.int64, low=0, high=9,
                                                  ok={"int64"}),
    }


def _dropout_calls():
    x = arr(6, 7)

    def fwd():
        g = _gen()
        return V(dropout.dropout, x.copy(), 0.3, rng=g, out=np.zeros_like(x),
                 watch=[g.get_state], ok={"x": {"0-d", "float16"}})

    def bwd():
        _, m = dropout.dropout(x, 0.3, rng=4)
        return V(dropout.dropout_backward, x.copy(), m, out=np.zeros_like(x),
                 ok=HALF_DY)

    def path():
        g = _gen()
        return V(dropout.drop_path, x.copy(), 0.3, rng=g, out=np.zeros_like(x),
                 watch=[g.get_state], ok=HALF_X)

    def path_bwd():
        return V(dropout.drop_path_backward, x.copy(), np.arange(6) % 2 == 0, 0.3,
                 out=np.zeros_like(x), ok=HALF_DY)

    def mask():
        return V(dropout.DropoutMask, (6, 7), 0.3, 1, 0, bits=np.zeros(6, np.uint8))

    return {"gradkit.dropout.dropout": fwd, "gradkit.dropout.dropout_backward": bwd,
            "gradkit.dropout.drop_path": path, "gradkit.dropout.drop_path_backward": path_bwd,
            "gradkit.dropout.DropoutMask": mask}


_INIT_ARGS = {"constant": (0.5,)}


def _init_calls():
    out = {}
    for name in init.__all__:
        if name in ("calculate_gain", "fans", "lora"):
            continue

        def make(name=name):
            g = _gen()
            return V(getattr(init, name), (5, 7), *_INIT_ARGS.get(name, ()), rng=g,
                     out=np.full((5, 7), 0.5, F), watch=[g.get_state],
                     ok={"out": {"float16"}})   # a 16-bit out: 16-bit storage
        out[f"gradkit.init.{name}"] = make

    def lora():
        g = _gen()
        return V(init.lora, 7, 5, 2, rng=g, out=(np.zeros((2, 7), F), np.zeros((5, 2), F)),
                 watch=[g.get_state])
    out["gradkit.init.lora"] = lora
    return out


_OPTIMIZERS = {"SGD": dict(lr=0.1, momentum=0.9), "Adam": dict(amsgrad=True),
               "AdamW": {}, "RMSprop": dict(centered=True, momentum=0.5),
               "Adagrad": {}, "LARS": dict(lr=0.1),
               "NAdam": dict(weight_decay=0.1), "RAdam": dict(decoupled_weight_decay=True),
               "Adamax": {}, "Adadelta": {}, "Lion": dict(lr=0.1), "LAMB": dict(lr=0.1),
               "Adafactor": dict(weight_decay=0.1)}


def _params():
    return [arr(5, 7, seed=10), arr(11, seed=11)]


def _optim_calls():
    out = {}
    for name, opts in _OPTIMIZERS.items():
        cls = getattr(optim, name)
        key = f"gradkit.optim.{name}"

        def stepped(cls=cls, opts=opts):
            params = _params()
            opt = cls(params, **opts)
            opt.step(_params())
            return opt, params

        # float16 parameters are valid where the optimizer has a 16-bit step
        half = {"float16"} if cls._half else set()

        def ctor(cls=cls, opts=opts, half=half):
            return V(cls, _params(), ok={"params": {"0-d"} | half}, **opts)

        def step(stepped=stepped):
            opt, params = stepped()
            return V(opt.step, _params(), watch=[lambda: params, opt.state_dict])

        def load(stepped=stepped):
            opt, params = stepped()
            return V(opt.load_state_dict, opt.state_dict(), watch=[lambda: params,
                                                                  opt.state_dict],
                     ok={"state_dict": {"int64", "float16", "object"}})

        def add_group(cls=cls, opts=opts, half=half):
            params = _params()
            opt = cls(params, **opts)
            return V(opt.add_param_group, {"params": [arr(3, seed=12)]},
                     watch=[lambda: params, opt.state_dict, lambda: len(opt.param_groups)],
                     ok={"param_group": {"0-d"} | half})

        out.update({key: ctor, f"{key}.step": step, f"{key}.load_state_dict": load,
                    f"{key}.add_param_group": add_group})
    return out


def _functional_calls():
    p, g = arr(5, 7, seed=20), arr(5, 7, seed=21)
    z = np.zeros_like(p)
    return {
        "gradkit.optim.functional.sgd_": lambda: V(functional.sgd_, p.copy(), g.copy(),
                                                   z + 0.1, lr=0.1, momentum=0.9),
        "gradkit.optim.functional.adam_": lambda: V(
            functional.adam_, p.copy(), g.copy(), z + 0.1, z + 0.2, 2, amsgrad=True,
            max_exp_avg_sq=z + 0.3),
        "gradkit.optim.functional.rmsprop_": lambda: V(
            functional.rmsprop_, p.copy(), g.copy(), z + 0.1, grad_avg=z + 0.01,
            momentum_buffer=z + 0.2, centered=True, momentum=0.5),
        "gradkit.optim.functional.adagrad_": lambda: V(functional.adagrad_, p.copy(),
                                                       g.copy(), z + 0.1, 2),
        "gradkit.optim.functional.lars_": lambda: V(functional.lars_, p.copy(), g.copy(),
                                                    z + 0.1, lr=0.1),
        "gradkit.optim.functional.nadam_": lambda: V(
            functional.nadam_, p.copy(), g.copy(), z + 0.1, z + 0.2,
            np.full((), 0.5, np.float32), 2),
        "gradkit.optim.functional.radam_": lambda: V(functional.radam_, p.copy(), g.copy(),
                                                     z + 0.1, z + 0.2, 7),
        "gradkit.optim.functional.adamax_": lambda: V(functional.adamax_, p.copy(),
                                                      g.copy(), z + 0.1, z + 0.2, 2),
        "gradkit.optim.functional.adadelta_": lambda: V(functional.adadelta_, p.copy(),
                                                        g.copy(), z + 0.1, z + 0.2),
        "gradkit.optim.functional.lion_": lambda: V(functional.lion_, p.copy(), g.copy(),
                                                    z + 0.1, lr=0.1),
        "gradkit.optim.functional.lamb_": lambda: V(functional.lamb_, p.copy(), g.copy(),
                                                    z + 0.1, z + 0.2, 2, lr=0.1),
        "gradkit.optim.functional.adafactor_": lambda: V(
            functional.adafactor_, p.copy(), g.copy(), z[:, :1] + 0.1, z[:1] + 0.2, None, 2),
    }


def _clip_amp_reg_calls():
    def scaler(method, args, **kw):
        def make():
            s = amp.LossScaler(init_scale=8.0)
            return V(getattr(s, method), *args(), watch=[s.state_dict], **kw)
        return make

    def scaler_step():
        s = amp.LossScaler(init_scale=8.0)
        params = _params()
        opt = optim.SGD(params, lr=0.1)
        return V(s.step, opt, _params(), watch=[s.state_dict, lambda: params,
                                                opt.state_dict])

    def noise():
        g = _gen()
        return V(regularization.add_grad_noise_, _params(), 3, rng=g, watch=[g.get_state],
                 ok=HALF_GRADS)

    return {
        "gradkit.clip.global_norm": lambda: V(clip.global_norm, _params(), ok=HALF_GRADS),
        "gradkit.clip.clip_grad_norm_": lambda: V(clip.clip_grad_norm_, _params(), 0.1,
                                                  ok=HALF_GRADS),
        "gradkit.clip.clip_grad_value_": lambda: V(clip.clip_grad_value_, _params(), 0.1,
                                                   ok=HALF_GRADS),
        "gradkit.amp.LossScaler.scale": scaler("scale", lambda: [arr(3)], ok={
            "loss": {"float16", "0-d"}}),   # loss * scale in its dtype
        "gradkit.amp.LossScaler.unscale_": scaler("unscale_", lambda: [_params()],
                                                  ok=SCALAR_OK("grads")),
        "gradkit.amp.LossScaler.step": scaler_step,
        "gradkit.regularization.l2_penalty": lambda: V(regularization.l2_penalty,
                                                       _params(), 0.1, ok=HALF_PARAMS),
        "gradkit.regularization.l1_penalty": lambda: V(regularization.l1_penalty,
                                                       _params(), 0.1, ok=HALF_PARAMS),
        "gradkit.regularization.add_l2_grad_": lambda: V(regularization.add_l2_grad_,
                                                         _params(), _params(), 0.1),
        "gradkit.regularization.add_l1_grad_": lambda: V(regularization.add_l1_grad_,
                                                         _params(), _params(), 0.1),
        "gradkit.regularization.add_grad_noise_": noise,
    }


_INT_LABELS = {"labels": {"int64"}}  # any integer array, converted


def _loss_calls():
    z, t = arr(6, 5, seed=30), arr(6, 5, seed=31)
    y = np.arange(6) % 5
    probs = np.full((6, 5), 0.2, F)
    return {
        "gradkit.losses.softmax_cross_entropy": lambda: V(
            losses.softmax_cross_entropy, z.copy(), y.copy(), ok={**_INT_LABELS, **HALF_Z}),
        "gradkit.losses.softmax_cross_entropy[probs]": lambda: V(
            losses.softmax_cross_entropy, z.copy(), probs.copy()),
        "gradkit.losses.kl_div": lambda: V(losses.kl_div, z.copy(), t.copy()),
        "gradkit.losses.distillation_loss": lambda: V(
            losses.distillation_loss, z.copy(), t.copy(), y.copy(), ok=_INT_LABELS),
        "gradkit.losses.mse": lambda: V(losses.mse, z.copy(), t.copy()),
        "gradkit.losses.softmax_cross_entropy[weight]": lambda: V(
            losses.softmax_cross_entropy, z.copy(), y.copy(), ok={**_INT_LABELS, **HALF_Z},
            weight=np.linspace(0.5, 2.0, 5).astype(F)),
        "gradkit.losses.kl_div_log_probs": lambda: V(
            losses.kl_div_log_probs, z.copy(), np.abs(t)),
    }


def _sum_sin(v):
    return float(np.sum(np.sin(v)))


def _gradcheck_calls():
    x = arr(4, 3, seed=40, dtype=np.float64)
    return {
        "gradkit.gradcheck.numerical_grad": lambda: V(gradcheck.numerical_grad, _sum_sin,
                                                      x.copy(), ok=SCALAR_OK("x")),
        "gradkit.gradcheck.check_grad": lambda: V(gradcheck.check_grad, _sum_sin, x.copy(),
                                                  np.cos(x), ok=SCALAR_OK("x")),
    }


# any numeric input becomes float64, as in scikit-learn
_CONVERTS = {"X": {"int64", "float16", "object"}}


def _preprocessing_calls():
    X = arr(20, 4, seed=50, dtype=np.float64)
    out = {}
    for name, kw in (("Standardizer", {}), ("PCA", {}), ("Whitener", {}),
                     ("IncrementalPCA", {})):
        cls = getattr(preprocessing, name)
        key = f"gradkit.preprocessing.{name}"
        for method in ("fit", "partial_fit", "fit_transform", "transform",
                       "inverse_transform", "score_samples", "score"):
            if not hasattr(cls, method):
                continue

            def make(cls=cls, method=method):
                est = cls()
                if method in ("transform", "inverse_transform", "score_samples", "score"):
                    est.fit(X)
                fitted = lambda: {k: v for k, v in vars(est).items()}
                return V(getattr(est, method), X.copy(), watch=[fitted], ok=_CONVERTS)
            out[f"{key}.{method}"] = make
    return out


def _stats_calls():
    X = arr(20, 4, seed=51, dtype=np.float64)
    out = {}
    for name in ("Moments", "Scatter"):
        cls = getattr(preprocessing, name)
        out[f"gradkit.preprocessing.{name}.from_array"] = \
            lambda cls=cls: V(cls.from_array, X.copy(), ok=_CONVERTS)
    return out


def _quant_calls():
    x = arr(6, 5, seed=60)
    q, s, zp = quant.quantize(x, axis=0)
    return {
        "gradkit.quant.quantize": lambda: V(quant.quantize, x.copy(), axis=0, ok=HALF_X),
        "gradkit.quant.dequantize": lambda: V(   # scale is "used as float32"
            quant.dequantize, q.copy(), s.copy(), zp.copy(), axis=0,
            ok={"scale": {"float16"}, "zero_point": {"int64"}}),
        "gradkit.quant.qparams": lambda: V(   # observed minima/maxima, any real numbers
            quant.qparams, x.min(axis=1), x.max(axis=1),
            ok={n: {"int64", "float16", "object", "0-d"}
                for n in ("min_val", "max_val")}),
        **_lowbit_calls(),
    }


def _lowbit_calls():
    # float inputs are read as any float array would be: a byte-swapped one is converted
    w, xc = arr(8, 64, seed=61), arr(20, 64, seed=62)
    h, _ = quant.hessian(xc)
    qw = quant.quantize_weight(w, bits=4, group_size=32)
    lin = nn.Linear(64, 8, rng=0)
    layer = nn.QuantLinear.from_linear(lin, qw)
    swapped = {"byteswapped"}

    def acc():
        a = quant.Hessian(64).add(xc)
        return V(a.add, xc.copy(), watch=[lambda: (a.h.copy(), a.n)], ok={"x": swapped})
    return {
        "gradkit.quant.hessian": lambda: V(quant.hessian, xc.copy(), h.copy(), 20,
                                           ok={"x": swapped, "h": swapped}),
        "gradkit.quant.Hessian.add": acc,
        "gradkit.quant.quantize_weight": lambda: V(quant.quantize_weight, w.copy(),
                                                   ok={"w": swapped}),
        "gradkit.quant.gptq": lambda: V(quant.gptq, w.copy(), h.copy(),
                                        ok={"w": swapped, "h": swapped}),
        "gradkit.quant.QuantizedWeight": lambda: V(
            quant.QuantizedWeight, qw.packed.copy(), qw.scales.copy(), qw.zeros.copy(),
            qw.g_idx.copy(), bits=4, group_size=32, shape=(8, 64)),
        "gradkit.quant.qlinear": lambda: V(quant.qlinear, xc.copy(), qw,
                                           np.zeros(8, np.float32),
                                           ok={"x": swapped | {"float16"},   # 16-bit x
                                               "bias": swapped}),
        "gradkit.nn.QuantLinear.forward": lambda: V(layer.forward, xc.copy(),
                                                    ok={"x": swapped | {"float16"}}),
    }


def _linear_calls():
    # any layout and byte order is read (a byte-swapped array is converted once)
    x, w, b, dy = arr(6, 5, seed=70), arr(4, 5, seed=71), arr(4, seed=72), arr(6, 4, seed=73)
    swapped = {"byteswapped"}
    return {
        "gradkit.linear.matmul": lambda: V(linear.matmul, x.copy(), w.T.copy(),
                                           out=np.zeros((6, 4), F),
                                           ok={"a": swapped, "b": swapped}),
        "gradkit.linear.linear": lambda: V(linear.linear, x.copy(), w.copy(), b.copy(),
                                           out=np.zeros((6, 4), F),
                                           ok={n: swapped for n in ("x", "weight", "bias")}),
        "gradkit.linear.linear_backward": lambda: V(
            linear.linear_backward, dy.copy(), x.copy(), w.copy(),
            ok={n: swapped for n in ("dy", "x", "weight")}),
    }


def _diagnostics_calls():
    return {
        "gradkit.diagnostics.activation_stats": lambda: V(diagnostics.activation_stats,
                                                          np.tanh(arr(6, 5)),
                                                          ok=SCALAR_OK("a")),
        "gradkit.diagnostics.update_ratio": lambda: V(diagnostics.update_ratio, _params(),
                                                      _params()),
    }


_ELEMENTWISE = ("ReLU", "Tanh", "GELU", "Dropout")   # forward takes any shape, 0-d too


def _layers():
    return {"Linear": lambda: nn.Linear(7, 4, rng=1), "ReLU": nn.ReLU, "Tanh": nn.Tanh,
            "GELU": nn.GELU, "LayerNorm": lambda: nn.LayerNorm(7),
            "RMSNorm": lambda: nn.RMSNorm(7), "BatchNorm": lambda: nn.BatchNorm(7),
            "Dropout": lambda: nn.Dropout(0.3, rng=1),
            "Sequential": lambda: nn.Sequential(nn.Linear(7, 7, rng=1), nn.ReLU()),
            "Residual": lambda: nn.Residual(nn.Linear(7, 7, rng=1), "pre", features=7)}


def _layer_state(layer):
    return [layer.params, layer.grads,
            {k: v for k, v in vars(layer).items() if isinstance(v, np.ndarray)}]


def _nn_calls():
    out = {}
    x, dy = arr(6, 7, seed=70), arr(6, 7, seed=71)
    for name, make_layer in _layers().items():
        def fwd(make_layer=make_layer, name=name):
            layer = make_layer()
            # a layer without parameters takes any shape (0-d too) and 16-bit storage
            return V(layer.forward, x.copy(), watch=[lambda: _layer_state(layer)],
                     ok={"x": {"0-d", "float16"}} if name in _ELEMENTWISE else None)

        def bwd(make_layer=make_layer):
            layer = make_layer()
            y = layer.forward(x.copy())
            return V(layer.backward, np.ones_like(y) * dy[:, :1],
                     watch=[lambda: _layer_state(layer)])
        out[f"gradkit.nn.{name}.forward"] = fwd
        out[f"gradkit.nn.{name}.backward"] = bwd
    return out


VALID = {}
for _part in (_norm_calls, _generator_calls, _dropout_calls, _init_calls, _optim_calls,
              _functional_calls, _clip_amp_reg_calls, _loss_calls, _gradcheck_calls,
              _preprocessing_calls, _stats_calls, _quant_calls, _linear_calls,
              _diagnostics_calls, _nn_calls):
    VALID.update(_part())


_NO_ARRAYS_REASONS = {
    "numbers, strings or shapes only": [
        "gradkit.get_include", "gradkit.show_config", "gradkit.get_num_threads",
        "gradkit.set_num_threads", "gradkit.num_threads", "gradkit.set_cache_limit",
        "gradkit.cache_info", "gradkit.set_stream_threshold",
        "gradkit.bfloat16",             # ml_dtypes' scalar type, re-exported
        "gradkit.norm.NormStats",       # a NamedTuple record, checked where it is used
        "gradkit.norm.BatchNormStats",  # likewise
        "gradkit.random.Generator", "gradkit.random.Generator.spawn",
        "gradkit.random.Generator.get_state", "gradkit.random.Generator.set_state",
        "gradkit.random.as_generator", "gradkit.random.default_generator",
        "gradkit.random.seed", "gradkit.dropout.DropoutMask.from_state",
        "gradkit.dropout.DropoutMask.to_bool", "gradkit.init.calculate_gain",
        "gradkit.init.fans", "gradkit.amp.LossScaler", "gradkit.amp.LossScaler.update",
        "gradkit.amp.LossScaler.get_scale", "gradkit.amp.LossScaler.is_enabled",
        "gradkit.amp.LossScaler.state_dict", "gradkit.amp.LossScaler.load_state_dict",
        "gradkit.gradcheck.GradCheckResult",  # a result record built by check_grad
        "gradkit.quant.Hessian", "gradkit.quant.QuantizedWeight.dequantize",
        "gradkit.quant.QuantizedWeight.unpack", "gradkit.quant.QuantizedWeight.save",
        "gradkit.quant.QuantizedWeight.load",     # a file, checked by np.load
        "gradkit.nn.QuantLinear.from_linear",     # a layer and a QuantizedWeight
        "gradkit.nn.QuantLinear.backward",        # inference only: always RuntimeError
    ],
    "a collective (MPI): swept under mpiexec in tests/test_sync_batch_norm.py": [
        "gradkit.norm.sync_batch_norm_backward",
    ],
    "statistics objects, checked by type and width (test_preprocessing_stats.py)": [
        "gradkit.preprocessing.Moments.merge", "gradkit.preprocessing.Moments.var",
        "gradkit.preprocessing.Scatter.merge", "gradkit.preprocessing.Scatter.moments",
        "gradkit.preprocessing.Standardizer.fit_stats", "gradkit.preprocessing.PCA.fit_stats",
        "gradkit.preprocessing.Whitener.fit_stats",
        "gradkit.preprocessing.IncrementalPCA.fit_stats",
    ],
    "abstract base: swept through every subclass": [
        "gradkit.optim.Optimizer", "gradkit.optim.Optimizer.step",
        "gradkit.optim.Optimizer.state_dict", "gradkit.optim.Optimizer.load_state_dict",
        "gradkit.optim.Optimizer.add_param_group", "gradkit.nn.Module",
        "gradkit.nn.Module.forward", "gradkit.nn.Module.backward",
    ],
}
NO_ARRAYS = {k: reason for reason, keys in _NO_ARRAYS_REASONS.items() for k in keys}


def _no_arrays_family(key, obj):
    """Whole groups with no array arguments: constructors of estimators and layers (they
    take options), optimizers' state_dict, schedules (they take an optimizer and
    numbers), estimators' feature names."""
    parts = key.split(".")
    if key.startswith("gradkit.schedules."):
        return True
    if key.startswith(("gradkit.preprocessing.", "gradkit.nn.")) and inspect.isclass(obj):
        return True      # constructors: options only
    if key.startswith("gradkit.nn.") and parts[-1] == "to":
        return True      # Module.to(dtype): a dtype only (test_nn checks a bad one)
    if parts[-1] in ("state_dict", "get_feature_names_out", "get_params", "set_params",
                     "get_covariance", "get_precision"):
        return True
    return False


# ---- the tests -------------------------------------------------------------------------

# Cases failing today: case-id patterns (fnmatch) and why.  xfail is strict: a fixed
# case must leave this table.
KNOWN_FAILURES: dict = {}


def _known_failure(cid):
    return next((r for p, r in KNOWN_FAILURES.items() if fnmatch.fnmatchcase(cid, p)), None)


def _snap(obj):
    """The values in obj: arrays (in native byte order) and plain values; objects among
    the arguments are covered by the entry's watch list."""
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return [repr(x) for x in obj.ravel()]
        return obj.astype(obj.dtype.newbyteorder("="))
    if isinstance(obj, (list, tuple)):
        return [_snap(x) for x in obj]
    if isinstance(obj, dict):
        return {repr(k): _snap(x) for k, x in obj.items()}
    if isinstance(obj, (bool, int, float, str, np.generic)) or obj is None:
        return obj
    return type(obj).__name__


def _state(v, result=None):
    return digest(_snap([v.args, v.kw, [w() for w in v.watch], result]))


def test_every_public_callable_has_an_entry():
    missing = [k for k, obj in public_callables().items()
               if k not in VALID and k not in NO_ARRAYS and not _no_arrays_family(k, obj)]
    assert not missing, f"no valid example call in VALID (or NO_ARRAYS entry) for {missing}"


def test_valid_calls_are_valid():
    """The examples themselves must run: a sweep around a failing call proves nothing."""
    for key, make in VALID.items():
        v = make()
        v.fn(*v.args, **v.kw)


def _written(make):
    """Labels of the arguments whose first array the valid call writes (in place or
    out=): a read-only one must be refused."""
    v = make()
    before = [(label, _first_array(c[s]), _first_array(c[s]).tobytes())
              for label, c, s in v.arguments()]
    v.fn(*v.args, **v.kw)
    return {label for label, a, b in before if a.tobytes() != b}


def _cases():
    for key, make in VALID.items():
        v = make()
        written = _written(make)
        for label, container, slot in v.arguments():
            for variant in VARIANTS + (("read-only",) if label in written else ()):
                if variant in v.ok.get(label, ()) or \
                        bad(_first_array(container[slot]), variant) is None:
                    continue
                cid = f"{key}-{label}-{variant}"
                reason = _known_failure(cid)
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(key, label, variant, id=cid, marks=marks)


def _path(v):
    """Keys leading to the first array in v (a message may name the entry of a dict,
    e.g. state_dict['state'][0]['exp_avg'] or param_group['params'])."""
    if isinstance(v, dict):
        for k, x in v.items():
            if _first_array(x) is not None:
                return [str(k)] + _path(x)
    if isinstance(v, (list, tuple)):
        for x in v:
            if _first_array(x) is not None:
                return _path(x)
    return []


def _call_bad(v, label, variant):
    """Replace argument `label` by its bad variant.  Returns the names a message may
    use for it, or None when the variant does not apply (int64 of an int64 array)."""
    for lab, container, slot in v.arguments():
        if lab != label:
            continue
        a = _first_array(container[slot])
        b = bad(a, variant)
        if b is None:
            return None
        names = [label] + _path(container[slot])
        container[slot] = _replace_first(container[slot], lambda _: b)
        return names
    raise AssertionError(label)


@pytest.mark.parametrize("key,label,variant", _cases())
def test_bad_array_is_rejected_before_anything_is_written(key, label, variant):
    v = VALID[key]()
    names = _call_bad(v, label, variant)
    before = _state(v)
    try:
        result = v.fn(*v.args, **v.kw)
    except (TypeError, ValueError) as e:
        assert any(n in str(e) for n in names), f"the message does not name {label!r}: {e}"
        assert _state(v) == before, "an argument, out= or the object's state was written"
        return
    # A byte-swapped array may be taken by value (read-only inputs are converted): then
    # everything must come out as from the native call.
    assert variant == "byteswapped", f"{label} of {variant} was accepted"
    ref = VALID[key]()
    expected = ref.fn(*ref.args, **ref.kw)
    assert _state(v, result) == _state(ref, expected), (
        f"byte-swapped {label} was accepted, with results other than the native call's")

