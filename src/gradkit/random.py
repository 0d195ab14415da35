"""Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11).

A :class:`Generator` is a 64-bit key (its ``seed``) and a position ``counter`` in an
endless stream of 32-bit words; word ``w`` is word ``w % 4`` of the Philox4x32-10 block
with counter ``(w // 4 mod 2**32, w // 2**34, 0, 0)`` and key
``(seed mod 2**32, seed >> 32)``.  Each call reads the words from ``counter`` on,
element ``i`` always the same ones (``counter + i`` for a float32 uniform), and then
advances ``counter`` past them.  So a result depends only on ``(seed, counter, shape)``:
it is bitwise the same for any thread count, and a call can be replayed from its
``(seed, counter)`` (dropout's backward does that instead of storing a mask).

Everywhere gradkit takes an ``rng`` argument it accepts a :class:`Generator`, an int
seed (a fresh ``Generator(seed)``, so the same numbers every call) or None (the module's
default generator, see :func:`default_generator` and :func:`seed`); see
:func:`as_generator`.
"""
from __future__ import annotations

import numbers
import secrets
import threading
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from . import _validation as _v
from ._ext import random as _k

if TYPE_CHECKING:
    from ._typing import DTypeLike, FloatArray, NDArray, RNG, Shape

__all__ = ["Generator", "as_generator", "default_generator", "seed"]

_U64 = 1 << 64
_SPAWN_TAG = 0x5350574E  # "SPWN": counter word c3 of the blocks that derive child keys
BIT_GENERATOR = "Philox4x32-10"


_check_seed = _v.uint64


def _key(s):
    return (s & 0xFFFFFFFF, s >> 32)


class Generator:
    """Counter-based generator over Philox4x32-10.

    Parameters
    ----------
    seed : int in [0, 2**64) or None
        The Philox key.  None draws one from the operating system's entropy (like
        ``numpy.random.default_rng()``).

    Attributes
    ----------
    seed : int
        The key; ``Generator(g.seed)`` restarts the same stream.
    counter : int
        The position (in 32-bit words) of the next draw.

    Notes
    -----
    Words consumed per call of ``n`` elements (the counter advances by as many):
    ``uniform``/``truncated_normal``/``bits32``: n (float32) or 2n (float64);
    ``normal``: 2*ceil(n/2) (float32) or 4*ceil(n/2) (float64);
    ``integers``: n when ``high - low <= 2**32``, else 2n.  Hence a call of n
    elements followed by a call of m gives the same values as one call of n + m for
    uniform, truncated_normal, bits32 and integers always, and for normal when n is
    even.  Exact formulas per element: ``gradkit/random.h`` (installed header).
    """

    def __init__(self, seed: Optional[int] = None) -> None:
        self._lock = threading.Lock()
        self._reset(seed)

    def _reset(self, seed):
        self._seed = secrets.randbits(64) if seed is None else _check_seed(seed)
        self._counter = 0
        self._spawned = 0

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def counter(self) -> int:
        return self._counter

    def __repr__(self) -> str:
        return f"Generator(seed={self._seed}, counter={self._counter})"

    # pickle / copy.deepcopy: the state dict (a lock cannot be pickled)
    def __getstate__(self) -> dict[str, Any]:
        return self.get_state()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self._reset(0)
        self.set_state(state)

    def _take(self, words):
        """Reserve `words` words of the stream; returns the first one's position."""
        with self._lock:
            c = self._counter
            self._counter = (c + int(words)) % _U64
        return c

    # ---- helpers ------------------------------------------------------------------
    # ---- distributions --------------------------------------------------------------
    def bits32(self, shape: Optional[Shape], *,
               out: Optional[NDArray[np.uint32]] = None) -> NDArray[np.uint32]:
        """Raw 32-bit words of the stream (uint32): element i is word counter + i."""
        y, _ = _v.fill_target(shape, np.uint32, out, float_out=False)
        n = y.size
        _k.bits32(y, n, self._seed, self._take(n))
        return y

    def uniform(self, shape: Optional[Shape], low: float = 0.0, high: float = 1.0,
                dtype: Optional[DTypeLike] = None, *,
                out: Optional[FloatArray] = None) -> FloatArray:
        """Uniform floats on ``[low, high)`` (``torch.Tensor.uniform_``).

        float32 from the top 24 bits of one word, float64 from 53 bits of two words
        (``((a >> 5) * 2**26 + (b >> 6)) * 2**-53``); the value
        ``low + (high - low) * u`` is computed in the output dtype, and a rounding onto
        ``high`` is replaced by the largest value below ``high``.

        Parameters
        ----------
        shape : int or tuple of ints (None: out's shape)
        low, high : float
            Finite bounds, ``low <= high`` (equal bounds give ``low``).
        dtype : float32 (default) or float64 (default: out's dtype when out is given)
        out : ndarray, optional
            C-contiguous array to fill.
        """
        y, _ = _v.fill_target(shape, dtype, out)
        low, high = _v.finite_real(low, "low"), _v.finite_real(high, "high")
        if low > high:
            raise ValueError(f"uniform needs low <= high, got low={low}, high={high}")
        if not np.isfinite(high - low):
            raise ValueError(f"high - low overflows: low={low}, high={high}")
        n = y.size
        words = _k.words("f32" if y.dtype == np.float32 else "f64", n)
        _k.uniform(y, n, low, high, self._seed, self._take(words))
        return y

    def normal(self, shape: Optional[Shape], mean: float = 0.0, std: float = 1.0,
               dtype: Optional[DTypeLike] = None, *,
               out: Optional[FloatArray] = None) -> FloatArray:
        """Normal floats, ``mean + std * z`` (``torch.Tensor.normal_``).

        Box-Muller over pairs of uniforms: elements ``2p`` and ``2p + 1`` are
        ``r cos(2 pi u2)`` and ``r sin(2 pi u2)`` with ``r = sqrt(-2 ln u1)``,
        ``u1 in (0, 1]``; 24-bit uniforms computed in float32 for float32 output,
        53-bit ones in float64 for float64.

        Parameters
        ----------
        shape : int or tuple of ints (None: out's shape)
        mean : float
        std : float >= 0
        dtype : float32 (default) or float64
        out : ndarray, optional
        """
        y, _ = _v.fill_target(shape, dtype, out)
        mean, std = _v.finite_real(mean, "mean"), _v.finite_real(std, "std")
        if std < 0:
            raise ValueError(f"std must be >= 0, got {std}")
        n = y.size
        words = _k.words("normal_f32" if y.dtype == np.float32 else "normal_f64", n)
        _k.normal(y, n, mean, std, self._seed, self._take(words))
        return y

    def truncated_normal(self, shape: Optional[Shape], mean: float = 0.0, std: float = 1.0,
                         a: float = -2.0, b: float = 2.0,
                         dtype: Optional[DTypeLike] = None, *,
                         out: Optional[FloatArray] = None) -> FloatArray:
        r"""Normal(mean, std) truncated to ``[a, b]`` (absolute bounds, as
        ``torch.nn.init.trunc_normal_``), drawn exactly by inverse CDF.

        .. math:: x = \mu + \sigma\,\Phi^{-1}\bigl(\Phi(a') + u\,(\Phi(b') - \Phi(a'))\bigr),
                  \quad a' = (a - \mu)/\sigma,\ b' = (b - \mu)/\sigma

        with ``u`` uniform on (0, 1) and everything in float64 (float32: Acklam's
        quantile, 1e-9 relative; float64: refined to full precision by one Halley
        step).  No clipping of normal draws: the only clamp to ``[a, b]`` undoes
        rounding.  When ``a'`` > 0 the draw is made on ``[-b', -a']`` and negated, so
        small tail probabilities keep their precision.  Unlike torch (which computes in
        the tensor's dtype and then clamps) the result is exact in distribution for
        any bounds within about 37 standard deviations of the mean.

        Parameters
        ----------
        shape : int or tuple of ints (None: out's shape)
        mean : float
        std : float > 0
        a, b : float
            Bounds, ``a <= b``; may be infinite.
        dtype : float32 (default) or float64
        out : ndarray, optional
        """
        y, _ = _v.fill_target(shape, dtype, out)
        mean, std = _v.finite_real(mean, "mean"), _v.finite_real(std, "std")
        a, b = _v.real(a, "a"), _v.real(b, "b")
        if std <= 0:
            raise ValueError(f"std must be > 0, got {std}")
        if a > b:
            raise ValueError(f"truncated_normal needs a <= b, got a={a}, b={b}")
        n = y.size
        words = _k.words("f32" if y.dtype == np.float32 else "f64", n)
        _k.trunc_normal(y, n, mean, std, a, b, self._seed, self._take(words))
        return y

    def integers(self, shape: Optional[Shape], low: int, high: Optional[int] = None, *,
                 out: Optional[NDArray[np.int64]] = None) -> NDArray[np.int64]:
        """Uniform int64 on ``[low, high)`` (``numpy.random.Generator.integers``; with
        ``high`` None the range is ``[0, low)``).

        Unbiased: Lemire's multiply-shift with rejection, one word per element for
        ranges up to 2**32, two otherwise; a rejected draw is redrawn from Philox
        blocks outside the main stream (counter word c2 = retry number), so element
        ``i`` still depends only on ``(seed, counter, i)``.
        """
        y, _ = _v.fill_target(shape, np.int64, out, float_out=False)
        if high is None:
            low, high = 0, low
        low = _v.integer(low, "low", None, None)
        high = _v.integer(high, "high", None, None)
        if not (-(1 << 63) <= low < high <= (1 << 63)):
            raise ValueError(f"integers needs -2**63 <= low < high <= 2**63, got "
                             f"low={low}, high={high}")
        rng = (high - low) % _U64        # 0 stands for the full 2**64 range
        n = y.size
        _k.integers(y, n, low, rng, self._seed, self._take(_k.words("integers", n, rng)))
        return y

    # ---- streams and state ------------------------------------------------------------
    def spawn(self, n: int) -> list[Generator]:
        """``n`` new independent generators (as ``numpy.random.Generator.spawn``).

        Child ``j`` (counting every child this generator ever spawned) gets the key
        made of words 0 and 1 of the Philox block with counter
        ``(j mod 2**32, j >> 32, 0, 0x5350574E)`` under this generator's key: a block
        outside every stream, so the parent's stream is not consumed.  Keys are
        64-bit, so two streams coincide with probability about ``2**-64`` per pair.
        """
        n = _v.positive_int(n, "n", minimum=0)
        with self._lock:
            first = self._spawned
            if first + n > _U64:  # child numbers are 64-bit counters
                raise ValueError(f"n={n} would spawn past child 2**64 of this generator")
            self._spawned += n
        key = _key(self._seed)
        kids = []
        for j in range(first, first + n):
            w = _k.philox_block((j & 0xFFFFFFFF, (j >> 32) & 0xFFFFFFFF, 0, _SPAWN_TAG), key)
            kids.append(Generator(w[0] | (w[1] << 32)))
        return kids

    def get_state(self) -> dict[str, Any]:
        """The state as a dict: ``{'bit_generator': 'Philox4x32-10', 'seed', 'counter',
        'spawned'}`` (plain ints; JSON-serializable)."""
        with self._lock:
            return {"bit_generator": BIT_GENERATOR, "seed": self._seed,
                    "counter": self._counter, "spawned": self._spawned}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_state` (``spawned`` optional, default 0)."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict, got {type(state).__name__}")
        if state.get("bit_generator", BIT_GENERATOR) != BIT_GENERATOR:
            raise ValueError(f"state is for {state.get('bit_generator')!r}, not "
                             f"{BIT_GENERATOR}")
        for k in ("seed", "counter"):
            if k not in state:
                raise ValueError(f"state is missing {k!r}")
        unknown = set(state) - {"bit_generator", "seed", "counter", "spawned"}
        if unknown:
            raise ValueError(f"state has unknown keys {sorted(map(repr, unknown))}")
        s = _check_seed(state["seed"], "state['seed']")
        c = _check_seed(state["counter"], "state['counter']")
        sp = _check_seed(state.get("spawned", 0), "state['spawned']")
        with self._lock:  # every field checked above: nothing is half-restored
            self._seed, self._counter, self._spawned = s, c, sp


_DEFAULT = Generator()


def default_generator() -> Generator:
    """The module-level :class:`Generator` used wherever ``rng=None``.

    Seeded from the operating system's entropy at import; :func:`seed` reseeds it.
    """
    return _DEFAULT


def seed(s: Optional[int] = None) -> Generator:
    """Reseed the default generator in place (``torch.manual_seed``): key ``s``,
    counter 0.  None draws a fresh key from entropy.  Returns the default generator."""
    s = None if s is None else _check_seed(s, "s")
    with _DEFAULT._lock:
        _DEFAULT._reset(s)
    return _DEFAULT


def as_generator(rng: RNG, name: str = "rng") -> Generator:
    """The :class:`Generator` an ``rng`` argument means: a Generator itself, an int
    seed (a new ``Generator(rng)``), or None (the default generator)."""
    if rng is None:
        return _DEFAULT
    if isinstance(rng, Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return Generator(_check_seed(rng, name))
    raise TypeError(f"{name} must be a gradkit.random.Generator, an int seed or None, "
                    f"got {type(rng).__name__}")
