"""Benchmark cases of the fused residual add + dropout + LayerNorm/RMSNorm
(:func:`gradkit.norm.add_dropout_layer_norm`, :func:`~gradkit.norm.add_dropout_rms_norm`)
and their backwards, at 8192x1024 (past the L3), dropout p = 0.1.

Streams per element (float32 bytes): forward reads x and residual and writes y and
residual_out (16) plus the mask (1 bit); backward reads dy, residual_out and the
gradient reaching residual_out from the next block and the mask, and writes dresidual
and dx (20 + 1 bit).  The per-case limit moves exactly those streams.

Each case carries, in ``Case.unfused``, the same computation as a sequence of
gradkit calls (dropout; NumPy add; layer_norm -- and layer_norm_backward; NumPy add;
dropout_backward), with outputs reused through ``out=`` so neither side pays page
faults: the goal is >= 1.6x that sequence.  The peer is PyTorch unfused
(``residual + F.dropout(x)``, ``F.layer_norm``; autograd for the backward), its
tensors made once with ``torch.from_numpy``.
"""
import numpy as np

from .. import dropout, norm, reference
from ..random import Generator
from .core import GOAL_LIMIT, Case, Lazy, label, passes, probe, scaled, try_import_torch

COLS = 1024
P = 0.1
GOAL = ">=1.6x unfused gradkit, >=85% of limit"


def _data(rows, cols, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x, r, dy, dsn = (rng.standard_normal((rows, cols)).astype(dtype) for _ in range(4))
    w = (1 + 0.1 * rng.standard_normal(cols)).astype(dtype)
    b = (0.1 * rng.standard_normal(cols)).astype(dtype)
    return x, r, dy, dsn, w, b


def _kind(layer):
    if layer:
        return (norm.add_dropout_layer_norm, norm.add_dropout_layer_norm_backward,
                reference.add_dropout_layer_norm, reference.add_dropout_layer_norm_backward)
    return (norm.add_dropout_rms_norm, norm.add_dropout_rms_norm_backward,
            reference.add_dropout_rms_norm, reference.add_dropout_rms_norm_backward)


def _unfused(layer, x, r, dy, dsn, w, b, gen):
    """(forward, backward): the fused computation as gradkit calls, outputs reused."""
    d, s, y = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    dx = np.empty_like(x)
    pw = (w, b) if layer else (w,)
    nf = norm.layer_norm if layer else norm.rms_norm
    nb = norm.layer_norm_backward if layer else norm.rms_norm_backward
    _, mask = dropout.dropout(x, P, rng=Generator(1), out=d)
    np.add(r, d, out=s)
    _, stats = nf(s, *pw, out=y)

    def fwd():
        _, m = dropout.dropout(x, P, rng=gen, out=d)
        np.add(r, d, out=s)
        return nf(s, *pw, out=y), m

    def bwd():
        g = nb(dy, s, stats, w)
        np.add(g[0], dsn, out=g[0])
        return dropout.dropout_backward(g[0], mask, out=dx), g[1:]

    return fwd, bwd


def _torch(torch, layer, x, r, dy, dsn, w, b, dtype=None):
    """(forward, forward+backward) in PyTorch, unfused, or (None, None): on tensors
    sharing the arrays' memory, or in the torch ``dtype`` given (16-bit arrays)."""
    if torch is None:
        return None, None
    F = torch.nn.functional
    cols = x.shape[1]

    def tensor(a):
        if dtype is None:
            return torch.from_numpy(a)
        return torch.from_numpy(a.astype(np.float32)).to(dtype)

    def net(tx, tr, tw, tb):
        s = tr + F.dropout(tx, P, training=True)
        y = (F.layer_norm(s, (cols,), tw, tb) if layer
             else F.rms_norm(s, (cols,), tw, torch.finfo(s.dtype).eps))
        return y, s

    tx, tr, tw, tb = (tensor(a) for a in (x, r, w, b))
    gx, gr, gw, gb = (tensor(a).requires_grad_(True) for a in (x, r, w, b))
    tdy, tdsn = tensor(dy), tensor(dsn)

    def fwd():
        return net(tx, tr, tw, tb)

    def fwd_bwd():
        gx.grad = gr.grad = gw.grad = gb.grad = None
        y, s = net(gx, gr, gw, gb)
        torch.autograd.backward((y, s), (tdy, tdsn))
        return gx.grad, gr.grad

    return fwd, fwd_bwd


def _build(torch, layer, rows, dtype):
    """Every callable of one fusion at rows x COLS."""
    x, r, dy, dsn, w, b = _data(rows, COLS, dtype)
    fwd, bwd, rfwd, rbwd = _kind(layer)
    n = x.size
    pw = (w, b) if layer else (w,)
    gen = Generator(0)
    y, s, mask, stats = fwd(x, r, *pw, p=P, rng=Generator(1))
    dres, dxo = np.empty_like(x), np.empty_like(x)
    bits = np.empty((n + 7) // 8, np.uint8)

    def gk_fwd_bwd():
        o = fwd(x, r, *pw, p=P, rng=gen)
        return bwd(dy, o[1], o[3], o[2], w, dresidual_out=dsn)

    uf, ub = _unfused(layer, x, r, dy, dsn, w, b, Generator(0))
    peer_fwd, peer_fwd_bwd = _torch(torch, layer, x, r, dy, dsn, w, b)
    # the probes write garbage (ORed bytes): into arrays of their own, never into s,
    # which the backward reads
    lim_fwd = probe([x, r], [np.empty_like(x), np.empty_like(x), bits], work=n)
    lim_bwd = probe([dy, s, dsn, bits], [dres, dxo], work=n)
    return {
        "gk forward": lambda: fwd(x, r, *pw, p=P, rng=gen),
        "gk backward": lambda: bwd(dy, s, stats, mask, w, dresidual_out=dsn),
        "gk forward+backward": gk_fwd_bwd,
        "np forward": lambda: rfwd(x, r, *pw, p=P, rng=1),
        "np backward": lambda: rbwd(dy, s, stats, mask, w, dresidual_out=dsn),
        "np forward+backward": lambda: rbwd(dy, s, stats, rfwd(x, r, *pw, p=P, rng=1)[2],
                                            w, dresidual_out=dsn),
        "unfused forward": uf, "unfused backward": ub,
        "unfused forward+backward": passes(uf, ub),
        "limit forward": lim_fwd, "limit backward": lim_bwd,
        "limit forward+backward": passes(lim_fwd, lim_bwd),
        "peer forward": peer_fwd, "peer forward+backward": peer_fwd_bwd,
    }


def _cases(torch, layer, rows, dtype, steps=("forward", "backward", "forward+backward")):
    lazy = Lazy(lambda: _build(torch, layer, rows, dtype))
    name = "add_dropout_layer_norm" if layer else "add_dropout_rms_norm"
    dt = "f32" if dtype == np.float32 else "f64"
    n, item = rows * COLS, np.dtype(dtype).itemsize
    nbytes = {"forward": 4 * item * n + n // 8, "backward": 5 * item * n + n // 8}
    nbytes["forward+backward"] = nbytes["forward"] + nbytes["backward"]
    out = []
    for step in steps:
        has_peer = torch is not None and step != "backward"
        out.append(Case(
            f"{name} {step}", label((rows, COLS), dt), lazy[f"gk {step}"],
            bytes=nbytes[step], numpy=lazy[f"np {step}"],
            peer=lazy[f"peer {step}"] if has_peer else None,
            peer_name="torch unfused" + (" autograd" if "backward" in step else ""),
            quick=layer and dtype == np.float32 and step == "forward", goal=GOAL,
            goal_limit=GOAL_LIMIT, limit=lazy[f"limit {step}"],
            unfused=lazy[f"unfused {step}"], goal_unfused=1.6, elements=n))
    return out


def cases():
    torch = try_import_torch()
    rows = scaled(8192)
    out = []
    for layer in (True, False):
        out += _cases(torch, layer, rows, np.float32)
    out += _cases(torch, True, rows, np.float64, steps=("forward", "backward"))
    return out
