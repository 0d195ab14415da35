"""gradkit for PyTorch users: gradkit's CPU kernels as autograd-aware operators on
torch tensors, with PyTorch's signatures (optional: needs torch, which gradkit itself
never imports).

- :mod:`gradkit.torch.functional`: ``layer_norm``, ``rms_norm``, ``batch_norm``,
  ``dropout``, ``cross_entropy`` with ``torch.nn.functional``'s signatures;
- modules ``LayerNorm``, ``RMSNorm``, ``BatchNorm1d/2d/3d``, ``Dropout`` (subclasses of
  their ``torch.nn`` namesakes: same constructor and state_dict) and :func:`patch`,
  which switches a model's modules in place.

The operators are ``torch.library`` custom ops (``torch.ops.gradkit.*``) with fake
implementations, so ``torch.compile`` traces them; zero-copy on CPU float32/float64
tensors, PyTorch's own op for anything else.
"""
try:
    import torch as _torch  # noqa: F401  (the real torch: absolute import)
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("gradkit.torch needs PyTorch (pip install torch)") from exc

from . import functional, optim
from .modules import (BatchNorm1d, BatchNorm2d, BatchNorm3d, Dropout, LayerNorm, Linear,
                      RMSNorm, patch)

__all__ = ["functional", "optim", "Linear", "LayerNorm", "RMSNorm", "BatchNorm1d",
           "BatchNorm2d", "BatchNorm3d", "Dropout", "patch"]
