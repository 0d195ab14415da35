"""gradkit: fast CPU kernels for the primitives of deep-learning training, on NumPy arrays.

Normalization forward/backward, dropout, initialization, optimizers, clipping, loss
scaling, learning-rate schedules, regularization, losses, gradient checking,
quantization and preprocessing; compiled C + OpenMP kernels behind a thin Python API,
each with a pure-NumPy twin in ``gradkit.reference``.  ``gradkit.nn`` builds small
layers from them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

from ._config import (cache_info, get_include, get_num_threads, num_threads,
                      set_cache_limit, set_num_threads, set_stream_threshold,
                      show_config)
# The families.  gradkit.dropout and gradkit.linear stay the modules: a function of that name would shadow
# it (and `import gradkit.dropout as D` would then give the function).
from . import (amp, clip, diagnostics, dropout, gradcheck, init, linear, losses, nn, norm,
               optim, quant, random, regularization, schedules)
# The most used names.
from .norm import (NormStats, add_dropout_layer_norm, add_dropout_layer_norm_backward,
                   add_dropout_rms_norm, add_dropout_rms_norm_backward, batch_norm,
                   batch_norm_backward, layer_norm, layer_norm_backward, rms_norm,
                   rms_norm_backward)
from .random import Generator
from .dropout import DropoutMask
from .clip import clip_grad_norm_, clip_grad_value_, global_norm
from .amp import LossScaler
from .losses import distillation_loss, kl_div, mse, softmax_cross_entropy
from .gradcheck import GradCheckResult, check_grad, numerical_grad
from .quant import dequantize, quantize

__all__ = [
    "__version__", "bfloat16", "get_include", "show_config", "get_num_threads", "set_num_threads",
    "num_threads", "set_cache_limit", "cache_info", "set_stream_threshold",
    "amp", "clip", "diagnostics", "dropout", "gradcheck", "init", "linear", "losses", "nn",
    "norm",
    "optim", "preprocessing", "quant", "random", "regularization", "schedules",
    "NormStats", "layer_norm", "layer_norm_backward", "rms_norm", "rms_norm_backward",
    "batch_norm", "batch_norm_backward", "add_dropout_layer_norm",
    "add_dropout_layer_norm_backward", "add_dropout_rms_norm",
    "add_dropout_rms_norm_backward", "Generator", "DropoutMask", "global_norm",
    "clip_grad_norm_", "clip_grad_value_", "LossScaler", "softmax_cross_entropy",
    "kl_div", "distillation_loss", "mse", "numerical_grad", "check_grad",
    "GradCheckResult", "quantize", "dequantize",
]


def __getattr__(name: str) -> Any:
    # gradkit.bfloat16 is ml_dtypes' bfloat16, the 16-bit storage type next to
    # numpy.float16; importing ml_dtypes registers all its types with NumPy (longer than
    # the rest of gradkit's import), so it is loaded on first use, not with gradkit.
    if name == "bfloat16":
        import ml_dtypes
        return ml_dtypes.bfloat16
    # gradkit.preprocessing imports scikit-learn's base classes when scikit-learn is
    # installed (a second or so); load it on first use, not with gradkit.
    if name == "preprocessing":
        import importlib
        return importlib.import_module(".preprocessing", __name__)
    raise AttributeError(f"module 'gradkit' has no attribute {name!r}")
