"""Inverted dropout and stochastic depth, forward and backward.

Dropout draws its mask from the Philox stream of a :class:`gradkit.random.Generator`:
element ``i`` (flat, C order) reads word ``counter + i`` and is kept iff
``word < keep_prob * 2**32`` -- raw 32-bit integers, no float conversion -- so the mask
is a function of ``(seed, counter)`` alone.  The forward writes ``y`` and a
1-bit-per-element mask in one pass; the backward runs either from that bit mask or,
storing nothing, by regenerating the mask from ``(seed, counter)``.

16-bit storage (float16, ``gradkit.bfloat16``): x, y, dy and dx may be 16-bit.  The
mask is the same as for float32 data (it depends on the stream only), and each output
is the float32 result on the exactly widened input, rounded once to x's dtype:
``y = round(float32(x) * float32(1 / (1 - p)))``.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import numpy as np

from . import _validation as _v
from ._ext import dropout as _k
from ._ext import random as _rk
from .random import as_generator

if TYPE_CHECKING:
    from ._typing import ArrayLike, FloatArray, NDArray, RNG, Shape

_check_seed = _v.uint64

__all__ = ["DropoutMask", "dropout", "dropout_backward", "drop_path", "drop_path_backward"]


def _keep_bound(p):
    """Words below this are kept: ceil(keep_prob * 2**32) (exact in float64)."""
    return int(np.ceil((1.0 - p) * 4294967296.0))


class DropoutMask:
    """The mask of one :func:`dropout` call: bit-packed, or just the (seed, counter) it
    was drawn with.  Immutable: every attribute is read-only and ``bits`` is a
    read-only array (:func:`dropout_backward` trusts nothing of it all the same).

    Attributes
    ----------
    shape : tuple
        Shape of the input.
    p : float
        Drop probability.
    seed, counter : int
        Key and first word of the Philox stream the mask was drawn from.
    stored : bool
        Whether the bits are held (``dropout(..., store_mask=True)``) or regenerated
        from ``(seed, counter)`` when needed.

    Notes
    -----
    ``bits`` is a uint8 array of ``ceil(size / 8)`` bytes, element ``i`` in bit
    ``i % 8`` of byte ``i // 8`` (``np.packbits(..., bitorder='little')``); a mask that
    was not stored computes it on access.  :meth:`from_state` rebuilds a mask from
    ``(shape, p, seed, counter)`` saved anywhere, so a training loop can keep 16 bytes
    per layer instead of the bits.
    """

    __slots__ = ("_shape", "_p", "_seed", "_counter", "_bits")
    _shape: tuple[int, ...]
    _p: float
    _seed: int
    _counter: int
    _bits: Optional[NDArray[np.uint8]]

    def __init__(self, shape: Shape, p: float, seed: int, counter: int,
                 bits: Optional[NDArray[np.uint8]] = None) -> None:
        shape = _v.size_shape(shape)
        if bits is not None:
            bits = _v.exact_array(bits, "bits", np.uint8, (_nbytes(shape),))
            bits = bits.copy()  # our own copy: the caller's buffer may change later
        self._init(shape, _v.probability(p), _check_seed(seed, "seed"),
                   _check_seed(counter, "counter"), bits)

    def _init(self, shape, p, seed, counter, bits):
        if bits is not None:
            bits.flags.writeable = False
        # the base's slots: a subclass's own __slots__ (empty) would set none of them
        for k, v in zip(DropoutMask.__slots__, (shape, p, seed, counter, bits)):
            object.__setattr__(self, k, v)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"DropoutMask is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"DropoutMask is immutable: cannot delete {name!r}")

    def __reduce__(self):
        return (DropoutMask, (self._shape, self._p, self._seed, self._counter, self._bits))

    @classmethod
    def _trusted(cls, shape, p, seed, counter, bits):
        """Built by dropout() from values it has checked: no validation (per-call cost)."""
        m = cls.__new__(cls)
        m._init(shape, p, seed, counter, bits)
        return m

    @classmethod
    def from_state(cls, shape: Shape, p: float, seed: int, counter: int) -> DropoutMask:
        """A mask known only by the stream it was drawn from (nothing stored)."""
        return cls(shape, p, seed, counter)

    shape = property(lambda self: self._shape, doc="Shape of the input (a tuple).")
    p = property(lambda self: self._p, doc="Drop probability.")
    seed = property(lambda self: self._seed, doc="Philox key of the mask's stream.")
    counter = property(lambda self: self._counter, doc="First word of the stream.")

    @property
    def size(self) -> int:
        return math.prod(self._shape)

    @property
    def stored(self) -> bool:
        return self._bits is not None

    @property
    def bits(self) -> NDArray[np.uint8]:
        if self._bits is not None:
            return self._bits
        words = np.empty(self.size, np.uint32)
        _rk.bits32(words, words.size, self._seed, self._counter)
        keep = words.astype(np.uint64) < _keep_bound(self._p)
        bits = np.packbits(keep, bitorder="little")
        bits.flags.writeable = False
        return bits

    def to_bool(self) -> NDArray[np.bool_]:
        """The mask as a bool array of ``shape`` (True = kept)."""
        return np.unpackbits(self.bits, count=self.size, bitorder="little").view(
            bool).reshape(self._shape)

    def __repr__(self) -> str:
        return (f"DropoutMask(shape={self._shape}, p={self._p}, seed={self._seed}, "
                f"counter={self._counter}, stored={self.stored})")


_k.set_mask_type(DropoutMask)  # the class dropout_backward's compiled fast path takes


def _nbytes(shape):
    return (math.prod(shape) + 7) // 8


def _checked_mask(mask):
    """mask's fields re-validated (a subclass or poked private attributes must not
    reach the kernel): (shape, p, seed, counter, bits or None)."""
    if not isinstance(mask, DropoutMask):
        raise TypeError(f"mask must be a DropoutMask or None, got {type(mask).__name__}")
    try:
        shape, p, seed, counter, bits = (object.__getattribute__(mask, k)
                                         for k in DropoutMask.__slots__)
    except AttributeError:
        raise ValueError("mask is not initialized") from None
    shape = _v.size_shape(shape, "mask.shape")
    p = _v.probability(p, "mask.p")
    seed, counter = _check_seed(seed, "mask.seed"), _check_seed(counter, "mask.counter")
    if bits is not None:
        bits = _v.exact_array(bits, "mask.bits", np.uint8, (_nbytes(shape),))
    return shape, p, seed, counter, bits


def dropout(x: ArrayLike, p: float = 0.5, *, training: bool = True, rng: RNG = None,
            out: Optional[FloatArray] = None, store_mask: bool = True
            ) -> tuple[FloatArray, Optional[DropoutMask]]:
    r"""Inverted dropout (``torch.nn.functional.dropout``).

    .. math:: y_i = x_i \cdot m_i, \qquad m_i = \begin{cases} 1/(1-p) & r_i < (1-p)\,2^{32}
              \\ 0 & \text{otherwise} \end{cases}

    with :math:`r_i` word ``counter + i`` of the generator's Philox stream (so
    ``P(keep) = ceil((1-p) 2^32) / 2^32``, within :math:`2^{-32}` of ``1 - p``).  The
    scale ``1/(1-p)`` is rounded to x's dtype once and multiplied in, as PyTorch does;
    a dropped element is ``x * 0`` (NaN/Inf give NaN, as in PyTorch).  ``p = 1`` gives
    ``x * 0``.  The generator's counter advances by ``x.size``.  16-bit x: the same
    mask, the product in float32 (the scale rounded to float32) rounded once to x's
    dtype.

    Parameters
    ----------
    x : ndarray, float32, float64, float16 or bfloat16
    p : float in [0, 1]
        Drop probability.
    training : bool
        False: return ``x`` itself (or a copy into ``out``) and mask None.
    rng : Generator, int or None
        See :func:`gradkit.random.as_generator`.
    out : ndarray, optional
        C-contiguous array of x's shape and dtype (may be x itself).
    store_mask : bool
        True (default): the mask carries its bits (1 bit per element).  False: only
        ``(seed, counter)``; :func:`dropout_backward` regenerates the mask.

    Returns
    -------
    y : ndarray
    mask : DropoutMask or None
    """
    if training is True:  # the common call, checked compiled (None: the path below)
        fast = _k.dropout_fast(x, p, as_generator(rng), out, store_mask)
        if fast is not None:
            return fast
    p = _v.probability(p)
    training = _v.flag(training, "training")
    store_mask = _v.flag(store_mask, "store_mask")
    if not training:
        xa = _v.float_array(x, "x", half=True)  # x itself when it is already a native array
        if out is None:
            return xa, None
        y = _v.output(out, xa.shape, xa.dtype)
        if y is not xa:
            np.copyto(y, xa)
        return y, None
    x = _v.float_array(x, "x", half=True)
    gen = as_generator(rng)
    y = _v.output(out, x.shape, x.dtype)
    bits = _v.empty((x.size + 7) // 8, np.uint8) if store_mask else None
    counter = gen._take(x.size)
    _k.dropout(x, y, bits, x.size, p, gen.seed, counter)
    return y, DropoutMask._trusted(x.shape, p, gen.seed, counter, bits)


def dropout_backward(dy: ArrayLike, mask: Optional[DropoutMask], *,
                     out: Optional[FloatArray] = None) -> FloatArray:
    r"""Gradient of :func:`dropout`: ``dx = dy * m`` with the forward's mask.

    From the stored bits when ``mask.stored``; otherwise the mask is regenerated from
    ``(mask.seed, mask.counter)`` inside the kernel (the forward applied to dy with
    the same stream), so no mask memory is needed at all.  ``mask=None`` (the
    forward ran in eval mode) returns dy itself (or a copy into ``out``).

    Parameters
    ----------
    dy : ndarray
        Gradient with respect to y, the shape of the forward's input.
    mask : DropoutMask or None
    out : ndarray, optional
        C-contiguous array of dy's shape and dtype (may be dy itself).
    """
    if mask is None:
        return dropout(dy, 0.0, training=False, out=out)[0]
    fast = _k.dropout_backward_fast(dy, mask, out)  # the common call, checked compiled
    if fast is not None:
        return fast
    shape, p, seed, counter, bits = _checked_mask(mask)
    dy = _v.float_array(dy, "dy", half=True)
    if dy.shape != shape:
        raise ValueError(f"dy must have the mask's shape {shape}, got {dy.shape}")
    dx = _v.output(out, dy.shape, dy.dtype)
    if bits is not None:
        _k.dropout_backward(dy, bits, dx, dy.size, p)
    else:
        _k.dropout(dy, dx, None, dy.size, p, seed, counter)
    return dx


def drop_path(x: ArrayLike, p: float, *, training: bool = True, rng: RNG = None,
              out: Optional[FloatArray] = None) -> tuple[FloatArray, NDArray[np.bool_]]:
    r"""Stochastic depth: drop whole samples (axis 0) of a residual branch (timm's
    ``drop_path`` with ``scale_by_keep=True``).

    .. math:: y_{n,\dots} = x_{n,\dots}\,k_n / (1 - p), \qquad k_n = [r_n < (1-p)\,2^{32}]

    with :math:`r_n` word ``counter + n`` of the generator's stream (the rule of
    :func:`dropout`); ``p = 1`` gives ``x * 0``.  The counter advances by ``N``.
    16-bit x: computed in float32, rounded once (as :func:`dropout`).

    Parameters
    ----------
    x : ndarray, float32, float64, float16 or bfloat16, shape (N, ...)
    p : float in [0, 1]
        Drop probability per sample.
    training : bool
        False (or p = 0): return ``x`` itself (or a copy into ``out``) and ``keep`` all
        True, as timm does.
    rng : Generator, int or None
    out : ndarray, optional
        C-contiguous array of x's shape and dtype (may be x itself).

    Returns
    -------
    y : ndarray
    keep : ndarray of bool, shape (N,)
    """
    p = _v.probability(p)
    training = _v.flag(training, "training")
    x = _v.float_array(x, "x", half=True)
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension (the samples)")
    n = x.shape[0]
    if not training or p == 0.0:
        return dropout(x, 0.0, training=False, out=out)[0], np.ones(n, bool)
    gen = as_generator(rng)
    y = _v.output(out, x.shape, x.dtype)
    keep = np.empty(n, bool)
    # one kernel: the samples' words, then y = x * (kept ? 1 / (1 - p) : 0) per sample
    # (the scale rounded to x's dtype once, as dropout does)
    _k.drop_path(x, y, keep, n, x.size // n if n else 0, p, gen.seed, gen._take(n))
    return y, keep


def drop_path_backward(dy: ArrayLike, keep: ArrayLike, p: float, *,
                       out: Optional[FloatArray] = None) -> FloatArray:
    """Gradient of :func:`drop_path`: ``dx = dy * keep / (1 - p)`` per sample (``dy *
    0`` on a dropped one).  ``out``: C-contiguous array of dy's shape and dtype (may be
    dy itself)."""
    fast = _k.drop_path_backward_fast(dy, keep, p, out)  # the common call, checked compiled
    if fast is not None:
        return fast
    p = _v.probability(p)
    dy = _v.float_array(dy, "dy", half=True)
    keep = np.asarray(keep)
    if keep.dtype != bool:
        raise TypeError(f"keep must be a bool array, got dtype {keep.dtype}")
    if dy.ndim < 1 or keep.shape != (dy.shape[0],):
        raise ValueError(f"keep must have shape (dy.shape[0],), got {keep.shape} for dy "
                         f"{dy.shape}")
    keep = np.ascontiguousarray(keep)
    n = dy.shape[0]
    dx = _v.output(out, dy.shape, dy.dtype)
    _k.drop_path_backward(dy, keep, dx, n, dy.size // n if n else 0, p)
    return dx
