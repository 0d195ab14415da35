r"""The linear layer's matrix products: ``y = x W^T + b`` as ``torch.nn.functional.linear``,
its backward, and the 2-D product they run on.

.. math::

    y = x W^\top + b, \qquad
    \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} W, \qquad
    \frac{\partial L}{\partial W} = \Big(\frac{\partial L}{\partial y}\Big)^{\!\top} x,
    \qquad \frac{\partial L}{\partial b} = \sum_{\text{rows}} \frac{\partial L}{\partial y}

with ``x`` of shape ``(..., in_features)``, ``W`` ``(out_features, in_features)`` and
``b`` ``(out_features,)``, as torch.

Where the CPU has fused multiply-add (the AVX2 and AVX-512 kernel tables) the products
are gradkit's own: both operands packed once per call, tiles of 3 vectors by 8 (AVX-512;
4 on AVX2) rows of fused multiply-adds held in registers, the steps in chains of 64
from zero added in order, blocks of 128 steps added to the result in order, the bias
last.  Every element is therefore the same operations whatever the thread count and the
vector width (bitwise equal), and rounds differently from BLAS only by that order (the
tests bound it).  On the baseline table (no FMA) the product is BLAS's gemm (scipy's).
Why: the BLAS a user meets may not use the CPU's widest vectors (on an AMD Zen 5 guest,
torch's MKL sgemm ran at 90 GFlop/s a core and OpenBLAS at its AVX2 kernels' speed;
the tiles run at 175); see docs/linear.md.

The bias gradient is the row sums of ``dy^T``, taken while packing ``dy`` for the
weight gradient (in float64, rounded once), not in a pass of its own.

float16 and bfloat16 arrays are storage: widened exactly to float32, multiplied in
float32 and rounded once, as the other families' 16-bit paths.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from . import _precision
from . import _validation as _v
from ._ext import linear as _k

__all__ = ["matmul", "linear", "linear_backward"]


def _operand(a: np.ndarray) -> tuple[np.ndarray, bool]:
    """A 2-D float array as the kernel takes it: (C-contiguous array, transposed?).  A
    transposed view of a C-contiguous array is taken as it is (no copy); any other
    layout is copied once."""
    flags = a.flags
    if flags.c_contiguous and flags.aligned:
        return a, False
    if flags.f_contiguous and flags.aligned:
        return a.T, True
    return a.copy(order="C"), False


def _float(a: Any, name: str) -> np.ndarray:
    """A float array (16-bit too) of native byte order; layout left as it is."""
    if type(a) is np.ndarray and a.dtype in (_v.FLOAT32, _v.FLOAT64):
        return a
    if not isinstance(a, np.ndarray):
        a = _v.float_array(a, name, half=True)
    dt = a.dtype
    if dt in (_v.FLOAT32, _v.FLOAT64) or _v.is_half(dt):
        return a
    return _v.float_array(a, name, half=True)  # byte-swapped: converted; else TypeError


def _product(a: np.ndarray, b: np.ndarray, bias: Optional[np.ndarray], out: np.ndarray,
             row_sums: Optional[np.ndarray] = None) -> None:
    """out = a b (+ bias), row_sums = a's row sums; a, b (2-D), bias of out's dtype
    (float32 or float64), out C-contiguous."""
    sa, ta = _operand(a)
    sb, tb = _operand(b)
    _k.matmul(sa, ta, sb, tb, bias, out, row_sums)


def matmul(a: Any, b: Any, *, out: Optional[np.ndarray] = None) -> np.ndarray:
    r"""The matrix product of two 2-D arrays, :math:`c_{ij} = \sum_r a_{ir} b_{rj}`.

    Parameters
    ----------
    a : array (m, k) of float32, float64, float16 or bfloat16
    b : array (k, n) of a's dtype
        Any layout; a transposed view (``w.T``) is read as it is, without a copy.
    out : array (m, n) of a's dtype, C-contiguous, optional

    Returns
    -------
    c : array (m, n) of a's dtype (``out`` if given).
    """
    a = _float(a, "a")
    b = _float(b, "b")
    _v.same_dtype(b, a.dtype, "b", "a")
    if a.ndim != 2:
        raise ValueError(f"a must be 2-D, got {a.ndim}-D")
    if b.ndim != 2:
        raise ValueError(f"b must be 2-D, got {b.ndim}-D")
    if b.shape[0] != a.shape[1]:
        raise ValueError(f"b must have {a.shape[1]} rows (a's columns), got {b.shape[0]}")
    shape = (a.shape[0], b.shape[1])
    c = _v.output(out, shape, a.dtype)
    if _v.is_half(a.dtype):
        c32 = np.empty(shape, _v.FLOAT32)
        _product(_precision.widened(a), _precision.widened(b), None, c32)
        return _precision.narrow(c32, a.dtype, c)
    _product(a, b, None, c)
    return c


def _linear_args(x: Any, weight: Any, bias: Any
                 ) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    x = _float(x, "x")
    weight = _float(weight, "weight")
    _v.same_dtype(weight, x.dtype, "weight")
    if weight.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got "
                         f"{weight.ndim}-D")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x must have {weight.shape[1]} features (weight's in_features) "
                         f"in its last axis, got shape {x.shape}")
    if bias is not None:
        bias = _float(bias, "bias")
        _v.same_dtype(bias, x.dtype, "bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},), got {bias.shape}")
        bias = np.ascontiguousarray(bias)
    return x, weight, bias


def _rows(x: np.ndarray) -> np.ndarray:
    """x (..., features) as a 2-D (rows, features) array: a view when the leading axes
    merge, else a copy (the row count explicit: -1 is ambiguous with 0 features)."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1]) if x.ndim != 2 else x


def linear(x: Any, weight: Any, bias: Any = None, *,
           out: Optional[np.ndarray] = None) -> np.ndarray:
    r"""``y = x W^T + b``: ``torch.nn.functional.linear``.

    Parameters
    ----------
    x : array (..., in_features) of float32, float64, float16 or bfloat16
    weight : array (out_features, in_features) of x's dtype
    bias : array (out_features,) of x's dtype, optional
    out : array (..., out_features) of x's dtype, C-contiguous, optional

    Returns
    -------
    y : array (..., out_features) of x's dtype (``out`` if given):
        :math:`y_{\ldots j} = \sum_r x_{\ldots r} W_{jr} + b_j`, the bias added last.
    """
    if out is None:   # the common call whole in compiled code (None: checked below)
        y = _k.linear_fast(x, weight, bias)
        if y is not None:
            return y
    x, weight, bias = _linear_args(x, weight, bias)
    shape = x.shape[:-1] + (weight.shape[0],)
    y = _v.output(out, shape, x.dtype)
    x2 = _rows(x)
    if _v.is_half(x.dtype):
        y32 = np.empty(shape, _v.FLOAT32)
        _product(_precision.widened(x2), _precision.widened(weight).T,
                 None if bias is None else _precision.widened(bias), _rows(y32))
        return _precision.narrow(y32, x.dtype, y)
    _product(x2, weight.T, bias, _rows(y))
    return y


def _backward_outs(out: Any, wanted: tuple[bool, bool, bool],
                   shapes: tuple[tuple[int, ...], ...], dtype: np.dtype,
                   inputs: tuple[tuple[str, np.ndarray], ...]
                   ) -> tuple[Optional[np.ndarray], ...]:
    """linear_backward's ``out``: None, or a tuple (dx, dweight, dbias) of arrays or None,
    each checked as an ``out=`` of its gradient; an array for a gradient not asked for,
    two that overlap, or one that overlaps an input is a ValueError."""
    if out is None:
        return (None, None, None)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise TypeError("out must be None or a tuple (dx, dweight, dbias) of arrays or "
                        f"None, got {type(out).__name__}"
                        + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    names = ("out[0] (dx)", "out[1] (dweight)", "out[2] (dbias)")
    flags = ("input_grad", "weight_grad", "bias_grad")
    checked: list[Optional[np.ndarray]] = []
    for a, want, shape, name, flag in zip(out, wanted, shapes, names, flags):
        if a is None:
            checked.append(None)
            continue
        if not want:
            raise ValueError(f"{name} is given but {flag}=False")
        checked.append(_v.output(a, shape, dtype, name))
    _v.disjoint(list(zip(names, checked)))
    for a, name in zip(checked, names):
        if a is None or a.size == 0:
            continue
        for iname, arr in inputs:
            if arr.size and np.shares_memory(a, arr):
                raise ValueError(f"{name} overlaps {iname} (they share memory); the "
                                 "gradients are written while the inputs are read")
    return tuple(checked)


def linear_backward(dy: Any, x: Any, weight: Any, *, input_grad: bool = True,
                    weight_grad: bool = True, bias_grad: bool = True,
                    out: Optional[tuple[Optional[np.ndarray], Optional[np.ndarray],
                                        Optional[np.ndarray]]] = None
                    ) -> tuple[Optional[np.ndarray], Optional[np.ndarray],
                               Optional[np.ndarray]]:
    r"""The gradients of :func:`linear` given ``dy = dL/dy``.

    Parameters
    ----------
    dy : array (..., out_features) of x's dtype
    x : array (..., in_features), the forward's input
    weight : array (out_features, in_features)
    input_grad, weight_grad, bias_grad : bool
        Which gradients to compute (the others are returned as None).
    out : tuple (dx, dweight, dbias), optional
        Arrays to write the gradients into (x's dtype, C-contiguous; None entries are
        allocated), as torch's ``out=`` of several results: a layer's gradient buffers
        are filled without a copy.  An entry for a gradient not asked for, entries that
        overlap each other or an input are a ValueError, raised before anything is
        written.

    Returns
    -------
    dx : array like x, :math:`dy\, W`, or None
    dweight : array like weight, :math:`dy^\top x` over every row of the leading axes,
        or None
    dbias : array (out_features,), the sums of dy's columns (in float64, rounded once),
        or None
    """
    # the common call whole in compiled code (None: checked below)
    grads = _k.linear_backward_fast(dy, x, weight, input_grad, weight_grad, bias_grad, out)
    if grads is not None:
        return grads
    x, weight, _ = _linear_args(x, weight, None)
    dy = _float(dy, "dy")
    _v.same_dtype(dy, x.dtype, "dy")
    if dy.shape != x.shape[:-1] + (weight.shape[0],):
        raise ValueError(f"dy must have shape {x.shape[:-1] + (weight.shape[0],)} (x's "
                         f"leading axes by out_features), got {dy.shape}")
    input_grad = _v.flag(input_grad, "input_grad")
    weight_grad = _v.flag(weight_grad, "weight_grad")
    bias_grad = _v.flag(bias_grad, "bias_grad")
    dx_out, dw_out, db_out = _backward_outs(
        out, (input_grad, weight_grad, bias_grad),
        (x.shape, weight.shape, (weight.shape[0],)), x.dtype,
        (("dy", dy), ("x", x), ("weight", weight)))
    half = _v.is_half(x.dtype)
    dt = _v.FLOAT32 if half else x.dtype
    x2, dy2, w = _rows(x), _rows(dy), weight
    if half:
        x2, dy2, w = (_precision.widened(a) for a in (x2, dy2, w))
    dx = dw = db = None
    if input_grad:
        dx = _v.output(None if half else dx_out, x.shape, dt)
        _product(dy2, w, None, _rows(dx))
    if weight_grad or bias_grad:
        db = _v.output(None if half else db_out, (weight.shape[0],), dt) if bias_grad else None
        if weight_grad:
            dw = _v.output(None if half else dw_out, weight.shape, dt)
            _product(dy2.T, x2, None, dw, db)
        else:  # the sums alone: a product with no columns
            _product(dy2.T, x2[:, :0], None, np.empty((weight.shape[0], 0), dt), db)
    if half:
        dx, dw, db = (None if a is None else _precision.narrow(a, x.dtype, o)
                      for a, o in ((dx, dx_out), (dw, dw_out), (db, db_out)))
    return dx, dw, db
