"""NumPy twin of gradkit.dropout, from the formulas (bitwise equal to the kernels).

``rng`` here is a :class:`gradkit.reference.random.Generator` or an int seed."""
import math

import numpy as np

from .random import Generator, stream_words

__all__ = ["dropout", "dropout_backward", "drop_path", "drop_path_backward", "keep_mask"]


def _gen(rng):
    return rng if isinstance(rng, Generator) else Generator(rng)


def keep_mask(shape, p, seed, counter):
    """Element i (C order) kept iff word counter + i < ceil((1 - p) 2**32)."""
    n = math.prod(shape)
    words = stream_words(seed, counter, n).astype(np.uint64)
    return (words < math.ceil((1.0 - p) * 2.0 ** 32)).reshape(shape)


def _scale(p, dtype):
    return dtype.type(1.0 / (1.0 - p)) if p < 1 else dtype.type(0)


def dropout(x, p=0.5, *, training=True, rng=None):
    """(y, (bits, seed, counter)) with y = x * m, m = 1/(1-p) where kept else 0."""
    x = np.asarray(x)
    if not training:
        return x, None
    g = _gen(rng)
    counter = g._take(x.size)
    keep = keep_mask(x.shape, p, g.seed, counter)
    y = x * np.where(keep, _scale(p, x.dtype), x.dtype.type(0))
    bits = np.packbits(keep.ravel(), bitorder="little")
    return y, (bits, g.seed, counter)


def dropout_backward(dy, keep, p):
    """dx = dy * m for a bool keep mask."""
    dy = np.asarray(dy)
    return dy * np.where(keep, _scale(p, dy.dtype), dy.dtype.type(0))


def drop_path(x, p, *, training=True, rng=None):
    """(y, keep): sample n kept iff word counter + n < ceil((1 - p) 2**32)."""
    x = np.asarray(x)
    if not training or p == 0:
        return x, np.ones(x.shape[0], bool)
    g = _gen(rng)
    keep = keep_mask((x.shape[0],), p, g.seed, g._take(x.shape[0]))
    return drop_path_backward(x, keep, p), keep


def drop_path_backward(dy, keep, p):
    dy = np.asarray(dy)
    f = np.where(keep, _scale(p, dy.dtype), dy.dtype.type(0))
    return dy * f.reshape((-1,) + (1,) * (dy.ndim - 1))
