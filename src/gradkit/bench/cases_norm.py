"""Benchmark cases of LayerNorm and RMSNorm, forward and forward+backward, affine.

Bandwidth cases use 8192x1024 float32 (32 MiB per array, past the L3); minimal bytes per
element: forward 8 (read x, write y), backward 12 (read x and dy, write dx), so
forward+backward 20.  The per-call overhead case is a 32x256 LayerNorm forward.  The
peer is PyTorch: ``F.layer_norm`` / ``F.rms_norm`` for forwards, autograd
(``y.backward(dy)``) for forward+backward, on tensors made once with
``torch.from_numpy`` (sharing the NumPy buffers); the forward-only tensors do not
require grad, so torch records no graph (and pays no ``no_grad`` context either).
"""
import numpy as np

from .. import get_num_threads, norm, reference
from .core import Case, scaled, try_import_torch

COLS = 1024
FWD_BYTES = 8       # per float32 element
BWD_BYTES = 12


def _data(rows, cols, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols), dtype=np.float32)
    dy = rng.standard_normal((rows, cols), dtype=np.float32)
    w = (1 + 0.1 * rng.standard_normal(cols)).astype(np.float32)
    b = (0.1 * rng.standard_normal(cols)).astype(np.float32)
    return x, dy, w, b


def _torch_tensors(torch, arrays, grad):
    """torch views of the arrays; the ones in ``grad`` positions require grad (the
    views share memory with the NumPy arrays, which nothing here writes)."""
    out = [torch.from_numpy(a) for a in arrays]
    for t, g in zip(out, grad):
        if g:
            t.requires_grad_(True)
    return out


def _layer_norm_cases(torch, rows):
    x, dy, w, b = _data(rows, COLS)
    size = f"{rows}x{COLS} f32"
    n = rows * COLS

    def gk_fwd():
        return norm.layer_norm(x, w, b)

    def np_fwd():
        return reference.layer_norm(x, w, b)

    def gk_fwd_bwd():
        y, stats = norm.layer_norm(x, w, b)
        return norm.layer_norm_backward(dy, x, stats, w)

    def np_fwd_bwd():
        y, stats = reference.layer_norm(x, w, b)
        return reference.layer_norm_backward(dy, x, stats, w)

    peer_fwd = peer_fwd_bwd = None
    if torch is not None:
        F = torch.nn.functional
        tx, tw, tb = _torch_tensors(torch, (x, w, b), (False, False, False))

        def peer_fwd():
            return F.layer_norm(tx, (COLS,), tw, tb)

        gx, gw, gb, gdy = _torch_tensors(torch, (x, w, b, dy), (True, True, True, False))

        def peer_fwd_bwd():
            gx.grad = gw.grad = gb.grad = None
            F.layer_norm(gx, (COLS,), gw, gb).backward(gdy)
            return gx.grad, gw.grad, gb.grad

    return [
        Case("layer_norm forward", size, gk_fwd, bytes=FWD_BYTES * n, numpy=np_fwd,
             peer=peer_fwd, quick=True, goal=">=5x torch, >=70% roofline",
             goal_ratio=5.0, goal_roofline=0.70),
        Case("layer_norm forward+backward", size, gk_fwd_bwd,
             bytes=(FWD_BYTES + BWD_BYTES) * n, numpy=np_fwd_bwd, peer=peer_fwd_bwd,
             goal=">=5x torch autograd", goal_ratio=5.0),
    ]


def _rms_norm_cases(torch, rows):
    x, dy, w, _ = _data(rows, COLS, seed=1)
    size = f"{rows}x{COLS} f32"
    n = rows * COLS

    def gk_fwd():
        return norm.rms_norm(x, w)

    def np_fwd():
        return reference.rms_norm(x, w)

    def gk_fwd_bwd():
        y, stats = norm.rms_norm(x, w)
        return norm.rms_norm_backward(dy, x, stats, w)

    def np_fwd_bwd():
        y, stats = reference.rms_norm(x, w)
        return reference.rms_norm_backward(dy, x, stats, w)

    peer_fwd = peer_fwd_bwd = None
    if torch is not None:
        F = torch.nn.functional
        tx, tw = _torch_tensors(torch, (x, w), (False, False))

        def peer_fwd():
            return F.rms_norm(tx, (COLS,), tw)

        gx, gw, gdy = _torch_tensors(torch, (x, w, dy), (True, True, False))

        def peer_fwd_bwd():
            gx.grad = gw.grad = None
            F.rms_norm(gx, (COLS,), gw).backward(gdy)
            return gx.grad, gw.grad

    return [
        Case("rms_norm forward", size, gk_fwd, bytes=FWD_BYTES * n, numpy=np_fwd,
             peer=peer_fwd, quick=True, goal=">=15x torch", goal_ratio=15.0),
        Case("rms_norm forward+backward", size, gk_fwd_bwd,
             bytes=(FWD_BYTES + BWD_BYTES) * n, numpy=np_fwd_bwd, peer=peer_fwd_bwd,
             goal=">=20x torch autograd", goal_ratio=20.0),
    ]


def _overhead_case(torch):
    """Per-call overhead: a tiny LayerNorm forward, where validation and dispatch
    dominate the time."""
    rows, cols = 32, 256
    x, _, w, b = _data(rows, cols, seed=2)
    peer = None
    if torch is not None:
        F = torch.nn.functional
        tx, tw, tb = _torch_tensors(torch, (x, w, b), (False, False, False))

        def peer():
            return F.layer_norm(tx, (cols,), tw, tb)

    return Case("layer_norm forward (per-call overhead)", f"{rows}x{cols} f32",
                lambda: norm.layer_norm(x, w, b), bytes=FWD_BYTES * rows * cols,
                numpy=lambda: reference.layer_norm(x, w, b), peer=peer, quick=True,
                goal="time <= 2/3 of torch's", goal_ratio=1.5)


def cases():
    torch = try_import_torch()
    if torch is not None:
        torch.set_num_threads(get_num_threads())
    rows = scaled(8192)
    return (_layer_norm_cases(torch, rows) + _rms_norm_cases(torch, rows)
            + [_overhead_case(torch)])
