"""Normalization layers' forward and backward: LayerNorm, RMSNorm, BatchNorm.

Each forward returns ``(y, NormStats)``; the statistics are what the backward needs, so
a layer stores them between the two passes as PyTorch's ``native_layer_norm`` does.
Statistics are accumulated in float64 whatever the data type, from centred data, so
rows with a large mean keep their accuracy; results are bitwise identical for any
thread count.
"""
from typing import NamedTuple, Optional

import numpy as np

from . import _validation as _v
from ._ext import norm as _k

__all__ = ["NormStats", "layer_norm", "layer_norm_backward", "rms_norm",
           "rms_norm_backward"]


class NormStats(NamedTuple):
    """Per-group statistics saved by a forward pass for its backward.

    mean : ndarray or None
        The mean of each normalized group (None for RMSNorm).
    rstd : ndarray
        ``1 / sqrt(var + eps)`` (LayerNorm, BatchNorm) or ``1 / sqrt(mean(x**2) + eps)``
        (RMSNorm) of each group.
    """
    mean: Optional[np.ndarray]
    rstd: np.ndarray


def _split(x, normalized_ndim):
    """(outer shape, inner shape, rows, cols) of x normalized over its last axes."""
    nd = _v.positive_int(normalized_ndim, "normalized_ndim")
    if x.ndim < nd:
        raise ValueError(f"x must have at least normalized_ndim={nd} dimensions, "
                         f"got shape {x.shape}")
    outer, inner = x.shape[:x.ndim - nd], x.shape[x.ndim - nd:]
    cols = 1
    for s in inner:
        cols *= s
    rows = 1
    for s in outer:
        rows *= s
    return outer, inner, rows, cols


def layer_norm(x, weight=None, bias=None, eps=1e-5, *, normalized_ndim=1, out=None):
    r"""Layer normalization over the last ``normalized_ndim`` axes (``F.layer_norm``).

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \cdot w + b

    with the biased variance, over the trailing ``normalized_ndim`` axes of each sample.

    Parameters
    ----------
    x : ndarray, float32 or float64
        Input with ``x.ndim >= normalized_ndim``.
    weight, bias : ndarray or None
        Affine parameters of shape ``x.shape[-normalized_ndim:]`` and x's dtype.
    eps : float
        Added to the variance, default 1e-5.
    normalized_ndim : int
        How many trailing axes are normalized together (PyTorch's ``normalized_shape``
        is ``x.shape[-normalized_ndim:]``).
    out : ndarray, optional
        C-contiguous array of x's shape and dtype to write y into (may be x itself).

    Returns
    -------
    y : ndarray
    stats : NormStats
        ``mean`` and ``rstd`` of shape ``x.shape[:-normalized_ndim]``, x's dtype.
    """
    x = _v.float_array(x, "x")
    outer, inner, rows, cols = _split(x, normalized_ndim)
    weight = _v.optional_param(weight, "weight", x.dtype, inner)
    bias = _v.optional_param(bias, "bias", x.dtype, inner)
    eps = _v.nonneg_float(eps, "eps")
    y = _v.output(out, x.shape, x.dtype)
    mean = np.empty(outer, x.dtype)
    rstd = np.empty(outer, x.dtype)
    _k.layer_norm(x, weight, bias, y, mean, rstd, rows, cols, eps)
    return y, NormStats(mean, rstd)


def _stats_arrays(stats, x, need_mean):
    if not isinstance(stats, tuple) or len(stats) != 2:
        raise TypeError("stats must be the NormStats (mean, rstd) returned by the forward")
    mean, rstd = stats
    rstd = _v.float_array(rstd, "stats.rstd")
    _v.same_dtype(rstd, x.dtype, "stats.rstd")
    nd = x.ndim - rstd.ndim
    if nd < 1 or x.shape[:rstd.ndim] != rstd.shape:
        raise ValueError(f"stats.rstd has shape {rstd.shape}, which is not the leading "
                         f"shape of x {x.shape}")
    if need_mean:
        if mean is None:
            raise ValueError("stats.mean is None; layer_norm_backward needs the mean")
        mean = _v.like(mean, "stats.mean", rstd, "stats.rstd")
    return mean, rstd, nd


def layer_norm_backward(dy, x, stats, weight=None, *, bias=True):
    r"""Gradients of :func:`layer_norm` with respect to x, weight and bias.

    With :math:`\hat x = (x - \mu)\,r` and :math:`g = dy \cdot w` over each group of
    ``n`` elements,

    .. math::
        dx = r\,\bigl(g - \overline{g} - \hat x\,\overline{g\hat x}\bigr),\quad
        dw = \textstyle\sum_{\text{rows}} dy\,\hat x,\quad
        db = \textstyle\sum_{\text{rows}} dy .

    Parameters
    ----------
    dy : ndarray
        Gradient of the loss with respect to y, shape and dtype of x.
    x : ndarray
        The forward input.
    stats : NormStats
        As returned by :func:`layer_norm`; ``normalized_ndim`` is
        ``x.ndim - stats.rstd.ndim``.
    weight : ndarray or None
        The forward's weight.
    bias : bool
        Whether to compute dbias (the forward had a bias).

    Returns
    -------
    dx : ndarray
    dweight : ndarray or None
        None when weight is None.
    dbias : ndarray or None
        None when ``bias`` is False.
    """
    x = _v.float_array(x, "x")
    dy = _v.like(dy, "dy", x)
    mean, rstd, nd = _stats_arrays(stats, x, need_mean=True)
    inner = x.shape[x.ndim - nd:]
    weight = _v.optional_param(weight, "weight", x.dtype, inner)
    rows, cols = rstd.size, (x.size // rstd.size if rstd.size else int(np.prod(inner)))
    dx = np.empty_like(x)
    dweight = np.empty(inner, x.dtype) if weight is not None else None
    dbias = np.empty(inner, x.dtype) if bias else None
    _k.layer_norm_backward(dy, x, mean, rstd, weight, dx, dweight, dbias, rows, cols)
    return dx, dweight, dbias


def rms_norm(x, weight=None, eps=None, *, normalized_ndim=1, out=None):
    r"""Root-mean-square normalization over the last ``normalized_ndim`` axes
    (``F.rms_norm``).

    .. math:: y = \frac{x}{\sqrt{\mathrm{mean}(x^2) + \epsilon}} \cdot w

    Parameters
    ----------
    x : ndarray, float32 or float64
    weight : ndarray or None
        Shape ``x.shape[-normalized_ndim:]``.
    eps : float or None
        None means ``np.finfo(x.dtype).eps``, as in PyTorch.
    normalized_ndim : int
    out : ndarray, optional

    Returns
    -------
    y : ndarray
    stats : NormStats
        ``mean`` is None; ``rstd`` has shape ``x.shape[:-normalized_ndim]``.
    """
    x = _v.float_array(x, "x")
    outer, inner, rows, cols = _split(x, normalized_ndim)
    weight = _v.optional_param(weight, "weight", x.dtype, inner)
    eps = float(np.finfo(x.dtype).eps) if eps is None else _v.nonneg_float(eps, "eps")
    y = _v.output(out, x.shape, x.dtype)
    rstd = np.empty(outer, x.dtype)
    _k.rms_norm(x, weight, y, rstd, rows, cols, eps)
    return y, NormStats(None, rstd)


def rms_norm_backward(dy, x, stats, weight=None):
    r"""Gradients of :func:`rms_norm` with respect to x and weight.

    With :math:`g = dy \cdot w` over each group of ``n`` elements,

    .. math::
        dx = r\,\bigl(g - x\,r^2\,\overline{g x}\bigr),\quad
        dw = \textstyle\sum_{\text{rows}} dy\,x\,r .

    Returns
    -------
    dx : ndarray
    dweight : ndarray or None
        None when weight is None.
    """
    x = _v.float_array(x, "x")
    dy = _v.like(dy, "dy", x)
    _, rstd, nd = _stats_arrays(stats, x, need_mean=False)
    inner = x.shape[x.ndim - nd:]
    weight = _v.optional_param(weight, "weight", x.dtype, inner)
    rows, cols = rstd.size, (x.size // rstd.size if rstd.size else int(np.prod(inner)))
    dx = np.empty_like(x)
    dweight = np.empty(inner, x.dtype) if weight is not None else None
    _k.rms_norm_backward(dy, x, rstd, weight, dx, dweight, rows, cols)
    return dx, dweight
