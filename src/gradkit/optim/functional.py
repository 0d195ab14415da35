r"""In-place optimizer kernels: one step of one optimizer on given arrays and states.

Each function takes one array or a list of arrays (with lists: every argument that is
per parameter is a list aligned with ``param``, and a ``None`` gradient skips its
parameter).  A list is updated by one multi-tensor kernel: one pass over memory and one
parallel region for all arrays, float32 and float64 in one batch each.  Parameters and
states are updated in place and must be float32/float64 in native byte order,
C-contiguous, aligned and writable, and must not overlap each other (TypeError /
ValueError naming the argument otherwise); float16/bfloat16 parameters take gradients
and states of their own dtype, stepped by the
float32 formulas on the widened values, each result rounded once; gradients are only read (copied once if
byte-swapped, non-contiguous or misaligned).  ``step`` is the step number after its increment
(1 on the first step), as torch's ``state['step']`` is when the update runs.

The formulas, in torch's order of operations, are those of ``torch.optim``'s
single-tensor implementations (LARS, Lion, LAMB: ``optax.lars``, ``optax.lion``, ``optax.lamb``); see :mod:`gradkit.optim` and
docs/optim.md.  The optimizer classes call the same kernels.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Optional, Sequence, Union

import numpy as np

from .. import _validation as _c
from .._ext import optim as _k

if TYPE_CHECKING:
    from .._typing import Arrays, FloatArray, Steps

__all__ = ["sgd_", "adam_", "rmsprop_", "adagrad_", "lars_", "nadam_", "radam_", "adamax_",
           "adadelta_", "lion_", "lamb_", "adafactor_"]


def _params(param, half=True):
    """(many, list of checked parameters); half: float16/bfloat16 ones too."""
    if isinstance(param, (list, tuple)):
        return True, [_c.inplace_float(p, f"param[{i}]", half=half)
                      for i, p in enumerate(param)]
    return False, [_c.inplace_float(param, "param", half=half)]




def _call(kernel, params, grads, *args):
    """``kernel(params, grads, *args)``: float32/float64 parameters in its float32 and
    float64 batches, 16-bit ones in one mixed-precision call per dtype (parameters,
    gradients and states all of it: the float32 step on widened values, each result
    rounded once), the other entries' gradients hidden as None.  Returns the first
    call's result (LARS's ratios: merged)."""
    kinds = [p.dtype if g is not None and _c.is_half(p.dtype) else None
             for p, g in zip(params, grads)]
    if not any(kinds):
        return kernel(params, grads, *args)
    out = None
    if None in kinds:
        out = kernel(params, [g if k is None else None for g, k in zip(grads, kinds)], *args)
    for dt in dict.fromkeys(k for k in kinds if k is not None):
        code = _c.dtype_code(dt)
        res = kernel(params, [g if k == dt else None for g, k in zip(grads, kinds)], *args,
                     storage=(code, code, code, None, code, False))
        if isinstance(res, tuple):  # LARS: (ratios, found)
            out = res[0] if out is None else [a if a is not None else b
                                               for a, b in zip(out, res[0])]
    return out


def _per_param(value, name, many, params):
    if not many:
        return [value]
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list of {len(params)} entries aligned with "
                        f"param, got {type(value).__name__}")
    if len(value) != len(params):
        raise ValueError(f"{name} must be a list of {len(params)} entries, aligned with "
                         f"param, got {len(value)}")
    return list(value)


def _grads(grad, many, params):
    return _c.grads_like(params, _per_param(grad, "grad", many, params), "grad",
                         single=not many)


def _states(value, name, many, params, grads, shape=None):
    """State arrays for the parameters that have a gradient (None elsewhere).  `shape`
    (or None: the parameter's) maps a parameter's shape to its state's, or to None
    when the parameter has no such state (its entry must then be None)."""
    values = _per_param(value, name, many, params)
    out = []
    for i, (a, p, g) in enumerate(zip(values, params, grads)):
        label = f"{name}[{i}]" if many else name
        want = p.shape if shape is None else shape(p.shape)
        if g is None:
            out.append(None)
        elif want is None:
            if a is not None:
                raise ValueError(f"{label} must be None: a parameter of shape {p.shape} "
                                 f"has no {name}")
            out.append(None)
        elif a is None:
            raise ValueError(f"{label} is required")
        else:
            out.append(_c.state_like(a, label, p, shape=want))
    return out


def _no_overlap(many, params, **states):
    """Every array this call writes (parameters and states) must be distinct memory."""
    named = [(f"param[{i}]" if many else "param", p) for i, p in enumerate(params)]
    for name, arrays in states.items():
        if arrays is not None:
            named += [(f"{name}[{i}]" if many else name, a) for i, a in enumerate(arrays)]
    _c.disjoint(named)


def _steps(step, many, params):
    """Step numbers (>= 1) as the int64 array of counts *before* the step that the
    kernels advance."""
    steps = _per_param(step, "step", many, params) if many and isinstance(
        step, (list, tuple)) else [step] * len(params)
    out = np.empty(len(params), np.int64)
    for i, s in enumerate(steps):
        label = f"step[{i}]" if many and isinstance(step, (list, tuple)) else "step"
        out[i] = _c.integer(s, label, 1, _c.INT64_MAX) - 1
    return out


def _two_moments(param, grad, exp_avg, second, second_name, step):
    """The checked arrays of a step with Adam's layout -- exp_avg, a second state list
    (named `second_name`) and step counts, disjoint from the parameters:
    ``(many, params, grads, exp_avgs, seconds, steps)``."""
    many, params = _params(param)
    grads = _grads(grad, many, params)
    ms = _states(exp_avg, "exp_avg", many, params, grads)
    vs = _states(second, second_name, many, params, grads)
    steps = _steps(step, many, params)
    _no_overlap(many, params, **{"exp_avg": ms, second_name: vs})
    return many, params, grads, ms, vs, steps


def sgd_(param: Arrays, grad: Arrays, momentum_buffer: Optional[Arrays] = None, *,
         lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
         weight_decay: float = 0.0, nesterov: bool = False,
         maximize: bool = False) -> Union[FloatArray, Sequence[Optional[FloatArray]], None]:
    r"""One SGD step in place (``torch.optim.SGD``).

    .. math::
        g \leftarrow \pm g + \lambda\theta,\quad
        b \leftarrow \begin{cases} g & \text{first step} \\
                     \mu b + (1-\tau) g & \text{after} \end{cases},\quad
        \theta \leftarrow \theta - \gamma\,(g + \mu b \text{ if nesterov else } b)

    (without momentum, :math:`\theta \leftarrow \theta - \gamma g`).

    Parameters
    ----------
    param, grad : ndarray or list of ndarray
    momentum_buffer : ndarray, list or None
        The buffer from the previous step; None (or a None entry) on the first step:
        a new buffer is then made, holding the gradient (torch's undampened first step).
    lr, momentum, dampening, weight_decay, nesterov, maximize
        As ``torch.optim.SGD``; Nesterov needs momentum > 0 and dampening = 0.

    Returns
    -------
    ndarray, list or None
        The momentum buffer(s) to pass to the next step (None without momentum).
    """
    opts = _c.sgd_options(lr, momentum, dampening, weight_decay, nesterov, maximize)
    many, params = _params(param)
    grads = _grads(grad, many, params)
    bufs: list[Optional[FloatArray]]
    bufs, fresh = [None] * len(params), [False] * len(params)
    if opts.momentum != 0.0:
        given = _per_param(momentum_buffer, "momentum_buffer", many, params)
        for i, (b, p, g) in enumerate(zip(given, params, grads)):
            label = f"momentum_buffer[{i}]" if many else "momentum_buffer"
            if b is not None:
                bufs[i] = _c.state_like(b, label, p)
            elif g is not None:
                fresh[i] = True
    _no_overlap(many, params, momentum_buffer=bufs)
    if opts.momentum != 0.0:
        for i, p in enumerate(params):  # allocate only once everything is checked
            if fresh[i]:
                bufs[i] = np.empty_like(p)
    _call(_k.sgd, params, grads, bufs, fresh, *opts)
    if opts.momentum == 0.0:
        return [None] * len(params) if many else None
    return bufs if many else bufs[0]


def adam_(param: Arrays, grad: Arrays, exp_avg: Arrays, exp_avg_sq: Arrays, step: Steps, *,
          lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.0, amsgrad: bool = False,
          max_exp_avg_sq: Optional[Arrays] = None, decoupled: bool = False,
          maximize: bool = False) -> None:
    r"""One Adam (``decoupled=False``) or AdamW (``decoupled=True``) step in place.

    .. math::
        g &\leftarrow \pm g \;(+\lambda\theta \text{ if not decoupled}),\qquad
        \theta \leftarrow \theta(1 - \gamma\lambda) \text{ if decoupled} \\
        m &\leftarrow \mathrm{lerp}(m, g, 1-\beta_1),\qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\qquad
        \hat v = \max(\hat v, v) \text{ if amsgrad else } v \\
        \theta &\leftarrow \theta - \frac{\gamma}{1-\beta_1^t}\,
        \frac{m}{\sqrt{\hat v}/\sqrt{1-\beta_2^t} + \epsilon}

    Parameters
    ----------
    param, grad, exp_avg, exp_avg_sq : ndarray or lists of ndarray
    step : int or list of int
        Step number after its increment, 1 on the first step.
    lr, beta1, beta2, eps, weight_decay
        As ``torch.optim.Adam`` (``betas=(beta1, beta2)``).
    amsgrad : bool
        Keep the running maximum of ``exp_avg_sq`` in ``max_exp_avg_sq`` (required).
    decoupled : bool
        AdamW's decoupled weight decay.
    maximize : bool
    """
    opts = _c.adam_options(lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled, maximize)
    many, params = _params(param)
    grads = _grads(grad, many, params)
    ms = _states(exp_avg, "exp_avg", many, params, grads)
    vs = _states(exp_avg_sq, "exp_avg_sq", many, params, grads)
    vmax = (_states(max_exp_avg_sq, "max_exp_avg_sq", many, params, grads)
            if opts.amsgrad else None)
    steps = _steps(step, many, params)
    _no_overlap(many, params, exp_avg=ms, exp_avg_sq=vs, max_exp_avg_sq=vmax)
    _call(_k.adam, params, grads, ms, vs, vmax, steps, *opts)


def rmsprop_(param: Arrays, grad: Arrays, square_avg: Arrays, *,
             grad_avg: Optional[Arrays] = None, momentum_buffer: Optional[Arrays] = None,
             lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
             weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
             maximize: bool = False) -> None:
    r"""One RMSprop step in place (``torch.optim.RMSprop``).

    .. math::
        g &\leftarrow \pm g + \lambda\theta,\qquad
        s \leftarrow \alpha s + (1-\alpha) g^2,\qquad
        \bar g \leftarrow \mathrm{lerp}(\bar g, g, 1-\alpha) \text{ if centered} \\
        d &= \sqrt{s - \bar g^2 \text{ (centered) or } s} + \epsilon,\qquad
        \theta \leftarrow \theta - \gamma\, g/d
        \quad\text{or, with momentum,}\quad b \leftarrow \mu b + g/d,\;
        \theta \leftarrow \theta - \gamma b

    ``grad_avg`` is required when centered, ``momentum_buffer`` when momentum > 0
    (both start as zeros).
    """
    opts = _c.rmsprop_options(lr, alpha, eps, weight_decay, momentum, centered, maximize)
    many, params = _params(param)
    grads = _grads(grad, many, params)
    sqs = _states(square_avg, "square_avg", many, params, grads)
    gas = _states(grad_avg, "grad_avg", many, params, grads) if opts.centered else None
    bufs = (_states(momentum_buffer, "momentum_buffer", many, params, grads)
            if opts.momentum > 0.0 else None)
    _no_overlap(many, params, square_avg=sqs, grad_avg=gas, momentum_buffer=bufs)
    _call(_k.rmsprop, params, grads, sqs, gas, bufs, None, *opts)


def adagrad_(param: Arrays, grad: Arrays, state_sum: Arrays, step: Steps, *,
             lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
             eps: float = 1e-10, maximize: bool = False) -> None:
    r"""One Adagrad step in place (``torch.optim.Adagrad``).

    .. math::
        g \leftarrow \pm g + \lambda\theta,\quad
        \tilde\gamma = \frac{\gamma}{1 + (t-1)\eta},\quad
        s \leftarrow s + g^2,\quad
        \theta \leftarrow \theta - \tilde\gamma\,\frac{g}{\sqrt{s} + \epsilon}

    ``state_sum`` starts at ``initial_accumulator_value``; ``step`` (t) is the step
    number after its increment.
    """
    opts = _c.adagrad_options(lr, lr_decay, weight_decay, eps, maximize)
    many, params = _params(param)
    grads = _grads(grad, many, params)
    sums = _states(state_sum, "state_sum", many, params, grads)
    steps = _steps(step, many, params)
    _no_overlap(many, params, state_sum=sums)
    _call(_k.adagrad, params, grads, sums, steps, *opts)


def lars_(param: Arrays, grad: Arrays, trace: Arrays, *, lr: float, momentum: float = 0.9,
          weight_decay: float = 0.0, trust_coefficient: float = 1e-3, eps: float = 0.0,
          nesterov: bool = False) -> Union[float, list[Optional[float]], None]:
    r"""One LARS step in place, as ``optax.lars`` (its chain, in order:
    ``add_decayed_weights``, ``scale_by_trust_ratio``, ``scale_by_learning_rate``,
    ``trace``).

    .. math::
        u &= g + \lambda\theta,\qquad
        r = \begin{cases} 1 & \lVert\theta\rVert = 0 \text{ or } \lVert u\rVert = 0 \\
            \dfrac{c\,\lVert\theta\rVert}{\lVert u\rVert + \epsilon} & \text{else}
            \end{cases} \\
        t &\leftarrow -\gamma\, r u + \mu t,\qquad
        \theta \leftarrow \theta + (-\gamma r u + \mu t \text{ if nesterov else } t)

    per array (layer); the norms are float64 sums over fixed chunks.  ``trace`` starts
    as zeros.

    Returns
    -------
    float or list
        The trust ratio r of each array (None where the gradient is None).
    """
    opts = _c.lars_options(lr, momentum, weight_decay, trust_coefficient, eps, nesterov)
    many, params = _params(param)
    grads = _grads(grad, many, params)
    traces = _states(trace, "trace", many, params, grads)
    _no_overlap(many, params, trace=traces)
    ratios = _call(_k.lars, params, grads, traces, *opts)
    return ratios if many else ratios[0]


def _mu_products(mu_product, many, params, grads):
    """NAdam's per-parameter float32 scalars: writable 0-d (or one-element) float32
    arrays, gathered into one array for the kernel (entries without gradient: 1)."""
    values = _per_param(mu_product, "mu_product", many, params)
    out = np.ones(len(params), np.float32)
    arrays = []
    for i, (a, g) in enumerate(zip(values, grads)):
        label = f"mu_product[{i}]" if many else "mu_product"
        if g is None:
            arrays.append(None)
            continue
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{label} must be a float32 numpy array of one element (torch's "
                            f"state['mu_product']), got {type(a).__name__}")
        if a.dtype != np.float32 or not a.dtype.isnative:
            raise TypeError(f"{label} must have dtype float32 in native byte order, got "
                            f"{a.dtype.str}")
        if a.size != 1:
            raise ValueError(f"{label} must have one element, got shape {a.shape}")
        if not a.flags.writeable:
            raise ValueError(f"{label} must be writable (it is updated in place)")
        out[i] = a.reshape(())
        arrays.append(a)
    return out, arrays


def nadam_(param: Arrays, grad: Arrays, exp_avg: Arrays, exp_avg_sq: Arrays,
           mu_product: Arrays, step: Steps, *, lr: float = 2e-3, beta1: float = 0.9,
           beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
           momentum_decay: float = 4e-3, decoupled: bool = False,
           maximize: bool = False) -> None:
    r"""One NAdam step in place (``torch.optim.NAdam``).

    .. math::
        g &\leftarrow \pm g \;(+\lambda\theta \text{ if not decoupled}),\qquad
        \theta \leftarrow \theta(1 - \gamma\lambda) \text{ if decoupled} \\
        \mu_t &= \beta_1\bigl(1 - \tfrac12\, 0.96^{t\psi}\bigr),\qquad
        \Pi \leftarrow \Pi\,\mu_t \text{ (in float32)},\qquad
        m \leftarrow \mathrm{lerp}(m, g, 1-\beta_1),\qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        d &= \sqrt{v / (1-\beta_2^t)} + \epsilon,\qquad
        \theta \leftarrow \theta - \frac{\gamma(1-\mu_t)}{1-\Pi}\,\frac{g}{d}
        - \frac{\gamma\,\mu_{t+1}}{1-\Pi\,\mu_{t+1}}\,\frac{m}{d}

    Parameters
    ----------
    param, grad, exp_avg, exp_avg_sq : ndarray or lists of ndarray
    mu_product : ndarray or list of ndarray
        :math:`\Pi`, a writable float32 array of one element per parameter (torch's
        ``state['mu_product']``; 1 before the first step), updated in place.
    step : int or list of int
        Step number after its increment, 1 on the first step.
    lr, beta1, beta2, eps, weight_decay, momentum_decay
        As ``torch.optim.NAdam`` (``betas=(beta1, beta2)``, ``momentum_decay`` :math:`\psi`).
    decoupled : bool
        torch's ``decoupled_weight_decay``.
    maximize : bool
    """
    opts = _c.nadam_options(lr, beta1, beta2, eps, weight_decay, momentum_decay, decoupled,
                            maximize)
    many, params, grads, ms, vs, steps = _two_moments(param, grad, exp_avg, exp_avg_sq,
                                                      "exp_avg_sq", step)
    mps, mp_arrays = _mu_products(mu_product, many, params, grads)
    _call(_k.nadam, params, grads, ms, vs, mps, steps, *opts)
    for a, v in zip(mp_arrays, mps):
        if a is not None:
            a[...] = v


def radam_(param: Arrays, grad: Arrays, exp_avg: Arrays, exp_avg_sq: Arrays, step: Steps,
           *, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
           weight_decay: float = 0.0, decoupled: bool = False,
           maximize: bool = False) -> None:
    r"""One RAdam step in place (``torch.optim.RAdam``).

    .. math::
        g &\leftarrow \pm g \;(+\lambda\theta \text{ if not decoupled}),\qquad
        \theta \leftarrow \theta(1 - \gamma\lambda) \text{ if decoupled},\qquad
        m \leftarrow \mathrm{lerp}(m, g, 1-\beta_1),\qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \rho_\infty &= \frac{2}{1-\beta_2} - 1,\quad
        \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t},\quad
        \theta \leftarrow \theta - \gamma\frac{m}{1-\beta_1^t}
        \left(\frac{\sqrt{1-\beta_2^t}}{\sqrt v + \epsilon}
        \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}
        \text{ if } \rho_t > 5 \text{ else } 1\right)

    Arguments as :func:`adam_` (without amsgrad).
    """
    opts = _c.radam_options(lr, beta1, beta2, eps, weight_decay, decoupled, maximize)
    _, params, grads, ms, vs, steps = _two_moments(param, grad, exp_avg, exp_avg_sq,
                                                   "exp_avg_sq", step)
    _call(_k.radam, params, grads, ms, vs, steps, *opts)


def adamax_(param: Arrays, grad: Arrays, exp_avg: Arrays, exp_inf: Arrays, step: Steps, *,
            lr: float = 2e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
            weight_decay: float = 0.0, maximize: bool = False) -> None:
    r"""One Adamax step in place (``torch.optim.Adamax``).

    .. math::
        g \leftarrow \pm g + \lambda\theta,\quad
        m \leftarrow \mathrm{lerp}(m, g, 1-\beta_1),\quad
        u \leftarrow \max(\beta_2 u, |g| + \epsilon),\quad
        \theta \leftarrow \theta - \frac{\gamma}{1-\beta_1^t}\,\frac{m}{u}

    ``exp_inf`` is :math:`u` (zeros at first; NaN propagates through the max, as
    torch.maximum's).
    """
    opts = _c.adamax_options(lr, beta1, beta2, eps, weight_decay, maximize)
    _, params, grads, ms, us, steps = _two_moments(param, grad, exp_avg, exp_inf,
                                                   "exp_inf", step)
    _call(_k.adamax, params, grads, ms, us, steps, *opts)


def adadelta_(param: Arrays, grad: Arrays, square_avg: Arrays, acc_delta: Arrays, *,
              lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
              weight_decay: float = 0.0, maximize: bool = False) -> None:
    r"""One Adadelta step in place (``torch.optim.Adadelta``).

    .. math::
        g &\leftarrow \pm g + \lambda\theta,\qquad
        s \leftarrow \rho s + (1-\rho) g^2,\qquad
        \Delta = \frac{\sqrt{a + \epsilon}}{\sqrt{s + \epsilon}}\, g \\
        a &\leftarrow \rho a + (1-\rho)\Delta^2,\qquad
        \theta \leftarrow \theta - \gamma\Delta

    ``square_avg`` (s) and ``acc_delta`` (a) start as zeros.
    """
    opts = _c.adadelta_options(lr, rho, eps, weight_decay, maximize)
    many, params = _params(param)
    grads = _grads(grad, many, params)
    sqs = _states(square_avg, "square_avg", many, params, grads)
    accs = _states(acc_delta, "acc_delta", many, params, grads)
    _no_overlap(many, params, square_avg=sqs, acc_delta=accs)
    _call(_k.adadelta, params, grads, sqs, accs, None, *opts)


def lion_(param: Arrays, grad: Arrays, exp_avg: Arrays, *, lr: float, beta1: float = 0.9,
          beta2: float = 0.99, weight_decay: float = 1e-3, maximize: bool = False) -> None:
    r"""One Lion step in place, as ``optax.lion`` (``b1``, ``b2`` are beta1, beta2).

    .. math::
        u = \operatorname{sign}\bigl((1-\beta_1) g + \beta_1 m\bigr) + \lambda\theta,
        \qquad \theta \leftarrow \theta - \gamma u,\qquad
        m \leftarrow (1-\beta_2) g + \beta_2 m

    with :math:`g \to -g` when maximizing; ``exp_avg`` (m) starts as zeros.
    """
    opts = _c.lion_options(lr, beta1, beta2, weight_decay, maximize)
    many, params = _params(param)
    grads = _grads(grad, many, params)
    ms = _states(exp_avg, "exp_avg", many, params, grads)
    _no_overlap(many, params, exp_avg=ms)
    _call(_k.lion, params, grads, ms, *opts)


def lamb_(param: Arrays, grad: Arrays, exp_avg: Arrays, exp_avg_sq: Arrays, step: Steps, *,
          lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-6,
          eps_root: float = 0.0, weight_decay: float = 0.0,
          maximize: bool = False) -> Union[float, list[Optional[float]], None]:
    r"""One LAMB step in place, as ``optax.lamb`` (its chain: ``scale_by_adam``,
    ``add_decayed_weights``, ``scale_by_trust_ratio``, ``scale_by_learning_rate``).

    .. math::
        m &\leftarrow (1-\beta_1) g + \beta_1 m,\qquad
        v \leftarrow (1-\beta_2) g^2 + \beta_2 v,\qquad
        u = \frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t) + \epsilon_{root}}
        + \epsilon} + \lambda\theta \\
        r &= \lVert\theta\rVert / \lVert u\rVert \;(1 \text{ if either is } 0),
        \qquad \theta \leftarrow \theta - \gamma\, r u

    per array (layer); the norms are float64 sums over fixed chunks.  ``exp_avg`` (m)
    and ``exp_avg_sq`` (v) start as zeros; ``step`` (t) is the step number after its
    increment.

    Returns
    -------
    float or list
        The trust ratio r of each array (None where the gradient is None).
    """
    opts = _c.lamb_options(lr, beta1, beta2, eps, eps_root, weight_decay, maximize)
    many, params, grads, ms, vs, steps = _two_moments(param, grad, exp_avg, exp_avg_sq,
                                                      "exp_avg_sq", step)
    ratios = _call(_k.lamb, params, grads, ms, vs, steps, *opts)
    return ratios if many else ratios[0]


# Adafactor's state shapes (torch's): a parameter of 2 dims or more keeps row and column
# means of g^2 over its last two, (..., m, 1) and (..., 1, n); a 0-d or 1-d one the full
# `variance`.  None: the parameter has no such state.
def _row_var_shape(shape):
    return tuple(shape[:-1]) + (1,) if len(shape) >= 2 else None


def _col_var_shape(shape):
    return tuple(shape[:-2]) + (1, shape[-1]) if len(shape) >= 2 else None


def _variance_shape(shape):
    return tuple(shape) if len(shape) < 2 else None


ADAFACTOR_SHAPES = {"row_var": _row_var_shape, "col_var": _col_var_shape,
                    "variance": _variance_shape}


def adafactor_(param: Arrays, grad: Arrays, row_var: Optional[Arrays],
               col_var: Optional[Arrays], variance: Optional[Arrays], step: Steps, *,
               lr: float = 1e-2, beta2_decay: float = -0.8, eps1: Optional[float] = None,
               eps2: float = 1e-3, d: float = 1.0, weight_decay: float = 0.0,
               maximize: bool = False) -> None:
    r"""One Adafactor step in place (``torch.optim.Adafactor``; ``eps=(eps1, eps2)``).

    .. math::
        \hat\beta_t &= 1 - t^{\tau},\qquad \rho_t = \min(\gamma, 1/\sqrt t),\qquad
        \alpha_t = \max(\epsilon_2, \mathrm{RMS}(\theta))\,\rho_t,\qquad
        \theta \leftarrow \theta(1 - \gamma\lambda) \\
        R &\leftarrow \mathrm{lerp}(R, \mathrm{mean}_j\, g^2, 1-\hat\beta_t),\quad
        C \leftarrow \mathrm{lerp}(C, \mathrm{mean}_i\, g^2, 1-\hat\beta_t),\quad
        V = \frac{R\,C}{\max(\mathrm{mean}_i R, \epsilon_1)}
        \quad\text{(2 dims or more, over the last two)} \\
        V &\leftarrow \mathrm{lerp}(V, g^2, 1-\hat\beta_t) \quad\text{(0-d, 1-d)},\qquad
        U = \frac{g}{\sqrt{\max(V, \epsilon_1^2)}},\qquad
        \theta \leftarrow \theta - \frac{\alpha_t}{\max(1, \mathrm{RMS}(U)/d)}\,U

    with :math:`g \to -g` when maximizing, :math:`\tau` = ``beta2_decay`` and t the
    step number after its increment.

    Parameters
    ----------
    param, grad : ndarray or lists of ndarray
    row_var, col_var : ndarray, list or None
        A parameter of 2 dims or more: its row and column factors (torch's
        ``state['row_var']``, shape ``(..., m, 1)``, and ``state['col_var']``,
        ``(..., 1, n)``; zeros at first).  None (or a None entry) for the others.
    variance : ndarray, list or None
        A 0-d or 1-d parameter: its second moment, of its shape (zeros at first).  None
        (or a None entry) for the others.
    step : int or list of int
        Step number after its increment, 1 on the first step.
    lr, beta2_decay, eps1, eps2, d, weight_decay, maximize
        As ``torch.optim.Adafactor``.  ``eps1=None`` is ``finfo(dtype).eps`` of the
        first parameter with a gradient, used for all of them (as torch resolves it).

    Notes
    -----
    A parameter with no elements is left as it is (torch raises ZeroDivisionError on
    its RMS), its state too.  A float16/bfloat16 parameter takes a gradient and states
    of its dtype (``eps1=None`` is then that dtype's eps), stepped as float32 and
    rounded once (R, C and V as the float32 step computes them, then stored rounded);
    :class:`gradkit.optim.Adafactor` keeps float32 states for it by default.
    """
    opts = _c.adafactor_options(lr, beta2_decay, eps1, eps2, d, weight_decay, maximize)
    many, params = _params(param)
    grads = _grads(grad, many, params)
    rows = _states(row_var, "row_var", many, params, grads, _row_var_shape)
    cols = _states(col_var, "col_var", many, params, grads, _col_var_shape)
    vs = _states(variance, "variance", many, params, grads, _variance_shape)
    steps = _steps(step, many, params)
    _no_overlap(many, params, row_var=rows, col_var=cols, variance=vs)
    _adafactor(params, grads, rows, cols, vs, steps, opts)


def _adafactor(params, grads, rows, cols, variances, steps, opts, coef=None, storage=None,
               work=None):
    """The kernel call of adafactor_ (16-bit parameters by _call) and of the class
    (`storage` given by its plan; `work`, its scratch: _k.adafactor's): eps1 resolved as
    torch does, unless the caller did; returns whether a checked step was skipped."""
    eps1 = _c.adafactor_eps1(opts.eps1, [p.dtype for p in params], grads)
    if eps1 is None:  # no gradient at all: nothing to do
        return False
    args = (rows, cols, variances, steps, opts.lr, opts.beta2_decay, eps1, *opts[3:], coef)
    if storage is not None:
        return _k.adafactor(params, grads, *args, storage=storage, work=work)
    _call(_k.adafactor if work is None else functools.partial(_k.adafactor, work=work),
          params, grads, *args)
    return False
