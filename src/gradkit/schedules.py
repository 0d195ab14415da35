r"""Learning-rate schedules, compatible with ``torch.optim.lr_scheduler``.

Every scheduler drives the ``'lr'`` entry of each dict in ``optimizer.param_groups`` (a
gradkit optimizer, or anything with such a list; CyclicLR and OneCycleLR also drive
``'momentum'``, or ``betas[0]`` when the optimizer has ``betas``).  Constructor
arguments and defaults are PyTorch 2.13's, the constructor performs the initial step
(setting each group's ``'initial_lr'`` and the lr of step 0), and ``step()`` advances one
step.  The learning rates are PyTorch's own numbers: where PyTorch updates the lr
recursively from its current value ("chainable" form: StepLR, MultiStepLR, ConstantLR,
LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR) the same recursion is applied
in the same floating-point order, so the sequences agree with PyTorch to the last bits
and, like PyTorch's, several schedulers may be stacked on one optimizer (each scales the
current lr).  The closed forms in ``gradkit.reference.schedules`` give the same values
up to rounding.

``warmup(optimizer, steps, ...)`` builds a warmup phase chained into another schedule.

The deprecated ``step(epoch)`` is accepted where PyTorch 2.13 still accepts it (every
scheduler whose ``step`` is the base class's, and ``ReduceLROnPlateau.step(metrics,
epoch)``), with PyTorch's deprecation warning and semantics: ``last_epoch`` is set to
``epoch`` and the closed form gives the lrs where there is one.
"""
from __future__ import annotations

import math
import numbers
import types
import warnings
from bisect import bisect_right
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

from . import _validation as _v

if TYPE_CHECKING:
    from .optim.optimizer import Optimizer

    _LrLambda = Callable[[int], float]  # epoch -> factor of the initial lr

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
           "ExponentialLR", "SequentialLR", "PolynomialLR", "CosineAnnealingLR",
           "ReduceLROnPlateau", "CyclicLR", "CosineAnnealingWarmRestarts", "OneCycleLR",
           "ChainedScheduler", "Warmup", "warmup"]

# PyTorch's own text (torch.optim.lr_scheduler.EPOCH_DEPRECATION_WARNING)
EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)


def _epoch(epoch):
    """The deprecated ``step(epoch)`` argument: warned about as PyTorch does; an int
    >= 0 (None: the next step)."""
    if epoch is None:
        return None
    warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=3)
    return _v.integer(epoch, "epoch", 0)


def _check_optimizer(optimizer):
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) for g in groups):
        raise TypeError(f"{type(optimizer).__name__} is not an optimizer: it needs a "
                        "non-empty list of dicts `param_groups`")
    return optimizer


def _per_group(name, optimizer, value):
    """A scalar repeated per param group, or a list/tuple with one value per group."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} must have one value per param group ({n}), got {len(value)}")
        return [_v.real(x, name) for x in value]
    return [_v.real(value, name)] * n


def _lrs(optimizer):
    return [group["lr"] for group in optimizer.param_groups]


def _int(v, name, minimum):
    return _v.positive_int(v, name, minimum=minimum)


def _check_value(value, current, label):
    """A loaded state value must be of the kind the scheduler holds now: bool, a real
    number, str, a list of the same length (one entry per group or phase), or a dict."""
    if current is None:
        return value
    if isinstance(current, bool):
        ok = isinstance(value, (bool, np.bool_))
    elif isinstance(current, numbers.Real):  # an lr may be an int now, a float saved
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    elif isinstance(current, str):
        ok = isinstance(value, str)
    elif isinstance(current, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{label} must be a list, got {type(value).__name__}")
        if len(value) != len(current):
            raise ValueError(f"{label} has {len(value)} entries, this scheduler "
                             f"{len(current)}")
        for i, (v, c) in enumerate(zip(value, current)):
            _check_value(v, c, f"{label}[{i}]")
        return value
    elif isinstance(current, dict):
        if not isinstance(value, dict):
            raise TypeError(f"{label} must be a dict, got {type(value).__name__}")
        for k, c in current.items():
            if k not in value:
                raise ValueError(f"{label} has no {k!r} entry")
            _check_value(value[k], c, f"{label}[{k!r}]")
        return value
    else:
        return value
    if not ok:
        raise TypeError(f"{label} must be a {type(current).__name__}, got {value!r}")
    return value


def _check_state(current, state_dict, skip=()):
    """`state_dict` checked against the scheduler's own `current` state dict: a dict
    with every key of it (and no other), each value of the same kind.  Returns a copy
    (a plain dict); nothing is assigned here."""
    if not isinstance(state_dict, dict):
        raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
    for k in state_dict:
        if k not in current:
            raise ValueError(f"state_dict has an unknown entry {k!r} (this scheduler keeps "
                             f"{sorted(current)})")
    for k, c in current.items():
        if k not in state_dict:
            raise ValueError(f"state_dict has no {k!r} entry")
        if k not in skip:
            _check_value(state_dict[k], c, f"state_dict[{k!r}]")
    return dict(state_dict)


def _check_nested(current, state_dict, key, n, what):
    """_check_state with `key` a list of `n` entries checked by the caller: returns the
    checked copy and that list."""
    state = _check_state(current, state_dict, skip=(key,))
    value = state[key]
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise ValueError(f"state_dict[{key!r}] must be a list of {n} {what}")
    return state, value


class LRScheduler:
    """Base class (``torch.optim.lr_scheduler.LRScheduler``).

    Subclasses define ``get_lr()`` (the lrs of step ``last_epoch``, possibly from the
    current ones) and optionally ``_get_closed_form_lr()``.  ``last_epoch=-1`` starts a
    new schedule (each group's ``'initial_lr'`` is set from its ``'lr'`` unless already
    present); ``last_epoch >= 0`` resumes one and requires ``'initial_lr'``.
    """
    optimizer: Optimizer
    base_lrs: list[float]
    last_epoch: int

    _is_initial = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        last_epoch = _int(last_epoch, "last_epoch", -1)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in "
                                   f"param_groups[{i}] when resuming a scheduler with "
                                   "last_epoch >= 0")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The lrs set by the last step, one per param group."""
        return self._last_lr

    def step(self, epoch: Optional[int] = None) -> None:
        """Advance the schedule by one step and write the new lrs into the optimizer.

        ``epoch`` (deprecated, as in PyTorch, with its warning) jumps to that step:
        ``last_epoch = epoch`` and the lrs of the closed form where the scheduler has
        one, else of ``get_lr()`` at that step (LambdaLR, MultiplicativeLR, CyclicLR,
        OneCycleLR)."""
        epoch = _epoch(epoch)
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch):
        """Step to ``epoch`` (None: the next one).  A given epoch uses the closed form
        where there is one, as PyTorch does (SequentialLR restarts a schedule at 0)."""
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = _lrs(self.optimizer)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (the keys PyTorch's state_dict has)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`.  The whole dict is checked first (the same
        keys, each value of the same kind): a malformed one raises TypeError/ValueError
        naming the entry and changes nothing."""
        self._load(self._check_state(state_dict))

    def _check_state(self, state_dict):
        return _check_state(self.state_dict(), state_dict)

    def _load(self, state):
        self.__dict__.update(state)


class _LambdaScheduler(LRScheduler):
    """A scheduler driven by one function of the epoch per group (``lr_lambda``: one
    function, or a list of one per group).  ``state_dict`` stores the ``__dict__`` of
    callable objects, not plain functions or lambdas (as PyTorch)."""

    lr_lambdas: list[Callable[[int], float]]

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Union[_LrLambda, list[_LrLambda], tuple[_LrLambda, ...]],
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        n = len(optimizer.param_groups)
        fns = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(fns) != n:
            raise ValueError(f"Expected {n} lr_lambdas, but got {len(fns)}")
        for fn in fns:
            if not callable(fn):
                raise TypeError(f"lr_lambda must be callable, got {type(fn).__name__}")
        self.lr_lambdas = fns
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else fn.__dict__.copy()
                               for fn in self.lr_lambdas]
        return state

    def _check_state(self, state_dict):
        state, fns = _check_nested(self.state_dict(), state_dict, "lr_lambdas",
                                   len(self.lr_lambdas), "entries (None or a dict)")
        for i, d in enumerate(fns):
            if d is not None and not isinstance(d, dict):
                raise TypeError(f"state_dict['lr_lambdas'][{i}] must be None or a dict, "
                                f"got {type(d).__name__}")
        return state

    def _load(self, state):
        fns = state.pop("lr_lambdas")
        self.__dict__.update(state)
        for fn, d in zip(self.lr_lambdas, fns):
            if d is not None:
                fn.__dict__.update(d)


class LambdaLR(_LambdaScheduler):
    r"""``lr = initial_lr * lr_lambda(last_epoch)`` (one function, or one per group).

    ``state_dict`` stores the ``__dict__`` of callable objects, not plain functions or
    lambdas (as PyTorch)."""

    def get_lr(self) -> list[float]:
        return [base_lr * fn(self.last_epoch)
                for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaScheduler):
    r"""Multiply the current lr by ``lr_lambda(last_epoch)`` at every step (one
    function, or one per group): ``lr_t = lr_{t-1} * lr_lambda(t)``, so
    ``lr_t = initial_lr * prod_{k=1..t} lr_lambda(k)``
    (``torch.optim.lr_scheduler.MultiplicativeLR``; chainable: it scales whatever lr
    the group has).

    ``state_dict`` stores the ``__dict__`` of callable objects, not plain functions or
    lambdas (as PyTorch)."""

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return _lrs(self.optimizer)
        return [group["lr"] * fn(self.last_epoch)
                for fn, group in zip(self.lr_lambdas, self.optimizer.param_groups)]


class StepLR(LRScheduler):
    r"""Multiply the lr by ``gamma`` every ``step_size`` steps:
    ``lr = initial_lr * gamma ** (last_epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = _int(step_size, "step_size", 1)
        self.gamma = _v.real(gamma, "gamma")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _lrs(self.optimizer)
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size)
                for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    r"""Multiply the lr by ``gamma`` at each milestone (repeated milestones multiply
    repeatedly): ``lr = initial_lr * gamma ** #{m in milestones: m <= last_epoch}``."""

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones = Counter(_int(m, "milestones", 0) for m in milestones)
        self.gamma = _v.real(gamma, "gamma")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return _lrs(self.optimizer)
        return [group["lr"] * self.gamma ** self.milestones[self.last_epoch]
                for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        milestones = sorted(self.milestones.elements())
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)
                for base_lr in self.base_lrs]


class ConstantLR(LRScheduler):
    r"""``lr = initial_lr * factor`` for the first ``total_iters`` steps, then
    ``initial_lr``.  ``factor`` in (0, 1]."""

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1) -> None:
        factor = _v.real(factor, "factor")
        if not 0.0 < factor <= 1.0:
            raise ValueError(f"factor must be in (0, 1], got {factor}")
        self.factor = factor
        self.total_iters = _int(total_iters, "total_iters", 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [group["lr"] * self.factor for group in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return _lrs(self.optimizer)
        return [group["lr"] * (1.0 / self.factor) for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    r"""Linear ramp of the factor from ``start_factor`` to ``end_factor`` over
    ``total_iters`` steps:
    ``lr = initial_lr * (s + (e - s) * min(last_epoch, total_iters) / total_iters)``.
    ``start_factor`` in (0, 1], ``end_factor`` in [0, 1]."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5,
                 last_epoch: int = -1) -> None:
        start_factor = _v.real(start_factor, "start_factor")
        end_factor = _v.real(end_factor, "end_factor")
        if not 0.0 < start_factor <= 1.0:
            raise ValueError(f"start_factor must be in (0, 1], got {start_factor}")
        if not 0.0 <= end_factor <= 1.0:
            raise ValueError(f"end_factor must be in [0, 1], got {end_factor}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = _int(total_iters, "total_iters", 1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        d = self.end_factor - self.start_factor
        ratio = 1.0 + d / (self.total_iters * self.start_factor + (self.last_epoch - 1) * d)
        return [group["lr"] * ratio for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                           * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    r"""``lr = initial_lr * gamma ** last_epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _v.real(gamma, "gamma")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return _lrs(self.optimizer)
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class PolynomialLR(LRScheduler):
    r"""``lr = initial_lr * (1 - min(last_epoch, total_iters) / total_iters) ** power``."""

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1) -> None:
        self.total_iters = _int(total_iters, "total_iters", 1)
        self.power = _v.real(power, "power")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        decay = ((1.0 - self.last_epoch / self.total_iters)
                 / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [group["lr"] * decay for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters)
                ** self.power for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from ``initial_lr`` to ``eta_min`` over ``T_max`` steps (and
    back up over the next ``T_max``, periodically, as PyTorch):
    ``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * last_epoch / T_max)) / 2``,
    applied in PyTorch's recursive form."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self.T_max = _int(T_max, "T_max", 1)
        self.eta_min = _v.real(eta_min, "eta_min")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self._is_initial:
            return _lrs(self.optimizer)
        if self._step_count == 1 and self.last_epoch > 0:  # resumed: closed form
            return [self.eta_min + (base_lr - self.eta_min)
                    * (1 + math.cos(self.last_epoch * math.pi / self.T_max)) / 2
                    for base_lr in self.base_lrs]
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:  # at the bottom
            return [group["lr"] + (base_lr - self.eta_min)
                    * (1 - math.cos(math.pi / self.T_max)) / 2
                    for base_lr, group in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * self.last_epoch / self.T_max))
                / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
                * (group["lr"] - self.eta_min) + self.eta_min for group in groups]

    def _get_closed_form_lr(self):
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class _Composite(LRScheduler):
    """A scheduler made of others (``_schedulers``, all driving ``optimizer``): their
    state dicts are saved, checked and loaded inside its own."""

    _schedulers: list[LRScheduler]

    @staticmethod
    def _check_schedulers(who, optimizer, schedulers):
        """The schedulers as a list: at least one, each with an ``optimizer`` (the
        given one), none a ReduceLROnPlateau (its step() needs a metric)."""
        schedulers = list(schedulers)
        if len(schedulers) < 1:
            raise ValueError(f"{who} expects at least one scheduler")
        for i, s in enumerate(schedulers):
            if not hasattr(s, "optimizer"):
                raise TypeError(f"{who}: schedulers[{i}] has no `optimizer`")
            if isinstance(s, ReduceLROnPlateau):
                raise ValueError(f"{who} does not support ReduceLROnPlateau "
                                 f"(schedulers[{i}]): its step() needs a metric")
            if s.optimizer is not optimizer:
                raise ValueError(f"{who}: schedulers[{i}] drives a different optimizer")
        return schedulers

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def _check_state(self, state_dict):
        state, subs = _check_nested(self.state_dict(), state_dict, "_schedulers",
                                    len(self._schedulers), "state dicts")
        state["_schedulers"] = [s._check_state(d) for s, d in zip(self._schedulers, subs)]
        return state

    def _load(self, state):
        subs = state.pop("_schedulers")
        self.__dict__.update(state)
        for s, d in zip(self._schedulers, subs):
            s._load(d)


class SequentialLR(_Composite):
    r"""Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]`` (restarted
    at its step 0, closed form) until ``milestones[1]``, and so on.

    All schedulers must drive ``optimizer``; construct them first.  As PyTorch, the
    constructor resets the lrs to ``initial_lr``, rewinds every scheduler by one step and
    performs ``schedulers[0]``'s initial step again, so after ``t`` calls of ``step()``
    the lr is that of scheduler ``i = bisect_right(milestones, t)`` at its own step
    ``t - milestones[i-1]``.
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int], last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        milestones = [_int(m, "milestones", 0) for m in milestones]
        schedulers = self._check_schedulers("SequentialLR", optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR expects len(milestones) == len(schedulers) - 1, "
                             f"got {len(milestones)} milestones for {len(schedulers)} schedulers")
        self._schedulers = list(schedulers)
        self._milestones = milestones
        self.last_epoch = _int(last_epoch, "last_epoch", -1) + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._rewind(self)
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = schedulers[idx].get_last_lr()

    def _rewind(self, sched):
        """Undo the initial step of every (nested) scheduler: last_epoch -= 1."""
        if hasattr(sched, "_schedulers"):
            for s in sched._schedulers:
                self._rewind(s)
        elif hasattr(sched, "last_epoch"):
            sched.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]  # no epoch, as PyTorch's
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    r"""Step several chainable schedulers together: ``step()`` calls each one's
    ``step()`` in order, so their factors multiply
    (``torch.optim.lr_scheduler.ChainedScheduler``; e.g. ``ConstantLR`` and
    ``ExponentialLR``: ``lr = initial_lr * factor(t) * gamma ** t``).

    All schedulers must drive the same optimizer (``optimizer``, by default the first
    one's); construct them first (each performed its initial step then).  No
    ReduceLROnPlateau.  ``get_last_lr()`` is the lrs after the last scheduler stepped.
    """

    def __init__(self, schedulers: Sequence[LRScheduler],
                 optimizer: Optional[Optimizer] = None) -> None:
        schedulers = list(schedulers)
        if optimizer is None and schedulers:
            optimizer = getattr(schedulers[0], "optimizer", None)
        if optimizer is not None:
            _check_optimizer(optimizer)
        self._schedulers = self._check_schedulers("ChainedScheduler", optimizer,
                                                  schedulers)
        self.optimizer = optimizer  # type: ignore[assignment]  # checked above
        self._last_lr = _lrs(optimizer)

    def step(self) -> None:  # type: ignore[override]  # no epoch, as PyTorch's
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = _lrs(self.optimizer)


class ReduceLROnPlateau:
    r"""Multiply the lr by ``factor`` when a metric has stopped improving for more than
    ``patience`` steps (``torch.optim.lr_scheduler.ReduceLROnPlateau``).

    ``step(metric)``: the metric improves on the best so far when
    ``metric < best * (1 - threshold)`` (mode 'min', threshold_mode 'rel'),
    ``metric < best - threshold`` ('min', 'abs'), ``metric > best * (1 + threshold)``
    ('max', 'rel') or ``metric > best + threshold`` ('max', 'abs').  After more than
    ``patience`` non-improving steps, each group's lr becomes
    ``max(lr * factor, min_lr)`` (unchanged if that lowers it by ``eps`` or less), and
    the next ``cooldown`` steps count no bad steps.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: Union[float, Sequence[float]] = 0,
                 eps: float = 1e-8) -> None:
        factor = _v.real(factor, "factor")
        if not 0.0 <= factor < 1.0:
            raise ValueError(f"factor must be in [0, 1), got {factor}")
        self.factor = factor
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group("min_lr", optimizer, min_lr)
        else:
            self.default_min_lr = _v.real(min_lr, "min_lr")
            self.min_lrs = [self.default_min_lr] * len(optimizer.param_groups)
        self.patience = _int(patience, "patience", 0)
        self.cooldown = _int(cooldown, "cooldown", 0)
        self.eps = _v.real(eps, "eps")
        self.last_epoch = 0
        self._last_lr = _lrs(optimizer)
        self._init_is_better(mode, _v.real(threshold, "threshold"), threshold_mode)
        self._reset()

    def _init_is_better(self, mode, threshold, threshold_mode):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics: float, epoch: Optional[int] = None) -> None:
        """Record one value of the monitored metric and reduce the lr if due.
        ``epoch`` (deprecated, with PyTorch's warning) sets ``last_epoch``."""
        try:  # a number, a NumPy scalar, a 0-d array or a torch scalar tensor
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"metrics must be a number, got {metrics!r}") from None
        epoch = _epoch(epoch)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad steps in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _lrs(self.optimizer)

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"the optimizer has {len(groups)} param groups but "
                                   f"min_lr has {len(self.min_lrs)} values")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for i, group in enumerate(groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def get_last_lr(self) -> list[float]:
        return self._last_lr

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the whole dict is checked first (a malformed
        one raises TypeError/ValueError naming the entry and changes nothing)."""
        self._load(self._check_state(state_dict))

    def _check_state(self, state_dict):
        state = _check_state(self.state_dict(), state_dict)
        _v.choice(state["mode"], "state_dict['mode']", ("min", "max"))
        _v.choice(state["threshold_mode"], "state_dict['threshold_mode']", ("rel", "abs"))
        return state

    def _load(self, state):
        self.__dict__.update(state)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)


def _momentum_uses_betas(optimizer, who):
    """Whether momentum cycling drives betas[0] (Adam-like) or 'momentum' (SGD-like):
    from ``optimizer.defaults`` when present (as PyTorch), else the first group."""
    keys = getattr(optimizer, "defaults", None)
    if not isinstance(keys, dict):
        keys = optimizer.param_groups[0]
    if "momentum" not in keys and "betas" not in keys:
        raise ValueError(f"{who}: the optimizer must have 'momentum' or 'betas' "
                         "with cycle_momentum=True")
    return "betas" in keys


def _set_momentum(group, use_betas, value):
    if use_betas:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


class CyclicLR(LRScheduler):
    r"""Cyclical learning rate (Smith 2017), stepped every batch.

    With ``c = floor(1 + t / (up + down))``, ``x = 1 + t / (up + down) - c`` and
    ``h = x / r`` if ``x <= r`` else ``(x - 1) / (r - 1)`` where ``r = up / (up + down)``:
    ``lr = base_lr + (max_lr - base_lr) * h * scale``, scale = ``scale_fn(c)``
    (scale_mode 'cycle') or ``scale_fn(t)`` ('iterations').  Modes: 'triangular'
    (scale 1), 'triangular2' (``1 / 2**(c - 1)``), 'exp_range' (``gamma**t``), or a
    custom ``scale_fn`` with ``scale_mode``.  With ``cycle_momentum`` the momentum (or
    betas[0]) moves the other way: ``max_momentum - (max_momentum - base_momentum) * h *
    scale``.  The constructor sets the lr to ``base_lr`` (which becomes initial_lr).
    """

    def __init__(self, optimizer: Optimizer, base_lr: Union[float, Sequence[float]],
                 max_lr: Union[float, Sequence[float]], step_size_up: int = 2000,
                 step_size_down: Optional[int] = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Optional[Callable[[float], float]] = None,
                 scale_mode: str = "cycle", cycle_momentum: bool = True,
                 base_momentum: Union[float, Sequence[float]] = 0.8,
                 max_momentum: Union[float, Sequence[float]] = 0.9,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        base_lrs = _per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _per_group("max_lr", optimizer, max_lr)
        up = float(_int(step_size_up, "step_size_up", 1))
        down = up if step_size_down is None else float(_int(step_size_down, "step_size_down", 1))
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(f"mode must be 'triangular', 'triangular2' or 'exp_range' "
                             f"when scale_fn is None, got {mode!r}")
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError("scale_fn must be callable")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        self.mode = mode
        self.gamma = _v.real(gamma, "gamma")
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            self.use_beta1 = _momentum_uses_betas(optimizer, "CyclicLR")
            self.base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                for m_max, m_base, group in zip(self.max_momentums, self.base_momentums,
                                                optimizer.param_groups):
                    _set_momentum(group, self.use_beta1, m_max)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self):
        # the built-in modes fix their scale_mode, as in PyTorch
        if self._scale_fn_custom is None:
            self.scale_mode = "iterations" if self.mode == "exp_range" else "cycle"

    def scale_fn(self, x: float) -> float:
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        arg = cycle if self.scale_mode == "cycle" else self.last_epoch
        lrs = [base_lr + (max_lr - base_lr) * scale_factor * self.scale_fn(arg)
               for base_lr, max_lr in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, m_base, m_max in zip(self.optimizer.param_groups,
                                            self.base_momentums, self.max_momentums):
                m = m_max - (m_max - m_base) * scale_factor * self.scale_fn(arg)
                _set_momentum(group, self.use_beta1, m)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        fn = state.pop("_scale_fn_custom")
        state["_scale_fn_custom"] = (None if fn is None or isinstance(fn, types.FunctionType)
                                     else fn.__dict__.copy())
        return state

    def _check_state(self, state_dict):
        state = _check_state(self.state_dict(), state_dict, skip=("_scale_fn_custom",))
        fn = state["_scale_fn_custom"]
        if fn is not None and not isinstance(fn, dict):
            raise TypeError(f"state_dict['_scale_fn_custom'] must be None or a dict, got "
                            f"{type(fn).__name__}")
        _v.choice(state["mode"], "state_dict['mode']",
                  ("triangular", "triangular2", "exp_range"))
        _v.choice(state["scale_mode"], "state_dict['scale_mode']", ("cycle", "iterations"))
        return state

    def _load(self, state):
        fn = state.pop("_scale_fn_custom", None)
        custom = self._scale_fn_custom
        super()._load(state)
        self._scale_fn_custom = custom
        if fn is not None and custom is not None:
            custom.__dict__.update(fn)
        self._init_scale_fn()


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""SGDR (Loshchilov & Hutter 2017): cosine annealing restarted every ``T_i``
    steps, the period growing as ``T_{i+1} = T_i * T_mult`` from ``T_0``:
    ``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``.

    ``step(epoch)`` with a (fractional) epoch sets the position directly, as PyTorch's.
    """

    T_cur: float  # fractional when step(epoch) is given one

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1,
                 eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_0 = _int(T_0, "T_0", 1)
        self.T_i = self.T_0
        self.T_mult = _int(T_mult, "T_mult", 1)
        self.eta_min = _v.real(eta_min, "eta_min")
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base_lr in self.base_lrs]

    def step(self, epoch: Optional[float] = None) -> None:
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            epoch = _v.real(epoch, "epoch")
            if epoch < 0:
                raise ValueError(f"epoch must be >= 0, got {epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = _lrs(self.optimizer)


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy (Smith & Topin 2018), stepped every batch for ``total_steps``
    (or ``epochs * steps_per_epoch``) steps.

    Phases (anneal 'cos': ``end + (start - end) / 2 * (1 + cos(pi * pct))``, or
    'linear'): from ``initial_lr = max_lr / div_factor`` up to ``max_lr`` until step
    ``pct_start * total_steps - 1``, then down to ``min_lr = initial_lr /
    final_div_factor`` at step ``total_steps - 1``.  ``three_phase``: up, back down to
    initial_lr at ``2 * pct_start * total_steps - 2``, then to min_lr.  With
    ``cycle_momentum`` the momentum (or betas[0]) goes the opposite way between
    ``max_momentum`` and ``base_momentum``.  Stepping past ``total_steps`` raises
    ValueError.
    """

    def __init__(self, optimizer: Optimizer, max_lr: Union[float, Sequence[float]],
                 total_steps: Optional[int] = None, epochs: Optional[int] = None,
                 steps_per_epoch: Optional[int] = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: Union[float, Sequence[float]] = 0.85,
                 max_momentum: Union[float, Sequence[float]] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if total_steps is not None:
            self.total_steps = _int(total_steps, "total_steps", 1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_int(epochs, "epochs", 1)
                                * _int(steps_per_epoch, "steps_per_epoch", 1))
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        pct_start = _v.real(pct_start, "pct_start")
        if not 0.0 <= pct_start <= 1.0:
            raise ValueError(f"pct_start must be in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self._anneal_func_type = anneal_strategy
        up_end = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                {"end_step": up_end, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * self.total_steps) - 2,
                 "start_lr": "max_lr", "end_lr": "initial_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "initial_lr",
                 "end_lr": "min_lr", "start_momentum": "max_momentum",
                 "end_momentum": "max_momentum"},
            ]
        else:
            self._schedule_phases = [
                {"end_step": up_end, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "max_lr",
                 "end_lr": "min_lr", "start_momentum": "base_momentum",
                 "end_momentum": "max_momentum"},
            ]
        div_factor = _v.real(div_factor, "div_factor")
        final_div_factor = _v.real(final_div_factor, "final_div_factor")
        if div_factor <= 0 or final_div_factor <= 0:
            raise ValueError("div_factor and final_div_factor must be > 0")
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, m in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = m / div_factor
                group["max_lr"] = m
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            self.use_beta1 = _momentum_uses_betas(optimizer, "OneCycleLR")
            max_m = _per_group("max_momentum", optimizer, max_momentum)
            base_m = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m_max, m_base, group in zip(max_m, base_m, optimizer.param_groups):
                    _set_momentum(group, self.use_beta1, m_max)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"Tried to step {step_num} times. The specified number of "
                             f"total steps is {self.total_steps}")
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == last:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        m = self._anneal(group[phase["start_momentum"]],
                                         group[phase["end_momentum"]], pct)
                    break
                start_step = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                _set_momentum(group, self.use_beta1, m)
        return lrs


class Warmup(LRScheduler):
    r"""Warmup factor on ``initial_lr`` for the first ``steps`` steps, then 1.

    At step ``t`` (after ``t`` calls of ``step()``), with ``s = start_factor``
    (default ``1 / steps``):

    * 'linear':      ``lr = initial_lr * (s + (1 - s) * t / (steps - 1))`` for
      ``t < steps`` (the default gives ``initial_lr * (t + 1) / steps``: 1/steps, 2/steps,
      ..., 1);
    * 'exponential': ``lr = initial_lr * s ** (1 - t / (steps - 1))`` for ``t < steps``
      (geometric from ``s`` to 1);
    * ``lr = initial_lr`` for ``t >= steps`` (and for every t when steps == 1).

    The factor is applied to ``initial_lr`` (closed form), so this does not compose by
    multiplication with other schedulers; use :func:`warmup` with ``after=``.
    """

    def __init__(self, optimizer: Optimizer, steps: int, kind: str = "linear",
                 start_factor: Optional[float] = None, last_epoch: int = -1) -> None:
        self.steps = _int(steps, "steps", 1)
        if kind not in ("linear", "exponential"):
            raise ValueError(f"kind must be 'linear' or 'exponential', got {kind!r}")
        self.kind = kind
        s = 1.0 / self.steps if start_factor is None else _v.real(start_factor, "start_factor")
        if not 0.0 < s <= 1.0:
            raise ValueError(f"start_factor must be in (0, 1], got {s}")
        self.start_factor = s
        super().__init__(optimizer, last_epoch)

    def factor(self, t: int) -> float:
        """The warmup factor at step t."""
        if t >= self.steps - 1:
            return 1.0
        frac = t / (self.steps - 1)
        if self.kind == "linear":
            return self.start_factor + (1.0 - self.start_factor) * frac
        return self.start_factor ** (1.0 - frac)

    def get_lr(self) -> list[float]:
        f = self.factor(self.last_epoch)
        return [base_lr * f for base_lr in self.base_lrs]

    _get_closed_form_lr = get_lr


def warmup(optimizer: Optimizer, steps: int, kind: str = "linear",
           after: Optional[LRScheduler] = None, *,
           start_factor: Optional[float] = None) -> LRScheduler:
    r"""A warmup of ``steps`` steps, then the schedule ``after`` (if given).

    Build ``after`` on the same optimizer first, then call ``warmup``.  After ``t`` calls
    of ``step()``:

    * ``t < steps``: ``lr = initial_lr * factor(t)`` as :class:`Warmup` (linear by
      default ``initial_lr * (t + 1) / steps``; 'exponential' geometric from
      ``start_factor`` to 1), with ``initial_lr`` the group's lr when the first
      scheduler was built (``after``'s, e.g. ``max_lr / div_factor`` for OneCycleLR);
    * ``t >= steps``: the lr ``after`` gives at its own step ``t - steps`` (``after``
      starts at its step 0 exactly when the warmup ends);
    * without ``after`` the lr stays at ``initial_lr`` from ``t = steps - 1`` on.

    Returns
    -------
    Warmup, or SequentialLR([Warmup, after], milestones=[steps]) when ``after`` is given.
    ``after`` may not be a ReduceLROnPlateau (step it yourself after the warmup).
    """
    if after is not None:  # checked before Warmup writes initial_lr and lr
        if isinstance(after, ReduceLROnPlateau):
            raise ValueError("warmup: after may not be a ReduceLROnPlateau (its step() "
                             "needs a metric; step it yourself after the warmup)")
        if not isinstance(after, LRScheduler):
            raise TypeError(f"warmup: after must be a learning-rate scheduler (e.g. "
                            f"CosineAnnealingLR) or None, got {type(after).__name__}")
        if after.optimizer is not optimizer:
            raise ValueError("warmup: after drives a different optimizer than the one "
                             "given")
    w = Warmup(optimizer, steps, kind, start_factor)
    if after is None:
        return w
    return SequentialLR(optimizer, [w, after], milestones=[w.steps])
