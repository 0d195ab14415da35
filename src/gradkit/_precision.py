"""16-bit storage conversions from Python: the shared kernel layer's (gk_convert), with
the bits of NumPy's / ml_dtypes' astype (float32 -> 16-bit rounded to nearest even, NaN
kept NaN; 16-bit -> float32 exact), threaded, GIL released.  For the families whose
16-bit path runs their float32 kernel on widened data (BatchNorm, for now)."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _validation as _v
from ._ext import runtime as _rt


def widen(a: np.ndarray) -> np.ndarray:
    """A new float32 array holding the 16-bit array `a` (native, C-contiguous) exactly."""
    out = _v.empty(a.shape, _v.FLOAT32)
    _rt.convert(a, _v.dtype_code(a.dtype), out, 0)
    return out


def widened(a: Any) -> Any:
    """A 16-bit array widened exactly to a new float32 array; any other as it is."""
    return widen(np.ascontiguousarray(a)) if _v.is_half(a.dtype) else a


def narrow(a: np.ndarray, dtype: Any, out: Optional[np.ndarray] = None) -> np.ndarray:
    """The float32 array `a` rounded once to the 16-bit `dtype`, into `out` (checked by
    the caller: C-contiguous, of a's shape and that dtype) or a new array."""
    dt = _v.as_dtype(dtype)
    if out is None:
        out = _v.empty(a.shape, dt)
    _rt.convert(a, 0, out, _v.dtype_code(dt))
    return out
