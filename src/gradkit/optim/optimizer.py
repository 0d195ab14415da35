"""The optimizer base class: parameter groups, per-parameter state, state dict.

Layout of the state (per group, aligned with the group's params): one list per state
slot (``exp_avg``, ...) holding an array or None until the parameter's first step, and
an int64 array of step counts.  ``step(grads)`` checks every gradient and every group's
options before the first parameter is touched, creates missing state, then runs one
multi-tensor kernel per group (per dtype).
"""
import copy
import numbers

import numpy as np

from .._ext import optim as _k
from . import _checks as _c

__all__ = ["Optimizer"]


class Optimizer:
    """Base class of gradkit's optimizers (torch.optim.Optimizer's interface, with the
    gradients passed to :meth:`step` instead of read from ``.grad``).

    Subclasses define ``_slots`` (state names), ``_options(group)`` (checked kernel
    options), ``_needed(opts)`` (slots the options require), ``_update(...)`` and may
    set ``_eager`` (state created with the group, as torch's Adagrad does) and
    ``_counts_steps``.
    """
    _slots: tuple[str, ...] = ()
    _eager = False
    _counts_steps = True

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self._params = []      # every parameter, flattened in group order
        self._groups = []      # per group: [params list, state dict, ready slots]
        if isinstance(params, np.ndarray):
            raise TypeError("params must be a list of arrays or of dicts, got one array; "
                            "wrap it in a list")
        if isinstance(params, dict):
            params = [params]
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    # ---- groups ---------------------------------------------------------------------

    def add_param_group(self, param_group):
        """Add a group ``{"params": [...], **options}``; missing options take the
        optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a parameter group needs a 'params' entry")
        params = param_group["params"]
        params = [params] if isinstance(params, np.ndarray) else list(params)
        base = len(self._params)
        seen = {id(p) for p in self._params}
        for i, p in enumerate(params):
            _c.param_array(p, f"params[{base + i}]")
            if id(p) in seen:
                raise ValueError(f"params[{base + i}] appears more than once among the "
                                 "optimizer's parameters")
            seen.add(id(p))
        group = {"params": params}
        for k, v in self.defaults.items():
            group[k] = param_group.get(k, v)
        for k, v in param_group.items():
            group.setdefault(k, v)
        opts = self._options(group)
        state = {"step": np.zeros(len(params), np.int64)}
        for s in self._slots:
            state[s] = [None] * len(params)
        entry = [params, state, None]
        if self._eager:
            self._create(entry, [True] * len(params), self._needed(opts), group)
        self.param_groups.append(group)
        self._groups.append(entry)
        self._params.extend(params)

    # ---- the update -----------------------------------------------------------------

    def step(self, grads):
        """One update with ``grads`` (a list aligned with the flattened parameters of
        every group, in order; a None entry skips its parameter, as torch does for a
        parameter whose ``.grad`` is None).

        Every gradient (type, dtype, shape) and every group's options are checked
        before any parameter is written."""
        groups = self._groups
        grads = _k.check_grads(self._params, grads)
        opts = [self._options(g) for g in self.param_groups]
        for entry, group in zip(groups, self.param_groups):
            if group["params"] is not entry[0] or len(entry[0]) != len(entry[1]["step"]):
                raise ValueError("a parameter group's 'params' list was changed; use "
                                 "add_param_group to add parameters")
        if len(groups) == 1:
            self._group_step(groups[0], grads, opts[0], self.param_groups[0])
            return None
        k = 0
        for entry, o, group in zip(groups, opts, self.param_groups):
            n = len(entry[0])
            self._group_step(entry, grads[k:k + n], o, group)
            k += n
        return None

    def _group_step(self, entry, grads, opts, group):
        params, state, ready = entry
        needed = self._needed(opts)
        fresh = None
        if ready != needed:
            fresh = [g is not None for g in grads]
            fresh = self._create(entry, fresh, needed, group)
        self._update(params, grads, state, opts, fresh)

    def _create(self, entry, want, needed, group):
        """Create the missing state of `needed` slots for the parameters flagged in
        `want`; returns, per parameter, whether its first slot was just created."""
        params, state, _ = entry
        created = [False] * len(params)
        complete = True
        for si, s in enumerate(needed):
            arrays = state[s]
            for i, p in enumerate(params):
                if arrays[i] is None:
                    if want[i]:
                        arrays[i] = self._new_state(s, p, group)
                        if si == 0:
                            created[i] = True
                    else:
                        complete = False
        if complete:
            entry[2] = needed
        return created

    def _new_state(self, slot, param, group):
        return np.zeros_like(param)

    # ---- state dict -----------------------------------------------------------------

    def state_dict(self):
        """``{"state": {index: {"step": int, slot: array, ...}}, "param_groups":
        [{options..., "params": [indices]}]}`` as torch, indices counting the
        parameters across groups in order.  Arrays are copies."""
        state, groups, k = {}, [], 0
        for (params, st, _), group in zip(self._groups, self.param_groups):
            for i in range(len(params)):
                entry = {s: st[s][i].copy() for s in self._slots if st[s][i] is not None}
                if entry and self._counts_steps:
                    entry = {"step": int(st["step"][i]), **entry}
                if entry:
                    state[k + i] = entry
            g = {key: copy.deepcopy(v) for key, v in group.items() if key != "params"}
            g["params"] = list(range(k, k + len(params)))
            groups.append(g)
            k += len(params)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore options and state saved by :meth:`state_dict` (arrays are copied,
        cast to each parameter's dtype).  Everything is checked first: a bad dict
        changes nothing."""
        if not isinstance(state_dict, dict) or "state" not in state_dict or \
                "param_groups" not in state_dict:
            raise TypeError("state_dict must be a dict with 'state' and 'param_groups'")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"the state dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer {len(self.param_groups)}")
        where = {}
        new_groups, new_states = [], []
        for gi, (saved, (params, _, _), group) in enumerate(
                zip(saved_groups, self._groups, self.param_groups)):
            ids = list(saved["params"])
            if len(ids) != len(params):
                raise ValueError(f"parameter group {gi} of the state dict has {len(ids)} "
                                 f"parameters, the optimizer's has {len(params)}")
            for i, idx in enumerate(ids):
                where[idx] = (gi, i)
            g = dict(group)  # options missing from the dict keep their current value
            g.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
            self._options(g)
            new_groups.append(g)
            st = {"step": np.zeros(len(params), np.int64)}
            for s in self._slots:
                st[s] = [None] * len(params)
            new_states.append(st)
        for idx, entry in dict(state_dict["state"]).items():
            if idx not in where:
                raise ValueError(f"the state dict has state for parameter {idx!r}, which "
                                 "is in none of its parameter groups")
            gi, i = where[idx]
            p = self._groups[gi][0][i]
            for key, val in entry.items():
                if key == "step":
                    step = val.item() if hasattr(val, "item") else val  # 0-d arrays,
                    # and torch's step tensors: a torch state dict loads as well
                    if isinstance(step, bool) or not isinstance(step, numbers.Real) or \
                            step < 0 or step != int(step):
                        raise ValueError(f"state[{idx}]['step'] must be an int >= 0, "
                                         f"got {val!r}")
                    new_states[gi]["step"][i] = int(step)
                elif key in self._slots:
                    a = np.asarray(val)
                    if a.shape != p.shape:
                        raise ValueError(f"state[{idx}][{key!r}] has shape {a.shape} but "
                                         f"its parameter has shape {p.shape}")
                    new_states[gi][key][i] = np.array(a, dtype=p.dtype, order="C",
                                                      copy=True)
                else:
                    raise ValueError(f"state[{idx}] has an unknown entry {key!r} (this "
                                     f"optimizer keeps {('step',) + tuple(self._slots)})")
        for gi, (g, st) in enumerate(zip(new_groups, new_states)):
            group = self.param_groups[gi]
            group.clear()
            group.update(g)
            self._groups[gi][1] = st
            self._groups[gi][2] = None
            if self._eager:
                self._create(self._groups[gi], [True] * len(g["params"]),
                             self._needed(self._options(group)), group)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)
