"""torch.optim's optimizers stepping torch parameters in place with gradkit's fused
kernels.

Each class subclasses its ``torch.optim`` namesake and overrides only ``step``: the
constructor (signature, defaults, checks), ``param_groups``, the per-parameter state
(same keys, same tensors: ``step`` a 0-d float tensor, moments shaped like the
parameter), ``state_dict`` / ``load_state_dict``, ``zero_grad`` and every
``torch.optim.lr_scheduler`` are PyTorch's.  So a state dict moves between a gradkit
optimizer and the torch one in both directions, and a training script changes only the
class it builds.

``step`` hands the parameters, gradients and state tensors to the kernels of
:mod:`gradkit.optim.functional` as NumPy views (no copy), all of a group at once.
PyTorch's own ``step`` runs instead, unchanged, when the kernels do not take the case:
a parameter that is not a contiguous CPU float32/float64 tensor, a sparse gradient or
one of another dtype, ``differentiable=True`` or ``capturable=True``.  ``foreach`` and
``fused`` are accepted and have no effect here: gradkit's step is always one fused
pass per parameter.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch

from .. import _validation
from ..optim import functional as _f

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LARS", "NAdam", "RAdam", "Adamax",
           "Adadelta", "Adafactor", "Lion", "LAMB", "to_torch_state_dict"]

_FLOATS = (torch.float32, torch.float64)


def _np(t: torch.Tensor) -> Any:
    return t.detach().numpy()


def _takes(p: torch.Tensor) -> bool:
    g = p.grad
    return (g is None or (not g.is_sparse and g.dtype == p.dtype
                          and g.device.type == "cpu")) and \
        p.device.type == "cpu" and p.dtype in _FLOATS and p.is_contiguous()


class _Fused:
    """The step shared by every optimizer: PyTorch's when any group is not ours, else
    ``_group_step`` on each group's parameters that have a gradient."""

    param_groups: list[dict[str, Any]]
    state: Any

    def _ours(self) -> bool:
        return all(not g.get("differentiable", False) and not g.get("capturable", False)
                   and all(_takes(p) for p in g["params"]) for g in self.param_groups)

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """One update of every parameter that has a ``.grad`` (see the module notes)."""
        if not self._ours():
            return super().step(closure)  # type: ignore[misc]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self._group_step(group, params)
        return loss

    def _steps(self, params: list[torch.Tensor]) -> list[int]:
        """Each parameter's step count after its increment (torch keeps it as a 0-d
        float tensor in the state; it is incremented there too)."""
        out = []
        for p in params:
            st = self.state[p]
            st["step"] += 1
            out.append(int(st["step"]))
        return out

    def _zeros(self, p: torch.Tensor, *names: str) -> None:
        st = self.state[p]
        if "step" not in st:
            st["step"] = torch.tensor(0.0, dtype=torch.float32)
        for n in names:
            if n not in st:
                st[n] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _group_step(self, group: dict[str, Any], params: list[torch.Tensor]) -> None:
        raise NotImplementedError


class SGD(_Fused, torch.optim.SGD):
    """``torch.optim.SGD`` with :func:`gradkit.optim.functional.sgd_`."""

    def _group_step(self, group, params):
        momentum = float(group["momentum"])
        bufs = [self.state[p].get("momentum_buffer") for p in params]
        new = _f.sgd_([_np(p) for p in params], [_np(p.grad) for p in params],
                      [None if b is None else _np(b) for b in bufs] if momentum else None,
                      lr=float(group["lr"]), momentum=momentum,
                      dampening=float(group["dampening"]),
                      weight_decay=float(group["weight_decay"]),
                      nesterov=bool(group["nesterov"]), maximize=bool(group["maximize"]))
        if momentum:
            for p, b, n in zip(params, bufs, new):
                if b is None:  # a first step made the buffer (the gradient's copy)
                    self.state[p]["momentum_buffer"] = torch.from_numpy(n)


class Adam(_Fused, torch.optim.Adam):
    """``torch.optim.Adam`` with :func:`gradkit.optim.functional.adam_`."""

    def _group_step(self, group, params):
        amsgrad = bool(group["amsgrad"])
        slots = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
        for p in params:
            self._zeros(p, *slots)
        st = [self.state[p] for p in params]
        b1, b2 = group["betas"]
        decoupled = bool(group.get("decoupled_weight_decay", False)) or \
            isinstance(self, torch.optim.AdamW)
        _f.adam_([_np(p) for p in params], [_np(p.grad) for p in params],
                 [_np(s["exp_avg"]) for s in st], [_np(s["exp_avg_sq"]) for s in st],
                 self._steps(params), lr=float(group["lr"]), beta1=float(b1),
                 beta2=float(b2), eps=float(group["eps"]),
                 weight_decay=float(group["weight_decay"]), amsgrad=amsgrad,
                 max_exp_avg_sq=[_np(s["max_exp_avg_sq"]) for s in st] if amsgrad else None,
                 decoupled=decoupled, maximize=bool(group["maximize"]))


class AdamW(Adam, torch.optim.AdamW):
    """``torch.optim.AdamW`` with :func:`gradkit.optim.functional.adam_` (decoupled)."""


class RMSprop(_Fused, torch.optim.RMSprop):
    """``torch.optim.RMSprop`` with :func:`gradkit.optim.functional.rmsprop_`."""

    def _group_step(self, group, params):
        momentum, centered = float(group["momentum"]), bool(group["centered"])
        slots = ("square_avg",) + (("momentum_buffer",) if momentum > 0 else ()) + \
            (("grad_avg",) if centered else ())
        for p in params:
            self._zeros(p, *slots)
        self._steps(params)  # torch counts steps here too (its state has "step")
        st = [self.state[p] for p in params]
        _f.rmsprop_([_np(p) for p in params], [_np(p.grad) for p in params],
                    [_np(s["square_avg"]) for s in st],
                    grad_avg=[_np(s["grad_avg"]) for s in st] if centered else None,
                    momentum_buffer=([_np(s["momentum_buffer"]) for s in st]
                                     if momentum > 0 else None),
                    lr=float(group["lr"]), alpha=float(group["alpha"]),
                    eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                    momentum=momentum, centered=centered, maximize=bool(group["maximize"]))


class Adagrad(_Fused, torch.optim.Adagrad):
    """``torch.optim.Adagrad`` with :func:`gradkit.optim.functional.adagrad_` (the
    accumulators are made by torch's constructor, from ``initial_accumulator_value``)."""

    def _group_step(self, group, params):
        st = [self.state[p] for p in params]
        _f.adagrad_([_np(p) for p in params], [_np(p.grad) for p in params],
                    [_np(s["sum"]) for s in st], self._steps(params),
                    lr=float(group["lr"]), lr_decay=float(group["lr_decay"]),
                    weight_decay=float(group["weight_decay"]), eps=float(group["eps"]),
                    maximize=bool(group["maximize"]))


class LARS(_Fused, torch.optim.Optimizer):
    """:class:`gradkit.optim.LARS` (optax.lars's formulas; PyTorch has no LARS) as a
    ``torch.optim.Optimizer`` over torch parameters, with
    :func:`gradkit.optim.functional.lars_`.  State per parameter: ``trace`` (zeros at
    first).  CPU float32/float64 parameters only (there is no torch step to fall back
    on): others raise TypeError at ``step``."""

    def __init__(self, params: Any, lr: float, momentum: float = 0.9,
                 weight_decay: float = 0.0, trust_coefficient: float = 1e-3,
                 eps: float = 0.0, *, nesterov: bool = False) -> None:
        _validation.lars_options(lr, momentum, weight_decay, trust_coefficient, eps,
                                 nesterov)  # the checks gradkit.optim.LARS makes
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient, eps=eps,
                                      nesterov=nesterov))

    def _ours(self) -> bool:
        for g in self.param_groups:
            for p in g["params"]:
                if not _takes(p):
                    raise TypeError(f"gradkit.torch.optim.{type(self).__name__} steps "
                                    "contiguous CPU float32/float64 parameters, got "
                                    f"{p.dtype} on {p.device}")
        return True

    def _group_step(self, group, params):
        for p in params:
            if "trace" not in self.state[p]:
                self.state[p]["trace"] = torch.zeros_like(
                    p, memory_format=torch.preserve_format)
        _f.lars_([_np(p) for p in params], [_np(p.grad) for p in params],
                 [_np(self.state[p]["trace"]) for p in params], lr=float(group["lr"]),
                 momentum=float(group["momentum"]),
                 weight_decay=float(group["weight_decay"]),
                 trust_coefficient=float(group["trust_coefficient"]),
                 eps=float(group["eps"]), nesterov=bool(group["nesterov"]))



class NAdam(_Fused, torch.optim.NAdam):
    """``torch.optim.NAdam`` with :func:`gradkit.optim.functional.nadam_`.  torch's own
    step runs when a ``mu_product`` is not float32 (torch's default dtype set to float64,
    or a state dict loaded into float64 parameters, which torch casts), so the
    trajectory stays torch's."""

    def _ours(self) -> bool:
        return super()._ours() and torch.get_default_dtype() == torch.float32 and all(
            st["mu_product"].dtype == torch.float32
            for st in self.state.values() if "mu_product" in st)

    def _group_step(self, group, params):
        for p in params:
            self._zeros(p, "exp_avg", "exp_avg_sq")
            if "mu_product" not in self.state[p]:
                self.state[p]["mu_product"] = torch.ones((), dtype=torch.float32)
        st = [self.state[p] for p in params]
        b1, b2 = group["betas"]
        _f.nadam_([_np(p) for p in params], [_np(p.grad) for p in params],
                  [_np(s["exp_avg"]) for s in st], [_np(s["exp_avg_sq"]) for s in st],
                  [_np(s["mu_product"]) for s in st], self._steps(params),
                  lr=float(group["lr"]), beta1=float(b1), beta2=float(b2),
                  eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                  momentum_decay=float(group["momentum_decay"]),
                  decoupled=bool(group["decoupled_weight_decay"]),
                  maximize=bool(group["maximize"]))


class RAdam(_Fused, torch.optim.RAdam):
    """``torch.optim.RAdam`` with :func:`gradkit.optim.functional.radam_`."""

    def _group_step(self, group, params):
        for p in params:
            self._zeros(p, "exp_avg", "exp_avg_sq")
        st = [self.state[p] for p in params]
        b1, b2 = group["betas"]
        _f.radam_([_np(p) for p in params], [_np(p.grad) for p in params],
                  [_np(s["exp_avg"]) for s in st], [_np(s["exp_avg_sq"]) for s in st],
                  self._steps(params), lr=float(group["lr"]), beta1=float(b1),
                  beta2=float(b2), eps=float(group["eps"]),
                  weight_decay=float(group["weight_decay"]),
                  decoupled=bool(group["decoupled_weight_decay"]),
                  maximize=bool(group["maximize"]))


class Adamax(_Fused, torch.optim.Adamax):
    """``torch.optim.Adamax`` with :func:`gradkit.optim.functional.adamax_`."""

    def _group_step(self, group, params):
        for p in params:
            self._zeros(p, "exp_avg", "exp_inf")
        st = [self.state[p] for p in params]
        b1, b2 = group["betas"]
        _f.adamax_([_np(p) for p in params], [_np(p.grad) for p in params],
                   [_np(s["exp_avg"]) for s in st], [_np(s["exp_inf"]) for s in st],
                   self._steps(params), lr=float(group["lr"]), beta1=float(b1),
                   beta2=float(b2), eps=float(group["eps"]),
                   weight_decay=float(group["weight_decay"]),
                   maximize=bool(group["maximize"]))


class Adadelta(_Fused, torch.optim.Adadelta):
    """``torch.optim.Adadelta`` with :func:`gradkit.optim.functional.adadelta_`."""

    def _group_step(self, group, params):
        for p in params:
            self._zeros(p, "square_avg", "acc_delta")
        self._steps(params)  # counted in torch's state, unused by the formula
        st = [self.state[p] for p in params]
        _f.adadelta_([_np(p) for p in params], [_np(p.grad) for p in params],
                     [_np(s["square_avg"]) for s in st], [_np(s["acc_delta"]) for s in st],
                     lr=float(group["lr"]), rho=float(group["rho"]), eps=float(group["eps"]),
                     weight_decay=float(group["weight_decay"]),
                     maximize=bool(group["maximize"]))


class Adafactor(_Fused, torch.optim.Adafactor):
    """``torch.optim.Adafactor`` with :func:`gradkit.optim.functional.adafactor_` (state
    made as torch makes it: ``row_var`` (..., m, 1) and ``col_var`` (..., 1, n) for a
    parameter of 2 dims or more, ``variance`` for the others)."""

    def _group_step(self, group, params):
        for p in params:
            st = self.state[p]
            if "step" not in st:
                st["step"] = torch.tensor(0.0, dtype=torch.float32)
                if p.dim() > 1:
                    st["row_var"] = p.new_zeros(p.shape[:-1] + (1,))
                    st["col_var"] = p.new_zeros(p.shape[:-2] + (1, p.shape[-1]))
                else:
                    st["variance"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        st = [self.state[p] for p in params]
        eps1, eps2 = group["eps"]

        def each(key):
            return [_np(s[key]) if key in s else None for s in st]
        _f.adafactor_([_np(p) for p in params], [_np(p.grad) for p in params],
                      each("row_var"), each("col_var"), each("variance"), self._steps(params),
                      lr=float(group["lr"]), beta2_decay=float(group["beta2_decay"]),
                      eps1=None if eps1 is None else float(eps1), eps2=float(eps2),
                      d=float(group["d"]), weight_decay=float(group["weight_decay"]),
                      maximize=bool(group["maximize"]))


class Lion(_Fused, torch.optim.Optimizer):
    """:class:`gradkit.optim.Lion` (optax.lion's formulas; PyTorch has no Lion) as a
    ``torch.optim.Optimizer`` over torch parameters, with
    :func:`gradkit.optim.functional.lion_`.  State per parameter: ``exp_avg`` (zeros at
    first).  CPU float32/float64 parameters only, as :class:`LARS`."""

    def __init__(self, params: Any, lr: float, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 1e-3, *, maximize: bool = False) -> None:
        b1, b2 = _validation.pair(betas)
        _validation.lion_options(lr, b1, b2, weight_decay, maximize,
                                 names=("betas[0]", "betas[1]"))
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      maximize=maximize))

    _ours = LARS._ours  # no torch step to fall back on

    def _group_step(self, group, params):
        for p in params:
            if "exp_avg" not in self.state[p]:
                self.state[p]["exp_avg"] = torch.zeros_like(
                    p, memory_format=torch.preserve_format)
        b1, b2 = group["betas"]
        _f.lion_([_np(p) for p in params], [_np(p.grad) for p in params],
                 [_np(self.state[p]["exp_avg"]) for p in params], lr=float(group["lr"]),
                 beta1=float(b1), beta2=float(b2),
                 weight_decay=float(group["weight_decay"]),
                 maximize=bool(group["maximize"]))


class LAMB(_Fused, torch.optim.Optimizer):
    """:class:`gradkit.optim.LAMB` (optax.lamb's formulas; PyTorch has no LAMB) as a
    ``torch.optim.Optimizer`` over torch parameters, with
    :func:`gradkit.optim.functional.lamb_`.  State per parameter: ``step`` (a 0-d float
    tensor, as torch's optimizers keep it), ``exp_avg``, ``exp_avg_sq``.  CPU
    float32/float64 parameters only, as :class:`LARS`."""

    def __init__(self, params: Any, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, eps_root: float = 0.0, weight_decay: float = 0.0, *,
                 maximize: bool = False) -> None:
        b1, b2 = _validation.betas(betas)
        _validation.lamb_options(lr, b1, b2, eps, eps_root, weight_decay, maximize)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, eps_root=eps_root,
                                      weight_decay=weight_decay, maximize=maximize))

    _ours = LARS._ours  # no torch step to fall back on

    def _group_step(self, group, params):
        for p in params:
            self._zeros(p, "exp_avg", "exp_avg_sq")
        st = [self.state[p] for p in params]
        b1, b2 = group["betas"]
        _f.lamb_([_np(p) for p in params], [_np(p.grad) for p in params],
                 [_np(s["exp_avg"]) for s in st], [_np(s["exp_avg_sq"]) for s in st],
                 self._steps(params), lr=float(group["lr"]), beta1=float(b1),
                 beta2=float(b2), eps=float(group["eps"]), eps_root=float(group["eps_root"]),
                 weight_decay=float(group["weight_decay"]),
                 maximize=bool(group["maximize"]))

def to_torch_state_dict(state_dict: Any) -> dict[str, Any]:
    """The state dict of a :mod:`gradkit.optim` (NumPy) optimizer in the form
    ``torch.optim``'s ``load_state_dict`` takes: every state array as a tensor (a
    copy), ``step`` as a 0-d float32 tensor (torch's form), the groups' options as they
    are (torch fills in the options it has and the dict lacks, e.g. ``foreach``).

    The other direction needs nothing: gradkit's ``load_state_dict`` reads torch's
    state dicts as they are.

    >>> opt = gradkit.optim.Adam(arrays, lr=1e-3)            # doctest: +SKIP
    >>> torch_opt.load_state_dict(to_torch_state_dict(opt.state_dict()))  # doctest: +SKIP
    """
    import copy

    import numpy as np
    if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
        raise TypeError("state_dict must be the dict an optimizer's state_dict() returns "
                        "(keys 'state' and 'param_groups')")
    state = {}
    for idx, item in state_dict["state"].items():
        new = {}
        for key, val in item.items():
            if key == "step":
                new[key] = torch.tensor(float(val), dtype=torch.float32)
            elif isinstance(val, np.ndarray):
                new[key] = torch.from_numpy(np.array(val, copy=True))
            else:
                new[key] = copy.deepcopy(val)
        state[idx] = new
    return {"state": state, "param_groups": copy.deepcopy(state_dict["param_groups"])}
