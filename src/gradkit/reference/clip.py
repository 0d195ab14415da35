"""Reference gradient clipping: the formulas in NumPy, norms in float64.  16-bit
arrays (float16, bfloat16): norms from the widened values, scaling and clamping in
float32 on the widened values, each result rounded once."""
import math

import numpy as np


def _arrays(grads):
    if isinstance(grads, np.ndarray):
        grads = [grads]
    return [g for g in grads if g is not None]


def _power_sum(g, p):
    """sum |g|^p in float64 (max |g| for p = inf, NaN-propagating)."""
    a = np.abs(np.asarray(g, dtype=np.float64)).ravel()
    if math.isinf(p):
        return float(np.max(a)) if a.size else 0.0
    return float(np.sum(a ** p))


def global_norm(grads, norm_type=2.0):
    p = float(norm_type)
    if not p > 0:
        raise ValueError("norm_type must be > 0")
    sums = [_power_sum(g, p) for g in _arrays(grads)]
    if math.isinf(p):
        return float(np.max(sums)) if sums else 0.0
    return float(np.sum(sums)) ** (1.0 / p)


def _half(g):
    return g.dtype.itemsize == 2 and g.dtype.kind in "fV"


def clip_grad_norm_(grads, max_norm, norm_type=2.0, error_if_nonfinite=False):
    total = global_norm(grads, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError("the total norm is non-finite")
    coef = float(np.minimum(max_norm / (total + 1e-6), 1.0))  # np.minimum keeps NaN
    for g in _arrays(grads):
        if _half(g):
            g[...] = (g.astype(np.float32) * np.float32(coef)).astype(g.dtype)
        else:
            g *= g.dtype.type(coef)
    return total


def clip_grad_value_(grads, clip_value):
    for g in _arrays(grads):
        if _half(g):
            v = np.float32(clip_value)
            g[...] = np.clip(g.astype(np.float32), -v, v).astype(g.dtype)
        else:
            v = g.dtype.type(clip_value)
            np.clip(g, -v, v, out=g)
