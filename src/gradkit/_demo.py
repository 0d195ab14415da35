"""`python -m gradkit demo`: a short showcase of the kernels on random data."""
import time

import numpy as np

import gradkit
from gradkit import norm, reference


def _time(fn, reps=20):
    fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def main(args):
    rng = np.random.default_rng(args.seed)
    cfg = gradkit.show_config()
    print(f"gradkit {gradkit.__version__}: {cfg['simd']} kernels, "
          f"OpenMP {'on' if cfg['openmp'] else 'off'}, {cfg['num_threads']} threads")
    x = (1e4 + rng.standard_normal((4096, 1024))).astype(np.float32)
    w = rng.standard_normal(1024).astype(np.float32)
    b = rng.standard_normal(1024).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    print(f"\ninput: {x.shape} float32, rows of 1e4 + N(0, 1) "
          "(hard data: E[x^2] - E[x]^2 cancels in float32)")

    y, st = norm.layer_norm(x, w, b)
    yr, _ = reference.layer_norm(x.astype(np.float64), w.astype(np.float64),
                                 b.astype(np.float64))
    err = float(np.max(np.abs(y - yr)))
    naive_var = (x * x).mean(axis=1) - x.mean(axis=1) ** 2
    print(f"layer_norm     max |y - float64 reference| = {err:.2e}; "
          f"row std after = {float(((y - b) / w).std(axis=1).mean()):.4f}")
    print(f"               (the naive float32 E[x^2]-E[x]^2 variance of row 0: "
          f"{float(naive_var[0]):.3f}, true {float(x[0].astype(np.float64).var()):.3f})")
    dx, dw, db = norm.layer_norm_backward(dy, x, st, w)
    print(f"layer_norm_backward  dx {dx.shape}, dweight {dw.shape}, dbias {db.shape}")
    yr2, st2 = norm.rms_norm(x, w)
    print(f"rms_norm       rstd[0] = {float(st2.rstd[0]):.6e} (1/sqrt(mean(x^2)+eps))")

    t_k = _time(lambda: norm.layer_norm(x, w, b))
    t_r = _time(lambda: reference.layer_norm(x, w, b), reps=3)
    print(f"\nlayer_norm on {x.shape}: {t_k * 1e3:.2f} ms "
          f"({x.nbytes * 2 / t_k / 1e9:.1f} GB/s), NumPy reference {t_r * 1e3:.1f} ms "
          f"({t_r / t_k:.0f}x slower)")
    print("results are bitwise identical for any thread count; see `python -m gradkit bench`")
    return 0
