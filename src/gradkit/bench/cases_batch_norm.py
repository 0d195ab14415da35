"""Benchmark cases of BatchNorm in training mode: forward, and forward+backward, affine,
with running statistics.

Two layouts, float32: 8192x1024 (an MLP's (N, C) activations, 32 MiB, past the L3) and
32x64x56x56 (a ResNet stage's (N, C, H, W) activations, 25 MiB).  Minimal bytes per
element: forward 8 (read x, write y), backward 12 (read x and dy, write dx), so
forward+backward 20.  gradkit's forward actually reads x twice (once for the batch
statistics, once for y: 12 bytes), its backward reads x and dy twice (once for the two
per-channel sums, once for dx: 20 bytes); the minimal figures are what the roofline
share is scored on.  The peer is PyTorch: ``F.batch_norm(training=True)`` with running
statistics for the forward, autograd (``y.backward(dy)``) for forward+backward, on
tensors made once with ``torch.from_numpy``.  Every call, of either library, allocates
its outputs.
"""
import numpy as np

from .. import get_num_threads, norm, reference
from .core import Case, scaled, try_import_torch

FWD_BYTES = 8       # per float32 element
BWD_BYTES = 12


def _data(shape, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = rng.standard_normal(shape, dtype=np.float32)
    dy = rng.standard_normal(shape, dtype=np.float32)
    w = (1 + 0.1 * rng.standard_normal(c)).astype(np.float32)
    b = (0.1 * rng.standard_normal(c)).astype(np.float32)
    return x, dy, w, b


def _cases(torch, shape, quick):
    x, dy, w, b = _data(shape)
    c = shape[1]
    n = x.size
    size = "x".join(str(s) for s in shape) + " f32"
    # each caller updates its own running statistics in place, as a training step does
    gk_run = (np.zeros(c, np.float32), np.ones(c, np.float32))
    np_run = (np.zeros(c, np.float32), np.ones(c, np.float32))

    def gk_fwd():
        return norm.batch_norm(x, w, b, *gk_run)

    def np_fwd():
        return reference.batch_norm(x, w, b, *np_run)

    def gk_fwd_bwd():
        y, stats = norm.batch_norm(x, w, b, *gk_run)
        return norm.batch_norm_backward(dy, x, stats, w)

    def np_fwd_bwd():
        y, stats = reference.batch_norm(x, w, b, *np_run)
        return reference.batch_norm_backward(dy, x, stats, w)

    peer_fwd = peer_fwd_bwd = None
    if torch is not None:
        F = torch.nn.functional
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
        trm, trv = torch.zeros(c), torch.ones(c)

        def peer_fwd():
            return F.batch_norm(tx, trm, trv, tw, tb, training=True)

        gx, gw, gb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
        gdy = torch.from_numpy(dy)

        def peer_fwd_bwd():
            gx.grad = gw.grad = gb.grad = None
            F.batch_norm(gx, trm, trv, gw, gb, training=True).backward(gdy)
            return gx.grad, gw.grad, gb.grad

    return [
        Case("batch_norm forward (training)", size, gk_fwd, bytes=FWD_BYTES * n,
             numpy=np_fwd, peer=peer_fwd, quick=quick, goal=">=4x torch", goal_ratio=4.0),
        Case("batch_norm forward+backward", size, gk_fwd_bwd,
             bytes=(FWD_BYTES + BWD_BYTES) * n, numpy=np_fwd_bwd, peer=peer_fwd_bwd,
             goal=">=4x torch autograd", goal_ratio=4.0),
    ]


def cases():
    torch = try_import_torch()
    if torch is not None:
        torch.set_num_threads(get_num_threads())
    return (_cases(torch, (scaled(8192), 1024), quick=True)
            + _cases(torch, (scaled(32), 64, 56, 56), quick=False))
