"""Benchmark cases of gradkit.init against torch.nn.init, float32.

The random initializers are compute-bound (Philox, then a uniform, normal or truncated
normal transform; orthogonal: Householder products in float64), so they have no limit, only ratios; torch.nn.init
fills a tensor in place, so the peer is warm as it is.  The constant fills (zeros, ones,
constant, eye) are memory-bound: their limit writes the array once, with the stores a
fill chooses (string stores in cache, non-temporal past twice the streaming size).
gradkit is timed allocating its result and with ``out=``; NumPy is what a NumPy user writes
(``numpy.random.Generator`` over NumPy's Philox, ``np.full``, ``np.eye``).
LeCun's initializers have no torch name: the peer is the torch call with the same
distribution (kaiming_uniform_ with the 'linear' gain; trunc_normal_ at two standard
deviations).
"""
import math

import numpy as np

from .. import init
from ..random import Generator
from .core import GOAL_LIMIT, Case, Lazy, label, probe, scaled, try_import_torch

TRUNC_STD_2 = 0.87962566103423978   # std of a unit normal truncated to [-2, 2]


def _specs(rows, cols):
    """(name, gradkit kwargs, torch.nn.init name, torch kwargs, NumPy call, goal ratio,
    memory-bound)"""
    fan_in = cols
    b_xu = math.sqrt(6.0 / (rows + cols))
    s_xn = math.sqrt(2.0 / (rows + cols))
    b_ku = math.sqrt(2.0) * math.sqrt(3.0 / fan_in)     # a=0 leaky_relu: gain sqrt(2)
    s_kn = math.sqrt(2.0 / fan_in)
    b_lu = math.sqrt(3.0 / fan_in)
    s_ln = math.sqrt(1.0 / fan_in) / TRUNC_STD_2
    shape = (rows, cols)

    def u(b):
        return lambda r: r.uniform(-b, b, shape).astype(np.float32)

    def nrm(s):
        return lambda r: r.standard_normal(shape, dtype=np.float32) * np.float32(s)

    def trunc(s):
        def call(r):
            z = r.standard_normal(shape, dtype=np.float32)
            bad = np.abs(z) > 2
            while bad.any():                # what a NumPy user writes: redraw (rejection)
                z[bad] = r.standard_normal(int(bad.sum()), dtype=np.float32)
                bad = np.abs(z) > 2
            return z * np.float32(s)
        return call

    return [
        ("normal", {}, "normal_", {}, nrm(1.0), 4.0, False),
        ("uniform", {}, "uniform_", {}, u(1.0), 3.0, False),
        ("trunc_normal", {}, "trunc_normal_", {}, trunc(1.0), 3.0, False),
        ("xavier_uniform", {}, "xavier_uniform_", {}, u(b_xu), 3.0, False),
        ("xavier_normal", {}, "xavier_normal_", {}, nrm(s_xn), 3.0, False),
        ("kaiming_uniform", {}, "kaiming_uniform_", {}, u(b_ku), 3.0, False),
        ("kaiming_normal", {}, "kaiming_normal_", {}, nrm(s_kn), 3.0, False),
        ("lecun_uniform", {}, "kaiming_uniform_", {"nonlinearity": "linear"}, u(b_lu), 3.0,
         False),
        ("lecun_normal", {}, "trunc_normal_", {"std": s_ln, "a": -2 * s_ln, "b": 2 * s_ln},
         trunc(s_ln), 3.0, False),
        ("zeros", {}, "zeros_", {}, lambda r: np.zeros(shape, np.float32), 1.0, True),
        ("ones", {}, "ones_", {}, lambda r: np.ones(shape, np.float32), 1.0, True),
        ("constant", {"value": 0.5}, "constant_", {"val": 0.5},
         lambda r: np.full(shape, 0.5, np.float32), 1.0, True),
        ("eye", {}, "eye_", {}, lambda r: np.eye(rows, cols, dtype=np.float32), 1.0, True),
    ]


def _case(torch, spec, rows, cols):
    name, kw, tname, tkw, np_call, ratio, memory = spec

    def build():
        w = np.empty((rows, cols), np.float32)
        g = Generator(2)
        nrng = np.random.Generator(np.random.Philox(0))
        fn = getattr(init, name)
        fns = {"gk": lambda: fn((rows, cols), rng=g, **kw),
               "out": lambda: fn(None, rng=g, out=w, **kw),
               "np": lambda: np_call(nrng), "limit": probe([], [w], store=2)}
        if torch is not None:
            wt = torch.empty(rows, cols)
            tfn = getattr(torch.nn.init, tname)
            fns["peer"] = lambda: tfn(wt, **tkw)
        return fns

    lazy = Lazy(build)
    peer = lazy["peer"] if torch is not None else None
    goal = (f">={ratio:g}x torch.nn.init.{tname}" if not memory
            else ">=1x torch, >=85% of limit")
    return Case(f"init {name}", label((rows, cols)), lazy["gk"], numpy=lazy["np"],
                bytes=4 * rows * cols if memory else None, peer=peer,
                peer_name=f"torch {tname}", peer_warm=peer, goal=goal, goal_ratio=ratio,
                goal_limit=GOAL_LIMIT if memory else None,
                limit=lazy["limit"] if memory else None, gradkit_out=lazy["out"],
                elements=rows * cols, quick=name in ("normal", "zeros"))


def _orthogonal(torch, n):
    def build():
        w = np.empty((n, n), np.float32)
        g = Generator(3)
        fns = {"gk": lambda: init.orthogonal((n, n), rng=g),
               "out": lambda: init.orthogonal(None, rng=g, out=w)}
        if torch is not None:
            wt = torch.empty(n, n)
            fns["peer"] = lambda: torch.nn.init.orthogonal_(wt)
        return fns

    lazy = Lazy(build)
    peer = lazy["peer"] if torch is not None else None
    return Case("init orthogonal", label((n, n)), lazy["gk"], peer=peer,
                peer_name="torch orthogonal_", peer_warm=peer,
                goal=">=3x torch.nn.init.orthogonal_", goal_ratio=3.0,
                gradkit_out=lazy["out"], elements=n * n)


def sweep(n):
    torch = try_import_torch()
    cols = min(1024, n)
    rows = max(1, n // cols)
    return [_case(torch, s, rows, cols) for s in _specs(rows, cols) if s[-1]]


def cases():
    torch = try_import_torch()
    rows = cols = scaled(4096)
    return ([_case(torch, s, rows, cols) for s in _specs(rows, cols)]
            + [_orthogonal(torch, scaled(1024))])
