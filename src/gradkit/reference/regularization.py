"""NumPy twins of gradkit.regularization, straight from the formulas.

16-bit storage (float16, bfloat16): the penalties sum the widened values in float64;
the gradient updates are the float32 formulas on the widened arrays (lam as a float32),
each result rounded once to the array's dtype by astype."""
import math

import numpy as np

from .random import Generator

__all__ = ["l2_penalty", "l1_penalty", "add_l2_grad_", "add_l1_grad_", "add_grad_noise_"]


def _list(xs):
    return list(xs) if isinstance(xs, (list, tuple)) else [xs]


def _half(a):
    """True for 16-bit storage (float16, bfloat16)."""
    return a.dtype.itemsize == 2 and a.dtype.kind in "fV"


def l2_penalty(params, lam):
    """lam/2 * sum of w**2 over every array, in float64."""
    return lam / 2 * sum(float(np.sum(np.asarray(w, np.float64) ** 2)) for w in _list(params))


def l1_penalty(params, lam):
    """lam * sum of |w| over every array, in float64."""
    return lam * sum(float(np.sum(np.abs(np.asarray(w, np.float64)))) for w in _list(params))


def _add_(g, term):
    """g += term(dt) in g's dtype dt, or in float32 from the widened g, rounded once."""
    if _half(g):
        g[...] = (g.astype(np.float32) + term(np.dtype(np.float32))).astype(g.dtype)
    else:
        g[...] = g + term(g.dtype)


def add_l2_grad_(grads, params, lam):
    for g, w in zip(_list(grads), _list(params)):
        _add_(g, lambda dt: dt.type(lam) * w.astype(dt))
    return grads


def add_l1_grad_(grads, params, lam):
    for g, w in zip(_list(grads), _list(params)):
        _add_(g, lambda dt: dt.type(lam) * np.sign(w.astype(dt)))
    return grads


def add_grad_noise_(grads, step, eta=0.3, gamma=0.55, rng=None):
    """g += N(0, eta / (1 + step)**gamma): each array's noise is
    ``rng.normal(shape, 0, sigma, dtype)`` of gradkit.reference.random's Generator
    (an int seed makes a new one; None a freshly seeded one)."""
    sigma = math.sqrt(eta / (1.0 + step) ** gamma)
    gen = rng if isinstance(rng, Generator) else Generator(rng)
    for g in _list(grads):
        if _half(g):
            noise = gen.normal(g.shape, 0.0, sigma, dtype=np.float32)
            g[...] = (g.astype(np.float32) + noise).astype(g.dtype)
        else:
            g[...] = g + gen.normal(g.shape, 0.0, sigma, dtype=g.dtype)
    return grads
