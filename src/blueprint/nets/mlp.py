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
        in_features: int = 784,
        out_features: int = 10,
        hidden: Sequence[int] = (256, 128),
        activation: Activation = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        init: InitStrategy = "default",
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_features = in_features
        self.out_features = out_features
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
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

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-sample shape used for the model summary and graph."""
        return (self.in_features,)

    def check_input_shape(self, shape: Sequence[int]) -> None:
        """Any per-sample shape works if it flattens to `in_features`."""
        check_equal("features per sample", math.prod(shape), self.in_features, "model.net.init_args.in_features")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
