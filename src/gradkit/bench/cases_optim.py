"""Benchmark cases of the optimizer steps, float32.

One step on 16M parameters in one array and on 64 arrays of 256K (the multi-tensor
path), and an Adam step on 1,000 parameters (per-call overhead).  Limits (per array, in
order): a step reads the parameter, the gradient and its states and writes the
parameter and the states back -- Adam/AdamW two states, SGD with momentum, RMSprop,
Adagrad and LARS one; LARS first reads parameter and gradient once more for its two
norms (a separate pass: the trust ratio scales the whole update).  The probe works on
parameter and state arrays of its own (it writes garbage), of the same sizes.

Peers: torch.optim on tensors sharing the parameter and gradient memory
(``torch.from_numpy``): ``fused=True`` for Adam, AdamW and Adagrad, torch's default for
SGD and RMSprop.  The fused steps and SGD write only their tensors (warm as they come);
RMSprop's default allocates temporaries and is also timed in the warm subprocess, as are
NAdam, RAdam, Adamax and Adadelta (torch's default, the for-loop over tensors: they have
no fused CPU kernel; NAdam, RAdam, Adamax and Adadelta move two states, Lion one).
LAMB, like LARS, makes two passes: the two norms (p, g, m, v read; the new moments and
the update u computed and written, u to a scratch array the optimizer keeps), then the
update (p and u read, p written): 40 bytes per element.  (With ``low_memory=True``, and
for 16-bit storage, the first pass writes nothing and the second reads p, g, m, v and
writes p, m, v, computing u again: 44 bytes, not the case timed here.)  LARS, Lion and
LAMB have no torch optimizer.  Adafactor steps matrices (16384 x 1024 and 64 of 512 x
512: its factored path, the one that matters), whose states (a value per row and per
column) are too small to count: its minimum is one read-modify-write of p and one read of g (12 bytes),
but the clipping by the RMS of the update needs all of it before p is written, so its
limit is its three passes, each a probe: p and g read (row/column sums, RMS(p)), g read
and the update U written (to a scratch array the optimizer keeps; its RMS), then p read
and written with U read: 28 bytes per element (with ``low_memory=True`` the second pass
writes nothing and the third reads g and computes U again: 24 bytes).  Its peer is torch's
``foreach=True`` (its default is a for-loop over the tensors), timed warm too.

The arrays of a case are made on its first call (the runner's warm-up), so listing the
cases costs no memory; each step moves the parameters a little, the data stay finite.
"""
import math

import numpy as np

import gradkit
from .. import optim, reference
from .core import GOAL_LIMIT, Case, Lazy, passes, probe_each, scaled, try_import_torch

BYTES = {"Adam": 28, "AdamW": 28, "RMSprop": 20, "Adagrad": 20, "SGD": 20, "LARS": 28,
         "NAdam": 28, "RAdam": 28, "Adamax": 28, "Adadelta": 28, "Lion": 20, "LAMB": 28,
         "Adafactor": 12}
STATES = {"Adam": 2, "AdamW": 2, "RMSprop": 1, "Adagrad": 1, "SGD": 1, "LARS": 1,
          "NAdam": 2, "RAdam": 2, "Adamax": 2, "Adadelta": 2, "Lion": 1, "LAMB": 2,
          "Adafactor": 0}
OPTIONS = {"Adam": {}, "AdamW": {}, "RMSprop": {}, "Adagrad": {},
           "SGD": {"lr": 0.01, "momentum": 0.9}, "LARS": {"lr": 0.1, "weight_decay": 1e-4},
           "NAdam": {}, "RAdam": {}, "Adamax": {}, "Adadelta": {}, "Lion": {"lr": 1e-4},
           "LAMB": {"lr": 1e-3, "weight_decay": 1e-2}, "Adafactor": {}}
PEER = {"Adam": {"fused": True}, "AdamW": {"fused": True}, "Adagrad": {"fused": True},
        "SGD": {}, "RMSprop": {}, "NAdam": {}, "RAdam": {}, "Adamax": {}, "Adadelta": {},
        "Adafactor": {"foreach": True}}
PEER_IN_PLACE = {"Adam", "AdamW", "Adagrad", "SGD"}


def _shape(name, size):
    """Adafactor's arrays are matrices (1024 columns from 4M elements, else 512): its
    factored path; the others' are vectors."""
    if name != "Adafactor":
        return size
    cols = math.gcd(size, 1024 if size >= 2 ** 22 else 512)
    return (size // cols, cols)


def _arrays(n_arrays, size, seed, name=None):
    rng = np.random.default_rng(seed)
    shape = _shape(name, size)
    return ([rng.standard_normal(shape, dtype=np.float32) for _ in range(n_arrays)],
            [rng.standard_normal(shape, dtype=np.float32) * 0.01 for _ in range(n_arrays)])


def _limit(name, params, grads):
    # the probe writes garbage (ORed bytes) into what it writes: it updates arrays of
    # its own, never the parameters the steps read
    params = [p.copy() for p in params]
    states = [[np.zeros_like(p) for p in params] for _ in range(STATES[name])]
    update = probe_each([params, grads] + states, [params] + states)
    if name == "LARS":
        return passes(probe_each([params, grads], []), update)
    if name == "LAMB":  # the norms (the new moments and u stored), then the update (u read)
        u = [np.zeros_like(p) for p in params]
        return passes(probe_each([params, grads] + states, states + [u]),
                      probe_each([params, u], [params]))
    if name == "Adafactor":  # sums of g^2 and p^2; U stored and its RMS; the update (U read)
        u = [np.zeros_like(p) for p in params]
        return passes(probe_each([params, grads], []), probe_each([grads], [u]),
                      probe_each([params, u], [params]))
    return update


def step_case(torch, name, n_arrays, size, quick=False, goal_time=None):
    kw = OPTIONS[name]

    def build():
        params, grads = _arrays(n_arrays, size, 0, name)
        mine = getattr(optim, name)(params, **kw)
        twin = []           # the NumPy twin and its parameters: made only if it is timed

        def np_step():
            if not twin:
                twin.append(getattr(reference.optim, name)(
                    _arrays(n_arrays, size, 0, name)[0], **kw))
            return twin[0].step(grads)
        fns = {"gk": lambda: mine.step(grads), "np": np_step,
               "limit": _limit(name, params, grads)}
        if torch is not None and name in PEER:
            t_params, t_grads = _arrays(n_arrays, size, 0, name)
            tparams = [torch.nn.Parameter(torch.from_numpy(p)) for p in t_params]
            for t, g in zip(tparams, t_grads):
                t.grad = torch.from_numpy(g)
            peer = getattr(torch.optim, name)(tparams, **kw, **PEER[name])

            def peer_step():
                torch.set_num_threads(gradkit.get_num_threads())
                peer.step()
            fns["peer"] = peer_step
        return fns

    lazy = Lazy(build)
    n = n_arrays * size
    dims = _shape(name, size)
    dims = dims if isinstance(dims, int) else "x".join(map(str, dims))
    shape = f"{dims} f32" if n_arrays == 1 else f"{n_arrays}x{dims} f32"
    has_peer = torch is not None and name in PEER
    peer_name = ("torch " + (", ".join(f"{k}={v}" for k, v in PEER[name].items())
                             or "default")) if name in PEER else "no peer"
    peer = lazy["peer"] if has_peer else None
    if goal_time is not None:
        goal = f"<= {goal_time * 1e6:g} us per call"
        ratio = limit = None
    else:
        goal, ratio, limit = ">=1x warm torch, >=85% of limit", 1.0, GOAL_LIMIT
        if name not in PEER:
            goal, ratio = ">=85% of limit", None
    return Case(op=f"{name} step", size=shape, gradkit=lazy["gk"], bytes=BYTES[name] * n,
                numpy=lazy["np"], peer=peer, peer_name=peer_name,
                peer_warm=peer if name in PEER_IN_PLACE else None, quick=quick,
                goal=goal, goal_ratio=ratio,
                goal_limit=limit, goal_time=goal_time, limit=lazy["limit"],
                elements=n, extra={"options": dict(kw), "arrays": n_arrays})


def sweep(n):
    torch = try_import_torch()
    return [step_case(torch, name, 1, n) for name in BYTES]


def cases():
    torch = try_import_torch()
    big, many, each = scaled(16 * 2 ** 20), 64, scaled(2 ** 18)
    out = []
    for name in BYTES:
        out.append(step_case(torch, name, 1, big, quick=name == "Adam"))
        out.append(step_case(torch, name, many, each))
    out.append(step_case(torch, "Adam", 1, 1000, quick=True, goal_time=2e-6))
    return out
