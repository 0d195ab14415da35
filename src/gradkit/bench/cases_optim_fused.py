"""Benchmark cases of clipping by global norm fused into the optimizer step.

``opt.step(grads, max_norm=1)``: one pass reads the gradients for their norm, one
update pass scales them on the fly -- 32 bytes per float32 parameter for Adam (4 for
the norm, 28 for the step) instead of 40 for ``clip_grad_norm_`` then ``step`` (the
scaling pass reads and writes the gradients once more).  Timed beside it (``extra``):
that unfused sequence of gradkit calls; the goal is >= 1.4x it.  Peer: torch's
``clip_grad_norm_`` then ``Adam(fused=True).step()`` on tensors sharing the memory.
The limit is the update's own streams (read p, g, m, v; write p, m, v), so the norm
pass shows as the share of it the fused step cannot reach (at best 28/32).

One array of 16M parameters and 64 arrays of 256K (the multi-tensor path).  The
gradients have norm ~40 and every call clips (the fused step leaves them as they are).
The unfused calls and torch scale their own copy in place: with a fixed max_norm its
norm would settle where the coefficient rounds to exactly 1 and gradkit's clip skips
the scaling pass, so their max_norm shrinks by 0.1% a call (coefficient ~0.999 every
call; after 10,000 calls the gradients are still far from float32's small numbers).
Arrays and optimizers are made on a case's first call (the runner's warm-up): listing
the cases costs no memory.
"""
import numpy as np

import gradkit
from .. import clip, optim, reference
from .core import Case, Lazy, probe_each, scaled, try_import_torch

MAX_NORM = 1.0


def _case(torch, n_arrays, size, quick):
    def build():
        rng = np.random.default_rng(n_arrays)
        params = [rng.standard_normal(size, dtype=np.float32) for _ in range(n_arrays)]
        grads = [rng.standard_normal(size, dtype=np.float32) * 0.01
                 for _ in range(n_arrays)]
        scaled_grads = [g.copy() for g in grads]   # clipped in place by the unfused calls
        fused = optim.Adam(params, lr=1e-6)
        unfused = optim.Adam(params, lr=1e-6)
        twin = reference.optim.Adam(params, lr=1e-6)
        shrinking = [MAX_NORM]   # the unfused calls' max_norm (see the docstring)

        def unfused_step():
            shrinking[0] *= 0.999
            clip.clip_grad_norm_(scaled_grads, shrinking[0])
            unfused.step(scaled_grads)

        # the update's streams, array by array, on arrays of the probe's own (it writes
        # ORed bytes into what it updates; the gradients are only read)
        ps = [p.copy() for p in params]
        ms = [np.zeros_like(p) + 1 for p in params]
        vs = [np.zeros_like(p) + 1 for p in params]
        fns = {"gk": lambda: fused.step(grads, max_norm=MAX_NORM),
               "np": lambda: twin.step(grads, max_norm=MAX_NORM),
               "unfused": unfused_step,
               "limit": probe_each([ps, grads, ms, vs], [ps, ms, vs])}
        if torch is not None:
            tparams = [torch.nn.Parameter(torch.from_numpy(q)) for q in params]
            for t, q in zip(tparams, scaled_grads):
                t.grad = torch.from_numpy(q)
            peer = torch.optim.Adam(tparams, lr=1e-6, fused=True)
            peer_norm = [MAX_NORM]

            def peer_step():
                torch.set_num_threads(gradkit.get_num_threads())
                peer_norm[0] *= 0.999
                torch.nn.utils.clip_grad_norm_(tparams, peer_norm[0])
                peer.step()
            fns["peer"] = peer_step
        return fns

    lazy = Lazy(build)
    n = n_arrays * size
    shape = f"{size} f32" if n_arrays == 1 else f"{n_arrays}x{size} f32"
    peer = lazy["peer"] if torch is not None else None
    return Case(op=f"Adam step max_norm={MAX_NORM:g}", size=shape, gradkit=lazy["gk"],
                bytes=32 * n, numpy=lazy["np"], peer=peer,
                peer_name="torch clip_grad_norm_ + Adam(fused=True)", peer_warm=peer,
                quick=quick, limit=lazy["limit"], elements=n,
                unfused=lazy["unfused"], goal_unfused=1.4, extra={"arrays": n_arrays},
                goal=">= 1.4x clip then step")


def cases():
    torch = try_import_torch()
    return [_case(torch, 1, scaled(16 * 2 ** 20), True),
            _case(torch, 64, scaled(2 ** 18), False)]
