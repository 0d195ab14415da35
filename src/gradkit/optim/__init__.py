"""Optimizers with torch.optim's formulas and defaults (LARS, Lion, LAMB: optax's), updating NumPy
arrays in place.

Classes take ``params`` (a list of float arrays, or a list of dicts ``{"params": [...],
**options}``) and update them with ``step(grads)``; ``param_groups`` (options writable
between steps), ``state_dict()`` and ``load_state_dict()`` behave as torch's.  Each
step runs one multi-tensor kernel per group: one pass over memory and one parallel
region for all its arrays.  :mod:`gradkit.optim.functional` holds the same kernels as
in-place functions on arrays.
"""
from . import functional
from .algorithms import (LAMB, LARS, SGD, Adadelta, Adafactor, Adagrad, Adam, Adamax, AdamW,
                         Lion, NAdam, RAdam, RMSprop)
from .optimizer import Optimizer

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LARS", "NAdam",
           "RAdam", "Adamax", "Adadelta", "Adafactor", "Lion", "LAMB", "functional"]
