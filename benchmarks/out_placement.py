"""LayerNorm forward time against where its output lies relative to its input, modulo
4 KiB (docs/performance.md, "4K aliasing").

    python benchmarks/out_placement.py [threads]

For float32, float16 and bfloat16 x of 8192x1024 (placed 0 bytes past a page), the
fastest of 10 calls with ``out=`` buffers placed 0, +16, +32, ... bytes past x modulo
4096, in ms.  Before the forward learned to run its output pass backwards for outputs
just past the input, +16..+64 took up to 3x as long as +0."""
import sys
import time

import numpy as np

import gradkit
from gradkit import norm

OFFSETS = (0, 16, 32, 64, 128, 256, 512, 1024, 2048, -16, -64)


def best_ms(f, n=10):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts) * 1e3


def placed(shape, dtype, like, offset):
    """An empty array whose address is `offset` bytes past `like`'s modulo 4096."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = np.empty(nbytes + 8192, np.uint8)
    skip = (like.ctypes.data + offset - buf.ctypes.data) % 4096
    return buf[skip:skip + nbytes].view(dtype).reshape(shape)


def main():
    gradkit.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    x32 = np.random.default_rng(0).standard_normal((8192, 1024)).astype(np.float32)
    w = np.ones(1024, np.float32)
    b = np.zeros(1024, np.float32)
    page = np.empty(0, np.uint8)
    for dtype in (np.float32, np.float16, gradkit.bfloat16):
        x = placed(x32.shape, dtype, page, 0)
        x[...] = x32.astype(dtype)
        row = []
        for off in OFFSETS:
            out = placed(x.shape, dtype, x, off % 4096)
            row.append(f"{off:+d}: {best_ms(lambda: norm.layer_norm(x, w, b, out=out)):.1f}")
        print(f"{np.dtype(dtype).name:9s}", "  ".join(row))


if __name__ == "__main__":
    main()
