"""Finite-difference gradient checking: the classic recipe, PyTorch-style tolerances,
random projections, and batched evaluation.

The classic recipe (e.g. the deep-learning course "gradient checking" exercise)
flattens the parameters into one vector theta, takes centred differences

    g_num[i] = (J(theta + h e_i) - J(theta - h e_i)) / (2 h)

and judges the relative difference ``||g_num - g||_2 / (||g_num||_2 + ||g||_2)``:
<= 1e-7 is fine ('ok'), up to 1e-3 is worth a look ('suspect'), above that the
gradient is 'wrong'.  :func:`check_grad` also offers ``torch.autograd.gradcheck``'s
``atol``/``rtol`` test, a fast mode comparing directional derivatives along random
directions (two evaluations each instead of two per coordinate), and a batched mode
for functions that evaluate a whole stack of perturbed inputs in one call (the copies
are built and the differences taken by compiled loops).

Check in float64: in float32 the rounding of the loss alone gives relative differences
around 1e-4 for a correct gradient (PyTorch's gradcheck warns the same way).
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Union

import numpy as np

from . import _validation as _v
from ._ext import gradcheck as _k

if TYPE_CHECKING:
    from ._typing import ArrayLike, FloatArray, NDArray, RNG

__all__ = ["numerical_grad", "check_grad", "GradCheckResult"]

OK_BELOW = 1e-7
SUSPECT_BELOW = 1e-3
_N_WORST = 5
_STACK_ELEMENTS = 1 << 22   # default cap on a batched stack: 4M elements


# ---- parameters as one flat vector ---------------------------------------------------

class _Flat:
    """x (an array or a dict of arrays) as one float vector ``theta`` (a copy), with the
    names, shapes and offsets to view it back (the classic dictionary_to_vector)."""

    def __init__(self, x):
        if isinstance(x, dict):
            if not x:
                raise ValueError("x must not be an empty dict")
            self.is_dict = True
            self.names = list(x)
            arrays = [_v.float_array(x[k], f"x[{k!r}]") for k in self.names]
            for k, a in zip(self.names, arrays):
                _v.same_dtype(a, arrays[0].dtype, f"x[{k!r}]", f"x[{self.names[0]!r}]")
        else:
            self.is_dict = False
            self.names = ["x"]
            arrays = [_v.float_array(x, "x")]
        self.dtype = arrays[0].dtype
        self.shapes = [a.shape for a in arrays]
        sizes = self.sizes = [a.size for a in arrays]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        self.size = self.offsets[-1]
        self.theta = np.concatenate([a.reshape(-1) for a in arrays]).astype(self.dtype)

    def view(self, vec):
        """vec (size,) -> x's structure (views); vec (k, size) -> stacked views."""
        lead = vec.shape[:-1]
        parts = [vec[..., o:o + s_].reshape(lead + shape)
                 for o, s_, shape in zip(self.offsets, self.sizes, self.shapes)]
        if not self.is_dict:
            return parts[0]
        return dict(zip(self.names, parts))

    def flatten_like(self, g, name="grad"):
        """An analytical gradient with x's structure as a float64 vector."""
        if self.is_dict:
            if not isinstance(g, dict) or set(g) != set(self.names):
                raise ValueError(f"{name} must be a dict with the keys of x {self.names}")
            parts = [(g[k], f"{name}[{k!r}]", shape) for k, shape in zip(self.names, self.shapes)]
        else:
            parts = [(g, name, self.shapes[0])]
        out = []
        for a, nm, shape in parts:
            if a is None:
                raise TypeError(f"{nm} must be an array, got None")
            a = np.asarray(a)
            if a.dtype.kind != "f" or a.dtype.itemsize not in (4, 8):
                # an int or float16 gradient has lost the digits the check measures
                raise TypeError(f"{nm} must be a float32 or float64 array, got dtype "
                                f"{a.dtype}")
            if a.shape != shape:
                raise ValueError(f"{nm} must have shape {shape}, got {a.shape}")
            out.append(a.reshape(-1).astype(np.float64))
        return np.concatenate(out) if out else np.zeros(0)

    def locate(self, i):
        """(name, index tuple) of entry i of theta."""
        b = int(np.searchsorted(self.offsets, i, side="right")) - 1
        idx = np.unravel_index(i - self.offsets[b], self.shapes[b]) if self.shapes[b] else ()
        return self.names[b], tuple(int(v) for v in idx)


def _default_eps(dtype):
    """The step scale: cbrt(machine epsilon), the optimum of the centred difference's
    truncation (h^2) against rounding (eps/h) errors (6.1e-6 for float64, 4.9e-3 for
    float32)."""
    return float(np.cbrt(np.finfo(dtype).eps))


def _check_eps(eps):
    """None, or a finite step > 0."""
    if eps is None:
        return None
    eps = _v.nonneg_float(eps, "eps")
    if eps == 0.0:
        raise ValueError("eps must be > 0, got 0.0")
    return eps


def _steps(theta, eps):
    if eps is None:
        return _default_eps(theta.dtype) * np.maximum(1.0, np.abs(theta.astype(np.float64)))
    return np.full(theta.size, _check_eps(eps))


def _scalar(out, what="f"):
    if isinstance(out, tuple):
        out = out[0]
    try:
        v = float(out)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must return a real number (the loss), got "
                        f"{type(out).__name__}") from None
    return v


def _batch_losses(out, k):
    losses = np.asarray(out[0] if isinstance(out, tuple) else out, dtype=np.float64)
    if losses.shape != (k,):
        raise ValueError(f"a batched f must return {k} losses for a stack of {k} inputs, "
                         f"got shape {losses.shape}")
    return np.ascontiguousarray(losses)


def _batch_size(batch_size, n):
    if batch_size is None:
        return max(1, min(n, 128, _STACK_ELEMENTS // (2 * max(n, 1))))
    return _v.positive_int(batch_size, "batch_size")


# ---- the numerical gradient ----------------------------------------------------------

def _numerical(f, flat, eps, batched, batch_size):
    """(g_num as float64 vector, evaluations)."""
    n = flat.size
    h = _steps(flat.theta, eps)
    g = np.empty(n)
    if not batched:
        work = flat.theta.copy()
        arg = flat.view(work)
        t = work.dtype.type
        for i in range(n):
            old = work[i]
            up, down = t(float(old) + h[i]), t(float(old) - h[i])
            work[i] = up
            fp = _scalar(f(arg))
            work[i] = down
            fm = _scalar(f(arg))
            work[i] = old
            g[i] = (fp - fm) / (float(up) - float(down))
        return g, 2 * n
    b = _batch_size(batch_size, n)
    buf = np.empty((2 * min(b, n), n), flat.dtype)
    step = np.empty(min(b, n))
    for start in range(0, n, b):
        k = min(b, n - start)
        idx = np.arange(start, start + k, dtype=np.int64)
        stack = buf[:2 * k]
        _k.stack(flat.theta, idx, np.ascontiguousarray(h[start:start + k]), stack, step[:k])
        losses = _batch_losses(f(flat.view(stack)), 2 * k)
        _k.difference(losses, step[:k], g[start:start + k])
    return g, 2 * n


def numerical_grad(f: Callable[..., Any], x: Union[FloatArray, Mapping[str, FloatArray]], *,
                   eps: Optional[float] = None, batched: bool = False,
                   batch_size: Optional[int] = None
                  ) -> Union[FloatArray, dict[str, FloatArray]]:
    r"""Gradient of a scalar function by centred differences, every coordinate.

    .. math:: \hat g_i = \frac{f(x + h_i e_i) - f(x - h_i e_i)}{(x_i + h_i) - (x_i - h_i)}

    The denominator is the step the rounded inputs really take.  By default
    :math:`h_i = \sqrt[3]{\epsilon}\,\max(1, |x_i|)` with :math:`\epsilon` the machine
    epsilon of x's dtype (6.1e-6 for float64, 4.9e-3 for float32): the step that
    balances the :math:`h^2` truncation error against the :math:`\epsilon/h` rounding
    error.

    Parameters
    ----------
    f : callable
        ``f(x) -> float`` (a tuple's first item is taken as the loss).  With
        ``batched=True``, ``f(stack) -> losses``: ``stack`` has shape
        ``(k,) + x.shape`` (a dict of such stacks for a dict x), rows ``[0, k/2)`` moved
        up and rows ``[k/2, k)`` moved down along the same coordinates, and f returns
        the k losses.  The stack is reused between calls: f must not keep it.
    x : ndarray or dict of ndarrays
        Float arrays of one dtype.  Never modified (f sees a copy).
    eps : float, optional
        An absolute step used for every coordinate instead of the default.
    batched : bool
    batch_size : int, optional
        Coordinates per batched call (the stack holds twice as many copies); by default
        up to 128, fewer for large x so a stack stays under 4M elements.

    Returns
    -------
    ndarray (or dict of ndarrays) with x's shape(s) and dtype.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    batched = _v.flag(batched, "batched")
    flat = _Flat(x)
    g, _ = _numerical(f, flat, eps, batched, batch_size)
    return flat.view(g.astype(flat.dtype))


# ---- the check -----------------------------------------------------------------------

def _status(diff):
    if not np.isfinite(diff):
        return "wrong"
    if diff <= OK_BELOW:
        return "ok"
    if diff <= SUSPECT_BELOW:
        return "suspect"
    return "wrong"


class GradCheckResult:
    """The outcome of :func:`check_grad`.

    Attributes
    ----------
    difference : float
        ``||g_num - g||_2 / (||g_num||_2 + ||g||_2)`` (0 when both are zero), over all
        coordinates, or over the directional derivatives in fast mode.
    status : {'ok', 'suspect', 'wrong'}
        ``difference`` <= 1e-7, <= 1e-3, above (or not finite).
    ok : bool
        ``status == 'ok'``, and, when ``atol``/``rtol`` were given, ``allclose`` too.
    allclose : bool or None
        ``|g - g_num| <= atol + rtol |g_num|`` everywhere (None when not asked).
    worst : list of (name, index, numerical, analytical)
        The entries with the largest ``|numerical - analytical|``, largest first:
        ``name`` is the dict key (``'x'`` for an array), ``index`` a tuple into that
        array; in fast mode ``('direction', (j,), ...)``.
    n_evaluations : int
        Evaluations of the loss (points), including the one that returned the
        analytical gradient.
    numerical, analytical : ndarray
        The compared float64 vectors (flattened coordinates, or one value per
        direction in fast mode).
    mode : {'full', 'fast'}
    """

    def __init__(self, numerical: NDArray[np.float64], analytical: NDArray[np.float64],
                 worst: list[tuple[str, tuple[int, ...], float, float]], n_evaluations: int,
                 mode: str, allclose: Optional[bool], n: int) -> None:
        self.numerical, self.analytical = numerical, analytical
        num_norm = float(np.linalg.norm(numerical))
        ana_norm = float(np.linalg.norm(analytical))
        denom = num_norm + ana_norm
        err = float(np.linalg.norm(numerical - analytical))
        self.difference = err / denom if denom > 0 else (0.0 if err == 0 else float("inf"))
        self.status = _status(self.difference)
        self.allclose = allclose
        self.ok = self.status == "ok" and allclose is not False
        self.worst = worst
        self.n_evaluations = n_evaluations
        self.mode = mode
        self._n = n

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return (f"GradCheckResult(status={self.status!r}, difference={self.difference:.3g}, "
                f"ok={self.ok}, n_evaluations={self.n_evaluations})")

    def __str__(self) -> str:
        what = (f"{self._n} random directions" if self.mode == "fast"
                else f"{self._n} coordinates")
        lines = [f"gradient check: {self.status} (relative difference {self.difference:.3g}; "
                 f"ok <= {OK_BELOW:g} < suspect <= {SUSPECT_BELOW:g} < wrong), {what}, "
                 f"{self.n_evaluations} evaluations"]
        if self.allclose is not None:
            lines.append(f"  allclose: {self.allclose}")
        if self.worst:
            lines.append("  worst entries:      numerical     analytical     |difference|")
            for name, idx, num, ana in self.worst:
                where = f"{name}[{', '.join(map(str, idx))}]"
                lines.append(f"  {where:<18} {num: .6e}  {ana: .6e}  {abs(num - ana):.3e}")
        return "\n".join(lines)


def _directions(rng, k, n):
    """k random unit vectors of length n (float64), from gradkit's generator (an int
    seed, None for the default generator, or a gradkit Generator) or a NumPy Generator."""
    if isinstance(rng, np.random.Generator):
        v = rng.standard_normal((k, n))
    else:
        from .random import as_generator
        v = as_generator(rng).normal((k, n), dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def _directional(f, flat, eps, dirs, batched, batch_size):
    """(directional derivatives along dirs, evaluations)."""
    k, n = dirs.shape
    if eps is None:
        scale = float(np.abs(flat.theta).max()) if n else 1.0
        h = _default_eps(flat.dtype) * max(1.0, scale)
    else:
        h = _check_eps(eps)
    v = np.ascontiguousarray(dirs.astype(flat.dtype))
    d = np.empty(k)
    if not batched:
        for j in range(k):
            up = (flat.theta + flat.dtype.type(h) * v[j]).astype(flat.dtype)
            down = (flat.theta - flat.dtype.type(h) * v[j]).astype(flat.dtype)
            d[j] = (_scalar(f(flat.view(up))) - _scalar(f(flat.view(down)))) / (2 * h)
        return d, 2 * k
    b = _batch_size(batch_size, n)
    for start in range(0, k, b):
        kk = min(b, k - start)
        stack = np.empty((2 * kk, n), flat.dtype)
        _k.stack_dir(flat.theta, v[start:start + kk], h, stack)
        losses = _batch_losses(f(flat.view(stack)), 2 * kk)
        d[start:start + kk] = (losses[:kk] - losses[kk:]) / (2 * h)
    return d, 2 * k


def check_grad(f: Callable[..., Any], x: Union[FloatArray, Mapping[str, FloatArray]],
               grad: Union[ArrayLike, Mapping[str, ArrayLike], None] = None, *,
               eps: Optional[float] = None, fast: bool = False, n_directions: int = 8,
               atol: Optional[float] = None, rtol: Optional[float] = None, rng: RNG = None,
               batched: bool = False, batch_size: Optional[int] = None) -> GradCheckResult:
    r"""Check an analytical gradient against finite differences.

    .. math::
        \text{difference} = \frac{\lVert \hat g - g \rVert_2}
                                 {\lVert \hat g \rVert_2 + \lVert g \rVert_2}

    with :math:`\hat g` the centred differences of :func:`numerical_grad` and
    :math:`g` the analytical gradient; 'ok' up to 1e-7, 'suspect' up to 1e-3, 'wrong'
    above.  ``fast=True`` compares instead, for ``n_directions`` random unit vectors
    :math:`v` over all coordinates, the directional derivative
    :math:`(f(x + h v) - f(x - h v)) / 2h` with :math:`g \cdot v` (two evaluations per
    direction instead of two per coordinate; a wrong gradient shows with probability
    1, though a single wrong coordinate of a large x weighs less in a projection).

    Parameters
    ----------
    f : callable
        ``f(x) -> loss``, or ``f(x) -> (loss, grad)`` when ``grad`` is None (then f is
        called once at x for the analytical gradient, and the loss is the first item at
        the perturbed points).  With ``batched=True``: see :func:`numerical_grad`.
    x : ndarray or dict of ndarrays
        The point, float32 or float64 (float64 is what the bands are meant for: a
        float32 x triggers a warning, as in ``torch.autograd.gradcheck``).  Never
        modified.
    grad : ndarray or dict of ndarrays, optional
        The analytical gradient, x's structure.  Required with ``batched=True``.
    eps : float, optional
        Absolute step; default :math:`\sqrt[3]{\epsilon}\max(1, |x_i|)` per coordinate
        (fast mode: :math:`\sqrt[3]{\epsilon}\max(1, \max_i |x_i|)`).
    fast : bool
    n_directions : int
        Random directions in fast mode.
    atol, rtol : float, optional
        Also require ``|g - g_num| <= atol + rtol |g_num|`` everywhere, as
        ``torch.autograd.gradcheck`` does (its defaults atol=1e-5, rtol=1e-3 fill in the
        one not given).
    rng : Generator, int or None
        Source of the random directions: a gradkit Generator, an int seed, None (the
        default generator, :func:`gradkit.random.default_generator`), or a NumPy
        Generator.
    batched : bool
        f takes a stack of perturbed inputs and returns their losses.
    batch_size : int, optional
        Coordinates (or directions) per batched call.

    Returns
    -------
    GradCheckResult
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    fast = _v.flag(fast, "fast")
    batched = _v.flag(batched, "batched")
    flat = _Flat(x)
    # every option checked before f is first called
    eps = _check_eps(eps)
    if batch_size is not None:
        batch_size = _v.positive_int(batch_size, "batch_size")
    tol = None
    if atol is not None or rtol is not None:
        tol = (1e-5 if atol is None else _v.nonneg_float(atol, "atol"),
               1e-3 if rtol is None else _v.nonneg_float(rtol, "rtol"))
    if fast:
        n_directions = _v.positive_int(n_directions, "n_directions")
        if not isinstance(rng, np.random.Generator):
            from .random import as_generator
            rng = as_generator(rng)
    if flat.dtype == np.float32:
        warnings.warn("check_grad: x is float32; the finite differences are then only "
                      "good to about 1e-4 relative, so a correct gradient may show as "
                      "'suspect'. Check in float64.", UserWarning, stacklevel=2)
    evals = 0
    if grad is None:
        if batched:
            raise ValueError("batched=True needs the analytical gradient as grad")
        out = f(flat.view(flat.theta.copy()))
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("f must return (loss, grad) when grad is None")
        g = flat.flatten_like(out[1], "grad returned by f")
        evals += 1
    else:
        g = flat.flatten_like(grad)
    if fast:
        k = _v.positive_int(n_directions, "n_directions")
        dirs = _directions(rng, k, flat.size)
        num, ne = _directional(f, flat, eps, dirs, batched, batch_size)
        # g . v as a NumPy sum, not a BLAS gemv (dirs @ g): gemv splits the sum among
        # the BLAS threads, so its bits would depend on their count
        ana = np.multiply(dirs, g).sum(axis=1)
        labels = [("direction", (j,)) for j in range(k)]
        n = k
    else:
        num, ne = _numerical(f, flat, eps, batched, batch_size)
        ana = g
        labels = None
        n = flat.size
    evals += ne
    allclose = None
    if tol is not None:
        allclose = bool(np.all(np.abs(ana - num) <= tol[0] + tol[1] * np.abs(num)))
    err = np.abs(num - ana)
    order = np.argsort(-np.where(np.isnan(err), np.inf, err), kind="stable")[:_N_WORST]
    worst = []
    for i in order:
        name, idx = labels[i] if labels is not None else flat.locate(int(i))
        worst.append((name, idx, float(num[i]), float(ana[i])))
    return GradCheckResult(num, ana, worst, evals, "fast" if fast else "full", allclose, n)
