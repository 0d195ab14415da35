"""Argument checks shared by the whole public API (the one validation module).

Every check raises before anything is written: TypeError for a wrong type or dtype,
ValueError for a wrong shape or value (``out=`` of the wrong dtype is a ValueError, as
DESIGN.md states for outputs), always naming the argument.

Rules the helpers below implement, so every family treats arrays the same way:

* dtypes are compared whole (``a.dtype == FLOAT32``), byte order included, never by type
  number: ``dtype('>f4')`` is not float32.
* Read-only inputs (``float_array``, ``like``, ``optional_param``, gradients): a
  byte-swapped float32/float64 array, a non-contiguous one or a misaligned one is
  copied once to a native, aligned, C-contiguous array.  Other dtypes (int, float16,
  object, ...) raise TypeError.
* 16-bit storage (float16, and ml_dtypes' bfloat16; float32 arithmetic inside) is a
  dtype a family opts into: ``float_array(..., half=True)``, ``like(..., half=True)``
  and ``affine_param``.  Everywhere else a 16-bit array is a TypeError naming the
  argument.  16-bit data mixed with another float dtype is a TypeError too, except the
  documented mix: a norm's affine weight/bias may be float32 with 16-bit x.
* Arrays written in place (``inplace_float``, ``inplace_array``, ``state_like``,
  ``float_array_list(writable=True)``) and ``out=`` are never copied silently: a
  byte-swapped dtype raises TypeError, a read-only, non-contiguous or misaligned array
  ValueError (``float_array_list`` alone copies a non-contiguous or misaligned array and
  writes the result back, as ``torch.nn.utils`` accepts any layout).
* Several arrays written by one call must not overlap: ``disjoint``.
* Numbers: ``bool`` is never a number; NumPy scalars, 0-d NumPy arrays and one-element
  torch tensors (torch's rule for a tensor ``lr``) are accepted as real numbers; a value
  too large for a float or for the C kernel's integer raises ValueError, never
  OverflowError.
"""
from __future__ import annotations

import math
import numbers
import sys
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from typing import NamedTuple

if TYPE_CHECKING:
    from numpy.typing import NDArray

from ._ext.runtime import empty  # np.empty, with large outputs on cached memory
from ._ext.clip import simple_float_list as _simple_float_list

from numpy.lib.array_utils import byte_bounds as _byte_bounds  # NumPy >= 2 (required)

FLOAT32 = np.dtype(np.float32)
FLOAT64 = np.dtype(np.float64)
FLOAT16 = np.dtype(np.float16)
INT64_MAX = 2 ** 63 - 1
_INF = float("inf")


# ---- dtypes ---------------------------------------------------------------------------

def is_float(dt):
    """True for native float32/float64 (the whole dtype, byte order included)."""
    return dt is FLOAT32 or dt is FLOAT64 or dt == FLOAT32 or dt == FLOAT64


# bfloat16 is ml_dtypes' NumPy type.  Importing ml_dtypes registers all of its types
# with NumPy, which takes longer than the rest of ``import gradkit`` (0.5-1.3 s measured
# on a 2-core guest), so gradkit imports it only when bfloat16 is asked for by name
# (``gradkit.bfloat16``, ``dtype="bfloat16"``).  Until then no bfloat16 array can exist,
# and a dtype is recognized as bfloat16 by comparison with ml_dtypes' once it is loaded.
_NPY_USERDEF = 256  # NumPy's first type number for types registered by extensions
_bfloat16: Optional[np.dtype] = None


def loaded_bfloat16():
    """bfloat16 as a NumPy dtype if ml_dtypes is loaded (by anyone), else None."""
    global _bfloat16
    if _bfloat16 is None:
        mod = sys.modules.get("ml_dtypes")
        if mod is not None and hasattr(mod, "bfloat16"):
            _bfloat16 = np.dtype(mod.bfloat16)
    return _bfloat16


def bfloat16_dtype():
    """bfloat16 as a NumPy dtype, importing ml_dtypes if nobody has."""
    if loaded_bfloat16() is None:
        import ml_dtypes  # noqa: F401  (loaded_bfloat16 finds it in sys.modules)
    return loaded_bfloat16()


def is_bfloat16(dt):
    """True for native bfloat16 (whole dtype); never imports ml_dtypes.  Cheap for the
    common dtypes (one attribute read: this runs on every call of many functions)."""
    try:
        if dt.num < _NPY_USERDEF:
            return False
    except AttributeError:   # a type or a name, not a dtype
        try:
            dt = np.dtype(dt)
        except TypeError:
            return False
        if dt.num < _NPY_USERDEF:
            return False
    bf = loaded_bfloat16()
    return bf is not None and dt == bf


def is_half(dt):
    """True for native float16/bfloat16, the 16-bit storage dtypes (whole dtype)."""
    return dt == FLOAT16 or is_bfloat16(dt)


def dtype_code(dt):
    """The kernels' dtype code of a native float dtype (GK_DTYPE_F32/F64/F16/BF16:
    0, 1, 2, 3); KeyError for any other."""
    if dt == FLOAT32:
        return 0
    if dt == FLOAT64:
        return 1
    if dt == FLOAT16:
        return 2
    if is_bfloat16(dt):
        return 3
    raise KeyError(dt)


def as_dtype(dtype):
    """np.dtype(dtype), with the name ``"bfloat16"`` understood before ml_dtypes is
    loaded (NumPy knows the name only after)."""
    try:
        return np.dtype(dtype)
    except TypeError:
        if isinstance(dtype, str) and dtype == "bfloat16":
            return bfloat16_dtype()
        raise


def compute_dtype(dt):
    """The dtype of the arithmetic, the statistics and the float32 side of a kernel
    for data of dtype `dt`: float32 for 16-bit storage, else `dt` itself."""
    return FLOAT32 if is_half(dt) else dt


def half_eps(dt):
    """finfo(dt).eps for any float dtype, bfloat16 included (ml_dtypes.finfo)."""
    if is_bfloat16(dt):
        import ml_dtypes
        return float(ml_dtypes.finfo(dt).eps)
    return float(np.finfo(dt).eps)


def dtype_name(dt):
    """A dtype for messages: ``float32``, or ``'>f4'`` when the byte order is not
    native (str() of a byte-swapped float32 also says float32)."""
    dt = np.dtype(dt)
    return str(dt) if dt.isnative else repr(dt.str)


def _swapped_float(dt):
    """True for a byte-swapped float32/float64 (``>f4`` on a little-endian machine)."""
    return dt.kind == "f" and dt.itemsize in (4, 8) and not dt.isnative


def _swapped_half(dt):
    """True for a byte-swapped float16/bfloat16."""
    return dt.itemsize == 2 and not dt.isnative and is_half(dt.newbyteorder("="))


_HALF_WHAT = "a float32, float64, float16 or bfloat16 array"


def _dtype_error(name, dt, what="a float32 or float64 array"):
    if is_half(dt):
        return TypeError(f"{name} must be {what}, got dtype {dt} (this function "
                         "does not take 16-bit storage; see docs/precision.md)")
    if _swapped_float(dt) or _swapped_half(dt):
        return TypeError(f"{name} must be {what} in native byte order, got dtype "
                         f"{dt.str!r} (byte-swapped; convert it with "
                         f"a.astype(a.dtype.newbyteorder('='))")
    return TypeError(f"{name} must be {what}, got dtype {dt}")


def float_dtype(dtype, name="dtype", *, half=False):
    """np.float32 or np.float64 (as a numpy dtype), else TypeError; half: float16 and
    bfloat16 too (a family that takes 16-bit storage)."""
    try:
        dt = as_dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if not is_float(dt) and not (half and is_half(dt)):
        raise _dtype_error(name, dt, "float32, float64, float16 or bfloat16" if half
                           else "float32 or float64")
    return dt


def real_array(a, name):
    """`a` as an ndarray of real numbers (integer or float dtype; not bool, complex or
    object), else TypeError naming it."""
    a = np.asarray(a)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {dtype_name(a.dtype)}")
    return a


def fill_target(shape: Any, dtype: Any, out: Any, name: str = "out", *,
                float_out: bool = True, half: bool = False
                ) -> tuple[NDArray[Any], tuple[int, ...]]:
    """The array a generator fills, and its shape: `out` (checked) or a new array of
    `shape` and `dtype`.  dtype None means out's dtype (float32 without out); a dtype
    taken from `out` is reported as a bad `out`.  float_out=False: `dtype` is used as
    given (integer outputs).  half: float16/bfloat16 too."""
    if out is not None and not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(out).__name__}")
    if shape is None and dtype is None and out is not None and is_float(out.dtype):
        # the common in-place call (init.*(None, out=w)): out's own shape and dtype
        # need no checks; a third of zeros_'s 2.3 us per call went to them
        _writable_layout(out, name, "the result is written into it")
        return out, out.shape
    if dtype is None:
        dt = float_dtype(out.dtype, name, half=half) if out is not None else FLOAT32
    else:
        dt = float_dtype(dtype, half=half) if float_out else as_dtype(dtype)
    if shape is None:
        if out is None:
            raise ValueError("shape is required when out is not given")
        shape = out.shape
    shape = size_shape(shape)
    return output(out, shape, dt, name), shape


def same_dtype(a, dtype, name, ref="x"):
    if a.dtype != dtype:
        raise TypeError(f"{name} has dtype {dtype_name(a.dtype)} but {ref} has dtype "
                        f"{dtype_name(dtype)}; gradkit does not mix float32 and float64 "
                        "(nor byte orders)")


# ---- read-only arrays -----------------------------------------------------------------

def c_aligned(a):
    """`a` if it is C-contiguous and aligned, else one aligned C-contiguous copy."""
    flags = a.flags
    return a if flags.c_contiguous and flags.aligned else a.copy(order="C")


def float_array(a: Any, name: str, *, half: bool = False) -> NDArray[Any]:
    """`a` as a native, aligned, C-contiguous float32/float64 ndarray; copied once only
    if it is not (a byte-swapped float array is converted to native order).  half: a
    float16/bfloat16 array (16-bit storage) is taken too, in the same way."""
    if type(a) is not np.ndarray:
        if a is None:
            raise TypeError(f"{name} must be a float32 or float64 array, got None")
        try:
            a = np.asarray(a)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be a float32 or float64 array, got "
                            f"{type(a).__name__} ({e})") from None
    dt = a.dtype
    if dt is not FLOAT32 and dt is not FLOAT64 and dt != FLOAT32 and dt != FLOAT64:
        if half and is_half(dt):
            return c_aligned(a)
        if _swapped_float(dt) or (half and _swapped_half(dt)):
            return np.ascontiguousarray(a, dtype=dt.newbyteorder("="))
        raise _dtype_error(name, dt, _HALF_WHAT if half else "a float32 or float64 array")
    return c_aligned(a)


def like(a: Any, name: str, ref: NDArray[Any], ref_name: str = "x", *,
         half: bool = False) -> NDArray[Any]:
    """A float array with the dtype and shape of `ref` (half: 16-bit storage too)."""
    a = float_array(a, name, half=half)
    same_dtype(a, ref.dtype, name, ref_name)
    if a.shape != ref.shape:
        raise ValueError(f"{name} must have the shape of {ref_name} {ref.shape}, got {a.shape}")
    return a


def optional_param(a: Any, name: str, dtype: Any, shape: Any) -> Optional[NDArray[Any]]:
    """An optional per-feature parameter (weight, bias, running stats): None, or a
    float array of exactly `dtype` and `shape` (read only)."""
    if a is None:
        return None
    if (type(a) is np.ndarray and a.dtype == dtype and a.shape == shape
            and a.flags.c_contiguous and a.flags.aligned):
        return a
    a = float_array(a, name)
    same_dtype(a, dtype, name)
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    return a


def affine_param(a: Any, name: str, x_dtype: Any, shape: Any
                 ) -> tuple[Optional[NDArray[Any]], Optional[np.dtype]]:
    """An optional affine parameter of a norm (weight, bias) for data of `x_dtype`, as
    ``(array for the kernel, the parameter's own dtype)``.  float32/float64 data: x's
    dtype exactly (optional_param).  16-bit data: x's dtype or float32 (the documented
    mix, as PyTorch allows), handed to the kernel as float32 (a 16-bit parameter is
    widened exactly; the kernels take float32 parameters with 16-bit data)."""
    if not is_half(x_dtype):
        if isinstance(a, np.ndarray) and is_half(a.dtype):
            raise TypeError(f"{name} has dtype {dtype_name(a.dtype)} but x has dtype "
                            f"{dtype_name(x_dtype)}; 16-bit affine parameters go with "
                            "16-bit x only")
        a = optional_param(a, name, x_dtype, shape)
        return a, (None if a is None else a.dtype)
    if a is None:
        return None, None
    a = float_array(a, name, half=True)
    if a.dtype != x_dtype and a.dtype != FLOAT32:
        raise TypeError(f"{name} has dtype {dtype_name(a.dtype)} but x has dtype "
                        f"{dtype_name(x_dtype)}; with 16-bit x the affine parameters "
                        "are float32 or x's dtype")
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    return (a if a.dtype == FLOAT32 else a.astype(FLOAT32)), a.dtype


def grads_like(params, grads, name="grads", *, single=False):
    """Gradients aligned with `params` (checked in-place arrays): a list with None for a
    parameter without gradient, else an array of its parameter's dtype and shape,
    returned native, aligned and C-contiguous (copied once if not).  `single`: one
    parameter passed on its own, so messages say `name` rather than ``name[0]``.
    16-bit parameters (float16/bfloat16) take gradients of their own dtype."""
    if not isinstance(grads, (list, tuple)):
        raise TypeError(f"{name} must be a list of arrays (None for a parameter without "
                        f"gradient), got {type(grads).__name__}")
    if len(grads) != len(params):
        raise ValueError(f"{name} has {len(grads)} entries but there are {len(params)} "
                         "parameters (the gradients must align with the parameters)")
    out = list(grads)
    for i, (g, p) in enumerate(zip(out, params)):
        if g is None:
            continue
        if type(g) is np.ndarray and g.dtype is p.dtype and g.shape == p.shape:
            flags = g.flags
            if flags.c_contiguous and flags.aligned:
                continue  # the common case, without further checks
        label = name if single else f"{name}[{i}]"
        if not isinstance(g, np.ndarray):
            raise TypeError(f"{label} must be a numpy array or None, got {type(g).__name__}")
        c = float_array(g, label, half=is_half(p.dtype))
        if c.dtype != p.dtype:
            raise TypeError(f"{label} has dtype {dtype_name(g.dtype)} but its parameter has "
                            f"dtype {dtype_name(p.dtype)}; gradkit does not mix dtypes "
                            "between a parameter and its gradient")
        if c.shape != p.shape:
            raise ValueError(f"{label} has shape {g.shape} but its parameter has shape "
                             f"{p.shape}")
        out[i] = c
    return out


# ---- arrays written in place ----------------------------------------------------------

def inplace_float(a: Any, name: str, *, what: str = "updated in place",
                  half: bool = False) -> NDArray[Any]:
    """An array the function writes: a float32/float64 ndarray in native byte order,
    C-contiguous, aligned and writable (never copied); half: float16/bfloat16 too."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array ({what}), got {type(a).__name__}")
    if not is_float(a.dtype) and not (half and is_half(a.dtype)):
        raise _dtype_error(name, a.dtype, _HALF_WHAT if half else "a float32 or float64 array")
    _writable_layout(a, name, what)
    return a


def _writable_layout(a, name, what):
    flags = a.flags
    if not flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous ({what})")
    if not flags.aligned:
        raise ValueError(f"{name} must be aligned to its itemsize ({what})")
    if not flags.writeable:
        raise ValueError(f"{name} must be writable ({what})")


def inplace_array(a: Any, name: str, dtype: Any, shape: Any) -> NDArray[Any]:
    """An array the function updates in place (running statistics): an ndarray of
    exactly `dtype` and `shape`, C-contiguous, aligned and writable — never a copy."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array updated in place, "
                        f"got {type(a).__name__}")
    same_dtype(a, dtype, name)
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    _writable_layout(a, name, "it is updated in place")
    return a


def state_like(a: Any, name: str, param: NDArray[Any],
               param_name: str = "its parameter", *,
               shape: Optional[tuple[int, ...]] = None) -> NDArray[Any]:
    """A state array updated in place along with `param` (optimizer moments): of its
    parameter's dtype and shape (or of `shape`, a state shaped otherwise, as
    Adafactor's factored moments), not overlapping it."""
    a = inplace_float(a, name, half=is_half(param.dtype))
    if a.dtype != param.dtype:
        raise TypeError(f"{name} has dtype {dtype_name(a.dtype)} but {param_name} has "
                        f"dtype {dtype_name(param.dtype)}")
    if shape is None and a.shape != param.shape:
        raise ValueError(f"{name} has shape {a.shape} but {param_name} has shape "
                         f"{param.shape}")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{name} has shape {a.shape} but {param_name} of shape "
                         f"{param.shape} needs {tuple(shape)}")
    return a


def output(out: Any, shape: Any, dtype: Any, name: str = "out") -> NDArray[Any]:
    """`out` if given (checked: ndarray, dtype (byte order included), shape,
    C-contiguous, aligned, writable), else a new empty array."""
    if out is None:
        return empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype_name(dtype)} (native byte "
                         f"order), got {dtype_name(out.dtype)}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {out.shape}")
    _writable_layout(out, name, "the result is written into it")
    return out


def float_array_list(arrays, name, *, writable=False, half=False):
    """A list of float32/float64 arrays (a single ndarray counts as a list of one; None
    entries are skipped, as torch skips parameters without a gradient).

    Returns ``(arrays, write_back)``: native, aligned, C-contiguous arrays for the
    kernel, and the ``(original, copy)`` pairs whose copy must be written back after an
    in-place kernel (non-contiguous or misaligned inputs).  The dtypes may differ between
    arrays.  With ``writable=True`` the arrays must be ndarrays, writable and in native
    byte order (TypeError otherwise), and must not overlap each other (ValueError).
    half: float16/bfloat16 arrays are taken too, and mixed with float32 ones only (the
    documented mix: 16-bit gradients beside float32 ones); float64 beside 16-bit is a
    TypeError naming the entry."""
    simple = _simple_float_list(arrays, writable, half)  # the common call, checked compiled
    if simple is not None:
        return simple, []
    if isinstance(arrays, np.ndarray):
        arrays = [arrays]
    elif arrays is None or isinstance(arrays, (str, bytes)) or not hasattr(arrays, "__iter__"):
        raise TypeError(f"{name} must be a list of float32/float64 arrays, "
                        f"got {type(arrays).__name__}")
    out, write_back, written, labels = [], [], [], []
    for i, a in enumerate(arrays):
        if a is None:
            continue
        label = f"{name}[{i}]"
        if writable:
            if not isinstance(a, np.ndarray):
                raise TypeError(f"{label} must be a numpy array (it is modified in place), "
                                f"got {type(a).__name__}")
            if not (is_float(a.dtype) or (half and is_half(a.dtype))):
                raise _dtype_error(label, a.dtype, _HALF_WHAT if half else
                                   "a float32 or float64 array")
            if not a.flags.writeable:
                raise ValueError(f"{label} must be writable (it is modified in place)")
            written.append((label, a))
        c = float_array(a, label, half=half)
        if writable and c is not a:
            write_back.append((a, c))
        out.append(c)
        labels.append(label)
    if half and any(is_half(c.dtype) for c in out):
        for label, c in zip(labels, out):
            if c.dtype == FLOAT64:
                raise TypeError(f"{label} is float64 in a list of 16-bit arrays: 16-bit "
                                "gradients mix with float32 ones only")
    if len(written) > 1:
        disjoint(written)
    return out, write_back


def disjoint(named):
    """Raise ValueError if two of the arrays in `named` (a list of ``(name, array)``,
    None arrays skipped) share memory: arrays written by one call must not alias each
    other (the kernel would read values it already wrote)."""
    spans = []
    for name, a in named:
        if a is None or a.size == 0:
            continue
        lo, hi = _byte_bounds(a)
        spans.append((lo, hi, name, a))
    if len(spans) < 2:
        return
    spans.sort(key=lambda s: s[0])
    reach = spans[0]
    for s in spans[1:]:
        if s[0] < reach[1] and np.shares_memory(s[3], reach[3]):
            raise ValueError(f"{s[2]} overlaps {reach[2]} (they share memory); arrays "
                             "written by one call must not overlap")
        if s[1] > reach[1]:
            reach = s


# ---- numbers ---------------------------------------------------------------------------

def _scalar_array(v):
    """A 0-d NumPy array or a one-element torch tensor of a real (not bool) dtype, as a
    Python float; None for anything else.  torch is looked up in sys.modules, never
    imported: a tensor exists only if its user imported torch."""
    if isinstance(v, np.ndarray):
        return float(v) if v.ndim == 0 and v.dtype.kind in "fiu" else None
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(v, torch.Tensor) and v.numel() == 1 \
            and (v.dtype.is_floating_point or not (v.dtype.is_complex
                                                   or v.dtype == torch.bool)):
        return float(v.item())
    return None


def _real(v, name):
    """float(v) for a real number (not bool; a 0-d array or one-element tensor counts);
    huge ints raise ValueError."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        f = _scalar_array(v)
        if f is None:
            raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
        return f
    try:
        return float(v)
    except OverflowError:
        raise ValueError(f"{name} is too large for a float, got {v}") from None


def real(v, name):
    """A real number (not bool) as a float; NaN rejected, infinities accepted."""
    v = _real(v, name)
    if v != v:
        raise ValueError(f"{name} must not be NaN")
    return v


def finite_real(v, name):
    """A finite real number (not bool) as a float."""
    v = _real(v, name)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v}")
    return v


def nonneg_float(v, name):
    """A finite real number >= 0, as a float."""
    if type(v) is float and 0.0 <= v < _INF:  # the common case, without ABC checks
        return v
    v = _real(v, name)
    if not (0.0 <= v < _INF):
        raise ValueError(f"{name} must be a finite number >= 0, got {v}")
    return v


def positive_float(v, name):
    """A finite real number > 0, as a float."""
    if type(v) is float and 0.0 < v < _INF:
        return v
    v = _real(v, name)
    if not (0.0 < v < _INF):
        raise ValueError(f"{name} must be a finite number > 0, got {v}")
    return v


def interval(v, name, lo, hi, *, lo_open=False, hi_open=False):
    """A real number in the interval from lo to hi (closed unless `*_open`)."""
    if type(v) is not float:
        v = _real(v, name)
    if (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi):
        return v
    raise ValueError(f"{name} must be in {'(' if lo_open else '['}{lo:g}, {hi:g}"
                     f"{')' if hi_open else ']'}, got {v}")


def probability(p, name="p"):
    """A probability in [0, 1] as a float."""
    if type(p) is float and 0.0 <= p <= 1.0:  # the common case, without ABC checks
        return p
    return interval(p, name, 0.0, 1.0)


def unit_open(v, name):
    """A real number in [0, 1) (Adam's betas, smoothing constants)."""
    if type(v) is float and 0.0 <= v < 1.0:
        return v
    return interval(v, name, 0.0, 1.0, hi_open=True)


def integer(v, name, minimum=None, maximum=INT64_MAX):
    """An int (not bool; NumPy integers accepted) in [minimum, maximum] as a Python int;
    the default maximum is what a C int64 holds, so huge ints raise ValueError instead
    of OverflowError at the kernel call."""
    if type(v) is not int:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
        v = int(v)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v


def positive_int(v, name, minimum=1, maximum=INT64_MAX):
    if type(v) is int and minimum <= v <= maximum:
        return v
    return integer(v, name, minimum, maximum)


def flag(v, name):
    """A bool (Python or NumPy bool; ints 0 and 1 accepted)."""
    if v is True or v is False:
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, numbers.Integral) and v in (0, 1):
        return bool(v)
    raise TypeError(f"{name} must be a bool, got {v!r}")


def choice(v, name, options):
    """One of `options` (strings); ValueError listing them otherwise."""
    if not isinstance(v, str) or v not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, "
                         f"got {v!r}")
    return v


# ---- state dicts -----------------------------------------------------------------------

def state_entry(d, key, name="state_dict"):
    """``d[key]`` for a state dict being loaded; ValueError naming the key when it is
    missing, TypeError when `d` is not a dict (never a raw KeyError/AttributeError)."""
    if not isinstance(d, dict):
        raise TypeError(f"{name} must be a dict, got {type(d).__name__}")
    try:
        return d[key]
    except KeyError:
        raise ValueError(f"{name} has no {key!r} entry") from None


# ---- optimizer hyperparameters (shared by the classes and optim.functional) ------------
# As torch.optim, the classes check option values where the user sets them (constructor,
# add_param_group, load_state_dict): ``strict=True``.  At a step they only convert them
# (``strict=False``: a real number of any sign, a bool), since a scheduler may have
# driven an lr a rounding error below 0 (LinearLR to end_factor=0) and torch steps on.

def _loose(v, name):
    """A hyperparameter read at a step: any real number, as a float."""
    return v if type(v) is float else _real(v, name)


def betas(v, name="betas", *, strict=True):
    """Adam's pair (beta1, beta2), each in [0, 1) (strict)."""
    if not isinstance(v, (tuple, list)) or len(v) != 2:
        raise TypeError(f"{name} must be a pair (beta1, beta2), got {v!r}")
    unit = unit_open if strict else _loose
    return unit(v[0], f"{name}[0]"), unit(v[1], f"{name}[1]")


def _checkers(strict):
    """(nonneg, unit_open) range checks, or plain conversions."""
    return (nonneg_float, unit_open) if strict else (_loose, _loose)


def torch_flags(group, keys, who):
    """torch.optim's implementation switches, as given in `group` for the `keys` the
    optimizer takes: ``foreach`` and ``fused`` None or a bool (gradkit is always one
    fused multi-tensor kernel on the CPU, so any value holds); ``capturable`` and
    ``differentiable`` bools that must be False (no CUDA graph to capture on the CPU,
    and gradkit's kernels do not differentiate through the step)."""
    for k in keys:
        v = group[k]
        if k in ("foreach", "fused"):
            if v is not None:
                flag(v, k)
        elif flag(v, k):
            why = ("a CUDA-graph capture needs a GPU; gradkit steps NumPy arrays on the "
                   "CPU (torch.optim refuses capturable=True on CPU tensors too)"
                   if k == "capturable" else
                   "gradkit's kernels update the parameters in place outside any "
                   "autograd graph")
            raise ValueError(f"{who}: {k}=True is not supported: {why}; use {k}=False")


def pair(v, name="betas"):
    """A pair (a, b) as given (its values are checked by the caller)."""
    if not isinstance(v, (tuple, list)) or len(v) != 2:
        raise TypeError(f"{name} must be a pair ({name}[0], {name}[1]), got {v!r}")
    return v[0], v[1]


# The checked options of each optimizer, in the order its kernel takes them (so a
# wrapper calls ``kernel(..., *opts)``), with names for reading them.
SGDOptions = NamedTuple("SGDOptions", [("lr", float), ("momentum", float),
                                       ("dampening", float), ("weight_decay", float),
                                       ("nesterov", bool), ("maximize", bool)])
AdamOptions = NamedTuple("AdamOptions", [("lr", float), ("beta1", float), ("beta2", float),
                                         ("eps", float), ("weight_decay", float),
                                         ("amsgrad", bool), ("decoupled", bool),
                                         ("maximize", bool)])
RMSpropOptions = NamedTuple("RMSpropOptions", [("lr", float), ("alpha", float),
                                               ("eps", float), ("weight_decay", float),
                                               ("momentum", float), ("centered", bool),
                                               ("maximize", bool)])
AdagradOptions = NamedTuple("AdagradOptions", [("lr", float), ("lr_decay", float),
                                               ("weight_decay", float), ("eps", float),
                                               ("maximize", bool)])
LARSOptions = NamedTuple("LARSOptions", [("lr", float), ("momentum", float),
                                         ("weight_decay", float),
                                         ("trust_coefficient", float), ("eps", float),
                                         ("nesterov", bool)])


def sgd_options(lr, momentum, dampening, weight_decay, nesterov, maximize, *, strict=True):
    nonneg, _ = _checkers(strict)
    lr, momentum = nonneg(lr, "lr"), nonneg(momentum, "momentum")
    weight_decay = nonneg(weight_decay, "weight_decay")
    dampening = (finite_real if strict else _loose)(dampening, "dampening")
    nesterov = flag(nesterov, "nesterov")
    if strict and nesterov and (momentum <= 0.0 or dampening != 0.0):
        raise ValueError("nesterov=True requires momentum > 0 and dampening = 0, got "
                         f"momentum={momentum}, dampening={dampening}")
    return SGDOptions(lr, momentum, dampening, weight_decay, nesterov,
                      flag(maximize, "maximize"))


def adam_options(lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled, maximize,
                 names=("beta1", "beta2"), *, strict=True):
    """Checked Adam options; `names` are how the caller calls the betas
    (``betas[0]``/``betas[1]`` for the classes)."""
    nonneg, unit = _checkers(strict)
    return AdamOptions(nonneg(lr, "lr"), unit(beta1, names[0]), unit(beta2, names[1]),
                       nonneg(eps, "eps"), nonneg(weight_decay, "weight_decay"),
                       flag(amsgrad, "amsgrad"), flag(decoupled, "decoupled_weight_decay"),
                       flag(maximize, "maximize"))


def rmsprop_options(lr, alpha, eps, weight_decay, momentum, centered, maximize, *,
                    strict=True):
    nonneg, _ = _checkers(strict)
    return RMSpropOptions(nonneg(lr, "lr"), nonneg(alpha, "alpha"), nonneg(eps, "eps"),
                          nonneg(weight_decay, "weight_decay"), nonneg(momentum, "momentum"),
                          flag(centered, "centered"), flag(maximize, "maximize"))


def adagrad_options(lr, lr_decay, weight_decay, eps, maximize, *, strict=True):
    nonneg, _ = _checkers(strict)
    return AdagradOptions(nonneg(lr, "lr"), nonneg(lr_decay, "lr_decay"),
                          nonneg(weight_decay, "weight_decay"), nonneg(eps, "eps"),
                          flag(maximize, "maximize"))


def lars_options(lr, momentum, weight_decay, trust_coefficient, eps, nesterov, *,
                 strict=True):
    nonneg, _ = _checkers(strict)
    return LARSOptions(nonneg(lr, "lr"), nonneg(momentum, "momentum"),
                       nonneg(weight_decay, "weight_decay"),
                       nonneg(trust_coefficient, "trust_coefficient"), nonneg(eps, "eps"),
                       flag(nesterov, "nesterov"))



# NAdam, RAdam, Adamax, Adadelta (torch) and Lion (optax), as the options above
NAdamOptions = NamedTuple("NAdamOptions", [("lr", float), ("beta1", float),
                                           ("beta2", float), ("eps", float),
                                           ("weight_decay", float),
                                           ("momentum_decay", float), ("decoupled", bool),
                                           ("maximize", bool)])
RAdamOptions = NamedTuple("RAdamOptions", [("lr", float), ("beta1", float),
                                           ("beta2", float), ("eps", float),
                                           ("weight_decay", float), ("decoupled", bool),
                                           ("maximize", bool)])
AdamaxOptions = NamedTuple("AdamaxOptions", [("lr", float), ("beta1", float),
                                             ("beta2", float), ("eps", float),
                                             ("weight_decay", float), ("maximize", bool)])
AdadeltaOptions = NamedTuple("AdadeltaOptions", [("lr", float), ("rho", float),
                                                 ("eps", float), ("weight_decay", float),
                                                 ("maximize", bool)])
LionOptions = NamedTuple("LionOptions", [("lr", float), ("beta1", float), ("beta2", float),
                                         ("weight_decay", float), ("maximize", bool)])

LAMBOptions = NamedTuple("LAMBOptions", [("lr", float), ("beta1", float), ("beta2", float),
                                         ("eps", float), ("eps_root", float),
                                         ("weight_decay", float), ("maximize", bool)])

def nadam_options(lr, beta1, beta2, eps, weight_decay, momentum_decay, decoupled, maximize,
                  names=("beta1", "beta2"), *, strict=True):
    nonneg, unit = _checkers(strict)
    return NAdamOptions(nonneg(lr, "lr"), unit(beta1, names[0]),
                        unit(beta2, names[1]), nonneg(eps, "eps"),
                        nonneg(weight_decay, "weight_decay"),
                        nonneg(momentum_decay, "momentum_decay"),
                        flag(decoupled, "decoupled_weight_decay"), flag(maximize, "maximize"))


def radam_options(lr, beta1, beta2, eps, weight_decay, decoupled, maximize,
                  names=("beta1", "beta2"), *, strict=True):
    nonneg, unit = _checkers(strict)
    return RAdamOptions(nonneg(lr, "lr"), unit(beta1, names[0]),
                        unit(beta2, names[1]), nonneg(eps, "eps"),
                        nonneg(weight_decay, "weight_decay"),
                        flag(decoupled, "decoupled_weight_decay"), flag(maximize, "maximize"))


def adamax_options(lr, beta1, beta2, eps, weight_decay, maximize, names=("beta1", "beta2"),
                   *, strict=True):
    nonneg, unit = _checkers(strict)
    return AdamaxOptions(nonneg(lr, "lr"), unit(beta1, names[0]),
                         unit(beta2, names[1]), nonneg(eps, "eps"),
                         nonneg(weight_decay, "weight_decay"),
                         flag(maximize, "maximize"))


def adadelta_options(lr, rho, eps, weight_decay, maximize, *, strict=True):
    nonneg, _ = _checkers(strict)
    rho = interval(rho, "rho", 0.0, 1.0) if strict else _loose(rho, "rho")
    return AdadeltaOptions(nonneg(lr, "lr"), rho, nonneg(eps, "eps"),
                           nonneg(weight_decay, "weight_decay"),
                           flag(maximize, "maximize"))


def lion_options(lr, beta1, beta2, weight_decay, maximize, names=("beta1", "beta2"), *,
                 strict=True):
    """optax.lion's b1, b2 may be any value in [0, 1]."""
    nonneg, _ = _checkers(strict)
    if strict:
        beta1, beta2 = (interval(beta1, names[0], 0.0, 1.0),
                        interval(beta2, names[1], 0.0, 1.0))
    else:
        beta1, beta2 = _loose(beta1, names[0]), _loose(beta2, names[1])
    return LionOptions(nonneg(lr, "lr"), beta1, beta2, nonneg(weight_decay, "weight_decay"),
                       flag(maximize, "maximize"))


def lamb_options(lr, beta1, beta2, eps, eps_root, weight_decay, maximize,
                 names=("beta1", "beta2"), *, strict=True):
    nonneg, unit = _checkers(strict)
    return LAMBOptions(nonneg(lr, "lr"), unit(beta1, names[0]), unit(beta2, names[1]),
                       nonneg(eps, "eps"), nonneg(eps_root, "eps_root"),
                       nonneg(weight_decay, "weight_decay"), flag(maximize, "maximize"))


# Adafactor (torch), eps as torch's pair (eps1 or None, eps2)
AdafactorOptions = NamedTuple("AdafactorOptions", [("lr", float), ("beta2_decay", float),
                                                   ("eps1", Optional[float]),
                                                   ("eps2", float), ("d", float),
                                                   ("weight_decay", float),
                                                   ("maximize", bool)])


def adafactor_options(lr, beta2_decay, eps1, eps2, d, weight_decay, maximize,
                      names=("eps1", "eps2"), *, strict=True):
    """torch.optim.Adafactor's checks: lr, eps2, weight_decay >= 0, beta2_decay <= 0,
    eps1 None or >= 0, d >= 1 (may be infinite: no clipping)."""
    nonneg, _ = _checkers(strict)
    if strict:
        beta2_decay = interval(beta2_decay, "beta2_decay", -_INF, 0.0, lo_open=True)
        d = interval(d, "d", 1.0, _INF)
    else:
        beta2_decay, d = _loose(beta2_decay, "beta2_decay"), _loose(d, "d")
    return AdafactorOptions(nonneg(lr, "lr"), beta2_decay,
                            None if eps1 is None else nonneg(eps1, names[0]),
                            nonneg(eps2, names[1]), d,
                            nonneg(weight_decay, "weight_decay"), flag(maximize, "maximize"))


def adafactor_eps1(eps1, dtypes, grads):
    """torch's eps1=None: finfo(dtype).eps of the first parameter that has a gradient,
    `dtypes` the dtype each parameter is stepped in (torch resolves it once per group
    and step, at that parameter, and keeps it for the others, whatever their dtype);
    None when no parameter has one."""
    if eps1 is not None:
        return eps1
    for dt, g in zip(dtypes, grads):
        if g is not None:
            return float(np.finfo(dt).eps)
    return None

# ==== checks of dropout, random, init, nn, gradcheck, preprocessing, quant ============

_U64 = 1 << 64


def size_shape(shape: Any, name: str = "shape") -> tuple[int, ...]:
    """A shape (an int or a sequence of ints >= 0) as a tuple of Python ints that NumPy
    can index: the element count below 2**63 too (ValueError, never an OverflowError
    later)."""
    if type(shape) is tuple and _plain_dims(shape):  # already what this returns
        return shape
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got "
                        f"{type(shape).__name__}") from None
    out: list[int] = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral):
            raise TypeError(f"{name} must contain ints, got {type(d).__name__}")
        size = int(d)
        if size < 0:
            raise ValueError(f"{name} must not contain negative sizes, got {dims}")
        if size > INT64_MAX:
            raise ValueError(f"{name} has a size too large for memory, got {dims}")
        out.append(size)
    if math.prod(out) > sys.maxsize:
        raise ValueError(f"{name} {tuple(out)} has more elements than can be indexed "
                         "(2**63)")
    return tuple(out)


def _plain_dims(dims):
    """dims are Python ints in [0, INT64_MAX] whose product can be indexed."""
    for d in dims:
        if type(d) is not int or not 0 <= d <= INT64_MAX:
            return False
    return math.prod(dims) <= sys.maxsize


def uint64(v, name="seed"):
    """An int in [0, 2**64) (seeds, Philox counters): numpy integers accepted."""
    if type(v) is int and 0 <= v < _U64:  # the common call, without ABC checks
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int in [0, 2**64), got {type(v).__name__}")
    v = int(v)
    if not 0 <= v < _U64:
        raise ValueError(f"{name} must be in [0, 2**64), got {v}")
    return v


def exact_array(a: Any, name: str, dtype: Any, shape: Any) -> NDArray[Any]:
    """An ndarray of exactly `dtype` (byte order included) and `shape`, C-contiguous
    and aligned (a copy when it is not)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of {np.dtype(dtype)}, got "
                        f"{type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    return c_aligned(a)


def estimator_dtype(dtype, name="X"):
    """The dtype an estimator computes data of `dtype` in: float32/float64 kept (a
    byte-swapped one made native), other real numbers and object -> float64 (object is
    converted by value); complex ValueError, anything else TypeError.  The one rule for
    in-memory and for lazy (dask) inputs."""
    if dtype == FLOAT32 or dtype == FLOAT64:
        return dtype
    if dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {dtype}")
    if dtype.kind == "f" and dtype.itemsize in (4, 8):
        return dtype.newbyteorder("=")   # '>f4' -> float32
    if dtype.kind in "biuf" or dtype == object:
        return FLOAT64
    raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")


def check_2d_shape(shape, who, name="X", min_samples=1, array=None):
    """The estimators' shape check: 2-D, at least `min_samples` rows (a row count of
    NaN, unknown until computed, passes) and 1 column, with scikit-learn's messages
    (users match "Expected 2D array, got 1D array instead"); `array`, when given, is
    shown as scikit-learn shows it, and the argument is named after its message."""
    if len(shape) < 2:
        shown = f"array={array}" if array is not None else f"{name} of shape {tuple(shape)}"
        raise ValueError(
            f"Expected 2D array, got {'scalar' if len(shape) == 0 else '1D'} array "
            f"instead:\n{shown}.\nReshape your data either using array.reshape(-1, 1) "
            "if your data has a single feature or array.reshape(1, -1) if it contains a "
            f"single sample.\n({who}: {name} has shape {tuple(shape)})")
    if len(shape) > 2:
        raise ValueError(f"Found array with dim {len(shape)}, while dim <= 2 is required "
                         f"by {who}.")
    if shape[0] < min_samples:
        raise ValueError(f"Found array with {shape[0]} sample(s) (shape={shape}) "
                         f"while a minimum of {min_samples} is required by {who}.")
    if shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={shape}) while a "
                         f"minimum of 1 is required by {who}.")


def as_2d_float(X, who, name="X", min_samples=1, any_align=False):
    """X as a C-contiguous 2-D float32/float64 array (other real dtypes, and
    byte-swapped floats, -> float64 / native); sparse, complex and non-numeric input
    rejected.  The estimators' input check (scikit-learn's messages).  `any_align`: a
    C-contiguous X not aligned to its elements is kept as it is (for the kernels that
    read X as bytes), not copied."""
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):
        raise TypeError(f"{who} does not accept sparse input; convert {name} to a dense "
                        "array first (e.g. X.toarray())")
    if X is None:
        raise ValueError(f"{who} expected a 2-D array for {name}, got None")
    arr = X if isinstance(X, np.ndarray) else np.asarray(X)
    target = estimator_dtype(arr.dtype, name)
    if arr.dtype != target:
        try:
            arr = arr.astype(target)
        except (TypeError, ValueError) as e:   # object holding non-numbers
            raise TypeError(f"{name} must hold real numbers ({e})") from None
    check_2d_shape(arr.shape, who, name, min_samples, array=arr)
    if any_align and arr.flags.c_contiguous:
        return arr
    return c_aligned(arr)


def raise_nonfinite(X, name="X"):
    """The ValueError for data whose statistics came out non-finite."""
    if np.isnan(X).any():
        raise ValueError(f"Input {name} contains NaN (NaN and infinity are not accepted).")
    if not np.isfinite(X).all():
        raise ValueError(f"Input {name} contains infinity (NaN and infinity are not "
                         "accepted).")
    raise ValueError(f"Input {name} has values so large that their float64 statistics "
                     "overflow (inf)")


def axis(v, ndim, name="axis", of="an array"):
    """None, or an axis of `of`, an array of `ndim` dimensions (negative counts from the
    end), as a non-negative int."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int or None, got {type(v).__name__}")
    a = int(v)
    if not -ndim <= a < ndim:
        raise ValueError(f"{name} {a} is out of range for {of} of {ndim} dimensions")
    return a % ndim


# ---- scipy.sparse input of the estimators -----------------------------------------------

def is_sparse(X: Any) -> bool:
    """Whether X is a scipy.sparse matrix or array (scipy.sparse is not imported for
    it: a dense caller pays nothing)."""
    return hasattr(X, "tocsr") and hasattr(X, "nnz") and hasattr(X, "format")


def sparse_2d(X: Any, who: str, accept: tuple = ("csr", "csc"), min_samples: int = 1,
              *, allow_nan: bool = False) -> Any:
    """A sparse X checked as scikit-learn's ``accept_sparse`` does: a format in `accept`
    kept (others converted to the first), float32/float64 kept and other real dtypes
    converted to float64 (scipy.sparse has no float16), 2-D with at least `min_samples`
    rows and one column, no infinity (and no NaN unless `allow_nan`) among the stored
    values.  X itself is never modified: X when it is all that already."""
    if X.format not in accept:
        X = X.asformat(accept[0])
    target = estimator_dtype(X.dtype)
    if X.dtype != target:
        X = X.astype(target)
    check_2d_shape(X.shape, who, "X", min_samples)
    values = X.data if X.format in ("csr", "csc") else X.tocoo().data  # LIL: lists
    bad = np.isinf(values) if allow_nan else ~np.isfinite(values)
    if bad.any():
        raise_nonfinite(values)
    return X
