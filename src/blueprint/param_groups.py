"""Optimizer parameter groups: weight decay on weights only, sparing biases and normalization parameters."""

from typing import Any

from torch import nn

NORM_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)


def decay_and_no_decay(module: nn.Module) -> list[dict[str, Any]]:
    """Two groups for `optimizer(params)`: weights keep the optimizer's weight_decay; biases and norm params get 0."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for layer in module.modules():
        for name, param in layer.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            spared = isinstance(layer, NORM_LAYERS) or name == "bias"
            (no_decay if spared else decay).append(param)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]
