"""Optimizer parameter groups: weight decay on weights only, sparing biases and normalization parameters."""

from typing import Any

from torch import nn

NORM_LAYERS = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.RMSNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LazyBatchNorm1d,
    nn.LazyBatchNorm2d,
    nn.LazyBatchNorm3d,
    nn.LazyInstanceNorm1d,
    nn.LazyInstanceNorm2d,
    nn.LazyInstanceNorm3d,
)


def split_by_decay(layers: list[nn.Module]) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(decayed, spared) trainable parameters of `layers`' own: biases (LSTM's `bias_ih_l0` too) and norms spared."""
    decay: list[nn.Parameter] = []
    spared: list[nn.Parameter] = []
    for layer in layers:
        for name, param in layer.named_parameters(recurse=False):
            if param.requires_grad:
                spare = isinstance(layer, NORM_LAYERS) or name.startswith("bias")
                (spared if spare else decay).append(param)
    return decay, spared


def decay_and_no_decay(module: nn.Module) -> list[dict[str, Any]]:
    """Two groups for `optimizer(params)`: weights keep the optimizer's weight_decay; biases and norm params get 0."""
    decay, spared = split_by_decay(list(module.modules()))
    return [{"params": decay}, {"params": spared, "weight_decay": 0.0}]
