"""Benchmark cases of the 16-bit activation kernels besides the norms (cases_norm16):
dropout forward (p = 0.5, mask stored) and softmax cross-entropy forward+backward
(label smoothing 0.1) at 8192x1024 in bfloat16 and float16, each beside

* gradkit's own float32 kernel on the same shape (the "x unfused" column holds
  time(float32) / time(16-bit); goal >= 1.7x: half the bytes should take about half
  the time),
* its limit: a probe moving the 16-bit streams (dropout reads x, writes y and the
  1-bit mask: 4 bytes + 1 bit per element; cross-entropy reads the logits and the
  labels and writes the gradient: 4 bytes per element), goal >= 85%,
* PyTorch in the same dtype: ``F.dropout(training=True)`` and ``F.cross_entropy``
  forward + autograd backward on 16-bit tensors (timed warm as well).
"""
import ml_dtypes
import numpy as np

from .. import dropout as gd, losses
from ..random import Generator
from .core import GOAL_LIMIT, Case, Lazy, label, probe, scaled, try_import_torch

COLS = 1024
P = 0.5
DTYPES = {"bf16": np.dtype(ml_dtypes.bfloat16), "f16": np.dtype(np.float16)}
GOAL_F32 = 1.7


def _build(torch, dt, rows, cols):
    rng = np.random.default_rng(7)
    x32 = rng.standard_normal((rows, cols), dtype=np.float32)
    z32 = 3 * rng.standard_normal((rows, cols), dtype=np.float32)
    x, z = x32.astype(dt), z32.astype(dt)
    labels = rng.integers(0, cols, rows)
    y, dz = np.empty_like(x), np.empty_like(z)
    bits = np.empty((x.size + 7) // 8, np.uint8)
    g = Generator(1)
    fns = {"gk dropout": lambda: gd.dropout(x, P, rng=g),
           "f32 dropout": lambda: gd.dropout(x32, P, rng=g),
           "limit dropout": probe([x], [y, bits]),
           "gk xent": lambda: losses.softmax_cross_entropy(z, labels, label_smoothing=0.1),
           "f32 xent": lambda: losses.softmax_cross_entropy(z32, labels,
                                                            label_smoothing=0.1),
           "limit xent": probe([z, labels], [dz])}
    if torch is not None:
        tdt = torch.bfloat16 if dt == DTYPES["bf16"] else torch.float16
        tx, tz = torch.from_numpy(x32).to(tdt), torch.from_numpy(z32).to(tdt)
        ty = torch.from_numpy(labels)
        F = torch.nn.functional

        def xent():
            a = tz.detach().requires_grad_(True)
            F.cross_entropy(a, ty, label_smoothing=0.1).backward()
            return a.grad
        fns["peer dropout"] = lambda: F.dropout(tx, P, training=True)
        fns["peer xent"] = xent
    return fns


def _cases(torch, dname, rows, cols):
    lazy = Lazy(lambda: _build(torch, DTYPES[dname], rows, cols))
    n = rows * cols
    goal = f">={GOAL_F32}x gradkit f32, >=85% of limit"
    specs = [("dropout", f"dropout forward (p={P}) {dname}", 4 * n + n // 8, "torch"),
             ("xent", f"softmax_cross_entropy fwd+bwd (label_smoothing=0.1) {dname}",
              4 * n + 8 * rows, "torch autograd")]
    return [Case(op, label((rows, cols), dname), lazy[f"gk {key}"], bytes=nbytes,
                 peer=lazy[f"peer {key}"] if torch is not None else None,
                 peer_name=f"{peer} {dname}", quick=True, goal=goal, goal_limit=GOAL_LIMIT,
                 limit=lazy[f"limit {key}"], unfused=lazy[f"f32 {key}"],
                 goal_unfused=GOAL_F32, unfused_name="float32", elements=n)
            for key, op, nbytes, peer in specs]


def cases():
    torch = try_import_torch()
    rows = scaled(8192)
    return [c for d in DTYPES for c in _cases(torch, d, rows, COLS)]
