"""Benchmark cases of gradkit.linear: a linear layer's forward and backward (the three
products ``x W^T + b``, ``dy W``, ``dy^T x`` and the bias gradient), float32 and
float64, against torch (``F.linear`` forward and autograd backward, as a user runs a
layer; its allocator warm in the runner's subprocess) and NumPy (the same products by
``@``, as gradkit.nn ran them before).

Compute-bound: no limit, only ratios; the goal is never slower than warm torch (the
rule for every case of the bench).  The products are 2 x batch x in x out flops
each: 3.2 GFlop for 512 x 1024 -> 1024, the case's ``extra["flops"]``.
"""
import numpy as np

from .. import linear as L
from .core import Case, Lazy, label, scaled, try_import_torch

BATCH, IN, OUT = 512, 1024, 1024


def _case(torch, dt, batch, fan_in, fan_out):
    def build():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, fan_in)).astype(dt)
        w = (rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in)).astype(dt)
        b = rng.standard_normal(fan_out).astype(dt)
        dy = rng.standard_normal((batch, fan_out)).astype(dt)

        def gk():
            L.linear(x, w, b)
            return L.linear_backward(dy, x, w)

        def numpy():
            x @ w.T + b
            return dy @ w, dy.T @ x, dy.sum(axis=0)

        fns = {"gk": gk, "np": numpy}
        if torch is not None:
            xt = torch.from_numpy(x).requires_grad_()
            wt = torch.from_numpy(w).requires_grad_()
            bt = torch.from_numpy(b).requires_grad_()
            dyt = torch.from_numpy(dy)

            def peer():
                for t in (xt, wt, bt):
                    t.grad = None
                torch.nn.functional.linear(xt, wt, bt).backward(dyt)
            fns["peer"] = peer
        return fns

    lazy = Lazy(build)
    flops = 3 * 2 * batch * fan_in * fan_out
    name = "f32" if dt == np.float32 else "f64"
    return Case("linear forward+backward", label((batch, fan_in), name) + f" -> {fan_out}",
                lazy["gk"], numpy=lazy["np"],
                peer=lazy["peer"] if torch is not None else None, peer_name="torch",
                goal=">=1x warm torch", goal_ratio=1.0, extra={"flops": flops},
                quick=dt == np.float32)


def cases():
    torch = try_import_torch()
    batch, fan_in, fan_out = scaled(BATCH), max(8, scaled(IN)), max(8, scaled(OUT))
    return [_case(torch, dt, batch, fan_in, fan_out) for dt in (np.float32, np.float64)]
