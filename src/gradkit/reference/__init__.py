"""Pure-NumPy twins of gradkit's compiled functions: same names, same signatures,
written straight from the formulas.  They state what each kernel means; the tests
compare the kernels against them.  Slow on purpose: clarity over speed."""
from .norm import (layer_norm, layer_norm_backward, rms_norm, rms_norm_backward)
from .preprocessing import PCA, Standardizer, Whitener

__all__ = ["layer_norm", "layer_norm_backward", "rms_norm", "rms_norm_backward"]
__all__ += ["Standardizer", "PCA", "Whitener"]
