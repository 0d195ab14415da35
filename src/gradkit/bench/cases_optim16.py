"""Benchmark cases of the optimizers in 16-bit storage: AdamW on 16M parameters (one
array), three layouts, each beside its limit (a probe moving its streams) and its
comparisons:

* pure bf16 (parameters, gradients, moments in bfloat16, no master weights: what torch
  does with bf16 parameters): 14 bytes per parameter (read p, g, m, v; write p, m, v);
  peer torch ``AdamW(fused=True)`` on bf16 tensors (goal >= 2x), and gradkit's own
  float32 step on the same size (the "x unfused" column, goal >= 1.7x: 28 bytes);
* master weights (bf16 parameters and gradients, float32 master and moments): 28 bytes
  (read g, master, m, v: 14; write p, master, m, v: 14) in one pass; peer the torch recipe that
  does the same work -- cast the bf16 gradients into the float32 master's ``.grad``,
  fused float32 AdamW on the master, copy the master back into the bf16 parameters
  (three passes, 40 bytes) -- goal >= 1.2x;
* float32 parameters with bfloat16 moments (``state_dtype``): 20 bytes, beside gradkit's
  float32 step (28 bytes), goal >= 1.15x.

Every peer writes only tensors it was given (in place), so it is timed warm as it
comes.  The arrays are made on a case's first call.
"""
import ml_dtypes
import numpy as np

import gradkit
from .. import optim
from .core import GOAL_LIMIT, Case, Lazy, label, probe, scaled, try_import_torch

BF16 = np.dtype(ml_dtypes.bfloat16)
F32 = np.dtype(np.float32)
KW = {"lr": 1e-4, "weight_decay": 1e-2}
# layout -> (bytes per parameter, goal ratio to the peer or None, goal vs gradkit f32)
LAYOUTS = {"bf16": (14, 2.0, 1.7), "bf16 master": (28, 1.2, None),
           "f32, bf16 states": (20, None, 1.15)}


def _data(n, seed, dt, scale=1.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(n, dtype=np.float32)).astype(dt)


def _f32_step(n):
    """gradkit's float32 AdamW step on n parameters (28 bytes each)."""
    p, g = _data(n, 0, F32), _data(n, 1, F32, 0.01)
    opt = optim.AdamW([p], **KW)
    opt.step([g])  # the states exist before timing
    return lambda: opt.step([g])


def _build(torch, layout, n):
    pdt = F32 if layout.startswith("f32") else BF16
    p, g = _data(n, 0, pdt), _data(n, 1, pdt, 0.01)
    extra = {"bf16": {}, "bf16 master": {"master_weights": True},
             "f32, bf16 states": {"state_dtype": gradkit.bfloat16}}[layout]
    opt = optim.AdamW([p], **KW, **extra)
    opt.step([g])
    fns = {"gk": lambda: opt.step([g])}
    if LAYOUTS[layout][2]:
        fns["f32"] = _f32_step(n)
    # the limit: the same streams on arrays of the probe's own
    sdt = F32 if layout == "bf16 master" else BF16
    pp, m, v = p.copy(), np.zeros(n, sdt), np.zeros(n, sdt)
    if layout == "bf16 master":
        master = p.astype(F32)
        fns["limit"] = probe([g, master, m, v], [pp, master, m, v])
    else:
        fns["limit"] = probe([pp, g, m, v], [pp, m, v])
    if torch is not None:
        fns["peer"] = _peer(torch, layout, p, g)
    return fns


def torch_bf16_step(torch, layout, p, g, make):
    """The torch peer of a bf16 step: ``make(params)`` builds the torch optimizer, on
    the bf16 parameters ("bf16"), or in the recipe that does the master layout's work
    ("bf16 master"): the bf16 gradients cast into a float32 master's ``.grad``, the
    float32 step, the master copied back into the bf16 parameters.  Its states exist
    before timing; it writes only tensors it was given."""
    tp = torch.from_numpy(p.astype(F32)).to(torch.bfloat16)
    tg = torch.from_numpy(g.astype(F32)).to(torch.bfloat16)
    master = None
    if layout == "bf16":
        param = torch.nn.Parameter(tp)
        param.grad = tg
        peer = make([param])
    else:
        master = torch.nn.Parameter(tp.float())
        master.grad = torch.empty_like(master)
        peer = make([master])

    def step():
        torch.set_num_threads(gradkit.get_num_threads())
        if master is not None:
            master.grad.copy_(tg)
        peer.step()
        if master is not None:
            with torch.no_grad():
                tp.copy_(master)
    step()
    return step


def _peer(torch, layout, p, g):
    if layout == "f32, bf16 states":
        return None
    return torch_bf16_step(torch, layout, p, g,
                           lambda params: torch.optim.AdamW(params, **KW, fused=True))


def _case(torch, layout, n):
    nbytes, ratio, vs_f32 = LAYOUTS[layout]
    lazy = Lazy(lambda: _build(torch, layout, n))
    has_peer = torch is not None and ratio is not None
    peer_name = {"bf16": "torch bf16 AdamW(fused=True)",
                 "bf16 master": "torch recipe: cast grads, fused f32 AdamW, copy back",
                 "f32, bf16 states": "no peer"}[layout]
    goal = [f">={ratio:g}x torch"] if ratio else []
    goal += [f">={vs_f32:g}x gradkit f32"] if vs_f32 else []
    goal.append(">=85% of limit")
    peer = lazy["peer"] if has_peer else None
    return Case(op=f"AdamW step {layout}", size=label((n,), "bf16" if layout != "f32, "
                                                               "bf16 states" else "f32"),
                gradkit=lazy["gk"], bytes=nbytes * n, peer=peer, peer_name=peer_name,
                peer_warm=peer, quick=layout == "bf16", goal=", ".join(goal),
                goal_ratio=ratio if has_peer else None, goal_limit=GOAL_LIMIT,
                limit=lazy["limit"], unfused=lazy["f32"] if vs_f32 else None,
                goal_unfused=vs_f32, unfused_name="float32", elements=n,
                extra={"options": dict(KW), "layout": layout})


def cases():
    torch = try_import_torch()
    n = scaled(16 * 2 ** 20)
    return [_case(torch, layout, n) for layout in LAYOUTS]
