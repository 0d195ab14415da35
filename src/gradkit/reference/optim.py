"""NumPy twins of gradkit.optim: the update formulas of torch.optim's single-tensor
implementations (LARS, Lion, LAMB: optax.lars, optax.lion, optax.lamb), one parameter at a
time, in the arrays' own dtype (float16/bfloat16 arrays: the float32 formulas on widened
copies, each result rounded once, _float32_twin) and in torch's order of operations:

    add(x, y, alpha)         x + alpha*y
    addcmul(x, y, z, value)  x + (value*y)*z
    addcdiv(x, y, z, value)  x + (value*y)/z
    lerp(x, y, w)            x + w*(y - x) if |w| < 0.5 else y - (y - x)*(1 - w)

Python-float hyper-parameters are rounded to the arrays' dtype where torch rounds them
(NumPy's NEP 50 rule does the same).  The functional kernels take one array or lists
of arrays; the classes mirror gradkit.optim's (param groups, None gradients, state
dict) with plain Python loops.  ``step(grads, max_norm=...)`` is the composition of
the reference clip_grad_norm_ (on copies: the fused step leaves the gradients as they
are) and the reference step.
"""
import functools
from typing import Any

import ml_dtypes
import numpy as np

from . import clip as _clip

__all__ = ["sgd_", "adam_", "rmsprop_", "adagrad_", "lars_", "SGD", "Adam", "AdamW",
           "RMSprop", "Adagrad", "LARS", "nadam_", "radam_", "adamax_", "adadelta_", "lion_",
           "lamb_", "NAdam", "RAdam", "Adamax", "Adadelta", "Lion", "LAMB", "adafactor_",
           "Adafactor"]


def _lerp(x, y, w):
    w = x.dtype.type(w)
    if abs(w) < 0.5:
        return x + w * (y - x)
    return y - (y - x) * (x.dtype.type(1) - w)


def _listify(*arrays):
    """(is_list, lists): a single array becomes a one-element list."""
    if isinstance(arrays[0], (list, tuple)):
        return True, [list(a) if isinstance(a, (list, tuple)) else a for a in arrays]
    return False, [[a] for a in arrays]


def _each(value, n):
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


_HALF = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


def _float32_twin(fn):
    """The 16-bit twin of a functional kernel: every float16/bfloat16 array argument
    (also inside lists) is widened to a float32 copy, the float32 formulas run on the
    copies, and each copy is rounded once back into its array (NumPy's and ml_dtypes'
    astype: to nearest even).  A state the kernel creates (SGD's first momentum buffer)
    comes back in its parameter's dtype.  Without 16-bit arrays: fn itself."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        pairs = []

        def up(a):
            if isinstance(a, np.ndarray) and a.dtype in _HALF:
                c = a.astype(np.float32)
                pairs.append((a, c))
                return c
            if isinstance(a, (list, tuple)):
                return type(a)(up(x) for x in a)
            return a

        wide = [up(a) for a in args]
        kw = {k: up(v) for k, v in kwargs.items()}
        if not pairs:
            return fn(*args, **kwargs)
        out = fn(*wide, **kw)
        for a, c in pairs:
            a[...] = c.astype(a.dtype)
        back = {id(c): a for a, c in pairs}
        dtype = pairs[0][0].dtype  # the parameters' (first argument)

        def down(x):
            if isinstance(x, np.ndarray) and x.dtype == np.float32:
                return back.get(id(x), x.astype(dtype))
            if isinstance(x, list):
                return [down(y) for y in x]
            return x
        return down(out)
    return run


# ---- functional kernels ---------------------------------------------------------------

@_float32_twin
def sgd_(param, grad, momentum_buffer=None, *, lr=1e-3, momentum=0.0, dampening=0.0,
         weight_decay=0.0, nesterov=False, maximize=False):
    """SGD step in place; returns the momentum buffer(s) (created as a copy of the
    gradient on the first step, as torch does), or None without momentum."""
    many, (params, grads) = _listify(param, grad)
    bufs = _each(momentum_buffer, len(params))
    for i, (p, g) in enumerate(zip(params, grads)):
        if g is None:
            continue
        g = -g if maximize else g
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            if bufs[i] is None:
                bufs[i] = g.copy()
            else:
                bufs[i][...] = bufs[i] * momentum + (1 - dampening) * g
            g = g + momentum * bufs[i] if nesterov else bufs[i]
        p[...] = p + (-lr) * g
    if momentum == 0:
        return [None] * len(params) if many else None
    return bufs if many else bufs[0]


@_float32_twin
def adam_(param, grad, exp_avg, exp_avg_sq, step, *, lr=1e-3, beta1=0.9, beta2=0.999,
          eps=1e-8, weight_decay=0.0, amsgrad=False, max_exp_avg_sq=None,
          decoupled=False, maximize=False):
    """Adam (decoupled=False) or AdamW (decoupled=True) step in place; `step` is the
    step number after its increment (1 on the first step)."""
    many, (params, grads, ms, vs) = _listify(param, grad, exp_avg, exp_avg_sq)
    steps = _each(step, len(params))
    vmaxs = _each(max_exp_avg_sq, len(params))
    for i, (p, g, m, v) in enumerate(zip(params, grads, ms, vs)):
        if g is None:
            continue
        g = -g if maximize else g
        if weight_decay != 0:
            if decoupled:
                p[...] = p * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * p
        m[...] = _lerp(m, g, 1 - beta1)
        v[...] = v * beta2 + ((1 - beta2) * g) * g
        bc1 = 1 - beta1 ** steps[i]
        bc2 = 1 - beta2 ** steps[i]
        step_size = lr / bc1
        bc2_sqrt = bc2 ** 0.5
        if amsgrad:
            vmaxs[i][...] = np.maximum(vmaxs[i], v)
            denom = np.sqrt(vmaxs[i]) / bc2_sqrt + eps
        else:
            denom = np.sqrt(v) / bc2_sqrt + eps
        p[...] = p + ((-step_size) * m) / denom


@_float32_twin
def rmsprop_(param, grad, square_avg, *, grad_avg=None, momentum_buffer=None, lr=1e-2,
             alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
             maximize=False):
    """RMSprop step in place (grad_avg needed when centered, momentum_buffer when
    momentum > 0)."""
    many, (params, grads, sqs) = _listify(param, grad, square_avg)
    gas = _each(grad_avg, len(params))
    bufs = _each(momentum_buffer, len(params))
    for i, (p, g, sq) in enumerate(zip(params, grads, sqs)):
        if g is None:
            continue
        g = -g if maximize else g
        if weight_decay != 0:
            g = g + weight_decay * p
        sq[...] = sq * alpha + ((1 - alpha) * g) * g
        if centered:
            gas[i][...] = _lerp(gas[i], g, 1 - alpha)
            avg = np.sqrt(sq + ((-1) * gas[i]) * gas[i])
        else:
            avg = np.sqrt(sq)
        avg = avg + eps
        if momentum > 0:
            bufs[i][...] = bufs[i] * momentum + g / avg
            p[...] = p + (-lr) * bufs[i]
        else:
            p[...] = p + ((-lr) * g) / avg


@_float32_twin
def adagrad_(param, grad, state_sum, step, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
             eps=1e-10, maximize=False):
    """Adagrad step in place; `step` is the step number after its increment."""
    many, (params, grads, sums) = _listify(param, grad, state_sum)
    steps = _each(step, len(params))
    for i, (p, g, s) in enumerate(zip(params, grads, sums)):
        if g is None:
            continue
        g = -g if maximize else g
        if weight_decay != 0:
            g = g + weight_decay * p
        clr = lr / (1 + (steps[i] - 1) * lr_decay)
        s[...] = s + g * g
        std = np.sqrt(s) + eps
        p[...] = p + ((-clr) * g) / std


def _trust_ratio(p, u, coefficient, eps):
    """optax's scale_by_trust_ratio: c*||p|| / (||u|| + eps), or 1 when either norm is
    0; the norms in float64."""
    pn = float(np.sqrt(np.sum(p.astype(np.float64) ** 2)))
    un = float(np.sqrt(np.sum(u.astype(np.float64) ** 2)))
    return 1.0 if (pn == 0.0 or un == 0.0) else coefficient * pn / (un + eps)


@_float32_twin
def lars_(param, grad, trace, *, lr, momentum=0.9, weight_decay=0.0,
          trust_coefficient=1e-3, eps=0.0, nesterov=False):
    """LARS step in place, optax.lars's chain: add_decayed_weights, scale_by_trust_ratio,
    scale_by_learning_rate, trace.  Returns the trust ratio(s).  Norms in float64."""
    many, (params, grads, traces) = _listify(param, grad, trace)
    ratios = []
    for p, g, t in zip(params, grads, traces):
        if g is None:
            ratios.append(None)
            continue
        u = g + weight_decay * p
        r = _trust_ratio(p, u, trust_coefficient, eps)
        ratios.append(r)
        u = (-lr) * (u * r)
        t[...] = u + momentum * t
        p[...] = p + (u + momentum * t if nesterov else t)
    return ratios if many else ratios[0]


# ---- classes --------------------------------------------------------------------------

class _Optimizer:
    """Param groups, per-parameter state dicts and a loop calling `_update`."""

    def __init__(self, params, defaults):
        params = list(params)
        if params and not isinstance(params[0], dict):
            params = [{"params": params}]
        self.defaults = dict(defaults)
        self.param_groups = []
        for g in params:
            g = dict(g)
            g["params"] = list(g["params"])
            for k, v in self.defaults.items():
                g.setdefault(k, v)
            self.param_groups.append(g)
        self.state = [dict() for g in self.param_groups for _ in g["params"]]

    def step(self, grads, *, max_norm=None, norm_type=2.0, error_if_nonfinite=False,
             grad_scale=None):
        """With grad_scale: the step with copies of the gradients multiplied by it.
        With max_norm: clip_grad_norm_ (the reference's) on copies of the (scaled)
        gradients, then the step with the clipped copies; returns the total norm."""
        grads = list(grads)
        if grad_scale is not None:
            grads = [None if g is None else g * g.dtype.type(grad_scale) for g in grads]
        total = None
        if max_norm is not None:
            if not max_norm > 0:
                raise ValueError("max_norm must be > 0")
            grads = [None if g is None else g.copy() for g in grads]
            total = _clip.clip_grad_norm_(grads, max_norm, norm_type, error_if_nonfinite)
        k = 0
        for g in self.param_groups:
            n = len(g["params"])
            self._group_step(g, g["params"], grads[k:k + n], self.state[k:k + n])
            k += n
        return total


class SGD(_Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _group_step(self, g, params, grads, states):
        for p, gr, st in zip(params, grads, states):
            if gr is None:
                continue
            st["momentum_buffer"] = sgd_(
                p, gr, st.get("momentum_buffer"), lr=g["lr"], momentum=g["momentum"],
                dampening=g["dampening"], weight_decay=g["weight_decay"],
                nesterov=g["nesterov"], maximize=g["maximize"])


class Adam(_Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _group_step(self, g, params, grads, states):
        for p, gr, st in zip(params, grads, states):
            if gr is None:
                continue
            if not st:
                st.update(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))
            if g["amsgrad"] and "max_exp_avg_sq" not in st:
                st["max_exp_avg_sq"] = np.zeros_like(p)
            st["step"] += 1
            adam_(p, gr, st["exp_avg"], st["exp_avg_sq"], st["step"], lr=g["lr"],
                  beta1=g["betas"][0], beta2=g["betas"][1], eps=g["eps"],
                  weight_decay=g["weight_decay"], amsgrad=g["amsgrad"],
                  max_exp_avg_sq=st.get("max_exp_avg_sq"),
                  decoupled=g["decoupled_weight_decay"], maximize=g["maximize"])


class AdamW(Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)


class RMSprop(_Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      maximize=maximize))

    def _group_step(self, g, params, grads, states):
        for p, gr, st in zip(params, grads, states):
            if gr is None:
                continue
            if not st:
                st.update(step=0, square_avg=np.zeros_like(p))
            if g["momentum"] > 0 and "momentum_buffer" not in st:
                st["momentum_buffer"] = np.zeros_like(p)
            if g["centered"] and "grad_avg" not in st:
                st["grad_avg"] = np.zeros_like(p)
            st["step"] += 1
            rmsprop_(p, gr, st["square_avg"], grad_avg=st.get("grad_avg"),
                     momentum_buffer=st.get("momentum_buffer"), lr=g["lr"],
                     alpha=g["alpha"], eps=g["eps"], weight_decay=g["weight_decay"],
                     momentum=g["momentum"], centered=g["centered"], maximize=g["maximize"])


class Adagrad(_Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, maximize=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))
        k = 0
        for g in self.param_groups:  # torch creates Adagrad's state up front, every
            for p in g["params"]:    # group's from the constructor's value
                self.state[k].update(step=0, sum=np.full_like(p, initial_accumulator_value))
                k += 1

    def _group_step(self, g, params, grads, states):
        for p, gr, st in zip(params, grads, states):
            if gr is None:
                continue
            st["step"] += 1
            adagrad_(p, gr, st["sum"], st["step"], lr=g["lr"], lr_decay=g["lr_decay"],
                     weight_decay=g["weight_decay"], eps=g["eps"], maximize=g["maximize"])


class LARS(_Optimizer):
    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0, trust_coefficient=1e-3,
                 eps=0.0, *, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient, eps=eps,
                                      nesterov=nesterov))

    def _group_step(self, g, params, grads, states):
        for p, gr, st in zip(params, grads, states):
            if gr is None:
                continue
            if not st:
                st["trace"] = np.zeros_like(p)
            lars_(p, gr, st["trace"], lr=g["lr"], momentum=g["momentum"],
                  weight_decay=g["weight_decay"], trust_coefficient=g["trust_coefficient"],
                  eps=g["eps"], nesterov=g["nesterov"])


# ---- NAdam, RAdam, Adamax, Adadelta, Lion ---------------------------------------------

def _decay(p, g, lr, weight_decay, decoupled):
    """torch's weight decay: decoupled scales the parameter in place, else the
    gradient gets weight_decay * p."""
    if weight_decay != 0:
        if decoupled:
            p[...] = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
    return g


@_float32_twin
def nadam_(param, grad, exp_avg, exp_avg_sq, mu_product, step, *, lr=2e-3, beta1=0.9,
           beta2=0.999, eps=1e-8, weight_decay=0.0, momentum_decay=4e-3, decoupled=False,
           maximize=False):
    """NAdam step in place; mu_product: float32 0-d array(s), multiplied in float32
    as torch's float32 state tensor is."""
    many, (params, grads, ms, vs) = _listify(param, grad, exp_avg, exp_avg_sq)
    steps = _each(step, len(params))
    mps = _each(mu_product, len(params))
    for i, (p, g, m, v) in enumerate(zip(params, grads, ms, vs)):
        if g is None:
            continue
        t = float(steps[i])
        g = _decay(p, -g if maximize else g, lr, weight_decay, decoupled)
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * momentum_decay)))
        mps[i][...] = mps[i] * np.float32(mu)
        mp = float(mps[i])
        m[...] = _lerp(m, g, 1 - beta1)
        v[...] = v * beta2 + ((1 - beta2) * g) * g
        denom = np.sqrt(v / (1 - beta2 ** t)) + eps
        p[...] = p + ((-lr * (1.0 - mu) / (1.0 - mp)) * g) / denom
        p[...] = p + (((-lr * mu_next) / (1.0 - mp * mu_next)) * m) / denom


@_float32_twin
def radam_(param, grad, exp_avg, exp_avg_sq, step, *, lr=1e-3, beta1=0.9, beta2=0.999,
           eps=1e-8, weight_decay=0.0, decoupled=False, maximize=False):
    """RAdam step in place (torch's rectification; adaptive lr as Tensor.__rdiv__: a
    reciprocal times sqrt(bc2))."""
    many, (params, grads, ms, vs) = _listify(param, grad, exp_avg, exp_avg_sq)
    steps = _each(step, len(params))
    for i, (p, g, m, v) in enumerate(zip(params, grads, ms, vs)):
        if g is None:
            continue
        t = float(steps[i])
        g = _decay(p, -g if maximize else g, lr, weight_decay, decoupled)
        m[...] = _lerp(m, g, 1 - beta1)
        v[...] = v * beta2 + ((1 - beta2) * g) * g
        bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2 ** t) / bc2
        u = (m / bc1) * lr
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            u = (u * ((1 / (np.sqrt(v) + eps)) * bc2 ** 0.5)) * rect
        p[...] = p - u


@_float32_twin
def adamax_(param, grad, exp_avg, exp_inf, step, *, lr=2e-3, beta1=0.9, beta2=0.999,
            eps=1e-8, weight_decay=0.0, maximize=False):
    """Adamax step in place."""
    many, (params, grads, ms, us) = _listify(param, grad, exp_avg, exp_inf)
    steps = _each(step, len(params))
    for i, (p, g, m, u) in enumerate(zip(params, grads, ms, us)):
        if g is None:
            continue
        g = _decay(p, -g if maximize else g, lr, weight_decay, False)
        m[...] = _lerp(m, g, 1 - beta1)
        u[...] = np.maximum(u * beta2, np.abs(g) + eps)
        clr = lr / (1 - beta1 ** float(steps[i]))
        p[...] = p + ((-clr) * m) / u


@_float32_twin
def adadelta_(param, grad, square_avg, acc_delta, *, lr=1.0, rho=0.9, eps=1e-6,
              weight_decay=0.0, maximize=False):
    """Adadelta step in place."""
    many, (params, grads, sqs, accs) = _listify(param, grad, square_avg, acc_delta)
    for p, g, sq, acc in zip(params, grads, sqs, accs):
        if g is None:
            continue
        g = _decay(p, -g if maximize else g, lr, weight_decay, False)
        sq[...] = sq * rho + ((1 - rho) * g) * g
        std = np.sqrt(sq + eps)
        delta = (np.sqrt(acc + eps) / std) * g
        acc[...] = acc * rho + ((1 - rho) * delta) * delta
        p[...] = p + (-lr) * delta


@_float32_twin
def lion_(param, grad, exp_avg, *, lr, beta1=0.9, beta2=0.99, weight_decay=1e-3,
          maximize=False):
    """Lion step in place, optax.lion's chain: scale_by_lion, add_decayed_weights,
    scale_by_learning_rate."""
    many, (params, grads, ms) = _listify(param, grad, exp_avg)
    for p, g, m in zip(params, grads, ms):
        if g is None:
            continue
        g = -g if maximize else g
        u = np.sign((1.0 - beta1) * g + beta1 * m) + weight_decay * p
        p[...] = p + (-lr) * u
        m[...] = (1.0 - beta2) * g + beta2 * m


@_float32_twin
def lamb_(param, grad, exp_avg, exp_avg_sq, step, *, lr, beta1=0.9, beta2=0.999, eps=1e-6,
          eps_root=0.0, weight_decay=0.0, maximize=False):
    """LAMB step in place, optax.lamb's chain: scale_by_adam, add_decayed_weights,
    scale_by_trust_ratio, scale_by_learning_rate.  Returns the trust ratio(s).  Norms
    and bias corrections in float64."""
    many, (params, grads, ms, vs) = _listify(param, grad, exp_avg, exp_avg_sq)
    steps = _each(step, len(params))
    ratios = []
    for i, (p, g, m, v) in enumerate(zip(params, grads, ms, vs)):
        if g is None:
            ratios.append(None)
            continue
        g = -g if maximize else g
        m[...] = (1.0 - beta1) * g + beta1 * m
        v[...] = (1.0 - beta2) * (g * g) + beta2 * v
        t = float(steps[i])
        u = (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t) + eps_root) + eps)
        u = u + weight_decay * p
        r = _trust_ratio(p, u, 1.0, 0.0)
        ratios.append(r)
        p[...] = p + (-lr) * (u * r)
    return ratios if many else ratios[0]

class _Stepped(_Optimizer):
    """Optimizers whose state is `_slots` (zeros at first) and a step count, and whose
    functional step takes them in that order after the parameter and gradient."""
    _slots: tuple[str, ...] = ()
    _fn: Any = None  # the functional step, a plain function

    def _kwargs(self, g):
        raise NotImplementedError

    def _group_step(self, g, params, grads, states):
        for p, gr, st in zip(params, grads, states):
            if gr is None:
                continue
            if not st:
                st["step"] = 0
                st.update((s, np.zeros_like(p)) for s in self._slots)
                self._init_extra(st)
            st["step"] += 1
            type(self)._fn(p, gr, *self._args(st), **self._kwargs(g))

    def _init_extra(self, st):
        pass

    def _args(self, st):
        return [st[s] for s in self._slots] + [st["step"]]


def _betas(g):
    return dict(beta1=g["betas"][0], beta2=g["betas"][1])


class NAdam(_Stepped):
    _slots = ("exp_avg", "exp_avg_sq")
    _fn = nadam_

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _init_extra(self, st):
        st["mu_product"] = np.ones((), np.float32)

    def _args(self, st):
        return [st["exp_avg"], st["exp_avg_sq"], st["mu_product"], st["step"]]

    def _kwargs(self, g):
        return dict(lr=g["lr"], eps=g["eps"], weight_decay=g["weight_decay"],
                    momentum_decay=g["momentum_decay"],
                    decoupled=g["decoupled_weight_decay"], maximize=g["maximize"], **_betas(g))


class RAdam(_Stepped):
    _slots = ("exp_avg", "exp_avg_sq")
    _fn = radam_

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _kwargs(self, g):
        return dict(lr=g["lr"], eps=g["eps"], weight_decay=g["weight_decay"],
                    decoupled=g["decoupled_weight_decay"], maximize=g["maximize"], **_betas(g))


class Adamax(_Stepped):
    _slots = ("exp_avg", "exp_inf")
    _fn = adamax_

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _kwargs(self, g):
        return dict(lr=g["lr"], eps=g["eps"], weight_decay=g["weight_decay"],
                    maximize=g["maximize"], **_betas(g))


class Adadelta(_Stepped):
    _slots = ("square_avg", "acc_delta")
    _fn = adadelta_

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _args(self, st):
        return [st["square_avg"], st["acc_delta"]]

    def _kwargs(self, g):
        return dict(lr=g["lr"], rho=g["rho"], eps=g["eps"], weight_decay=g["weight_decay"],
                    maximize=g["maximize"])


class Lion(_Optimizer):
    def __init__(self, params, lr, betas=(0.9, 0.99), weight_decay=1e-3, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      maximize=maximize))

    def _group_step(self, g, params, grads, states):
        for p, gr, st in zip(params, grads, states):
            if gr is None:
                continue
            if not st:
                st["exp_avg"] = np.zeros_like(p)
            lion_(p, gr, st["exp_avg"], lr=g["lr"], weight_decay=g["weight_decay"],
                  maximize=g["maximize"], **_betas(g))


class LAMB(_Stepped):
    _slots = ("exp_avg", "exp_avg_sq")
    _fn = lamb_

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-6, eps_root=0.0,
                 weight_decay=0.0, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, eps_root=eps_root,
                                      weight_decay=weight_decay, maximize=maximize))

    def _kwargs(self, g):
        return dict(lr=g["lr"], eps=g["eps"], eps_root=g["eps_root"],
                    weight_decay=g["weight_decay"], maximize=g["maximize"], **_betas(g))


def _norm(x):
    """torch's ``x.norm(2).item()``: the 2-norm rounded to x's dtype (summed in float64)."""
    return float(x.dtype.type(np.sqrt(np.sum(x.astype(np.float64) ** 2))))


def _mean_sq(g, axis):
    """torch's ``norm(g, dim=axis, keepdim=True).square_().div_(size)``, in g's dtype."""
    norm = np.sqrt(np.sum(g.astype(np.float64) ** 2, axis=axis, keepdims=True))
    norm = norm.astype(g.dtype)
    return (norm * norm) / g.dtype.type(g.shape[axis])


def adafactor_(param, grad, row_var, col_var, variance, step, *, lr=1e-2, beta2_decay=-0.8,
               eps1=None, eps2=1e-3, d=1.0, weight_decay=0.0, maximize=False):
    """Adafactor step in place (torch.optim.Adafactor's single-tensor loop): factored
    row/column means over the last two dims for 2-d and up, the full variance for 0-d and
    1-d; eps1=None becomes finfo(dtype).eps of the first parameter with a gradient (its
    own dtype, 16-bit too).  A parameter with no elements is left as it is.  16-bit
    arrays: the float32 formulas on widened copies, each rounded once back."""
    if eps1 is None:  # torch resolves it at the first parameter and keeps it
        many = isinstance(param, (list, tuple))
        for p, g in zip(param if many else [param], grad if many else [grad]):
            if g is not None:
                eps1 = float(np.finfo(p.dtype).eps)
                break
    _adafactor_wide(param, grad, row_var, col_var, variance, step, lr=lr,
                    beta2_decay=beta2_decay, eps1=eps1, eps2=eps2, d=d,
                    weight_decay=weight_decay, maximize=maximize)


@_float32_twin
def _adafactor_wide(param, grad, row_var, col_var, variance, step, *, lr, beta2_decay, eps1,
                    eps2, d, weight_decay, maximize):
    many = isinstance(param, (list, tuple))
    params, grads = (list(param), list(grad)) if many else ([param], [grad])
    n = len(params)
    rows, cols, vs = [(list(a) if isinstance(a, (list, tuple)) else
                       ([a] if not many else [None] * n)) for a in (row_var, col_var, variance)]
    steps = _each(step, n)
    for i, (p, g) in enumerate(zip(params, grads)):
        if g is None or p.size == 0:
            continue
        dt = p.dtype.type
        g = -g if maximize else g
        t = float(steps[i])
        w = t ** beta2_decay
        rho = min(lr, 1 / t ** 0.5)
        alpha = max(eps2, _norm(p) / p.size ** 0.5) * rho
        if weight_decay != 0:
            p *= dt(1 - lr * weight_decay)
        if p.ndim >= 2:
            r, c = rows[i], cols[i]
            r[...] = _lerp(r, _mean_sq(g, -1), w)
            c[...] = _lerp(c, _mean_sq(g, -2), w)
            mean = (np.sum(r.astype(np.float64), axis=-2, keepdims=True) / r.shape[-2])
            mean = mean.astype(p.dtype)
            mean = np.where(mean < dt(eps1), dt(eps1), mean)
            v = (r * c) / mean
        else:
            vs[i][...] = _lerp(vs[i], g * g, w)
            v = vs[i].copy()
        v = np.where(v < dt(eps1 * eps1), dt(eps1 * eps1), v)
        u = (dt(1) / np.sqrt(v)) * g
        denom = max(1.0, _norm(u) / (u.size ** 0.5 * d))
        p[...] = p + dt(-alpha / denom) * u


class Adafactor(_Optimizer):
    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
                 weight_decay=0.0, *, maximize=False):
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                                      weight_decay=weight_decay, maximize=maximize))

    def _group_step(self, g, params, grads, states):
        rows, cols, vs, steps = [], [], [], []
        for p, gr, st in zip(params, grads, states):
            if gr is not None and not st:
                st["step"] = 0
                if p.ndim >= 2:
                    st["row_var"] = np.zeros(p.shape[:-1] + (1,), p.dtype)
                    st["col_var"] = np.zeros(p.shape[:-2] + (1, p.shape[-1]), p.dtype)
                else:
                    st["variance"] = np.zeros_like(p)
            if gr is not None:
                st["step"] += 1
            rows.append(st.get("row_var"))
            cols.append(st.get("col_var"))
            vs.append(st.get("variance"))
            steps.append(st.get("step", 0))
        adafactor_(list(params), list(grads), rows, cols, vs, steps, lr=g["lr"],
                   beta2_decay=g["beta2_decay"], eps1=g["eps"][0], eps2=g["eps"][1],
                   d=g["d"], weight_decay=g["weight_decay"], maximize=g["maximize"])
