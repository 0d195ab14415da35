"""Benchmark cases of LayerNorm and RMSNorm: forward, backward, forward+backward, affine.

Table size 8192x1024 float32 (32 MiB per array, past the L3); the sweep keeps 1024
columns and varies the rows.  Limits (the streams the kernels move; a row stays in
cache, so each is one pass): forward reads x and writes y; backward reads x and dy and
writes dx; forward+backward is the two in turn.  The per-row statistics and the
per-column weights stay in cache and are left out.

The peer is PyTorch on tensors made once with ``torch.from_numpy``: ``F.layer_norm`` /
``F.rms_norm`` for forwards (tensors that do not require grad, so no graph is
recorded), the backward alone through a recorded graph (``y.backward(dy,
retain_graph=True)``, the kernels autograd calls), and forward+backward through
autograd.  Its outputs are allocated on every call: the runner times it warm in a
subprocess as well.  A per-call overhead case (32x256 forward) is in the table only.
"""
import numpy as np

from .. import norm, reference
from .core import GOAL_LIMIT, Case, Lazy, accepts, passes, probe, scaled, torch_backward
from .core import label, try_import_torch

COLS = 1024
FWD_BYTES = 8       # per float32 element
BWD_BYTES = 12

# per op: (goal text, ratio to warm torch)
GOALS = {
    ("layer_norm", "forward"): (">=1.5x warm torch, >=85% of limit", 1.5),
    ("layer_norm", "backward"): (">=1x warm torch, >=85% of limit", 1.0),
    ("layer_norm", "forward+backward"): (">=2x warm torch autograd, >=85% of limit", 2.0),
    ("rms_norm", "forward"): (">=1x warm torch, >=85% of limit", 1.0),
    ("rms_norm", "backward"): (">=1x warm torch, >=85% of limit", 1.0),
    ("rms_norm", "forward+backward"): (">=5x warm torch autograd, >=85% of limit", 5.0),
}


def _data(rows, cols, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols), dtype=np.float32)
    dy = rng.standard_normal((rows, cols), dtype=np.float32)
    w = (1 + 0.1 * rng.standard_normal(cols)).astype(np.float32)
    b = (0.1 * rng.standard_normal(cols)).astype(np.float32)
    return x, dy, w, b


def _build(torch, kind, rows, cols):
    """Every callable of one kind ('layer_norm' or 'rms_norm') at rows x cols."""
    x, dy, w, b = _data(rows, cols, seed=0 if kind == "layer_norm" else 1)
    y, dx = np.empty_like(x), np.empty_like(x)
    if kind == "layer_norm":
        fwd, bwd = norm.layer_norm, norm.layer_norm_backward
        ref_fwd, ref_bwd = reference.layer_norm, reference.layer_norm_backward
        args = (w, b)
    else:
        fwd, bwd = norm.rms_norm, norm.rms_norm_backward
        ref_fwd, ref_bwd = reference.rms_norm, reference.rms_norm_backward
        args = (w,)
    _, stats = fwd(x, *args)
    bwd_out = {"out": dx} if accepts(bwd, "out") else {}

    def gk_fwd_bwd():
        _, st = fwd(x, *args)
        return bwd(dy, x, st, w)

    def gk_fwd_bwd_out():
        _, st = fwd(x, *args, out=y)
        return bwd(dy, x, st, w, **bwd_out)

    def np_fwd_bwd():
        _, st = ref_fwd(x, *args)
        return ref_bwd(dy, x, st, w)

    lim_fwd, lim_bwd = probe([x], [y]), probe([x, dy], [dx])
    fns = {
        "gk forward": lambda: fwd(x, *args), "out forward": lambda: fwd(x, *args, out=y),
        "np forward": lambda: ref_fwd(x, *args), "limit forward": lim_fwd,
        "gk backward": lambda: bwd(dy, x, stats, w),
        "np backward": lambda: ref_bwd(dy, x, stats, w), "limit backward": lim_bwd,
        "gk forward+backward": gk_fwd_bwd, "out forward+backward": gk_fwd_bwd_out,
        "np forward+backward": np_fwd_bwd,
        "limit forward+backward": passes(lim_fwd, lim_bwd),
    }
    if bwd_out:
        fns["out backward"] = lambda: bwd(dy, x, stats, w, out=dx)
    if torch is not None:
        fns.update(torch_peers(torch, kind, *(torch.from_numpy(a) for a in (x, w, b, dy))))
    return fns


def torch_peers(torch, kind, tx, tw, tb, tdy):
    """PyTorch's calls of a norm case on tensors x, w, b, dy (any one dtype): the
    forward on tensors without grad, the backward alone through a recorded graph, and
    forward+backward through autograd (shared with the 16-bit cases)."""
    F = torch.nn.functional
    cols = tx.shape[-1]
    gx, gw, gb = (t.clone().requires_grad_(True) for t in (tx, tw, tb))
    if kind == "layer_norm":
        def t_fwd(x_, w_, b_):
            return F.layer_norm(x_, (cols,), w_, b_)
        grads = (gx, gw, gb)
    else:
        def t_fwd(x_, w_, b_):
            return F.rms_norm(x_, (cols,), w_)
        grads = (gx, gw)

    def peer_fwd_bwd():
        for t in grads:
            t.grad = None
        t_fwd(gx, gw, gb).backward(tdy)
        return [t.grad for t in grads]

    return {"peer forward": lambda: t_fwd(tx, tw, tb),
            "peer backward": torch_backward(torch, lambda: t_fwd(gx, gw, gb), grads, tdy),
            "peer forward+backward": peer_fwd_bwd}


def _cases(torch, kind, rows, cols, quick=False):
    lazy = Lazy(lambda: _build(torch, kind, rows, cols))
    n = rows * cols
    bwd = norm.layer_norm_backward if kind == "layer_norm" else norm.rms_norm_backward
    out = []
    for step, nbytes in (("forward", FWD_BYTES), ("backward", BWD_BYTES),
                         ("forward+backward", FWD_BYTES + BWD_BYTES)):
        goal, ratio = GOALS[(kind, step)]
        has_out = step != "backward" or accepts(bwd, "out")
        out.append(Case(
            f"{kind} {step}", label((rows, cols)), lazy[f"gk {step}"], bytes=nbytes * n,
            numpy=lazy[f"np {step}"],
            peer=lazy[f"peer {step}"] if torch is not None else None,
            peer_name="torch autograd" if "backward" in step else "torch",
            quick=quick and step != "backward", goal=goal, goal_ratio=ratio,
            goal_limit=GOAL_LIMIT, limit=lazy[f"limit {step}"],
            gradkit_out=lazy[f"out {step}"] if has_out else None, elements=n))
    return out


def _overhead_case(torch):
    """Per-call overhead: a tiny LayerNorm forward, where validation and dispatch
    dominate the time."""
    rows, cols = 32, 256
    x, _, w, b = _data(rows, cols, seed=2)
    y = np.empty_like(x)
    peer = None
    if torch is not None:
        F = torch.nn.functional
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))

        def peer():
            return F.layer_norm(tx, (cols,), tw, tb)

    return Case("layer_norm forward (per-call overhead)", label((rows, cols)),
                lambda: norm.layer_norm(x, w, b), bytes=FWD_BYTES * rows * cols,
                gradkit_out=lambda: norm.layer_norm(x, w, b, out=y),
                numpy=lambda: reference.layer_norm(x, w, b), peer=peer, quick=True,
                goal="<= 2 us per call", goal_time=2e-6, elements=rows * cols)


def _shape(n):
    cols = min(COLS, n)
    return max(1, n // cols), cols


def sweep(n):
    torch = try_import_torch()
    rows, cols = _shape(n)
    return _cases(torch, "layer_norm", rows, cols) + _cases(torch, "rms_norm", rows, cols)


def cases():
    torch = try_import_torch()
    rows = scaled(8192)
    return (_cases(torch, "layer_norm", rows, COLS, quick=True)
            + _cases(torch, "rms_norm", rows, COLS, quick=True) + [_overhead_case(torch)])
