"""NumPy twin of gradkit.dropout, from the formulas (bitwise equal to the kernels).

``rng`` here is a :class:`gradkit.reference.random.Generator` or an int seed.

16-bit storage (float16, bfloat16): the float32 formula on the widened input (the scale
rounded to float32), each output rounded once to the input's dtype; the mask is the
float32 one."""
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


def _half(a):
    """True for 16-bit storage (float16, bfloat16)."""
    return a.dtype.itemsize == 2 and a.dtype.kind in "fV"


def _scaled(x, keep, p):
    """x * (keep ? 1/(1-p) : 0), keep broadcast against x: in x's dtype, or for 16-bit
    x in float32 on the widened x, rounded once to x's dtype."""
    if _half(x):
        return _scaled(x.astype(np.float32), keep, p).astype(x.dtype)
    return x * np.where(keep, _scale(p, x.dtype), x.dtype.type(0))


def dropout(x, p=0.5, *, training=True, rng=None):
    """(y, (bits, seed, counter)) with y = x * m, m = 1/(1-p) where kept else 0."""
    x = np.asarray(x)
    if not training:
        return x, None
    g = _gen(rng)
    counter = g._take(x.size)
    keep = keep_mask(x.shape, p, g.seed, counter)
    y = _scaled(x, keep, p)
    bits = np.packbits(keep.ravel(), bitorder="little")
    return y, (bits, g.seed, counter)


def dropout_backward(dy, keep, p):
    """dx = dy * m for a bool keep mask."""
    return _scaled(np.asarray(dy), keep, p)


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
    return _scaled(dy, np.reshape(keep, (-1,) + (1,) * (dy.ndim - 1)), p)
