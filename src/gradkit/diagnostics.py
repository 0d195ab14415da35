"""Training diagnostics: activation statistics (saturation, dead units) and the
update-to-parameter ratio.

These are the quick health checks of a training run (Karpathy's "A Recipe for Training
Neural Networks", CS231n): a tanh layer whose outputs sit at +-1, a ReLU layer whose
units never fire, or updates far larger or smaller than about 1e-3 of the weights all
show that something is off.  Plain NumPy: they run on a sample of a batch, not in the
hot loop.
"""
from __future__ import annotations


from typing import TYPE_CHECKING, Any

import numpy as np

from . import _validation as _v

if TYPE_CHECKING:
    from ._typing import Arrays, ArrayLike

__all__ = ["activation_stats", "update_ratio"]

_NONLINEARITIES = ("tanh", "sigmoid", "relu")


def activation_stats(a: ArrayLike, nonlinearity: str = "tanh", *, saturation: float = 0.97,
                     bins: int = 50) -> dict[str, Any]:
    r"""Statistics of a layer's activations.

    Parameters
    ----------
    a : ndarray, float32 or float64
        Activations (any shape; all entries are pooled).
    nonlinearity : {'tanh', 'sigmoid', 'relu'}
        What produced ``a``; decides what counts as saturated or dead.
    saturation : float in (0, 1)
        tanh: an entry is saturated when :math:`|a| > s`; sigmoid: when
        :math:`a < 1 - s` or :math:`a > s`.  ReLU units do not saturate.
    bins : int
        Histogram bins, over [-1, 1] for tanh, [0, 1] for sigmoid and the data's range
        for relu (as ``np.histogram``).

    Returns
    -------
    dict with
        ``mean``, ``std`` (population, float64); ``saturated_fraction`` (tanh, sigmoid;
        0.0 for relu); ``dead_fraction`` (relu: share of entries :math:`\le 0`; 0.0
        otherwise); ``histogram``: ``(counts, edges)`` as from ``np.histogram``.
        A rule of thumb: a few percent saturated is normal, tens of percent means the
        pre-activations are too large (initialization or learning rate).
    """
    a = _v.float_array(a, "a")
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {_NONLINEARITIES}, got {nonlinearity!r}")
    s = _v.nonneg_float(saturation, "saturation")
    if not 0.0 < s < 1.0:
        raise ValueError(f"saturation must be in (0, 1), got {s}")
    bins = _v.positive_int(bins, "bins")
    n = a.size
    flat = a.reshape(-1)
    mean = float(flat.mean(dtype=np.float64)) if n else float("nan")
    std = float(flat.std(dtype=np.float64)) if n else float("nan")
    saturated = dead = 0.0
    if nonlinearity == "tanh":
        if n:
            saturated = float(np.count_nonzero(np.abs(flat) > s)) / n
        rng = (-1.0, 1.0)
    elif nonlinearity == "sigmoid":
        if n:
            saturated = float(np.count_nonzero((flat < 1.0 - s) | (flat > s))) / n
        rng = (0.0, 1.0)
    else:
        if n:
            dead = float(np.count_nonzero(flat <= 0)) / n
        rng = None
    counts, edges = np.histogram(flat, bins=bins, range=rng)
    return {"mean": mean, "std": std, "saturated_fraction": saturated,
            "dead_fraction": dead, "histogram": (counts, edges)}


def update_ratio(params: Arrays, updates: Arrays, *, log10: bool = False) -> list[float]:
    r"""Size of each update relative to its parameter: :math:`\lVert\Delta w\rVert_2 /
    \lVert w\rVert_2` per array.

    A healthy ratio is around 1e-3 (log10 about -3): much lower and the layer learns
    too slowly, much higher and the learning rate is likely too large.  Pass the
    update actually applied (``lr * step``, or ``w_new - w_old``), not the raw gradient.

    Parameters
    ----------
    params, updates : sequence of ndarrays
        Aligned lists (a single array is taken as a list of one).
    log10 : bool
        Return :math:`\log_{10}` of the ratios (what one plots over training).

    Returns
    -------
    list of float
        One per array; a zero parameter gives ``inf`` (or ``nan`` if the update is zero
        too), as the division says.
    """
    log10 = _v.flag(log10, "log10")
    lists = []
    for seq, name in ((params, "params"), (updates, "updates")):
        if isinstance(seq, np.ndarray):
            seq = [seq]
        elif isinstance(seq, (str, bytes)) or not hasattr(seq, "__iter__"):
            raise TypeError(f"{name} must be a list of arrays, got {type(seq).__name__}")
        lists.append(list(seq))
    params, updates = lists
    if len(params) != len(updates):
        raise ValueError(f"params and updates must have the same length, got "
                         f"{len(params)} and {len(updates)}")
    out = []
    for i, (w, u) in enumerate(zip(params, updates)):
        w = _v.float_array(w, f"params[{i}]")
        u = _v.float_array(u, f"updates[{i}]")
        if u.shape != w.shape:
            raise ValueError(f"updates[{i}] must have the shape of params[{i}] {w.shape}, "
                             f"got {u.shape}")
        wn = float(np.linalg.norm(w.reshape(-1).astype(np.float64)))
        un = float(np.linalg.norm(u.reshape(-1).astype(np.float64)))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = float(np.float64(un) / np.float64(wn))
            if log10:
                r = float(np.log10(r))
        out.append(r)
    return out
