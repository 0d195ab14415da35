"""Argument checks shared by the optimizer classes and the functional kernels.

Each raises before anything is written: TypeError for a wrong type or dtype, ValueError
for a wrong value or shape, naming the argument."""
import numbers

import numpy as np

from .. import _validation as _v

_INF = float("inf")


def nonneg(v, name):
    """A finite real number >= 0, as a float."""
    if type(v) is float and 0.0 <= v < _INF:  # the common case, checked fast: step()
        return v                              # re-checks every group's options
    return _v.nonneg_float(v, name)


def unit(v, name):
    """A real number in [0, 1) (Adam's betas)."""
    if type(v) is float and 0.0 <= v < 1.0:
        return v
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {v}")
    return v


def betas(v, name="betas"):
    if not isinstance(v, (tuple, list)) or len(v) != 2:
        raise TypeError(f"{name} must be a pair (beta1, beta2), got {v!r}")
    return unit(v[0], f"{name}[0]"), unit(v[1], f"{name}[1]")


def flag(v, name):
    if v is True or v is False:
        return v
    if not isinstance(v, (bool, np.bool_, int, np.integer)):
        raise TypeError(f"{name} must be a bool, got {type(v).__name__}")
    return bool(v)


def sgd_options(lr, momentum, dampening, weight_decay, nesterov, maximize):
    lr, momentum = nonneg(lr, "lr"), nonneg(momentum, "momentum")
    weight_decay = nonneg(weight_decay, "weight_decay")
    if isinstance(dampening, bool) or not isinstance(dampening, numbers.Real):
        raise TypeError(f"dampening must be a real number, got {type(dampening).__name__}")
    dampening = float(dampening)
    if dampening != dampening:
        raise ValueError("dampening must be a number, got nan")
    nesterov = flag(nesterov, "nesterov")
    if nesterov and (momentum <= 0.0 or dampening != 0.0):
        raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0, got "
                         f"momentum={momentum}, dampening={dampening}")
    return lr, momentum, dampening, weight_decay, nesterov, flag(maximize, "maximize")


def adam_options(lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled, maximize):
    return (nonneg(lr, "lr"), unit(beta1, "betas[0]"), unit(beta2, "betas[1]"),
            nonneg(eps, "eps"), nonneg(weight_decay, "weight_decay"),
            flag(amsgrad, "amsgrad"), flag(decoupled, "decoupled_weight_decay"),
            flag(maximize, "maximize"))


def rmsprop_options(lr, alpha, eps, weight_decay, momentum, centered, maximize):
    return (nonneg(lr, "lr"), nonneg(alpha, "alpha"), nonneg(eps, "eps"),
            nonneg(weight_decay, "weight_decay"), nonneg(momentum, "momentum"),
            flag(centered, "centered"), flag(maximize, "maximize"))


def adagrad_options(lr, lr_decay, weight_decay, eps, maximize):
    return (nonneg(lr, "lr"), nonneg(lr_decay, "lr_decay"),
            nonneg(weight_decay, "weight_decay"), nonneg(eps, "eps"),
            flag(maximize, "maximize"))


def lars_options(lr, momentum, weight_decay, trust_coefficient, eps, nesterov):
    return (nonneg(lr, "lr"), nonneg(momentum, "momentum"),
            nonneg(weight_decay, "weight_decay"),
            nonneg(trust_coefficient, "trust_coefficient"), nonneg(eps, "eps"),
            flag(nesterov, "nesterov"))


def param_array(a, name):
    """A parameter updated in place: a float32/float64 ndarray, C-contiguous, writable."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (updated in place), got "
                        f"{type(a).__name__}")
    if a.dtype != _v.FLOAT32 and a.dtype != _v.FLOAT64:
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (it is updated in place)")
    if not a.flags.writeable:
        raise ValueError(f"{name} must be writable")
    return a


def state_array(a, name, param):
    """A state array updated in place, of its parameter's dtype and shape."""
    a = param_array(a, name)
    if a.dtype != param.dtype:
        raise TypeError(f"{name} has dtype {a.dtype} but its parameter has dtype "
                        f"{param.dtype}")
    if a.shape != param.shape:
        raise ValueError(f"{name} has shape {a.shape} but its parameter has shape "
                         f"{param.shape}")
    if np.shares_memory(a, param):
        raise ValueError(f"{name} overlaps its parameter")
    return a
