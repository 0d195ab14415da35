r"""The optimizers: torch.optim's SGD, Adam, AdamW, RMSprop, Adagrad, NAdam, RAdam, Adamax,
Adadelta, Adafactor, and optax's LARS, Lion and LAMB.

Same constructor arguments, defaults, update formulas (in torch's order of operations),
per-parameter step counts and state names as torch; the gradients are passed to
``step(grads)``.  Each group is updated by one multi-tensor kernel (one pass over
memory, one parallel region for all its arrays); see :mod:`gradkit.optim.functional`
for the formulas.

torch's implementation switches are accepted with torch's defaults, each where its
torch twin takes it, and kept in every param group (so state dicts have torch's keys):
``foreach`` and ``fused`` (None or a bool: any value gives the same result, gradkit
always runs its one fused multi-tensor CPU kernel), ``capturable`` and
``differentiable`` (False; True raises ValueError: there is no CUDA graph to capture on
the CPU, and the in-place kernels are outside any autograd graph).  Hyperparameters may
be Python or NumPy numbers, 0-d arrays or one-element torch tensors; they are
range-checked where set (constructor, add_param_group, load_state_dict), as torch does.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import warnings

import numpy as np

from .._ext import optim as _k
from .. import _validation as _c
from . import functional as _f
from .optimizer import Optimizer

if TYPE_CHECKING:
    from .._typing import ParamsArg

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LARS", "NAdam", "RAdam", "Adamax",
           "Adadelta", "Lion", "LAMB", "Adafactor"]


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum and Nesterov (``torch.optim.SGD``).

    .. math::
        g \leftarrow \pm g + \lambda\theta,\quad
        b \leftarrow g \text{ (first step)},\; \mu b + (1-\tau) g \text{ (after)},\quad
        \theta \leftarrow \theta - \gamma\,(g + \mu b \text{ if nesterov else } b)

    Parameters
    ----------
    params : list of ndarray, or list of dicts ``{"params": [...], **options}``
        float32/float64 C-contiguous writable arrays, updated in place.
    lr : float
        Learning rate :math:`\gamma` (torch's default 1e-3).
    momentum : float
        :math:`\mu`; 0 disables the buffer.
    dampening : float
        :math:`\tau`; not applied on the first step (the buffer starts as the gradient).
    weight_decay : float
        :math:`\lambda`, L2 penalty added to the gradient.
    nesterov : bool
        Requires momentum > 0 and dampening = 0.
    maximize : bool
        Ascend instead of descend.
    foreach, differentiable, fused
        torch's switches (see the module docstring): accepted, same result.

    master_weights, state_dtype
        Mixed precision (docs/precision.md): float16/bfloat16 parameters are stepped
        in float32 arithmetic with their states in their own dtype; ``master_weights``
        keeps a float32 master copy (``state["master"]``) and float32 states for them;
        ``state_dtype`` (float32, float16, bfloat16) sets the moments' dtype.

    State per parameter: ``momentum_buffer``.
    """
    _slots = ("momentum_buffer",)
    _counts_steps = False

    def __init__(self, params: ParamsArg, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False, foreach: Optional[bool] = None,
                 differentiable: bool = False, fused: Optional[bool] = None,
                 master_weights: bool = False, state_dtype: Any = None) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused),
                         master_weights=master_weights, state_dtype=state_dtype)

    def _options(self, g, strict=True):
        return _c.sgd_options(g["lr"], g["momentum"], g["dampening"], g["weight_decay"],
                              g["nesterov"], g["maximize"], strict=strict)

    def _needed(self, opts):
        return ("momentum_buffer",) if opts.momentum != 0.0 else ()

    def _new_state(self, slot, param, group):
        if slot == "master":
            return super()._new_state(slot, param, group)
        # filled with the gradient by the first step
        return np.empty(param.shape, self._slot_dtype(slot, param))

    def _update(self, params, grads, state, opts, fresh, coef, storage=None):
        return _k.sgd(params, grads, state["momentum_buffer"], fresh, *opts, coef, storage)


class Adam(Optimizer):
    r"""Adam, with AMSGrad (``torch.optim.Adam``).

    .. math::
        g &\leftarrow \pm g + \lambda\theta,\qquad
        m \leftarrow \mathrm{lerp}(m, g, 1-\beta_1),\qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \hat v &= \max(\hat v, v) \text{ (amsgrad) or } v,\qquad
        \theta \leftarrow \theta - \frac{\gamma}{1-\beta_1^t}\,
        \frac{m}{\sqrt{\hat v}/\sqrt{1-\beta_2^t} + \epsilon}

    with eps outside the square root and t the parameter's own step count.

    Parameters
    ----------
    params : list of ndarray, or list of dicts
    lr : float
        Default 1e-3.
    betas : (float, float)
        Each in [0, 1); default (0.9, 0.999).
    eps : float
        Default 1e-8.
    weight_decay : float
        L2 penalty added to the gradient (see :class:`AdamW` for decoupled decay).
    amsgrad : bool
        Normalize by the running maximum of the raw second moment.
    maximize : bool
    decoupled_weight_decay : bool
        AdamW's decay (torch 2.x's Adam option of the same name).
    foreach, capturable, differentiable, fused
        torch's switches (see the module docstring): accepted, same result;
        capturable and differentiable must be False.

    master_weights, state_dtype
        Mixed precision (docs/precision.md): float16/bfloat16 parameters are stepped
        in float32 arithmetic with their states in their own dtype; ``master_weights``
        keeps a float32 master copy (``state["master"]``) and float32 states for them;
        ``state_dtype`` (float32, float16, bfloat16) sets the moments' dtype.

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``
    (amsgrad).
    """
    _slots = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: ParamsArg, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: Optional[bool] = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False,
                 fused: Optional[bool] = None, decoupled_weight_decay: bool = False,
                 master_weights: bool = False, state_dtype: Any = None) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, foreach=foreach, maximize=maximize,
                                      capturable=capturable, differentiable=differentiable,
                                      fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay),
                         master_weights=master_weights, state_dtype=state_dtype)

    def _options(self, g, strict=True):
        b1, b2 = _c.betas(g["betas"], strict=strict)
        return _c.adam_options(g["lr"], b1, b2, g["eps"], g["weight_decay"], g["amsgrad"],
                               g["decoupled_weight_decay"], g["maximize"],
                               names=("betas[0]", "betas[1]"), strict=strict)

    def _needed(self, opts):
        return self._slots if opts.amsgrad else self._slots[:2]

    def _update(self, params, grads, state, opts, fresh, coef, storage=None):
        return _k.adam(params, grads, state["exp_avg"], state["exp_avg_sq"],
                       state["max_exp_avg_sq"], state["step"], *opts, coef, storage)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (``torch.optim.AdamW``):
    :math:`\theta \leftarrow \theta(1 - \gamma\lambda)` before the Adam step, and no
    decay term in the gradient.  Default ``weight_decay=1e-2``; otherwise as
    :class:`Adam`."""

    def __init__(self, params: ParamsArg, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: Optional[bool] = None,
                 capturable: bool = False, differentiable: bool = False,
                 fused: Optional[bool] = None,
                 master_weights: bool = False, state_dtype: Any = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         foreach=foreach, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True,
                         master_weights=master_weights, state_dtype=state_dtype)


class RMSprop(Optimizer):
    r"""RMSprop, centered or not, with momentum (``torch.optim.RMSprop``).

    .. math::
        g &\leftarrow \pm g + \lambda\theta,\qquad
        s \leftarrow \alpha s + (1-\alpha) g^2,\qquad
        \bar g \leftarrow \mathrm{lerp}(\bar g, g, 1-\alpha) \text{ (centered)} \\
        d &= \sqrt{s - \bar g^2} + \epsilon \text{ (centered) or } \sqrt{s} + \epsilon,
        \qquad \theta \leftarrow \theta - \gamma g/d
        \text{ or } b \leftarrow \mu b + g/d,\; \theta \leftarrow \theta - \gamma b

    Parameters
    ----------
    params : list of ndarray, or list of dicts
    lr : float
        Default 1e-2.
    alpha : float
        Smoothing constant, default 0.99.
    eps : float
        Added outside the square root, default 1e-8.
    weight_decay, momentum : float
    centered : bool
    capturable, foreach : torch's switches (see the module docstring)
    maximize : bool
    differentiable : must be False

    torch's positional order (``capturable``, ``foreach``, ``maximize`` and
    ``differentiable`` follow ``centered``).

    master_weights, state_dtype
        Mixed precision (docs/precision.md): float16/bfloat16 parameters are stepped
        in float32 arithmetic with their states in their own dtype; ``master_weights``
        keeps a float32 master copy (``state["master"]``) and float32 states for them;
        ``state_dtype`` (float32, float16, bfloat16) sets the moments' dtype.

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0),
    ``grad_avg`` (centered).
    """
    _slots = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params: ParamsArg, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, capturable: bool = False,
                 foreach: Optional[bool] = None, maximize: bool = False,
                 differentiable: bool = False,
                 *, master_weights: bool = False, state_dtype: Any = None) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable),
                         master_weights=master_weights, state_dtype=state_dtype)

    def _options(self, g, strict=True):
        return _c.rmsprop_options(g["lr"], g["alpha"], g["eps"], g["weight_decay"],
                                  g["momentum"], g["centered"], g["maximize"], strict=strict)

    def _needed(self, opts):
        return (("square_avg",) + (("momentum_buffer",) if opts.momentum > 0.0 else ())
                + (("grad_avg",) if opts.centered else ()))

    def _update(self, params, grads, state, opts, fresh, coef, storage=None):
        return _k.rmsprop(params, grads, state["square_avg"], state["grad_avg"],
                          state["momentum_buffer"], state["step"], *opts, coef, storage)


class Adagrad(Optimizer):
    r"""Adagrad (``torch.optim.Adagrad``).

    .. math::
        g \leftarrow \pm g + \lambda\theta,\quad
        \tilde\gamma = \frac{\gamma}{1 + (t-1)\eta},\quad
        s \leftarrow s + g^2,\quad
        \theta \leftarrow \theta - \tilde\gamma\,\frac{g}{\sqrt{s} + \epsilon}

    Parameters
    ----------
    params : list of ndarray, or list of dicts
    lr : float
        Default 1e-2.
    lr_decay : float
        :math:`\eta`.
    weight_decay : float
    initial_accumulator_value : float
        Starting value of ``sum``, >= 0 (state created with the optimizer, as torch
        does).  As in torch, only the constructor's value is used, for every group: a
        group's own ``initial_accumulator_value`` is kept in ``param_groups`` but does
        not change its state (torch reads ``defaults``); add_param_group warns when a
        group gives a different one.
    eps : float
        Default 1e-10.
    foreach : torch's switch (see the module docstring)
    maximize : bool
    differentiable : must be False
    fused : torch's switch

    master_weights, state_dtype
        Mixed precision (docs/precision.md): float16/bfloat16 parameters are stepped
        in float32 arithmetic with their states in their own dtype; ``master_weights``
        keeps a float32 master copy (``state["master"]``) and float32 states for them;
        ``state_dtype`` (float32, float16, bfloat16) sets the moments' dtype.

    State per parameter: ``step``, ``sum``.
    """
    _slots = ("sum",)
    _eager = True

    def __init__(self, params: ParamsArg, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, foreach: Optional[bool] = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 fused: Optional[bool] = None,
                 master_weights: bool = False, state_dtype: Any = None) -> None:
        # checked first: the constructor's value starts every group's state
        _c.nonneg_float(initial_accumulator_value, "initial_accumulator_value")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, fused=fused),
                         master_weights=master_weights, state_dtype=state_dtype)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        value = (param_group.get("initial_accumulator_value")
                 if isinstance(param_group, dict) else None)
        initial = self.defaults["initial_accumulator_value"]
        try:  # a value that is no number raises in the checks of add_param_group
            differs = value is not None and _c.real(value, "") != _c.real(initial, "")
        except (TypeError, ValueError):
            differs = False
        super().add_param_group(param_group)
        if differs:
            warnings.warn(f"Adagrad: a param group's initial_accumulator_value={value!r} "
                          f"is not used; as in torch.optim.Adagrad, every state starts at "
                          f"the constructor's value {initial!r}", UserWarning, stacklevel=2)

    def _options(self, g, strict=True):
        if strict:
            _c.nonneg_float(g["initial_accumulator_value"], "initial_accumulator_value")
        return _c.adagrad_options(g["lr"], g["lr_decay"], g["weight_decay"], g["eps"],
                                  g["maximize"], strict=strict)

    def _needed(self, opts):
        return self._slots

    def _new_state(self, slot, param, group):
        if slot == "master":
            return super()._new_state(slot, param, group)
        return np.full(param.shape, _c.nonneg_float(self.defaults["initial_accumulator_value"],
                                                    "initial_accumulator_value"),
                       self._slot_dtype(slot, param))

    def _update(self, params, grads, state, opts, fresh, coef, storage=None):
        return _k.adagrad(params, grads, state["sum"], state["step"], *opts, coef, storage)


class LARS(Optimizer):
    r"""Layer-wise adaptive rate scaling, as ``optax.lars``.

    optax chains, in this order, ``add_decayed_weights(weight_decay)``,
    ``scale_by_trust_ratio(trust_coefficient, eps)``, ``scale_by_learning_rate(lr)``
    and ``trace(momentum, nesterov)``; per array (layer):

    .. math::
        u &= g + \lambda\theta,\qquad
        r = \frac{c\,\lVert\theta\rVert}{\lVert u\rVert + \epsilon}
        \;(1 \text{ if } \lVert\theta\rVert = 0 \text{ or } \lVert u\rVert = 0) \\
        t &\leftarrow -\gamma r u + \mu t,\qquad
        \theta \leftarrow \theta + t
        \;(\text{nesterov: } \theta \leftarrow \theta - \gamma r u + \mu t)

    The weight decay enters the norm in the denominator (``||g + wd*theta||``, not
    ``||g|| + wd*||theta||`` as in You et al.'s paper), and the learning rate is inside
    the momentum trace, as in optax.  Norms are float64 sums over fixed chunks (optax
    uses the array's dtype).

    Parameters
    ----------
    params : list of ndarray, or list of dicts
    lr : float
        Required.
    momentum : float
        Default 0.9.
    weight_decay : float
    trust_coefficient : float
        Default 1e-3.
    eps : float
        Default 0.
    nesterov : bool
    foreach, capturable, differentiable, fused
        torch's switches, taken by every gradkit optimizer (see the module docstring).

    master_weights, state_dtype
        Mixed precision (docs/precision.md): float16/bfloat16 parameters are stepped
        in float32 arithmetic with their states in their own dtype; ``master_weights``
        keeps a float32 master copy (``state["master"]``) and float32 states for them;
        ``state_dtype`` (float32, float16, bfloat16) sets the moments' dtype.

    State per parameter: ``trace``.
    """
    _slots = ("trace",)
    _counts_steps = False

    def __init__(self, params: ParamsArg, lr: float, momentum: float = 0.9,
                 weight_decay: float = 0.0, trust_coefficient: float = 1e-3,
                 eps: float = 0.0, *, nesterov: bool = False,
                 foreach: Optional[bool] = None, capturable: bool = False,
                 differentiable: bool = False, fused: Optional[bool] = None,
                 master_weights: bool = False, state_dtype: Any = None) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient, eps=eps,
                                      nesterov=nesterov, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable,
                                      fused=fused),
                         master_weights=master_weights, state_dtype=state_dtype)

    def _options(self, g, strict=True):
        return _c.lars_options(g["lr"], g["momentum"], g["weight_decay"],
                               g["trust_coefficient"], g["eps"], g["nesterov"],
                               strict=strict)

    def _needed(self, opts):
        return self._slots

    def _update(self, params, grads, state, opts, fresh, coef, storage=None):
        out = _k.lars(params, grads, state["trace"], *opts, coef, storage)
        return out[1] if storage is not None else None  # (ratios, found) with storage


class NAdam(Optimizer):
    r"""Adam with Nesterov momentum (``torch.optim.NAdam``), with torch's momentum decay.

    .. math::
        g &\leftarrow \pm g + \lambda\theta \text{ (or }
        \theta \leftarrow \theta(1-\gamma\lambda) \text{ if decoupled)},\qquad
        \mu_t = \beta_1\bigl(1 - \tfrac12\, 0.96^{t\psi}\bigr),\qquad
        \Pi_t = \Pi_{t-1}\mu_t \\
        m &\leftarrow \mathrm{lerp}(m, g, 1-\beta_1),\qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\qquad
        d = \sqrt{v / (1-\beta_2^t)} + \epsilon \\
        \theta &\leftarrow \theta - \frac{\gamma(1-\mu_t)}{1-\Pi_t}\,\frac{g}{d}
        - \frac{\gamma\,\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\,\frac{m}{d}

    :math:`\Pi_t` (``mu_product``) is kept in float32 and multiplied in float32, as
    torch keeps it (a float32 0-d tensor under torch's default dtype), so trajectories
    match torch's to round-off for both parameter dtypes.

    Parameters
    ----------
    params : list of ndarray, or list of dicts
    lr : float
        Default 2e-3.
    betas : (float, float)
        Each in [0, 1); default (0.9, 0.999).
    eps : float
        Default 1e-8.
    weight_decay : float
    momentum_decay : float
        :math:`\psi`, default 4e-3.
    decoupled_weight_decay : bool
        AdamW-style decay (NAdamW).
    maximize : bool
    foreach, capturable, differentiable
        torch's switches (see the module docstring): accepted, same result.

    master_weights, state_dtype
        Mixed precision (docs/precision.md): float16/bfloat16 parameters are stepped
        in float32 arithmetic with their states in their own dtype; ``master_weights``
        keeps a float32 master copy (``state["master"]``) and float32 states for them;
        ``state_dtype`` (float32, float16, bfloat16) sets the moments' dtype.

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``, ``mu_product``.
    """
    _slots = ("exp_avg", "exp_avg_sq")
    _scalars = (("mu_product", np.float32, 1.0),)

    def __init__(self, params: ParamsArg, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: Optional[bool] = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False,
                 master_weights: bool = False, state_dtype: Any = None) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      foreach=foreach, maximize=maximize,
                                      capturable=capturable, differentiable=differentiable),
                         master_weights=master_weights, state_dtype=state_dtype)

    def _options(self, g, strict=True):
        b1, b2 = _c.betas(g["betas"], strict=strict)
        return _c.nadam_options(g["lr"], b1, b2, g["eps"], g["weight_decay"],
                                g["momentum_decay"], g["decoupled_weight_decay"],
                                g["maximize"], names=("betas[0]", "betas[1]"), strict=strict)

    def _needed(self, opts):
        return self._slots

    def _update(self, params, grads, state, opts, fresh, coef, storage=None):
        return _k.nadam(params, grads, state["exp_avg"], state["exp_avg_sq"],
                        state["mu_product"], state["step"], *opts, coef, storage)


class RAdam(Optimizer):
    r"""Rectified Adam (``torch.optim.RAdam``).

    .. math::
        g &\leftarrow \pm g + \lambda\theta \text{ (or }
        \theta \leftarrow \theta(1-\gamma\lambda) \text{ if decoupled)},\qquad
        m \leftarrow \mathrm{lerp}(m, g, 1-\beta_1),\qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \rho_\infty &= \frac{2}{1-\beta_2} - 1,\qquad
        \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t},\qquad
        r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}
                          {(\rho_\infty-4)(\rho_\infty-2)\rho_t}} \\
        \theta &\leftarrow \theta - \gamma\,\frac{m}{1-\beta_1^t}\cdot
        \begin{cases} \dfrac{\sqrt{1-\beta_2^t}}{\sqrt v + \epsilon}\, r_t
        & \rho_t > 5 \\ 1 & \text{else} \end{cases}

    Parameters
    ----------
    params : list of ndarray, or list of dicts
    lr : float
        Default 1e-3.
    betas : (float, float)
        Each in [0, 1); default (0.9, 0.999).
    eps : float
        Default 1e-8.
    weight_decay : float
    decoupled_weight_decay : bool
        AdamW-style decay.
    maximize : bool
    foreach, capturable, differentiable
        torch's switches (see the module docstring): accepted, same result.

    master_weights, state_dtype
        Mixed precision (docs/precision.md): float16/bfloat16 parameters are stepped
        in float32 arithmetic with their states in their own dtype; ``master_weights``
        keeps a float32 master copy (``state["master"]``) and float32 states for them;
        ``state_dtype`` (float32, float16, bfloat16) sets the moments' dtype.

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """
    _slots = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: ParamsArg, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 foreach: Optional[bool] = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False,
                 master_weights: bool = False, state_dtype: Any = None) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      foreach=foreach, maximize=maximize,
                                      capturable=capturable, differentiable=differentiable),
                         master_weights=master_weights, state_dtype=state_dtype)

    def _options(self, g, strict=True):
        b1, b2 = _c.betas(g["betas"], strict=strict)
        return _c.radam_options(g["lr"], b1, b2, g["eps"], g["weight_decay"],
                                g["decoupled_weight_decay"], g["maximize"],
                                names=("betas[0]", "betas[1]"), strict=strict)

    def _needed(self, opts):
        return self._slots

    def _update(self, params, grads, state, opts, fresh, coef, storage=None):
        return _k.radam(params, grads, state["exp_avg"], state["exp_avg_sq"], state["step"],
                        *opts, coef, storage)


class Adamax(Optimizer):
    r"""Adamax, Adam with the infinity norm (``torch.optim.Adamax``).

    .. math::
        g \leftarrow \pm g + \lambda\theta,\quad
        m \leftarrow \mathrm{lerp}(m, g, 1-\beta_1),\quad
        u \leftarrow \max(\beta_2 u,\, |g| + \epsilon),\quad
        \theta \leftarrow \theta - \frac{\gamma}{1-\beta_1^t}\,\frac{m}{u}

    Parameters
    ----------
    params : list of ndarray, or list of dicts
    lr : float
        Default 2e-3.
    betas : (float, float)
        Each in [0, 1); default (0.9, 0.999).
    eps : float
        Default 1e-8.
    weight_decay : float
    maximize : bool
    foreach, differentiable, capturable
        torch's switches (see the module docstring): accepted, same result.

    master_weights, state_dtype
        Mixed precision (docs/precision.md): float16/bfloat16 parameters are stepped
        in float32 arithmetic with their states in their own dtype; ``master_weights``
        keeps a float32 master copy (``state["master"]``) and float32 states for them;
        ``state_dtype`` (float32, float16, bfloat16) sets the moments' dtype.

    State per parameter: ``step``, ``exp_avg``, ``exp_inf``.
    """
    _slots = ("exp_avg", "exp_inf")

    def __init__(self, params: ParamsArg, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, foreach: Optional[bool] = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False,
                 master_weights: bool = False, state_dtype: Any = None) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, capturable=capturable),
                         master_weights=master_weights, state_dtype=state_dtype)

    def _options(self, g, strict=True):
        b1, b2 = _c.betas(g["betas"], strict=strict)
        return _c.adamax_options(g["lr"], b1, b2, g["eps"], g["weight_decay"], g["maximize"],
                                 names=("betas[0]", "betas[1]"), strict=strict)

    def _needed(self, opts):
        return self._slots

    def _update(self, params, grads, state, opts, fresh, coef, storage=None):
        return _k.adamax(params, grads, state["exp_avg"], state["exp_inf"], state["step"],
                         *opts, coef, storage)


class Adadelta(Optimizer):
    r"""Adadelta (``torch.optim.Adadelta``).

    .. math::
        g &\leftarrow \pm g + \lambda\theta,\qquad
        s \leftarrow \rho s + (1-\rho) g^2,\qquad
        \Delta = \frac{\sqrt{a + \epsilon}}{\sqrt{s + \epsilon}}\, g \\
        a &\leftarrow \rho a + (1-\rho)\Delta^2,\qquad
        \theta \leftarrow \theta - \gamma\Delta

    Parameters
    ----------
    params : list of ndarray, or list of dicts
    lr : float
        Default 1.0.
    rho : float
        In [0, 1], default 0.9.
    eps : float
        Default 1e-6.
    weight_decay : float
    maximize : bool
    foreach, capturable, differentiable
        torch's switches (see the module docstring): accepted, same result.

    master_weights, state_dtype
        Mixed precision (docs/precision.md): float16/bfloat16 parameters are stepped
        in float32 arithmetic with their states in their own dtype; ``master_weights``
        keeps a float32 master copy (``state["master"]``) and float32 states for them;
        ``state_dtype`` (float32, float16, bfloat16) sets the moments' dtype.

    State per parameter: ``step``, ``square_avg``, ``acc_delta``.
    """
    _slots = ("square_avg", "acc_delta")

    def __init__(self, params: ParamsArg, lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0.0,
                 foreach: Optional[bool] = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False,
                 master_weights: bool = False, state_dtype: Any = None) -> None:
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, capturable=capturable,
                                      maximize=maximize, differentiable=differentiable),
                         master_weights=master_weights, state_dtype=state_dtype)

    def _options(self, g, strict=True):
        return _c.adadelta_options(g["lr"], g["rho"], g["eps"], g["weight_decay"],
                                   g["maximize"], strict=strict)

    def _needed(self, opts):
        return self._slots

    def _update(self, params, grads, state, opts, fresh, coef, storage=None):
        return _k.adadelta(params, grads, state["square_avg"], state["acc_delta"],
                           state["step"], *opts, coef, storage)


class Lion(Optimizer):
    r"""Lion (Chen et al. 2023), as ``optax.lion``: its chain ``scale_by_lion``,
    ``add_decayed_weights``, ``scale_by_learning_rate``.

    .. math::
        u = \operatorname{sign}\bigl((1-\beta_1) g + \beta_1 m\bigr) + \lambda\theta,
        \qquad \theta \leftarrow \theta - \gamma u,\qquad
        m \leftarrow (1-\beta_2) g + \beta_2 m

    (:math:`g \to -g` with ``maximize``, a gradkit addition).  The decay term is added
    even when :math:`\lambda = 0`, as optax does.

    Parameters
    ----------
    params : list of ndarray, or list of dicts
    lr : float
        Required, as in optax (the paper suggests 3-10x smaller than AdamW's).
    betas : (float, float)
        optax's (b1, b2), each in [0, 1]; default (0.9, 0.99).
    weight_decay : float
        Default 1e-3 (optax's).
    maximize : bool
    foreach, capturable, differentiable, fused
        As :class:`LARS`, which torch lacks too: accepted, same result.

    master_weights, state_dtype
        Mixed precision (docs/precision.md): float16/bfloat16 parameters are stepped
        in float32 arithmetic with their states in their own dtype; ``master_weights``
        keeps a float32 master copy (``state["master"]``) and float32 states for them;
        ``state_dtype`` (float32, float16, bfloat16) sets the moments' dtype.

    State per parameter: ``exp_avg`` (optax's ``mu``).
    """
    _slots = ("exp_avg",)
    _counts_steps = False

    def __init__(self, params: ParamsArg, lr: float,
                 betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 1e-3, *,
                 maximize: bool = False, foreach: Optional[bool] = None,
                 capturable: bool = False, differentiable: bool = False,
                 fused: Optional[bool] = None,
                 master_weights: bool = False, state_dtype: Any = None) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable,
                                      fused=fused),
                         master_weights=master_weights, state_dtype=state_dtype)

    def _options(self, g, strict=True):
        b1, b2 = _c.pair(g["betas"])
        return _c.lion_options(g["lr"], b1, b2, g["weight_decay"], g["maximize"],
                               names=("betas[0]", "betas[1]"), strict=strict)

    def _needed(self, opts):
        return self._slots

    def _update(self, params, grads, state, opts, fresh, coef, storage=None):
        return _k.lion(params, grads, state["exp_avg"], *opts, coef, storage)


class LAMB(Optimizer):
    r"""Layer-wise adaptive moments (You et al. 2020), as ``optax.lamb``: its chain
    ``scale_by_adam(b1, b2, eps, eps_root)``, ``add_decayed_weights(weight_decay)``,
    ``scale_by_trust_ratio()``, ``scale_by_learning_rate(lr)``; per array (layer):

    .. math::
        m &\leftarrow (1-\beta_1) g + \beta_1 m,\qquad
        v \leftarrow (1-\beta_2) g^2 + \beta_2 v \\
        u &= \frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t) + \epsilon_{root}}
        + \epsilon} + \lambda\theta,\qquad
        r = \frac{\lVert\theta\rVert}{\lVert u\rVert}
        \;(1 \text{ if either norm is } 0),\qquad
        \theta \leftarrow \theta - \gamma\, r u

    t is the parameter's own step count (optax counts steps for the whole tree: the
    same when every parameter gets a gradient at every step).  Norms are float64 sums
    over fixed chunks and the bias corrections float64 rounded once (optax computes both
    in the array's dtype).  ``maximize`` (:math:`g \to -g`) is gradkit's addition.

    Parameters
    ----------
    params : list of ndarray, or list of dicts
    lr : float
        Required.
    betas : (float, float)
        optax's (b1, b2), each in [0, 1); default (0.9, 0.999).
    eps : float
        Default 1e-6 (optax's).
    eps_root : float
        Default 0.
    weight_decay : float
    maximize : bool
    foreach, capturable, differentiable, fused
        As :class:`LARS`, which torch lacks too: accepted, same result.

    master_weights, state_dtype
        Mixed precision (docs/precision.md): float16/bfloat16 parameters are stepped
        in float32 arithmetic with their states in their own dtype; ``master_weights``
        keeps a float32 master copy (``state["master"]``) and float32 states for them;
        ``state_dtype`` (float32, float16, bfloat16) sets the moments' dtype.  The
        trust ratio's norms are those of the float32 step: of the widened parameter
        (the master) and of u computed from the new moments before they are rounded.

    low_memory : bool
        False (default): the step keeps a scratch array of one value per parameter
        element between steps (float32 for 16-bit parameters; not state: not saved,
        same results), in which u is computed once for both the norms and the update;
        the step then moves 40 bytes per float32 element instead of 44 and makes half
        the divisions and square roots, which bound it.  True: no scratch, u computed
        twice.

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq`` (optax's mu, nu).
    """
    _slots = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: ParamsArg, lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 eps_root: float = 0.0, weight_decay: float = 0.0, *,
                 maximize: bool = False, foreach: Optional[bool] = None,
                 capturable: bool = False, differentiable: bool = False,
                 fused: Optional[bool] = None,
                 master_weights: bool = False, state_dtype: Any = None,
                 low_memory: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, eps_root=eps_root,
                                      weight_decay=weight_decay, maximize=maximize,
                                      foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused),
                         master_weights=master_weights, state_dtype=state_dtype)
        self.low_memory = _c.flag(low_memory, "low_memory")

    def _options(self, g, strict=True):
        b1, b2 = _c.betas(g["betas"], strict=strict)
        return _c.lamb_options(g["lr"], b1, b2, g["eps"], g["eps_root"], g["weight_decay"],
                               g["maximize"], names=("betas[0]", "betas[1]"), strict=strict)

    def _needed(self, opts):
        return self._slots

    def _update(self, params, grads, state, opts, fresh, coef, storage=None):
        out = _k.lamb(params, grads, state["exp_avg"], state["exp_avg_sq"], state["step"],
                      *opts, coef, storage, None if self.low_memory else self._scratch)
        return out[1] if storage is not None else None  # (ratios, found) with storage


class Adafactor(Optimizer):
    r"""Adafactor (Shazeer & Stern 2018) as ``torch.optim.Adafactor``: second moments
    factored into row and column means over the last two dimensions, a relative step
    size and update clipping.  In short (the full formula, with the factored moments,
    is :func:`gradkit.optim.functional.adafactor_`'s):

    .. math::
        \theta \leftarrow \theta(1 - \gamma\lambda)
        - \frac{\max(\epsilon_2, \mathrm{RMS}(\theta))\,\min(\gamma, t^{-1/2})}
               {\max(1, \mathrm{RMS}(U)/d)}\, U,\qquad
        U = \frac{g}{\sqrt{\max(\hat V, \epsilon_1^2)}}

    with :math:`\hat V` the factored (2 dims or more) or full (0-d, 1-d) running mean
    of :math:`g^2`, weighted :math:`t^{\tau}` (:math:`\tau` = ``beta2_decay``), the RMS
    of the parameter taken before the decay, t the parameter's own step count.  The
    norms torch takes (RMS of the parameter and of U, the row and column norms of g)
    are float64 sums over fixed tiles, rounded to the dtype as torch rounds them; the
    step's Python-float arithmetic is torch's.

    Parameters
    ----------
    params : list of ndarray, or list of dicts
    lr : float
        :math:`\gamma`, the cap of the relative step size and the decay's factor;
        default 1e-2.
    beta2_decay : float
        :math:`\tau \le 0`, default -0.8.
    eps : (float or None, float)
        :math:`(\epsilon_1, \epsilon_2)`, default ``(None, 1e-3)``; ``None`` is
        ``finfo(dtype).eps`` of the group's first parameter that has a gradient at that
        step, used for every parameter of the group (torch's rule).
    d : float
        Clipping threshold, >= 1 (default 1.0; ``inf`` never clips).
    weight_decay : float
        Decoupled, :math:`\theta(1-\gamma\lambda)`.
    foreach : torch's switch (see the module docstring)
    maximize : bool

    master_weights, state_dtype
        Mixed precision (docs/precision.md): float16/bfloat16 parameters are stepped
        in float32 arithmetic, each value rounded once when stored; their states are
        float32 unless ``state_dtype`` (float32, float16, bfloat16) says otherwise
        (the factored moments are a row and a column per matrix: small), and
        ``master_weights`` keeps a float32 master copy (``state["master"]``) that is
        stepped (its RMS, and ``eps=(None, ...)`` resolved as float32's eps) and
        rounded into the parameter.

    low_memory : bool
        False (default): the step keeps a scratch array of one value per parameter
        element between steps (float32 for 16-bit parameters; not state: not saved,
        same results), in which a matrix's U is computed once for its RMS and the
        update; the step then moves 28 bytes per float32 element instead of 24 and
        makes half the divisions and square roots, which bound it.  True: no scratch
        (Adafactor's own state is a row and a column per matrix), U computed twice.

    State per parameter (torch's keys and shapes): ``step``; for a parameter of shape
    ``(..., m, n)`` ``row_var`` ``(..., m, 1)`` and ``col_var`` ``(..., 1, n)``; for a
    0-d or 1-d one ``variance`` of its shape.  A parameter with no elements is left as
    it is (torch raises ZeroDivisionError on its RMS); its step is counted.
    """
    _slots = ("row_var", "col_var", "variance")
    _shapes = _f.ADAFACTOR_SHAPES

    def __init__(self, params: ParamsArg, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[Optional[float], float] = (None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, foreach: Optional[bool] = None,
                 maximize: bool = False,
                 master_weights: bool = False, state_dtype: Any = None,
                 low_memory: bool = False) -> None:
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize),
                         master_weights=master_weights, state_dtype=state_dtype)
        self.low_memory = _c.flag(low_memory, "low_memory")

    def _options(self, g, strict=True):
        e1, e2 = _c.pair(g["eps"], "eps")
        return _c.adafactor_options(g["lr"], g["beta2_decay"], e1, e2, g["d"],
                                    g["weight_decay"], g["maximize"],
                                    names=("eps[0]", "eps[1]"), strict=strict)

    def _needed(self, opts):
        return self._slots

    def _slot_dtype(self, slot, param):
        """float32 states for a 16-bit parameter unless state_dtype is set."""
        if slot != "master" and self.state_dtype is None and _c.is_half(param.dtype):
            return _c.FLOAT32
        return super()._slot_dtype(slot, param)

    def _run(self, entry, grads, opts, fresh, coef, check=False):
        # torch's eps1=None resolved over the whole group before _run splits it by
        # storage, by the dtype each parameter is stepped in (a master's: float32)
        dtypes = [_c.FLOAT32 if self.master_weights and _c.is_half(p.dtype) else p.dtype
                  for p in entry.params]
        opts = opts._replace(eps1=_c.adafactor_eps1(opts.eps1, dtypes, grads))
        return super()._run(entry, grads, opts, fresh, coef, check)

    def _update(self, params, grads, state, opts, fresh, coef, storage=None):
        return _f._adafactor(params, grads, state["row_var"], state["col_var"],
                             state["variance"], state["step"], opts, coef, storage,
                             None if self.low_memory else self._scratch)
