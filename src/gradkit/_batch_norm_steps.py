r"""BatchNorm in steps: the training-mode :func:`~gradkit.norm.batch_norm` and
:func:`~gradkit.norm.batch_norm_backward` cut where a batch split across processes must
combine per-channel numbers -- PyTorch's SyncBatchNorm decomposition
(``torch.batch_norm_stats``, ``batch_norm_gather_stats_with_counts``,
``batch_norm_elemt``, ``batch_norm_backward_reduce``, ``batch_norm_backward_elemt``),
so that any engine (MPI, Dask, Ray, threads) can drive a BatchNorm over the whole batch::

    part = batch_norm_stats(x)                          # each rank: (n, mean, M2)
    counts, means, m2s = <all ranks' parts, gathered>   # one collective
    mean, invstd = batch_norm_gather_stats(counts, means, m2s, running_mean, running_var)
    y = batch_norm_elemt(x, weight, bias, mean, invstd)
    ...
    sum_dy, sum_dy_xmu, dweight, dbias = batch_norm_backward_reduce(dy, x, m, r, weight)
    <sum_dy, sum_dy_xmu summed over the ranks>          # one collective
    dx = batch_norm_backward_elemt(dy, x, m, r, weight, sum_dy, sum_dy_xmu, count)

(m, r: the mean and invstd rounded to the statistics' dtype, as ``batch_norm`` saves
them: x's dtype, float32 for float16/bfloat16 x.)  On one part the steps give
``batch_norm``'s and ``batch_norm_backward``'s results bit for bit, in 16-bit storage
too (x, y, dy, dx float16 or bfloat16, the arithmetic float32, each output rounded
once; weight and bias float32 or x's dtype).  The per-channel statistics and sums are
float64 whatever x's dtype (the kernels accumulate in float64), so the merge loses
nothing to the exchange.  Imported into :mod:`gradkit.norm`, where they are public.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Optional

import numpy as np

from . import _validation as _v
from ._ext import norm as _k
from .norm import _affine, _batch_shape, _param_grads, _running_factor, _running_stats

if TYPE_CHECKING:
    from ._typing import ArrayLike, FloatArray, NDArray

__all__ = ["BatchNormStats", "batch_norm_stats", "batch_norm_merge_stats",
           "batch_norm_gather_stats", "batch_norm_elemt", "batch_norm_backward_reduce",
           "batch_norm_backward_elemt"]

F64 = _v.FLOAT64


class BatchNormStats(NamedTuple):
    """Per-channel statistics of (part of) a batch, mergeable exactly.

    n : int
        Values per channel, ``N * prod(spatial)`` (the count).
    mean : ndarray, float64, shape (C,)
        Mean of each channel (0 for an empty part).
    m2 : ndarray, float64, shape (C,)
        :math:`M_2 = \\sum (x - \\text{mean})^2` of each channel (0 for an empty part).
    """
    n: int
    mean: NDArray[np.float64]
    m2: NDArray[np.float64]


def _parts(counts, means, m2s):
    """Checked stacked parts: counts (P,) int64 >= 0, means and m2s (P, C) float64."""
    c = np.asarray(counts)
    if c.dtype.kind not in "iu" or c.ndim != 1:
        raise TypeError(f"counts must be a 1-D integer array (one count per part), got "
                        f"{'dtype ' + str(c.dtype) if c.ndim == 1 else f'shape {c.shape}'}")
    if (c < 0).any():
        raise ValueError(f"counts must be >= 0, got {c.min()}")
    c = np.ascontiguousarray(c, np.int64)
    out = []
    for name, a in (("means", means), ("m2s", m2s)):
        a = _v.float_array(a, name)
        if a.ndim != 2 or a.shape[0] != c.shape[0]:
            raise ValueError(f"{name} must have shape (parts, C) = ({c.shape[0]}, C) to "
                             f"match counts, got {a.shape}")
        out.append(np.ascontiguousarray(a, F64))
    if out[0].shape != out[1].shape:
        raise ValueError(f"m2s must have the shape of means {out[0].shape}, got "
                         f"{out[1].shape}")
    return c, out[0], out[1]


def _channel_values(a, name, channels, dtype, x=None):
    """A (C,) per-channel array as `dtype`; with x given, it must be float64 or the
    dtype of x's statistics (x's own, float32 for 16-bit x; float64 to that dtype
    rounds, as batch_norm rounds the statistics it saves)."""
    a = _v.float_array(a, name, half=x is not None)  # 16-bit: refused just below
    if x is not None and a.dtype != _v.compute_dtype(x.dtype) and a.dtype != F64:
        what = ("the float32 of x's statistics" if _v.is_half(x.dtype)
                else f"x's dtype {x.dtype}")
        raise TypeError(f"{name} has dtype {a.dtype}; it must be float64 or {what}")
    if a.shape != (channels,):
        raise ValueError(f"{name} must have shape ({channels},), got {a.shape}")
    return np.ascontiguousarray(a, dtype)


def batch_norm_stats(x: ArrayLike) -> BatchNormStats:
    r"""Per-channel statistics of this part of the batch (``torch.batch_norm_stats``,
    with :math:`M_2` where torch returns ``invstd``, so that parts merge exactly).

    For x of shape (N, C) or (N, C, \*spatial), over the
    :math:`n = N \cdot \prod\text{spatial}` values of each channel c:

    .. math:: \mu_c = \frac{1}{n}\sum x,\qquad M_{2,c} = \sum (x - \mu_c)^2

    accumulated in float64 from centred data as :func:`batch_norm` does (the same code:
    its statistics are these).  x may be float32, float64, float16 or bfloat16 (16-bit
    values are widened exactly).

    Returns
    -------
    BatchNormStats
        ``(n, mean, m2)``: n an int, mean and m2 float64 of shape (C,),
        zeros for an empty part.
    """
    x = _v.float_array(x, "x", half=True)
    batch, channels, inner = _batch_shape(x)
    mean, m2 = np.empty(channels), np.empty(channels)
    _k.batch_norm_stats(x, mean, m2, batch, channels, inner)
    return BatchNormStats(batch * inner, mean, m2)


def batch_norm_merge_stats(counts: ArrayLike, means: ArrayLike,
                           m2s: ArrayLike) -> BatchNormStats:
    r"""Chan's exact merge of the per-channel statistics of several parts.

    Parts :math:`a, b` merge as (Chan, Golub & LeVeque)

    .. math::
        n = n_a + n_b,\quad \delta = \mu_b - \mu_a,\quad
        \mu = \mu_a + \delta\,\frac{n_b}{n},\quad
        M_2 = M_{2,a} + M_{2,b} + \delta^2\,\frac{n_a n_b}{n}

    folded in part order (another order changes the result by round-off only); parts
    with count 0 are skipped, so one part comes through exactly and a merge of merges is
    a merge (a tree reduction, e.g. Dask's, may use it at every node).

    Parameters
    ----------
    counts : array of int, shape (P,)
        Values per channel of each part (>= 0).
    means, m2s : array of float, shape (P, C)
        Each part's per-channel mean and :math:`M_2`, as :func:`batch_norm_stats`
        returns them (float32 is taken exactly as float64).

    Returns
    -------
    BatchNormStats
        The statistics of the parts together.
    """
    c, mu, q = _parts(counts, means, m2s)
    parts, channels = mu.shape
    mean, m2 = np.empty(channels), np.empty(channels)
    count = _k.batch_norm_merge_stats(c, mu, q, mean, m2, parts, channels)
    return BatchNormStats(int(count), mean, m2)


def batch_norm_gather_stats(counts: ArrayLike, means: ArrayLike, m2s: ArrayLike,
                            running_mean: Optional[FloatArray] = None,
                            running_var: Optional[FloatArray] = None, *,
                            momentum: Optional[float] = 0.1, eps: float = 1e-5,
                            num_batches_tracked: Optional[NDArray[np.int64]] = None
                            ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""The whole batch's mean and invstd from its parts' statistics, running statistics
    updated (``torch.batch_norm_gather_stats_with_counts``).

    With :math:`(n, \mu, M_2)` the :func:`batch_norm_merge_stats` of the parts:

    .. math::
        \text{invstd} = \frac{1}{\sqrt{M_2 / n + \epsilon}},\qquad
        \text{running} \leftarrow (1 - m)\,\text{running} + m\,(\mu,\ M_2 / (n - 1))

    (the biased variance normalizes, the unbiased one goes into running_var, as
    :func:`batch_norm`).  ``momentum=None`` is the cumulative average with
    ``num_batches_tracked``, which is incremented in place, as in :func:`batch_norm`.
    An empty batch (n = 0) gives mean 0 and invstd :math:`1/\sqrt{\epsilon}` and leaves
    the running statistics alone.

    Parameters
    ----------
    counts, means, m2s
        The parts, as in :func:`batch_norm_merge_stats`; one part (a merged whole) is
        fine.
    running_mean, running_var : ndarray or None
        Shape (C,), float32 or float64 (both the same), given together; updated in place.
    momentum, eps, num_batches_tracked
        As in :func:`batch_norm`.

    Returns
    -------
    mean, invstd : ndarray, float64, shape (C,)
        For :func:`batch_norm_elemt`.

    Raises
    ------
    ValueError
        When the whole batch holds one value per channel, as :func:`batch_norm`.
    """
    c, mu, q = _parts(counts, means, m2s)
    parts, channels = mu.shape
    dtype = None
    if running_mean is not None:
        dtype = _v.float_array(running_mean, "running_mean").dtype
    running_mean, running_var = _running_stats(running_mean, running_var, dtype,
                                               (channels,), True)
    num_batches_tracked, factor = _running_factor(momentum, num_batches_tracked,
                                                  running_mean is not None, True)
    eps = _v.nonneg_float(eps, "eps")
    if channels and int(c.sum()) == 1:
        raise ValueError("Expected more than 1 value per channel when training, got a "
                         "whole batch of 1 value per channel")
    mean, invstd = np.empty(channels), np.empty(channels)
    _k.batch_norm_gather_stats(c, mu, q, running_mean, running_var, mean, invstd, parts,
                               channels, factor, eps)
    if num_batches_tracked is not None:
        num_batches_tracked += 1
    return mean, invstd


def batch_norm_elemt(x: ArrayLike, weight: Optional[ArrayLike], bias: Optional[ArrayLike],
                     mean: ArrayLike, invstd: ArrayLike, *,
                     out: Optional[FloatArray] = None) -> FloatArray:
    r"""The elementwise normalization of :func:`batch_norm` with given statistics
    (``torch.batch_norm_elemt``):

    .. math:: y = (x - \mu_c)\,\text{invstd}_c\,w_c + b_c

    computed as :func:`batch_norm` computes it (the mean split into a high and a low
    part of the arithmetic's dtype, so data with a large mean keep their accuracy;
    16-bit x: float32 arithmetic, y rounded once).

    Parameters
    ----------
    x : ndarray, float32, float64, float16 or bfloat16
        (N, C) or (N, C, \*spatial).
    weight, bias : ndarray or None
        Shape (C,), x's dtype (float32 or x's dtype for 16-bit x, as
        :func:`batch_norm`).
    mean, invstd : ndarray, shape (C,)
        float64 (from :func:`batch_norm_gather_stats`) or the statistics' dtype (x's,
        float32 for 16-bit x).
    out : ndarray, optional
        C-contiguous array of x's shape and dtype to write y into (may be x itself).

    Returns
    -------
    y : ndarray
    """
    x = _v.float_array(x, "x", half=True)
    batch, channels, inner = _batch_shape(x)
    weight, bias = _affine(x, (channels,), weight, bias)
    mean = _channel_values(mean, "mean", channels, F64, x)
    invstd = _channel_values(invstd, "invstd", channels, F64, x)
    y = _v.output(out, x.shape, x.dtype)
    _k.batch_norm_elemt(x, weight, bias, mean, invstd, y, batch, channels, inner)
    return y


def _backward_args(dy: Any, x: Any, mean: Any, invstd: Any, weight: Any
                   ) -> tuple[NDArray[Any], tuple[int, int, int], NDArray[Any],
                              NDArray[Any], NDArray[Any], Optional[NDArray[Any]],
                              np.dtype]:
    """The checked arguments of the backward steps: (x, (batch, channels, inner), dy,
    mean, invstd, weight, pdt): mean and invstd in the statistics' dtype (float64 ones
    rounded), weight as the kernel takes it, pdt the dtype of the parameter gradients
    (weight's own, else the statistics')."""
    x = _v.float_array(x, "x", half=True)
    dims = _batch_shape(x)
    channels = dims[1]
    dy = _v.like(dy, "dy", x, half=True)
    sdt = _v.compute_dtype(x.dtype)
    mean = _channel_values(mean, "mean", channels, sdt, x)
    invstd = _channel_values(invstd, "invstd", channels, sdt, x)
    weight, pdt = _v.affine_param(weight, "weight", x.dtype, (channels,))
    return x, dims, dy, mean, invstd, weight, pdt or sdt


def batch_norm_backward_reduce(dy: ArrayLike, x: ArrayLike, mean: ArrayLike,
                               invstd: ArrayLike, weight: Optional[ArrayLike] = None, *,
                               bias: bool = True
                               ) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                          Optional[FloatArray], Optional[FloatArray]]:
    r"""The per-channel sums of this part that the BatchNorm backward needs
    (``torch.batch_norm_backward_reduce``):

    .. math::
        \text{sum\_dy}_c = \textstyle\sum dy,\quad
        \text{sum\_dy\_xmu}_c = \textstyle\sum dy\,(x - \mu_c),\quad
        dw_c = \text{invstd}_c\,\text{sum\_dy\_xmu}_c = \textstyle\sum dy\,\hat x,\quad
        db_c = \text{sum\_dy}_c

    over this part's values.  Summed over all parts, sum_dy and sum_dy_xmu give
    :func:`batch_norm_backward_elemt` the whole batch's means; dw and db are this
    part's share of the parameter gradients (a data-parallel optimizer sums or
    averages them with the other gradients).

    Parameters
    ----------
    dy : ndarray
        Gradient with respect to y, x's shape and dtype.
    x : ndarray
        The forward's input.
    mean, invstd : ndarray, shape (C,)
        The forward's statistics in their dtype, x's (float32 for 16-bit x); float64
        ones are rounded to it, as :func:`batch_norm` saves them.
    weight : ndarray or None
        The forward's weight (only whether there is one, and its dtype, matter: dw is
        None without).
    bias : bool
        Whether to return db.

    Returns
    -------
    sum_dy, sum_dy_xmu : ndarray, float64, shape (C,)
    dweight, dbias : ndarray, shape (C,), or None
        In weight's dtype (without weight: the statistics' dtype), as
        :func:`batch_norm_backward` returns them.
    """
    x, (batch, channels, inner), dy, mean, invstd, weight, pdt = _backward_args(
        dy, x, mean, invstd, weight)
    bias = _v.flag(bias, "bias")
    sum_dy, sum_dy_xmu = np.empty(channels), np.empty(channels)
    dweight = np.empty(channels, mean.dtype) if weight is not None else None
    dbias = np.empty(channels, mean.dtype) if bias else None
    _k.batch_norm_backward_reduce(dy, x, mean, invstd, dweight, dbias, sum_dy, sum_dy_xmu,
                                  batch, channels, inner)
    dweight, dbias = _param_grads(pdt, dweight, dbias)
    return sum_dy, sum_dy_xmu, dweight, dbias


def batch_norm_backward_elemt(dy: ArrayLike, x: ArrayLike, mean: ArrayLike,
                              invstd: ArrayLike, weight: Optional[ArrayLike],
                              sum_dy: ArrayLike, sum_dy_xmu: ArrayLike, count: int, *,
                              out: Optional[FloatArray] = None) -> FloatArray:
    r"""dx of this part from the whole batch's sums (``torch.batch_norm_backward_elemt``):

    .. math::
        dx = w_c\,\text{invstd}_c\Bigl(dy - \frac{\text{sum\_dy}_c}{n}
        - (x - \mu_c)\,\text{invstd}_c^2\,\frac{\text{sum\_dy\_xmu}_c}{n}\Bigr)

    with n the whole batch's count per channel (torch takes the parts' counts; their
    sum is n).

    Parameters
    ----------
    dy, x, mean, invstd, weight
        As in :func:`batch_norm_backward_reduce` (weight: the forward's, or None).
    sum_dy, sum_dy_xmu : ndarray, shape (C,)
        The sums of :func:`batch_norm_backward_reduce` added over all parts.
    count : int
        Values per channel in the whole batch, at least this part's
        ``N * prod(spatial)``.
    out : ndarray, optional
        dx is written into it (x's shape and dtype, C-contiguous, writable; may be dy
        or x itself).

    Returns
    -------
    dx : ndarray
    """
    x, (batch, channels, inner), dy, mean, invstd, weight, _ = _backward_args(
        dy, x, mean, invstd, weight)
    sum_dy = _channel_values(sum_dy, "sum_dy", channels, F64)
    sum_dy_xmu = _channel_values(sum_dy_xmu, "sum_dy_xmu", channels, F64)
    count = _v.integer(count, "count", minimum=batch * inner)
    dx = _v.output(out, x.shape, x.dtype) if out is not None else _v.empty(x.shape, x.dtype)
    _k.batch_norm_backward_elemt(dy, x, mean, invstd, weight, sum_dy, sum_dy_xmu, count,
                                 dx, batch, channels, inner)
    return dx
