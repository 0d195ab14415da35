"""gradkit's kernels registered as PyTorch custom operators (``torch.library``), with
fake implementations (so ``torch.compile`` traces them) and autograd formulas.

Every operator runs on CPU tensors of float32 or float64 and is zero-copy: a tensor's
memory is handed to the kernel as a NumPy view (``Tensor.numpy()``), and the kernel's
output array becomes the result tensor (``torch.from_numpy``); nothing is copied in or
out.  The wrappers in :mod:`gradkit.torch.functional` send every other tensor to
PyTorch's own operator.  The backward of each operator is another operator (so the
graph ``torch.compile`` captures holds gradkit's kernels in both directions).
"""
from __future__ import annotations

import warnings
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from .. import dropout as _dropout
from .. import linear as _linear
from .. import losses as _losses
from .. import norm as _norm

_LIB = "gradkit"


def _np(t: Optional[Tensor]) -> Any:
    """A NumPy view of a CPU tensor (no copy); None stays None."""
    return None if t is None else t.detach().numpy()


def _t(a: Any) -> Tensor:
    """A tensor over a kernel's output array (no copy)."""
    return torch.from_numpy(a)


def _none_if_empty(t: Tensor) -> Optional[Tensor]:
    """The operators return a 0-size tensor where a gradient does not exist (custom
    operators cannot return None); autograd wants None there."""
    return None if t.dim() == 1 and t.shape[0] == 0 else t


def _like(x: Tensor) -> Tensor:
    """A fake output of x's shape: the kernels write C-contiguous arrays."""
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _or_empty(a: Optional[np.ndarray], like: Tensor) -> Tensor:
    return _t(a) if a is not None else like.new_empty(0)


def _bits(mask: Any) -> Tensor:
    """A dropout mask's bits as a uint8 tensor over the same memory (no copy).  The mask
    is the operator's own and dropped after this, so its array may be made writable
    again (torch wants writable memory); memory whose writability NumPy cannot restore
    (a block of gradkit's output cache) is shared as it is, torch's warning about it
    silenced: nothing writes to a mask's bits."""
    bits = mask.bits
    try:
        bits.flags.writeable = True
    except ValueError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(bits)
    return _t(bits)


def _mask(shape: Any, p: float, bits: Tensor) -> Any:
    """The DropoutMask of an operator's saved bits, over their memory (the public
    constructor copies the bits; dropout_backward checks them anyway)."""
    return _dropout.DropoutMask._trusted(tuple(shape), p, 0, 0, _np(bits))


def _custom_op(name: str, impl: Any) -> Any:
    """``impl`` registered as the CPU operator ``torch.ops.gradkit.<name>``."""
    return torch.library.custom_op(f"{_LIB}::{name}", impl, mutates_args=(),
                                   device_types="cpu")


def _call(op: Any, impl: Any, *args: Any) -> Any:
    """Run a (backward) operator: through the dispatcher while ``torch.compile``
    traces (its graph must hold the operator), else its implementation directly (the
    dispatcher's Python layer costs tens of microseconds a call)."""
    return op(*args) if torch.compiler.is_compiling() else impl(*args)


def _eager(impl: Any, setup: Any, grad: Any) -> Any:
    """The operator as a ``torch.autograd.Function`` for eager mode: the same
    implementation, context setup and gradient formula as the registered operator, at
    a fraction of the custom operator's per-call cost.  (The classic ``forward(ctx,
    ...)`` form: a Function with a separate ``setup_context`` costs about 3x more per
    call.)"""
    ndiff = _DIFFERENTIABLE.get(impl, 1)  # only the first outputs carry gradients

    def forward(ctx, *args):
        output = impl(*args)
        setup(ctx, args, output)
        if isinstance(output, tuple):
            ctx.mark_non_differentiable(*output[ndiff:])  # the stats and masks
        # no zeros made for the gradients that do not exist (those of the stats and
        # masks, which the gradient functions ignore; an undefined gradient of every
        # differentiable output gives undefined input gradients, as zeros would)
        ctx.set_materialize_grads(False)
        ctx.ninputs = len(args)
        return output

    def backward(ctx, *grads):
        if all(g is None for g in grads[:ndiff]):
            return (None,) * ctx.ninputs
        return grad(ctx, *grads)

    fn: Any = type(impl.__name__.strip("_").replace("_impl", "") + "_function",
                   (torch.autograd.Function,),
                   {"forward": staticmethod(forward), "backward": staticmethod(backward)})
    return fn.apply


_DIFFERENTIABLE: dict[Any, int] = {}  # impl -> how many leading outputs carry gradients
_RUN: dict[str, tuple[Any, Any]] = {}  # name -> (custom operator, eager Function.apply)


def run(name: str, *args: Any) -> Any:
    """Forward operator ``name`` with autograd: the registered custom operator while
    ``torch.compile`` traces, the equivalent ``autograd.Function`` otherwise."""
    custom, eager = _RUN[name]
    return (custom if torch.compiler.is_compiling() else eager)(*args)


# ---- layer_norm --------------------------------------------------------------------------
def _layer_norm_impl(x: Tensor, weight: Optional[Tensor], bias: Optional[Tensor],
                     eps: float, normalized_ndim: int) -> tuple[Tensor, Tensor, Tensor]:
    y, (mean, rstd) = _norm.layer_norm(_np(x), _np(weight), _np(bias), eps,
                                       normalized_ndim=normalized_ndim)
    return _t(y), _t(mean), _t(rstd)


layer_norm = _custom_op("layer_norm", _layer_norm_impl)


@layer_norm.register_fake
def _(x, weight, bias, eps, normalized_ndim):
    lead = x.shape[:x.dim() - normalized_ndim]
    return _like(x), \
        x.new_empty(lead), x.new_empty(lead)


def _mean_rstd_backward(kernel: Any) -> Any:
    """The backward implementation of a norm whose statistics are (mean, rstd):
    layer_norm's and batch_norm's (the same arguments and outputs)."""
    def impl(dy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, weight: Optional[Tensor],
             has_bias: bool) -> tuple[Tensor, Tensor, Tensor]:
        dx, dw, db = kernel(_np(dy), _np(x), _norm.NormStats(_np(mean), _np(rstd)),
                            _np(weight), bias=has_bias)
        return _t(dx), _or_empty(dw, x), _or_empty(db, x)
    return impl


_layer_norm_backward_impl = _mean_rstd_backward(_norm.layer_norm_backward)


layer_norm_backward = _custom_op("layer_norm_backward", _layer_norm_backward_impl)


@layer_norm_backward.register_fake
def _(dy, x, mean, rstd, weight, has_bias):
    inner = x.shape[mean.dim():]
    return (_like(x),
            x.new_empty(inner) if weight is not None else x.new_empty(0),
            x.new_empty(inner) if has_bias else x.new_empty(0))


def _layer_norm_setup(ctx, inputs, output):
    x, weight, bias, _, _ = inputs
    _, mean, rstd = output
    ctx.save_for_backward(x, mean, rstd, weight)
    ctx.has_bias = bias is not None


def _layer_norm_grad(ctx, dy, _dmean, _drstd):
    x, mean, rstd, weight = ctx.saved_tensors
    dx, dw, db = _call(layer_norm_backward, _layer_norm_backward_impl, dy, x, mean, rstd,
                       weight, ctx.has_bias)
    return dx, _none_if_empty(dw), _none_if_empty(db), None, None


layer_norm.register_autograd(_layer_norm_grad, setup_context=_layer_norm_setup)
_RUN["layer_norm"] = layer_norm, _eager(_layer_norm_impl, _layer_norm_setup,
                                       _layer_norm_grad)


# ---- rms_norm ----------------------------------------------------------------------------
def _rms_norm_impl(x: Tensor, weight: Optional[Tensor], eps: Optional[float],
                   normalized_ndim: int) -> tuple[Tensor, Tensor]:
    y, (_, rstd) = _norm.rms_norm(_np(x), _np(weight), eps, normalized_ndim=normalized_ndim)
    return _t(y), _t(rstd)


rms_norm = _custom_op("rms_norm", _rms_norm_impl)


@rms_norm.register_fake
def _(x, weight, eps, normalized_ndim):
    return (_like(x),
            x.new_empty(x.shape[:x.dim() - normalized_ndim]))


def _rms_norm_backward_impl(dy: Tensor, x: Tensor, rstd: Tensor,
                            weight: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    dx, dw = _norm.rms_norm_backward(_np(dy), _np(x), _norm.NormStats(None, _np(rstd)),
                                     _np(weight))
    return _t(dx), _or_empty(dw, x)


rms_norm_backward = _custom_op("rms_norm_backward", _rms_norm_backward_impl)


@rms_norm_backward.register_fake
def _(dy, x, rstd, weight):
    return (_like(x),
            x.new_empty(x.shape[rstd.dim():]) if weight is not None else x.new_empty(0))


def _rms_norm_setup(ctx, inputs, output):
    x, weight, _, _ = inputs
    ctx.save_for_backward(x, output[1], weight)


def _rms_norm_grad(ctx, dy, _drstd):
    x, rstd, weight = ctx.saved_tensors
    dx, dw = _call(rms_norm_backward, _rms_norm_backward_impl, dy, x, rstd, weight)
    return dx, _none_if_empty(dw), None, None


rms_norm.register_autograd(_rms_norm_grad, setup_context=_rms_norm_setup)
_RUN["rms_norm"] = rms_norm, _eager(_rms_norm_impl, _rms_norm_setup, _rms_norm_grad)


# ---- batch_norm --------------------------------------------------------------------------
def _batch_norm_impl(x: Tensor, weight: Optional[Tensor], bias: Optional[Tensor],
                     running_mean: Optional[Tensor], running_var: Optional[Tensor],
                     training: bool, momentum: float, eps: float
                     ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Functional (autograd needs that): in training the updated running statistics
    are returned (the kernel updates copies of them in the same pass), and
    :func:`gradkit.torch.functional.batch_norm` copies them back; 0-size otherwise."""
    update = training and running_mean is not None and running_var is not None
    rm = _np(running_mean).copy() if update else _np(running_mean)
    rv = _np(running_var).copy() if update else _np(running_var)
    y, (mean, rstd) = _norm.batch_norm(_np(x), _np(weight), _np(bias), rm, rv,
                                       training=training, momentum=momentum, eps=eps)
    if not update:
        return _t(y), _t(mean), _t(rstd), x.new_empty(0), x.new_empty(0)
    return _t(y), _t(mean), _t(rstd), _t(rm), _t(rv)


batch_norm = _custom_op("batch_norm", _batch_norm_impl)


@batch_norm.register_fake
def _(x, weight, bias, running_mean, running_var, training, momentum, eps):
    c = x.shape[1]
    k = c if training and running_mean is not None and running_var is not None else 0
    return (_like(x), x.new_empty(c),
            x.new_empty(c), x.new_empty(k), x.new_empty(k))


_batch_norm_backward_impl = _mean_rstd_backward(_norm.batch_norm_backward)


batch_norm_backward = _custom_op("batch_norm_backward", _batch_norm_backward_impl)


@batch_norm_backward.register_fake
def _(dy, x, mean, rstd, weight, has_bias):
    c = x.shape[1]
    return (_like(x),
            x.new_empty(c) if weight is not None else x.new_empty(0),
            x.new_empty(c) if has_bias else x.new_empty(0))


def _batch_norm_setup(ctx, inputs, output):
    x, weight, bias, _, _, training, _, _ = inputs
    _, mean, rstd, _, _ = output
    ctx.save_for_backward(x, mean, rstd, weight)
    ctx.has_bias, ctx.training = bias is not None, training


def _batch_norm_grad(ctx, dy, _dmean, _drstd, _drm, _drv):
    x, mean, rstd, weight = ctx.saved_tensors
    if ctx.training:
        dx, dw, db = _call(batch_norm_backward, _batch_norm_backward_impl, dy, x, mean,
                           rstd, weight, ctx.has_bias)
        dw, db = _none_if_empty(dw), _none_if_empty(db)
    else:  # constant statistics: an affine map per channel
        shape = (1, -1) + (1,) * (x.dim() - 2)
        scale = rstd if weight is None else rstd * weight
        dx = dy * scale.reshape(shape)
        axes = [0] + list(range(2, x.dim()))
        dw = None if weight is None else (
            dy * (x - mean.reshape(shape)) * rstd.reshape(shape)).sum(axes)
        db = dy.sum(axes) if ctx.has_bias else None
    return dx, dw, db, None, None, None, None, None


batch_norm.register_autograd(_batch_norm_grad, setup_context=_batch_norm_setup)
_RUN["batch_norm"] = batch_norm, _eager(_batch_norm_impl, _batch_norm_setup,
                                       _batch_norm_grad)


# ---- dropout -----------------------------------------------------------------------------
def _dropout_impl(x: Tensor, p: float, seed: Tensor) -> tuple[Tensor, Tensor]:
    # seed: a 0-d int64 tensor (a tensor, so that torch.compile does not specialize on it)
    y, mask = _dropout.dropout(_np(x), p, rng=int(seed.item()), store_mask=True)
    assert mask is not None  # training=True always has a mask
    return _t(y), _bits(mask)


dropout = _custom_op("dropout", _dropout_impl)


@dropout.register_fake
def _(x, p, seed):
    return (_like(x),
            x.new_empty((x.numel() + 7) // 8, dtype=torch.uint8))


def _dropout_backward_impl(dy: Tensor, bits: Tensor, p: float) -> Tensor:
    return _t(_dropout.dropout_backward(_np(dy), _mask(dy.shape, p, bits)))


dropout_backward = _custom_op("dropout_backward", _dropout_backward_impl)


@dropout_backward.register_fake
def _(dy, bits, p):
    return _like(dy)


def _dropout_setup(ctx, inputs, output):
    ctx.p = inputs[1]
    ctx.save_for_backward(output[1])


def _dropout_grad(ctx, dy, _dbits):
    (bits,) = ctx.saved_tensors
    return _call(dropout_backward, _dropout_backward_impl, dy, bits, ctx.p), None, None


dropout.register_autograd(_dropout_grad, setup_context=_dropout_setup)
_RUN["dropout"] = dropout, _eager(_dropout_impl, _dropout_setup, _dropout_grad)


# ---- softmax cross-entropy ---------------------------------------------------------------
_REDUCTIONS = ("none", "mean", "sum")


def _cross_entropy_impl(logits: Tensor, target: Tensor, weight: Optional[Tensor],
                        label_smoothing: float, reduction: int,
                        ignore_index: int) -> tuple[Tensor, Tensor]:
    """The loss and its gradient in one pass: the backward only scales the gradient."""
    loss, dlogits = _losses.softmax_cross_entropy(
        _np(logits), _np(target), label_smoothing=label_smoothing,
        reduction=_REDUCTIONS[reduction], ignore_index=ignore_index, weight=_np(weight))
    return _loss_tensor(loss, logits), _t(dlogits)


def _loss_tensor(loss: Any, like: Tensor) -> Tensor:
    """A loss as a tensor of the input's dtype: the array of reduction='none', or the
    float64 sum of the others rounded once."""
    if isinstance(loss, np.ndarray):
        return _t(loss)
    return torch.tensor(loss, dtype=like.dtype)


cross_entropy = _custom_op("cross_entropy", _cross_entropy_impl)


@cross_entropy.register_fake
def _(logits, target, weight, label_smoothing, reduction, ignore_index):
    if _REDUCTIONS[reduction] != "none":
        shape: tuple[int, ...] = ()
    elif logits.dim() == 1:
        shape = ()
    else:
        shape = (logits.shape[0],) + tuple(logits.shape[2:])
    return (logits.new_empty(shape),
            _like(logits))


def _cross_entropy_setup(ctx, inputs, output):
    ctx.save_for_backward(output[1])
    ctx.none = _REDUCTIONS[inputs[4]] == "none"
    ctx.rows_dim = inputs[0].dim()


def _cross_entropy_grad(ctx, dloss, _ddlogits):
    (dlogits,) = ctx.saved_tensors
    if ctx.none and ctx.rows_dim > 1:  # a gradient per row (position); classes on axis 1
        dloss = dloss.unsqueeze(1)
    return dlogits * dloss, None, None, None, None, None


cross_entropy.register_autograd(_cross_entropy_grad, setup_context=_cross_entropy_setup)
_RUN["cross_entropy"] = cross_entropy, _eager(_cross_entropy_impl, _cross_entropy_setup,
                                             _cross_entropy_grad)


# ---- fused residual add + dropout + LayerNorm/RMSNorm ------------------------------------
def _add_dropout_norm_impl(x: Tensor, residual: Tensor, weight: Optional[Tensor],
                           bias: Optional[Tensor], p: float, eps: Optional[float],
                           seed: Tensor, normalized_ndim: int, layer: bool
                           ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(y, residual_out, mean, rstd, mask bits); mean and bits 0-size where there are
    none (RMSNorm; p = 0)."""
    common: dict[str, Any] = dict(training=p > 0.0, rng=int(seed.item()),
                                  normalized_ndim=normalized_ndim)
    if layer:
        y, s, mask, (mean, rstd) = _norm.add_dropout_layer_norm(
            _np(x), _np(residual), _np(weight), _np(bias), p, 1e-5 if eps is None else eps,
            **common)
    else:
        y, s, mask, (mean, rstd) = _norm.add_dropout_rms_norm(
            _np(x), _np(residual), _np(weight), p, eps, **common)
    bits = (_bits(mask) if mask is not None
            else x.new_empty(0, dtype=torch.uint8))
    return _t(y), _t(s), _or_empty(mean, x), _t(rstd), bits


add_dropout_norm = _custom_op("add_dropout_norm", _add_dropout_norm_impl)
_DIFFERENTIABLE[_add_dropout_norm_impl] = 2  # y and the residual stream


@add_dropout_norm.register_fake
def _(x, residual, weight, bias, p, eps, seed, normalized_ndim, layer):
    lead = x.shape[:x.dim() - normalized_ndim]
    nbits = (x.numel() + 7) // 8 if p > 0.0 else 0
    return (_like(x), _like(x), x.new_empty(lead) if layer else x.new_empty(0),
            x.new_empty(lead), x.new_empty(nbits, dtype=torch.uint8))


def _add_dropout_norm_backward_impl(dy: Tensor, dresidual_out: Tensor,
                                    residual_out: Tensor, mean: Tensor, rstd: Tensor,
                                    bits: Tensor, weight: Optional[Tensor], has_bias: bool,
                                    p: float, layer: bool
                                    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    s = _np(residual_out)
    mask = _mask(s.shape, p, bits) if bits.numel() else None
    if layer:
        dx, dres, dw, db = _norm.add_dropout_layer_norm_backward(
            _np(dy), s, _norm.NormStats(_np(mean), _np(rstd)), mask, _np(weight),
            bias=has_bias, dresidual_out=_np(dresidual_out))
    else:
        dx, dres, dw = _norm.add_dropout_rms_norm_backward(
            _np(dy), s, _norm.NormStats(None, _np(rstd)), mask, _np(weight),
            dresidual_out=_np(dresidual_out))
        db = None
    return _t(dx), _t(dres), _or_empty(dw, residual_out), _or_empty(db, residual_out)


add_dropout_norm_backward = _custom_op("add_dropout_norm_backward",
                                       _add_dropout_norm_backward_impl)


@add_dropout_norm_backward.register_fake
def _(dy, dresidual_out, residual_out, mean, rstd, bits, weight, has_bias, p, layer):
    inner = residual_out.shape[rstd.dim():]
    return (_like(residual_out), _like(residual_out),
            residual_out.new_empty(inner) if weight is not None
            else residual_out.new_empty(0),
            residual_out.new_empty(inner) if layer and has_bias
            else residual_out.new_empty(0))


def _add_dropout_norm_setup(ctx, inputs, output):
    _, _, weight, bias, p, _, _, _, layer = inputs
    _, s, mean, rstd, bits = output
    ctx.save_for_backward(s, mean, rstd, bits, weight)
    ctx.p, ctx.layer, ctx.has_bias = p, layer, bias is not None


def _add_dropout_norm_grad(ctx, dy, dres_out, _dmean, _drstd, _dbits):
    s, mean, rstd, bits, weight = ctx.saved_tensors
    if dy is None:
        dy = torch.zeros_like(s)
    if dres_out is None:
        dres_out = torch.zeros_like(s)
    dx, dres, dw, db = _call(add_dropout_norm_backward, _add_dropout_norm_backward_impl,
                             dy, dres_out, s, mean, rstd, bits, weight, ctx.has_bias, ctx.p,
                             ctx.layer)
    return (dx, dres, _none_if_empty(dw), _none_if_empty(db), None, None, None, None,
            None)


add_dropout_norm.register_autograd(_add_dropout_norm_grad,
                                   setup_context=_add_dropout_norm_setup)
_RUN["add_dropout_norm"] = add_dropout_norm, _eager(_add_dropout_norm_impl,
                                                   _add_dropout_norm_setup,
                                                   _add_dropout_norm_grad)


# ---- KL divergence of log-probabilities (F.kl_div) ---------------------------------------
_KL_REDUCTIONS = ("none", "mean", "sum", "batchmean")


def _kl_div_impl(input: Tensor, target: Tensor, reduction: int,
                 log_target: bool) -> tuple[Tensor, Tensor]:
    """The loss and its gradient with respect to the input in one pass."""
    loss, dinput = _losses.kl_div_log_probs(_np(input), _np(target),
                                            reduction=_KL_REDUCTIONS[reduction],
                                            log_target=log_target)
    return _loss_tensor(loss, input), _t(dinput)


kl_div = _custom_op("kl_div", _kl_div_impl)


@kl_div.register_fake
def _(input, target, reduction, log_target):
    shape = input.shape if _KL_REDUCTIONS[reduction] == "none" else ()
    return (input.new_empty(shape),
            _like(input))


def _kl_div_setup(ctx, inputs, output):
    ctx.save_for_backward(output[1])


def _kl_div_grad(ctx, dloss, _ddinput):
    (dinput,) = ctx.saved_tensors
    return dinput * dloss, None, None, None


kl_div.register_autograd(_kl_div_grad, setup_context=_kl_div_setup)
_RUN["kl_div"] = kl_div, _eager(_kl_div_impl, _kl_div_setup, _kl_div_grad)


# ---- linear (F.linear) -------------------------------------------------------------------
def _linear_impl(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    """y = x W^T + b; a transposed weight is read in place (no copy)."""
    return _t(_linear.linear(_np(x), _np(weight), _np(bias)))


linear = _custom_op("linear", _linear_impl)


@linear.register_fake
def _(x, weight, bias):
    return x.new_empty(x.shape[:-1] + (weight.shape[0],))


def _linear_backward_impl(dy: Tensor, x: Tensor, weight: Tensor, input_grad: bool,
                          weight_grad: bool, bias_grad: bool
                          ) -> tuple[Tensor, Tensor, Tensor]:
    dx, dw, db = _linear.linear_backward(_np(dy), _np(x), _np(weight),
                                         input_grad=input_grad, weight_grad=weight_grad,
                                         bias_grad=bias_grad)
    return _or_empty(dx, x), _or_empty(dw, x), _or_empty(db, x)


linear_backward = _custom_op("linear_backward", _linear_backward_impl)


@linear_backward.register_fake
def _(dy, x, weight, input_grad, weight_grad, bias_grad):
    return (_like(x) if input_grad else x.new_empty(0),
            _like(weight) if weight_grad else x.new_empty(0),
            x.new_empty(weight.shape[0]) if bias_grad else x.new_empty(0))


def _linear_setup(ctx, inputs, output):
    x, weight, bias = inputs
    ctx.save_for_backward(x, weight)
    ctx.has_bias = bias is not None


def _linear_grad(ctx, dy):
    x, weight = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    need_b = bool(need_b) and ctx.has_bias
    dx, dw, db = _call(linear_backward, _linear_backward_impl, dy, x, weight, bool(need_x),
                       bool(need_w), need_b)
    return (dx if need_x else None, dw if need_w else None, db if need_b else None)


linear.register_autograd(_linear_grad, setup_context=_linear_setup)
_RUN["linear"] = linear, _eager(_linear_impl, _linear_setup, _linear_grad)
