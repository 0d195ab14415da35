"""Small layers built on gradkit's kernels, for from-scratch experiments.

Every layer has ``forward(x, training=True)``, ``backward(dy)`` (returns dx and writes
the parameter gradients), and the lists ``params`` and ``grads`` (aligned, the arrays
themselves), which plug straight into :mod:`gradkit.optim`::

    model = nn.Sequential(nn.Linear(64, 128), nn.LayerNorm(128), nn.ReLU(),
                          nn.Dropout(0.1), nn.Linear(128, 10))
    opt = optim.AdamW(model.params)
    logits = model.forward(x)
    loss, dlogits = losses.softmax_cross_entropy(logits, y)
    model.backward(dlogits)
    opt.step(model.grads)

``backward`` overwrites the gradients (it does not accumulate as PyTorch's ``.grad``
does), so no ``zero_grad`` is needed.  Layers keep what their backward needs from the
last ``forward``.

16-bit storage: ``dtype=np.float16`` or ``gradkit.bfloat16`` on a layer (or
``Sequential(..., dtype=...)``, or ``module.to(dtype)``) stores its parameters,
activations and gradients in 16 bits; every layer computes in float32 and rounds each
result once (docs/precision.md).  Layers without parameters take the dtype of their
input.
"""
from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

import numpy as np

from . import _mpi
from . import _precision
from . import _validation as _v
from . import dropout as _dropout
from . import init as _init
from . import linear as _linear
from . import norm as _norm
from . import random as _random

if TYPE_CHECKING:
    from ._typing import DTypeLike, FloatArray, NDArray, RNG
    from .random import Generator

__all__ = ["Module", "Linear", "QuantLinear", "ReLU", "Tanh", "GELU", "LayerNorm", "RMSNorm", "BatchNorm",
           "Dropout", "Residual", "Sequential"]


class Module:
    """Base class: no parameters; subclasses set ``params`` and ``grads``.

    Inputs are checked as the kernels check them: a float32/float64 array (TypeError
    otherwise: an int array is not silently upcast), of the layer's dtype when it has
    parameters; ``backward`` before ``forward`` raises RuntimeError."""

    params: list[FloatArray]
    grads: list[FloatArray]

    def __init__(self) -> None:
        self.params: list[FloatArray] = []
        self.grads: list[FloatArray] = []

    def _input(self, x: Any, dtype: Any = None, name: str = "x") -> FloatArray:
        """x as a float array (of `dtype` when given; 16-bit for a 16-bit layer, or for
        a layer without parameters)."""
        x = _v.float_array(x, name, half=dtype is None or _v.is_half(dtype))
        if dtype is not None and x.dtype != dtype:
            raise TypeError(f"{name} has dtype {x.dtype} but {type(self).__name__} holds "
                            f"{np.dtype(dtype)} parameters; gradkit does not mix float "
                            "dtypes in a layer (cast x, or the model with .to(dtype))")
        return x

    def to(self, dtype: DTypeLike) -> "Module":
        """The parameters converted to `dtype` (float32, float64, float16 or bfloat16),
        each rounded once, with fresh zero gradients, as ``torch.nn.Module.to(dtype)``;
        returns the module.  ``params`` and ``grads`` then hold the new arrays: build
        the optimizer after converting."""
        dtype = _v.float_dtype(dtype, "dtype", half=True)
        for sub in self._children():
            sub.to(dtype)
        swap = self._convert(dtype)
        if self._children():
            self.params = [p for c in self._children() for p in c.params]
            self.grads = [g for c in self._children() for g in c.grads]
        else:
            self.params = [swap.get(id(p), p) for p in self.params]
            self.grads = [swap.get(id(g), g) for g in self.grads]
        return self

    def _children(self) -> list["Module"]:
        return []

    def _convert(self, dtype: Any) -> dict[int, Any]:
        """Own parameters (weight, bias) and their gradients in `dtype`; returns the
        new array of each old one, by id."""
        swap: dict[int, Any] = {}
        for name, grad in (("weight", "dweight"), ("bias", "dbias")):
            a, g = getattr(self, name, None), getattr(self, grad, None)
            if isinstance(a, np.ndarray) and isinstance(g, np.ndarray):
                swap[id(a)] = new = a.astype(dtype)
                swap[id(g)] = new_g = np.zeros(a.shape, dtype)
                setattr(self, name, new)
                setattr(self, grad, new_g)
        if hasattr(self, "dtype"):
            self.dtype = dtype
        return swap

    def _features_last(self: Any, x: Any) -> FloatArray:  # self: LayerNorm or RMSNorm
        """x for a norm over its last axis of `self.features` (LayerNorm, RMSNorm)."""
        x = self._input(x, self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.features:
            raise ValueError(f"x must have {self.features} features in its last axis, "
                             f"got shape {x.shape}")
        return x

    def _saved(self, attr: str) -> Any:
        """What forward kept for backward, or RuntimeError."""
        v = getattr(self, attr, None)
        if v is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return v

    def _grad_input(self, dy: Any, x: FloatArray, shape: Any = None) -> FloatArray:
        """dy checked against the forward's input x: dtype, and `shape` (x's)."""
        dy = self._input(dy, x.dtype, "dy")
        want = x.shape if shape is None else shape
        if dy.shape != want:
            raise ValueError(f"dy must have shape {want} (the forward's output), got "
                             f"{dy.shape}")
        return dy

    def forward(self, x: FloatArray, training: bool = True) -> FloatArray:
        raise NotImplementedError

    def backward(self, dy: FloatArray) -> FloatArray:
        raise NotImplementedError

    def __call__(self, x: FloatArray, training: bool = True) -> FloatArray:
        return self.forward(x, training)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Linear(Module):
    r"""``y = x W^T + b`` with W of shape (out_features, in_features), as nn.Linear.

    Initialized as nn.Linear.reset_parameters: W by ``kaiming_uniform(a=sqrt(5))``
    (uniform on :math:`\pm 1/\sqrt{\text{fan\_in}}`), b uniform on the same bound; or
    ``init='kaiming'`` for He initialization for ReLU networks (``kaiming_normal``,
    fan_in, relu gain) with zero bias.
    """

    in_features: int
    out_features: int
    weight: FloatArray
    bias: Optional[FloatArray]
    dweight: FloatArray
    dbias: FloatArray  # with bias only
    _x: Optional[FloatArray]

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 init: str = "default", rng: RNG = None,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        in_features = _v.positive_int(in_features, "in_features", minimum=0)
        out_features = _v.positive_int(out_features, "out_features", minimum=0)
        bias = _v.flag(bias, "bias")
        init = _v.choice(init, "init", ("default", "kaiming"))
        dtype = _v.float_dtype(dtype, half=True)
        self.in_features, self.out_features = in_features, out_features
        rng = _random.as_generator(rng)
        shape = (out_features, in_features)
        if init == "default":
            self.weight = _init.kaiming_uniform(shape, a=math.sqrt(5), rng=rng, dtype=dtype)
            bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0
            self.bias = (_init.uniform((out_features,), -bound, bound, rng=rng, dtype=dtype)
                         if bias else None)
        elif init == "kaiming":
            self.weight = _init.kaiming_normal(shape, nonlinearity="relu", rng=rng, dtype=dtype)
            self.bias = np.zeros(out_features, dtype) if bias else None
        else:
            raise ValueError(f"init must be 'default' or 'kaiming', got {init!r}")
        self.dweight = np.zeros_like(self.weight)
        self.params, self.grads = [self.weight], [self.dweight]
        if bias:
            self.dbias = np.zeros_like(self.bias)
            self.params.append(self.bias)  # type: ignore[arg-type]  # bias is set
            self.grads.append(self.dbias)
        self._x = None

    def forward(self, x: FloatArray, training: bool = True) -> FloatArray:
        x = self._input(x, self.weight.dtype)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features in its last axis, "
                             f"got shape {x.shape}")
        self._x = x
        # gradkit.linear: 16-bit storage as float32 products rounded once
        return _linear.linear(x, self.weight, self.bias)

    def backward(self, dy: FloatArray) -> FloatArray:
        x = self._saved("_x")
        dy = self._grad_input(dy, x, x.shape[:-1] + (self.out_features,))
        dx, _, _ = _linear.linear_backward(
            dy, x, self.weight, bias_grad=self.bias is not None,
            out=(None, self.dweight, self.dbias if self.bias is not None else None))
        assert dx is not None  # input_grad=True
        return dx

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class QuantLinear(Module):
    r"""``y = x \hat W^T + b`` with a low-bit weight (:class:`gradkit.quant.QuantizedWeight`),
    dequantized on the fly by :func:`gradkit.quant.qlinear`: for inference (no
    parameters, no backward).  float32.

    Build it from a trained :class:`Linear` and its quantized weight::

        qw = quant.gptq(linear.weight, h, bits=4)
        layer = nn.QuantLinear.from_linear(linear, qw)
    """

    def __init__(self, qweight: Any, bias: Optional[Any] = None) -> None:
        super().__init__()
        from .quant import QuantizedWeight
        if not isinstance(qweight, QuantizedWeight):
            raise TypeError(f"qweight must be a QuantizedWeight, got {type(qweight).__name__}")
        self.qweight = qweight
        self.out_features, self.in_features = qweight.shape
        if bias is not None:
            bias = np.ascontiguousarray(_v.float_array(bias, "bias"), np.float32)
            if bias.shape != (self.out_features,):
                raise ValueError(f"bias must have shape ({self.out_features},), got "
                                 f"{bias.shape}")
        self.bias = bias

    @classmethod
    def from_linear(cls, linear: "Linear", qw: Any) -> "QuantLinear":
        """The inference layer of ``linear`` with its weight replaced by ``qw`` (which
        must have the weight's shape); the bias is kept (as float32)."""
        if not isinstance(linear, Linear):
            raise TypeError(f"linear must be an nn.Linear, got {type(linear).__name__}")
        if getattr(qw, "shape", None) != linear.weight.shape:
            raise ValueError(f"qw has shape {getattr(qw, 'shape', None)}, the layer's weight "
                             f"{linear.weight.shape}")
        return cls(qw, linear.bias)

    def forward(self, x: FloatArray, training: bool = True) -> FloatArray:
        from .quant import qlinear
        return qlinear(x, self.qweight, self.bias)

    def backward(self, dy: FloatArray) -> FloatArray:
        raise RuntimeError("QuantLinear is for inference: it has no backward")

    def __repr__(self) -> str:
        return (f"QuantLinear({self.in_features}, {self.out_features}, "
                f"bits={self.qweight.bits}, group_size={self.qweight.group_size}, "
                f"bias={self.bias is not None})")


def _half_flipped(x: FloatArray) -> tuple[np.ndarray, int]:
    """The bits of a 16-bit array with the sign bit flipped (uint16), and the bits of
    its +inf: positive values (+0 to +NaN) map above 0x8000, -0 to 0 and -inf to the
    bits of +inf, and a negative NaN lies between that and 0x8000 -- so the tests of
    ReLU are integer compares (NumPy's comparisons of bfloat16 and float16 go element by
    element)."""
    return x.view(np.uint16) ^ np.uint16(0x8000), (0x7C00 if x.dtype == _v.FLOAT16 else 0x7F80)


def _select(a: FloatArray, keep: np.ndarray) -> FloatArray:
    """a where keep, +0 elsewhere: a's bits times the bool (a select that keeps a NaN's
    payload and never makes one; np.where took 5x as long on 8192 elements)."""
    bits = a.view(f"u{a.dtype.itemsize}")
    return np.multiply(bits, keep, dtype=bits.dtype).view(a.dtype)


class ReLU(Module):
    """``max(x, 0)`` (``np.maximum(x, 0)``: a NaN stays NaN, -0 gives +0); its gradient
    is dy where x > 0 or x is NaN and 0 elsewhere (where ``x <= 0``: at 0 it is 0), as
    PyTorch's.  float16 and bfloat16 are selected by their bits: the same values."""

    def forward(self, x: FloatArray, training: bool = True) -> FloatArray:
        x = self._input(x)
        self._x = x
        if not _v.is_half(x.dtype):
            self._keep = None
            return np.maximum(x, 0, dtype=x.dtype)
        # x > 0 or NaN: above inf, and not +0 (0x8000, whose output is +0 either way);
        # kept for the backward (on small arrays each NumPy call is most of the cost)
        v, inf = _half_flipped(x)
        self._keep = (v > inf) & (v != 0x8000)
        return _select(x, self._keep)

    def backward(self, dy: FloatArray) -> FloatArray:
        x = self._saved("_x")
        dy = self._grad_input(dy, x)
        keep = self._keep
        return _select(dy, ~(x <= 0) if keep is None else keep)


class Tanh(Module):
    """``tanh(x)``; backward ``dy (1 - y^2)``."""

    def forward(self, x: FloatArray, training: bool = True) -> FloatArray:
        x = self._input(x)
        self._y = np.tanh(_precision.widened(x)).astype(x.dtype, copy=False)
        return self._y

    def backward(self, dy: FloatArray) -> FloatArray:
        y = self._saved("_y")
        dy = self._grad_input(dy, y)
        y = _precision.widened(y)
        return (_precision.widened(dy) * (1 - y * y)).astype(dy.dtype, copy=False)


class GELU(Module):
    r"""Gaussian error linear unit, exact as nn.GELU(): :math:`x \Phi(x)` with
    :math:`\Phi(x) = (1 + \operatorname{erf}(x/\sqrt2))/2`; ``approximate='tanh'`` gives
    :math:`x (1 + \tanh(\sqrt{2/\pi}(x + 0.044715 x^3)))/2` as nn.GELU('tanh')."""

    approximate: str

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        _v.choice(approximate, "approximate", ("none", "tanh"))
        self.approximate = approximate

    def forward(self, x: FloatArray, training: bool = True) -> FloatArray:
        x = self._input(x)
        self._dtype = x.dtype
        x = self._x = _precision.widened(x)  # 16-bit: float32 arithmetic, the result rounded once
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            self._t = np.tanh(k * (x + 0.044715 * x ** 3))
            return (0.5 * x * (1 + self._t)).astype(self._dtype, copy=False)
        from scipy.special import erf
        self._cdf = 0.5 * (1 + erf(x / math.sqrt(2)))
        return (x * self._cdf).astype(self._dtype, copy=False)

    def backward(self, dy: FloatArray) -> FloatArray:
        x = self._saved("_x")
        dy = self._input(dy, self._dtype, "dy")
        if dy.shape != x.shape:
            raise ValueError(f"dy must have shape {x.shape} (the forward's output), got "
                             f"{dy.shape}")
        out, dy = dy.dtype, _precision.widened(dy)
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            dt = (1 - self._t ** 2) * k * (1 + 3 * 0.044715 * x ** 2)
            return (dy * (0.5 * (1 + self._t) + 0.5 * x * dt)).astype(out, copy=False)
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return (dy * (self._cdf + x * pdf)).astype(out, copy=False)

    def __repr__(self) -> str:
        return f"GELU(approximate={self.approximate!r})"


class LayerNorm(Module):
    """nn.LayerNorm over the last axis (:func:`gradkit.norm.layer_norm`)."""

    dtype: np.dtype[Any]
    features: int
    eps: float
    weight: Optional[FloatArray]
    bias: Optional[FloatArray]
    dweight: FloatArray  # with elementwise_affine only
    dbias: FloatArray

    def __init__(self, features: int, eps: float = 1e-5, elementwise_affine: bool = True, *,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        features = _v.positive_int(features, "features")
        eps = _v.nonneg_float(eps, "eps")
        elementwise_affine = _v.flag(elementwise_affine, "elementwise_affine")
        self.dtype = dtype = _v.float_dtype(dtype, half=True)
        self.features, self.eps = features, eps
        if elementwise_affine:
            self.weight, self.bias = np.ones(features, dtype), np.zeros(features, dtype)
            self.dweight, self.dbias = np.zeros_like(self.weight), np.zeros_like(self.bias)
            self.params, self.grads = [self.weight, self.bias], [self.dweight, self.dbias]
        else:
            self.weight = self.bias = None

    def forward(self, x: FloatArray, training: bool = True) -> FloatArray:
        x = self._features_last(x)
        y, self._stats = _norm.layer_norm(x, self.weight, self.bias, self.eps)
        self._x = x
        return y

    def backward(self, dy: FloatArray) -> FloatArray:
        dy = self._grad_input(dy, self._saved("_x"))
        dx, dw, db = _norm.layer_norm_backward(dy, self._x, self._stats, self.weight,
                                               bias=self.bias is not None)
        if self.weight is not None:
            self.dweight[...] = dw
            self.dbias[...] = db
        return dx

    def __repr__(self) -> str:
        return f"LayerNorm({self.features}, eps={self.eps})"


class RMSNorm(Module):
    """nn.RMSNorm over the last axis (:func:`gradkit.norm.rms_norm`)."""

    dtype: np.dtype[Any]
    features: int
    eps: Optional[float]
    weight: Optional[FloatArray]
    dweight: FloatArray  # with elementwise_affine only

    def __init__(self, features: int, eps: Optional[float] = None,
                 elementwise_affine: bool = True, *, dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        features = _v.positive_int(features, "features")
        eps = None if eps is None else _v.nonneg_float(eps, "eps")
        elementwise_affine = _v.flag(elementwise_affine, "elementwise_affine")
        self.dtype = dtype = _v.float_dtype(dtype, half=True)
        self.features, self.eps = features, eps
        if elementwise_affine:
            self.weight = np.ones(features, dtype)
            self.dweight = np.zeros_like(self.weight)
            self.params, self.grads = [self.weight], [self.dweight]
        else:
            self.weight = None

    def forward(self, x: FloatArray, training: bool = True) -> FloatArray:
        x = self._features_last(x)
        y, self._stats = _norm.rms_norm(x, self.weight, self.eps)
        self._x = x
        return y

    def backward(self, dy: FloatArray) -> FloatArray:
        dy = self._grad_input(dy, self._saved("_x"))
        dx, dw = _norm.rms_norm_backward(dy, self._x, self._stats, self.weight)
        if self.weight is not None:
            self.dweight[...] = dw
        return dx

    def __repr__(self) -> str:
        return f"RMSNorm({self.features}, eps={self.eps})"


class BatchNorm(Module):
    """nn.BatchNorm1d/2d over axis 1 (:func:`gradkit.norm.batch_norm`): batch statistics
    in training (running statistics updated), running statistics in evaluation.

    ``sync`` makes it ``nn.SyncBatchNorm`` (:func:`gradkit.norm.sync_batch_norm`): in
    training the statistics are those of the batch split across the ranks of an MPI
    communicator (``sync=True`` is ``MPI.COMM_WORLD``; mpi4py is needed then), one
    collective in forward and one in backward; every rank calls forward and backward
    with its part.  The running statistics stay identical on every rank; ``dweight``
    and ``dbias`` are this rank's shares (their sum over the ranks is the whole batch's
    gradient), which a data-parallel optimizer reduces with the other gradients.
    Evaluation is local, as in PyTorch.  A 16-bit layer (``dtype=gradkit.bfloat16`` or
    float16), synchronized or not, keeps float32 running statistics."""

    dtype: np.dtype[Any]
    features: int
    eps: float
    momentum: Optional[float]
    running_mean: FloatArray
    running_var: FloatArray
    num_batches_tracked: NDArray[np.int64]
    weight: Optional[FloatArray]
    bias: Optional[FloatArray]
    dweight: FloatArray  # with affine only
    dbias: FloatArray
    sync: Any  # the communicator, or None

    def __init__(self, features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, *, dtype: DTypeLike = np.float32,
                 sync: Any = None) -> None:
        super().__init__()
        if sync is None or sync is False:
            self.sync = None
        else:  # True: COMM_WORLD; else an mpi4py communicator (TypeError otherwise)
            self.sync = _mpi.comm_or_world(None if sync is True else sync)
        features = _v.positive_int(features, "features")
        eps = _v.nonneg_float(eps, "eps")
        momentum = None if momentum is None else _v.probability(momentum, "momentum")
        affine = _v.flag(affine, "affine")
        self.dtype = dtype = _v.float_dtype(dtype, half=True)
        self.features, self.eps, self.momentum = features, eps, momentum
        # float32 for a 16-bit layer (the running statistics of mixed precision)
        self.running_mean = np.zeros(features, _v.compute_dtype(dtype))
        self.running_var = np.ones(features, self.running_mean.dtype)
        self.num_batches_tracked = np.zeros((), np.int64)
        if affine:
            self.weight, self.bias = np.ones(features, dtype), np.zeros(features, dtype)
            self.dweight, self.dbias = np.zeros_like(self.weight), np.zeros_like(self.bias)
            self.params, self.grads = [self.weight, self.bias], [self.dweight, self.dbias]
        else:
            self.weight = self.bias = None

    def forward(self, x: FloatArray, training: bool = True) -> FloatArray:
        training = _v.flag(training, "training")
        x = self._input(x, self.dtype)
        if x.ndim < 2 or x.shape[1] != self.features:
            raise ValueError(f"x must have shape (N, {self.features}, ...), got {x.shape}")
        fn: Callable[..., tuple[FloatArray, _norm.NormStats]] = (
            _norm.batch_norm if self.sync is None
            else functools.partial(_norm.sync_batch_norm, comm=self.sync))
        y, self._stats = fn(
            x, self.weight, self.bias, self.running_mean, self.running_var,
            training=training, momentum=self.momentum, eps=self.eps,
            num_batches_tracked=self.num_batches_tracked)
        self._x, self._training = x, training
        return y

    def backward(self, dy: FloatArray) -> FloatArray:
        dy = self._grad_input(dy, self._saved("_x"))
        if not self._training:
            # evaluation: y = (x - running_mean) * rstd * w + b is affine in x
            shape = (1, -1) + (1,) * (dy.ndim - 2)
            r = self._stats.rstd.reshape(shape)
            # batch_norm's stats have a mean
            xhat = (self._x - self._stats.mean.reshape(shape)) * r  # type: ignore[union-attr]
            axes = (0,) + tuple(range(2, dy.ndim))
            if self.weight is not None:
                self.dweight[...] = (dy * xhat).sum(axis=axes)
                self.dbias[...] = dy.sum(axis=axes)
                r = r * self.weight.reshape(shape)
            return (dy * r).astype(dy.dtype, copy=False)
        if self.sync is None:
            dx, dw, db = _norm.batch_norm_backward(dy, self._x, self._stats, self.weight,
                                                   bias=self.bias is not None)
        else:
            dx, dw, db = _norm.sync_batch_norm_backward(
                dy, self._x, self._stats, self.weight, bias=self.bias is not None,
                comm=self.sync)
        if self.weight is not None:
            self.dweight[...] = dw
            self.dbias[...] = db
        return dx

    def _convert(self, dtype: Any) -> dict[int, Any]:
        swap = super()._convert(dtype)
        wide = _v.compute_dtype(dtype)  # float32 running statistics for a 16-bit layer
        self.running_mean = self.running_mean.astype(wide)
        self.running_var = self.running_var.astype(wide)
        return swap

    def __repr__(self) -> str:
        sync = "" if self.sync is None else ", sync=True"
        return f"BatchNorm({self.features}, eps={self.eps}, momentum={self.momentum}{sync})"


class Dropout(Module):
    """Inverted dropout (:func:`gradkit.dropout.dropout`); identity in evaluation."""

    p: float
    rng: Generator

    def __init__(self, p: float = 0.5, *, rng: RNG = None) -> None:
        super().__init__()
        self.p = _v.probability(p)
        self.rng = _random.as_generator(rng)

    def forward(self, x: FloatArray, training: bool = True) -> FloatArray:
        x = self._input(x)
        y, self._mask = _dropout.dropout(x, self.p, training=training, rng=self.rng)
        self._x = x
        return y

    def backward(self, dy: FloatArray) -> FloatArray:
        dy = self._grad_input(dy, self._saved("_x"))
        if self._mask is None:
            return dy
        return _dropout.dropout_backward(dy, self._mask)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class Sequential(Module):
    """Layers applied in order; backward in reverse order."""

    layers: list[Module]

    def __init__(self, *layers: Module, dtype: Optional[DTypeLike] = None) -> None:
        """``dtype`` (optional): every layer converted to it (:meth:`Module.to`)."""
        super().__init__()
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Module):
                raise TypeError(f"layers[{i}] must be a gradkit.nn.Module, got "
                                f"{type(layer).__name__}")
        for layer in self.layers:
            self.params += layer.params
            self.grads += layer.grads
        if dtype is not None:
            self.to(dtype)

    def _children(self) -> list[Module]:
        return self.layers

    def forward(self, x: FloatArray, training: bool = True) -> FloatArray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, dy: FloatArray) -> FloatArray:
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __repr__(self) -> str:
        inner = "\n".join("  " + repr(layer).replace("\n", "\n  ") for layer in self.layers)
        return f"Sequential(\n{inner}\n)"


class Residual(Module):
    """A skip connection around ``block``, with dropout ``p`` on the branch:

    - ``norm=None``: ``y = x + dropout(block(x))``
    - ``norm='pre'``: ``y = x + dropout(block(LayerNorm(x)))`` (pre-norm, as modern
      transformers)
    - ``norm='post'``: ``y = LayerNorm(x + dropout(block(x)))`` (post-norm, as the
      original transformer): the add, the dropout and the LayerNorm run as one kernel,
      :func:`gradkit.norm.add_dropout_layer_norm`, forward and backward.

    ``features`` is the width the LayerNorm normalizes (x's last axis).  ``p = 0`` (the
    default) is no dropout; the dropout is off with ``training=False``.
    """

    block: Module
    norm_kind: Optional[str]
    norm: Optional[LayerNorm]
    p: float
    rng: Generator

    def __init__(self, block: Module, norm: Optional[str] = None, *,
                 features: Optional[int] = None, eps: float = 1e-5,
                 dtype: DTypeLike = np.float32, p: float = 0.0, rng: RNG = None) -> None:
        super().__init__()
        if not isinstance(block, Module):
            raise TypeError(f"block must be a gradkit.nn.Module, got {type(block).__name__}")
        if norm is not None:
            _v.choice(norm, "norm", ("pre", "post"))
            if features is None:
                raise ValueError("features is needed when norm is 'pre' or 'post'")
        self.p = _v.probability(p)
        self.rng = _random.as_generator(rng)
        self.block, self.norm_kind = block, norm
        # features is checked when norm is given
        self.norm = LayerNorm(features, eps, dtype=dtype) if norm else None  # type: ignore[arg-type]
        self.params = list(block.params) + (self.norm.params if self.norm else [])
        self.grads = list(block.grads) + (self.norm.grads if self.norm else [])

    def _children(self) -> list[Module]:
        return [self.block] + ([self.norm] if self.norm is not None else [])

    # the type: ignores below: self.norm is set whenever self.norm_kind is
    def forward(self, x: FloatArray, training: bool = True) -> FloatArray:
        if self.norm_kind == "post":
            ln: LayerNorm = self.norm  # type: ignore[assignment]
            x = ln._features_last(x)
            branch = self._input(self.block.forward(x, training), x.dtype, "block output")
            y, s, self._mask, self._stats = _norm.add_dropout_layer_norm(
                branch, x, ln.weight, ln.bias, self.p, ln.eps, training=training,
                rng=self.rng)
            self._s = s
            return y
        h = self.norm.forward(x, training) if self.norm_kind == "pre" else x  # type: ignore[union-attr]
        branch, self._mask = _dropout.dropout(self.block.forward(h, training), self.p,
                                              training=training and self.p > 0,
                                              rng=self.rng)
        y = x + branch
        self._s = y  # what backward checks dy against
        return y

    def backward(self, dy: FloatArray) -> FloatArray:
        s = self._saved("_s")
        dy = self._grad_input(dy, s)
        if self.norm_kind == "post":
            ln: LayerNorm = self.norm  # type: ignore[assignment]
            dbranch, ds, dw, db = _norm.add_dropout_layer_norm_backward(
                dy, s, self._stats, self._mask, ln.weight, bias=ln.bias is not None)
            if ln.weight is not None:
                ln.dweight[...] = dw
                ln.dbias[...] = db
            return ds + self.block.backward(dbranch)
        dbranch = _dropout.dropout_backward(dy, self._mask)
        if self.norm_kind == "pre":
            return dy + self.norm.backward(self.block.backward(dbranch))  # type: ignore[union-attr]
        return dy + self.block.backward(dbranch)

    def __repr__(self) -> str:
        drop = f", p={self.p}" if self.p else ""
        return f"Residual({self.block!r}, norm={self.norm_kind!r}{drop})"

