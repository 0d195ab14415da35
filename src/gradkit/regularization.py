r"""Regularization: L2 and L1 penalties, their gradients, and annealed gradient noise.

The penalties are float64 sums over fixed chunks, the same for every thread count; the
gradient functions update a list of arrays in place in one parallel region.  Each
function takes one array or a list of arrays (a list of pairs for the gradient
functions: ``grads[i]`` goes with ``params[i]``, same dtype and shape).

To regularize with an optimizer, ``add_l2_grad_(grads, params, lam)`` before
``opt.step(grads)`` is torch's ``weight_decay=lam`` (coupled L2); AdamW's decoupled
decay is an optimizer option instead.

float16 and bfloat16 arrays are taken as PyTorch's mixed precision takes them: the
penalties sum the exactly widened values in float64 (a Python float, as for float32),
and the in-place gradient functions compute each element in float32 (lam rounded to
float32, as torch's ``grad.add_(param, alpha=lam)`` on bf16 tensors) and round it once
to the gradient's dtype.  A list may mix dtypes; each pair (``grads[i]``,
``params[i]``) shares one.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from . import _validation as _v
from . import random as _random
from ._ext import regularization as _k

if TYPE_CHECKING:
    from ._typing import Arrays, RNG

__all__ = ["l2_penalty", "l1_penalty", "add_l2_grad_", "add_l1_grad_", "add_grad_noise_"]


def _arrays(xs, name):
    """A list of C-contiguous float arrays, 16-bit ones too (copied once if not
    contiguous)."""
    if isinstance(xs, (list, tuple)):
        return [_v.float_array(x, f"{name}[{i}]", half=True) for i, x in enumerate(xs)]
    return [_v.float_array(xs, name, half=True)]


def _params(params):
    """_arrays(params, "params"), the common call (C-contiguous float32/float64 arrays,
    or 16-bit ones beside float32) checked in compiled code: the Python checks cost ~3
    us per array, as much as summing 1e5 elements."""
    simple = _v._simple_float_list(params, False, True)
    return simple if simple is not None else _arrays(params, "params")


def _inplace(xs, name):
    """A list of arrays updated in place: native float (16-bit too), C-contiguous,
    aligned, writable, not overlapping each other."""
    many = isinstance(xs, (list, tuple))
    items = list(xs) if many else [xs]
    named = [(f"{name}[{i}]" if many else name, x) for i, x in enumerate(items)]
    for label, x in named:
        _v.inplace_float(x, label, half=True)
    _v.disjoint(named)
    return items


def _pairs(grads, params):
    many = isinstance(grads, (list, tuple))
    if many == isinstance(params, (list, tuple)):
        # the common call, checked in compiled code (_inplace and _arrays cost ~3 us
        # for one pair, more than torch's whole add_ on 1e5 elements)
        gs = _v._simple_float_list(grads, True, True)
        ps = _v._simple_float_list(params, False, True) if gs is not None else None
        if (ps is not None and len(ps) == len(gs)
                and all(g.dtype == p.dtype and g.shape == p.shape for g, p in zip(gs, ps))):
            return gs, ps
    gs = _inplace(grads, "grads")
    if isinstance(grads, (list, tuple)) != isinstance(params, (list, tuple)):
        raise TypeError("grads and params must both be arrays or both be lists")
    ps = _params(params)
    if len(ps) != len(gs):
        raise ValueError(f"grads has {len(gs)} arrays but params has {len(ps)}")
    for i, (g, p) in enumerate(zip(gs, ps)):
        _v.same_dtype(p, g.dtype, f"params[{i}]", f"grads[{i}]")
        if p.shape != g.shape:
            raise ValueError(f"params[{i}] has shape {p.shape} but grads[{i}] has shape "
                             f"{g.shape}")
    return gs, ps


def l2_penalty(params: Arrays, lam: float) -> float:
    r"""The L2 penalty :math:`\frac{\lambda}{2}\sum_i \sum_j w_{ij}^2` (a float).

    Its gradient is :func:`add_l2_grad_`'s :math:`\lambda w`.  The sum is accumulated
    in float64 whatever the dtype (float16/bfloat16 values widened exactly).

    Parameters
    ----------
    params : ndarray or list of ndarray
    lam : float
        :math:`\lambda \ge 0`.
    """
    lam = _v.nonneg_float(lam, "lam")
    total = 0.0
    for s in _k.sum_squares(_params(params)):
        total += s
    return lam / 2 * total


def l1_penalty(params: Arrays, lam: float) -> float:
    r"""The L1 penalty :math:`\lambda\sum_i \sum_j |w_{ij}|` (a float), summed in
    float64 (float16/bfloat16 values widened exactly)."""
    lam = _v.nonneg_float(lam, "lam")
    total = 0.0
    for s in _k.sum_abs(_params(params)):
        total += s
    return lam * total


def add_l2_grad_(grads: Arrays, params: Arrays, lam: float) -> Arrays:
    r"""``grads[i] += lam * params[i]`` in place (the gradient of :func:`l2_penalty`;
    torch's coupled ``weight_decay``), in the dtype's arithmetic with lam rounded to it
    (float32 for float16/bfloat16 arrays, each result rounded once).  Returns
    ``grads``."""
    lam = _v.nonneg_float(lam, "lam")
    gs, ps = _pairs(grads, params)
    _k.add_l2_grad(gs, ps, lam)
    return grads


def add_l1_grad_(grads: Arrays, params: Arrays, lam: float) -> Arrays:
    r"""``grads[i] += lam * sign(params[i])`` in place (a subgradient of
    :func:`l1_penalty`, with sign(0) = 0 as ``numpy.sign``), computed as
    :func:`add_l2_grad_`.  Returns ``grads``."""
    lam = _v.nonneg_float(lam, "lam")
    gs, ps = _pairs(grads, params)
    _k.add_l1_grad(gs, ps, lam)
    return grads


def noise_std(step: int, eta: float = 0.3, gamma: float = 0.55) -> float:
    r""":math:`\sigma_t = \sqrt{\eta / (1 + t)^\gamma}`, the standard deviation of
    :func:`add_grad_noise_` at step t."""
    step = _v.integer(step, "step", 0)
    eta = _v.nonneg_float(eta, "eta")
    gamma = _v.finite_real(gamma, "gamma")
    try:
        power = (1.0 + step) ** gamma
    except OverflowError:  # (1 + t)^gamma beyond a float: sigma is 0
        return 0.0
    if power == 0.0:  # gamma so negative that the variance eta / power is infinite
        raise ValueError(f"gamma={gamma} at step={step} gives an infinite noise variance")
    return math.sqrt(eta / power)


def add_grad_noise_(grads: Arrays, step: int, eta: float = 0.3, gamma: float = 0.55,
                    rng: RNG = None) -> Arrays:
    r"""Add annealed Gaussian noise to gradients in place (Neelakantan et al., 2015,
    "Adding Gradient Noise Improves Learning for Very Deep Networks"):

    .. math:: g \leftarrow g + \mathcal N(0, \sigma_t^2),\qquad
              \sigma_t^2 = \frac{\eta}{(1 + t)^\gamma}

    with the paper's defaults eta = 0.3 (one of its 0.01, 0.3, 1.0) and gamma = 0.55.

    Parameters
    ----------
    grads : ndarray or list of ndarray
        Updated in place (C-contiguous, writable).  A float16/bfloat16 array gets the
        float32 noise of the same call added in float32, rounded once.
    step : int
        t, the training step (>= 0).
    eta, gamma : float
    rng : gradkit.random.Generator, int or None
        The noise source (see :func:`gradkit.random.as_generator`): a Generator (its
        counter advances), an int seed, or None (the default generator).  Each array's
        noise is ``rng.normal(shape, 0, sigma_t, dtype)`` (float32 for 16-bit arrays;
        Philox4x32-10, the same for any thread count), array by array in list order.

    Returns
    -------
    grads
    """
    sigma = noise_std(step, eta, gamma)
    gs = _inplace(grads, "grads")
    gen = _random.as_generator(rng)
    for g in gs:
        if _v.is_half(g.dtype):
            wide = g.astype(np.float32)
            wide += gen.normal(g.shape, 0.0, sigma, dtype=np.float32)
            g[...] = wide
        else:
            g += gen.normal(g.shape, 0.0, sigma, dtype=g.dtype)
    return grads
