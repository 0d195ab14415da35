"""Reference quantization: the observer rules and the rounding, in NumPy.

Written from ``torch.ao.quantization.MinMaxObserver._calculate_qparams`` (float32
arithmetic), channel by channel, importing nothing from gradkit.quant."""
import numpy as np

_RANGES = {"int8": (-128, 127), "uint8": (0, 255)}
_EPS32 = np.finfo(np.float32).eps


def qparams(min_val, max_val, *, scheme="symmetric", dtype="int8"):
    """(scale float32 array, zero_point int64 array) of each observed (min, max)."""
    qmin, qmax = _RANGES[dtype]
    mins = np.asarray(min_val).reshape(-1)
    maxs = np.asarray(max_val).reshape(-1)
    scales, zps = [], []
    for lo, hi in zip(mins, maxs):
        lo, hi = np.float32(lo), np.float32(hi)
        if not lo <= hi:                 # nothing observed (min = +inf, max = -inf)
            scales.append(np.float32(1.0))
            zps.append(0)
            continue
        neg = min(lo, np.float32(0.0))   # the range always holds 0
        pos = max(hi, np.float32(0.0))
        if scheme == "symmetric":
            scale = max(max(-neg, pos) / np.float32((qmax - qmin) / 2), _EPS32)
            zp = 0 if dtype == "int8" else (qmin + qmax + 1) // 2
        else:
            scale = max((pos - neg) / np.float32(qmax - qmin), _EPS32)
            zp = qmin - int(np.round(neg / scale))          # half to even, as torch.round
            zp = min(max(zp, qmin), qmax)
        scales.append(np.float32(scale))
        zps.append(zp)
    shape = np.shape(min_val)
    return (np.array(scales, np.float32).reshape(shape),
            np.array(zps, np.int64).reshape(shape))


def _axis(axis, ndim):
    return None if axis is None else axis % ndim


def _channel_view(a, axis):
    """a moved to (channels, rest) for per-channel statistics."""
    return np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1)


def _round_q(x, scale, zp, qmin, qmax):
    """round half to even of fl32(x * (1/scale) + zp) (in double for float64 data)."""
    inv = (np.float32(1) / np.asarray(scale, np.float32)).astype(np.float64)
    v = x.astype(np.float64) * inv + zp
    if x.dtype == np.float32:
        v = v.astype(np.float32)
    return np.clip(np.rint(v), qmin, qmax)


def quantize(x, *, scheme="symmetric", axis=None, dtype="int8"):
    if x.dtype.itemsize == 2:   # 16-bit storage: its float32 values, widened exactly
        x = x.astype(np.float32)
    qmin, qmax = _RANGES[dtype]
    ax = _axis(axis, x.ndim)
    if ax is None:
        mn = x.min() if x.size else np.inf
        mx = x.max() if x.size else -np.inf
        scale, zp = qparams(np.array([mn]), np.array([mx]), scheme=scheme, dtype=dtype)
        q = _round_q(x, scale[0], zp[0], qmin, qmax).astype(dtype)
        return q, float(scale[0]), int(zp[0])
    v = _channel_view(x, ax)
    mn = v.min(axis=1) if v.shape[1] else np.full(v.shape[0], np.inf)
    mx = v.max(axis=1) if v.shape[1] else np.full(v.shape[0], -np.inf)
    scale, zp = qparams(mn, mx, scheme=scheme, dtype=dtype)
    shape = [1] * x.ndim
    shape[ax] = -1
    q = _round_q(x, scale.reshape(shape), zp.reshape(shape), qmin, qmax).astype(dtype)
    return q, scale, zp


def dequantize(q, scale, zero_point, *, axis=None, dtype=np.float32):
    """(q - z) s in float32, then converted to dtype (rounded once for 16-bit)."""
    s = np.asarray(scale, np.float32)
    z = np.asarray(zero_point, np.int64)
    if axis is not None:
        shape = [1] * q.ndim
        shape[axis] = -1
        s, z = s.reshape(shape), z.reshape(shape)
    return ((q.astype(np.int64) - z).astype(np.float32) * s).astype(np.float32).astype(dtype)
