"""Reference normalization: the formulas, in NumPy, computed in x's dtype."""
import numpy as np

from ..norm import NormStats


def _axes(x, normalized_ndim):
    return tuple(range(x.ndim - normalized_ndim, x.ndim))


def layer_norm(x, weight=None, bias=None, eps=1e-5, *, normalized_ndim=1, out=None):
    axes = _axes(x, normalized_ndim)
    n = int(np.prod(x.shape[x.ndim - normalized_ndim:]))
    if n == 0:  # an empty group: mean 0, variance 0
        mean = np.zeros(x.shape[:x.ndim - normalized_ndim], x.dtype)
        var = np.zeros_like(mean)
    else:
        mean = x.mean(axis=axes)
        var = ((x - np.expand_dims(mean, axes)) ** 2).mean(axis=axes)
    rstd = (1 / np.sqrt(var + eps)).astype(x.dtype)
    xhat = (x - np.expand_dims(mean, axes)) * np.expand_dims(rstd, axes)
    y = xhat
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    y = y.astype(x.dtype)
    if out is not None:
        out[...] = y
        y = out
    return y, NormStats(mean.astype(x.dtype), rstd)


def layer_norm_backward(dy, x, stats, weight=None, *, bias=True):
    mean, rstd = stats
    nd = x.ndim - rstd.ndim
    axes = _axes(x, nd)
    outer = tuple(range(x.ndim - nd))
    xhat = (x - np.expand_dims(mean, axes)) * np.expand_dims(rstd, axes)
    g = dy * weight if weight is not None else dy
    mg = g.mean(axis=axes, keepdims=True) if x.size else g.sum(axis=axes, keepdims=True)
    mgx = (g * xhat).mean(axis=axes, keepdims=True) if x.size else mg
    dx = np.expand_dims(rstd, axes) * (g - mg - xhat * mgx)
    dweight = (dy * xhat).sum(axis=outer) if weight is not None else None
    dbias = dy.sum(axis=outer) if bias else None
    return dx.astype(x.dtype), dweight, dbias


def rms_norm(x, weight=None, eps=None, *, normalized_ndim=1, out=None):
    if eps is None:
        eps = np.finfo(x.dtype).eps
    axes = _axes(x, normalized_ndim)
    if x.shape[x.ndim - normalized_ndim:] and np.prod(x.shape[x.ndim - normalized_ndim:]) == 0:
        ms = np.zeros(x.shape[:x.ndim - normalized_ndim], x.dtype)
    else:
        ms = (x * x).mean(axis=axes)
    rstd = (1 / np.sqrt(ms + eps)).astype(x.dtype)
    y = x * np.expand_dims(rstd, axes)
    if weight is not None:
        y = y * weight
    y = y.astype(x.dtype)
    if out is not None:
        out[...] = y
        y = out
    return y, NormStats(None, rstd)


def rms_norm_backward(dy, x, stats, weight=None):
    _, rstd = stats
    nd = x.ndim - rstd.ndim
    axes = _axes(x, nd)
    outer = tuple(range(x.ndim - nd))
    r = np.expand_dims(rstd, axes)
    g = dy * weight if weight is not None else dy
    n = int(np.prod(x.shape[x.ndim - nd:]))
    mgx = (g * x).sum(axis=axes, keepdims=True) / max(n, 1)
    dx = r * (g - x * r * r * mgx)
    dweight = (dy * x * r).sum(axis=outer) if weight is not None else None
    return dx.astype(x.dtype), dweight
