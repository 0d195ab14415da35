"""Kernels on arrays laid back to back, as malloc lays them out, against the same arrays
a page apart (docs/performance.md, "Arrays back to back").

    python benchmarks/back_to_back.py [threads] [rounds]

malloc serves a block from its heap with 16 bytes of header before it, so arrays
allocated one after another (a parameter and its moments, x and then out=) lie 16
bytes further past a page boundary each; NumPy's own large arrays come from mmap, each
16 bytes past a page, so they are all 0 bytes apart modulo 4 KiB.  For each kernel the
same data is placed four ways in one process:

- ``numpy``: every array its own NumPy allocation, the reference;
- ``up``: back to back, each array starting 16 bytes past the end of the previous one,
  in the order the kernel's arguments are allocated (x, dy, out; param, grad, states);
  the sizes being whole MiB, they are 16, 32, ... bytes apart modulo 1 MiB;
- ``down``: the same, allocated in the reverse order;
- ``page+16``: each a page and 16 bytes past the end of the previous one: 16, 32, ...
  bytes apart modulo 4 KiB, but not modulo 1 MiB.

Each (kernel, layout) is timed interleaved with the others, round after round, the
fastest of three calls in a row per round (the data then in cache: the 300 MiB L3 of the
Intel Xeon guest holds each case), and the table gives the fastest ``numpy`` time and
the other layouts as multiples of it.  float32, 8192x1024 (32 MiB) activations, 2M-element
(8 MiB) optimizer arrays.
"""
import os
import sys
import time

import numpy as np

import gradkit
from gradkit import dropout, norm, regularization
from gradkit.optim import functional as F

N, C = 8192, 1024
M = int(os.environ.get("GK_B2B_M", 1 << 21))  # optimizer arrays (elements)


class Heap:
    """Arrays carved from one buffer one after another, each ``gap`` bytes past the end
    of the one before (the first 16 bytes past a page): ``gap`` 16 lays them out as
    malloc does."""

    def __init__(self, gap, nbytes):
        self.gap = gap
        self.buf = np.empty(nbytes + 8 * gap + 8192, np.uint8)
        self.pos = (16 - self.buf.ctypes.data) % 4096

    def __call__(self, values):
        a = self.buf[self.pos:self.pos + values.nbytes].view(values.dtype)
        a = a.reshape(values.shape)
        a[...] = values
        self.pos += values.nbytes + self.gap
        return a


def kernels(layout, rng_seed=0):
    """name -> call, on arrays placed by ``layout`` (numpy, up, down or page+16)."""
    rng = np.random.default_rng(rng_seed)
    act = [rng.standard_normal((N, C)).astype(np.float32) for _ in range(3)]
    opt = [rng.standard_normal(M).astype(np.float32) for _ in range(4)]
    opt[2:] = [np.abs(a) for a in opt[2:]]

    def place(values):
        if layout == "numpy":
            return [v.copy() for v in values]
        h = Heap(4096 + 16 if layout == "page+16" else 16, sum(v.nbytes for v in values))
        order = range(len(values)) if layout != "down" else range(len(values))[::-1]
        placed = {i: h(values[i]) for i in order}
        return [placed[i] for i in range(len(values))]

    x, dy, out = place(act)
    w, b = np.ones(C, np.float32), np.zeros(C, np.float32)
    x4, dy4, out4 = (a.reshape(32, 256, 32, 32) for a in (x, dy, out))
    w4, b4 = np.ones(256, np.float32), np.zeros(256, np.float32)
    _, bst = norm.batch_norm(x, w, b)
    _, bst4 = norm.batch_norm(x4, w4, b4)
    _, lst = norm.layer_norm(x, w, b)
    _, rst = norm.rms_norm(x, w)
    _, mask = dropout.dropout(x, 0.1, rng=1)
    p, g, m1, m2 = place(opt)
    return {
        "batch_norm forward (N,C)": lambda: norm.batch_norm(x, w, b, out=out),
        "batch_norm backward (N,C)": lambda: norm.batch_norm_backward(dy, x, bst, w, out=out),
        "batch_norm forward (N,C,*)": lambda: norm.batch_norm(x4, w4, b4, out=out4),
        "batch_norm backward (N,C,*)": lambda: norm.batch_norm_backward(dy4, x4, bst4, w4,
                                                                        out=out4),
        "layer_norm forward": lambda: norm.layer_norm(x, w, b, out=out),
        "layer_norm backward": lambda: norm.layer_norm_backward(dy, x, lst, w, out=out),
        "rms_norm forward": lambda: norm.rms_norm(x, w, out=out),
        "rms_norm backward": lambda: norm.rms_norm_backward(dy, x, rst, w, out=out),
        "dropout forward": lambda: dropout.dropout(x, 0.1, rng=1, out=out),
        "dropout backward": lambda: dropout.dropout_backward(dy, mask, out=out),
        "add_l2_grad_": lambda: regularization.add_l2_grad_([g], [p], 1e-9),
        "SGD momentum": lambda: F.sgd_(p, g, m1, lr=1e-9, momentum=0.9),
        "AdamW": lambda: F.adam_(p, g, m1, m2, 10, lr=1e-9, weight_decay=1e-2,
                                 decoupled=True),
        "RMSprop": lambda: F.rmsprop_(p, g, m2, lr=1e-9),
        "Lion": lambda: F.lion_(p, g, m1, lr=1e-9),
        "LAMB": lambda: F.lamb_(p, g, m1, m2, 10, lr=1e-9),
        "Adagrad": lambda: F.adagrad_(p, g, m2, 10, lr=1e-9),
    }


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    gradkit.set_num_threads(threads)
    layouts = ("numpy", "up", "down", "page+16")
    sets = {k: kernels(k) for k in layouts}
    best = {}
    for _ in range(rounds):
        for name in sets["numpy"]:
            for k in layouts:
                for _ in range(3):
                    t = time.perf_counter()
                    sets[k][name]()
                    t = time.perf_counter() - t
                    best[name, k] = min(best.get((name, k), t), t)
    print(f"gradkit {gradkit.__version__}, {threads} threads, {rounds} rounds")
    print("| kernel | NumPy's arrays | back to back, in order | in reverse order "
          "| a page + 16 bytes apart |")
    print("|---|---:|---:|---:|---:|")
    for name in sets["numpy"]:
        t0 = best[name, "numpy"]
        print(f"| {name} | {t0 * 1e3:.2f} ms | {best[name, 'up'] / t0:.2f}x "
              f"| {best[name, 'down'] / t0:.2f}x | {best[name, 'page+16'] / t0:.2f}x |")


if __name__ == "__main__":
    main()
