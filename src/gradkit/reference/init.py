"""NumPy twin of gradkit.init: torch.nn.init's formulas (and Keras' variance scaling)
over the reference generator.  ``rng`` is a reference Generator or an int seed; the
draws are those of gradkit.random (uniforms bitwise, normals to rounding)."""
import math

import numpy as np

from .random import Generator

__all__ = ["calculate_gain", "fans", "zeros", "ones", "constant", "normal", "uniform", "trunc_normal", "xavier_uniform",
           "xavier_normal", "kaiming_uniform", "kaiming_normal", "lecun_uniform",
           "lecun_normal", "variance_scaling", "orthogonal", "eye", "lora"]


def _gen(rng):
    return rng if isinstance(rng, Generator) else Generator(rng)


def calculate_gain(nonlinearity, param=None):
    table = {"linear": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0,
             "conv_transpose1d": 1.0, "conv_transpose2d": 1.0, "conv_transpose3d": 1.0,
             "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 0.75}
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + a * a))
    return table[nonlinearity]


def fans(shape):
    rf = math.prod(shape[2:])
    return shape[1] * rf, shape[0] * rf


def zeros(shape, *, rng=None, dtype=np.float32):
    return np.zeros(shape, dtype)


def ones(shape, *, rng=None, dtype=np.float32):
    return np.ones(shape, dtype)


def constant(shape, value, *, rng=None, dtype=np.float32):
    return np.full(shape, value, dtype)


def normal(shape, mean=0., std=1., *, rng=None, dtype=np.float32):
    return _gen(rng).normal(shape, mean, std, dtype)


def uniform(shape, a=0., b=1., *, rng=None, dtype=np.float32):
    return _gen(rng).uniform(shape, a, b, dtype)


def trunc_normal(shape, mean=0., std=1., a=-2., b=2., *, rng=None, dtype=np.float32):
    return _gen(rng).truncated_normal(shape, mean, std, a, b, dtype)


def xavier_uniform(shape, gain=1., *, rng=None, dtype=np.float32):
    fi, fo = fans(shape)
    std = gain * math.sqrt(2.0 / (fi + fo))
    return uniform(shape, -math.sqrt(3.0) * std, math.sqrt(3.0) * std, rng=rng, dtype=dtype)


def xavier_normal(shape, gain=1., *, rng=None, dtype=np.float32):
    fi, fo = fans(shape)
    return normal(shape, 0.0, gain * math.sqrt(2.0 / (fi + fo)), rng=rng, dtype=dtype)


def _std(shape, a, mode, nonlinearity):
    fi, fo = fans(shape)
    return calculate_gain(nonlinearity, a) / math.sqrt(fi if mode == "fan_in" else fo)


def kaiming_uniform(shape, a=0., mode="fan_in", nonlinearity="leaky_relu", *, rng=None,
                    dtype=np.float32):
    bound = math.sqrt(3.0) * _std(shape, a, mode, nonlinearity)
    return uniform(shape, -bound, bound, rng=rng, dtype=dtype)


def kaiming_normal(shape, a=0., mode="fan_in", nonlinearity="leaky_relu", *, rng=None,
                   dtype=np.float32):
    return normal(shape, 0.0, _std(shape, a, mode, nonlinearity), rng=rng, dtype=dtype)


def variance_scaling(shape, scale=1., mode="fan_in", distribution="truncated_normal", *,
                     rng=None, dtype=np.float32):
    fi, fo = fans(shape)
    s = scale / max(1.0, {"fan_in": fi, "fan_out": fo, "fan_avg": (fi + fo) / 2}[mode])
    if distribution in ("truncated_normal", "normal"):
        std = math.sqrt(s) / 0.87962566103423978
        return trunc_normal(shape, 0.0, std, -2 * std, 2 * std, rng=rng, dtype=dtype)
    if distribution == "untruncated_normal":
        return normal(shape, 0.0, math.sqrt(s), rng=rng, dtype=dtype)
    b = math.sqrt(3.0 * s)
    return uniform(shape, -b, b, rng=rng, dtype=dtype)


def lecun_uniform(shape, *, rng=None, dtype=np.float32):
    return variance_scaling(shape, 1.0, "fan_in", "uniform", rng=rng, dtype=dtype)


def lecun_normal(shape, *, rng=None, dtype=np.float32):
    return variance_scaling(shape, 1.0, "fan_in", "truncated_normal", rng=rng, dtype=dtype)


def orthogonal(shape, gain=1., *, rng=None, dtype=np.float32):
    """Q = H_0 H_1 ... H_{n-1} [I; 0] diag(d), H_k the reflector of x = A[k:, k] of a
    standard normal A (m x n, m >= n; transposed when rows < cols)."""
    rows = shape[0]
    cols = math.prod(shape) // rows
    a = _gen(rng).normal((rows, cols), dtype=np.float64)
    if rows < cols:
        a = a.T
    m, n = a.shape
    q = np.eye(m)
    d = np.ones(n)
    for k in range(n):                        # q = H_0 ... H_k, column by column
        x = a[k:, k]
        nrm = np.sqrt(np.sum(x * x))
        if nrm == 0:
            continue
        s = -1.0 if x[0] < 0 else 1.0
        v = x.copy()
        v[0] += s * nrm
        h = np.eye(m - k) - 2.0 * np.outer(v, v) / (v @ v)
        q[:, k:] = q[:, k:] @ h
        d[k] = -s
    q = q[:, :n] * d
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).astype(dtype)


def eye(shape, *, rng=None, dtype=np.float32):
    return np.eye(shape[0], shape[1], dtype=dtype)


def lora(in_features, out_features, rank, *, method="kaiming", rng=None, dtype=np.float32):
    if method == "kaiming":
        a = kaiming_uniform((rank, in_features), math.sqrt(5.0), rng=rng, dtype=dtype)
    else:
        a = normal((rank, in_features), 0.0, 1.0 / rank, rng=rng, dtype=dtype)
    return a, np.zeros((out_features, rank), dtype)
