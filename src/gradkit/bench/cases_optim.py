"""Benchmark cases of the optimizers and regularization.

One optimizer step on 16M float32 parameters in one array and on 64 arrays of 256K (the
multi-tensor path), and an Adam step on 1,000 parameters (per-call overhead).  Minimal
bytes per float32 parameter of a step (read param, grad and states, write param and
states): Adam/AdamW 28, RMSprop and Adagrad 20, SGD with momentum 20, LARS 32 (its
norms read param and grad once more).  Peers: torch.optim on tensors that share the
parameter and gradient memory (``torch.from_numpy``): ``fused=True`` for Adam, AdamW
and Adagrad, torch's default (single-tensor on CPU) for RMSprop and SGD.

The arrays of a case are made on its first call (the runner's warm-up), so listing the
cases costs no memory; the parameter and gradient arrays are shared by the cases of one
size (each step moves the parameters a little; the data stay finite).
"""
import numpy as np

import gradkit
from .. import optim, reference, regularization
from .core import Case, scaled, try_import_torch

BYTES = {"Adam": 28, "AdamW": 28, "RMSprop": 20, "Adagrad": 20, "SGD": 20, "LARS": 32}

_shared: dict = {}


def _arrays(n_arrays, size):
    """Parameters and gradients (float32), made once per shape."""
    key = (n_arrays, size)
    if key not in _shared:
        rng = np.random.default_rng(n_arrays)
        _shared[key] = ([rng.standard_normal(size, dtype=np.float32) for _ in range(n_arrays)],
                        [rng.standard_normal(size, dtype=np.float32) * 0.01
                         for _ in range(n_arrays)])
    return _shared[key]


class _Lazy:
    """Builds a case's optimizers on the first call of any of its callables."""

    def __init__(self, build):
        self._build, self._fns = build, None

    def fn(self, key):
        def call():
            if self._fns is None:
                self._fns = self._build()
            return self._fns[key]()
        return call


def _step_case(torch, name, kw, n_arrays, size, peer_kw, goal, goal_ratio=None,
               goal_roofline=None, quick=False):
    def build():
        params, grads = _arrays(n_arrays, size)
        mine = getattr(optim, name)(params, **kw)
        twin = getattr(reference.optim, name)(params, **kw)
        fns = {"gk": lambda: mine.step(grads), "np": lambda: twin.step(grads)}
        if torch is not None and hasattr(torch.optim, name):
            tparams = [torch.nn.Parameter(torch.from_numpy(p)) for p in params]
            for t, g in zip(tparams, grads):
                t.grad = torch.from_numpy(g)
            peer = getattr(torch.optim, name)(tparams, **kw, **peer_kw)

            def peer_step():
                torch.set_num_threads(gradkit.get_num_threads())
                peer.step()
            fns["peer"] = peer_step
        return fns

    lazy = _Lazy(build)
    n = n_arrays * size
    shape = f"{size} f32" if n_arrays == 1 else f"{n_arrays}x{size} f32"
    peer_name = "torch " + (", ".join(f"{k}={v}" for k, v in peer_kw.items()) or "default")
    if name == "LARS":
        peer_name = "no peer"
    return Case(op=f"{name} step", size=shape, gradkit=lazy.fn("gk"), bytes=BYTES[name] * n,
                numpy=lazy.fn("np"), peer=lazy.fn("peer") if torch is not None and
                name != "LARS" else None, peer_name=peer_name, quick=quick, goal=goal,
                goal_ratio=goal_ratio, goal_roofline=goal_roofline,
                extra={"options": dict(kw), "arrays": n_arrays})


def _penalty_case(torch, n_arrays, size):
    def build():
        params, grads = _arrays(n_arrays, size)
        fns = {"gk": lambda: regularization.l2_penalty(params, 1e-4),
               "np": lambda: reference.regularization.l2_penalty(params, 1e-4)}
        if torch is not None:
            tp = [torch.from_numpy(p) for p in params]

            def peer():
                torch.set_num_threads(gradkit.get_num_threads())
                return float(sum(t.pow(2).sum() for t in tp)) * 1e-4 / 2
            fns["peer"] = peer
        return fns

    lazy = _Lazy(build)
    return Case(op="l2_penalty", size=f"{n_arrays}x{size} f32", gradkit=lazy.fn("gk"),
                bytes=4 * n_arrays * size, numpy=lazy.fn("np"),
                peer=lazy.fn("peer") if torch is not None else None,
                peer_name="torch sum(p**2)", extra={"arrays": n_arrays})


def cases():
    torch = try_import_torch()
    big, many, each = scaled(16 * 2 ** 20), 64, scaled(2 ** 18)
    fused = {"fused": True}
    goal_adam = ">= torch fused=True, >= 90% roofline"
    out = []
    for name in ("Adam", "AdamW"):
        for n_arrays, size, quick in ((1, big, name == "Adam"), (many, each, False)):
            out.append(_step_case(torch, name, {}, n_arrays, size, fused, goal_adam,
                                  goal_ratio=1.0, goal_roofline=0.9, quick=quick))
    out += [
        _step_case(torch, "RMSprop", {}, 1, big, {}, ">= 8x torch default",
                   goal_ratio=8.0, quick=True),
        _step_case(torch, "Adagrad", {}, 1, big, fused, ">= torch fused=True",
                   goal_ratio=1.0),
        _step_case(torch, "Adam", {}, 1, 1000, {}, "<= 1/3 of torch's time (per call)",
                   goal_ratio=3.0, quick=True),
        _step_case(torch, "SGD", dict(lr=0.01, momentum=0.9), many, each, {}, ""),
        _step_case(torch, "LARS", dict(lr=0.1, weight_decay=1e-4), many, each, {}, ""),
        _penalty_case(torch, many, each),
    ]
    return out
