"""Argument checks shared by the public API.

Each raises before anything is written: TypeError for a wrong type or dtype, ValueError
for a wrong shape or value, always naming the argument."""
import numbers

import numpy as np

from ._ext.runtime import empty  # np.empty, with large outputs on cached memory

FLOAT32 = np.dtype(np.float32)
FLOAT64 = np.dtype(np.float64)
_INF = float("inf")


def float_array(a, name):
    """`a` as a C-contiguous float32/float64 ndarray; copied once only if it is not."""
    if type(a) is not np.ndarray:
        if a is None:
            raise TypeError(f"{name} must be a float32 or float64 array, got None")
        a = np.asarray(a)
    dt = a.dtype
    if dt is not FLOAT32 and dt is not FLOAT64 and dt != FLOAT32 and dt != FLOAT64:
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {dt}")
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return a


def optional_param(a, name, dtype, shape):
    """An optional per-feature parameter (weight, bias, running stats): None, or a
    float array of exactly `dtype` and `shape`."""
    if a is None:
        return None
    if (type(a) is np.ndarray and a.dtype == dtype and a.shape == shape
            and a.flags.c_contiguous):
        return a
    a = float_array(a, name)
    same_dtype(a, dtype, name)
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    return a


def same_dtype(a, dtype, name, ref="x"):
    if a.dtype != dtype:
        raise TypeError(f"{name} has dtype {a.dtype} but {ref} has dtype {dtype}; "
                        "gradkit does not mix float32 and float64")


def like(a, name, ref, ref_name="x"):
    """A float array with the dtype and shape of `ref`."""
    a = float_array(a, name)
    same_dtype(a, ref.dtype, name, ref_name)
    if a.shape != ref.shape:
        raise ValueError(f"{name} must have the shape of {ref_name} {ref.shape}, got {a.shape}")
    return a


def output(out, shape, dtype, name="out"):
    """`out` if given (checked: ndarray, C-contiguous, writable, shape, dtype), else a
    new empty array."""
    if out is None:
        return empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writable")
    return out


def nonneg_float(v, name):
    if type(v) is float and 0.0 <= v < _INF:  # the common case, without ABC checks
        return v
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not (v >= 0.0) or v == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {v}")
    return v


def positive_int(v, name, minimum=1):
    if type(v) is int and v >= minimum:
        return v
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    v = int(v)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def float_array_list(arrays, name, *, writable=False):
    """A list of float32/float64 arrays (a single ndarray counts as a list of one; None
    entries are skipped, as torch skips parameters without a gradient).

    Returns ``(arrays, write_back)``: C-contiguous arrays for the kernel, and the
    ``(original, contiguous_copy)`` pairs whose copy must be written back after an
    in-place kernel (non-contiguous inputs).  The dtypes may differ between arrays.
    With ``writable=True`` read-only arrays raise ValueError."""
    if isinstance(arrays, np.ndarray):
        arrays = [arrays]
    elif arrays is None or isinstance(arrays, (str, bytes)) or not hasattr(arrays, "__iter__"):
        raise TypeError(f"{name} must be a list of float32/float64 arrays, "
                        f"got {type(arrays).__name__}")
    out, write_back = [], []
    for i, a in enumerate(arrays):
        if a is None:
            continue
        label = f"{name}[{i}]"
        if writable and not isinstance(a, np.ndarray):
            raise TypeError(f"{label} must be a numpy array (it is modified in place), "
                            f"got {type(a).__name__}")
        c = float_array(a, label)
        if writable:
            if not a.flags.writeable:
                raise ValueError(f"{label} must be writable")
            if c is not a:
                write_back.append((a, c))
        out.append(c)
    return out, write_back


def real(v, name):
    """A real number (not bool) as a float; NaN rejected."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if v != v:
        raise ValueError(f"{name} must not be NaN")
    return v


def shape_tuple(shape, name="shape"):
    """A shape (an int or a sequence of ints >= 0) as a tuple of Python ints."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got "
                        f"{type(shape).__name__}") from None
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral):
            raise TypeError(f"{name} must contain ints, got {type(d).__name__}")
        if d < 0:
            raise ValueError(f"{name} must not contain negative sizes, got {dims}")
        out.append(int(d))
    return tuple(out)


def float_dtype(dtype, name="dtype"):
    """np.float32 or np.float64 (as a numpy dtype), else TypeError."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dt != FLOAT32 and dt != FLOAT64:
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt


def finite_real(v, name):
    """A finite real number (not bool) as a float (``real`` also accepts infinities)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be a finite number, got {v}")
    return v


def probability(p, name="p"):
    """A probability in [0, 1] as a float."""
    if type(p) is float and 0.0 <= p <= 1.0:  # the common case, without ABC checks
        return p
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(p).__name__}")
    p = float(p)
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {p}")
    return p


def inplace_array(a, name, dtype, shape):
    """An array the function updates in place (running statistics): an ndarray of
    exactly `dtype` and `shape`, C-contiguous and writable — never a copy."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array updated in place, "
                        f"got {type(a).__name__}")
    same_dtype(a, dtype, name)
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (it is updated in place)")
    if not a.flags.writeable:
        raise ValueError(f"{name} must be writable (it is updated in place)")
    return a



# ==== checks of dropout, random, init, nn, gradcheck, preprocessing, quant ============
# (appended as one section so it merges apart from the rest of this module)

import math  # noqa: E402  (kept in this section: merges apart)
import sys  # noqa: E402

_U64 = 1 << 64


def size_shape(shape, name="shape"):
    """``shape_tuple``, and NumPy must be able to index it: every dimension and the
    element count below 2**63 (ValueError, never an OverflowError later)."""
    shape = shape_tuple(shape, name)
    for d in shape:
        if d > sys.maxsize:
            raise ValueError(f"{name} has a dimension too large to index: {shape}")
    if math.prod(shape) > sys.maxsize:
        raise ValueError(f"{name} {shape} has more elements than can be indexed (2**63)")
    return shape


def uint64(v, name="seed"):
    """An int in [0, 2**64) (seeds, Philox counters): numpy integers accepted."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int in [0, 2**64), got {type(v).__name__}")
    v = int(v)
    if not 0 <= v < _U64:
        raise ValueError(f"{name} must be in [0, 2**64), got {v}")
    return v


def boolean(v, name):
    """A bool (Python or NumPy), nothing else: 0/1 or 'yes' are not silently truthy."""
    if v is True or v is False:
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    raise TypeError(f"{name} must be a bool, got {type(v).__name__}")


def choice(v, name, options):
    """One of the strings `options`."""
    if not isinstance(v, str):
        raise TypeError(f"{name} must be one of {options}, got {type(v).__name__}")
    if v not in options:
        raise ValueError(f"{name} must be one of {options}, got {v!r}")
    return v


def exact_array(a, name, dtype, shape):
    """An ndarray of exactly `dtype` (byte order included) and `shape`, C-contiguous
    and aligned (a copy when it is not)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of {np.dtype(dtype)}, got "
                        f"{type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    if not (a.flags.c_contiguous and a.flags.aligned):
        a = np.ascontiguousarray(a).copy()
    return a


def as_2d_float(X, who, name="X", min_samples=1):
    """X as a C-contiguous 2-D float32/float64 array (other real dtypes, and
    byte-swapped floats, -> float64 / native); sparse, complex and non-numeric input
    rejected.  The estimators' input check (scikit-learn's messages)."""
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):
        raise TypeError(f"{who} does not accept sparse input; convert {name} to a dense "
                        "array first (e.g. X.toarray())")
    if X is None:
        raise ValueError(f"{who} expected a 2-D array for {name}, got None")
    arr = X if isinstance(X, np.ndarray) else np.asarray(X)
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}")
    if arr.dtype != FLOAT32 and arr.dtype != FLOAT64:
        if arr.dtype.kind == "f" and arr.dtype.itemsize in (4, 8):
            arr = arr.astype(arr.dtype.newbyteorder("="))  # '>f4' -> float32
        elif arr.dtype.kind in "biuf":
            arr = np.asarray(arr, dtype=np.float64)
        elif arr.dtype == object:
            try:
                arr = np.asarray(arr, dtype=np.float64)
            except (TypeError, ValueError) as e:
                raise TypeError(f"{name} must hold real numbers ({e})") from None
        else:
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"Expected a 2D array for {name}, got {arr.ndim}D array instead (shape "
            f"{arr.shape}). Reshape your data either using array.reshape(-1, 1) if it "
            "has a single feature or array.reshape(1, -1) if it contains a single sample.")
    if arr.shape[0] < min_samples:
        raise ValueError(f"Found array with {arr.shape[0]} sample(s) (shape={arr.shape}) "
                         f"while a minimum of {min_samples} is required by {who}.")
    if arr.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a "
                         f"minimum of 1 is required by {who}.")
    if not (arr.flags.c_contiguous and arr.flags.aligned):
        arr = np.ascontiguousarray(arr).copy()
    return arr


def raise_nonfinite(X, name="X"):
    """The ValueError for data whose statistics came out non-finite."""
    if np.isnan(X).any():
        raise ValueError(f"Input {name} contains NaN (NaN and infinity are not accepted).")
    if not np.isfinite(X).all():
        raise ValueError(f"Input {name} contains infinity (NaN and infinity are not "
                         "accepted).")
    raise ValueError(f"Input {name} has values so large that their float64 statistics "
                     "overflow (inf)")
