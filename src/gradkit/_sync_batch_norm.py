r"""Synchronized BatchNorm over MPI (``torch.nn.SyncBatchNorm``'s semantics): a batch
split across the ranks of a communicator is normalized with the statistics of the whole
batch, by the steps of :mod:`gradkit._batch_norm_steps` and one collective each way.

Forward: each rank's per-channel ``(count, mean, M2)`` (2C + 1 float64) are exchanged by
one ``Allgather`` and every rank merges all of them in rank order (Chan's exact merge),
so every rank holds bitwise the same statistics; running statistics are updated with
the whole batch's unbiased variance.  Backward: the per-channel ``sum(dy)`` and
``sum(dy (x - mean))`` and the count (2C + 1 float64) are added by one ``Allreduce``.
mpi4py is imported only when a collective runs (the optional extra ``gradkit[mpi]``).

Against one process on the concatenated batch the results differ only by the order of
the reductions (the per-rank partial sums and the merge): a few float64 ulps in the
statistics, so y and dx agree to a few ulps of x's dtype.  float16/bfloat16 x is
stored and exchanged as :func:`~gradkit.norm.batch_norm` takes it: float32 arithmetic,
float64 statistics, float32 running statistics, y and dx rounded once (a reduction order
changes them by at most an ulp of the 16-bit type).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from . import _mpi
from . import _validation as _v
from ._ext import norm as _k
from .norm import (NormStats, _batch_backward_args, _batch_norm_args, _param_grads,
                   batch_norm)

if TYPE_CHECKING:
    from ._typing import ArrayLike, FloatArray, NDArray

__all__ = ["sync_batch_norm", "sync_batch_norm_backward"]


def sync_batch_norm(x: ArrayLike, weight: Optional[ArrayLike] = None,
                    bias: Optional[ArrayLike] = None,
                    running_mean: Optional[FloatArray] = None,
                    running_var: Optional[FloatArray] = None, *, training: bool = True,
                    momentum: Optional[float] = 0.1, eps: float = 1e-5,
                    num_batches_tracked: Optional[NDArray[np.int64]] = None,
                    comm: Any = None,
                    out: Optional[FloatArray] = None) -> tuple[FloatArray, NormStats]:
    r""":func:`~gradkit.norm.batch_norm` over the batch split across the ranks of
    ``comm`` (``torch.nn.SyncBatchNorm``); every rank calls it with its part.

    In training mode, with :math:`n_r, \mu_r, M_{2,r}` the count, mean and
    :math:`M_2` of channel c on rank r (:func:`~gradkit.norm.batch_norm_stats`),
    gathered by one ``Allgather`` and merged in rank order
    (:func:`~gradkit.norm.batch_norm_merge_stats`) into :math:`n, \mu, M_2`:

    .. math::
        y = \frac{x - \mu_c}{\sqrt{M_2 / n + \epsilon}}\,w_c + b_c,\qquad
        \text{running} \leftarrow (1 - m)\,\text{running} + m\,(\mu_c,\ M_2/(n - 1))

    Every rank ends with the same statistics and running statistics.  In eval mode the
    running statistics normalize and nothing is communicated (as PyTorch).

    Ranks may hold different batch sizes, including none (an (0, C, ...) x: it takes part
    in the collective, as in PyTorch, and gets an empty y).  A whole batch of one value
    per channel raises ValueError on every rank (PyTorch would divide by n - 1 = 0).
    Every rank must call with the same channels, dtype, ``training`` and affine
    arguments: a collective cannot detect that in time.

    Parameters
    ----------
    x, weight, bias, running_mean, running_var, training, momentum, eps, \
num_batches_tracked, out
        As in :func:`~gradkit.norm.batch_norm`; x is this rank's part of the batch.
    comm : mpi4py.MPI.Intracomm or None
        The ranks sharing the batch; None is ``MPI.COMM_WORLD``.

    Returns
    -------
    y : ndarray
        This rank's part of the output.
    stats : NormStats
        The whole batch's mean and rstd in x's dtype (float32 for 16-bit x), for
        :func:`sync_batch_norm_backward`.
    """
    x, (batch, channels, inner), weight, bias, running_mean, running_var, \
        num_batches_tracked, training, factor, eps, y = _batch_norm_args(
            x, weight, bias, running_mean, running_var, training, momentum, eps,
            num_batches_tracked, out, local=False)
    if not training:   # local: comm is only checked (eval mode needs no mpi4py)
        if comm is not None:
            _mpi.comm_or_world(comm)
        return batch_norm(x, weight, bias, running_mean, running_var, training=False,
                          eps=eps, out=y)
    comm = _mpi.comm_or_world(comm)
    part = np.empty(2 * channels + 1)
    part[0] = batch * inner
    _k.batch_norm_stats(x, part[1:channels + 1], part[channels + 1:], batch, channels, inner)
    ranks = comm.Get_size()
    parts = np.empty((ranks, 2 * channels + 1))
    comm.Allgather(part, parts)
    counts = parts[:, 0].astype(np.int64)
    if channels and int(counts.sum()) == 1:   # the same on every rank: all raise
        raise ValueError("Expected more than 1 value per channel when training, got "
                         f"input size {x.shape} on this rank and one value per channel "
                         "over all ranks")
    mean, invstd = np.empty(channels), np.empty(channels)
    _k.batch_norm_gather_stats(counts, np.ascontiguousarray(parts[:, 1:channels + 1]),
                               np.ascontiguousarray(parts[:, channels + 1:]), running_mean,
                               running_var, mean, invstd, ranks, channels, factor, eps)
    _k.batch_norm_elemt(x, weight, bias, mean, invstd, y, batch, channels, inner)
    if num_batches_tracked is not None:
        num_batches_tracked += 1
    sdt = _v.compute_dtype(x.dtype)   # the statistics' dtype: float32 for 16-bit x
    return y, NormStats(mean.astype(sdt), invstd.astype(sdt))


def sync_batch_norm_backward(dy: ArrayLike, x: ArrayLike, stats: NormStats,
                             weight: Optional[ArrayLike] = None, *, bias: bool = True,
                             comm: Any = None, out: Optional[FloatArray] = None
                             ) -> tuple[FloatArray, Optional[FloatArray],
                                        Optional[FloatArray]]:
    r"""Gradients of :func:`sync_batch_norm` in training mode, through the whole
    batch's statistics; every rank calls it with its part.

    Each rank reduces its part (:func:`~gradkit.norm.batch_norm_backward_reduce`), one
    ``Allreduce`` adds the sums and counts of all ranks, and each rank computes its dx
    (:func:`~gradkit.norm.batch_norm_backward_elemt`), with the means over the
    whole batch's n values per channel:

    .. math::
        dx = w_c\,r_c\Bigl(dy - \frac{\sum dy}{n} - \hat x\,\frac{\sum dy\,\hat x}{n}\Bigr)

    dweight and dbias are this rank's shares, :math:`\sum dy\,\hat x` and
    :math:`\sum dy` over its part (as PyTorch's; their sum over the ranks is the whole
    batch's gradient: a data-parallel optimizer's allreduce of the gradients combines
    them with the others).

    Parameters
    ----------
    dy, x, stats, weight, bias, out
        As in :func:`~gradkit.norm.batch_norm_backward`; stats as
        :func:`sync_batch_norm` returned them.
    comm : mpi4py.MPI.Intracomm or None
        The communicator of the forward; None is ``MPI.COMM_WORLD``.

    Returns
    -------
    dx : ndarray
    dweight, dbias : ndarray or None
    """
    x, (batch, channels, inner), dy, mean, rstd, weight, dx, dweight, dbias, pdt = \
        _batch_backward_args(dy, x, stats, weight, bias, out, who="sync_batch_norm")
    comm = _mpi.comm_or_world(comm)
    sums = np.empty(2 * channels + 1)
    _k.batch_norm_backward_reduce(dy, x, mean, rstd, dweight, dbias, sums[:channels],
                                  sums[channels:2 * channels], batch, channels, inner)
    sums[-1] = batch * inner
    comm.Allreduce(_mpi.mpi().IN_PLACE, sums, op=_mpi.mpi().SUM)
    _k.batch_norm_backward_elemt(dy, x, mean, rstd, weight, sums[:channels],
                                 sums[channels:2 * channels], int(sums[-1]), dx, batch,
                                 channels, inner)
    return (dx,) + _param_grads(pdt, dweight, dbias)
