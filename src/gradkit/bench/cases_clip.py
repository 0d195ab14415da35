"""Benchmark cases of the clip family: clip_grad_norm_ and LossScaler.unscale_ over a
list of gradient arrays, against torch.nn.utils.clip_grad_norm_ and
torch.amp.GradScaler.unscale_ (torch._amp_foreach_non_finite_check_and_unscale_).

The gradkit call, the NumPy reference and the peer work in place on the SAME arrays
(torch tensors made with from_numpy share the memory): with max_norm = 1 every call
after the first still scales (the norm stays ~1, coefficient 1/(1 + 1e-6)), and the
unscale cases use scale 1, so repeated calls keep the data unchanged in size."""
import numpy as np

import gradkit
from gradkit import reference as ref
from gradkit.amp import LossScaler
from gradkit.clip import clip_grad_norm_

from .core import Case, try_import_torch


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


def _clip_case(torch, n_arrays, size, quick, goal, goal_ratio):
    grads = _grads(n_arrays, size)
    n = n_arrays * size
    peer = None
    if torch is not None:
        params = _torch_params(torch, grads)

        def peer():
            torch.set_num_threads(gradkit.get_num_threads())
            torch.nn.utils.clip_grad_norm_(params, 1.0)
    return Case(op="clip_grad_norm_", size=f"{n_arrays}x{size} f32",
                gradkit=lambda: clip_grad_norm_(grads, 1.0),
                bytes=12 * n,  # read for the norm, read + write for the scaling
                numpy=lambda: ref.clip_grad_norm_(grads, 1.0),
                peer=peer, quick=quick, goal=goal, goal_ratio=goal_ratio)


def _unscale_case(torch, n_arrays, size, quick, goal, goal_ratio):
    grads = _grads(n_arrays, size, seed=1)
    n = n_arrays * size
    scaler = LossScaler(init_scale=1.0, growth_interval=2 ** 30)

    def gk():
        scaler.unscale_(grads)
        scaler.update()

    ref_scaler = ref.amp.LossScaler(init_scale=1.0, growth_interval=2 ** 30)

    def numpy_call():
        ref_scaler.unscale_(grads)
        ref_scaler.update()

    peer = None
    if torch is not None:
        params = _torch_params(torch, grads)
        opt = torch.optim.SGD(params, lr=0.0)
        tscaler = torch.amp.GradScaler("cpu", init_scale=1.0, growth_interval=2 ** 30)
        tscaler.scale(torch.ones(()))  # creates the scale tensor

        def peer():
            torch.set_num_threads(gradkit.get_num_threads())
            tscaler.unscale_(opt)
            tscaler.update()
    return Case(op="LossScaler.unscale_", size=f"{n_arrays}x{size} f32", gradkit=gk,
                bytes=8 * n,  # read + write, the inf/NaN check fused into the same pass
                numpy=numpy_call, peer=peer, peer_name="torch GradScaler", quick=quick,
                goal=goal, goal_ratio=goal_ratio)


def cases():
    torch = try_import_torch()
    return [
        _clip_case(torch, 64, 256 * 1024, True, ">=1.8x torch", 1.8),
        _clip_case(torch, 64, 1024, True, "per-call overhead", None),
        _unscale_case(torch, 64, 256 * 1024, True, ">= torch, one fused pass", 1.0),
        _unscale_case(torch, 64, 1024, True, "per-call overhead", None),
    ]
