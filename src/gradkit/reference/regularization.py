"""NumPy twins of gradkit.regularization, straight from the formulas."""
import math

import numpy as np

from .random import Generator

__all__ = ["l2_penalty", "l1_penalty", "add_l2_grad_", "add_l1_grad_", "add_grad_noise_"]


def _list(xs):
    return list(xs) if isinstance(xs, (list, tuple)) else [xs]


def l2_penalty(params, lam):
    """lam/2 * sum of w**2 over every array, in float64."""
    return lam / 2 * sum(float(np.sum(np.asarray(w, np.float64) ** 2)) for w in _list(params))


def l1_penalty(params, lam):
    """lam * sum of |w| over every array, in float64."""
    return lam * sum(float(np.sum(np.abs(np.asarray(w, np.float64)))) for w in _list(params))


def add_l2_grad_(grads, params, lam):
    for g, w in zip(_list(grads), _list(params)):
        g[...] = g + lam * w
    return grads


def add_l1_grad_(grads, params, lam):
    for g, w in zip(_list(grads), _list(params)):
        g[...] = g + lam * np.sign(w)
    return grads


def add_grad_noise_(grads, step, eta=0.3, gamma=0.55, rng=None):
    """g += N(0, eta / (1 + step)**gamma): each array's noise is
    ``rng.normal(shape, 0, sigma, dtype)`` of gradkit.reference.random's Generator
    (an int seed makes a new one; None a freshly seeded one)."""
    sigma = math.sqrt(eta / (1.0 + step) ** gamma)
    gen = rng if isinstance(rng, Generator) else Generator(rng)
    for g in _list(grads):
        g[...] = g + gen.normal(g.shape, 0.0, sigma, dtype=g.dtype)
    return grads
