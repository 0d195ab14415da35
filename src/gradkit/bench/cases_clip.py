"""Benchmark cases of gradient clipping and loss-scale unscaling over lists of float32
gradients: clip_grad_norm_, clip_grad_value_ and LossScaler.unscale_, against
torch.nn.utils.clip_grad_norm_ / clip_grad_value_ and torch.amp.GradScaler("cpu")'s
unscale_ (torch._amp_foreach_non_finite_check_and_unscale_).

Every contender works in place on gradients of its own.  clip_grad_norm_ is called with
``max_norm`` = 0.9999 x the previous call's (starting just under the norm), so every
call really scales (gradkit skips the multiplication when the coefficient is 1; after
1e5 calls the values are still ~1e-5, far from denormals).  The unscale cases use scale
1, so repeated calls keep the data.  Limits (per array, in order): clip_grad_norm_ reads
the gradients (the norm) then reads and writes them (the scaling); clip_grad_value_ and
unscale_ read and write them once (the inf/NaN check fused into the same pass).  The
torch calls write only the tensors they are given: warm as they come.
"""
import numpy as np

import gradkit
from gradkit import reference as ref
from gradkit.amp import LossScaler
from gradkit.clip import clip_grad_norm_, clip_grad_value_

from .core import GOAL_LIMIT, Case, Lazy, passes, probe_each, scaled, try_import_torch

DECAY = 0.9999


def _grads(n_arrays, size, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(size, dtype=np.float32) for _ in range(n_arrays)]


def _torch_params(torch, grads):
    params = []
    for g in grads:
        # the parameter values are never read: an untouched empty tensor costs no memory
        p = torch.nn.Parameter(torch.empty(g.shape, dtype=torch.float32))
        p.grad = torch.from_numpy(g)  # shares g's memory
        params.append(p)
    return params


def _threads(torch, fn):
    def call():
        torch.set_num_threads(gradkit.get_num_threads())
        return fn()
    return call


def _clipper(clip, grads, arrays=None):
    """clip(arrays, max_norm) with max_norm decaying by DECAY per call; ``grads`` are
    the NumPy gradients (``arrays``, e.g. torch parameters, share their memory)."""
    total = float(np.sqrt(sum(float(np.dot(g, g)) for g in grads)))
    state = [total * DECAY]
    arrays = grads if arrays is None else arrays

    def call():
        clip(arrays, state[0])
        state[0] *= DECAY
    return call


def _unscale(scaler, grads):
    def call():
        scaler.unscale_(grads)
        scaler.update()
    return call


def _build(torch, who, key, n_arrays, size):
    """The callables of one contender ("gk": gradkit and the limit on its arrays,
    "np", "peer") for one op: each contender's gradients are made only when it runs."""
    g = _grads(n_arrays, size, seed={"gk": 0, "np": 1, "peer": 2}[who])
    if who == "gk":
        scaler = LossScaler(init_scale=1.0, growth_interval=2 ** 30)
        return {"norm": _clipper(clip_grad_norm_, g),
                "value": lambda: clip_grad_value_(g, 1.0),
                "unscale": _unscale(scaler, g),
                "limit": (passes(probe_each([g], []), probe_each([g], [g])) if key == "norm"
                          else probe_each([g], [g]))}
    if who == "np":
        scaler = ref.amp.LossScaler(init_scale=1.0, growth_interval=2 ** 30)
        return {"norm": _clipper(ref.clip_grad_norm_, g),
                "value": lambda: ref.clip_grad_value_(g, 1.0),
                "unscale": _unscale(scaler, g)}
    params = _torch_params(torch, g)
    if key == "norm":
        return {"norm": _threads(torch, _clipper(
            lambda ps, m: torch.nn.utils.clip_grad_norm_(ps, m), g, params))}
    if key == "value":
        return {"value": _threads(torch, lambda: torch.nn.utils.clip_grad_value_(params, 1.0))}
    opt = torch.optim.SGD(params, lr=0.0)
    tscaler = torch.amp.GradScaler("cpu", init_scale=1.0, growth_interval=2 ** 30)
    tscaler.scale(torch.ones(()))  # creates the scale tensor

    def peer_unscale():
        tscaler.unscale_(opt)
        tscaler.update()
    return {"unscale": _threads(torch, peer_unscale)}


def _peer_ok(torch):
    """torch.amp.GradScaler("cpu") (torch >= 2.3), else no unscale peer."""
    if torch is None:
        return False
    try:
        torch.amp.GradScaler("cpu", init_scale=1.0)
    except Exception:
        return False
    return True


OPS = [("clip_grad_norm_", "norm", "torch clip_grad_norm_", 1.0),
       ("clip_grad_value_", "value", "torch clip_grad_value_", 1.0),
       ("LossScaler.unscale_", "unscale", "torch GradScaler", 1.5)]


def _cases(torch, n_arrays, size, quick=False, overhead=False):
    n = n_arrays * size
    out = []
    for op, key, peer_name, ratio in OPS:
        gk, np_, pr = (Lazy(lambda who=who, key=key: _build(torch, who, key, n_arrays, size))
                       for who in ("gk", "np", "peer"))
        has_peer = torch is not None and (key != "unscale" or _peer_ok(torch))
        peer = pr[key] if has_peer else None
        if overhead:
            goal, ratio, limit = "per-call overhead", None, None
        else:
            goal, limit = f">={ratio:g}x warm torch, >=85% of limit", GOAL_LIMIT
        out.append(Case(
            op, f"{n_arrays}x{size} f32", gk[key],
            bytes=(12 if key == "norm" else 8) * n, numpy=np_[key], peer=peer,
            peer_name=peer_name if (torch is not None or key != "unscale") else "torch",
            peer_warm=peer, quick=quick, goal=goal, goal_ratio=ratio, goal_limit=limit,
            limit=gk["limit"], elements=n))
    return out


def sweep(n):
    return _cases(try_import_torch(), 1, n)


def cases():
    torch = try_import_torch()
    return (_cases(torch, 64, scaled(256 * 1024), quick=True)
            + _cases(torch, 64, 1024, quick=True, overhead=True))
