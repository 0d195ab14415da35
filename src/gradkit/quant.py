"""Post-training quantization: int8/uint8 with PyTorch's MinMaxObserver parameters, and
low-bit weights (2/3/4/8-bit per-group RTN and GPTQ, packed, with a dequantizing matmul).

:func:`quantize` observes the min and max of a tensor (or of each channel along
``axis``), derives ``scale`` and ``zero_point`` with the rules of
``torch.ao.quantization.MinMaxObserver`` / ``PerChannelMinMaxObserver``, and quantizes
in one compiled pass; :func:`dequantize` maps back to float32 (or another float dtype,
16-bit included).  16-bit input (float16, ``gradkit.bfloat16``) is quantized as its
exactly widened float32 values.
"""
from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from . import _precision
from . import _validation as _v
from ._ext import quant as _k

if TYPE_CHECKING:
    from ._typing import ArrayLike, NDArray

from ._lowbit import (Hessian, QuantizedWeight, gptq, hessian, qlinear,  # noqa: E402
                      quantize_weight)

__all__ = ["quantize", "dequantize", "qparams", "hessian", "Hessian", "quantize_weight",
           "gptq", "QuantizedWeight", "qlinear"]

_RANGES = {"int8": (-128, 127), "uint8": (0, 255)}
_EPS32 = np.float32(np.finfo(np.float32).eps)


def _qdtype(dtype):
    try:
        name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    except TypeError:
        raise TypeError(f"dtype must be 'int8' or 'uint8', got {dtype!r}") from None
    if name not in _RANGES:
        raise ValueError(f"dtype must be 'int8' or 'uint8', got {dtype!r}")
    return name


def _view3(shape, axis):
    """(outer, channels, inner) of an array of `shape` with channels along `axis`."""
    if axis is None:
        return 1, 1, int(np.prod(shape, dtype=np.int64))
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return outer, int(shape[axis]), inner


def qparams(min_val: ArrayLike, max_val: ArrayLike, *, scheme: str = "symmetric",
            dtype: str = "int8") -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    r"""Scale and zero point from observed minima and maxima, as
    ``MinMaxObserver._calculate_qparams`` computes them (float32 arithmetic).

    With :math:`m_- = \min(\text{min}, 0)`, :math:`m_+ = \max(\text{max}, 0)` and
    :math:`[q_{min}, q_{max}]` the range of ``dtype``:

    - symmetric: ``scale = max(-m_-, m_+) / ((q_max - q_min) / 2)``, zero point 0 for
      int8 and 128 for uint8;
    - affine: ``scale = (m_+ - m_-) / (q_max - q_min)``,
      ``zero_point = clamp(q_min - round(m_- / scale), q_min, q_max)``;

    scale at least ``finfo(float32).eps``.  An empty observation (min = +inf) gives
    scale 1 and zero point 0, as PyTorch's observer does.

    Returns
    -------
    scale : ndarray float32, zero_point : ndarray int64 (the shape of min_val)
    """
    if scheme not in ("symmetric", "affine"):
        raise ValueError(f"scheme must be 'symmetric' or 'affine', got {scheme!r}")
    qmin, qmax = _RANGES[_qdtype(dtype)]
    mn = _v.real_array(min_val, "min_val").astype(np.float32)
    mx = _v.real_array(max_val, "max_val").astype(np.float32)
    empty = ~(mn <= mx)
    min_neg = np.minimum(mn, np.float32(0))
    max_pos = np.maximum(mx, np.float32(0))
    with np.errstate(invalid="ignore", over="ignore"):
        if scheme == "symmetric":
            scale = np.maximum(-min_neg, max_pos) / np.float32((qmax - qmin) / 2)
            scale = np.maximum(scale, _EPS32)
            zp = np.full(mn.shape, 128 if qmin == 0 else 0, np.int64)
        else:
            scale = (max_pos - min_neg) / np.float32(qmax - qmin)
            scale = np.maximum(scale, _EPS32)
            zp = qmin - np.round(min_neg / scale).astype(np.int64)
            zp = np.clip(zp, qmin, qmax)
    scale = np.where(empty, np.float32(1), scale).astype(np.float32)
    zp = np.where(empty, 0, zp).astype(np.int64)
    return scale, zp


def _qparams_one(mn, mx, scheme, qmin, qmax):
    """qparams of one observation (float32 scalars), with NumPy scalars: the same
    float32 operations as the array form, without its dozen ufunc calls on one-element
    arrays (~8 us, a third of quantizing 256 x 1024 elements)."""
    if not mn <= mx:                                  # empty: scale 1, zero point 0
        return np.float32(1), 0
    zero = np.float32(0)
    min_neg = mn if mn < zero else zero               # a zero's sign reaches no result
    max_pos = mx if mx > zero else zero
    if scheme == "symmetric":
        scale = max(-min_neg, max_pos) / np.float32((qmax - qmin) / 2)
        return max(scale, _EPS32), (128 if qmin == 0 else 0)
    scale = max((max_pos - min_neg) / np.float32(qmax - qmin), _EPS32)
    zp = qmin - int(np.round(min_neg / scale))
    return scale, min(max(zp, qmin), qmax)


def quantize(x: ArrayLike, *, scheme: str = "symmetric", axis: Optional[int] = None,
             dtype: str = "int8") -> tuple[NDArray[np.integer[Any]],
                                           Union[float, NDArray[np.float32]],
                                           Union[int, NDArray[np.int64]]]:
    r"""Quantize to int8/uint8 with min/max-observed parameters.

    .. math:: q = \mathrm{clamp}\bigl(\mathrm{round}(x / s + z),\ q_{min},\ q_{max}\bigr)

    with :math:`s, z` from :func:`qparams` over the whole tensor (``axis=None``,
    ``torch.per_tensor_symmetric`` / ``per_tensor_affine``) or over each slice along
    ``axis`` (``per_channel_symmetric`` / ``per_channel_affine`` with ``ch_axis=axis``).
    Rounding is half to even; :math:`x/s` is computed as :math:`x \cdot (1/s)` with
    :math:`1/s` in float32 and :math:`x(1/s) + z` rounded once to float32, which is
    bitwise what PyTorch's x86 per-tensor kernel gives (its per-channel kernel rounds
    :math:`x(1/s)` first, so with a nonzero zero point a value within an ulp of a half
    can land one step apart).  float64 data is computed in double; 16-bit data as its
    float32 values (widened exactly), so it gives what float32 ``x.astype(float32)``
    gives.

    Parameters
    ----------
    x : ndarray, float32, float64, float16 or bfloat16
        Finite values (NaN or infinity raise ValueError: no scale could hold them).
    scheme : {'symmetric', 'affine'}
    axis : int or None
        The channel axis for per-channel parameters.
    dtype : {'int8', 'uint8'}

    Returns
    -------
    q : ndarray of ``dtype`` and x's shape
    scale : float (per tensor) or float32 ndarray of shape ``(x.shape[axis],)``
    zero_point : int (per tensor) or int64 ndarray of shape ``(x.shape[axis],)``
    """
    x = _v.float_array(x, "x", half=True)
    if scheme not in ("symmetric", "affine"):
        raise ValueError(f"scheme must be 'symmetric' or 'affine', got {scheme!r}")
    qname = _qdtype(dtype)
    ax = _v.axis(axis, x.ndim, of="x")
    if _v.is_half(x.dtype):
        x = _precision.widen(x)
    outer, channels, inner = _view3(x.shape, ax)
    mins = np.empty(channels, x.dtype)
    maxs = np.empty(channels, x.dtype)
    if _k.minmax(x, outer, channels, inner, mins, maxs):
        raise ValueError("x must be finite to be quantized (it holds NaN or infinity)")
    q = _v.empty(x.shape, np.dtype(qname))
    if ax is None:
        one, z = _qparams_one(mins[0].astype(np.float32), maxs[0].astype(np.float32),
                              scheme, *_RANGES[qname])
        _k.quantize(x, np.array([one], np.float32), np.array([z], np.int32), q, outer,
                    channels, inner)
        return q, float(one), int(z)
    scale, zp = qparams(mins, maxs, scheme=scheme, dtype=qname)
    _k.quantize(x, scale, zp.astype(np.int32), q, outer, channels, inner)
    return q, scale, zp


def dequantize(q: ArrayLike, scale: Union[float, ArrayLike],
               zero_point: Union[int, ArrayLike], *,
               axis: Optional[int] = None, dtype: Any = np.float32) -> NDArray[Any]:
    r"""Map quantized values back to floats: :math:`y = (q - z)\,s` (``x.dequantize()``),
    computed in float32 and given in ``dtype``.

    Parameters
    ----------
    q : ndarray of int8 or uint8
    scale : float, or 1-D array of length ``q.shape[axis]`` (per channel)
        Positive and finite; used as float32.
    zero_point : int, or 1-D integer array of length ``q.shape[axis]``
        Within the range of q's dtype.
    axis : int or None
        The channel axis for per-channel parameters.
    dtype : float32 (default), float64, float16 or bfloat16
        The result's dtype: the float32 values, rounded once to 16-bit storage (to
        nearest even, NumPy's / ml_dtypes' astype) or widened exactly to float64.

    Returns
    -------
    ndarray of ``dtype`` and q's shape
    """
    out_dt = _v.float_dtype(dtype, "dtype", half=True)
    if not isinstance(q, np.ndarray):
        q = np.asarray(q)
    if q.dtype not in (np.int8, np.uint8):
        raise TypeError(f"q must be an int8 or uint8 array, got dtype {q.dtype}")
    if not q.flags.c_contiguous:   # (np.ascontiguousarray would make a 0-d q 1-d)
        q = np.ascontiguousarray(q)
    ax = _v.axis(axis, q.ndim, of="q")
    outer, channels, inner = _view3(q.shape, ax)
    want = () if ax is None else (channels,)
    s = np.asarray(scale)
    z = np.asarray(zero_point)
    if s.dtype == object and all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                 for v in s.reshape(-1)):
        raise ValueError("scale is too large for a float")
    if s.dtype.kind not in "fiu":
        raise TypeError(f"scale must be real, got dtype {s.dtype}")
    if z.dtype == object and all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                 for v in z.reshape(-1)):
        raise ValueError("zero_point is out of range (ints beyond 64 bits)")
    if z.dtype.kind not in "iu":
        raise TypeError(f"zero_point must be an integer, got dtype {z.dtype}")
    for arr, name in ((s, "scale"), (z, "zero_point")):
        if arr.shape != want and not (ax is None and arr.shape == (1,)):
            raise ValueError(f"{name} must have shape {want}"
                             f"{' (per tensor: a scalar)' if ax is None else ''}, "
                             f"got {arr.shape}")
    s = np.ascontiguousarray(s.reshape(-1), dtype=np.float32)
    lo, hi = _RANGES[q.dtype.name]
    if not np.all((s > 0) & np.isfinite(s)):
        raise ValueError("scale must be positive and finite")
    if np.any((z < lo) | (z > hi)):
        raise ValueError(f"zero_point must be in [{lo}, {hi}] for {q.dtype.name}")
    z = np.ascontiguousarray(z.reshape(-1), dtype=np.int32)
    y = _v.empty(q.shape, np.float32)
    _k.dequantize(q, s, z, y, outer, channels, inner)
    if _v.is_half(out_dt):
        return _precision.narrow(y, out_dt)
    return y if out_dt == _v.FLOAT32 else y.astype(out_dt)
