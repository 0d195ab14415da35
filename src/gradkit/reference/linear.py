"""Reference twins of gradkit.linear, straight from the formulas with NumPy's matmul
(float32/float64 in their own dtype; 16-bit widened to float32 and rounded once)."""
import numpy as np



def is_half(dt):
    """True for 16-bit storage (float16, bfloat16)."""
    return dt.itemsize == 2 and dt.kind in "fV"


def widen(a):
    """a widened to float32 (exact for 16-bit storage)."""
    return np.asarray(a).astype(np.float32)


def round_to(a, dtype):
    """a rounded once to dtype (NumPy's / ml_dtypes' astype)."""
    return a.astype(dtype)

__all__ = ["matmul", "linear", "linear_backward"]


def matmul(a, b):
    """c = a b."""
    a, b = np.asarray(a), np.asarray(b)
    if is_half(a.dtype):
        return round_to(widen(a) @ widen(b), a.dtype)
    return a @ b


def linear(x, weight, bias=None):
    """y = x W^T + b."""
    x, weight = np.asarray(x), np.asarray(weight)
    dt = x.dtype
    if is_half(dt):
        x, weight = widen(x), widen(weight)
        bias = None if bias is None else widen(np.asarray(bias))
    y = x @ weight.T
    if bias is not None:
        y = y + bias
    return round_to(y, dt) if is_half(dt) else y.astype(dt, copy=False)


def linear_backward(dy, x, weight):
    """(dx, dweight, dbias) = (dy W, dy^T x, sum of dy over every leading axis)."""
    dy, x, weight = np.asarray(dy), np.asarray(x), np.asarray(weight)
    dt = x.dtype
    if is_half(dt):
        dy, x, weight = widen(dy), widen(x), widen(weight)
    dy2 = dy.reshape(-1, weight.shape[0])
    x2 = x.reshape(-1, weight.shape[1])
    dx = dy @ weight
    dw = dy2.T @ x2
    db = dy2.astype(np.float64).sum(axis=0)
    if is_half(dt):
        return round_to(dx, dt), round_to(dw, dt), round_to(db.astype(np.float32), dt)
    return dx.astype(dt, copy=False), dw.astype(dt, copy=False), db.astype(dt)
