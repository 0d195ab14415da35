"""Normalization layers' forward and backward: LayerNorm, RMSNorm, BatchNorm.

Each forward returns ``(y, NormStats)``; the statistics are what the backward needs, so
a layer stores them between the two passes as PyTorch's ``native_layer_norm`` does.
Statistics are accumulated in float64 whatever the data type, from centred data, so
rows with a large mean keep their accuracy; results are bitwise identical for any
thread count.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Optional

import numpy as np

from . import _validation as _v
from . import dropout as _dropout
from ._ext import norm as _k
from .dropout import DropoutMask

if TYPE_CHECKING:
    from ._typing import RNG, ArrayLike, FloatArray, NDArray

__all__ = ["NormStats", "layer_norm", "layer_norm_backward", "rms_norm",
           "rms_norm_backward", "batch_norm", "batch_norm_backward",
           "add_dropout_layer_norm", "add_dropout_layer_norm_backward",
           "add_dropout_rms_norm", "add_dropout_rms_norm_backward"]


class NormStats(NamedTuple):
    """Per-group statistics saved by a forward pass for its backward.

    mean : ndarray or None
        The mean of each normalized group (None for RMSNorm).
    rstd : ndarray
        ``1 / sqrt(var + eps)`` (LayerNorm, BatchNorm) or ``1 / sqrt(mean(x**2) + eps)``
        (RMSNorm) of each group.
    """
    mean: Optional[FloatArray]
    rstd: FloatArray


_k.set_stats_type(NormStats)  # the compiled fast paths return NormStats themselves
_k.set_mask_type(DropoutMask, _dropout.as_generator)  # the fused ones make and take masks


def _stats(mean, rstd, _new=tuple.__new__):
    """NormStats(mean, rstd) without NamedTuple's Python-level __new__ (per-call cost)."""
    return _new(NormStats, (mean, rstd))


# rms_norm's default eps per dtype: finfo(dtype).eps
_EPS = {_v.FLOAT32: float(np.finfo(np.float32).eps),
        _v.FLOAT64: float(np.finfo(np.float64).eps)}


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


def layer_norm(x: ArrayLike, weight: Optional[ArrayLike] = None,
               bias: Optional[ArrayLike] = None, eps: float = 1e-5, *,
               normalized_ndim: int = 1,
               out: Optional[FloatArray] = None) -> tuple[FloatArray, NormStats]:
    r"""Layer normalization over the last ``normalized_ndim`` axes (``F.layer_norm``).

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \cdot w + b

    with the biased variance, over the trailing ``normalized_ndim`` axes of each sample.

    Parameters
    ----------
    x : ndarray, float32, float64, float16 or bfloat16
        Input with ``x.ndim >= normalized_ndim``.  16-bit x is storage only: the
        statistics and every operation run in float32, y is rounded once
        (docs/precision.md).
    weight, bias : ndarray or None
        Affine parameters of shape ``x.shape[-normalized_ndim:]`` and x's dtype (or
        float32 with 16-bit x, as PyTorch allows).
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
        ``mean`` and ``rstd`` of shape ``x.shape[:-normalized_ndim]``, x's dtype
        (float32 for 16-bit x).
    """
    # The common call (C-contiguous, aligned arrays of one float dtype in native byte
    # order, int normalized_ndim, float eps) runs whole in compiled code with the same
    # checks; anything else (None back) takes the checked path below.
    fast = _k.layer_norm_fast(x, weight, bias, eps, normalized_ndim, out)
    if fast is not None:
        return fast
    x = _v.float_array(x, "x", half=True)
    outer, inner, rows, cols = _split(x, normalized_ndim)
    weight, bias = _affine(x, inner, weight, bias)
    eps = _v.nonneg_float(eps, "eps")
    y = _v.output(out, x.shape, x.dtype)
    mean = np.empty(outer, _v.compute_dtype(x.dtype))
    rstd = np.empty(outer, mean.dtype)
    _k.layer_norm(x, weight, bias, y, mean, rstd, rows, cols, eps)
    return y, NormStats(mean, rstd)


def _affine(x, inner, weight, bias=None):
    """The checked affine parameters of a norm of x as the kernel takes them: x's dtype,
    or float32 for 16-bit x (where they may be float32 or x's dtype, both alike)."""
    weight, wdt = _v.affine_param(weight, "weight", x.dtype, inner)
    bias, bdt = _v.affine_param(bias, "bias", x.dtype, inner)
    if wdt is not None and bdt is not None and wdt != bdt:
        raise TypeError(f"bias has dtype {_v.dtype_name(bdt)} but weight has dtype "
                        f"{_v.dtype_name(wdt)}; the affine parameters share one dtype")
    return weight, bias


def _stats_arrays(stats, x, need_mean, x_name="x"):
    if not isinstance(stats, tuple) or len(stats) != 2:
        raise TypeError("stats must be the NormStats (mean, rstd) returned by the forward")
    mean, rstd = stats
    if not need_mean and mean is not None:
        # LayerNorm's rstd is 1/sqrt(var + eps), not RMSNorm's 1/sqrt(mean(x^2) + eps):
        # the backward would silently compute the wrong gradient
        raise ValueError("stats.mean is not None: these are layer_norm's statistics; "
                         "rms_norm_backward needs the NormStats returned by rms_norm")
    rstd = _v.float_array(rstd, "stats.rstd")
    _v.same_dtype(rstd, _v.compute_dtype(x.dtype), "stats.rstd",
                  "the statistics of x" if _v.is_half(x.dtype) else "x")
    nd = x.ndim - rstd.ndim
    if nd < 1 or x.shape[:rstd.ndim] != rstd.shape:
        raise ValueError(f"stats.rstd has shape {rstd.shape}, which is not the leading "
                         f"shape of {x_name} {x.shape}")
    if need_mean:
        if mean is None:
            raise ValueError("stats.mean is None (rms_norm's statistics?); "
                             "layer_norm_backward needs the NormStats returned by layer_norm")
        mean = _v.like(mean, "stats.mean", rstd, "stats.rstd")
    return mean, rstd, nd


def _backward_args(dy: Any, x: Any, stats: Any, weight: Any, need_mean: bool,
                   x_name: str = "x", out: Any = None
                   ) -> tuple[FloatArray, FloatArray, Optional[FloatArray], FloatArray,
                              Optional[FloatArray], int, int, FloatArray,
                              Optional[FloatArray], np.dtype]:
    """Checked arguments and outputs of a LayerNorm/RMSNorm backward:
    (x, dy, mean, rstd, weight, rows, cols, dx, dweight, pdt); dx is `out` when given.
    For 16-bit x, weight is handed over as float32 and dweight is float32; pdt is the
    dtype the parameter gradients are returned in (the weight's, else float32)."""
    x = _v.float_array(x, x_name, half=True)
    dy = _v.like(dy, "dy", x, x_name, half=True)
    mean, rstd, nd = _stats_arrays(stats, x, need_mean=need_mean, x_name=x_name)
    inner = x.shape[x.ndim - nd:]
    try:
        weight, pdt = _v.affine_param(weight, "weight", x.dtype, inner)
    except ValueError as e:  # the normalized shape comes from the stats: say so
        raise ValueError(f"{e}: the normalized shape {x_name}.shape[{x.ndim - nd}:] that "
                         f"stats.rstd of shape {rstd.shape} implies") from None
    rows, cols = rstd.size, (x.size // rstd.size if rstd.size else int(np.prod(inner)))
    dx = _v.output(out, x.shape, x.dtype) if out is not None else _v.empty(x.shape, x.dtype)
    dweight = np.empty(inner, rstd.dtype) if weight is not None else None
    return x, dy, mean, rstd, weight, rows, cols, dx, dweight, pdt or rstd.dtype


def _param_grads(pdt, *grads):
    """The parameter gradients in their dtype `pdt`: the kernel's float32 ones rounded
    once for a 16-bit weight, else as they are."""
    return tuple(g if g is None or g.dtype == pdt else g.astype(pdt) for g in grads)


def layer_norm_backward(dy: ArrayLike, x: ArrayLike, stats: NormStats,
                        weight: Optional[ArrayLike] = None, *, bias: bool = True,
                        out: Optional[FloatArray] = None
                        ) -> tuple[FloatArray, Optional[FloatArray], Optional[FloatArray]]:
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
    out : ndarray, optional
        dx is written into it and returned (x's shape and dtype, C-contiguous,
        writable); it may be dy or x itself.

    Returns
    -------
    dx : ndarray
    dweight : ndarray or None
        None when weight is None.
    dbias : ndarray or None
        None when ``bias`` is False.
    """
    # the common call runs whole in compiled code, as layer_norm's (None: checked path)
    fast = _k.layer_norm_backward_fast(dy, x, stats, weight, bias, out)
    if fast is not None:
        return fast
    x, dy, mean, rstd, weight, rows, cols, dx, dweight, pdt = _backward_args(
        dy, x, stats, weight, need_mean=True, out=out)
    dbias = np.empty(x.shape[rstd.ndim:], rstd.dtype) if bias else None
    _k.layer_norm_backward(dy, x, mean, rstd, weight, dx, dweight, dbias, rows, cols)
    return (dx,) + _param_grads(pdt, dweight, dbias)


def rms_norm(x: ArrayLike, weight: Optional[ArrayLike] = None, eps: Optional[float] = None,
             *, normalized_ndim: int = 1,
             out: Optional[FloatArray] = None) -> tuple[FloatArray, NormStats]:
    r"""Root-mean-square normalization over the last ``normalized_ndim`` axes
    (``F.rms_norm``).

    .. math:: y = \frac{x}{\sqrt{\mathrm{mean}(x^2) + \epsilon}} \cdot w

    Parameters
    ----------
    x : ndarray, float32, float64, float16 or bfloat16
        16-bit x is storage only (float32 statistics and arithmetic, y rounded once).
    weight : ndarray or None
        Shape ``x.shape[-normalized_ndim:]``, x's dtype (or float32 with 16-bit x).
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
    fast = _k.rms_norm_fast(x, weight, eps, normalized_ndim, out)  # see layer_norm
    if fast is not None:
        return fast
    x = _v.float_array(x, "x", half=True)
    outer, inner, rows, cols = _split(x, normalized_ndim)
    weight, _ = _affine(x, inner, weight)
    eps = _v.half_eps(x.dtype) if eps is None else _v.nonneg_float(eps, "eps")
    y = _v.output(out, x.shape, x.dtype)
    rstd = np.empty(outer, _v.compute_dtype(x.dtype))
    _k.rms_norm(x, weight, y, rstd, rows, cols, eps)
    return y, NormStats(None, rstd)


def rms_norm_backward(dy: ArrayLike, x: ArrayLike, stats: NormStats,
                      weight: Optional[ArrayLike] = None, *,
                      out: Optional[FloatArray] = None
                      ) -> tuple[FloatArray, Optional[FloatArray]]:
    r"""Gradients of :func:`rms_norm` with respect to x and weight.

    With :math:`g = dy \cdot w` over each group of ``n`` elements,

    .. math::
        dx = r\,\bigl(g - x\,r^2\,\overline{g x}\bigr),\quad
        dw = \textstyle\sum_{\text{rows}} dy\,x\,r .

    ``out`` is as in :func:`layer_norm_backward`.

    Returns
    -------
    dx : ndarray
    dweight : ndarray or None
        None when weight is None.
    """
    fast = _k.rms_norm_backward_fast(dy, x, stats, weight, out)  # see layer_norm_backward
    if fast is not None:
        return fast
    x, dy, _, rstd, weight, rows, cols, dx, dweight, pdt = _backward_args(
        dy, x, stats, weight, need_mean=False, out=out)
    _k.rms_norm_backward(dy, x, rstd, weight, dx, dweight, rows, cols)
    return (dx,) + _param_grads(pdt, dweight)


def _batch_shape(x):
    """(batch, channels, inner) of x seen as (N, C, *spatial)."""
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, C) or (N, C, *spatial), got shape {x.shape}")
    inner = 1
    for s in x.shape[2:]:
        inner *= s
    return x.shape[0], x.shape[1], inner


def _batch_counter(num_batches_tracked):
    """The 0-d int64 array counting training batches (updated in place)."""
    a = num_batches_tracked
    if not isinstance(a, np.ndarray) or a.dtype != np.int64:
        raise TypeError("num_batches_tracked must be a 0-d int64 numpy array, got "
                        + (f"dtype {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__))
    if a.shape != ():
        raise ValueError(f"num_batches_tracked must be a 0-d array, got shape {a.shape}")
    if not a.flags.writeable:
        raise ValueError("num_batches_tracked must be writable (it is updated in place)")
    return a


def _running_stats(running_mean, running_var, dtype, shape, training, x_dtype=None):
    """Checked running statistics: both or neither; updated in place in training mode
    (so C-contiguous and writable), read in eval mode, where they are required.  dtype:
    theirs, x's compute dtype (float32 for 16-bit x_dtype)."""
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must be given together")
    if x_dtype is not None and _v.is_half(x_dtype):
        for a, name in ((running_mean, "running_mean"), (running_var, "running_var")):
            if isinstance(a, np.ndarray) and a.dtype != dtype:
                raise TypeError(f"{name} has dtype {_v.dtype_name(a.dtype)}; with "
                                f"{_v.dtype_name(x_dtype)} x the running statistics are "
                                f"{_v.dtype_name(dtype)} (16-bit storage keeps its "
                                "statistics in float32)")
    if training:
        if running_mean is not None:
            running_mean = _v.inplace_array(running_mean, "running_mean", dtype, shape)
            running_var = _v.inplace_array(running_var, "running_var", dtype, shape)
    else:
        if running_mean is None:
            raise ValueError("batch_norm with training=False needs running_mean and "
                             "running_var")
        running_mean = _v.optional_param(running_mean, "running_mean", dtype, shape)
        running_var = _v.optional_param(running_var, "running_var", dtype, shape)
    return running_mean, running_var


def _running_factor(momentum, num_batches_tracked, has_running, training):
    """(num_batches_tracked checked, the weight of this batch in the running statistics):
    momentum, or 1 / count for momentum=None (nn.BatchNorm increments the count first,
    then averages with 1 / count), 0 without running statistics."""
    if num_batches_tracked is not None:
        num_batches_tracked = _batch_counter(num_batches_tracked)
    if momentum is not None:
        return num_batches_tracked, _v.probability(momentum, "momentum")
    if num_batches_tracked is not None:
        return num_batches_tracked, 1.0 / (int(num_batches_tracked) + 1)
    if training and has_running:
        raise ValueError("momentum=None (cumulative moving average) needs "
                         "num_batches_tracked")
    return None, 0.0


def _batch_norm_args(x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                     training: Any, momentum: Any, eps: Any, num_batches_tracked: Any,
                     out: Any, local: bool = True
                     ) -> tuple[FloatArray, tuple[int, int, int], Optional[FloatArray],
                                Optional[FloatArray], Optional[FloatArray],
                                Optional[FloatArray], Optional[NDArray[np.int64]], bool,
                                float, float, FloatArray]:
    """The checked arguments of batch_norm: (x, (batch, channels, inner), weight, bias,
    running_mean, running_var, num_batches_tracked, training, factor, eps, y).  local:
    x is the whole batch, so one value per channel is refused here (a synchronized
    BatchNorm checks the count of all ranks instead)."""
    x = _v.float_array(x, "x", half=True)
    dims = _batch_shape(x)
    shape = (dims[1],)
    weight, bias = _affine(x, shape, weight, bias)
    training = _v.flag(training, "training")
    running_mean, running_var = _running_stats(running_mean, running_var,
                                               _v.compute_dtype(x.dtype), shape, training,
                                               x.dtype)
    num_batches_tracked, factor = _running_factor(momentum, num_batches_tracked,
                                                  running_mean is not None, training)
    eps = _v.nonneg_float(eps, "eps")
    if local and training and dims[0] * dims[2] == 1:
        raise ValueError("Expected more than 1 value per channel when training, "
                         f"got input size {x.shape}")
    y = _v.output(out, x.shape, x.dtype)
    return (x, dims, weight, bias, running_mean, running_var, num_batches_tracked,
            training, factor, eps, y)


def batch_norm(x: ArrayLike, weight: Optional[ArrayLike] = None,
               bias: Optional[ArrayLike] = None, running_mean: Optional[FloatArray] = None,
               running_var: Optional[FloatArray] = None, *, training: bool = True,
               momentum: Optional[float] = 0.1, eps: float = 1e-5,
               num_batches_tracked: Optional[NDArray[np.int64]] = None,
               out: Optional[FloatArray] = None) -> tuple[FloatArray, NormStats]:
    r"""Batch normalization over the batch and spatial axes (``nn.BatchNorm1d/2d/3d``).

    For each channel c (axis 1) of x, shape (N, C) or (N, C, \*spatial),

    .. math:: y = \frac{x - \mu_c}{\sqrt{\sigma^2_c + \epsilon}} \cdot w_c + b_c

    In training mode :math:`\mu_c` and :math:`\sigma^2_c` are the mean and the *biased*
    variance over the :math:`n = N \cdot \prod \text{spatial}` values of the channel,
    and the running statistics, if given, are updated in place:

    .. math::
        \text{running\_mean} \leftarrow (1 - m)\,\text{running\_mean} + m\,\mu_c,\quad
        \text{running\_var} \leftarrow (1 - m)\,\text{running\_var}
        + m\,\sigma^2_c\,\frac{n}{n - 1}

    (the *unbiased* variance, as PyTorch).  In eval mode (``training=False``) the
    running statistics take the place of :math:`\mu_c, \sigma^2_c`.

    This is ``torch.nn.functional.batch_norm`` together with the bookkeeping of
    ``nn.BatchNorm``: ``num_batches_tracked`` is incremented in place in training mode,
    and ``momentum=None`` gives the cumulative moving average with
    :math:`m = 1 / \text{num\_batches\_tracked}` (after the increment).  An empty
    batch leaves the running statistics alone, as in PyTorch.

    Parameters
    ----------
    x : ndarray, float32, float64, float16 or bfloat16
        Shape (N, C) or (N, C, \*spatial).  16-bit x is storage only (float32
        statistics and arithmetic, y rounded once).
    weight, bias : ndarray or None
        Affine parameters of shape (C,), x's dtype (or float32 with 16-bit x).
    running_mean, running_var : ndarray or None
        Shape (C,), x's dtype (float32 with 16-bit x), given together.  Updated in
        place in training mode, so they must then be C-contiguous and writable;
        required in eval mode.
    training : bool
        Normalize with the batch statistics (True) or the running ones (False).
    momentum : float in [0, 1] or None
        Weight of the batch in the running statistics, default 0.1; None means the
        cumulative average and requires ``num_batches_tracked``.
    eps : float
        Added to the variance, default 1e-5.
    num_batches_tracked : ndarray or None
        0-d int64 array, incremented in place by each training call.
    out : ndarray, optional
        C-contiguous array of x's shape and dtype to write y into (may be x itself).

    Returns
    -------
    y : ndarray
    stats : NormStats
        Per-channel ``mean`` and ``rstd = 1 / sqrt(var + eps)``, shape (C,), x's dtype:
        the batch statistics in training mode (what :func:`batch_norm_backward` needs),
        a copy of running_mean and ``1 / sqrt(running_var + eps)`` in eval mode.

    Raises
    ------
    ValueError
        In training mode with one value per channel (``N * prod(spatial) == 1``), as
        PyTorch: the variance of one value is not defined.
    """
    # the common call runs whole in compiled code, as layer_norm's (None: checked path)
    fast = _k.batch_norm_fast(x, weight, bias, running_mean, running_var, training,
                              momentum, eps, num_batches_tracked, out)
    if fast is not None:
        return fast
    x, (batch, channels, inner), weight, bias, running_mean, running_var, \
        num_batches_tracked, training, factor, eps, y = _batch_norm_args(
            x, weight, bias, running_mean, running_var, training, momentum, eps,
            num_batches_tracked, out)
    mean = np.empty(channels, _v.compute_dtype(x.dtype))
    rstd = np.empty(channels, mean.dtype)
    _k.batch_norm(x, weight, bias, y, mean, rstd, running_mean, running_var, batch,
                  channels, inner, training, factor, eps)
    if training and num_batches_tracked is not None:
        num_batches_tracked += 1
    return y, NormStats(mean, rstd)


def batch_norm_backward(dy: ArrayLike, x: ArrayLike, stats: NormStats,
                        weight: Optional[ArrayLike] = None, *, bias: bool = True,
                        out: Optional[FloatArray] = None
                        ) -> tuple[FloatArray, Optional[FloatArray], Optional[FloatArray]]:
    r"""Gradients of :func:`batch_norm` in training mode, through the batch statistics.

    With :math:`\hat x = (x - \mu_c)\,r_c` and the means taken over the
    :math:`n = N \cdot \prod\text{spatial}` values of each channel,

    .. math::
        dx = w_c\,r_c\,\bigl(dy - \overline{dy} - \hat x\,\overline{dy\,\hat x}\bigr),\quad
        dw_c = \textstyle\sum dy\,\hat x,\quad
        db_c = \textstyle\sum dy .

    This is the gradient PyTorch's autograd gives for ``F.batch_norm(training=True)``.
    (In eval mode the statistics are constants and dx is simply ``dy * w_c * r_c``.)

    Parameters
    ----------
    dy : ndarray
        Gradient of the loss with respect to y, shape and dtype of x.
    x : ndarray
        The forward input, (N, C) or (N, C, \*spatial).
    stats : NormStats
        As returned by :func:`batch_norm` in training mode: mean and rstd of shape (C,).
    weight : ndarray or None
        The forward's weight, shape (C,).
    bias : bool
        Whether to compute dbias (the forward had a bias).
    out : ndarray, optional
        dx is written into it and returned (x's shape and dtype, C-contiguous,
        writable); it may be dy or x itself.

    Returns
    -------
    dx : ndarray
    dweight : ndarray or None
        Shape (C,); None when weight is None.
    dbias : ndarray or None
        Shape (C,); None when ``bias`` is False.
    """
    fast = _k.batch_norm_backward_fast(dy, x, stats, weight, bias, out)  # see batch_norm
    if fast is not None:
        return fast
    x, (batch, channels, inner), dy, mean, rstd, weight, dx, dweight, dbias, pdt = \
        _batch_backward_args(dy, x, stats, weight, bias, out)
    _k.batch_norm_backward(dy, x, mean, rstd, weight, dx, dweight, dbias, batch, channels,
                           inner)
    return (dx,) + _param_grads(pdt, dweight, dbias)


def _batch_backward_args(dy: Any, x: Any, stats: Any, weight: Any, bias: Any, out: Any,
                         who: str = "batch_norm"
                         ) -> tuple[FloatArray, tuple[int, int, int], FloatArray,
                                    Optional[FloatArray], Optional[FloatArray],
                                    Optional[FloatArray],
                                    FloatArray, Optional[FloatArray], Optional[FloatArray],
                                    np.dtype]:
    """The checked arguments and outputs of a BatchNorm backward: (x, (batch, channels,
    inner), dy, mean, rstd, weight, dx, dweight, dbias, pdt); dx is `out` when given.
    16-bit x: float32 statistics, weight handed over as float32, dweight/dbias
    float32, pdt the dtype they are returned in."""
    x = _v.float_array(x, "x", half=True)
    dims = _batch_shape(x)
    dy = _v.like(dy, "dy", x, half=True)
    if not isinstance(stats, tuple) or len(stats) != 2:
        raise TypeError(f"stats must be the NormStats (mean, rstd) returned by {who}")
    shape = (dims[1],)
    if stats[0] is None:
        raise ValueError(f"stats.mean is None; {who}_backward needs the mean")
    sdt = _v.compute_dtype(x.dtype)
    mean = _v.optional_param(stats[0], "stats.mean", sdt, shape)
    rstd = _v.optional_param(stats[1], "stats.rstd", sdt, shape)
    weight, pdt = _v.affine_param(weight, "weight", x.dtype, shape)
    dx = _v.output(out, x.shape, x.dtype) if out is not None else _v.empty(x.shape, x.dtype)
    dweight = np.empty(shape, sdt) if weight is not None else None
    dbias = np.empty(shape, sdt) if bias else None
    return x, dims, dy, mean, rstd, weight, dx, dweight, dbias, pdt or sdt


# ---- fused residual add + dropout + normalization ----------------------------------------
def _fused_forward(x, residual, weight, bias, p, eps, training, rng, normalized_ndim,
                   store_mask, layer):
    """The call of add_dropout_layer_norm (layer) / add_dropout_rms_norm: the common
    call whole in compiled code (as layer_norm's), else checked here."""
    fast = _k.add_dropout_norm_fast(x, residual, weight, bias, p, eps, training, rng,
                                    normalized_ndim, store_mask, layer)
    if fast is not None:
        return fast
    p = _v.probability(p)
    training = _v.flag(training, "training")
    store_mask = _v.flag(store_mask, "store_mask")
    x = _v.float_array(x, "x", half=True)
    residual = _v.like(residual, "residual", x, half=True)
    outer, inner, rows, cols = _split(x, normalized_ndim)
    weight, bias = _affine(x, inner, weight, bias if layer else None)
    if eps is None and not layer:
        eps = _v.half_eps(x.dtype)
    eps = _v.nonneg_float(eps, "eps")
    drop = training and p > 0.0
    gen = _dropout.as_generator(rng) if drop else None
    y = _v.empty(x.shape, x.dtype)
    s = _v.empty(x.shape, x.dtype)
    mean = np.empty(outer, _v.compute_dtype(x.dtype)) if layer else None
    rstd = np.empty(outer, _v.compute_dtype(x.dtype))
    bits = np.empty((x.size + 7) // 8, np.uint8) if drop and store_mask else None
    seed = counter = 0
    if drop:  # the generator advances last: nothing above may fail after it
        seed, counter = gen.seed, gen._take(x.size)
    _k.add_dropout_norm(x, residual, weight, bias, y, s, mean, rstd, bits, rows, cols, eps,
                        p if drop else 0.0, seed, counter, layer)
    mask = (_dropout.DropoutMask._trusted(x.shape, p, seed, counter, bits) if drop
            else None)
    return y, s, mask, _stats(mean, rstd)


def add_dropout_layer_norm(x: ArrayLike, residual: ArrayLike,
                           weight: Optional[ArrayLike] = None,
                           bias: Optional[ArrayLike] = None, p: float = 0.0,
                           eps: float = 1e-5, *, training: bool = True, rng: RNG = None,
                           normalized_ndim: int = 1, store_mask: bool = True
                           ) -> tuple[FloatArray, FloatArray, Optional[DropoutMask],
                                      NormStats]:
    r"""Residual add, dropout and LayerNorm in one pass (a pre-norm transformer block).

    .. math::
        s = \text{residual} + \operatorname{dropout}_p(x), \qquad
        y = \operatorname{LayerNorm}(s)\cdot w + b

    ``x`` is the output of a block's branch, ``residual`` the stream it is added to;
    ``s`` is the new residual stream (the next block adds to it) and ``y`` the
    normalized input of the next branch.  The result is bitwise that of
    ``d, mask = dropout(x, p, rng=rng)``, ``s = residual + d``,
    ``y, stats = layer_norm(s, weight, bias, eps)`` -- the mask is the one
    :func:`gradkit.dropout.dropout` draws from the same generator state -- but x and
    residual are read once and s, y and the mask written once, instead of three passes.

    float16/bfloat16 x and residual (16-bit storage): ``s`` is ``residual + x * m``
    computed in float32 and rounded once (the unfused calls round ``d`` first), y is
    ``layer_norm`` of that 16-bit ``s`` bitwise; statistics float32.

    Parameters
    ----------
    x, residual : ndarray, float32, float64, float16 or bfloat16, same shape and dtype
    weight, bias : ndarray or None
        Affine parameters of shape ``x.shape[-normalized_ndim:]``: x's dtype, or float32
        with 16-bit x.
    p : float in [0, 1]
        Drop probability of x's elements, default 0 (no dropout).
    eps : float
        Added to the variance, default 1e-5.
    training : bool
        False: no dropout (``s = residual + x``), as is ``p = 0``; then no random
        numbers are drawn, the generator does not advance and the mask is None.
    rng : Generator, int or None
        See :func:`gradkit.random.as_generator`; advances by ``x.size`` with dropout.
    normalized_ndim : int
        How many trailing axes are normalized together.
    store_mask : bool
        True: the mask carries its bits (1 bit per element); False: only its
        ``(seed, counter)``, and the backward regenerates it.

    Returns
    -------
    y : ndarray
    residual_out : ndarray
        ``s``, the residual stream after the add.
    mask : DropoutMask or None
        None without dropout.
    stats : NormStats
        As :func:`layer_norm` returns for ``s``.
    """
    return _fused_forward(x, residual, weight, bias, p, eps, training, rng,
                          normalized_ndim, store_mask, True)


def add_dropout_rms_norm(x: ArrayLike, residual: ArrayLike,
                         weight: Optional[ArrayLike] = None, p: float = 0.0,
                         eps: Optional[float] = None, *, training: bool = True,
                         rng: RNG = None, normalized_ndim: int = 1, store_mask: bool = True
                         ) -> tuple[FloatArray, FloatArray, Optional[DropoutMask],
                                    NormStats]:
    r"""Residual add, dropout and RMSNorm in one pass: :func:`add_dropout_layer_norm`
    with :func:`rms_norm` in place of LayerNorm.

    .. math::
        s = \text{residual} + \operatorname{dropout}_p(x), \qquad
        y = \frac{s}{\sqrt{\mathrm{mean}(s^2) + \epsilon}}\cdot w

    ``eps=None`` means ``np.finfo(x.dtype).eps``.  Returns ``(y, residual_out, mask,
    stats)`` with ``stats.mean`` None, bitwise those of ``dropout`` + add +
    :func:`rms_norm`.
    """
    return _fused_forward(x, residual, weight, None, p, eps, training, rng,
                          normalized_ndim, store_mask, False)


def _fused_backward(dy, residual_out, stats, mask, weight, bias, dresidual_out, layer):
    """The call of the fused backwards: (dx, dresidual, dweight, dbias) (LayerNorm) or
    (dx, dresidual, dweight), the common call whole in compiled code."""
    fast = _k.add_dropout_norm_backward_fast(dy, residual_out, stats, mask, weight, bias,
                                             dresidual_out, layer)
    if fast is not None:
        return fast
    s, dy, mean, rstd, weight, rows, cols, dx, dweight, pdt = _backward_args(
        dy, residual_out, stats, weight, need_mean=layer, x_name="residual_out")
    if dresidual_out is not None:
        dresidual_out = _v.like(dresidual_out, "dresidual_out", s, "residual_out", half=True)
    p, seed, counter, bits = 0.0, 0, 0, None
    if mask is not None:
        shape, p, seed, counter, bits = _dropout._checked_mask(mask)
        if shape != s.shape:
            raise ValueError(f"mask has shape {shape}, expected residual_out's shape "
                             f"{s.shape}")
    dres = _v.empty(s.shape, s.dtype)
    dbias = np.empty(s.shape[rstd.ndim:], rstd.dtype) if layer and bias else None
    _k.add_dropout_norm_backward(dy, dresidual_out, s, mean, rstd, weight, bits, dx, dres,
                                 dweight, dbias, rows, cols, p, seed, counter, layer)
    return (dx, dres) + _param_grads(pdt, dweight, dbias)


def add_dropout_layer_norm_backward(dy: ArrayLike, residual_out: ArrayLike,
                                    stats: NormStats, mask: Optional[DropoutMask],
                                    weight: Optional[ArrayLike] = None, *,
                                    bias: bool = True,
                                    dresidual_out: Optional[ArrayLike] = None
                                    ) -> tuple[FloatArray, FloatArray,
                                               Optional[FloatArray], Optional[FloatArray]]:
    r"""Gradients of :func:`add_dropout_layer_norm`, in one pass.

    .. math::
        ds = \operatorname{layer\_norm\_backward}(dy, s) + ds_\text{next},\quad
        d\,\text{residual} = ds,\quad dx = ds \cdot m,\quad
        dw = \textstyle\sum dy\,\hat s,\quad db = \textstyle\sum dy

    with ``m`` the dropout mask (``1/(1-p)`` or 0), from its bits or regenerated from
    its seed.  Bitwise :func:`layer_norm_backward`, ``+ dresidual_out`` and
    :func:`gradkit.dropout.dropout_backward` in sequence (16-bit: each of the three
    rounded once to the 16-bit dtype, the sum computed in float32; dweight and dbias
    in the weight's dtype, float32 without weight).

    Parameters
    ----------
    dy : ndarray
        Gradient with respect to y.
    residual_out : ndarray
        The forward's ``residual_out`` (s).
    stats : NormStats
        As the forward returned them.
    mask : DropoutMask or None
        As the forward returned it (None: no dropout).
    weight : ndarray or None
        The forward's weight.
    bias : bool
        Whether to compute dbias (the forward had a bias).
    dresidual_out : ndarray or None
        The gradient reaching ``residual_out`` from the rest of the network (the next
        residual add), added to ds; None when there is none.

    Returns
    -------
    dx : ndarray
        Gradient with respect to x.
    dresidual : ndarray
        Gradient with respect to residual (= ds).
    dweight : ndarray or None
        None when weight is None.
    dbias : ndarray or None
        None when ``bias`` is False.
    """
    bias = _v.flag(bias, "bias")
    return _fused_backward(dy, residual_out, stats, mask, weight, bias, dresidual_out,
                           True)


def add_dropout_rms_norm_backward(dy: ArrayLike, residual_out: ArrayLike, stats: NormStats,
                                  mask: Optional[DropoutMask],
                                  weight: Optional[ArrayLike] = None, *,
                                  dresidual_out: Optional[ArrayLike] = None
                                  ) -> tuple[FloatArray, FloatArray, Optional[FloatArray]]:
    r"""Gradients of :func:`add_dropout_rms_norm`, in one pass: as
    :func:`add_dropout_layer_norm_backward` with :func:`rms_norm_backward`.

    Returns
    -------
    dx, dresidual : ndarray
    dweight : ndarray or None
    """
    return _fused_backward(dy, residual_out, stats, mask, weight, False, dresidual_out,
                           False)[:3]


# ---- BatchNorm in steps, and synchronized across processes ---------------------------
# Imported last: these modules build on the helpers above (`from .norm import ...`).
from ._batch_norm_steps import (BatchNormStats, batch_norm_backward_elemt,  # noqa: E402
                                batch_norm_backward_reduce, batch_norm_elemt,
                                batch_norm_gather_stats, batch_norm_merge_stats,
                                batch_norm_stats)
from ._sync_batch_norm import sync_batch_norm, sync_batch_norm_backward  # noqa: E402

_STEPS = ["BatchNormStats", "batch_norm_stats", "batch_norm_merge_stats",
          "batch_norm_gather_stats", "batch_norm_elemt", "batch_norm_backward_reduce",
          "batch_norm_backward_elemt", "sync_batch_norm", "sync_batch_norm_backward"]
__all__ += _STEPS
for _name in _STEPS:  # public here (documentation, pickles, reprs say gradkit.norm)
    globals()[_name].__module__ = __name__
