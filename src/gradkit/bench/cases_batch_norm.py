"""Benchmark cases of BatchNorm in training mode: forward, backward and forward+backward,
affine, with running statistics, in both layouts.

Table sizes, float32: 8192x1024 (an MLP's (N, C) activations, 32 MiB, past the L3) and
32x64x56x56 (a ResNet stage's (N, C, H, W) activations, 25 MiB).  Limits: BatchNorm
needs a channel's statistics over the whole batch before it can write any output, so
past the cache every kernel makes two passes, and so does its limit: forward reads x
(statistics), then reads x and writes y; backward reads x and dy (the two per-channel
sums), then reads x and dy and writes dx.

``batch_norm steps forward+backward`` is the same training step through the split
kernels of a synchronized BatchNorm (stats, gather, elemt, backward_reduce,
backward_elemt), as one rank runs it between its two collectives (no communication
here): the same passes over memory as the one-call pair, so its limit share, next to
the ``forward+backward`` row's, shows what the split costs.

The peer is PyTorch on tensors made once with ``torch.from_numpy``:
``F.batch_norm(training=True)`` with running statistics, the backward alone through a
recorded graph, forward+backward through autograd.
"""
import numpy as np

from .. import norm, reference
from .core import GOAL_LIMIT, Case, Lazy, accepts, label, passes, probe, scaled
from .core import torch_backward, try_import_torch

FWD_BYTES = 8       # minimal, per float32 element
BWD_BYTES = 12

GOALS = {"forward": (">=1x warm torch, >=85% of limit", 1.0),
         "backward": (">=1x warm torch, >=85% of limit", 1.0),
         "forward+backward": (">=2.5x warm torch autograd, >=85% of limit", 2.5)}


def data(shape, seed=0):
    """float32 x, dy of ``shape`` and the weight and bias of its channels (axis 1)."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = rng.standard_normal(shape, dtype=np.float32)
    dy = rng.standard_normal(shape, dtype=np.float32)
    w = (1 + 0.1 * rng.standard_normal(c)).astype(np.float32)
    b = (0.1 * rng.standard_normal(c)).astype(np.float32)
    return x, dy, w, b


def _build(torch, shape):
    c = shape[1]
    x, dy, w, b = data(shape)
    y, dx = np.empty_like(x), np.empty_like(x)
    # each caller updates its own running statistics in place, as a training step does
    gk_run = (np.zeros(c, np.float32), np.ones(c, np.float32))
    np_run = (np.zeros(c, np.float32), np.ones(c, np.float32))
    _, stats = norm.batch_norm(x, w, b, *gk_run)
    bwd_out = {"out": dx} if accepts(norm.batch_norm_backward, "out") else {}

    def gk_fwd_bwd():
        _, st = norm.batch_norm(x, w, b, *gk_run)
        return norm.batch_norm_backward(dy, x, st, w)

    def out_fwd_bwd():
        _, st = norm.batch_norm(x, w, b, *gk_run, out=y)
        return norm.batch_norm_backward(dy, x, st, w, **bwd_out)

    step_run = (np.zeros(c, np.float32), np.ones(c, np.float32))

    def steps(k):
        def run():
            part = k.batch_norm_stats(x)
            mean, invstd = k.batch_norm_gather_stats([part.n], part.mean[None],
                                                     part.m2[None], *step_run)
            k.batch_norm_elemt(x, w, b, mean, invstd)
            m, r = mean.astype(np.float32), invstd.astype(np.float32)
            s = k.batch_norm_backward_reduce(dy, x, m, r, w)
            return (k.batch_norm_backward_elemt(dy, x, m, r, w, s[0], s[1], part.n),
                    s[2], s[3])
        return run

    def np_fwd_bwd():
        _, st = reference.batch_norm(x, w, b, *np_run)
        return reference.batch_norm_backward(dy, x, st, w)

    lim_fwd = passes(probe([x], []), probe([x], [y]))
    lim_bwd = passes(probe([x, dy], []), probe([x, dy], [dx]))
    fns = {"gk forward": lambda: norm.batch_norm(x, w, b, *gk_run),
           "out forward": lambda: norm.batch_norm(x, w, b, *gk_run, out=y),
           "np forward": lambda: reference.batch_norm(x, w, b, *np_run),
           "limit forward": lim_fwd,
           "gk backward": lambda: norm.batch_norm_backward(dy, x, stats, w),
           "out backward": lambda: norm.batch_norm_backward(dy, x, stats, w, **bwd_out),
           "np backward": lambda: reference.batch_norm_backward(dy, x, stats, w),
           "limit backward": lim_bwd,
           "gk forward+backward": gk_fwd_bwd, "out forward+backward": out_fwd_bwd,
           "np forward+backward": np_fwd_bwd,
           "limit forward+backward": passes(lim_fwd, lim_bwd),
           "gk steps forward+backward": steps(norm),
           "np steps forward+backward": steps(reference),
           "limit steps forward+backward": passes(lim_fwd, lim_bwd)}
    if torch is not None:
        F = torch.nn.functional
        tx, tw, tb, tdy = (torch.from_numpy(a) for a in (x, w, b, dy))
        trm, trv = torch.zeros(c), torch.ones(c)
        gx, gw, gb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))

        def peer_fwd_bwd():
            gx.grad = gw.grad = gb.grad = None
            F.batch_norm(gx, trm, trv, gw, gb, training=True).backward(tdy)
            return gx.grad, gw.grad, gb.grad

        fns["peer forward"] = lambda: F.batch_norm(tx, trm, trv, tw, tb, training=True)
        fns["peer backward"] = torch_backward(
            torch, lambda: F.batch_norm(gx, trm, trv, gw, gb, training=True),
            (gx, gw, gb), tdy)
        fns["peer forward+backward"] = peer_fwd_bwd
        fns["peer steps forward+backward"] = peer_fwd_bwd
    return fns


def _cases(torch, shape, quick=False):
    lazy = Lazy(lambda: _build(torch, shape))
    n = int(np.prod(shape))
    out = []
    for step, nbytes in (("forward", FWD_BYTES), ("backward", BWD_BYTES),
                         ("forward+backward", FWD_BYTES + BWD_BYTES)):
        goal, ratio = GOALS[step]
        has_out = step != "backward" or accepts(norm.batch_norm_backward, "out")
        layout = "(N,C)" if len(shape) == 2 else "(N,C,*)"
        out.append(Case(
            f"batch_norm {step} {layout}", label(shape), lazy[f"gk {step}"],
            bytes=nbytes * n, numpy=lazy[f"np {step}"],
            peer=lazy[f"peer {step}"] if torch is not None else None,
            peer_name="torch autograd" if "backward" in step else "torch",
            quick=quick and step != "backward", goal=goal, goal_ratio=ratio,
            goal_limit=GOAL_LIMIT, limit=lazy[f"limit {step}"],
            gradkit_out=lazy[f"out {step}"] if has_out else None, elements=n))
    step = "steps forward+backward"
    out.append(Case(
        f"batch_norm {step} {layout}", label(shape), lazy[f"gk {step}"],
        bytes=(FWD_BYTES + BWD_BYTES) * n, numpy=lazy[f"np {step}"],
        peer=lazy[f"peer {step}"] if torch is not None else None,
        peer_name="torch autograd", goal=">=85% of limit", goal_limit=GOAL_LIMIT,
        limit=lazy[f"limit {step}"], elements=n))
    return out


def sweep(n):
    torch = try_import_torch()
    c = 256
    nchw = (max(2, n // (64 * 784)), 64, max(1, n // (64 * max(2, n // (64 * 784)))))
    return _cases(torch, (max(2, n // c), c)) + _cases(torch, nchw)


def cases():
    torch = try_import_torch()
    return (_cases(torch, (scaled(8192), 1024), quick=True)
            + _cases(torch, (scaled(32), 64, 56, 56)))
