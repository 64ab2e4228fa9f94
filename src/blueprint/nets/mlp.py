"""Multi-layer perceptron: Linear -> (BatchNorm) -> activation -> (Dropout) blocks, then a linear head."""

import math
from collections.abc import Sequence

import torch
from torch import nn

from blueprint.nets.activations import Activation, make_activation
from blueprint.nets.init import InitStrategy, initialize
from blueprint.nets.shapes import check_equal


class MLP(nn.Module):
    """Flattens its input, so it fits tables (features) and images (C, H, W) alike."""

    def __init__(
        self,
        input_shape: Sequence[int],
        out_features: int,
        hidden: Sequence[int] = (256, 128),
        activation: Activation = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        init: InitStrategy = "default",
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_shape = tuple(input_shape)  # per sample; the CLI links it from data.input_shape
        self.in_features = math.prod(self.input_shape)
        self.out_features = out_features
        layers: list[nn.Module] = [nn.Flatten()]
        width = self.in_features
        for size in hidden:
            layers.append(nn.Linear(width, size, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)
        initialize(self, init, activation)

    def check_input_shape(self, shape: Sequence[int]) -> None:
        """Any per-sample shape works if it flattens to as many features as `input_shape`."""
        check_equal("features per sample", math.prod(shape), self.in_features, "input_shape", tuple(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
