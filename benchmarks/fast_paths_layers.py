"""Per-call time of the layer calls a small model makes every step -- the fused residual
add + dropout + norm, the linear layer and its backward, ReLU -- and of a whole training
step of the demo's model, with the compiled fast paths and without them
(docs/performance.md, "Small models: the layer calls in compiled code").

    python benchmarks/fast_paths_layers.py [threads]

"Checked" is the same call with the compiled fast path switched off in this process
(the extension function replaced by one that declines, so gradkit.norm / gradkit.linear
run their Python checks and, for 16-bit data, widen and round in Python), and ReLU as
it was written before (``np.where`` on a ``x > 0`` mask): what these calls cost before
the fast paths existed.  Both sides interleaved round after round in one process; the
fastest of 3 rounds, microseconds.
"""
import contextlib
import sys
import timeit

import numpy as np

import gradkit
from gradkit import losses, nn, norm, optim
from gradkit import linear as lin
from gradkit._demo import build_model
from gradkit.random import Generator


class _OldReLU(nn.ReLU):
    """nn.ReLU as it was: a bool mask and np.where."""

    def forward(self, x, training=True):
        x = self._input(x)
        self._x = x
        self._mask = x > 0
        return np.where(self._mask, x, 0).astype(x.dtype, copy=False)

    def backward(self, dy):
        dy = self._grad_input(dy, self._saved("_x"))
        return np.where(self._mask, dy, 0).astype(dy.dtype, copy=False)


@contextlib.contextmanager
def checked_paths():
    """The compiled fast paths of the fused norms and of linear declined."""
    saved = [(norm._k, "add_dropout_norm_fast"), (norm._k, "add_dropout_norm_backward_fast"),
             (lin._k, "linear_fast"), (lin._k, "linear_backward_fast")]
    old = [getattr(m, n) for m, n in saved]
    for m, n in saved:
        setattr(m, n, lambda *a, **k: None)
    try:
        yield
    finally:
        for (m, n), f in zip(saved, old):
            setattr(m, n, f)


def _us(f, n):
    return min(timeit.repeat(f, number=n, repeat=3)) / n * 1e6


def _pair(fast, slow, n=2000):
    """(checked, compiled) microseconds, interleaved over 3 rounds."""
    a, b = [], []
    for _ in range(3):
        a.append(_us(fast, n))
        with checked_paths():
            b.append(_us(slow, n))
    return min(b), min(a)


def calls(dt, rows, cols):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((rows, cols)).astype(dt)
    r = rng.standard_normal((rows, cols)).astype(dt)
    dy = rng.standard_normal((rows, cols)).astype(dt)
    w, b = np.ones(cols, np.float32), np.zeros(cols, np.float32)
    wl = (rng.standard_normal((cols, cols)) / cols ** 0.5).astype(dt)
    bl = np.zeros(cols, dt)
    dwl, dbl = np.empty_like(wl), np.empty_like(bl)
    g = Generator(3)
    y, s, m, st = norm.add_dropout_layer_norm(x, r, w, b, 0.1, rng=g)
    _, sr, mr, str_ = norm.add_dropout_rms_norm(x, r, w, 0.1, rng=g)
    new, old = nn.ReLU(), _OldReLU()
    new.forward(x)
    old.forward(x)
    same = {
        "add_dropout_layer_norm": lambda: norm.add_dropout_layer_norm(x, r, w, b, 0.1, rng=g),
        "add_dropout_layer_norm_backward":
            lambda: norm.add_dropout_layer_norm_backward(dy, s, st, m, w, dresidual_out=dy),
        "add_dropout_rms_norm": lambda: norm.add_dropout_rms_norm(x, r, w, 0.1, rng=g),
        "add_dropout_rms_norm_backward":
            lambda: norm.add_dropout_rms_norm_backward(dy, sr, str_, mr, w),
        "linear": lambda: lin.linear(x, wl, bl),
        "linear_backward (out= dweight, dbias)":
            lambda: lin.linear_backward(dy, x, wl, out=(None, dwl, dbl)),
    }
    out = {k: (f, f) for k, f in same.items()}
    out["nn.ReLU forward + backward"] = (lambda: new.backward(new.forward(x)),
                                         lambda: old.backward(old.forward(x)))
    return out


def _step_fn(dt, relu):
    """One training step of the demo's model (batch 64) in dtype dt."""
    half = np.dtype(dt) != np.float32
    model = build_model(Generator(0), dtype=dt)
    if relu is not nn.ReLU:
        model.layers[:] = [relu() if isinstance(m, nn.ReLU) else m for m in model.layers]
    opt = optim.AdamW(model.params, lr=3e-3, weight_decay=1e-2, master_weights=half)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 64)).astype(dt)
    y = rng.integers(0, 10, 64)

    def step():
        logits = model.forward(X, training=True)
        _, d = losses.softmax_cross_entropy(logits, y, reduction="sum",
                                            label_smoothing=0.1)
        model.backward((d.astype(np.float32) * np.float32(1 / 64)).astype(dt))
        opt.step(model.grads, max_norm=1.0)
    return step


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    import ml_dtypes
    print(f"gradkit {gradkit.__version__}, {threads} threads; microseconds per call")
    print("| call | dtype | shape | checked path | compiled | ratio |")
    print("|---|---|---|---:|---:|---:|")
    with gradkit.num_threads(threads):
        for dt in (np.float32, ml_dtypes.bfloat16):
            for rows, cols in ((64, 128), (32, 64)):
                for name, (fast, slow) in calls(dt, rows, cols).items():
                    b, a = _pair(fast, slow)
                    print(f"| `{name}` | {np.dtype(dt).name} | {rows}x{cols} | {b:.1f} | "
                          f"{a:.1f} | {b / a:.2f}x |")
        print()
        print("| training step of the demo's model, batch 64 | checked paths, old ReLU | "
              "compiled | ratio |")
        print("|---|---:|---:|---:|")
        for dt in (np.float32, ml_dtypes.bfloat16, np.float16):
            fast, slow = _step_fn(dt, nn.ReLU), _step_fn(dt, _OldReLU)
            for f in (fast, slow):
                for _ in range(20):
                    f()
            b, a = _pair(fast, slow, n=200)
            print(f"| {np.dtype(dt).name} | {b:.0f} | {a:.0f} | {b / a:.2f}x |")


if __name__ == "__main__":
    main()
