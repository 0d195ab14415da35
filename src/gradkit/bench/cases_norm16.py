"""Benchmark cases of LayerNorm and RMSNorm in 16-bit storage (bfloat16, float16):
forward and forward+backward at 8192x1024, each beside

* gradkit's own float32 kernel on the same shape (the "x unfused" column holds
  time(float32) / time(16-bit); goal >= 1.7x: half the bytes should take about half
  the time),
* its limit: a probe moving the 16-bit streams (forward reads x and writes y, 4 bytes
  per element; backward reads x and dy and writes dx, 6 bytes; forward+backward the two
  passes in turn), goal >= 85%,
* PyTorch in the same dtype with weights of that dtype, as a model cast with
  ``.to(torch.bfloat16)`` runs: ``F.layer_norm`` / ``F.rms_norm`` (on CPU RMSNorm is a
  composite of elementwise ops and a mean), forward+backward through autograd; timed
  warm as well (the runner's warm-allocator subprocess).  Goals: LayerNorm bf16
  forward >= 1.5x torch, RMSNorm bf16 forward+backward >= 10x torch's composite.

gradkit gets its weight in the same 16-bit dtype (widened to float32 once per call,
1024 elements).
"""
import ml_dtypes
import numpy as np

from .. import norm
from .cases_norm import torch_peers
from .core import GOAL_LIMIT, Case, Lazy, label, passes, probe, scaled, try_import_torch

COLS = 1024
BYTES = {"forward": 4, "forward+backward": 4 + 6}   # per element, 16-bit streams
DTYPES = {"bf16": np.dtype(ml_dtypes.bfloat16), "f16": np.dtype(np.float16)}
# (kind, step, dtype name) -> (goal text, ratio to warm torch or None)
PEER_GOALS = {("layer_norm", "forward", "bf16"): 1.5,
              ("rms_norm", "forward+backward", "bf16"): 10.0}
GOAL_F32 = 1.7


def _build(torch, kind, dt, rows, cols):
    rng = np.random.default_rng(5 if kind == "layer_norm" else 6)
    x32 = rng.standard_normal((rows, cols), dtype=np.float32)
    dy32 = rng.standard_normal((rows, cols), dtype=np.float32)
    w32 = (1 + 0.1 * rng.standard_normal(cols)).astype(np.float32)
    b32 = (0.1 * rng.standard_normal(cols)).astype(np.float32)
    x, dy, w, b = (a.astype(dt) for a in (x32, dy32, w32, b32))
    if kind == "layer_norm":
        fwd, bwd, args, args32 = norm.layer_norm, norm.layer_norm_backward, (w, b), (w32, b32)
    else:
        fwd, bwd, args, args32 = norm.rms_norm, norm.rms_norm_backward, (w,), (w32,)

    def fwd_bwd(x_, dy_, a):
        _, st = fwd(x_, *a)
        return bwd(dy_, x_, st, a[0])

    y, dx = np.empty_like(x), np.empty_like(x)
    lim_fwd, lim_bwd = probe([x], [y]), probe([x, dy], [dx])
    fns = {"gk forward": lambda: fwd(x, *args),
           "f32 forward": lambda: fwd(x32, *args32),
           "limit forward": lim_fwd,
           "gk forward+backward": lambda: fwd_bwd(x, dy, args),
           "f32 forward+backward": lambda: fwd_bwd(x32, dy32, args32),
           "limit forward+backward": passes(lim_fwd, lim_bwd)}
    if torch is not None:
        tdt = torch.bfloat16 if dt == DTYPES["bf16"] else torch.float16
        fns.update(torch_peers(torch, kind, *(torch.from_numpy(a).to(tdt)
                                              for a in (x32, w32, b32, dy32))))
    return fns


def _cases(torch, kind, dname, rows, cols):
    dt = DTYPES[dname]
    lazy = Lazy(lambda: _build(torch, kind, dt, rows, cols))
    out = []
    for step, nbytes in BYTES.items():
        ratio = PEER_GOALS.get((kind, step, dname))
        goal = f">={GOAL_F32}x gradkit f32, >=85% of limit"
        if ratio:
            goal += f", >={ratio:g}x warm torch {dname}"
        out.append(Case(
            f"{kind} {step} {dname}", label((rows, cols), dname), lazy[f"gk {step}"],
            bytes=nbytes * rows * cols,
            peer=lazy[f"peer {step}"] if torch is not None else None,
            peer_name=f"torch {dname}" + (" autograd" if "backward" in step else ""),
            quick=True, goal=goal, goal_ratio=ratio, goal_limit=GOAL_LIMIT,
            limit=lazy[f"limit {step}"], unfused=lazy[f"f32 {step}"],
            goal_unfused=GOAL_F32, unfused_name="float32", elements=rows * cols))
    return out


def cases():
    torch = try_import_torch()
    rows = scaled(8192)
    return [c for kind in ("layer_norm", "rms_norm") for d in DTYPES
            for c in _cases(torch, kind, d, rows, COLS)]
