"""Reference normalization: the formulas, in NumPy, computed in x's dtype.

16-bit storage (float16, bfloat16): the float32 formulas on the inputs widened to
float32, each output rounded once by NumPy's / ml_dtypes' astype: y and dx to x's
dtype, dweight/dbias to the weight's (float32 without weight); statistics and running
statistics stay float32."""
from typing import NamedTuple, Optional

import ml_dtypes
import numpy as np

from . import dropout as _dropout


class NormStats(NamedTuple):
    """(mean, rstd) of each normalized group, as the forward saves them (the fields of
    gradkit.norm.NormStats; defined here so the reference imports nothing it checks)."""
    mean: Optional[np.ndarray]
    rstd: np.ndarray


def _half(a):
    """True for 16-bit storage (float16, bfloat16)."""
    return a.dtype.itemsize == 2 and a.dtype.kind in "fV"


def _f32(a):
    """a widened to float32 (exact for 16-bit storage), None as None."""
    return None if a is None else np.asarray(a).astype(np.float32)


def _rounded(a, dtype):
    """a rounded once to dtype (None as None)."""
    return None if a is None else a.astype(dtype)


def _put(y, out):
    if out is not None:
        out[...] = y
        return out
    return y


def _axes(x, normalized_ndim):
    return tuple(range(x.ndim - normalized_ndim, x.ndim))


def layer_norm(x, weight=None, bias=None, eps=1e-5, *, normalized_ndim=1, out=None):
    if _half(x):
        y, stats = layer_norm(_f32(x), _f32(weight), _f32(bias), eps,
                              normalized_ndim=normalized_ndim)
        return _put(y.astype(x.dtype), out), stats
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
    if _half(x):
        dx, dw, db = layer_norm_backward(_f32(dy), _f32(x), stats, _f32(weight), bias=bias)
        pdt = np.float32 if weight is None else weight.dtype
        return dx.astype(x.dtype), _rounded(dw, pdt), _rounded(db, pdt)
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
        eps = float(ml_dtypes.finfo(x.dtype).eps)
    if _half(x):
        y, stats = rms_norm(_f32(x), _f32(weight), eps, normalized_ndim=normalized_ndim)
        return _put(y.astype(x.dtype), out), stats
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
    if _half(x):
        dx, dw = rms_norm_backward(_f32(dy), _f32(x), stats, _f32(weight))
        return dx.astype(x.dtype), _rounded(dw, np.float32 if weight is None else weight.dtype)
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


def _channel_axes(x):
    """The axes BatchNorm reduces over: batch and spatial, all but axis 1."""
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, x):
    """A (C,) vector shaped to broadcast along axis 1 of x."""
    return np.reshape(v, (1, -1) + (1,) * (x.ndim - 2))


def _update_running(running_mean, running_var, mean, m2, n, momentum, num_batches_tracked):
    """nn.BatchNorm's bookkeeping of a training batch of n values per channel: count it,
    and (n > 1) move the running statistics towards its mean and unbiased variance
    m2 / (n - 1); momentum None: the cumulative average, factor 1 / count."""
    if num_batches_tracked is not None:
        num_batches_tracked += 1
    factor = momentum
    if momentum is None:
        factor = 1.0 / float(num_batches_tracked) if num_batches_tracked is not None else 0.0
    if running_mean is not None and n > 1:
        running_mean[...] = (1 - factor) * running_mean + factor * mean
        running_var[...] = (1 - factor) * running_var + factor * (m2 / (n - 1))


def batch_norm(x, weight=None, bias=None, running_mean=None, running_var=None, *,
               training=True, momentum=0.1, eps=1e-5, num_batches_tracked=None, out=None):
    if _half(x):  # running statistics float32, updated in place
        y, stats = batch_norm(_f32(x), _f32(weight), _f32(bias), running_mean, running_var,
                              training=training, momentum=momentum, eps=eps,
                              num_batches_tracked=num_batches_tracked)
        return _put(y.astype(x.dtype), out), stats
    axes = _channel_axes(x)
    n = x.size // x.shape[1] if x.shape[1] else 0
    if training:
        if n * x.shape[1] and n == 1:
            raise ValueError("Expected more than 1 value per channel when training")
        if n == 0:  # an empty batch: mean 0, variance 0, running stats left alone
            mean = np.zeros(x.shape[1], x.dtype)
            var = np.zeros_like(mean)
        else:
            mean = x.mean(axis=axes)
            var = ((x - _per_channel(mean, x)) ** 2).mean(axis=axes)
        _update_running(running_mean, running_var, mean, var * n, n, momentum,
                        num_batches_tracked)
    else:
        mean = np.array(running_mean, copy=True)
        var = running_var
    rstd = (1 / np.sqrt(var + eps)).astype(x.dtype)
    y = batch_norm_elemt(x, weight, bias, mean, rstd, out=out)
    return y, NormStats(mean.astype(x.dtype), rstd)


def batch_norm_backward(dy, x, stats, weight=None, *, bias=True):
    if _half(x):
        dx, dw, db = batch_norm_backward(_f32(dy), _f32(x), stats, _f32(weight), bias=bias)
        pdt = np.float32 if weight is None else weight.dtype
        return dx.astype(x.dtype), _rounded(dw, pdt), _rounded(db, pdt)
    mean, rstd = stats
    axes = _channel_axes(x)
    n = x.size // x.shape[1] if x.shape[1] else 0
    xhat = (x - _per_channel(mean, x)) * _per_channel(rstd, x)
    sum_dy = dy.sum(axis=axes)
    sum_dy_xhat = (dy * xhat).sum(axis=axes)
    if n:
        g = dy - _per_channel(sum_dy / n, x) - xhat * _per_channel(sum_dy_xhat / n, x)
    else:
        g = dy
    scale = rstd * weight if weight is not None else rstd
    dx = g * _per_channel(scale, x)
    dweight = sum_dy_xhat.astype(x.dtype) if weight is not None else None
    dbias = sum_dy.astype(x.dtype) if bias else None
    return dx.astype(x.dtype), dweight, dbias


# ---- BatchNorm in steps (gradkit.norm's split kernels) ---------------------------------
class BatchNormStats(NamedTuple):
    """(n, mean, m2) per channel: the fields of gradkit.norm.BatchNormStats."""
    n: int
    mean: np.ndarray
    m2: np.ndarray


def _acc(x):
    """The accumulation type of the statistics: float64, or wider if x is (longdouble)."""
    return np.result_type(x.dtype, np.float64)


def batch_norm_stats(x):
    if _half(x):
        return batch_norm_stats(_f32(x))
    c = x.shape[1]
    n = x.size // c if c else int(np.prod((x.shape[0],) + x.shape[2:]))
    if n == 0:
        return BatchNormStats(0, np.zeros(c, _acc(x)), np.zeros(c, _acc(x)))
    xa = x.astype(_acc(x))
    mean = xa.mean(axis=_channel_axes(x))
    m2 = ((xa - _per_channel(mean, x)) ** 2).sum(axis=_channel_axes(x))
    return BatchNormStats(n, mean, m2)


def batch_norm_merge_stats(counts, means, m2s):
    """Chan's merge, part by part in order; empty parts skipped."""
    means, m2s = np.asarray(means), np.asarray(m2s)
    dt = np.result_type(means.dtype, np.float64)
    n, mean, m2 = 0, np.zeros(means.shape[1], dt), np.zeros(means.shape[1], dt)
    for nb, mb, qb in zip(counts, means, m2s):
        nb = int(nb)
        if nb == 0:
            continue
        d = mb - mean
        mean = mean + d * (nb / (n + nb))
        m2 = m2 + qb + d * d * (n * nb / (n + nb))
        n += nb
    return BatchNormStats(n, mean, m2)


def batch_norm_gather_stats(counts, means, m2s, running_mean=None, running_var=None, *,
                            momentum=0.1, eps=1e-5, num_batches_tracked=None):
    n, mean, m2 = batch_norm_merge_stats(counts, means, m2s)
    if mean.size and n == 1:
        raise ValueError("Expected more than 1 value per channel when training")
    var = m2 / n if n else m2
    _update_running(running_mean, running_var, mean, m2, n, momentum, num_batches_tracked)
    return mean, 1 / np.sqrt(var + eps)


def batch_norm_elemt(x, weight, bias, mean, invstd, *, out=None):
    if _half(x):
        y = batch_norm_elemt(_f32(x), _f32(weight), _f32(bias), mean, invstd)
        return _put(y.astype(x.dtype), out)
    y = (x - _per_channel(mean, x)) * _per_channel(invstd, x)
    if weight is not None:
        y = y * _per_channel(weight, x)
    if bias is not None:
        y = y + _per_channel(bias, x)
    y = y.astype(x.dtype)
    if out is not None:
        out[...] = y
        y = out
    return y


def batch_norm_backward_reduce(dy, x, mean, invstd, weight=None, *, bias=True):
    if _half(x):  # mean, invstd: the float32 statistics
        sum_dy, sum_dy_xmu, dw, db = batch_norm_backward_reduce(
            _f32(dy), _f32(x), _f32(mean), _f32(invstd), _f32(weight), bias=bias)
        pdt = np.float32 if weight is None else weight.dtype
        return sum_dy, sum_dy_xmu, _rounded(dw, pdt), _rounded(db, pdt)
    axes = _channel_axes(x)
    xmu = x - _per_channel(mean, x)
    sum_dy = dy.sum(axis=axes, dtype=_acc(x))
    sum_dy_xmu = (dy * xmu).sum(axis=axes, dtype=_acc(x))
    dweight = (invstd * sum_dy_xmu).astype(x.dtype) if weight is not None else None
    dbias = sum_dy.astype(x.dtype) if bias else None
    return sum_dy, sum_dy_xmu, dweight, dbias


def batch_norm_backward_elemt(dy, x, mean, invstd, weight, sum_dy, sum_dy_xmu, count, *,
                              out=None):
    if _half(x):
        dx = batch_norm_backward_elemt(_f32(dy), _f32(x), _f32(mean), _f32(invstd),
                                       _f32(weight), sum_dy, sum_dy_xmu, count)
        return _put(dx.astype(x.dtype), out)
    r = _per_channel(invstd, x)
    g = (dy - _per_channel(sum_dy / count, x)
         - (x - _per_channel(mean, x)) * r * r * _per_channel(sum_dy_xmu / count, x))
    scale = invstd * weight if weight is not None else invstd
    dx = (g * _per_channel(scale, x)).astype(x.dtype)
    if out is not None:
        out[...] = dx
        dx = out
    return dx

class DropMask(NamedTuple):
    """The dropout mask of the fused references: the fields of gradkit's DropoutMask
    (bits packed as np.packbits(..., bitorder='little'))."""
    shape: tuple
    p: float
    seed: int
    counter: int
    bits: np.ndarray


def _add_dropout(x, residual, p, training, rng):
    """s = residual + dropout(x) and the mask (None without dropout).  16-bit x: the
    float32 sum of the widened residual and the float32 dropout of the widened x,
    rounded once."""
    xa, ra = (_f32(x), _f32(residual)) if _half(x) else (x, residual)
    if not training or p == 0:
        return (ra + xa).astype(x.dtype), None
    d, (bits, seed, counter) = _dropout.dropout(xa, p, rng=rng)
    return (ra + d).astype(x.dtype), DropMask(x.shape, p, seed, counter, bits)


def add_dropout_layer_norm(x, residual, weight=None, bias=None, p=0.0, eps=1e-5, *,
                           training=True, rng=None, normalized_ndim=1, store_mask=True):
    """s = residual + dropout(x); y = layer_norm(s): (y, s, mask, stats)."""
    s, mask = _add_dropout(x, residual, p, training, rng)
    y, stats = layer_norm(s, weight, bias, eps, normalized_ndim=normalized_ndim)
    return y, s, mask, stats


def add_dropout_rms_norm(x, residual, weight=None, p=0.0, eps=None, *, training=True,
                         rng=None, normalized_ndim=1, store_mask=True):
    """s = residual + dropout(x); y = rms_norm(s): (y, s, mask, stats)."""
    s, mask = _add_dropout(x, residual, p, training, rng)
    y, stats = rms_norm(s, weight, eps, normalized_ndim=normalized_ndim)
    return y, s, mask, stats


def _plus(ds, dresidual_out):
    """ds + dresidual_out in ds's dtype; 16-bit: the float32 sum of the widened arrays,
    rounded once (the backward's ds is layer_norm_backward's 16-bit dx, then this)."""
    if _half(ds):
        return (_f32(ds) + _f32(dresidual_out)).astype(ds.dtype)
    return (ds + dresidual_out).astype(ds.dtype)


def _drop_back(ds, mask):
    """(dx, dresidual) from ds: dx = ds * m (the mask from its stream), dresidual = ds."""
    if mask is None:
        return ds, ds
    keep = _dropout.keep_mask(mask.shape, mask.p, mask.seed, mask.counter)
    return _dropout.dropout_backward(ds, keep, mask.p), ds


def add_dropout_layer_norm_backward(dy, residual_out, stats, mask, weight=None, *,
                                    bias=True, dresidual_out=None):
    """ds = layer_norm_backward(dy) + dresidual_out: (dx, dresidual, dweight, dbias)."""
    ds, dw, db = layer_norm_backward(dy, residual_out, stats, weight, bias=bias)
    if dresidual_out is not None:
        ds = _plus(ds, dresidual_out)
    return _drop_back(ds, mask) + (dw, db)


def add_dropout_rms_norm_backward(dy, residual_out, stats, mask, weight=None, *,
                                  dresidual_out=None):
    """ds = rms_norm_backward(dy) + dresidual_out: (dx, dresidual, dweight)."""
    ds, dw = rms_norm_backward(dy, residual_out, stats, weight)
    if dresidual_out is not None:
        ds = _plus(ds, dresidual_out)
    return _drop_back(ds, mask) + (dw,)
