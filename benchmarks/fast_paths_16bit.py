"""Per-call time of the 16-bit norm, dropout and cross-entropy calls: the compiled fast
path against the checked Python path (docs/performance.md, "16-bit calls in compiled
code").

    python benchmarks/fast_paths_16bit.py [threads]

The same call twice, interleaved round after round in one process: once as the common
call (float16 or bfloat16 data, float32 parameters, plain Python arguments), which
runs whole in compiled code, and once with one argument that sends it down the checked
path without changing what it computes (eps a NumPy float64, training or bias a NumPy
bool, p a NumPy float64, int32 labels).  Small shapes (32x256, 32x64), where the call's
overhead is most of its time; the fastest of 3 rounds of 3000 calls, microseconds.
"""
import sys
import timeit

import numpy as np

import gradkit
from gradkit import dropout as gd, losses, norm
from gradkit.random import Generator


def _us(f, n=3000):
    return min(timeit.repeat(f, number=n, repeat=3)) / n * 1e6


def cases(x, dy, c):
    w, b = np.ones(c, np.float32), np.zeros(c, np.float32)
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
    _, st = norm.layer_norm(x, w, b)
    _, sb = norm.batch_norm(x, w, b)
    lab = np.random.default_rng(0).integers(0, c, x.shape[0]).astype(np.int64)
    g = Generator(3)
    return {
        "layer_norm": (lambda: norm.layer_norm(x, w, b, 1e-5),
                       lambda: norm.layer_norm(x, w, b, np.float64(1e-5))),
        "layer_norm_backward": (lambda: norm.layer_norm_backward(dy, x, st, w, bias=True),
                                lambda: norm.layer_norm_backward(dy, x, st, w, bias=np.True_)),
        "batch_norm": (lambda: norm.batch_norm(x, w, b, rm, rv, training=True),
                       lambda: norm.batch_norm(x, w, b, rm, rv, training=np.True_)),
        "batch_norm_backward": (lambda: norm.batch_norm_backward(dy, x, sb, w, bias=True),
                                lambda: norm.batch_norm_backward(dy, x, sb, w, bias=np.True_)),
        "dropout": (lambda: gd.dropout(x, 0.1, rng=g),
                    lambda: gd.dropout(x, np.float64(0.1), rng=g)),
        "softmax_cross_entropy": (lambda: losses.softmax_cross_entropy(x, lab),
                                  lambda: losses.softmax_cross_entropy(x, lab.astype(np.int32))),
    }


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    import ml_dtypes
    print(f"gradkit {gradkit.__version__}, {threads} threads; microseconds per call")
    print("| call | dtype | shape | checked path | compiled | ratio |")
    print("|---|---|---|---:|---:|---:|")
    with gradkit.num_threads(threads):
        for dt in (ml_dtypes.bfloat16, np.float16):
            for rows, cols in ((32, 256), (32, 64)):
                rng = np.random.default_rng(1)
                x = rng.random((rows, cols)).astype(dt)
                dy = rng.random((rows, cols)).astype(dt)
                for name, (fast, checked) in cases(x, dy, cols).items():
                    a, b = [], []
                    for _ in range(3):
                        a.append(_us(fast))
                        b.append(_us(checked))
                    print(f"| `{name}` | {np.dtype(dt).name} | {rows}x{cols} | "
                          f"{min(b):.1f} | {min(a):.1f} | {min(b) / min(a):.2f}x |")


if __name__ == "__main__":
    main()
