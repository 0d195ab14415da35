"""Benchmark cases of clipping by global norm fused into the optimizer step.

``opt.step(grads, max_norm=1)``: one pass reads the gradients for their norm, one
update pass scales them on the fly, instead of ``clip_grad_norm_`` then ``step``, whose
scaling pass reads and writes the gradients once more.  Per float32 parameter:

========  =====================  ====================  ==============
step      fused (norm + update)  unfused (+ scaling)   bound of the
                                                       ratio (bytes)
========  =====================  ====================  ==============
Adam      4 + 28 = 32 bytes      4 + 8 + 28 = 40       1.25x
SGD       4 + 12 = 16 bytes      4 + 8 + 12 = 24       1.5x
========  =====================  ====================  ==============

so on arrays past the cache the goal (>= 1.4x the unfused sequence of gradkit calls,
timed beside it as ``extra``) can be met by SGD and not by Adam: an Adam step whose
every pass ran at the memory's speed would be 1.25x the unfused one.  The limit is the
two passes of the fused step, each a probe of its streams (the gradients -> nothing,
then read p, g and the states; write p and the states), as for clip_grad_norm_.
Peer: torch's ``clip_grad_norm_`` then ``Adam(fused=True).step()`` / ``SGD().step()``
(torch's default, foreach) on tensors sharing the memory.

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
from .core import Case, Lazy, passes, probe_each, scaled, try_import_torch

MAX_NORM = 1.0


# step name -> (gradkit/reference class name, torch constructor options, state slots)
STEPS = {"Adam": ("Adam", {"fused": True}, 2), "SGD": ("SGD", {}, 0)}


def _case(torch, step, n_arrays, size, quick):
    name, torch_options, n_states = STEPS[step]

    def build():
        rng = np.random.default_rng(n_arrays)
        params = [rng.standard_normal(size, dtype=np.float32) for _ in range(n_arrays)]
        grads = [rng.standard_normal(size, dtype=np.float32) * 0.01
                 for _ in range(n_arrays)]
        scaled_grads = [g.copy() for g in grads]   # clipped in place by the unfused calls
        fused = getattr(optim, name)(params, lr=1e-6)
        unfused = getattr(optim, name)(params, lr=1e-6)
        twin = getattr(reference.optim, name)(params, lr=1e-6)
        shrinking = [MAX_NORM]   # the unfused calls' max_norm (see the docstring)

        def unfused_step():
            shrinking[0] *= 0.999
            clip.clip_grad_norm_(scaled_grads, shrinking[0])
            unfused.step(scaled_grads)

        # the norm pass, then the update's streams, array by array, on arrays of the
        # probe's own (it writes ORed bytes into what it updates; the gradients are
        # only read)
        ps = [p.copy() for p in params]
        states = [[np.zeros_like(p) + 1 for p in params] for _ in range(n_states)]
        fns = {"gk": lambda: fused.step(grads, max_norm=MAX_NORM),
               "np": lambda: twin.step(grads, max_norm=MAX_NORM),
               "unfused": unfused_step,
               "limit": passes(probe_each([grads], []),
                               probe_each([ps, grads, *states], [ps, *states]))}
        if torch is not None:
            tparams = [torch.nn.Parameter(torch.from_numpy(q)) for q in params]
            for t, q in zip(tparams, scaled_grads):
                t.grad = torch.from_numpy(q)
            peer = getattr(torch.optim, name)(tparams, lr=1e-6, **torch_options)
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
    options = ", ".join(f"{k}={v}" for k, v in torch_options.items())
    return Case(op=f"{step} step max_norm={MAX_NORM:g}", size=shape, gradkit=lazy["gk"],
                bytes=4 * (2 + 2 * (1 + n_states)) * n, numpy=lazy["np"], peer=peer,
                peer_name=f"torch clip_grad_norm_ + {name}({options})", peer_warm=peer,
                quick=quick, limit=lazy["limit"], elements=n,
                unfused=lazy["unfused"], goal_unfused=1.4, extra={"arrays": n_arrays},
                goal=">= 1.4x clip then step")


def cases():
    torch = try_import_torch()
    return [_case(torch, step, n_arrays, scaled(size), quick and step == "Adam")
            for step in STEPS
            for n_arrays, size, quick in ((1, 16 * 2 ** 20, True), (64, 2 ** 18, False))]
