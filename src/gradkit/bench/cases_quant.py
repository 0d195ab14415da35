"""Benchmark cases for low-bit weights (gradkit.quant.gptq, qlinear).

GPTQ is compute-bound: its work is the Hessian's X^T X (n d^2 flops), one Cholesky
factorization and one triangular inverse (d^3 / 3 each), and the lazy block updates
(rows d^2 flops in all: a gemm of rows x d/2 x d).  Its limit is that many flops as
BLAS gemm/syrk run them at their best (a syrk on X, a gemm of d x d/3 x d for the
factorization, one of rows x d/2 x d for the updates), timed in the same run: the
"BLAS-bound time" of the goal.  The peer is the reference
algorithm in PyTorch on the CPU, written from the paper (Algorithm 1 with the lazy
block updates, the reference's quantizer and group handling), float32.

qlinear at small batches is memory-bound on the weight: 4-bit group-128 weights are
about 1/8 of the float32 bytes.  A model's layers do not stay in cache between two
uses, so the batch-1 and batch-16 cases cycle through enough layers (1 GB of float32
weights) that each call reads its weight from memory, for gradkit and for the peer
(NumPy's float32 ``x @ W.T``, the same layers) alike; the limit is a probe reading the
same packed bytes, scales and zeros.
"""
import numpy as np

from .core import Case, Lazy, label, probe, scaled, try_import_torch


def torch_gptq(torch, W, H, bits=4, group_size=128, block_size=128, percdamp=0.01):
    """The reference GPTQ in PyTorch (the peer): dequantized weight as a tensor."""
    W = W.clone().float()
    H = H.clone()
    rows, cols = W.shape
    maxq = 2 ** bits - 1

    def find_params(x):
        xmin = torch.clamp(x.min(1).values, max=0)
        xmax = torch.clamp(x.max(1).values, min=0)
        both = (xmin == 0) & (xmax == 0)
        xmin[both], xmax[both] = -1, 1
        scale = (xmax - xmin) / maxq
        return scale, torch.round(-xmin / scale)

    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    damp = percdamp * torch.mean(torch.diag(H))
    idx = torch.arange(cols)
    H[idx, idx] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    Hinv = torch.linalg.cholesky(H, upper=True)
    Q = torch.zeros_like(W)
    scale = zero = None
    for i1 in range(0, cols, block_size):
        i2 = min(i1 + block_size, cols)
        W1 = W[:, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            w = W1[:, i]
            d = Hinv1[i, i]
            if (i1 + i) % group_size == 0:
                scale, zero = find_params(W[:, i1 + i:i1 + i + group_size])
            q = torch.clamp(torch.round(w / scale) + zero, 0, maxq)
            q = scale * (q - zero)
            Q[:, i1 + i] = q
            err = (w - q) / d
            W1[:, i:] -= err.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return Q


def _gptq_case(torch, d, n):
    from .. import quant

    def build():
        rng = np.random.default_rng(0)
        W = (0.02 * rng.standard_normal((d, d))).astype(np.float32)
        X = (rng.standard_normal((n, d)) @ (np.eye(d) + 0.05 * rng.standard_normal((d, d)))
             ).astype(np.float32)

        def gk():
            h, _ = quant.hessian(X)
            return quant.gptq(W, h, bits=4, group_size=128)

        fns = {"gk": gk, "limit": _gptq_floor(X, d)}
        if torch is not None:
            tW, tX = torch.from_numpy(W), torch.from_numpy(X)

            def peer():
                H = 2.0 / n * (tX.T @ tX)
                return torch_gptq(torch, tW, H)
            fns["peer"] = peer
        return fns

    lazy = Lazy(build)
    return Case(op="gptq 4-bit g128 (Hessian included)", size=label((d, d, n), "f32"),
                gradkit=lazy["gk"], peer=lazy["peer"] if torch is not None else None,
                peer_warm=lazy["peer"] if torch is not None else None,
                peer_name="torch reference GPTQ", goal=">=8x torch, within 1.5x of BLAS",
                goal_ratio=8.0, goal_limit=1 / 1.5, limit=lazy["limit"], elements=d * d,
                extra={"limit": "the same flops as BLAS syrk + gemm alone"})


def _gptq_floor(X, d):
    """The matrix products GPTQ cannot avoid, as BLAS runs them at its best: the
    Hessian's syrk (n d^2 flops), the factorization's 2 d^3 / 3 flops (a Cholesky and a
    triangular inverse) as one gemm of the same flops, and the lazy updates' rows d^2
    flops as another."""
    from scipy.linalg import blas
    k1, k2 = max(1, d // 3), max(1, d // 2)
    A1 = np.asfortranarray(np.ones((d, k1), np.float32))
    B1 = np.asfortranarray(np.ones((k1, d), np.float32))
    A2 = np.asfortranarray(np.ones((d, k2), np.float32))
    B2 = np.asfortranarray(np.ones((k2, d), np.float32))

    def call():
        blas.ssyrk(1.0, X.T)
        blas.sgemm(1.0, A1, B1)
        blas.sgemm(1.0, A2, B2)
    return call


def _qlinear_case(batch, d, layers, quick):
    from .. import quant

    def build():
        rng = np.random.default_rng(1)
        ws, qws, probes = [], [], []
        for _ in range(layers):
            w = (0.02 * rng.standard_normal((d, d))).astype(np.float32)
            qw = quant.quantize_weight(w, bits=4, group_size=128)
            ws.append(w)
            qws.append(qw)
            probes.append(probe([qw.packed, qw.scales, qw.zeros], [], work=d * d))
        x = rng.standard_normal((batch, d)).astype(np.float32)
        state = {"gk": 0, "np": 0, "limit": 0}

        def cycling(key, fn):
            def call():
                i = state[key]
                state[key] = (i + 1) % layers
                return fn(i)
            return call
        peer = cycling("np", lambda i: x @ ws[i].T)
        return {"gk": cycling("gk", lambda i: quant.qlinear(x, qws[i])),
                "peer": peer, "limit": cycling("limit", lambda i: probes[i]())}

    lazy = Lazy(build)
    ratio = 4.0 if batch == 1 else 1.0
    return Case(op=f"qlinear 4-bit g128, batch {batch} ({layers} layers in turn)",
                size=label((d, d), "f32"), gradkit=lazy["gk"], peer=lazy["peer"],
                peer_warm=lazy["peer"], peer_name="numpy float32 x @ W.T", quick=quick,
                bytes=d * d // 2, goal=f">={ratio:g}x float32 x @ W.T", goal_ratio=ratio,
                limit=lazy["limit"], elements=d * d,
                extra={"limit": "a probe reading the packed weight, scales and zeros"})


def cases():
    torch = try_import_torch()
    d = max(128, scaled(4096) // 128 * 128)
    layers = 16 if d >= 4096 else 2
    return [_qlinear_case(1, d, layers, True), _qlinear_case(16, d, layers, False),
            _gptq_case(torch, d, max(256, scaled(1024)))]
