"""Benchmark cases of the regularization penalties over 64 float32 arrays of 256K.

Limits (per array): the penalties read the parameters; ``add_l2_grad_`` and
``add_l1_grad_`` read parameters and gradients and write the gradients.  Peers: what a
PyTorch user writes -- ``sum(p.pow(2).sum())`` and ``sum(p.abs().sum())`` (temporaries
of every array's size: timed warm in the subprocess too), ``g.add_(p, alpha=lam)``
(in place) and ``g.add_(p.sign(), alpha=lam)``.
"""
import numpy as np

import gradkit
from .. import reference, regularization
from .core import GOAL_LIMIT, Case, Lazy, probe_each, scaled, try_import_torch

LAM = 1e-4


def _build(torch, n_arrays, size):
    rng = np.random.default_rng(5)
    params = [rng.standard_normal(size, dtype=np.float32) for _ in range(n_arrays)]
    grads = [rng.standard_normal(size, dtype=np.float32) for _ in range(n_arrays)]
    ref = reference.regularization
    fns = {
        "gk l2_penalty": lambda: regularization.l2_penalty(params, LAM),
        "np l2_penalty": lambda: ref.l2_penalty(params, LAM),
        "gk l1_penalty": lambda: regularization.l1_penalty(params, LAM),
        "np l1_penalty": lambda: ref.l1_penalty(params, LAM),
        # lam tiny: the gradients stay finite over many calls
        "gk add_l2_grad_": lambda: regularization.add_l2_grad_(grads, params, LAM),
        "np add_l2_grad_": lambda: ref.add_l2_grad_(grads, params, LAM),
        "gk add_l1_grad_": lambda: regularization.add_l1_grad_(grads, params, LAM),
        "np add_l1_grad_": lambda: ref.add_l1_grad_(grads, params, LAM),
        "limit penalty": probe_each([params], []),
        "limit grad": probe_each([params, grads], [grads]),
    }
    if torch is not None:
        tp = [torch.from_numpy(p) for p in params]
        tg = [torch.from_numpy(g) for g in grads]

        def threads(fn):
            def call():
                torch.set_num_threads(gradkit.get_num_threads())
                return fn()
            return call

        fns["peer l2_penalty"] = threads(lambda: float(sum(t.pow(2).sum() for t in tp))
                                         * LAM / 2)
        fns["peer l1_penalty"] = threads(lambda: float(sum(t.abs().sum() for t in tp)) * LAM)
        fns["peer add_l2_grad_"] = threads(
            lambda: [g.add_(p, alpha=-LAM) for g, p in zip(tg, tp)])
        fns["peer add_l1_grad_"] = threads(
            lambda: [g.add_(p.sign(), alpha=-LAM) for g, p in zip(tg, tp)])
    return fns


OPS = [("l2_penalty", "penalty", "torch sum(p.pow(2).sum())", False),
       ("l1_penalty", "penalty", "torch sum(p.abs().sum())", False),
       ("add_l2_grad_", "grad", "torch g.add_(p, alpha=lam)", True),
       ("add_l1_grad_", "grad", "torch g.add_(p.sign(), alpha=lam)", False)]


def _cases(torch, n_arrays, size):
    lazy = Lazy(lambda: _build(torch, n_arrays, size))
    n = n_arrays * size
    out = []
    for op, kind, peer_name, in_place in OPS:
        peer = lazy[f"peer {op}"] if torch is not None else None
        out.append(Case(
            op, f"{n_arrays}x{size} f32", lazy[f"gk {op}"],
            bytes=(4 if kind == "penalty" else 12) * n, numpy=lazy[f"np {op}"], peer=peer,
            peer_name=peer_name, peer_warm=peer if in_place else None,
            goal=">=1x warm torch, >=85% of limit", goal_ratio=1.0, goal_limit=GOAL_LIMIT,
            limit=lazy[f"limit {kind}"], elements=n, quick=op == "l2_penalty"))
    return out


def sweep(n):
    return _cases(try_import_torch(), 1, n)


def cases():
    return _cases(try_import_torch(), 64, scaled(2 ** 18))
