"""Benchmark cases of the fused residual add + dropout + LayerNorm/RMSNorm
(:func:`gradkit.norm.add_dropout_layer_norm`, :func:`~gradkit.norm.add_dropout_rms_norm`)
in 16-bit storage (bfloat16, float16), weights in the same dtype (a model cast to it):
forward and forward+backward at 8192x1024, dropout p = 0.1, each beside

* gradkit's own fused float32 kernel on the same shape (the "x unfused" column holds
  time(float32) / time(16-bit); goal >= 1.7x: half the bytes should take about half
  the time),
* its limit: a probe moving the 16-bit streams (forward reads x and residual and writes
  y and residual_out, 8 bytes per element, plus the 1-bit mask; backward reads dy,
  residual_out, the gradient reaching residual_out from the next block and the mask,
  and writes dresidual and dx, 10 bytes plus the mask), goal >= 85%,
* PyTorch unfused in the same dtype (``residual + F.dropout(x)``, ``F.layer_norm`` /
  ``F.rms_norm``; autograd for the backward), as cases_fused times it in float32 (timed
  warm as well).
"""
import numpy as np

from ..random import Generator
from .cases_fused import COLS, P, _data, _kind, _torch
from .cases_norm16 import DTYPES, GOAL_F32
from .core import GOAL_LIMIT, Case, Lazy, label, passes, probe, scaled, try_import_torch


def _build(torch, layer, dt, rows):
    a32 = _data(rows, COLS, np.float32)              # x, residual, dy, dsn, w, b
    x, r, dy, dsn, w, b = (a.astype(dt) for a in a32)
    fwd, bwd, _, _ = _kind(layer)
    pw, pw32 = ((w, b), a32[4:]) if layer else ((w,), a32[4:5])
    gen = Generator(0)

    def fwd_bwd(x_, r_, dy_, dsn_, pw_):
        o = fwd(x_, r_, *pw_, p=P, rng=gen)
        return bwd(dy_, o[1], o[3], o[2], pw_[0], dresidual_out=dsn_)

    n = x.size
    s = fwd(x, r, *pw, p=P, rng=Generator(1))[1]     # residual_out, read by the backward
    bits = np.empty((n + 7) // 8, np.uint8)
    # the probes write garbage (ORed bytes): into arrays of their own, never into s
    lim_fwd = probe([x, r], [np.empty_like(x), np.empty_like(x), bits], work=n)
    lim_bwd = probe([dy, s, dsn, bits], [np.empty_like(x), np.empty_like(x)], work=n)
    fns = {"gk forward": lambda: fwd(x, r, *pw, p=P, rng=gen),
           "f32 forward": lambda: fwd(a32[0], a32[1], *pw32, p=P, rng=gen),
           "limit forward": lim_fwd,
           "gk forward+backward": lambda: fwd_bwd(x, r, dy, dsn, pw),
           "f32 forward+backward": lambda: fwd_bwd(*a32[:4], pw32),
           "limit forward+backward": passes(lim_fwd, lim_bwd)}
    if torch is not None:
        tdt = torch.bfloat16 if dt == DTYPES["bf16"] else torch.float16
        fns["peer forward"], fns["peer forward+backward"] = _torch(
            torch, layer, x, r, dy, dsn, w, b, dtype=tdt)
    return fns


def _cases(torch, layer, dname, rows):
    lazy = Lazy(lambda: _build(torch, layer, DTYPES[dname], rows))
    name = "add_dropout_layer_norm" if layer else "add_dropout_rms_norm"
    n = rows * COLS
    nbytes = {"forward": 8 * n + n // 8, "forward+backward": 18 * n + 2 * (n // 8)}
    goal = f">={GOAL_F32}x gradkit f32, >=85% of limit"
    return [Case(f"{name} {step} {dname}", label((rows, COLS), dname), lazy[f"gk {step}"],
                 bytes=nbytes[step], peer=lazy[f"peer {step}"] if torch is not None else None,
                 peer_name=f"torch {dname} unfused" + (" autograd" if "backward" in step
                                                        else ""),
                 quick=layer and dname == "bf16" and step == "forward", goal=goal,
                 goal_limit=GOAL_LIMIT, limit=lazy[f"limit {step}"],
                 unfused=lazy[f"f32 {step}"], goal_unfused=GOAL_F32,
                 unfused_name="float32", elements=n)
            for step in nbytes]


def cases():
    torch = try_import_torch()
    rows = scaled(8192)
    return [c for layer in (True, False) for d in DTYPES for c in _cases(torch, layer, d, rows)]
