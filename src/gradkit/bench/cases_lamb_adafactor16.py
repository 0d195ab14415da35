"""Benchmark cases of LAMB and Adafactor in 16-bit storage, 16M parameters, two layouts
each, beside their limit (a probe moving their streams, pass by pass) and gradkit's own
float32 step on the same shape (the "x unfused" column, for information):

* pure bf16: parameters and gradients in bfloat16, LAMB's moments too (Adafactor's
  factored moments, a row and a column per matrix, are float32 and too small to count);
* master weights (``master_weights=True``): bf16 parameters and gradients, a float32
  master copy and float32 moments, the rounded bf16 parameter written in the same pass.

LAMB steps one vector and makes two passes, as the float32 step with ``low_memory=True``
(cases_optim): the two norms (reading the parameter -- the master --, the gradient and
both moments), then the update (the same reads; parameter, master and moments written).  Minimal bytes per
parameter (the update pass): pure 14 (read p, g, m, v; write p, m, v), master 28 (read g,
master, m, v; write p, master, m, v).  torch has no LAMB: no peer.

Adafactor steps a 16384 x 1024 matrix (its factored path) in three passes, as the
float32 step with ``low_memory=True``: the row/column sums of g^2 and RMS(p) (reading p
-- the master -- and g), the RMS of the update (g), then the update (reading p and g,
writing p; with master weights reading the master and writing master and p).  Minimal bytes: pure 6, master 12.  The peer is
``torch.optim.Adafactor(foreach=True)``: on the bf16 parameters (pure), or the recipe
that does the master layout's work (cast the bf16 gradients into the float32 master's
``.grad``, the float32 step, copy the master back into the bf16 parameters); goal >= 1x,
timed warm too (its steps allocate temporaries).
"""
import math

import ml_dtypes
import numpy as np

from .. import optim
from .cases_optim import OPTIONS
from .cases_optim16 import torch_bf16_step
from .core import GOAL_LIMIT, Case, Lazy, label, passes, probe, scaled, try_import_torch

BF16 = np.dtype(ml_dtypes.bfloat16)
F32 = np.dtype(np.float32)
# (optimizer, layout) -> minimal bytes per parameter
BYTES = {("LAMB", "bf16"): 14, ("LAMB", "bf16 master"): 28,
         ("Adafactor", "bf16"): 6, ("Adafactor", "bf16 master"): 12}


def _shape(name, n):
    """LAMB a vector; Adafactor a matrix of 1024 columns (its factored path)."""
    if name == "LAMB":
        return (n,)
    cols = math.gcd(n, 1024)
    return (n // cols, cols)


def _data(shape, seed, dt, scale=1.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(shape, dtype=np.float32)).astype(dt)


def _stepper(name, p, g, **extra):
    """gradkit's step, its states made before timing."""
    opt = getattr(optim, name)([p], **OPTIONS[name], **extra)
    opt.step([g])
    return lambda: opt.step([g])


def _limit(name, layout, p, g):
    """The passes of the step over arrays of the probe's own (it writes garbage)."""
    p = p.copy()
    master = p.astype(F32) if layout == "bf16 master" else None
    if name == "LAMB":
        sdt = F32 if master is not None else BF16
        m, v = np.zeros(p.shape, sdt), np.zeros(p.shape, sdt)
        if master is None:
            reads, writes = [p, g, m, v], [p, m, v]
        else:
            reads, writes = [g, master, m, v], [p, master, m, v]
        return passes(probe(reads, []), probe(reads, writes))
    w = p if master is None else master
    return passes(probe([w, g], []), probe([g], []),
                  probe([w, g], [w] if master is None else [master, p]))


def _build(torch, name, layout, n):
    shape = _shape(name, n)
    p, g = _data(shape, 0, BF16), _data(shape, 1, BF16, 0.01)
    fns = {"gk": _stepper(name, p, g, master_weights=layout == "bf16 master"),
           "f32": _stepper(name, _data(shape, 0, F32), _data(shape, 1, F32, 0.01)),
           "limit": _limit(name, layout, p, g)}
    if torch is not None and name == "Adafactor":
        kw = dict(OPTIONS["Adafactor"], foreach=True)
        fns["peer"] = torch_bf16_step(torch, layout, p, g,
                                      lambda params: torch.optim.Adafactor(params, **kw))
    return fns


def _case(torch, name, layout, n):
    lazy = Lazy(lambda: _build(torch, name, layout, n))
    has_peer = torch is not None and name == "Adafactor"
    peer_name = {"LAMB": "no peer", "Adafactor": {
        "bf16": "torch bf16 Adafactor(foreach=True)",
        "bf16 master": "torch recipe: cast grads, f32 Adafactor(foreach=True), copy back",
    }[layout]}[name]
    goal = (">=1x warm torch, " if name == "Adafactor" else "") + ">=85% of limit"
    return Case(op=f"{name} step {layout}", size=label(_shape(name, n), "bf16"),
                gradkit=lazy["gk"], bytes=BYTES[name, layout] * n,
                peer=lazy["peer"] if has_peer else None, peer_name=peer_name,
                quick=layout == "bf16 master", goal=goal,
                goal_ratio=1.0 if has_peer else None, goal_limit=GOAL_LIMIT,
                limit=lazy["limit"], unfused=lazy["f32"], unfused_name="float32",
                elements=n, extra={"options": dict(OPTIONS[name]), "layout": layout})


def cases():
    torch = try_import_torch()
    n = scaled(16 * 2 ** 20)
    return [_case(torch, name, layout, n) for name in ("LAMB", "Adafactor")
            for layout in ("bf16", "bf16 master")]
