"""Weight initialization with ``torch.nn.init``'s formulas (and Keras' variance scaling).

Each function returns a new array of ``shape`` (``dtype`` float32 by default, or
float64) or fills ``out=`` in place and returns it (then ``shape`` may be None and the
dtype defaults to out's).  All take ``rng`` (a :class:`gradkit.random.Generator`, an
int seed or None for the default generator), ``dtype`` and ``out`` as keywords.
Shapes follow PyTorch's layout ``(out_features, in_features, *kernel)``: see
:func:`fans`.  Random draws come from :mod:`gradkit.random` (multithreaded, the same
numbers for any thread count).

16-bit storage: every initializer takes ``dtype=np.float16`` or ``gradkit.bfloat16``
(or a 16-bit ``out``) and gives exactly the float32 result of the same call (same
``rng``, same draws) rounded once to that dtype.
"""
from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

import numpy as np

from . import _blas
from . import _precision
from . import _validation as _v
from ._ext import random as _rnd
from .random import as_generator

if TYPE_CHECKING:
    from ._typing import DTypeLike, FloatArray, RNG, Shape

__all__ = ["calculate_gain", "fans", "zeros", "ones", "constant", "normal", "uniform",
           "trunc_normal", "xavier_uniform", "xavier_normal", "kaiming_uniform",
           "kaiming_normal", "lecun_uniform", "lecun_normal", "variance_scaling",
           "orthogonal", "eye", "lora"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")
# Keras: the std of a unit normal truncated to [-2, 2]; dividing by it gives the
# truncated draw the variance it asks for.
_TRUNC_STD_2 = 0.87962566103423978


_F = TypeVar("_F", bound=Callable[..., Any])


def _wants_half(dtype, out):
    """Whether the call asks for 16-bit storage (a bad dtype is left to the call)."""
    if dtype is None:
        return isinstance(out, np.ndarray) and _v.is_half(out.dtype)
    try:
        return _v.is_half(_v.as_dtype(dtype))
    except TypeError:
        return False


def _half_storage(fn: _F) -> _F:
    """fn for 16-bit dtypes too: fn's float32 result for the same arguments and rng,
    rounded once into the 16-bit array (new, or ``out``)."""
    @functools.wraps(fn)
    def init(shape, *args, rng=None, dtype=None, out=None, **kw):
        if not _wants_half(dtype, out):
            return fn(shape, *args, rng=rng, dtype=dtype, out=out, **kw)
        y, shape = _v.fill_target(shape, dtype, out, half=True)
        return _precision.narrow(fn(shape, *args, rng=rng, dtype=_v.FLOAT32, **kw),
                                 y.dtype, y)
    return init  # type: ignore[return-value]


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    r"""Recommended gain for a nonlinearity (``torch.nn.init.calculate_gain``).

    ======================================  ==============================
    linear, conv*, conv_transpose*, sigmoid  1
    tanh                                     5/3
    relu                                     :math:`\sqrt 2`
    leaky_relu                               :math:`\sqrt{2/(1 + a^2)}`, a = param (default 0.01)
    selu                                     3/4
    ======================================  ==============================

    Raises ValueError for any other name or a non-finite leaky_relu param, TypeError
    for a param that is not a real number.
    """
    if not isinstance(nonlinearity, str):
        raise TypeError(f"nonlinearity must be a str, got {type(nonlinearity).__name__}")
    if param is not None and nonlinearity == "leaky_relu":
        param = _v.finite_real(param, "param")  # the negative slope
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def fans(shape: Shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)``:
    ``fan_in = in * prod(kernel)``, ``fan_out = out * prod(kernel)``
    (``torch.nn.init._calculate_fan_in_and_fan_out``).  Fewer than 2 dimensions
    raise ValueError."""
    shape = _v.size_shape(shape)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for a shape with fewer "
                         f"than 2 dimensions, got {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(shape, mode):
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, got {type(mode).__name__}")
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fans(shape)
    return fan_in if mode == "fan_in" else fan_out


def _fill(y, value):
    """y[...] = value by the compiled fill (threads, non-temporal stores for large
    arrays: ndarray.fill writes on one thread through the cache), for the float32 and
    float64 arrays fill_target gives; any other array by ndarray.fill."""
    if _v.is_float(y.dtype) and y.flags.c_contiguous:
        _rnd.fill(y, y.size, value)
    else:
        y.fill(value)
    return y


@_half_storage
def zeros(shape: Optional[Shape], *, rng: RNG = None, dtype: Optional[DTypeLike] = None,
          out: Optional[FloatArray] = None) -> FloatArray:
    """Zeros (``torch.nn.init.zeros_``).  ``rng`` is accepted and unused."""
    y, _ = _v.fill_target(shape, dtype, out)
    return _fill(y, 0.0)


@_half_storage
def ones(shape: Optional[Shape], *, rng: RNG = None, dtype: Optional[DTypeLike] = None,
         out: Optional[FloatArray] = None) -> FloatArray:
    """Ones (``torch.nn.init.ones_``).  ``rng`` is accepted and unused."""
    y, _ = _v.fill_target(shape, dtype, out)
    return _fill(y, 1.0)


@_half_storage
def constant(shape: Optional[Shape], value: float, *, rng: RNG = None,
             dtype: Optional[DTypeLike] = None,
             out: Optional[FloatArray] = None) -> FloatArray:
    """Every element ``value`` (``torch.nn.init.constant_``)."""
    value = _v.real(value, "value")
    y, _ = _v.fill_target(shape, dtype, out)
    return _fill(y, value)


@_half_storage
def normal(shape: Optional[Shape], mean: float = 0., std: float = 1., *, rng: RNG = None,
           dtype: Optional[DTypeLike] = None,
           out: Optional[FloatArray] = None) -> FloatArray:
    """N(mean, std**2) (``torch.nn.init.normal_``); see
    :meth:`gradkit.random.Generator.normal`."""
    y, shape = _v.fill_target(shape, dtype, out)
    return as_generator(rng).normal(shape, mean, std, out=y)


@_half_storage
def uniform(shape: Optional[Shape], a: float = 0., b: float = 1., *, rng: RNG = None,
            dtype: Optional[DTypeLike] = None,
            out: Optional[FloatArray] = None) -> FloatArray:
    """U[a, b) (``torch.nn.init.uniform_``); see
    :meth:`gradkit.random.Generator.uniform`."""
    a, b = _v.finite_real(a, "a"), _v.finite_real(b, "b")
    if a > b:
        raise ValueError(f"uniform needs a <= b, got a={a}, b={b}")
    y, shape = _v.fill_target(shape, dtype, out)
    return as_generator(rng).uniform(shape, a, b, out=y)


@_half_storage
def trunc_normal(shape: Optional[Shape], mean: float = 0., std: float = 1., a: float = -2.,
                 b: float = 2., *, rng: RNG = None, dtype: Optional[DTypeLike] = None,
                 out: Optional[FloatArray] = None) -> FloatArray:
    """N(mean, std**2) truncated to the absolute bounds ``[a, b]``
    (``torch.nn.init.trunc_normal_``), drawn exactly by inverse CDF in float64 (torch
    computes in the tensor dtype and clamps); see
    :meth:`gradkit.random.Generator.truncated_normal`."""
    y, shape = _v.fill_target(shape, dtype, out)
    return as_generator(rng).truncated_normal(shape, mean, std, a, b, out=y)


@_half_storage
def xavier_uniform(shape: Optional[Shape], gain: float = 1., *, rng: RNG = None,
                   dtype: Optional[DTypeLike] = None,
                   out: Optional[FloatArray] = None) -> FloatArray:
    r"""Glorot uniform (``torch.nn.init.xavier_uniform_``): U(-b, b) with
    :math:`b = \text{gain}\sqrt{6/(\text{fan\_in} + \text{fan\_out})}`."""
    gain = _v.finite_real(gain, "gain")
    y, shape = _v.fill_target(shape, dtype, out)
    fan_in, fan_out = fans(shape)
    if y.size == 0:
        return y
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return as_generator(rng).uniform(shape, -bound, bound, out=y)


@_half_storage
def xavier_normal(shape: Optional[Shape], gain: float = 1., *, rng: RNG = None,
                  dtype: Optional[DTypeLike] = None,
                  out: Optional[FloatArray] = None) -> FloatArray:
    r"""Glorot normal (``torch.nn.init.xavier_normal_``): N(0, std**2) with
    :math:`\text{std} = \text{gain}\sqrt{2/(\text{fan\_in} + \text{fan\_out})}`."""
    gain = _v.finite_real(gain, "gain")
    y, shape = _v.fill_target(shape, dtype, out)
    fan_in, fan_out = fans(shape)
    if y.size == 0:
        return y
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return as_generator(rng).normal(shape, 0.0, std, out=y)


def _kaiming_std(shape, a, mode, nonlinearity):
    a = _v.finite_real(a, "a")
    fan = _fan(shape, mode)
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan) if fan > 0 else 0.0


@_half_storage
def kaiming_uniform(shape: Optional[Shape], a: float = 0., mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", *, rng: RNG = None,
                    dtype: Optional[DTypeLike] = None,
                    out: Optional[FloatArray] = None) -> FloatArray:
    r"""He uniform (``torch.nn.init.kaiming_uniform_``): U(-b, b) with
    :math:`b = \sqrt 3\,\text{gain}/\sqrt{\text{fan}}`, gain =
    ``calculate_gain(nonlinearity, a)``, fan = fan_in or fan_out (``mode``).  The
    default (a=0, leaky_relu) gives gain :math:`\sqrt 2`.  A zero-size shape is
    returned as is (torch warns and returns)."""
    y, shape = _v.fill_target(shape, dtype, out)
    std = _kaiming_std(shape, a, mode, nonlinearity)
    if y.size == 0:
        return y
    bound = math.sqrt(3.0) * std
    return as_generator(rng).uniform(shape, -bound, bound, out=y)


@_half_storage
def kaiming_normal(shape: Optional[Shape], a: float = 0., mode: str = "fan_in",
                   nonlinearity: str = "leaky_relu", *, rng: RNG = None,
                   dtype: Optional[DTypeLike] = None,
                   out: Optional[FloatArray] = None) -> FloatArray:
    r"""He normal (``torch.nn.init.kaiming_normal_``): N(0, std**2) with
    :math:`\text{std} = \text{gain}/\sqrt{\text{fan}}`."""
    y, shape = _v.fill_target(shape, dtype, out)
    std = _kaiming_std(shape, a, mode, nonlinearity)
    if y.size == 0:
        return y
    return as_generator(rng).normal(shape, 0.0, std, out=y)


@_half_storage
def variance_scaling(shape: Optional[Shape], scale: float = 1., mode: str = "fan_in",
                     distribution: str = "truncated_normal", *, rng: RNG = None,
                     dtype: Optional[DTypeLike] = None,
                     out: Optional[FloatArray] = None) -> FloatArray:
    r"""Keras ``VarianceScaling``: variance ``s = scale / max(1, n)``, n = fan_in,
    fan_out or their mean (``mode`` 'fan_in' | 'fan_out' | 'fan_avg'), drawn as

    - 'truncated_normal' (alias 'normal', as Keras): N(0, std**2) truncated to
      ``[-2 std, 2 std]`` with :math:`\text{std} = \sqrt s / 0.87962566103423978` (the
      std of a unit normal truncated to [-2, 2], so the draw has variance s);
    - 'untruncated_normal': N(0, s);
    - 'uniform': U(-b, b), :math:`b = \sqrt{3 s}`.

    Fans use PyTorch's layout (out, in, *kernel), not Keras' (*kernel, in, out).
    """
    scale = _v.finite_real(scale, "scale")
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, got {type(mode).__name__}")
    if not isinstance(distribution, str):
        raise TypeError(f"distribution must be a str, got {type(distribution).__name__}")
    mode, distribution = mode.lower(), distribution.lower()
    if mode not in ("fan_in", "fan_out", "fan_avg"):
        raise ValueError(f"mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
    if distribution == "normal":
        distribution = "truncated_normal"
    if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
        raise ValueError("distribution must be 'truncated_normal', 'untruncated_normal' "
                         f"or 'uniform', got {distribution!r}")
    y, shape = _v.fill_target(shape, dtype, out)
    fan_in, fan_out = fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    s = scale / max(1.0, float(n))
    if y.size == 0:
        return y
    gen = as_generator(rng)
    if distribution == "truncated_normal":
        std = math.sqrt(s) / _TRUNC_STD_2
        return gen.truncated_normal(shape, 0.0, std, -2.0 * std, 2.0 * std, out=y)
    if distribution == "untruncated_normal":
        return gen.normal(shape, 0.0, math.sqrt(s), out=y)
    bound = math.sqrt(3.0 * s)
    return gen.uniform(shape, -bound, bound, out=y)


@_half_storage
def lecun_uniform(shape: Optional[Shape], *, rng: RNG = None,
                  dtype: Optional[DTypeLike] = None,
                  out: Optional[FloatArray] = None) -> FloatArray:
    r"""LeCun uniform (Keras ``lecun_uniform``): U(-b, b), :math:`b = \sqrt{3/\text{fan\_in}}`
    = ``variance_scaling(shape, 1, 'fan_in', 'uniform')``."""
    return variance_scaling(shape, 1.0, "fan_in", "uniform", rng=rng, dtype=dtype, out=out)


@_half_storage
def lecun_normal(shape: Optional[Shape], *, rng: RNG = None,
                 dtype: Optional[DTypeLike] = None,
                 out: Optional[FloatArray] = None) -> FloatArray:
    r"""LeCun normal (Keras ``lecun_normal``): variance 1/fan_in from a normal truncated
    at two standard deviations = ``variance_scaling(shape, 1, 'fan_in',
    'truncated_normal')``."""
    return variance_scaling(shape, 1.0, "fan_in", "truncated_normal", rng=rng, dtype=dtype,
                            out=out)


@_half_storage
def orthogonal(shape: Optional[Shape], gain: float = 1., *, rng: RNG = None,
               dtype: Optional[DTypeLike] = None,
               out: Optional[FloatArray] = None) -> FloatArray:
    r"""(Semi-)orthogonal matrix (``torch.nn.init.orthogonal_``, Saxe et al. 2013):
    orthonormal rows or columns, uniformly (Haar) distributed, times ``gain``.

    The shape is viewed as ``(rows, cols) = (shape[0], prod(shape[1:]))``.  Let
    :math:`A` be a standard normal matrix of that shape, transposed when rows < cols, so
    that it is :math:`m \times n` with :math:`m \ge n`.  Reflector :math:`k` is built
    from :math:`x = A_{k:,\,k}`: :math:`v = x + s \lVert x\rVert e_0` with
    :math:`s = \mathrm{sign}(x_0)` (+1 for 0), :math:`H_k = I - 2 v v^T / v^T v` acting
    on rows :math:`k..m-1`, and :math:`d_k = -s`; the result is

    .. math:: Q = H_0 H_1 \cdots H_{n-1} \begin{bmatrix} I_n \\ 0 \end{bmatrix}
              \mathrm{diag}(d)

    (transposed back), computed in float64 and rounded once.  These are the reflectors
    and signs of torch's recipe, the Householder QR of a normal matrix with
    :math:`Q\,\mathrm{diag}(\mathrm{sign}(R_{ii}))`, except that each reflector is
    built from fresh normal draws instead of from the earlier reflectors applied to the
    rest of the matrix: the same Haar distribution (Stewart 1980), for the cost of
    forming Q alone, with no factorization.  Fewer than 2 dimensions raise ValueError.
    """
    gain = _v.finite_real(gain, "gain")
    y, shape = _v.fill_target(shape, dtype, out)
    if len(shape) < 2:
        raise ValueError(f"shape must have 2 or more dimensions for orthogonal, got {shape}")
    if y.size == 0:
        return y
    rows = shape[0]
    cols = y.size // rows
    a = as_generator(rng).normal((rows, cols), dtype=np.float64)
    if rows < cols:
        a = np.ascontiguousarray(a.T)
    direct = rows >= cols and y.dtype == np.float64 and y.flags.c_contiguous
    q = _haar_q(a, gain, y.reshape(rows, cols) if direct else None)
    if not direct:
        y[...] = (q.T if rows < cols else q).reshape(shape)
    return y


def _haar_q(a, gain, out=None):
    """gain Q of :func:`orthogonal` from the normal draws a (m x n float64, C order,
    m >= n; overwritten), into out (m x n float64, C order) or a new array.  The
    compiled blocked kernel (gk_orthogonal_f64) with the BLAS held to one thread, so
    that its bits do not depend on the thread count; without threadpoolctl (the BLAS
    threads cannot be held) :func:`_haar_q_unblocked`."""
    q = np.empty(a.shape) if out is None else out
    with _blas.single_threaded() as pinned:
        if pinned:
            _rnd.orthogonal(a, a.shape[0], a.shape[1], gain, q)
            return q
    np.multiply(_haar_q_unblocked(a), gain, out=q)
    return q


def _haar_q_unblocked(a):
    """Q of :func:`orthogonal` (gain 1) from the normal draws a (m x n, m >= n), one
    reflector at a time in NumPy elementwise operations and pairwise sums: no BLAS
    call, so the same bits for any thread count (slower than the blocked kernel for
    large matrices: the fallback)."""
    at = np.array(a.T, dtype=np.float64, order="C")   # row k holds column k of a
    n, m = at.shape
    q = np.zeros((m, n))
    q[np.arange(n), np.arange(n)] = 1.0                # [I; 0]
    d = np.empty(n)
    for k in range(n - 1, -1, -1):                     # Q = H_0 (H_1 (... H_{n-1} q))
        v = at[k, k:].copy()
        nrm = float(np.sqrt(np.add.reduce(v * v)))
        s = -1.0 if v[0] < 0 else 1.0
        if nrm == 0.0:
            d[k] = 1.0
            continue
        d[k] = -s
        tau = 2.0 / (2.0 * nrm * (nrm + abs(float(v[0]))))
        v[0] += s * nrm
        sub = q[k:, k:]
        sub -= (tau * v)[:, None] * np.add.reduce(sub * v[:, None], axis=0)
    return q * d


@_half_storage
def eye(shape: Optional[Shape], *, rng: RNG = None, dtype: Optional[DTypeLike] = None,
        out: Optional[FloatArray] = None) -> FloatArray:
    """Identity matrix, ones on the main diagonal of a 2-D shape (``torch.nn.init.eye_``);
    other numbers of dimensions raise ValueError."""
    y, shape = _v.fill_target(shape, dtype, out)
    if len(shape) != 2:
        raise ValueError(f"shape must be 2-D for eye, got {shape}")
    if _v.is_float(y.dtype) and y.flags.c_contiguous:
        # one pass: the ones go out with the zeros around them (filling, then setting
        # the diagonal, read every diagonal line back from memory: 83% of the limit)
        _rnd.fill_eye(y, shape[0], shape[1])
    else:
        y.fill(0)
        np.fill_diagonal(y, 1)
    return y


def lora(in_features: int, out_features: int, rank: int, *, method: str = "kaiming",
         rng: RNG = None, dtype: Optional[DTypeLike] = None,
         out: Optional[tuple[FloatArray, FloatArray]] = None
        ) -> tuple[FloatArray, FloatArray]:
    r"""LoRA adapter factors (Hu et al. 2021): ``W + B @ A`` starts equal to ``W``.

    - A, shape ``(rank, in_features)``: 'kaiming' (default) is ``nn.Linear``'s
      ``reset_parameters``, ``kaiming_uniform(a=sqrt(5))`` = U(-b, b) with
      :math:`b = 1/\sqrt{\text{in\_features}}` (PEFT's default); 'gaussian' is
      N(0, (1/rank)**2) (PEFT's ``init_lora_weights='gaussian'``).
    - B, shape ``(out_features, rank)``: zeros.

    ``out`` may be a pair ``(A, B)`` of arrays to fill.  Returns ``(A, B)``.
    """
    in_features = _v.positive_int(in_features, "in_features")
    out_features = _v.positive_int(out_features, "out_features")
    rank = _v.positive_int(rank, "rank")
    _v.choice(method, "method", ("kaiming", "gaussian"))
    if out is None:
        out_a = out_b = None
    elif isinstance(out, (tuple, list)) and len(out) == 2:
        out_a, out_b = out
    else:
        raise TypeError("out must be None or a pair (A, B) of arrays")
    a, _ = _v.fill_target((rank, in_features), dtype, out_a, "out[0]", half=True)
    b, _ = _v.fill_target((out_features, rank), a.dtype, out_b, "out[1]", half=True)
    if method == "kaiming":
        kaiming_uniform(a.shape, math.sqrt(5.0), rng=rng, out=a)
    else:
        normal(a.shape, 0.0, 1.0 / rank, rng=rng, out=a)
    _fill(b, 0.0)
    return a, b
