"""``torch.nn.functional``'s signatures over gradkit's kernels.

Each function takes exactly the arguments of its namesake in ``torch.nn.functional``
and gives its result (to round-off; dropout draws its mask from gradkit's Philox stream,
seeded from PyTorch's default generator, so ``torch.manual_seed`` makes it
reproducible, but the mask differs from PyTorch's).  gradkit's kernel runs on CPU
tensors of float32 or float64; every other case goes to PyTorch's own function
unchanged: tensors on another device, other dtypes, and the arguments a kernel does not
take (listed per function).  Autograd, ``torch.compile`` and ``torch.autograd.gradcheck``
work through the custom operators of :mod:`gradkit.torch._ops`.
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from . import _ops

__all__ = ["linear", "layer_norm", "rms_norm", "batch_norm", "dropout", "cross_entropy",
           "kl_div", "add_dropout_layer_norm", "add_dropout_rms_norm"]

_FLOATS = (torch.float32, torch.float64)


def _ours(x: Tensor, *others: Optional[Tensor]) -> bool:
    """Whether gradkit's kernel takes these tensors: CPU, float32/float64, one dtype."""
    if x.device.type != "cpu" or x.dtype not in _FLOATS or x.is_complex():
        return False
    return all(t is None or (t.device.type == "cpu" and t.dtype == x.dtype)
               for t in others)


def _shape(normalized_shape: Union[int, Sequence[int]]) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(normalized_shape)


def _trailing(x: Tensor, shape: tuple[int, ...]) -> bool:
    """Whether x's trailing axes are ``shape`` (else torch's function raises its error)."""
    return x.dim() >= len(shape) and tuple(x.shape[x.dim() - len(shape):]) == shape


def linear(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    r"""``F.linear``: :math:`y = x W^\top + b` by :func:`gradkit.linear.linear`
    (gradkit's own products on the AVX2 and AVX-512 tables; a transposed weight is
    read without a copy).  The bias gradient is summed in float64."""
    if (not _ours(input, weight, bias) or input.dim() < 1 or weight.dim() != 2
            or input.shape[-1] != weight.shape[1]
            or (bias is not None and tuple(bias.shape) != (weight.shape[0],))):
        return F.linear(input, weight, bias)
    return _ops.run("linear", input, weight, bias)


def layer_norm(input: Tensor, normalized_shape: Union[int, Sequence[int]],
               weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
               eps: float = 1e-5) -> Tensor:
    r"""``F.layer_norm``: :math:`y = (x - \mathrm{E}[x]) / \sqrt{\mathrm{Var}[x] + \epsilon}
    \cdot w + b` over the trailing ``normalized_shape`` axes (biased variance)."""
    shape = _shape(normalized_shape)
    if not _ours(input, weight, bias) or not _trailing(input, shape):
        return F.layer_norm(input, shape, weight, bias, eps)
    return _ops.run("layer_norm", input, weight, bias, float(eps), len(shape))[0]


def rms_norm(input: Tensor, normalized_shape: Union[int, Sequence[int]],
             weight: Optional[Tensor] = None, eps: Optional[float] = None) -> Tensor:
    r"""``F.rms_norm``: :math:`y = x / \sqrt{\mathrm{mean}(x^2) + \epsilon} \cdot w`;
    ``eps=None`` is ``torch.finfo(input.dtype).eps``."""
    shape = _shape(normalized_shape)
    if not _ours(input, weight) or not _trailing(input, shape):
        return F.rms_norm(input, shape, weight, eps)
    return _ops.run("rms_norm", input, weight, None if eps is None else float(eps),
                    len(shape))[0]


def batch_norm(input: Tensor, running_mean: Optional[Tensor], running_var: Optional[Tensor],
               weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    r"""``F.batch_norm`` over axis 1 of (N, C, \*spatial): batch statistics in training
    (running statistics, if given, updated in place with the unbiased variance),
    running statistics otherwise.  Running statistics that are not contiguous go to
    PyTorch (they are updated in place through a view)."""
    stats = (running_mean, running_var)
    if (not _ours(input, weight, bias, *stats) or input.dim() < 2
            or any(s is not None and not s.is_contiguous() for s in stats)):
        return F.batch_norm(input, running_mean, running_var, weight, bias, training,
                            momentum, eps)
    y, _, _, new_mean, new_var = _ops.run("batch_norm", input, weight, bias, running_mean,
                                                 running_var, bool(training),
                                                 float(momentum), float(eps))
    if running_mean is not None and running_var is not None and new_mean.numel():
        with torch.no_grad():
            running_mean.copy_(new_mean)
            running_var.copy_(new_var)
    return y


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    r"""``F.dropout`` (inverted: kept elements scaled by :math:`1/(1-p)`).

    The mask comes from gradkit's Philox stream keyed by a 62-bit seed drawn from
    PyTorch's default generator at each call; it is kept bit-packed (1 bit per element)
    for the backward.  ``inplace=True`` goes to PyTorch's function."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if inplace or not _ours(input):
        return F.dropout(input, p, training, inplace)
    return _ops.run("dropout", input, float(p), _seed())[0]


_REDUCTION = {"none": 0, "mean": 1, "sum": 2}


def cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                  size_average: Optional[bool] = None, ignore_index: int = -100,
                  reduce: Optional[bool] = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    r"""``F.cross_entropy`` with label smoothing: the loss and its gradient in one pass
    over the logits (the backward only scales the stored gradient).

    Class indices (any integer dtype) or class probabilities as targets, per-class
    ``weight`` (torch's semantics with label smoothing and ``ignore_index``).  The
    deprecated ``size_average``/``reduce`` go to PyTorch's function."""
    if (size_average is not None or reduce is not None
            or reduction not in _REDUCTION or not _ours(input, weight)
            or target.device.type != "cpu" or target.requires_grad
            or (target.is_floating_point() and target.dtype != input.dtype)):
        return F.cross_entropy(input, target, weight, size_average, ignore_index, reduce,
                               reduction, label_smoothing)
    return _ops.run("cross_entropy", input, target, weight, float(label_smoothing),
                    _REDUCTION[reduction], int(ignore_index))[0]


_KL_REDUCTION = {"none": 0, "mean": 1, "sum": 2, "batchmean": 3}
_KL_MEAN_WARNING = (  # F.kl_div's own words
    "reduction: 'mean' divides the total loss by both the batch size and the support "
    "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
    "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
    "major release.")


def kl_div(input: Tensor, target: Tensor, size_average: Optional[bool] = None,
           reduce: Optional[bool] = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    r"""``F.kl_div``: input as log-probabilities, used pointwise,
    :math:`\ell = \mathrm{xlogy}(t, t) - t\,x` (or :math:`e^t (t - x)` with
    ``log_target``), reductions 'none', 'sum', 'mean' (over elements) and 'batchmean'
    (over the first axis); the gradient is computed in the same pass.  The deprecated
    ``size_average``/``reduce`` go to PyTorch's function (so does its warning about
    'mean')."""
    if (size_average is not None or reduce is not None or reduction not in _KL_REDUCTION
            or not _ours(input, target) or target.shape != input.shape
            or target.requires_grad):  # no gradient for the target here: torch's
        return F.kl_div(input, target, size_average, reduce, reduction, log_target)
    if reduction == "mean":
        warnings.warn(_KL_MEAN_WARNING, stacklevel=2)
    return _ops.run("kl_div", input, target, _KL_REDUCTION[reduction],
                    bool(log_target))[0]


def _seed() -> Tensor:
    """A dropout key from PyTorch's default generator (so torch.manual_seed governs it),
    as a 0-d tensor: torch.compile does not specialize on its value."""
    return torch.randint(0, 1 << 62, (), dtype=torch.int64)


def _add_dropout_norm(x, residual, shape, weight, bias, p, eps, training, layer):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    shape = _shape(shape)
    fits = _ours(x, residual, weight, bias) and x.shape == residual.shape and \
        _trailing(x, shape)
    if not fits:  # PyTorch's functions, unfused
        s = residual + F.dropout(x, p, training)
        y = (F.layer_norm(s, shape, weight, bias, 1e-5 if eps is None else eps) if layer
             else F.rms_norm(s, shape, weight, eps))
        return y, s
    p = float(p) if training else 0.0
    out = _ops.run("add_dropout_norm", x, residual, weight, bias, p,
                                None if eps is None else float(eps), _seed(), len(shape),
                                layer)
    return out[0], out[1]


def add_dropout_layer_norm(x: Tensor, residual: Tensor,
                           normalized_shape: Union[int, Sequence[int]],
                           weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
                           p: float = 0.0, eps: float = 1e-5,
                           training: bool = True) -> tuple[Tensor, Tensor]:
    r"""Residual add, dropout and LayerNorm in one pass over memory
    (:func:`gradkit.norm.add_dropout_layer_norm`), forward and backward:

    .. math:: s = \text{residual} + \operatorname{dropout}_p(x),\qquad
              y = \operatorname{layer\_norm}(s)\cdot w + b

    Returns ``(y, s)``: the normalized input of the next branch and the new residual
    stream; gradients flow through both.  The same as
    ``s = residual + F.dropout(x, p, training)``, ``y = F.layer_norm(s, ...)`` (which is
    what runs for tensors gradkit's kernel does not take), with the dropout mask drawn
    as in :func:`dropout`."""
    return _add_dropout_norm(x, residual, normalized_shape, weight, bias, p, eps, training,
                             True)


def add_dropout_rms_norm(x: Tensor, residual: Tensor,
                         normalized_shape: Union[int, Sequence[int]],
                         weight: Optional[Tensor] = None, p: float = 0.0,
                         eps: Optional[float] = None,
                         training: bool = True) -> tuple[Tensor, Tensor]:
    r"""Residual add, dropout and RMSNorm in one pass: :func:`add_dropout_layer_norm`
    with ``F.rms_norm`` (``eps=None`` is ``torch.finfo(x.dtype).eps``).  Returns
    ``(y, s)``."""
    return _add_dropout_norm(x, residual, normalized_shape, weight, None, p, eps, training,
                             False)
