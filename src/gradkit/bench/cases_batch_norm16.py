"""Benchmark cases of BatchNorm in 16-bit storage (bfloat16, float16), training mode,
affine, with running statistics; weight, bias and running statistics float32 (the mixed
types PyTorch's CPU ``batch_norm`` takes too): forward and forward+backward at 8192x1024
(N, C) and 32x64x56x56 (N, C, H, W), each beside

* gradkit's own float32 kernel on the same shape (the "x unfused" column holds
  time(float32) / time(16-bit); goal >= 1.7x: half the bytes should take about half
  the time),
* its limit: past the cache BatchNorm makes two passes (a channel's statistics over the
  whole batch before any output), and so does its probe, on the 16-bit streams: forward
  reads x, then reads x and writes y; backward reads x and dy, then reads x and dy and
  writes dx (minimal bytes: 4 per element forward, 6 backward), goal >= 85%,
* PyTorch on 16-bit tensors with the same float32 parameters:
  ``F.batch_norm(training=True)`` with running statistics, forward+backward through
  autograd (timed warm as well, in the runner's warm-allocator subprocess).
"""
import numpy as np

from .. import norm
from .cases_batch_norm import data
from .cases_norm16 import DTYPES, GOAL_F32
from .core import GOAL_LIMIT, Case, Lazy, accepts, label, passes, probe, scaled
from .core import try_import_torch

BYTES = {"forward": 4, "forward+backward": 4 + 6}   # minimal, per element


def _build(torch, dt, shape):
    c = shape[1]
    x32, dy32, w, b = data(shape, seed=9)
    x, dy = x32.astype(dt), dy32.astype(dt)
    # each caller updates its own running statistics in place, as a training step does
    run16, run32 = [(np.zeros(c, np.float32), np.ones(c, np.float32)) for _ in range(2)]
    y, dx = np.empty_like(x), np.empty_like(x)
    bwd_out = {"out": dx} if accepts(norm.batch_norm_backward, "out") else {}

    def fwd_bwd(x_, dy_, run, out=False):
        _, st = norm.batch_norm(x_, w, b, *run, **({"out": y} if out else {}))
        return norm.batch_norm_backward(dy_, x_, st, w, **(bwd_out if out else {}))

    lim_fwd = passes(probe([x], []), probe([x], [y]))
    lim_bwd = passes(probe([x, dy], []), probe([x, dy], [dx]))
    fns = {"gk forward": lambda: norm.batch_norm(x, w, b, *run16),
           "out forward": lambda: norm.batch_norm(x, w, b, *run16, out=y),
           "f32 forward": lambda: norm.batch_norm(x32, w, b, *run32),
           "limit forward": lim_fwd,
           "gk forward+backward": lambda: fwd_bwd(x, dy, run16),
           "out forward+backward": lambda: fwd_bwd(x, dy, run16, out=True),
           "f32 forward+backward": lambda: fwd_bwd(x32, dy32, run32),
           "limit forward+backward": passes(lim_fwd, lim_bwd)}
    if torch is not None:
        F = torch.nn.functional
        tdt = torch.bfloat16 if dt == DTYPES["bf16"] else torch.float16
        tx, tdy = (torch.from_numpy(a).to(tdt) for a in (x32, dy32))
        tw, tb = torch.from_numpy(w), torch.from_numpy(b)
        trm, trv = torch.zeros(c), torch.ones(c)
        gx, gw, gb = (t.clone().requires_grad_(True) for t in (tx, tw, tb))

        def peer_fwd_bwd():
            gx.grad = gw.grad = gb.grad = None
            F.batch_norm(gx, trm, trv, gw, gb, training=True).backward(tdy)
            return gx.grad, gw.grad, gb.grad

        fns["peer forward"] = lambda: F.batch_norm(tx, trm, trv, tw, tb, training=True)
        fns["peer forward+backward"] = peer_fwd_bwd
    return fns


def _cases(torch, dname, shape, quick):
    lazy = Lazy(lambda: _build(torch, DTYPES[dname], shape))
    n = int(np.prod(shape))
    layout = "(N,C)" if len(shape) == 2 else "(N,C,*)"
    goal = f">={GOAL_F32}x gradkit f32, >=85% of limit"
    return [Case(f"batch_norm {step} {layout} {dname}", label(shape, dname),
                 lazy[f"gk {step}"], bytes=nbytes * n,
                 peer=lazy[f"peer {step}"] if torch is not None else None,
                 peer_name=f"torch {dname}" + (" autograd" if "backward" in step else ""),
                 quick=quick, goal=goal, goal_limit=GOAL_LIMIT, limit=lazy[f"limit {step}"],
                 gradkit_out=lazy[f"out {step}"], unfused=lazy[f"f32 {step}"],
                 goal_unfused=GOAL_F32, unfused_name="float32", elements=n)
            for step, nbytes in BYTES.items()]


def cases():
    torch = try_import_torch()
    return [c for d in DTYPES for shape, quick in (((scaled(8192), 1024), True),
                                                    ((scaled(32), 64, 56, 56), False))
            for c in _cases(torch, d, shape, quick)]
