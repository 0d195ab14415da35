"""Pure-NumPy twins of gradkit's compiled functions: same names, same signatures,
written straight from the formulas.  They state what each kernel means; the tests
compare the kernels against them.  Slow on purpose: clarity over speed."""
from .norm import (layer_norm, layer_norm_backward, rms_norm, rms_norm_backward)
from .clip import global_norm, clip_grad_norm_, clip_grad_value_
from . import amp, clip, schedules

__all__ = ["layer_norm", "layer_norm_backward", "rms_norm", "rms_norm_backward"]
__all__ += ["global_norm", "clip_grad_norm_", "clip_grad_value_", "amp", "clip", "schedules"]
# modules (as in gradkit: a function `dropout` would shadow the module of that name)
from . import dropout, init, random

__all__ += ["dropout", "init", "random"]

from .norm import batch_norm, batch_norm_backward

__all__ += ["batch_norm", "batch_norm_backward"]
from .norm import (BatchNormStats, batch_norm_backward_elemt, batch_norm_backward_reduce,
                   batch_norm_elemt, batch_norm_gather_stats, batch_norm_merge_stats,
                   batch_norm_stats)

__all__ += ["BatchNormStats", "batch_norm_stats", "batch_norm_merge_stats",
            "batch_norm_gather_stats", "batch_norm_elemt", "batch_norm_backward_reduce",
            "batch_norm_backward_elemt"]
from .norm import (add_dropout_layer_norm, add_dropout_layer_norm_backward,
                   add_dropout_rms_norm, add_dropout_rms_norm_backward)

__all__ += ["add_dropout_layer_norm", "add_dropout_layer_norm_backward",
            "add_dropout_rms_norm", "add_dropout_rms_norm_backward"]

from . import optim, regularization  # noqa: E402
__all__ += ["optim", "regularization"]
from .preprocessing import PCA, Moments, Scatter, Standardizer, Whitener

__all__ += ["Standardizer", "PCA", "Whitener", "Moments", "Scatter"]
from .losses import (softmax_cross_entropy, kl_div, distillation_loss, mse,
                     kl_div_log_probs)

__all__ += ["softmax_cross_entropy", "kl_div", "distillation_loss", "mse",
            "kl_div_log_probs"]
from .quant import quantize, dequantize
from .gradcheck import numerical_grad

__all__ += ["quantize", "dequantize", "numerical_grad"]
from . import lowbit  # noqa: E402  (low-bit weights: RTN, GPTQ, packing, qlinear)

__all__ += ["lowbit"]
from . import linear  # noqa: E402  (gradkit.linear's products)

__all__ += ["linear"]
