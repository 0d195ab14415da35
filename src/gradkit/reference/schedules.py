"""Reference learning-rate schedules: the closed forms, as NumPy arrays.

Each function returns the lr after t = 0, 1, ..., n - 1 calls of ``step()`` for one
param group whose lr is ``base_lr`` when the scheduler is built.  gradkit.schedules
follows PyTorch's recursive updates; these closed forms agree with them to rounding."""
import math

import numpy as np


def _t(n):
    return np.arange(n, dtype=np.float64)


def step_lr(base_lr, n, step_size, gamma=0.1):
    return base_lr * gamma ** np.floor(_t(n) / step_size)


def multi_step_lr(base_lr, n, milestones, gamma=0.1):
    m = np.sort(np.asarray(list(milestones)))
    return base_lr * gamma ** np.searchsorted(m, _t(n), side="right")


def constant_lr(base_lr, n, factor=1.0 / 3, total_iters=5):
    return base_lr * np.where(_t(n) >= total_iters, 1.0, factor)


def linear_lr(base_lr, n, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
    t = np.minimum(_t(n), total_iters)
    return base_lr * (start_factor + (end_factor - start_factor) * t / total_iters)


def exponential_lr(base_lr, n, gamma):
    return base_lr * gamma ** _t(n)


def polynomial_lr(base_lr, n, total_iters=5, power=1.0):
    return base_lr * (1.0 - np.minimum(_t(n), total_iters) / total_iters) ** power


def cosine_annealing_lr(base_lr, n, T_max, eta_min=0.0):
    return eta_min + (base_lr - eta_min) * (1 + np.cos(np.pi * _t(n) / T_max)) / 2


def cosine_annealing_warm_restarts(base_lr, n, T_0, T_mult=1, eta_min=0.0):
    out = np.empty(n)
    start, period = 0, T_0
    for t in range(n):
        while t >= start + period:
            start, period = start + period, period * T_mult
        out[t] = eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * (t - start) / period)) / 2
    return out


def _cyclic_scale(mode, gamma, cycle, t):
    if mode == "triangular":
        return np.ones_like(t)
    if mode == "triangular2":
        return 1 / 2.0 ** (cycle - 1)
    return gamma ** t


def cyclic_lr(n, base_lr, max_lr, step_size_up=2000, step_size_down=None,
              mode="triangular", gamma=1.0):
    """(lr, momentum factor h*scale) of CyclicLR: momentum = max_m - (max_m - base_m) *
    the second output."""
    up = float(step_size_up)
    down = float(step_size_down) if step_size_down is not None else up
    t = _t(n)
    cycle = np.floor(1 + t / (up + down))
    x = 1.0 + t / (up + down) - cycle
    r = up / (up + down)
    h = np.where(x <= r, x / r, (x - 1) / (r - 1))
    amp = h * _cyclic_scale(mode, gamma, cycle, t)
    return base_lr + (max_lr - base_lr) * amp, amp


def one_cycle_lr(n, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos",
                 div_factor=25.0, final_div_factor=1e4, three_phase=False):
    initial = max_lr / div_factor
    low = initial / final_div_factor
    up_end = pct_start * total_steps - 1
    if three_phase:
        phases = [(up_end, initial, max_lr), (2 * pct_start * total_steps - 2, max_lr, initial),
                  (total_steps - 1, initial, low)]
    else:
        phases = [(up_end, initial, max_lr), (total_steps - 1, max_lr, low)]

    def anneal(a, b, pct):
        if anneal_strategy == "cos":
            return b + (a - b) / 2 * (1 + math.cos(math.pi * pct))
        return a + (b - a) * pct

    out = np.empty(n)
    for t in range(n):
        start = 0.0
        for i, (end, a, b) in enumerate(phases):
            if t <= end or i == len(phases) - 1:
                out[t] = anneal(a, b, (t - start) / (end - start))
                break
            start = end
    return out


def warmup(base_lr, n, steps, kind="linear", start_factor=None):
    """lr of gradkit.schedules.warmup without `after`."""
    s = 1.0 / steps if start_factor is None else start_factor
    t = _t(n)
    frac = np.minimum(t / max(steps - 1, 1), 1.0) if steps > 1 else np.ones(n)
    f = s + (1 - s) * frac if kind == "linear" else s ** (1 - frac)
    return base_lr * f


def reduce_lr_on_plateau(base_lr, metrics, mode="min", factor=0.1, patience=10,
                         threshold=1e-4, threshold_mode="rel", cooldown=0, min_lr=0.0,
                         eps=1e-8):
    """lr after each metric in `metrics`."""
    best = math.inf if mode == "min" else -math.inf
    bad = cool = 0
    lr = base_lr
    out = []
    for m in metrics:
        if mode == "min":
            better = m < (best * (1 - threshold) if threshold_mode == "rel" else best - threshold)
        else:
            better = m > (best * (1 + threshold) if threshold_mode == "rel" else best + threshold)
        if better:
            best, bad = m, 0
        else:
            bad += 1
        if cool > 0:
            cool -= 1
            bad = 0
        if bad > patience:
            new = max(lr * factor, min_lr)
            if lr - new > eps:
                lr = new
            cool, bad = cooldown, 0
        out.append(lr)
    return np.array(out)
