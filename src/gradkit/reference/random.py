"""NumPy twin of gradkit.random: Philox4x32-10 and the distributions, from the formulas.

The word stream, the words each element reads and the counter advance are those of
``gradkit/random.h``; uniforms, raw words and integers come out bitwise equal to the
kernels, normals and truncated normals to rounding (libm-quality functions here, the
kernels' own polynomials there)."""
import math
import secrets
import statistics

import numpy as np

__all__ = ["philox4x32_10", "stream_words", "Generator"]

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK = np.uint64(0xFFFFFFFF)
_U64 = 1 << 64
_SPAWN_TAG = 0x5350574E


def philox4x32_10(ctr, key):
    """Philox4x32-10 of counters ``ctr`` (4 arrays or ints) under ``key`` (2 ints):
    four uint32 arrays."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) & _MASK for c in ctr)
    k0, k1 = int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & _MASK,
                          (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & _MASK)
        k0 = (k0 + _W0) & 0xFFFFFFFF
        k1 = (k1 + _W1) & 0xFFFFFFFF
    return tuple(c.astype(np.uint32) for c in (c0, c1, c2, c3))


def stream_words(seed, counter, n):
    """Words counter .. counter + n - 1 of the stream of `seed` (uint32 array): word w is
    word w % 4 of the block with counter (lo32(w // 4), hi32(w // 4), 0, 0)."""
    w = (np.uint64(counter) + np.arange(n, dtype=np.uint64))  # wraps mod 2**64
    b = w >> np.uint64(2)
    out = philox4x32_10((b & _MASK, b >> np.uint64(32), 0, 0), (seed, seed >> 32))
    words = np.stack(out, axis=-1)
    return words[np.arange(n), (w & np.uint64(3)).astype(np.intp)] if n else \
        np.empty(0, np.uint32)


def _word_at(seed, b, c2, c3, j):
    out = philox4x32_10((b & 0xFFFFFFFF, b >> 32, c2, c3), (seed, seed >> 32))
    return int(out[j])


def _u53(a, b):
    return ((a >> np.uint32(5)).astype(np.float64) * 67108864.0
            + (b >> np.uint32(6)).astype(np.float64))


def _ndtri(p):
    inv = np.frompyfunc(statistics.NormalDist().inv_cdf, 1, 1)
    return inv(np.asarray(p, np.float64)).astype(np.float64)


def _ndtr(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


class Generator:
    """Same API and stream as gradkit.random.Generator, in NumPy."""

    def __init__(self, seed=None):
        self.seed = secrets.randbits(64) if seed is None else int(seed)
        self.counter = 0
        self.spawned = 0

    def _take(self, words):
        c = self.counter
        self.counter = (c + words) % _U64
        return c

    @staticmethod
    def _shape(shape):
        return (shape,) if isinstance(shape, int) else tuple(shape)

    def bits32(self, shape):
        shape = self._shape(shape)
        n = math.prod(shape)
        return stream_words(self.seed, self._take(n), n).reshape(shape)

    def uniform(self, shape, low=0.0, high=1.0, dtype=np.float32):
        shape, dt = self._shape(shape), np.dtype(dtype)
        n = math.prod(shape)
        if dt == np.float32:
            w = stream_words(self.seed, self._take(n), n)
            lo, hi = np.float32(low), np.float32(high)
            span = np.float32(float(hi) - float(lo))
            u = (w >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)
        else:
            w = stream_words(self.seed, self._take(2 * n), 2 * n)
            lo, hi, span = np.float64(low), np.float64(high), np.float64(high - low)
            u = _u53(w[0::2], w[1::2]) * 2.0 ** -53
        y = lo + span * u
        below = np.nextafter(hi, lo) if hi > lo else lo
        return np.where(y < hi, y, below).astype(dt).reshape(shape)

    def normal(self, shape, mean=0.0, std=1.0, dtype=np.float32):
        shape, dt = self._shape(shape), np.dtype(dtype)
        n = math.prod(shape)
        pairs = (n + 1) // 2
        if dt == np.float32:
            w = stream_words(self.seed, self._take(2 * pairs), 2 * pairs)
            u1 = ((w[0::2] >> np.uint32(8)).astype(np.float64) + 1) * 2.0 ** -24
            u2 = (w[1::2] >> np.uint32(8)).astype(np.float64) * 2.0 ** -24
        else:
            w = stream_words(self.seed, self._take(4 * pairs), 4 * pairs)
            u1 = (_u53(w[0::4], w[1::4]) + 1) * 2.0 ** -53
            u2 = _u53(w[2::4], w[3::4]) * 2.0 ** -53
        r = np.sqrt(-2.0 * np.log(u1))
        z = np.stack([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)], -1).ravel()[:n]
        return (mean + std * z).astype(dt).reshape(shape)

    def truncated_normal(self, shape, mean=0.0, std=1.0, a=-2.0, b=2.0, dtype=np.float32):
        shape, dt = self._shape(shape), np.dtype(dtype)
        n = math.prod(shape)
        if dt == np.float32:
            w = stream_words(self.seed, self._take(n), n)
            u = (w.astype(np.float64) + 0.5) * 2.0 ** -32
        else:
            w = stream_words(self.seed, self._take(2 * n), 2 * n)
            u = (_u53(w[0::2], w[1::2]) + 0.5) * 2.0 ** -53
        lo, hi = (a - mean) / std, (b - mean) / std
        sign = 1.0
        if lo > 0:  # draw in the lower tail and negate
            lo, hi, sign = -hi, -lo, -1.0
        pa = _ndtr(lo)
        x = _ndtri(pa + u * (_ndtr(hi) - pa))
        return np.clip(mean + std * sign * x, a, b).astype(dt).reshape(shape)

    def integers(self, shape, low, high=None):
        if high is None:
            low, high = 0, low
        shape = self._shape(shape)
        n = math.prod(shape)
        rng = high - low
        small = rng <= 1 << 32
        words = n if small else 2 * n
        base = self._take(words)
        w = stream_words(self.seed, base, words)
        out = []
        for i in range(n):
            if small:
                x, wi = int(w[i]), base + i
                m = x * rng
                thr = (1 << 32) % rng
                t = 1
                while (m & 0xFFFFFFFF) < thr:
                    m = _word_at(self.seed, (wi % _U64) >> 2, t, 0, wi & 3) * rng
                    t += 1
                out.append(low + (m >> 32))
            else:
                wi = (base + 2 * i) % _U64
                x = int(w[2 * i]) | (int(w[2 * i + 1]) << 32)
                m = x * rng
                thr = ((1 << 64) - rng) % rng if rng < 1 << 64 else 0
                t = 1
                while (m & (_U64 - 1)) < thr:
                    blk = philox4x32_10((wi >> 2 & 0xFFFFFFFF, wi >> 34, t, 0),
                                        (self.seed, self.seed >> 32))
                    x = int(blk[wi & 3]) | (int(blk[(wi + 1) & 3]) << 32)
                    m = x * rng
                    t += 1
                out.append(low + (m >> 64))
        return np.array(out, dtype=np.int64).reshape(shape)

    def spawn(self, n):
        kids = []
        for j in range(self.spawned, self.spawned + n):
            w = philox4x32_10((j & 0xFFFFFFFF, j >> 32, 0, _SPAWN_TAG),
                              (self.seed, self.seed >> 32))
            kids.append(Generator(int(w[0]) | (int(w[1]) << 32)))
        self.spawned += n
        return kids
