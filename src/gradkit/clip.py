r"""Gradient clipping over a list of gradient arrays (``torch.nn.utils`` semantics).

The norm of a list is the norm of the concatenation of its arrays, which is what
PyTorch's ``clip_grad_norm_`` computes as the norm of the per-array norms:

.. math::
    \|g\|_p = \Bigl(\sum_i \|g_i\|_p^p\Bigr)^{1/p}
            = \Bigl(\sum_i \sum_j |g_{ij}|^p\Bigr)^{1/p},\qquad
    \|g\|_\infty = \max_{ij} |g_{ij}| .

The C kernel computes it in ONE parallel pass over the whole list: fixed chunks of each
array, double accumulation (16 lanes), chunk partials combined in a fixed order, so the
value is bitwise identical for any thread count.  Differences from PyTorch: the norm is
accumulated in double for float32 gradients (PyTorch accumulates per array in float32
and returns a float32 tensor), and a float is returned instead of a tensor.

Gradient lists may mix float32 and float64 arrays (as PyTorch allows): each array is
scaled in its own dtype.  16-bit gradients (float16, ``gradkit.bfloat16``) are taken
too, alone or beside float32 ones (not beside float64): their norm is accumulated in
double from the exactly widened values, and the scaling and clamping run in float32
(the coefficient and the clip value rounded to float32), each result rounded once to
the array's dtype.  ``None`` entries are skipped (parameters without a gradient).
Non-contiguous or misaligned arrays are processed through a contiguous copy written
back in place.  Arrays modified in place must be in native byte order (a byte-swapped
``>f4`` raises TypeError) and must not overlap each other (ValueError); the read-only
``global_norm`` converts byte-swapped arrays once.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from . import _validation as _v
from ._ext import clip as _k

if TYPE_CHECKING:
    from ._typing import Arrays

__all__ = ["global_norm", "clip_grad_norm_", "clip_grad_value_"]


def _norm_type(norm_type):
    if isinstance(norm_type, str):
        try:
            norm_type = float(norm_type)
        except ValueError:
            raise ValueError(f"norm_type must be a number > 0 or 'inf', got {norm_type!r}")
    p = _v.real(norm_type, "norm_type") if not isinstance(norm_type, float) else norm_type
    if not p > 0.0:
        raise ValueError(f"norm_type must be > 0 (2, inf, or any p > 0), got {p}")
    return p


def _write_back(pairs):
    for original, copy in pairs:
        original[...] = copy


def global_norm(grads: Arrays, norm_type: float = 2.0) -> float:
    r"""The ``norm_type``-norm of all gradients together, as a float.

    .. math:: \Bigl(\sum_i \sum_j |g_{ij}|^p\Bigr)^{1/p}\quad(\max_{ij}|g_{ij}|
              \text{ for } p=\infty)

    The value ``torch.nn.utils.get_total_norm`` returns (computed in double here).

    Parameters
    ----------
    grads : list of ndarray (float32/float64/float16/bfloat16, dtypes may differ) or one
        ndarray
    norm_type : float
        2, ``inf`` (``float('inf')`` or ``'inf'``), or any p > 0.

    Returns
    -------
    float
        0.0 for an empty list; NaN if any element is NaN; inf if one is inf (p finite
        or inf) and none is NaN.
    """
    p = _norm_type(norm_type)
    arrays, _ = _v.float_array_list(grads, "grads", half=True)
    return _k.grad_norm(arrays, p)


def _clip_args(max_norm, norm_type, error_if_nonfinite, *, positive=False):
    """Checked (max_norm, p, error_if_nonfinite) of a clip by global norm; `positive`:
    max_norm must be > 0 (a step's clip: 0 would zero every gradient), else >= 0."""
    max_norm = _v.real(max_norm, "max_norm")
    if positive and not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    if max_norm < 0:
        raise ValueError(f"max_norm must be >= 0, got {max_norm}")
    return max_norm, _norm_type(norm_type), _v.flag(error_if_nonfinite, "error_if_nonfinite")


def _clip_coef(arrays, max_norm, p, error_if_nonfinite, scale=None):
    """(total norm, coefficient) of clip_grad_norm_ for checked arrays (no None), before
    anything is scaled: the norm pass, the non-finite check, torch's coefficient
    min(1, max_norm / (total + 1e-6)).  Also the first pass of a step with max_norm
    (gradkit.optim), so both compute the same coefficient from the same norm.  With
    ``scale``, the norm is that of ``scale * arrays``: ``|scale|`` times theirs (a
    p-norm is absolutely homogeneous)."""
    total = _k.grad_norm(arrays, p)
    if scale is not None:
        total *= abs(scale)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {p} for gradients is non-finite ({total}), so "
            "it cannot be clipped. Pass error_if_nonfinite=False to scale the "
            "gradients by the non-finite norm anyway.")
    coef = max_norm / (total + 1e-6)
    if coef > 1.0:  # clamp, keeping a NaN coefficient NaN as torch.clamp does
        coef = 1.0
    return total, coef


def clip_grad_norm_(grads: Arrays, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    r"""Scale the gradients in place so that their total norm is at most ``max_norm``
    (``torch.nn.utils.clip_grad_norm_``).

    .. math::
        n = \|g\|_p,\qquad c = \min\Bigl(1, \frac{\text{max\_norm}}{n + 10^{-6}}\Bigr),
        \qquad g_i \leftarrow c\, g_i

    ``c`` is applied in each array's dtype (cast to float32 for float32 arrays, and in
    float32 for 16-bit arrays, rounded once).  As in
    PyTorch a NaN total makes ``c`` NaN and an infinite total makes it 0, so the
    gradients become NaN / zero unless ``error_if_nonfinite`` is set.  When ``c == 1``
    the multiplication (an identity) is skipped.

    Parameters
    ----------
    grads : list of ndarray or one ndarray
        Modified in place.
    max_norm : float
        >= 0.
    norm_type : float
        2, inf or any p > 0.
    error_if_nonfinite : bool
        Raise RuntimeError (nothing modified) if the total norm is NaN or inf.

    Returns
    -------
    float
        The total norm before clipping.
    """
    max_norm, p, error_if_nonfinite = _clip_args(max_norm, norm_type, error_if_nonfinite)
    arrays, write_back = _v.float_array_list(grads, "grads", writable=True, half=True)
    total, coef = _clip_coef(arrays, max_norm, p, error_if_nonfinite)
    if coef != 1.0:
        _k.grad_scale_(arrays, coef)
        _write_back(write_back)
    return total


def clip_grad_value_(grads: Arrays, clip_value: float) -> None:
    r"""Clamp every gradient element into ``[-clip_value, clip_value]`` in place
    (``torch.nn.utils.clip_grad_value_``).

    .. math:: g_{ij} \leftarrow \min(\max(g_{ij}, -v), v)

    NaN elements stay NaN.  ``clip_value`` is cast to float32 for float32 and 16-bit
    arrays (a 16-bit result is the float32 clamp rounded once, so it may lie one 16-bit
    step outside a ``clip_value`` the type cannot hold, as in PyTorch).
    Unlike PyTorch, a negative ``clip_value`` raises ValueError (PyTorch would set every
    element to ``clip_value``).

    Parameters
    ----------
    grads : list of ndarray or one ndarray
        Modified in place.
    clip_value : float
        >= 0.
    """
    v = _v.real(clip_value, "clip_value")
    if v < 0:
        raise ValueError(f"clip_value must be >= 0, got {v}")
    arrays, write_back = _v.float_array_list(grads, "grads", writable=True, half=True)
    _k.grad_clamp_(arrays, v)
    _write_back(write_back)
