"""Benchmark cases of dropout and stochastic depth (drop_path), p = 0.5, float32.

Limits: forward with the mask stored reads x and writes y and the bit-mask (1 bit per
element); forward seed-only (``store_mask=False``) reads x and writes y; backward from
the mask reads dy and the bits and writes dx; backward from the seed reads dy and writes
dx (the mask is regenerated from Philox inside the kernel); drop_path and its backward
read one array and write one.

Peers (PyTorch): ``F.dropout(training=True)`` for both forwards (it has no seed-only
form: it always stores a bool mask), ``aten.native_dropout_backward`` (what autograd
calls) from a bool mask for both backwards, and timm's drop_path
(``x * bernoulli(keep).div(keep)`` per sample) and its backward.  The NumPy column is
what a NumPy user writes for the forwards (numpy.random), the reference for the
backwards.
"""
import numpy as np

from .. import dropout as gd, reference
from ..random import Generator
from .core import GOAL_LIMIT, Case, Lazy, accepts, label, probe, scaled, try_import_torch

P = 0.5
GOAL = (">=1x warm torch, >=85% of limit", 1.0)


def _build(torch, rows, cols):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, cols), dtype=np.float32)
    dy = rng.standard_normal((rows, cols), dtype=np.float32)
    y, dx = np.empty_like(x), np.empty_like(x)
    g = Generator(1)
    _, mask = gd.dropout(x, P, rng=g)
    seed_only = gd.DropoutMask.from_state(mask.shape, mask.p, mask.seed, mask.counter)
    bits = np.empty_like(mask.bits)          # the probe's stand-in for the mask stream
    _, keep = gd.drop_path(x, P, rng=g)
    dp_out = {"out": y} if accepts(gd.drop_path, "out") else {}
    dpb_out = {"out": dx} if accepts(gd.drop_path_backward, "out") else {}
    keep_bool = mask.to_bool()
    nrng = np.random.Generator(np.random.Philox(0))

    def np_fwd():
        # what a NumPy user writes (gradkit's exact stream in NumPy, the reference, is
        # far too slow at these sizes to be a meaningful timing)
        k = nrng.random((rows, cols), dtype=np.float32) >= P
        return x * k * np.float32(1 / (1 - P)), k

    def np_drop_path():
        k = nrng.random((rows, 1), dtype=np.float32) >= P
        return x * (k * np.float32(1 / (1 - P))), k
    fns = {
        "gk fwd mask": lambda: gd.dropout(x, P, rng=g),
        "out fwd mask": lambda: gd.dropout(x, P, rng=g, out=y),
        "limit fwd mask": probe([x], [y, bits]),
        "gk fwd seed": lambda: gd.dropout(x, P, rng=g, store_mask=False),
        "out fwd seed": lambda: gd.dropout(x, P, rng=g, out=y, store_mask=False),
        "limit fwd seed": probe([x], [y]),
        "gk bwd mask": lambda: gd.dropout_backward(dy, mask),
        "out bwd mask": lambda: gd.dropout_backward(dy, mask, out=dx),
        "limit bwd mask": probe([dy, bits], [dx]),
        "gk bwd seed": lambda: gd.dropout_backward(dy, seed_only),
        "out bwd seed": lambda: gd.dropout_backward(dy, seed_only, out=dx),
        "limit bwd seed": probe([dy], [dx]),
        "gk drop_path": lambda: gd.drop_path(x, P, rng=g),
        "out drop_path": lambda: gd.drop_path(x, P, rng=g, **dp_out),
        "limit drop_path": probe([x], [y]),
        "gk drop_path bwd": lambda: gd.drop_path_backward(dy, keep, P),
        "out drop_path bwd": lambda: gd.drop_path_backward(dy, keep, P, **dpb_out),
        "limit drop_path bwd": probe([dy], [dx]),
        "np fwd": np_fwd, "np drop_path": np_drop_path,
        "np bwd": lambda: reference.dropout.dropout_backward(dy, keep_bool, P),
        "np drop_path bwd": lambda: reference.dropout.drop_path_backward(dy, keep, P),
    }
    if torch is not None:
        F = torch.nn.functional
        tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
        tmask = torch.from_numpy(keep_bool)
        tkeep = torch.from_numpy(keep.astype(np.float32) / (1 - P)).reshape(rows, 1)

        def timm_drop_path():
            r = tx.new_empty((rows, 1)).bernoulli_(1 - P).div_(1 - P)
            return tx * r

        fns["peer fwd"] = lambda: F.dropout(tx, P, training=True)
        fns["peer bwd"] = lambda: torch.ops.aten.native_dropout_backward(
            tdy, tmask, 1 / (1 - P))
        fns["peer drop_path"] = timm_drop_path
        fns["peer drop_path bwd"] = lambda: tdy * tkeep
    return fns


# (op, key, NumPy key, peer key, whether out= is offered)
OPS = [("dropout forward (mask stored)", "fwd mask", "np fwd", "peer fwd", True),
       ("dropout forward (seed only)", "fwd seed", "np fwd", "peer fwd", True),
       ("dropout backward (from mask)", "bwd mask", "np bwd", "peer bwd", True),
       ("dropout backward (from seed)", "bwd seed", "np bwd", "peer bwd", True),
       ("drop_path forward", "drop_path", "np drop_path", "peer drop_path",
        accepts(gd.drop_path, "out")),
       ("drop_path backward", "drop_path bwd", "np drop_path bwd", "peer drop_path bwd",
        accepts(gd.drop_path_backward, "out"))]


def _cases(torch, rows, cols, quick=False):
    lazy = Lazy(lambda: _build(torch, rows, cols))
    n = rows * cols
    out = []
    for op, key, np_key, peer_key, has_out in OPS:
        nbytes = 8 * n + (n // 8 if "mask" in op else 0)
        out.append(Case(
            op, label((rows, cols)), lazy[f"gk {key}"], bytes=nbytes, numpy=lazy[np_key],
            peer=lazy[peer_key] if torch is not None else None,
            peer_name="torch" if "drop_path" not in op else "torch (timm drop_path)",
            quick=quick, goal=GOAL[0], goal_ratio=GOAL[1], goal_limit=GOAL_LIMIT,
            limit=lazy[f"limit {key}"],
            gradkit_out=lazy[f"out {key}"] if has_out else None, elements=n))
    return out


def sweep(n):
    cols = min(1024, n)
    return _cases(try_import_torch(), max(2, n // cols), cols)


def cases():
    return _cases(try_import_torch(), scaled(8192), 1024, quick=True)
