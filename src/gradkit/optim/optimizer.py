"""The optimizer base class: parameter groups, per-parameter state, state dict.

Layout of the state (per group, aligned with the group's params): one list per state
slot (``exp_avg``, ...) holding an array or None until the parameter's first step, and
an int64 array of step counts.  ``step(grads)`` re-reads every group's ``params`` (as
torch does: they may be replaced between steps, the state follows each parameter
object), checks every parameter, gradient and group option before the first parameter
is touched, creates missing state, then runs one multi-tensor kernel per group (per
dtype).  ``step(grads, max_norm=...)`` runs one norm pass over all gradients first
(gradkit.clip's) and has every kernel scale the gradients on the fly.

Option values are checked where they are set (the constructor, add_param_group,
load_state_dict), as torch.optim does; a step only converts them (a real number of any
sign), so an lr a scheduler drove a rounding error below 0 steps as in torch.  torch's
``foreach``/``fused``/``capturable``/``differentiable`` switches are group options too
(checked by ``_validation.torch_flags``; the kernels are always the fused ones).

Mixed precision (docs/precision.md): float16/bfloat16 parameters take gradients of their
dtype and keep their states in it (PyTorch's behaviour for bf16 parameters) unless
``master_weights=True`` (a float32 copy of each 16-bit parameter in the state, slot
``master``, float32 states) or ``state_dtype`` (the moment buffers' dtype) says
otherwise.  Each group's parameters are split by storage (`_plan`): every storage is one
kernel call (gradkit._ext.optim's ``storage=``), the others' gradients hidden as None.

Per-call cost: the checks of a step whose parameters, gradients and options are as in
the previous step are compiled tests (gradkit._ext.optim.fast_grads, same_values); any
change sends the step through the full Python checks, which raise, copy or re-sync.
"""
from __future__ import annotations

import copy
import math
import numbers
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

import numpy as np

from .. import _validation as _c
from .. import clip as _clip
from .._ext import optim as _k

if TYPE_CHECKING:
    from .._typing import FloatArray, ParamsArg

__all__ = ["Optimizer"]

# torch.optim's implementation switches (each optimizer takes those its torch twin takes)
_TORCH_FLAGS = ("foreach", "capturable", "differentiable", "fused")


class _Group:
    """The optimizer's private view of one param group: the parameter objects it last
    validated with the dtype and shape the kernels rely on, their state, and the state
    slots known to be complete."""
    __slots__ = ("params", "signature", "state", "ready", "frozen", "opts", "needed", "plan")

    def __init__(self, params, state):
        self.params = params
        self.signature = [(p.dtype, p.shape) for p in params]
        self.state = state
        self.ready = None
        self.plan = False  # not yet made (Optimizer._plan)
        # the group's option values (immutable objects) when `opts` were checked
        self.frozen = None
        self.opts = self.needed = None

    def matches(self, params):
        """Whether `params` are the same objects, with the same dtypes and shapes,
        still C-contiguous, aligned and writable, as when they were checked (not if a
        list entry was replaced, or ``a.shape``/``a.dtype``/``a.flags.writeable``
        reassigned in place)."""
        if len(params) != len(self.params):
            return False
        for p, q, (dt, shape) in zip(params, self.params, self.signature):
            if p is not q or p.dtype is not dt or p.shape != shape or not p.flags.carray:
                return False
        return True


def _group_params(group, gi):
    params = group.get("params") if isinstance(group, dict) else None
    if params is None:
        raise ValueError(f"param_groups[{gi}] has no 'params' entry")
    if isinstance(params, np.ndarray):
        return [params]
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"param_groups[{gi}]['params'] must be a list of arrays, got "
                        f"{type(params).__name__}")
    return list(params)


# dtype codes of the kernels' storage (gradkit.h's GK_DTYPE_*)


def _state_dtype(value):
    """None, or the dtype of the moment buffers: float32, float16 or bfloat16."""
    if value is None:
        return None
    try:
        dt = _c.as_dtype(value)
    except TypeError:
        raise TypeError(f"state_dtype must be None, float32, float16 or bfloat16, got "
                        f"{value!r}") from None
    if not (dt == _c.FLOAT32 or _c.is_half(dt)):
        raise TypeError(f"state_dtype must be None, float32, float16 or bfloat16, got "
                        f"{dt}")
    return dt


def _new_state(slots, n, scalars=()):
    state = {"step": np.zeros(n, np.int64)}
    for s in slots:
        state[s] = [None] * n
    for name, dtype, initial in scalars:  # per-parameter numbers, like the step count
        state[name] = np.full(n, initial, dtype)
    return state


class Optimizer:
    """Base class of gradkit's optimizers (torch.optim.Optimizer's interface, with the
    gradients passed to :meth:`step` instead of read from ``.grad``).

    Subclasses define ``_slots`` (state names), ``_options(group, strict)`` (the kernel
    options: range-checked when ``strict``, only converted at a step),
    ``_needed(opts)`` (slots the options require), ``_update(...)`` and may set
    ``_eager`` (state created with the group, as torch's Adagrad does),
    ``_counts_steps`` and ``_scalars``: per-parameter numbers kept next to the step
    count, ``(name, dtype, initial value)`` each (NAdam's ``mu_product``), one array per
    group that the kernel advances; state dicts hold each as a 0-d array.  A slot's
    array has its parameter's shape unless ``_shapes[slot]`` maps the parameter's shape
    to another, or to None when the parameter has no such slot (Adafactor's factored
    moments): creation, re-sync and load_state_dict all check against it.
    """
    _slots: tuple[str, ...] = ()
    _half = True  # takes 16-bit parameters, master_weights and state_dtype
    _shapes: Mapping[str, Callable[[tuple[int, ...]], Optional[tuple[int, ...]]]] = {}
    _scalars: tuple[tuple[str, Any, float], ...] = ()
    _eager = False
    _counts_steps = True
    # defined by the subclasses
    _options: Callable[[dict[str, Any], bool], tuple[Any, ...]]
    _needed: Callable[[tuple[Any, ...]], tuple[str, ...]]
    # (params, grads, state, opts, fresh, coef): one group's update, in place
    _update: Callable[..., None]

    def __init__(self, params: ParamsArg, defaults: Mapping[str, Any], *,
                 master_weights: bool = False, state_dtype: Any = None) -> None:
        self.master_weights = _c.flag(master_weights, "master_weights")
        self.state_dtype = _state_dtype(state_dtype)
        if not self._half and (self.master_weights or self.state_dtype is not None):
            raise ValueError(f"{type(self).__name__} takes no master_weights or state_dtype "
                             "(it has no 16-bit step)")
        # the per-parameter state entries: the subclass's slots, and the masters
        self._all_slots = self._slots + (("master",) if self.master_weights else ())
        self.defaults = dict(defaults)
        self._keys = tuple(self.defaults)  # the options _options reads
        self._flag_keys = tuple(k for k in _TORCH_FLAGS if k in self.defaults)
        self.param_groups: list[dict[str, Any]] = []
        self._params: list[FloatArray] = []  # every parameter, flattened in group order
        self._groups: list[_Group] = []  # one _Group per param group
        if isinstance(params, np.ndarray):
            raise TypeError("params must be a list of arrays or of dicts, got one array; "
                            "wrap it in a list")
        if isinstance(params, dict):
            params = [params]
        if isinstance(params, (str, bytes)) or not hasattr(params, "__iter__"):
            raise TypeError(f"params must be a list of arrays or of dicts, got "
                            f"{type(params).__name__}")
        params = list(params)
        if not params:
            raise ValueError("params is empty: the optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)  # type: ignore[arg-type]  # dicts by now

    # ---- groups ---------------------------------------------------------------------

    def _check_params(self, groups_params):
        """Every parameter of every group: a native float ndarray, C-contiguous,
        aligned, writable, appearing once, overlapping no other parameter."""
        seen, named, k = set(), [], 0
        for params in groups_params:
            for p in params:
                name = f"params[{k}]"
                _c.inplace_float(p, name, half=self._half)
                if id(p) in seen:
                    raise ValueError(f"{name} appears more than once among the "
                                     "optimizer's parameters")
                seen.add(id(p))
                named.append((name, p))
                k += 1
        _c.disjoint(named)

    def _checked_options(self, group, gi, strict=True):
        """The kernel options of `group`: every value range-checked where the user sets
        it (`strict`), only converted at a step."""
        try:
            opts = self._options(group, strict)
            if strict:
                _c.torch_flags(group, self._flag_keys, type(self).__name__)
            return opts
        except KeyError as e:
            raise ValueError(f"param_groups[{gi}] has no {e.args[0]!r} option") from None

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group ``{"params": [...], **options}``; missing options take the
        optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a parameter group needs a 'params' entry")
        self._sync()
        params = _group_params(param_group, len(self.param_groups))
        self._check_params([g.params for g in self._groups] + [params])
        group = {"params": params}
        for k, v in self.defaults.items():
            group[k] = param_group.get(k, v)
        for k, v in param_group.items():
            group.setdefault(k, v)
        opts = self._checked_options(group, len(self.param_groups))
        entry = _Group(list(params), _new_state(self._all_slots, len(params), self._scalars))
        if self._eager:
            self._create(entry, [True] * len(params), self._needed_all(opts), group)
        self.param_groups.append(group)
        self._groups.append(entry)
        self._params.extend(params)

    def _sync(self):
        """Pick up parameters replaced in ``param_groups[i]["params"]`` since the last
        step (torch re-reads that list at every step).  The state follows each
        parameter object; a new parameter starts without state.  Everything is checked
        before the optimizer's records change."""
        if len(self.param_groups) != len(self._groups):
            raise ValueError("param_groups was changed; use add_param_group to add a "
                             "group")
        fresh = [_group_params(g, gi) for gi, g in enumerate(self.param_groups)]
        if all(e.matches(p) for p, e in zip(fresh, self._groups)):
            return
        self._check_params(fresh)
        old = {}
        for e in self._groups:
            for i, p in enumerate(e.params):
                old[id(p)] = (e, i)
        states = []
        for params in fresh:
            st = _new_state(self._all_slots, len(params), self._scalars)
            for i, p in enumerate(params):
                if id(p) not in old:
                    continue
                e, j = old[id(p)]
                for s in self._all_slots:
                    a = e.state[s][j]
                    if a is not None and (a.dtype != self._slot_dtype(s, p) or
                                          a.shape != self._slot_shape(s, p.shape)):
                        raise ValueError(
                            f"a parameter of param_groups changed dtype or shape in place "
                            f"(now {p.dtype}, {p.shape}) after its state {s!r} was created "
                            f"({a.dtype}, {a.shape})")
                    st[s][i] = a
                st["step"][i] = e.state["step"][j]
                for name, _, _ in self._scalars:
                    st[name][i] = e.state[name][j]
            states.append(st)
        self._params = [p for params in fresh for p in params]
        for gi, (params, st) in enumerate(zip(fresh, states)):
            e = self._groups[gi] = _Group(params, st)
            if self._eager:
                group = self.param_groups[gi]
                self._create(e, [True] * len(params),
                             self._needed_all(self._checked_options(group, gi, False)), group)

    # ---- the update -----------------------------------------------------------------

    def _check_step(self, grads: Sequence[Optional[FloatArray]]
                    ) -> tuple[Sequence[Optional[FloatArray]], list[tuple[Any, ...]]]:
        """Run every check :meth:`step` runs on ``grads`` (parameters re-read from
        ``param_groups``, gradients, options) without updating anything; raises what
        ``step`` would raise.  Returns the checked gradients and options.  Used by
        :class:`gradkit.amp.LossScaler` to validate before it unscales in place."""
        checked = _k.fast_grads(self.param_groups, self._groups, self._params, grads)
        if checked is None:  # something changed or needs a copy: the full checks
            self._sync()
            checked = _c.grads_like(self._params, grads)
        opts = _k.known_options(self.param_groups, self._groups, self._keys)
        return checked, opts if opts is not None else self._group_options()

    def _group_options(self):
        """Every group's options, converted (not range-checked: see the module
        docstring); converted again only when an option value is not the object it was
        (a scheduler writing ``lr``) or is mutable (a list, an array).  Each group's
        record keeps them with the state slots they need."""
        keys, out = self._keys, []
        for gi, (group, entry) in enumerate(zip(self.param_groups, self._groups)):
            if entry.frozen is not None and _k.same_values(group, keys, entry.frozen):
                out.append(entry.opts)
                continue
            opts = self._checked_options(group, gi, False)
            entry.frozen, entry.opts = _k.frozen_values(group, keys), opts
            entry.needed = self._needed_all(opts)
            out.append(opts)
        return out

    def step(self, grads: Sequence[Optional[FloatArray]], *, max_norm: Optional[float] = None,
             norm_type: float = 2.0, error_if_nonfinite: bool = False,
             grad_scale: Optional[float] = None) -> Optional[float]:
        """One update with ``grads`` (a list aligned with the flattened parameters of
        every group, in order; a None entry skips its parameter, as torch does for a
        parameter whose ``.grad`` is None).

        The parameters are re-read from ``param_groups`` (see :meth:`_sync`); every
        parameter and gradient (type, dtype with byte order, shape) is checked, and every
        group's options converted to numbers (TypeError for a value that is not one),
        before any parameter is written.  Option values are used as they are, as
        torch.optim does at a step: their ranges were checked where they were set (an
        lr a scheduler drove a rounding error below 0 makes a step of that lr, not an
        error).  Gradients that are byte-swapped, non-contiguous or misaligned are
        copied once.

        With ``max_norm``, the step is ``clip_grad_norm_(grads, max_norm, norm_type,
        error_if_nonfinite)`` followed by ``step(grads)``, fused: one pass computes the
        total norm of all gradients (every group), then each kernel multiplies every
        gradient element by the coefficient ``min(1, max_norm / (total + 1e-6))`` as it
        reads it.  The parameters and states come out bitwise equal to the two calls;
        the gradients are only read (``clip_grad_norm_`` would scale them in place).
        ``max_norm`` must be > 0 (ValueError; TypeError for a non-number); a NaN total
        makes the coefficient NaN and an infinite one 0, as torch's clip does, unless
        ``error_if_nonfinite`` raises RuntimeError before anything is written.
        ``norm_type`` and ``error_if_nonfinite`` are used only with ``max_norm``.

        With ``grad_scale`` (a finite real), the step is taken with the gradients
        ``grad_scale * g``, multiplied as they are read (the arrays are only read): what
        ``g *= grad_scale`` followed by the step gives, to round-off, without that extra
        pass over the gradients.  A clip with ``max_norm`` is then of the scaled
        gradients: their norm is ``|grad_scale|`` times the norm of ``g`` (returned),
        and each element is multiplied by ``grad_scale`` times the clip coefficient.
        :class:`gradkit.distributed.DistributedOptimizer` uses it to fold the ``1/N``
        of the gradient average into the step.

        Returns
        -------
        float or None
            The total norm of the gradients before clipping (what ``clip_grad_norm_``
            returns) when ``max_norm`` is given, else None.
        """
        if max_norm is not None:
            max_norm, p, error_if_nonfinite = _clip._clip_args(
                max_norm, norm_type, error_if_nonfinite, positive=True)
        if grad_scale is not None:
            grad_scale = _c.finite_real(grad_scale, "grad_scale")
        # _check_step, its fast path inlined (a frame less in a ~1.5 us call)
        checked = _k.fast_grads(self.param_groups, self._groups, self._params, grads)
        opts = None if checked is None else _k.known_options(self.param_groups,
                                                             self._groups, self._keys)
        if opts is None:
            checked, opts = self._check_step(grads)
        grads = checked
        total = coef = None
        if max_norm is not None:
            total, coef = _clip._clip_coef([g for g in grads if g is not None], max_norm,
                                           p, error_if_nonfinite, scale=grad_scale)
        if grad_scale is not None:
            coef = grad_scale if coef is None else coef * grad_scale
        if coef == 1.0:
            coef = None  # no clipping or scaling: the plain kernels (g * 1 is g)
        groups = self._groups
        if len(groups) == 1:
            entry = groups[0]
            if entry.ready == entry.needed and entry.plan is None:  # the usual case
                self._update(entry.params, grads, entry.state, opts[0], None, coef)
            else:
                self._group_step(entry, grads, opts[0], self.param_groups[0], coef)
            return total
        k = 0
        for entry, o, group in zip(groups, opts, self.param_groups):
            n = len(entry.params)
            self._group_step(entry, grads[k:k + n], o, group, coef)
            k += n
        return total

    def _group_step(self, entry, grads, opts, group, coef=None):
        needed = entry.needed  # self._needed_all(opts), kept with the options
        fresh = None
        if entry.ready != needed:
            fresh = [g is not None for g in grads]
            fresh = self._create(entry, fresh, needed, group)
        return self._run(entry, grads, opts, fresh, coef)

    def _fused_scaled_step(self, grads, inv_scale):
        """The loss scaler's fused step (gradkit.amp.LossScaler.step): check ``grads``
        for inf/NaN and, if there is none, step with the gradients multiplied by
        `inv_scale` as they are read, in ONE kernel call whose gradient check runs
        before anything is written.  Returns whether an inf/NaN was found (the step
        then changed nothing: parameters, states and step counts as they were), or None
        when this step is not one kernel call (several groups or storages, float64
        parameters, or state still to be created, which a skipped step must not leave
        behind): the caller then takes the unfused route.  Raises what step raises,
        before anything is written."""
        checked, opts = self._check_step(grads)
        if len(self._groups) != 1:
            return None
        entry = self._groups[0]
        if entry.ready != entry.needed:
            return None
        if entry.plan is False:
            entry.plan = self._plan(entry)
        plan = entry.plan
        if plan is None and any(p.dtype != _c.FLOAT32 for p in entry.params):
            return None
        if plan is not None and (len(plan) != 1 or plan[0][0] is None):
            return None
        return self._run(entry, checked, opts[0], None, inv_scale, check=True)

    # ---- storage (mixed precision) ----------------------------------------------------

    def _needed_all(self, opts):
        """The slots the options need, and the masters."""
        needed = self._needed(opts)
        return needed + ("master",) if self.master_weights else needed

    def _slot_dtype(self, slot, param):
        """The dtype of `slot`'s array for `param`: the master float32; a moment buffer
        state_dtype if set (for float32 and 16-bit parameters), float32 for a 16-bit
        parameter with master weights, else the parameter's own."""
        dt = param.dtype
        if slot == "master":
            return _c.FLOAT32
        if dt == _c.FLOAT64:
            return dt
        if self.state_dtype is not None:
            return self.state_dtype
        return _c.FLOAT32 if self.master_weights and _c.is_half(dt) else dt

    def _storage(self, p):
        """The kernel storage of parameter p (param, grad, state dtype codes, master),
        or None for the float32/float64 kernels."""
        half = _c.is_half(p.dtype)
        master = self.master_weights and half
        if not half and (self.state_dtype is None or p.dtype == _c.FLOAT64):
            return None
        code = _c.dtype_code(p.dtype)
        return (0 if master else code, code, _c.dtype_code(self._slot_dtype("exp_avg", p)),
                master)

    def _plan(self, entry):
        """The storages of a group's parameters: None when every one is plain float32 /
        float64, else ``[(storage or None, mask), ...]`` (mask: the parameters of that
        storage)."""
        keys = [self._storage(p) for p in entry.params]
        if all(k is None for k in keys):
            return None
        return [(k, [x == k for x in keys]) for k in dict.fromkeys(keys)]

    def _run(self, entry, grads, opts, fresh, coef, check=False):
        """The group's update: one kernel call per storage (see _plan).  `check`: the
        kernels check the gradients for inf/NaN first (a single call only: the loss
        scaler's fused step); returns whether one was found (nothing then written)."""
        if entry.plan is False:
            entry.plan = self._plan(entry)
        plan = entry.plan
        if plan is None and check:  # float32: the staged kernel, in place, checks
            plan = [((0, 0, 0, False), None)]
        if plan is None:
            self._update(entry.params, grads, entry.state, opts, fresh, coef)
            return False
        found = False
        params = entry.params
        for key, mask in plan:
            gs = grads if mask is None or len(plan) == 1 else [
                g if m else None for g, m in zip(grads, mask)]
            if key is None:
                self._update(params, gs, entry.state, opts, fresh, coef)
                continue
            pd, gd, sd, master = key
            ps = params
            if master:
                ps = [a if m else p for a, m, p in zip(entry.state["master"],
                                                       mask or [True] * len(params), params)]
            storage = (pd, gd, sd, params if master else None, gd, check)
            found = bool(self._update(ps, gs, entry.state, opts, fresh, coef,
                                      storage=storage)) or found
        return found

    def _create(self, entry, want, needed, group):
        """Create the missing state of `needed` slots for the parameters flagged in
        `want`; returns, per parameter, whether its first slot was just created."""
        params, state = entry.params, entry.state
        created = [False] * len(params)
        complete = True
        for si, s in enumerate(needed):
            arrays = state[s]
            for i, p in enumerate(params):
                if arrays[i] is None and self._slot_shape(s, p.shape) is not None and \
                        (s != "master" or _c.is_half(p.dtype)):
                    if want[i]:
                        arrays[i] = self._new_state(s, p, group)
                        if si == 0:
                            created[i] = True
                    else:
                        complete = False
        if complete:
            entry.ready = needed
        return created

    def _new_state(self, slot, param, group):
        """A new state array: zeros (the master: the parameter's value, widened)."""
        if slot == "master":
            return param.astype(np.float32)
        return np.zeros(self._slot_shape(slot, param.shape), self._slot_dtype(slot, param))

    def _slot_shape(self, slot, shape):
        """The shape of `slot`'s array for a parameter of `shape` (None: it has none)."""
        f = self._shapes.get(slot)
        return tuple(shape) if f is None else f(tuple(shape))

    # ---- state dict -----------------------------------------------------------------

    def _scratch(self, dtype: Any, n: int) -> FloatArray:
        """Scratch for a kernel's step (LAMB's u, Adafactor's U, between their passes):
        at least n elements of dtype, kept (grown) between steps so that its pages are
        not faulted in at every step; not state (never saved)."""
        work = self.__dict__.setdefault("_work", {})
        w = work.get(dtype)
        if w is None or w.size < n:
            w = work[dtype] = np.empty(max(n, 1), dtype)
        return w

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {"step": int, slot: array, ...}}, "param_groups":
        [{options..., "params": [indices]}]}`` as torch, indices counting the
        parameters across groups in order.  Arrays are copies."""
        self._sync()
        state, groups, k = {}, [], 0
        for entry, group in zip(self._groups, self.param_groups):
            st = entry.state
            for i in range(len(entry.params)):
                item = {s: st[s][i].copy() for s in self._all_slots if st[s][i] is not None}
                if item and self._counts_steps:
                    item = {"step": int(st["step"][i]), **item}
                if item:
                    item.update((name, st[name][i].copy()) for name, _, _ in self._scalars)
                if item:
                    state[k + i] = item
            g = {key: copy.deepcopy(v) for key, v in group.items() if key != "params"}
            g["params"] = list(range(k, k + len(entry.params)))
            groups.append(g)
            k += len(entry.params)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore options and state saved by :meth:`state_dict` (arrays are copied,
        cast to each parameter's dtype).  The whole dict is checked first: a malformed
        one raises TypeError/ValueError naming the entry and changes nothing."""
        self._sync()
        saved_groups = _c.state_entry(state_dict, "param_groups")
        saved_state = _c.state_entry(state_dict, "state")
        if not isinstance(saved_groups, (list, tuple)):
            raise TypeError(f"state_dict['param_groups'] must be a list, got "
                            f"{type(saved_groups).__name__}")
        if not isinstance(saved_state, dict):
            raise TypeError(f"state_dict['state'] must be a dict, got "
                            f"{type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"the state dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer {len(self.param_groups)}")
        where = {}
        new_groups, new_states = [], []
        for gi, (saved, entry, group) in enumerate(
                zip(saved_groups, self._groups, self.param_groups)):
            label = f"state_dict['param_groups'][{gi}]"
            ids = _c.state_entry(saved, "params", label)
            if not isinstance(ids, (list, tuple)):
                raise TypeError(f"{label}['params'] must be a list of parameter indices")
            if len(ids) != len(entry.params):
                raise ValueError(f"{label} has {len(ids)} parameters, the optimizer's "
                                 f"group has {len(entry.params)}")
            for i, idx in enumerate(ids):
                if isinstance(idx, bool) or not isinstance(idx, numbers.Integral):
                    raise TypeError(f"{label}['params'][{i}] must be an int index, got "
                                    f"{idx!r}")
                if int(idx) in where:
                    raise ValueError(f"{label}['params'] repeats the index {idx}")
                where[int(idx)] = (gi, i)
            g = dict(group)  # options missing from the dict keep their current value
            g.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
            try:
                self._checked_options(g, gi)
            except (TypeError, ValueError) as e:
                raise type(e)(f"{label}: {e}") from None
            new_groups.append(g)
            new_states.append(_new_state(self._all_slots, len(entry.params), self._scalars))
        for idx, item in saved_state.items():
            label = f"state_dict['state'][{idx!r}]"
            if isinstance(idx, bool) or not isinstance(idx, numbers.Integral) or \
                    int(idx) not in where:
                raise ValueError(f"{label}: the state dict has state for parameter "
                                 f"{idx!r}, which is in none of its parameter groups")
            if not isinstance(item, dict):
                raise TypeError(f"{label} must be a dict, got {type(item).__name__}")
            gi, i = where[int(idx)]
            p = self._groups[gi].params[i]
            for key, val in item.items():
                if key == "step":
                    new_states[gi]["step"][i] = _saved_step(val, f"{label}['step']")
                elif key in self._all_slots:
                    if key == "master" and not _c.is_half(p.dtype):
                        raise ValueError(f"{label} has a master copy but its parameter is "
                                         f"{p.dtype} (only 16-bit parameters have one)")
                    new_states[gi][key][i] = _saved_array(val, f"{label}[{key!r}]", p,
                                                          self._slot_shape(key, p.shape),
                                                          self._slot_dtype(key, p))
                elif key in new_states[gi] and key != "step":  # one of self._scalars
                    new_states[gi][key][i] = _saved_number(val, f"{label}[{key!r}]")
                else:
                    raise ValueError(f"{label} has an unknown entry {key!r} (this "
                                     f"optimizer keeps {('step',) + tuple(self._all_slots)})")
        for gi, (g, st) in enumerate(zip(new_groups, new_states)):
            group = self.param_groups[gi]
            group.clear()
            group.update(g)
            entry = self._groups[gi]
            entry.state, entry.ready = st, None
            if self._eager:
                self._create(entry, [True] * len(entry.params),
                             self._needed_all(self._options(group, False)), group)

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)


def _saved_step(val, label):
    """A saved step count: an int >= 0 that the int64 counters hold (also a 0-d array
    or a torch step tensor, so torch state dicts load)."""
    step = val
    if hasattr(val, "item") and not isinstance(val, numbers.Number):
        try:
            step = val.item()
        except (TypeError, ValueError):
            raise ValueError(f"{label} must be one int, got {val!r}") from None
    if isinstance(step, numbers.Real) and not isinstance(step, (bool, numbers.Integral)):
        if not (math.isfinite(step) and step == int(step)):
            raise ValueError(f"{label} must be a whole number >= 0, got {val!r}")
        step = int(step)
    return _c.integer(step, label, 0, _c.INT64_MAX - 1)


def _saved_number(val, label):
    """A saved per-parameter number (NAdam's mu_product): a real number or a one-element
    array or tensor, as a float."""
    try:
        a = np.asarray(val)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{label} must be a number, got {type(val).__name__} ({e})") from None
    if a.dtype.kind not in "fiu" or a.size != 1:
        raise TypeError(f"{label} must be one real number, got {val!r}")
    return float(a.reshape(()))


def _saved_array(val, label, param, shape, dtype):
    """A saved state array: numeric, of `shape` (its parameter's, or what the slot
    declares for it; None: the parameter has no such state); copied and cast to the
    slot's `dtype` (native order, C-contiguous): a state dict saved with other state
    dtypes (float32 moments, bfloat16 ones) loads into any optimizer."""
    try:
        a = np.asarray(val)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{label} must be an array, got {type(val).__name__} ({e})") from None
    if a.dtype.kind not in "fiu" and not _c.is_half(a.dtype):
        raise TypeError(f"{label} must be a float array, got dtype {a.dtype}")
    if shape is None:
        raise ValueError(f"{label}: a parameter of shape {param.shape} has no such state")
    if a.shape != shape:
        raise ValueError(f"{label} has shape {a.shape} but its parameter of shape "
                         f"{param.shape} needs {shape}")
    return np.array(a, dtype=dtype, order="C", copy=True)
