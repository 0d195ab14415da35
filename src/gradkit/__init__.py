"""gradkit: fast CPU kernels for the primitives of deep-learning training, on NumPy arrays.

Normalization forward/backward, dropout, initialization, optimizers, clipping, losses,
gradient checking, quantization and preprocessing; compiled C + OpenMP kernels behind a
thin Python API, each with a pure-NumPy twin in ``gradkit.reference``.
"""
__version__ = "0.1.0"

from ._config import (get_include, get_num_threads, num_threads, set_num_threads,
                      show_config)
from .norm import (NormStats, layer_norm, layer_norm_backward, rms_norm,
                   rms_norm_backward)
from .clip import clip_grad_norm_, clip_grad_value_, global_norm
from .amp import LossScaler
from . import amp, clip, schedules
# gradkit.dropout stays the module (a function of that name would shadow it, and
# `import gradkit.dropout as D` would then give the function).
from . import dropout, init, random
from .dropout import DropoutMask
from .random import Generator
from .norm import batch_norm, batch_norm_backward

__all__ = [
    "__version__", "get_include", "show_config", "get_num_threads", "set_num_threads",
    "num_threads", "NormStats", "layer_norm", "layer_norm_backward", "rms_norm",
    "rms_norm_backward",
]
__all__ += ["clip_grad_norm_", "clip_grad_value_", "global_norm", "LossScaler",
            "amp", "clip", "schedules"]
__all__ += ["dropout", "init", "random", "Generator", "DropoutMask"]
__all__ += ["batch_norm", "batch_norm_backward"]

from . import optim, regularization  # noqa: E402
__all__ += ["optim", "regularization"]

from .losses import softmax_cross_entropy, kl_div, distillation_loss, mse
from .gradcheck import numerical_grad, check_grad, GradCheckResult
from .quant import quantize, dequantize
from . import losses, gradcheck, quant, diagnostics

__all__ += ["losses", "gradcheck", "quant", "diagnostics", "softmax_cross_entropy",
            "kl_div", "distillation_loss", "mse", "numerical_grad", "check_grad",
            "GradCheckResult", "quantize", "dequantize"]
