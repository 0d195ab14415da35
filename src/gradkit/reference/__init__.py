"""Pure-NumPy twins of gradkit's compiled functions: same names, same signatures,
written straight from the formulas.  They state what each kernel means; the tests
compare the kernels against them.  Slow on purpose: clarity over speed."""
from .norm import (layer_norm, layer_norm_backward, rms_norm, rms_norm_backward)
from . import random, init
from .dropout import dropout, dropout_backward, drop_path, drop_path_backward

__all__ = ["layer_norm", "layer_norm_backward", "rms_norm", "rms_norm_backward"]
__all__ += ["random", "init", "dropout", "dropout_backward", "drop_path",
            "drop_path_backward"]
