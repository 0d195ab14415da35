"""Benchmark cases: fused softmax cross-entropy (plain and with class weights), the
gradient-check harness overhead, and int8 quantization."""
import warnings

import numpy as np

from .core import GOAL_LIMIT, Case, Lazy, accepts, label, passes, probe, scaled
from .core import try_import_torch


def _cross_entropy_case(torch, n, c, quick, goal=True, weighted=False):
    """Fused softmax cross-entropy, forward and backward in one call (label smoothing
    0.1; with `weighted`, per-class weights too), against torch's F.cross_entropy
    forward and autograd backward.  Limit: read the logits (and the labels, weights),
    write dlogits; a row stays in cache, so one pass."""
    from gradkit import losses, reference as ref

    def build():
        rng = np.random.default_rng(0)
        z = rng.standard_normal((n, c)).astype(np.float32)
        y = rng.integers(0, c, n)
        w = (rng.random(c) + 0.5).astype(np.float32) if weighted else None
        kw = dict(label_smoothing=0.1, weight=w)
        dz = np.empty_like(z)
        fns = {"gk": lambda: losses.softmax_cross_entropy(z, y, **kw),
               "np": lambda: ref.softmax_cross_entropy(z, y, **kw),
               "limit": probe([z, y] + ([w] if weighted else []), [dz])}
        if accepts(losses.softmax_cross_entropy, "out"):
            fns["out"] = lambda: losses.softmax_cross_entropy(z, y, label_smoothing=0.1,
                                                              out=dz)
        if torch is not None:
            zt, yt = torch.from_numpy(z), torch.from_numpy(y)
            wt = torch.from_numpy(w) if weighted else None
            F = torch.nn.functional

            def peer():
                a = zt.detach().requires_grad_(True)
                F.cross_entropy(a, yt, label_smoothing=0.1, weight=wt).backward()
                return a.grad
            fns["peer"] = peer
        return fns

    lazy = Lazy(build)
    return Case(
        op="softmax_cross_entropy fwd+bwd (label_smoothing=0.1"
           + (", weight=)" if weighted else ")"), size=label((n, c)),
        gradkit=lazy["gk"], bytes=n * c * 4 * 2 + n * 8 + (c * 4 if weighted else 0),
        numpy=lazy["np"],
        peer=lazy["peer"] if torch is not None else None, peer_name="torch autograd",
        quick=quick, goal=">=1x warm torch autograd, >=85% of limit" if goal else "",
        goal_ratio=1.0 if goal else None, goal_limit=GOAL_LIMIT if goal else None,
        limit=lazy["limit"],
        gradkit_out=lazy["out"] if accepts(losses.softmax_cross_entropy, "out") else None,
        elements=n * c)


def _kl_div_case(torch, n, c, temperature=2.0):
    """Distillation KL divergence (batch mean, temperature 2) and its gradient in one
    call, against torch's ``F.kl_div(log_softmax(s / T), log_softmax(t / T),
    log_target=True, reduction='batchmean')`` forward and autograd backward.  Limit:
    read both logits, write the gradient.  No goal: bound by its double-precision
    terms (two softmaxes, a 17-term series per element)."""
    from gradkit import losses, reference as ref

    def build():
        rng = np.random.default_rng(1)
        s = (rng.standard_normal((n, c)) * 3).astype(np.float32)
        t = (rng.standard_normal((n, c)) * 3).astype(np.float32)
        ds = np.empty_like(s)
        fns = {"gk": lambda: losses.kl_div(s, t, temperature=temperature),
               "np": lambda: ref.kl_div(s, t, temperature=temperature),
               "limit": probe([s, t], [ds])}
        if torch is not None:
            st, tt = torch.from_numpy(s), torch.from_numpy(t)
            F = torch.nn.functional

            def peer():
                a = st.detach().requires_grad_(True)
                F.kl_div(F.log_softmax(a / temperature, 1),
                         F.log_softmax(tt / temperature, 1), reduction="batchmean",
                         log_target=True).backward()
                return a.grad
            fns["peer"] = peer
        return fns

    lazy = Lazy(build)
    return Case(
        op=f"kl_div fwd+bwd (temperature={temperature:g})", size=label((n, c)),
        gradkit=lazy["gk"], bytes=n * c * 4 * 3, numpy=lazy["np"],
        peer=lazy["peer"] if torch is not None else None, peer_name="torch autograd",
        limit=lazy["limit"], elements=n * c)


def _gradcheck_overhead_case():
    """check_grad in batched mode on a linear softmax classifier (W: 10x64, a batch of
    256 samples), against the same f evaluations on the same stacks without the
    harness: time(f alone) / time(check_grad) >= 1/1.05 means <= 5% overhead."""
    from gradkit.gradcheck import check_grad, _batch_size
    from gradkit import reference as ref

    rng = np.random.default_rng(0)
    c, d, n = 10, 64, scaled(256)
    x = rng.standard_normal((n, d))
    y = rng.integers(0, c, n)
    w = rng.standard_normal((c, d)) * 0.1

    def losses(ws):
        """mean cross-entropy of x @ W^T for each W in the stack (k, c, d)."""
        z = np.einsum("kcd,nd->knc", ws, x, optimize=True)
        m = z.max(axis=2, keepdims=True)
        lse = np.log(np.exp(z - m).sum(axis=2)) + m[..., 0]
        return (lse - z[:, np.arange(n), y]).mean(axis=1)

    z = x @ w.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(n), y] -= 1
    grad = p.T @ x / n

    b = _batch_size(None, w.size)
    h = np.cbrt(np.finfo(np.float64).eps) * np.maximum(1, np.abs(w.reshape(-1)))
    stacks = []
    for start in range(0, w.size, b):
        k = min(b, w.size - start)
        s = np.repeat(w.reshape(1, -1), 2 * k, axis=0)
        s[np.arange(k), np.arange(start, start + k)] += h[start:start + k]
        s[k + np.arange(k), np.arange(start, start + k)] -= h[start:start + k]
        stacks.append(s.reshape(2 * k, c, d))

    def f_alone():
        return [losses(s) for s in stacks]

    return Case(
        op="check_grad harness (batched, 640 coordinates)",
        size=f"W 10x64, batch {n}, f64",
        gradkit=lambda: check_grad(losses, w, grad, batched=True),
        bytes=None,
        numpy=lambda: ref.numerical_grad(losses, w, batched=True),
        peer=f_alone,
        peer_name="f evaluations alone",
        peer_warm=f_alone,
        quick=True,
        goal="harness <= 5% over the f evaluations",
        goal_ratio=1 / 1.05,
    )


def _quantize_case(n, c):
    import gradkit
    from gradkit import quant, reference as ref

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c)).astype(np.float32)
    peer = None
    torch = try_import_torch()
    if torch is not None:
        torch.set_num_threads(gradkit.get_num_threads())
        xt = torch.from_numpy(x)

        def peer():
            mn, mx = torch.aminmax(xt)
            amax = torch.maximum(-torch.clamp(mn, max=0), torch.clamp(mx, min=0))
            scale = max(float(amax) / 127.5, float(np.finfo(np.float32).eps))
            with warnings.catch_warnings():     # deprecated in torch, still the way
                warnings.simplefilter("ignore")
                return torch.quantize_per_tensor(xt, scale, 0, torch.qint8)

    return Case(
        op="quantize int8 per-tensor symmetric (observe + quantize)",
        size=f"{n}x{c} f32",
        gradkit=lambda: quant.quantize(x),
        bytes=n * c * (4 + 4 + 1),             # min/max read, quantize read, q write
        numpy=lambda: ref.quantize(x),
        peer=peer,
        peer_name="torch",
        # two passes: the range (read x), then quantize (read x, write int8 q)
        limit=passes(probe([x], []), probe([x], [np.empty(x.shape, np.int8)])),
        elements=n * c,
    )


def sweep(n):
    c = min(1000, n)
    return [_cross_entropy_case(try_import_torch(), max(1, n // c), c, False)]


def cases():
    torch = try_import_torch()
    return [
        _cross_entropy_case(torch, scaled(8192), 1000, True),
        _cross_entropy_case(torch, 32, 256, True, goal=False),
        _cross_entropy_case(torch, scaled(8192), 1000, True, weighted=True),
        _cross_entropy_case(torch, 32, 256, True, goal=False, weighted=True),
        _kl_div_case(torch, scaled(8192), 1000),
        _gradcheck_overhead_case(),
        _quantize_case(scaled(8192), 1024),
    ]
