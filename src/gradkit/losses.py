"""Losses with their gradients, forward and backward fused: softmax cross-entropy
(with label smoothing, ignore_index and class weights), distillation KL divergence, the
distillation loss, the KL divergence of log-probabilities (``F.kl_div``), and mean
squared error.

Each function returns ``(loss, grad)``: the loss as PyTorch computes it and the
gradient of that loss with respect to the first argument, i.e. what
``loss.backward()`` leaves in ``.grad``.  A reduced loss ('mean', 'sum') is a Python
float (what ``loss.item()`` gives in PyTorch), accumulated in float64 whatever the
dtype; ``reduction='none'`` gives an array of the input's dtype, and then the gradient
is that of ``loss.sum()`` (a backward with ones).  Results are bitwise identical for any
thread count.

16-bit storage (float16, ``gradkit.bfloat16``): the logits (and float targets, in the
logits' dtype) may be 16-bit.  The arithmetic is float32 with float64 sums, the loss is
a float (float32 for ``reduction='none'``) and the gradient has the logits' dtype,
rounded once: the float32 results on the exactly widened inputs.  Class weights are
float32 or the logits' dtype.  softmax_cross_entropy widens each row in its kernel; the
others run their float32 kernel on a widened copy.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Optional, Union, overload

import numpy as np

from . import _precision
from . import _validation as _v
from ._ext import losses as _k

if TYPE_CHECKING:
    from ._typing import ArrayLike, FloatArray, NDArray

__all__ = ["softmax_cross_entropy", "kl_div", "kl_div_log_probs", "distillation_loss",
           "mse"]


def _reduction(reduction, batchmean=False):
    """The kernel's code of `reduction` ('batchmean' too where `batchmean`)."""
    if batchmean and reduction == "batchmean":
        return _k.BATCHMEAN
    if not isinstance(reduction, str) or reduction not in _k.REDUCTIONS:
        names = "'none', 'batchmean', 'sum' or 'mean'" if batchmean else \
            "'mean', 'sum' or 'none'"
        raise ValueError(f"reduction must be {names}, got {reduction!r}")
    return _k.REDUCTIONS[reduction]


def _logits(a, name):
    a = _v.float_array(a, name, half=True)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, C), got shape {a.shape}")
    if a.shape[1] == 0 and a.shape[0] > 0:
        raise ValueError(f"{name} must have at least one class (C >= 1), got shape {a.shape}")
    return a


def _targets(labels, logits, ignore_index):
    """(int64 class indices, None) or (None, probabilities) for these logits."""
    if labels is None:
        raise TypeError("labels must be int class indices or float probabilities, got None")
    lab = _label_array(labels)
    n, c = logits.shape
    if lab.dtype.kind in "iu":
        if lab.shape != (n,):
            raise ValueError(f"labels (class indices) must have shape ({n},), got {lab.shape}")
        if lab.dtype.kind == "u" and lab.size and lab.max() > _v.INT64_MAX:
            raise ValueError(f"labels must be class indices in [0, {c}), got {lab.max()}")
        lab = np.ascontiguousarray(lab, dtype=np.int64)  # also native byte order
        if not lab.flags.aligned:
            lab = lab.copy()
        if n:
            valid = lab[lab != ignore_index]
            if valid.size and (valid.min() < 0 or valid.max() >= c):
                bad = valid[(valid < 0) | (valid >= c)][0]
                raise ValueError(f"labels must be class indices in [0, {c}) or "
                                 f"ignore_index={ignore_index}, got {bad}")
        return lab, None
    if lab.dtype.kind == "f" or _v.is_half(lab.dtype):
        probs = _v.float_array(lab, "labels", half=True)
        _v.same_dtype(probs, logits.dtype, "labels (probabilities)", "logits")
        if probs.shape != logits.shape:
            raise ValueError(f"labels (probabilities) must have the shape of logits "
                             f"{logits.shape}, got {probs.shape}")
        return None, probs
    raise TypeError(f"labels must be int class indices or float probabilities, "
                    f"got dtype {lab.dtype}")


def _class_weight(weight, x, c):
    """The checked per-class weights for logits x with c classes: x's dtype, or for
    16-bit logits float32 or x's dtype, handed to the kernel as float32."""
    weight = _v.float_array(weight, "weight", half=_v.is_half(x.dtype))
    if not (_v.is_half(x.dtype) and weight.dtype == _v.FLOAT32):
        _v.same_dtype(weight, x.dtype, "weight", "logits")
    if weight.shape != (c,):
        raise ValueError(f"weight must have shape ({c},), one weight per class of "
                         f"logits {x.shape}, got {weight.shape}")
    return weight.astype(_v.compute_dtype(x.dtype), copy=False)


def _widened(*arrays):
    """16-bit arrays widened exactly to new float32 arrays (others as they are)."""
    return tuple(_precision.widened(a) for a in arrays)


def _label_array(labels):
    if isinstance(labels, np.ndarray):
        return labels
    try:
        return np.asarray(labels)
    except (TypeError, ValueError) as e:
        raise TypeError(f"labels must be int class indices or float probabilities, got "
                        f"{type(labels).__name__} ({e})") from None


def _int(v, name):
    """An int the kernel holds as int64 (huge ints raise ValueError)."""
    return _v.integer(v, name, -_v.INT64_MAX - 1, _v.INT64_MAX)


_unit_interval = _v.probability
_positive = _v.positive_float


# reduction 'mean'/'sum' give a float loss, 'none' an array (overloads for type checkers)
@overload
def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike, *,
                          label_smoothing: float = ...,
                          reduction: Literal["mean", "sum"] = ...,
                          ignore_index: int = ...,
                          weight: Optional[ArrayLike] = ...) -> tuple[float, FloatArray]: ...
@overload
def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike, *,
                          label_smoothing: float = ..., reduction: Literal["none"],
                          ignore_index: int = ...,
                          weight: Optional[ArrayLike] = ...
                          ) -> tuple[FloatArray, FloatArray]: ...
@overload
def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike, *,
                          label_smoothing: float = ..., reduction: str,
                          ignore_index: int = ..., weight: Optional[ArrayLike] = ...
                          ) -> tuple[Union[float, FloatArray], FloatArray]: ...
def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike, *,
                          label_smoothing: float = 0.0, reduction: str = "mean",
                          ignore_index: int = -100, weight: Optional[ArrayLike] = None
                         ) -> tuple[Union[float, FloatArray], FloatArray]:
    r"""Softmax cross-entropy and its gradient, in one pass per row
    (``F.cross_entropy`` followed by ``backward``).

    With :math:`\log p = \mathrm{log\_softmax}(z)` over the C classes of a row and the
    smoothed target :math:`t = (1-\varepsilon)\,y + \varepsilon/C` (``y`` the one-hot of a
    class index, or the given probabilities),

    .. math::
        \ell_i = -\sum_c t_{ic} \log p_{ic}, \qquad
        \frac{\partial \ell_i}{\partial z_{ic}} = p_{ic} \sum_k t_{ik} - t_{ic}.

    These are PyTorch's formulas for both label forms: for class indices its
    ``(1-ε)·nll + ε/C·Σ_c(-log p_c)``, for probabilities the smoothed target above.
    Computed stably (the row max is subtracted; logits of 1e4 are fine), in float64
    accumulators.

    With class weights :math:`w` (``weight=``, PyTorch's semantics) the target of a row
    becomes :math:`u_c = (1-\varepsilon)\,w_y\,[c = y] + \varepsilon\,w_c/C` for a
    class index :math:`y` (PyTorch's ``(1-ε)·nll(w) + ε/C·Σ_c(-w_c log p_c)``) and
    :math:`u_c = w_c t_c` for probabilities; the loss and gradient are the formulas
    above with :math:`u` for :math:`t`.  'mean' then divides by :math:`\sum_i w_{y_i}`
    over the rows not ignored (class indices, as ``nll_loss``), or by N (probabilities).

    Parameters
    ----------
    logits : ndarray, float32, float64, float16 or bfloat16, shape (N, C)
        Also PyTorch's other layouts: (C,) for one sample, and (N, C, d1, ..., dK) with
        the classes on axis 1 (each position is a row; 'mean' averages over all of them).
    labels : ndarray
        Class indices of shape (N,) of any integer dtype, each in ``[0, C)`` or equal to
        ``ignore_index``; or target probabilities of shape (N, C) and the logits' dtype.
        For the other layouts: indices of shape () or (N, d1, ..., dK), probabilities
        of the logits' shape.
    label_smoothing : float in [0, 1]
    reduction : {'mean', 'sum', 'none'}
        'mean' divides the sum by the number of rows whose label is not
        ``ignore_index`` (class indices; NaN if there is none, as in PyTorch) or by N
        (probabilities).
    ignore_index : int
        Rows with this class index have loss 0 and gradient 0 (PyTorch's default -100).
        Not used with probabilities.
    weight : ndarray of shape (C,) and the logits' dtype, optional
        Per-class weights (any values, as PyTorch; they are not normalized); float32
        or the logits' dtype for 16-bit logits.

    Returns
    -------
    loss : float, or ndarray of shape (N,) for reduction='none' ((N, d1, ..., dK), or
        0-d for one sample; float32 for 16-bit logits)
    dlogits : ndarray of the logits' shape and dtype
        Gradient of ``loss`` (of ``loss.sum()`` for 'none').

    Raises
    ------
    ValueError
        A class index outside ``[0, C)`` that is not ``ignore_index`` (named ``labels``).
    """
    # the common call (2-D logits, int64 labels, plain arguments) runs whole in compiled
    # code; None: the checked path below (which copies, reshapes or says what is wrong)
    fast = _k.softmax_cross_entropy_fast(logits, labels, label_smoothing, reduction,
                                         ignore_index, weight)
    if fast is not None:
        return fast
    x = _v.float_array(logits, "logits", half=True)
    red = _reduction(reduction)
    smooth = _unit_interval(label_smoothing, "label_smoothing")
    ignore_index = _int(ignore_index, "ignore_index")
    if weight is not None:
        weight = _class_weight(weight, x, x.shape[0] if x.ndim == 1 else
                               x.shape[1] if x.ndim else 0)
    if x.ndim == 2:
        return _cross_entropy_2d(_logits(x, "logits"), labels, smooth, ignore_index,
                                 reduction, red, weight)
    # PyTorch's other layouts, as rows of (N*, C): (C,) unbatched with a scalar class
    # index or (C,) probabilities; (N, C, d1, ..., dK) with the classes on axis 1
    if x.ndim == 0:
        raise ValueError("logits must have a class axis, got a 0-d array")
    if labels is None:
        raise TypeError("labels must be int class indices or float probabilities, got None")
    lab = _label_array(labels)
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    if x.ndim == 1:
        outer, z2 = (), x.reshape(1, c)
    else:
        outer = (x.shape[0],) + x.shape[2:]
        z2 = np.ascontiguousarray(np.moveaxis(x, 1, -1)).reshape(-1, c)
    if lab.dtype.kind == "f" or _v.is_half(lab.dtype):
        if lab.shape != x.shape:
            raise ValueError(f"labels (probabilities) must have the shape of logits "
                             f"{x.shape}, got {lab.shape}")
        lab2: NDArray[Any] = (lab.reshape(1, c) if x.ndim == 1
                              else np.moveaxis(lab, 1, -1).reshape(-1, c))
    else:
        if lab.shape != outer:
            raise ValueError(f"labels (class indices) must have shape {outer} for logits "
                             f"of shape {x.shape}, got {lab.shape}")
        lab2 = lab.reshape(-1)
    loss, d2 = _cross_entropy_2d(_logits(z2, "logits"), lab2, smooth, ignore_index,
                                 reduction, red, weight)
    if reduction == "none":
        loss = loss.reshape(outer)
    if x.ndim == 1:
        return loss, d2.reshape(c)
    return loss, np.ascontiguousarray(np.moveaxis(d2.reshape(outer + (c,)), -1, 1))


def _cross_entropy_2d(logits, labels, smooth, ignore_index, reduction, red, weight):
    lab, probs = _targets(labels, logits, ignore_index)
    n, c = logits.shape
    dlogits = _v.empty(logits.shape, logits.dtype)
    row_loss = np.empty(n, _v.compute_dtype(logits.dtype)) if reduction == "none" else None
    total = _k.softmax_cross_entropy(logits, lab, probs, weight, row_loss, dlogits, n, c,
                                     smooth, ignore_index, red)
    return (row_loss if row_loss is not None else total), dlogits


def kl_div(student_logits: ArrayLike, teacher_logits: ArrayLike, *,
           temperature: float = 1.0) -> tuple[float, FloatArray]:
    r"""Distillation KL divergence, batch mean, and its gradient with respect to the
    student's logits.

    .. math::
        L = \frac1N \sum_i \mathrm{KL}\bigl(\mathrm{softmax}(t_i/T)\,\big\|\,
            \mathrm{softmax}(s_i/T)\bigr), \qquad
        \frac{\partial L}{\partial s_i} = \frac{\mathrm{softmax}(s_i/T) -
            \mathrm{softmax}(t_i/T)}{T\,N}

    This is ``F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1),
    reduction='batchmean')``, with no :math:`T^2` factor (see
    :func:`distillation_loss`).  Classes whose teacher probability underflows to 0
    contribute 0, as in PyTorch.

    Parameters
    ----------
    student_logits, teacher_logits : ndarray, shape (N, C), one float dtype
    temperature : float > 0

    Returns
    -------
    loss : float
    dstudent : ndarray of the student's shape and dtype
    """
    s = _logits(student_logits, "student_logits")
    t = _v.like(teacher_logits, "teacher_logits", s, "student_logits", half=True)
    temperature = _positive(temperature, "temperature")
    s32, t32 = _widened(s, t)
    ds = _v.empty(s.shape, s32.dtype)
    total = _k.kl_div(s32, t32, ds, s.shape[0], s.shape[1], temperature)
    return total, (ds if s32 is s else _precision.narrow(ds, s.dtype))


def distillation_loss(student_logits: ArrayLike, teacher_logits: ArrayLike,
                      labels: ArrayLike, *, temperature: float = 2.0,
                      alpha: float = 0.7) -> tuple[float, FloatArray]:
    r"""Knowledge-distillation loss (Hinton et al., 2015) and its gradient with respect to
    the student's logits.

    .. math::
        L = \alpha\,T^2\,\mathrm{KL}_T(s, t) + (1-\alpha)\,\mathrm{CE}(s, y)

    with :math:`\mathrm{KL}_T` the batch-mean KL divergence of :func:`kl_div` (the
    :math:`T^2` keeps the soft term's gradient on the scale of the hard one) and CE the
    mean softmax cross-entropy of :func:`softmax_cross_entropy` at temperature 1.

    Parameters
    ----------
    student_logits, teacher_logits : ndarray, shape (N, C)
    labels : ndarray
        As for :func:`softmax_cross_entropy` (class indices or probabilities).
    temperature : float > 0
    alpha : float in [0, 1]
        Weight of the soft (teacher) term.

    Returns
    -------
    loss : float
    dstudent : ndarray
    """
    s = _logits(student_logits, "student_logits")
    temperature = _positive(temperature, "temperature")
    alpha = _unit_interval(alpha, "alpha")
    if _v.is_half(s.dtype):   # the float32 loss on widened inputs, the gradient rounded once
        t = _v.like(teacher_logits, "teacher_logits", s, "student_logits", half=True)
        lab = _label_array(labels)
        if _v.is_half(lab.dtype):
            lab = _v.like(lab, "labels (probabilities)", s, "student_logits", half=True)
        loss, ds = distillation_loss(*_widened(s, t, lab), temperature=temperature,
                                     alpha=alpha)
        return loss, _precision.narrow(ds, s.dtype)
    kl, dkl = kl_div(s, teacher_logits, temperature=temperature)
    ce, dce = softmax_cross_entropy(s, labels)
    w_soft = alpha * temperature * temperature
    dkl *= dkl.dtype.type(w_soft)
    dce *= dce.dtype.type(1.0 - alpha)
    dkl += dce
    return w_soft * kl + (1.0 - alpha) * ce, dkl


@overload
def kl_div_log_probs(input: ArrayLike, target: ArrayLike, *,
                     reduction: Literal["mean", "sum", "batchmean"] = ...,
                     log_target: bool = ...) -> tuple[float, FloatArray]: ...
@overload
def kl_div_log_probs(input: ArrayLike, target: ArrayLike, *, reduction: Literal["none"],
                     log_target: bool = ...) -> tuple[FloatArray, FloatArray]: ...
@overload
def kl_div_log_probs(input: ArrayLike, target: ArrayLike, *, reduction: str,
                     log_target: bool = ...
                     ) -> tuple[Union[float, FloatArray], FloatArray]: ...
def kl_div_log_probs(input: ArrayLike, target: ArrayLike, *, reduction: str = "mean",
                     log_target: bool = False
                     ) -> tuple[Union[float, FloatArray], FloatArray]:
    r"""KL divergence with the input given as log-probabilities, pointwise, and its
    gradient with respect to the input (``F.kl_div(input, target, reduction=...,
    log_target=...)`` followed by ``backward``).

    .. math::
        \ell_j = \mathrm{xlogy}(t_j, t_j) - t_j x_j, \qquad
        \frac{\partial \ell_j}{\partial x_j} = -t_j

    or, with ``log_target`` (the target given as log-probabilities too),
    :math:`\ell_j = e^{t_j}(t_j - x_j)` and :math:`\partial\ell_j/\partial x_j =
    -e^{t_j}`.  Nothing is normalized or exponentiated along an axis: every element is
    used as it is (unlike :func:`kl_div`, which takes logits).  As in PyTorch,
    :math:`\mathrm{xlogy}(0, \cdot) = 0`, so a zero target adds :math:`-0 \cdot x_j`
    (0, or NaN where :math:`x_j = -\infty`), and a negative target gives NaN.

    Parameters
    ----------
    input : ndarray, float32, float64, float16 or bfloat16, any shape
        Log-probabilities :math:`x`.
    target : ndarray of the input's shape and dtype
        Probabilities :math:`t` (log-probabilities with ``log_target``).
    reduction : {'mean', 'batchmean', 'sum', 'none'}
        'mean' divides the sum by the number of elements (PyTorch's 'mean', which is
        not the KL divergence of the rows), 'batchmean' by the size of the first axis
        (the mathematical KL for rows of distributions; by 1 for a 0-d input), 'none'
        returns every :math:`\ell_j`.  An empty input gives NaN for 'mean' and
        'batchmean' (0/0).
    log_target : bool

    Returns
    -------
    loss : float, or ndarray of the input's shape and dtype for 'none' (float32 for
        16-bit input)
        Summed in float64 (a fixed order, the same for any thread count).
    dinput : ndarray of the input's shape and dtype
        Gradient of ``loss`` (of ``loss.sum()`` for 'none').
    """
    x = _v.float_array(input, "input", half=True)
    t = _v.like(target, "target", x, "input", half=True)
    red = _reduction(reduction, batchmean=True)
    log_target = _v.flag(log_target, "log_target")
    x32, t32 = _widened(x, t)
    dx = _v.empty(x.shape, x32.dtype)
    elem = np.empty_like(x32) if reduction == "none" else None
    batch = x.shape[0] if x.ndim else 1
    total = _k.kl_div_pointwise(x32, t32, elem, dx, x.size, batch, log_target, red)
    return (elem if elem is not None else total), (
        dx if x32 is x else _precision.narrow(dx, x.dtype))


@overload
def mse(pred: ArrayLike, target: ArrayLike, *,
        reduction: Literal["mean", "sum"] = ...) -> tuple[float, FloatArray]: ...
@overload
def mse(pred: ArrayLike, target: ArrayLike, *,
        reduction: Literal["none"]) -> tuple[FloatArray, FloatArray]: ...
@overload
def mse(pred: ArrayLike, target: ArrayLike, *,
        reduction: str) -> tuple[Union[float, FloatArray], FloatArray]: ...
def mse(pred: ArrayLike, target: ArrayLike, *,
        reduction: str = "mean") -> tuple[Union[float, FloatArray], FloatArray]:
    r"""Mean squared error and its gradient (``F.mse_loss`` and ``backward``).

    .. math:: \ell_j = (p_j - y_j)^2, \qquad
              L = \tfrac1n \textstyle\sum_j \ell_j \;(\text{mean}), \qquad
              \partial L / \partial p_j = 2 (p_j - y_j) / n

    Parameters
    ----------
    pred, target : ndarray of one shape and float dtype
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    loss : float, or ndarray of pred's shape for 'none' (float32 for 16-bit pred)
    dpred : ndarray of pred's shape and dtype
        Gradient of ``loss`` (of ``loss.sum()`` for 'none'; without the 1/n for 'sum').
    """
    pred = _v.float_array(pred, "pred", half=True)
    target = _v.like(target, "target", pred, "pred", half=True)
    red = _reduction(reduction)
    p32, t32 = _widened(pred, target)
    dpred = _v.empty(pred.shape, p32.dtype)
    elem = np.empty_like(p32) if reduction == "none" else None
    total = _k.mse(p32, t32, elem, dpred, pred.size, red)
    return (elem if elem is not None else total), (
        dpred if p32 is pred else _precision.narrow(dpred, pred.dtype))
