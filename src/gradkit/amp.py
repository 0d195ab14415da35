r"""Dynamic loss scaling for mixed-precision training (``torch.amp.GradScaler`` rules).

The loss is multiplied by a scale ``S`` before the backward pass so that small
gradients survive in low precision; before the optimizer step the gradients are
multiplied by ``1/S`` and checked for inf/NaN in one fused pass.  A step whose
gradients hold inf/NaN is skipped, and :meth:`LossScaler.update` adapts ``S``:

.. math::
    S \leftarrow \begin{cases}
        S \cdot \text{backoff\_factor}, & \text{inf/NaN found this step (tracker} := 0)\\
        S \cdot \text{growth\_factor}, & \text{growth\_interval consecutive clean
                                          steps (tracker} := 0)\\
        S & \text{otherwise (tracker} += 1)
    \end{cases}

exactly as ``torch._amp_update_scale_``: ``S`` is held in float32 (a growth that would
overflow float32 to inf is not applied), ``1/S`` is computed in double and rounded to
float32, and float32 gradients are multiplied by it in float32.

One training step::

    scaler = LossScaler()
    loss, grads = forward_backward(params, scale=scaler.get_scale())  # d(S*loss)
    scaler.unscale_(grads)            # optional: to clip the true gradients first
    clip_grad_norm_(grads, 1.0)
    scaler.step(optimizer, grads)     # unscales if not done, skips on inf/NaN
    scaler.update()
"""
from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Mapping, Optional, TypeVar, overload

import numpy as np

from . import _validation as _v
from . import clip as _clip
from ._ext import clip as _k

if TYPE_CHECKING:
    from ._typing import Arrays, Stepper

__all__ = ["LossScaler"]

_Loss = TypeVar("_Loss", bound=Any)

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


class LossScaler:
    """Dynamic loss scaler with ``torch.amp.GradScaler``'s defaults and rules.

    Parameters
    ----------
    init_scale : float
        Initial scale, > 0 (default ``2**16``).
    growth_factor : float
        > 1: the scale is multiplied by it after ``growth_interval`` consecutive steps
        without inf/NaN.
    backoff_factor : float
        In (0, 1): the scale is multiplied by it after a step with inf/NaN.
    growth_interval : int
        >= 1.
    enabled : bool
        False makes every method a pass-through: ``scale`` returns the loss unchanged,
        ``unscale_`` does nothing and returns False, ``step`` always steps, ``update``
        does nothing, ``get_scale`` returns 1.0 and ``state_dict`` is ``{}``.

    Notes
    -----
    The per-step stage follows GradScaler: ``unscale_`` twice, or after ``step``,
    before ``update`` raises RuntimeError, as does ``step`` twice; ``update`` resets the
    stage.  Stages are kept per optimizer when ``unscale_`` is given ``optimizer=``; a
    plain ``unscale_(grads)`` is picked up by the next ``step`` of any optimizer.
    Unlike GradScaler, ``update`` without any ``unscale_``/``step`` since the last one
    raises RuntimeError (GradScaler raises AssertionError), and bad constructor
    arguments raise ValueError.
    """

    def __init__(self, init_scale: float = 2.**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 enabled: bool = True) -> None:
        init_scale = _v.real(init_scale, "init_scale")
        if not (0.0 < init_scale < math.inf):
            raise ValueError(f"init_scale must be a finite number > 0, got {init_scale}")
        growth_factor = _v.real(growth_factor, "growth_factor")
        if not growth_factor > 1.0:
            raise ValueError(f"growth_factor must be > 1, got {growth_factor}")
        backoff_factor = _v.real(backoff_factor, "backoff_factor")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"backoff_factor must be in (0, 1), got {backoff_factor}")
        self._growth_interval = _v.positive_int(growth_interval, "growth_interval")
        self._enabled = _v.flag(enabled, "enabled")
        self._scale = np.float32(init_scale)
        self._growth_factor = growth_factor
        self._backoff_factor = backoff_factor
        self._growth_tracker = 0
        self._states: dict[Any, list[Any]] = {}  # optimizer key -> [stage, found_inf]

    # ---- scaling ----------------------------------------------------------------
    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        """The current scale as a float (1.0 when disabled)."""
        return float(self._scale) if self._enabled else 1.0

    # a float for a number; the loss's own type for an array, NumPy scalar, list or tuple
    @overload
    def scale(self, loss: float) -> float: ...
    @overload
    def scale(self, loss: _Loss) -> _Loss: ...
    def scale(self, loss: Any) -> Any:
        """``loss * scale``: a float for a Python number, an array of the loss's dtype
        for an array (or NumPy scalar), a list/tuple for a list/tuple of those."""
        if not self._enabled:
            return loss
        if isinstance(loss, (np.ndarray, np.generic)):
            dt = np.asarray(loss).dtype
            if dt.kind != "f":
                raise TypeError(f"loss must be a float array, got dtype {dt}")
            return loss * dt.type(self._scale)
        if isinstance(loss, (list, tuple)):
            return type(loss)(self.scale(x) for x in loss)
        if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
            raise TypeError(f"loss must be a number or a float array, got {type(loss).__name__}")
        return float(loss) * float(self._scale)

    def _state(self, key):
        return self._states.setdefault(key, [_READY, None])

    def _inv_scale(self):
        """1/scale in double, rounded to float32 (torch's reciprocal)."""
        scale = float(self._scale)  # 0 after ~150 backoffs: torch's reciprocal gives inf
        with np.errstate(over="ignore"):  # 1/S beyond float32's range is inf, as in torch
            return float(np.float32(1.0 / scale if scale != 0.0 else math.inf))

    def unscale_(self, grads: Arrays, optimizer: Optional[Stepper] = None) -> bool:
        """Multiply the gradients by ``1/scale`` in place and check them for inf/NaN, in
        one fused pass over the whole list.

        Returns
        -------
        bool
            True if some element was inf or NaN (every element is multiplied anyway).
        """
        if not self._enabled:
            return False
        st = self._state(None if optimizer is None else id(optimizer))
        if st[0] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer "
                               "since the last update().")
        if st[0] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        arrays, write_back = _v.float_array_list(grads, "grads", writable=True)
        found = _k.unscale_check_(arrays, self._inv_scale())
        for original, copy in write_back:
            original[...] = copy
        st[0], st[1] = _UNSCALED, bool(found)
        return bool(found)

    def step(self, optimizer: Stepper, grads: Arrays, **kwargs: Any) -> bool:
        """``optimizer.step(grads, **kwargs)`` unless the gradients hold inf/NaN.

        ``kwargs`` go to the optimizer's step, as GradScaler.step forwards its extra
        arguments: ``scaler.step(opt, grads, max_norm=1.0)`` unscales, then runs
        gradkit's step with clipping fused (the norm of the unscaled gradients).

        Unscales first unless ``unscale_`` was already called this step.  With a
        gradkit optimizer the gradients are checked against its parameters (its
        ``_check_step``) before they are unscaled, so a bad list raises with nothing
        divided and the stage unchanged.  If the optimizer's step raises after the
        unscale, the stage stays "unscaled" (the gradients were divided), not
        "stepped": a corrected retry does not unscale twice.

        Fused: with a gradkit optimizer whose step is one kernel call (one param group
        of one storage -- float32, or 16-bit with or without master weights -- whose
        state exists, i.e. from its second step) and no extra arguments, the check, the
        unscale and the update are ONE kernel call: it reads the gradients once to check
        them (2 bytes per element for float16/bfloat16, 4 for float32) and, only if
        every element is finite, steps, reading them again and multiplying by
        ``1/scale`` as it reads.  Gradients read twice, never written, and a skipped
        step writes nothing (parameters, states and step counts stay as they were);
        the unfused route (``unscale_`` in place, then the step) reads them twice and
        writes them once.  The gradients are then left as given (scaled), where
        GradScaler leaves them unscaled; float32 results are bitwise those of the
        unfused route, 16-bit ones keep ``g/scale`` in float32 (not rounded to the
        gradient's dtype first).  16-bit gradients otherwise (several groups or
        storages): checked, then the step with ``grad_scale=1/scale``.  bfloat16
        needs no scaling: ``LossScaler(enabled=False)`` steps directly.

        With a :class:`gradkit.distributed.DistributedOptimizer` the inf/NaN flag is
        the verdict of all its ranks (any rank's inf/NaN skips the step on every rank,
        and :meth:`update` then backs off the scale on every rank alike).

        Returns
        -------
        bool
            True if the optimizer stepped, False if the step was skipped.
        """
        if not callable(getattr(optimizer, "step", None)):
            raise TypeError(f"optimizer must have a step(grads) method, got "
                            f"{type(optimizer).__name__}")
        if not self._enabled:
            optimizer.step(grads, **kwargs)
            return True
        key = id(optimizer)
        st = self._states.get(key)
        pending = self._states.get(None)
        adopt = st is None and pending is not None and pending[0] == _UNSCALED
        # adopt implies pending is not None
        stage = (pending if adopt else st or [_READY, None])[0]  # type: ignore[index]
        if stage == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        check = getattr(optimizer, "_check_step", None)
        if callable(check):
            check(grads)  # raises before anything is unscaled or recorded
            if kwargs.get("max_norm") is not None:  # so do the fused clip's arguments
                _clip._clip_args(kwargs["max_norm"], kwargs.get("norm_type", 2.0),
                                 kwargs.get("error_if_nonfinite", False), positive=True)
        if adopt:
            st = self._states[key] = self._states.pop(None)
        elif st is None:
            st = self._state(key)
        agree = getattr(optimizer, "_reduce_found_inf", None)
        fused = getattr(optimizer, "_fused_scaled_step", None)
        if st[0] == _READY and not kwargs and not callable(agree) and callable(fused):
            found = fused(grads, self._inv_scale())
            if found is not None:  # one kernel call: checked, then unscaled and stepped
                st[0], st[1] = _STEPPED, bool(found)
                return not found
        if st[0] == _READY and _has_half(grads):
            # 16-bit gradients, unfused: checked (one read), then unscaled as the step
            # reads them (gradkit's in-place unscale_ takes float32/float64); the stage
            # moves on only once the step ran
            found = _nonfinite(grads)
            if callable(agree):
                found = bool(agree(found))
            if not found:
                scale = self._inv_scale() * float(kwargs.get("grad_scale") or 1.0)
                optimizer.step(grads, **dict(kwargs, grad_scale=scale))
            st[0], st[1] = _STEPPED, found
            return not found
        if st[0] == _READY:
            self.unscale_(grads, optimizer)
        if callable(agree):  # a DistributedOptimizer: every rank skips, or steps, together
            st[1] = bool(agree(st[1]))
        if st[1]:
            st[0] = _STEPPED
            return False
        optimizer.step(grads, **kwargs)
        st[0] = _STEPPED
        return True

    def update(self, new_scale: Optional[float] = None) -> None:
        """Adapt the scale from this step's inf/NaN checks (or set it to
        ``new_scale``), and reset the per-step stage."""
        if not self._enabled:
            return
        if new_scale is not None:
            new_scale = _v.real(new_scale, "new_scale")
            if not (0.0 < new_scale < math.inf):
                raise ValueError(f"new_scale must be a finite number > 0, got {new_scale}")
            self._scale = np.float32(new_scale)
        else:
            found = [st[1] for st in self._states.values() if st[1] is not None]
            if not found:
                raise RuntimeError("No inf checks were recorded prior to update(): call "
                                   "unscale_() or step() first.")
            if any(found):
                self._scale = np.float32(float(self._scale) * self._backoff_factor)
                self._growth_tracker = 0
            else:
                successful = self._growth_tracker + 1
                if successful == self._growth_interval:
                    with np.errstate(over="ignore"):  # overflow to inf: not applied
                        grown = np.float32(float(self._scale) * self._growth_factor)
                    if np.isfinite(grown):
                        self._scale = grown
                    self._growth_tracker = 0
                else:
                    self._growth_tracker = successful
        self._states = {}

    # ---- checkpointing ----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"scale", "growth_factor", "backoff_factor", "growth_interval",
        "_growth_tracker"}`` as GradScaler's; ``{}`` when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict` (also accepts a GradScaler's).  The whole
        dict is checked first: a missing or invalid entry raises ValueError/TypeError
        naming it, with nothing changed."""
        if not self._enabled:
            return
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict, got {type(state_dict).__name__}")
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was "
                               "saved from a disabled LossScaler.")
        get = _v.state_entry
        try:
            other = LossScaler(get(state_dict, "scale"), get(state_dict, "growth_factor"),
                               get(state_dict, "backoff_factor"),
                               get(state_dict, "growth_interval"))
        except (TypeError, ValueError) as e:
            raise type(e)(f"state_dict: {e}") from None
        tracker = _v.integer(get(state_dict, "_growth_tracker"),
                             "state_dict['_growth_tracker']", 0, other._growth_interval - 1)
        self._scale = other._scale
        self._growth_factor = other._growth_factor
        self._backoff_factor = other._backoff_factor
        self._growth_interval = other._growth_interval
        self._growth_tracker = tracker


def _has_half(grads):
    """Whether the gradient list holds a float16/bfloat16 array."""
    items = [grads] if isinstance(grads, np.ndarray) else grads
    return any(isinstance(g, np.ndarray) and _v.is_half(g.dtype) for g in items)


def _nonfinite(grads):
    """Whether an element of the (16-bit) gradients is inf or NaN: the unfused check."""
    items = [grads] if isinstance(grads, np.ndarray) else grads
    return any(g is not None and not np.isfinite(g).all() for g in items)
