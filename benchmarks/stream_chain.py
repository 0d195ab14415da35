"""LayerNorms back to back, as in training: which streaming threshold serves a chain.

    python benchmarks/stream_chain.py                       # 2048/4096/8192 x 1024
    python benchmarks/stream_chain.py --rows 8192 --thresholds 16,48 --json F

A single kernel timed in a loop finds its buffers in the cache, and then ordinary
stores win (the output's lines are there already and never reach memory); timed from
a scrubbed cache, non-temporal stores win.  Neither is how a training step meets the
kernel.  Here K LayerNorms run back to back, each reading the previous one's output
(``out=`` buffers of their own, so the forward's working set is K+1 activations), and
then their backwards in reverse, each reading the gradient the previous backward just
wrote and the activation its forward read long before.  Every round starts after a
read of 512 MB (the cache holds nothing of the chain); the thresholds given (MiB,
``gradkit.set_stream_threshold``) are taken in turn, round by round, in one process.
With torch importable, the same chain by ``F.layer_norm`` under autograd
(``torch.set_num_threads`` = gradkit's threads), timed in the same rounds.

Per layer: the median (and best) over the rounds after the first two.
"""
import argparse
import json
import time

import numpy as np

import gradkit as gk
from gradkit import norm
from gradkit.bench.report import cpu_model


def chain(h, dx, g0, w, b):
    """K forwards into h[1..K], then K backwards into dx[K-1..0]: (forward s, backward s)."""
    k = len(dx)
    stats = []
    t0 = time.perf_counter()
    for i in range(k):
        stats.append(norm.layer_norm(h[i], w, b, out=h[i + 1])[1])
    t1 = time.perf_counter()
    g = g0
    for i in reversed(range(k)):
        norm.layer_norm_backward(g, h[i], stats[i], w, out=dx[i])
        g = dx[i]
    return t1 - t0, time.perf_counter() - t1


def torch_chain(torch, x, g0, w, b, k):
    F = torch.nn.functional
    x = x.detach().requires_grad_(True)
    t0 = time.perf_counter()
    y = x
    for _ in range(k):
        y = F.layer_norm(y, (y.shape[-1],), w, b)
    t1 = time.perf_counter()
    y.backward(g0)
    return t1 - t0, time.perf_counter() - t1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="2048,4096,8192")
    ap.add_argument("--cols", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--thresholds", default="8,16,48", help="MiB, comma-separated")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if a.threads:
        gk.set_num_threads(a.threads)
    torch = None
    if not a.no_torch:
        try:
            import torch
            torch.set_num_threads(gk.get_num_threads())
        except ImportError:
            print("torch not importable: gradkit only")
    thresholds = [int(t) for t in a.thresholds.split(",")]
    scrub = np.ones(1 << 26, np.float64)   # 512 MB, faulted in
    previous = gk.set_stream_threshold(None)
    records = []
    for rows in [int(r) for r in a.rows.split(",")]:
        rng = np.random.default_rng(0)
        shape = (rows, a.cols)
        h = [rng.standard_normal(shape, dtype=np.float32)]
        h += [np.zeros(shape, np.float32) for _ in range(a.layers)]
        dx = [np.zeros(shape, np.float32) for _ in range(a.layers)]
        g0 = rng.standard_normal(shape, dtype=np.float32)
        w = rng.standard_normal(a.cols).astype(np.float32)
        b = rng.standard_normal(a.cols).astype(np.float32)
        names = [f"{t} MiB" for t in thresholds] + (["torch"] if torch else [])
        times = {n: [] for n in names}
        if torch:
            tx, tg, tw, tb = (torch.from_numpy(v) for v in (h[0], g0, w, b))
        for _ in range(a.rounds):
            for t, n in zip(thresholds + [None], names):
                scrub.sum()
                if n == "torch":
                    times[n].append(torch_chain(torch, tx, tg, tw, tb, a.layers))
                else:
                    gk.set_stream_threshold(t << 20)
                    times[n].append(chain(h, dx, g0, w, b))
        for n in names:
            per = np.array(times[n][2:]) * 1e3 / a.layers
            rec = {"rows": rows, "cols": a.cols, "layers": a.layers, "run": n,
                   "mb": rows * a.cols * 4 / 1e6,
                   "forward_ms": float(np.median(per[:, 0])), "forward_best_ms": float(per[:, 0].min()),
                   "backward_ms": float(np.median(per[:, 1])), "backward_best_ms": float(per[:, 1].min()),
                   "total_ms": float(np.median(per.sum(1)))}
            records.append(rec)
            print(f"{rows}x{a.cols} ({rec['mb']:.0f} MB) {n:>7}: forward {rec['forward_ms']:.2f} ms/layer "
                  f"(best {rec['forward_best_ms']:.2f}), backward {rec['backward_ms']:.2f} "
                  f"(best {rec['backward_best_ms']:.2f}), total {rec['total_ms']:.2f}")
    gk.set_stream_threshold(previous)
    if a.json:
        meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "cpu": cpu_model(), "threads": gk.get_num_threads(),
                "gradkit": gk.__version__, "numpy": np.__version__,
                "torch": torch.__version__ if torch else None, "default_threshold": previous}
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "records": records}, f, indent=1)


if __name__ == "__main__":
    main()
