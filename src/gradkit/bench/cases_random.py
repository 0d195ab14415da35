"""Benchmark cases for gradkit.random, gradkit.dropout and gradkit.init.

Dropout is memory-bound: minimal traffic is x read + y written + 1 mask bit per
element.  RNG and init are compute-bound (bytes None).  The NumPy column is what a NumPy
user writes (``numpy.random.Generator`` over NumPy's own Philox): the pure-NumPy twins
in gradkit.reference spell out gradkit's exact stream and are far too slow and
memory-hungry at these sizes to be a meaningful timing."""
import numpy as np

from .core import Case, try_import_torch


def _torch():
    torch = try_import_torch()
    if torch is not None:
        import gradkit
        torch.set_num_threads(gradkit.get_num_threads())
    return torch


def _dropout_cases(torch, rows, cols, quick):
    from .. import dropout as gd
    from ..random import Generator

    n = rows * cols
    size = f"{rows}x{cols} f32"
    x = np.random.default_rng(0).standard_normal((rows, cols), dtype=np.float32)
    y = np.empty_like(x)
    dy = np.ones_like(x)
    dx = np.empty_like(x)
    g = Generator(1)
    _, mask = gd.dropout(x, 0.5, rng=g)
    seed_only = gd.DropoutMask.from_state(mask.shape, mask.p, mask.seed, mask.counter)
    nrng = np.random.Generator(np.random.Philox(0))

    def np_forward():
        keep = nrng.random((rows, cols), dtype=np.float32) < 0.5
        return x * keep * np.float32(2.0), keep

    keep_bool = mask.to_bool()
    peer_fwd = peer_bwd = None
    if torch is not None:
        xt = torch.from_numpy(x)
        dyt = torch.from_numpy(dy)
        mt = torch.from_numpy(keep_bool)
        peer_fwd = lambda: torch.nn.functional.dropout(xt, 0.5, training=True)  # noqa: E731
        peer_bwd = lambda: torch.ops.aten.native_dropout_backward(dyt, mt, 2.0)  # noqa: E731
    bytes_fwd = 8 * n + n // 8
    return [
        Case(op="dropout forward", size=size, bytes=bytes_fwd,
             gradkit=lambda: gd.dropout(x, 0.5, rng=g, out=y), numpy=np_forward,
             peer=peer_fwd, quick=quick,
             goal=">=20x torch F.dropout(training=True)" if not quick else "",
             goal_ratio=20.0 if not quick else None),
        Case(op="dropout backward (bit mask)", size=size, bytes=8 * n + n // 8,
             gradkit=lambda: gd.dropout_backward(dy, mask, out=dx),
             numpy=lambda: dy * keep_bool * np.float32(2.0), peer=peer_bwd, quick=quick),
        Case(op="dropout backward (from seed, no mask)", size=size, bytes=8 * n,
             gradkit=lambda: gd.dropout_backward(dy, seed_only, out=dx),
             numpy=lambda: dy * keep_bool * np.float32(2.0), peer=peer_bwd, quick=quick),
    ]


def _init_cases(torch, rows, cols):
    from .. import init
    from ..random import Generator

    size = f"{rows}x{cols} f32"
    w = np.empty((rows, cols), np.float32)
    g = Generator(2)
    nrng = np.random.Generator(np.random.Philox(0))
    wt = torch.empty(rows, cols) if torch is not None else None

    def peer(fn, **kw):
        return None if torch is None else (lambda: getattr(torch.nn.init, fn)(wt, **kw))

    bound = float(np.sqrt(3.0) * np.sqrt(2.0) / np.sqrt(cols))

    def np_trunc():
        # what a NumPy user writes: redraw outside [-2, 2] (rejection)
        z = nrng.standard_normal((rows, cols), dtype=np.float32)
        bad = np.abs(z) > 2
        while bad.any():
            z[bad] = nrng.standard_normal(int(bad.sum()), dtype=np.float32)
            bad = np.abs(z) > 2
        return z

    return [
        Case(op="init normal", size=size, bytes=None,
             gradkit=lambda: init.normal(None, rng=g, out=w),
             numpy=lambda: nrng.standard_normal((rows, cols), dtype=np.float32),
             peer=peer("normal_"), goal=">=4x torch.nn.init.normal_", goal_ratio=4.0),
        Case(op="init trunc_normal", size=size, bytes=None,
             gradkit=lambda: init.trunc_normal(None, rng=g, out=w), numpy=np_trunc,
             peer=peer("trunc_normal_"), goal=">=20x torch.nn.init.trunc_normal_",
             goal_ratio=20.0),
        Case(op="init kaiming_uniform", size=size, bytes=None,
             gradkit=lambda: init.kaiming_uniform(None, rng=g, out=w),
             numpy=lambda: nrng.uniform(-bound, bound, (rows, cols)).astype(np.float32),
             peer=peer("kaiming_uniform_"), goal=">=3x torch.nn.init.kaiming_uniform_",
             goal_ratio=3.0),
    ]


def cases():
    torch = _torch()
    return (_dropout_cases(torch, 8192, 1024, quick=False)
            + _dropout_cases(torch, 32, 256, quick=True)
            + _init_cases(torch, 4096, 4096))
