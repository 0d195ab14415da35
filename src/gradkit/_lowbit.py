"""Low-bit weight quantization: per-group RTN and GPTQ, packed weights, the
dequantizing matmul (re-exported by :mod:`gradkit.quant`).

GPTQ (Frantar et al., 2022, "GPTQ: Accurate Post-Training Quantization for Generative
Pre-trained Transformers") quantizes a linear layer's weight W (out x in) column by
column, each column's rounding error spread over the columns not yet quantized through
the upper Cholesky factor of the inverse Hessian H^-1 of the layer's inputs (H = 2/n
X^T X), so that ||W X - W_hat X||^2 stays small.  gradkit follows the reference
implementation (IST-DASLab/gptq, as AutoGPTQ/GPTQModel use it) step by step, in
float32 as it computes; the column loop and the lazy block updates are compiled
(gk_gptq_f32), and so is the factor of H^-1 (gk_gptq_hinv_f32, blocked, on BLAS).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from . import _blas
from . import _precision
from . import _validation as _v
from ._ext import quant as _k

if TYPE_CHECKING:
    from ._typing import ArrayLike, NDArray

__all__ = ["hessian", "Hessian", "quantize_weight", "gptq", "QuantizedWeight", "qlinear"]

BITS = (2, 3, 4, 8)
_F32 = np.dtype(np.float32)


# ---- argument checks ---------------------------------------------------------------------

def _bits(bits):
    bits = _v.integer(bits, "bits")
    if bits not in BITS:
        raise ValueError(f"bits must be one of 2, 3, 4, 8, got {bits}")
    return bits


def _group_size(group_size):
    gs = _v.integer(group_size, "group_size")
    if gs != -1 and gs < 1:
        raise ValueError(f"group_size must be -1 (one group per row) or >= 1, got {gs}")
    return gs


def _finite(a, name):
    if a.size and not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinity")


def _weight(w: Any, name: str = "w") -> Any:
    """w as a 2-D float32 array (a float64 w is rounded to float32, as the reference
    computes in float32), finite."""
    w = _v.float_array(w, name)
    if w.ndim != 2:
        raise ValueError(f"{name} must be 2-D (out_features, in_features), got shape "
                         f"{w.shape}")
    _finite(w, name)
    return w


def _words(cols, bits):
    """uint32 words per packed row: bits words per run of 32 columns."""
    return bits * (-(-cols // 32))


def _n_groups(cols, gs):
    """(groups, the group width): -1 or a width past cols is one group per row."""
    width = cols if gs == -1 or gs > cols else gs
    return (-(-cols // width) if cols else 0), max(width, 1)


# ---- the Hessian of the calibration inputs -----------------------------------------------

def hessian(x: ArrayLike, h: Optional[ArrayLike] = None, n: int = 0) -> tuple[Any, int]:
    r"""The GPTQ Hessian of a layer's calibration inputs, accumulated over batches.

    .. math:: H_{new} = \frac{n}{n + m} H + \frac{2}{n + m} X^\top X

    for a batch X of m rows (``x`` of shape (..., d): every leading index is a row), so
    that after all batches :math:`H = \frac{2}{N}\sum_i x_i x_i^\top` over the N rows
    seen.  The reference's ``add_batch`` counts the entries of a 3-D batch's first axis
    instead of its rows; that only rescales H, and GPTQ's result does not depend on the
    scale of H (the damping is relative to its mean diagonal).

    Parameters
    ----------
    x : ndarray (..., d), float32 or float64
    h : ndarray (d, d) of x's dtype, or None (no earlier batches)
        Not modified: a new array is returned (:class:`Hessian` updates its own).
    n : int
        The rows behind ``h``.

    Returns
    -------
    h : ndarray (d, d), x's dtype, symmetric
    n : int, the rows seen in all
    """
    x2 = _calibration(x, None)
    n = _v.integer(n, "n", minimum=0)
    d = x2.shape[1]
    if h is None:
        if n:
            raise ValueError("n must be 0 when h is None")
        out = _v.empty((d, d), x2.dtype)
        beta = 0.0
    else:
        out = _square(h, "h", d, x2.dtype).copy()
        beta = n / (n + x2.shape[0]) if n + x2.shape[0] else 0.0
    total = n + x2.shape[0]
    with _blas.single_threaded():
        _k.gram(x2, 2.0 / total if total else 0.0, beta, out)
    return out, total


def _calibration(x, d):
    """x (..., d) as a C-contiguous 2-D float array, finite."""
    x = _v.float_array(x, "x")
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension (..., in_features)")
    if d is not None and x.shape[-1] != d:
        raise ValueError(f"x must have {d} features in its last axis (the weight's "
                         f"in_features), got shape {x.shape}")
    x2 = x.reshape(int(np.prod(x.shape[:-1])), x.shape[-1]) if x.ndim != 2 else x
    _finite(x2, "x")
    return np.ascontiguousarray(x2)


def _square(h, name, d, dtype):
    h = _v.float_array(h, name)
    if h.shape != (d, d):
        raise ValueError(f"{name} must have shape {(d, d)}, got {h.shape}")
    _v.same_dtype(h, dtype, name)
    return h


class Hessian:
    r"""Accumulator of the GPTQ Hessian :math:`H = \frac{2}{n}\sum_i x_i x_i^\top`
    (see :func:`hessian`), updated in place batch by batch.

    Parameters
    ----------
    in_features : int
    dtype : float32 (default) or float64

    Attributes
    ----------
    h : ndarray (in_features, in_features)
    n : int, the rows added so far
    """

    def __init__(self, in_features: int, dtype: Any = np.float32) -> None:
        d = _v.positive_int(in_features, "in_features", minimum=0)
        self.h = np.zeros((d, d), _v.float_dtype(dtype))
        self.n = 0

    def add(self, x: ArrayLike) -> "Hessian":
        """Add a batch of inputs x (..., in_features); returns self."""
        x2 = _calibration(x, self.h.shape[0])
        _v.same_dtype(x2, self.h.dtype, "x", "the Hessian")
        m = x2.shape[0]
        if m == 0:
            return self
        total = self.n + m
        with _blas.single_threaded():
            _k.gram(x2, 2.0 / total, self.n / total, self.h)
        self.n = total
        return self

    def __repr__(self) -> str:
        return f"Hessian(in_features={self.h.shape[0]}, n={self.n}, dtype={self.h.dtype})"


# ---- the quantized weight ------------------------------------------------------------------

class QuantizedWeight:
    r"""A weight quantized to ``bits`` bits per group of input columns, packed.

    Column c of row r stands for
    :math:`\hat W_{rc} = s_{r,g}\,(q_{rc} - z_{r,g})` with :math:`g = ` ``g_idx[c]``.

    Layout
    ------
    packed : uint32 (rows, bits * ceil(cols / 32))
        Each row's values as one little-endian bit stream, ``bits`` bits per value
        (column c at bit ``bits * c``), cut into 32-bit words; padding bits are 0.  So
        4 bits: eight columns per word, column 8k + j in bits 4j..4j+3 of word k (two
        per byte, the low nibble first); 2 bits: sixteen per word; 8 bits: four; 3 bits:
        32 columns in every 3 words, columns 10 and 21 of each run straddling two words
        (the reference's Quant3Linear layout, along each row).
    scales : float32 (rows, groups)
    zeros : uint8 (rows, groups), integers in [0, 2**bits - 1]
    g_idx : int32 (cols,), the group of each input column: ``c // group_size``, or the
        act-order groups of :func:`gptq`.
    bits, group_size (-1: one group per row), shape (rows, cols)
    """

    packed: Any
    scales: Any
    zeros: Any
    g_idx: Any

    def __init__(self, packed: Any, scales: Any, zeros: Any, g_idx: Any, *, bits: int,
                 group_size: int, shape: Any) -> None:
        bits = _bits(bits)
        gs = _group_size(group_size)
        shape = _v.size_shape(shape)
        if len(shape) != 2:
            raise ValueError(f"shape must be (rows, cols), got {shape}")
        rows, cols = shape
        words = _words(cols, bits)
        self.packed = _v.exact_array(packed, "packed", np.uint32, (rows, words))
        sshape = getattr(scales, "shape", None)
        if not (isinstance(sshape, tuple) and len(sshape) == 2 and sshape[0] == rows):
            raise ValueError(f"scales must have shape ({rows}, groups), got {sshape}")
        groups = sshape[1]
        self.scales = _v.exact_array(scales, "scales", np.float32, (rows, groups))
        self.zeros = _v.exact_array(zeros, "zeros", np.uint8, (rows, groups))
        self.g_idx = _v.exact_array(g_idx, "g_idx", np.int32, (cols,))
        if cols and (self.g_idx.min() < 0 or self.g_idx.max() >= groups):
            raise ValueError(f"g_idx must be in [0, {groups}) (the groups of scales)")
        if self.zeros.size and int(self.zeros.max()) > 2 ** bits - 1:
            raise ValueError(f"zeros must be <= {2 ** bits - 1} for {bits} bits")
        _finite(self.scales, "scales")
        self.bits, self.group_size, self.shape = bits, gs, (rows, cols)
        width = _n_groups(cols, gs)[1]
        natural = np.arange(cols, dtype=np.int32) // width
        # g_idx as the kernels take it: None for the natural groups (contiguous runs)
        self._kernel_g_idx = None if np.array_equal(self.g_idx, natural) else self.g_idx
        self._width = width
        self._sorted: Optional[tuple[Any, Any]] = None   # see _grouped()

    def _grouped(self) -> tuple[Any, Any, Any]:
        """(packed, g_idx or None, column order or None) for the matmul.  An act-order
        weight's groups are runs of the processing order, scattered over the columns;
        sorted by group they are contiguous again, so the kernels' natural-group paths
        apply to the weight repacked in that column order and x gathered in it (made
        once, kept: a second packed copy).  Other layouts go as they are."""
        g = self._kernel_g_idx
        if g is None:
            return self.packed, None, None
        if self._sorted is None:
            order = np.argsort(g, kind="stable")
            if np.array_equal(g[order], np.arange(len(g)) // self._width):
                q = self.unpack()[:, order]
                packed = np.empty_like(self.packed)
                _k.pack(np.ascontiguousarray(q), self.bits, packed)
                self._sorted = (packed, order.astype(np.intp))
            else:
                self._sorted = (None, None)
        if self._sorted[0] is None:
            return self.packed, g, None
        return self._sorted[0], None, self._sorted[1]

    @property
    def nbytes(self) -> int:
        """Bytes of packed, scales, zeros and g_idx."""
        return int(self.packed.nbytes + self.scales.nbytes + self.zeros.nbytes
                   + self.g_idx.nbytes)

    def unpack(self) -> Any:
        """The integers q (rows, cols) as uint8."""
        q = np.empty(self.shape, np.uint8)
        _k.unpack(self.packed, self.bits, q)
        return q

    def dequantize(self, dtype: Any = np.float32) -> Any:
        """:math:`\\hat W` (rows, cols) in ``dtype`` (computed in float32, then cast)."""
        dt = _v.float_dtype(dtype)
        out = _v.empty(self.shape, np.float32)
        _k.dequantize_weight(self.packed, self.scales, self.zeros, self._kernel_g_idx,
                             self.shape[0], self.shape[1], self._width, self.bits, out)
        return out if dt == _F32 else out.astype(dt)

    def save(self, file: Any) -> None:
        """Write to a NumPy ``.npz`` file (a path or a file object)."""
        np.savez(file, packed=self.packed, scales=self.scales, zeros=self.zeros,
                 g_idx=self.g_idx, bits=np.int64(self.bits),
                 group_size=np.int64(self.group_size), shape=np.array(self.shape, np.int64))

    @classmethod
    def load(cls, file: Any) -> "QuantizedWeight":
        """Read what :meth:`save` wrote."""
        with np.load(file, allow_pickle=False) as z:
            missing = {"packed", "scales", "zeros", "g_idx", "bits", "group_size",
                       "shape"} - set(z.files)
            if missing:
                raise ValueError(f"file is not a saved QuantizedWeight (missing "
                                 f"{', '.join(sorted(missing))})")
            return cls(z["packed"], z["scales"], z["zeros"], z["g_idx"],
                       bits=int(z["bits"]), group_size=int(z["group_size"]),
                       shape=tuple(int(v) for v in z["shape"]))

    def __repr__(self) -> str:
        return (f"QuantizedWeight(shape={self.shape}, bits={self.bits}, "
                f"group_size={self.group_size}, nbytes={self.nbytes})")


def _packed(q, scales, zeros, g_idx, bits, gs, shape):
    packed = np.empty((shape[0], _words(shape[1], bits)), np.uint32)
    _k.pack(q, bits, packed)
    return QuantizedWeight(packed, scales, zeros, g_idx, bits=bits, group_size=gs,
                           shape=shape)


# ---- round to nearest ----------------------------------------------------------------------

def _rtn(w32, bits, width, sym):
    rows, cols = w32.shape
    groups = -(-cols // width) if cols else 0
    q = _v.empty((rows, cols), np.uint8)
    scales = np.empty((rows, groups), np.float32)
    zeros = np.empty((rows, groups), np.uint8)
    _k.rtn(w32, bits, width, sym, q, scales, zeros)
    return q, scales, zeros


def quantize_weight(w: ArrayLike, bits: int = 4, group_size: int = 128,
                    sym: bool = False) -> QuantizedWeight:
    r"""Round-to-nearest quantization per group of ``group_size`` input columns.

    Each row's group of columns gets the reference (GPTQ) min-max quantizer, in float32:
    :math:`x_{min} = \min(\min w, 0)`, :math:`x_{max} = \max(\max w, 0)` (the range
    always holds 0); symmetric: :math:`x_{max} = \max(|x_{min}|, x_{max})` and, where
    :math:`x_{min} < 0`, :math:`x_{min} = -x_{max}`; an all-zero group gets [-1, 1];
    :math:`s = (x_{max} - x_{min}) / q_{max}` with :math:`q_{max} = 2^{bits} - 1`,
    :math:`z = \mathrm{round}(-x_{min}/s)` (symmetric: :math:`(q_{max} + 1)/2`), and
    :math:`q = \mathrm{clamp}(\mathrm{round}(w/s) + z, 0, q_{max})`, rounding half to
    even.  (As in the reference, a symmetric group with no negative value keeps
    :math:`x_{min} = 0`, so its values above :math:`(q_{max}-z)\,s` are clipped.)

    Parameters
    ----------
    w : ndarray (out_features, in_features), float32 or float64 (rounded to float32)
    bits : {2, 3, 4, 8}
    group_size : int
        Columns per group (the last group may be shorter); -1 for one group per row.
    sym : bool

    Returns
    -------
    QuantizedWeight
    """
    wa = _weight(w)
    bits, gs, sym = _bits(bits), _group_size(group_size), _v.flag(sym, "sym")
    w32 = np.ascontiguousarray(wa, np.float32)
    width = _n_groups(wa.shape[1], gs)[1]
    q, scales, zeros = _rtn(w32, bits, width, sym)
    g_idx = (np.arange(wa.shape[1]) // width).astype(np.int32)
    return _packed(q, scales, zeros, g_idx, bits, gs, wa.shape)


# ---- GPTQ ----------------------------------------------------------------------------------

def _upper_cholesky_of_inverse(H, damp_percent):
    """U upper with H^-1 = U^T U (C order; H is overwritten).  With J the reversal
    permutation and J H J = L L^T, H = R R^T for the upper R = J L J, so
    H^-1 = R^-T R^-1 and U = R^-1 = J L^-1 J: one Cholesky factorization and one
    triangular inverse (the reference's Cholesky, inverse from it and second Cholesky
    give the same factor for twice the work), blocked, compiled, every off-diagonal
    block one single-threaded sgemm (gk_gptq_hinv_f32)."""
    U = _v.empty(H.shape, H.dtype)
    with _blas.single_threaded():
        ok = _k.gptq_hinv(H, U)
    if not ok:
        raise ValueError("the Hessian is not positive definite after damping: raise "
                         f"damp_percent (got {damp_percent}) or add calibration data")
    return U


def gptq(w: ArrayLike, h: ArrayLike, bits: int = 4, group_size: int = 128,
         block_size: int = 128, damp_percent: float = 0.01, act_order: bool = False,
         static_groups: bool = False, sym: bool = False) -> QuantizedWeight:
    r"""GPTQ: quantize a linear layer's weight with the Hessian of its inputs.

    The reference algorithm (``GPTQ.fasterquant``), in float32:

    1. Dead inputs (:math:`H_{ii} = 0`) get :math:`H_{ii} = 1` and a zero weight column.
    2. ``act_order``: columns go by descending :math:`H_{ii}` (a stable sort; the
       reference's is unspecified among ties), recorded in ``g_idx``.
    3. :math:`H_{ii} \mathrel{+}= \lambda`, :math:`\lambda = ` ``damp_percent`` times
       the mean of diag H; U = the upper Cholesky factor of :math:`H^{-1}`.
    4. For each block of ``block_size`` columns, for each column c: quantize every row's
       value (the quantizer of :func:`quantize_weight`), with the group's parameters
       found when the group starts, from the weights as they stand at the start of the
       current block (``static_groups``: found for every group up front, from the
       weights after step 1; ``group_size=-1``: one set per row, found from the original
       weights before step 1, as the reference does); the error
       :math:`e = (w - \hat w)/U_{cc}` is subtracted from the block's later columns,
       :math:`w_j \mathrel{-}= e\,U_{cj}`; at the block's end the block's errors update
       every later column at once, :math:`W_{:, i_2:} \mathrel{-}= E\,U_{i_1:i_2,\,i_2:}`.

    The column loop and the block updates are compiled, in fixed tiles of rows, each
    with single-threaded BLAS (a block's errors update the rest of its super-block of
    up to 512 columns, the super-block's errors every later column: the reference's
    updates in exact arithmetic, in another rounding order).  The factor is compiled
    too: a blocked Cholesky of the reversed H and the inverse of its factor, the same
    U as the reference's three factorizations for a third of the work.  The result
    does not depend on the thread count.  See docs/quant.md.

    Parameters
    ----------
    w : ndarray (out_features, in_features), float32 or float64 (rounded to float32)
    h : ndarray (in_features, in_features), symmetric (:func:`hessian`)
    bits : {2, 3, 4, 8}
    group_size : int, columns per group, -1 for one group per row
    block_size : int, columns per lazy block update
    damp_percent : float >= 0
    act_order, static_groups, sym : bool

    Returns
    -------
    QuantizedWeight

    Raises
    ------
    ValueError
        A bad argument, NaN in w or h, or an H that is not positive definite after
        damping (the message names damp_percent).
    """
    wa = _weight(w)
    rows, cols = wa.shape
    ha = _v.float_array(h, "h")
    if ha.shape != (cols, cols):
        raise ValueError(f"h must have shape {(cols, cols)} (in_features of w), got "
                         f"{ha.shape}")
    _finite(ha, "h")
    bits, gs = _bits(bits), _group_size(group_size)
    block_size = _v.positive_int(block_size, "block_size")
    damp = _v.nonneg_float(damp_percent, "damp_percent")
    act_order = _v.flag(act_order, "act_order")
    static_groups = _v.flag(static_groups, "static_groups")
    sym = _v.flag(sym, "sym")
    if cols:
        asym, amax = _k.asymmetry(np.ascontiguousarray(ha))
        if asym > 1e-5 * amax:
            raise ValueError("h must be symmetric")

    # working copies on the output cache: fresh 64 MB blocks cost their page faults
    W = _v.empty(wa.shape, np.float32)
    np.copyto(W, wa)
    H = _v.empty(ha.shape, np.float32)
    np.copyto(H, ha)
    groups, width = _n_groups(cols, gs)
    scales = np.zeros((rows, groups), np.float32)
    zeros = np.zeros((rows, groups), np.uint8)
    find = True
    if gs == -1 and cols:                     # per row, from the weights before step 1
        _, scales, zeros = _rtn(W, bits, width, sym)
        find = False
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    if static_groups and gs != -1 and cols:
        _, scales, zeros = _rtn(W, bits, width, sym)
        find = False
    perm = np.arange(cols)
    if act_order:
        perm = np.argsort(-np.diag(H), kind="stable")
        W = np.ascontiguousarray(W[:, perm])
        H = np.ascontiguousarray(H[perm][:, perm])
    if cols:
        H[np.arange(cols), np.arange(cols)] += np.float32(damp) * np.mean(np.diag(H),
                                                                          dtype=np.float32)
    hinv = _upper_cholesky_of_inverse(H, damp_percent) if cols else H
    if gs == -1:
        col_group = np.zeros(cols, np.int32)
    elif static_groups:
        col_group = (perm // width).astype(np.int32)
    else:
        col_group = (np.arange(cols) // width).astype(np.int32)
    q = _v.empty((rows, cols), np.uint8)
    with _blas.single_threaded():
        _k.gptq(W, hinv, col_group, groups, bits, sym, width, block_size, find, q, scales,
                zeros)
    if act_order:
        inv = np.argsort(perm)
        q = np.ascontiguousarray(q[:, inv])
        col_group = np.ascontiguousarray(col_group[inv])
    return _packed(q, scales, zeros, col_group, bits, gs, (rows, cols))


# ---- the dequantizing matmul -----------------------------------------------------------------

def qlinear(x: ArrayLike, qw: QuantizedWeight, bias: Optional[ArrayLike] = None) -> Any:
    r""":math:`y = x \hat W^\top + b` with :math:`\hat W` dequantized on the fly.

    The float weight is never materialized whole: up to 16 rows of x, 16 columns of
    :math:`\hat W` are dequantized at a time in registers and multiplied into every row
    of x (4-bit natural groups on AVX-512; other layouts one row of :math:`\hat W` at a
    time, in L1); more rows of x, tiles of :math:`\hat W`'s rows of about 2 MiB are
    dequantized and multiplied by BLAS sgemm.  An act-order weight (:func:`gptq` with
    ``act_order=True``) is repacked once with its columns sorted by group, kept with
    it, and x is gathered in that order, so it takes the same paths.  Equal to ``x @ qw.dequantize().T`` to
    float32 round-off; the same bits for any thread count.

    16-bit x (float16, bfloat16) is storage only, as everywhere in gradkit
    (docs/precision.md): x is widened exactly to float32, the product and the bias are
    computed in float32 as above, and y is rounded once to x's dtype -- the float32
    result of the widened x, rounded (what ``torch.nn.functional.linear`` gives on
    16-bit CPU tensors up to its own accumulation order).

    Parameters
    ----------
    x : ndarray (..., in_features), float32, float16 or bfloat16
    qw : QuantizedWeight of shape (out_features, in_features)
    bias : ndarray (out_features,), float32 (or x's 16-bit dtype), or None

    Returns
    -------
    ndarray (..., out_features), x's dtype
    """
    if not isinstance(qw, QuantizedWeight):
        raise TypeError(f"qw must be a QuantizedWeight, got {type(qw).__name__}")
    rows, cols = qw.shape
    x = _v.float_array(x, "x", half=True)
    half = x.dtype if _v.is_half(x.dtype) else None
    if x.dtype != _F32 and half is None:
        raise TypeError(f"x must be float32, float16 or bfloat16, got {x.dtype}")
    if x.ndim < 1 or x.shape[-1] != cols:
        raise ValueError(f"x must have {cols} features in its last axis (qw's "
                         f"in_features), got shape {x.shape}")
    if bias is not None:
        bias = _v.float_array(bias, "bias", half=True)
        if bias.dtype != _F32 and bias.dtype != half:
            allowed = "float32" if half is None else f"float32 or {_v.dtype_name(half)}"
            raise TypeError(f"bias must be {allowed}, got {_v.dtype_name(bias.dtype)}")
        if bias.shape != (rows,):
            raise ValueError(f"bias must have shape {(rows,)}, got {bias.shape}")
        if bias.dtype != _F32:
            bias = _precision.widen(np.ascontiguousarray(bias))
    if half is not None:
        x = _precision.widen(np.ascontiguousarray(x))
    batch = int(np.prod(x.shape[:-1]))     # (not -1: cols or rows may be 0)
    x2 = x.reshape(batch, cols)
    packed, g_idx, order = qw._grouped()
    if order is not None:
        x2 = np.take(x2, order, axis=1)
    y = _v.empty(x.shape[:-1] + (rows,), np.float32)
    y2 = y.reshape(batch, rows)
    if batch > 16:
        with _blas.single_threaded():
            _k.qlinear(x2, packed, qw.scales, qw.zeros, g_idx, rows, cols, qw._width,
                       qw.bits, bias, y2)
    else:
        _k.qlinear(x2, packed, qw.scales, qw.zeros, g_idx, rows, cols, qw._width, qw.bits,
                   bias, y2)
    return y if half is None else _precision.narrow(y, half)

