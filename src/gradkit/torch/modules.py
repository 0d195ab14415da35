"""Modules with ``torch.nn``'s constructor signatures and ``state_dict`` keys whose
forward runs gradkit's kernels (:mod:`gradkit.torch.functional`).

Each is a subclass of its ``torch.nn`` namesake that overrides only ``forward``: the
parameters, buffers, ``extra_repr`` and ``load_state_dict`` are PyTorch's, so a torch
model's state dict loads unchanged, and :func:`patch` can switch a model's modules in
place by changing their class (parameters keep their identity: an optimizer built
before the patch still holds them).
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from . import functional as GF

__all__ = ["Linear", "LayerNorm", "RMSNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Dropout",
           "patch"]


class Linear(nn.Linear):
    """``nn.Linear`` through :func:`gradkit.torch.functional.linear`."""

    def forward(self, input: Tensor) -> Tensor:
        return GF.linear(input, self.weight, self.bias)


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` through :func:`gradkit.torch.functional.layer_norm`."""

    def forward(self, input: Tensor) -> Tensor:
        return GF.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)


class RMSNorm(nn.RMSNorm):
    """``nn.RMSNorm`` through :func:`gradkit.torch.functional.rms_norm`."""

    def forward(self, x: Tensor) -> Tensor:
        return GF.rms_norm(x, self.normalized_shape, self.weight, self.eps)


class _BatchNormForward:
    """``nn.modules.batchnorm._BatchNorm.forward`` with gradkit's batch_norm: the same
    bookkeeping (num_batches_tracked, the cumulative average for momentum=None, batch
    statistics in eval mode without running statistics)."""

    def forward(self, input: Tensor) -> Tensor:
        m: Any = self  # the attributes are nn.BatchNorm's (this is its mixin)
        m._check_input_dim(input)
        factor = 0.0 if m.momentum is None else m.momentum
        if m.training and m.track_running_stats and m.num_batches_tracked is not None:
            m.num_batches_tracked.add_(1)
            if m.momentum is None:  # the cumulative moving average
                factor = 1.0 / float(m.num_batches_tracked)
        use_batch = m.training or (m.running_mean is None and m.running_var is None)
        keep = not m.training or m.track_running_stats  # else the buffers stay as they are
        return GF.batch_norm(input, m.running_mean if keep else None,
                             m.running_var if keep else None, m.weight, m.bias, use_batch,
                             factor, m.eps)


class BatchNorm1d(_BatchNormForward, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` through :func:`gradkit.torch.functional.batch_norm`."""


class BatchNorm2d(_BatchNormForward, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` through :func:`gradkit.torch.functional.batch_norm`."""


class BatchNorm3d(_BatchNormForward, nn.BatchNorm3d):
    """``nn.BatchNorm3d`` through :func:`gradkit.torch.functional.batch_norm`."""


class Dropout(nn.Dropout):
    """``nn.Dropout`` through :func:`gradkit.torch.functional.dropout`."""

    def forward(self, input: Tensor) -> Tensor:
        return GF.dropout(input, self.p, self.training, self.inplace)


# torch class -> gradkit class; exact types only (a user's subclass may change forward)
_SWAPS: dict[type, type] = {nn.Linear: Linear, nn.LayerNorm: LayerNorm, nn.RMSNorm: RMSNorm,
                            nn.BatchNorm1d: BatchNorm1d, nn.BatchNorm2d: BatchNorm2d,
                            nn.BatchNorm3d: BatchNorm3d, nn.Dropout: Dropout}


def patch(model: nn.Module) -> nn.Module:
    """Switch, in place, every ``nn.Linear``, ``nn.LayerNorm``, ``nn.RMSNorm``,
    ``nn.BatchNorm1d/2d/3d`` and ``nn.Dropout`` of ``model`` (itself included) to its
    gradkit namesake.

    Only the class changes: parameters, buffers, hooks and the ``state_dict`` are the
    same objects, so outputs are the same to round-off (dropout draws other masks), an
    optimizer made earlier keeps working, and the model still loads torch checkpoints.
    Subclasses of those modules are left alone (their forward may differ).

    Returns
    -------
    model : the same module, for chaining.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for module in model.modules():
        swap = _SWAPS.get(type(module))
        if swap is not None:
            module.__class__ = swap
    return model
