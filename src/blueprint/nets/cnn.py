"""Convolutional classifier: Conv -> BatchNorm -> activation -> MaxPool blocks, then a dropout + linear head."""

from collections.abc import Sequence

import torch
from torch import nn

from blueprint.errors import UserError
from blueprint.nets.activations import Activation, make_activation
from blueprint.nets.init import InitStrategy, initialize
from blueprint.nets.shapes import check_equal, image_shape


class CNN(nn.Module):
    """Each entry of `channels` adds one block that halves the spatial size; global pooling feeds the head."""

    def __init__(
        self,
        input_shape: Sequence[int],
        out_features: int,
        channels: Sequence[int] = (32, 64),
        convs_per_block: int = 1,
        kernel_size: int = 3,
        activation: Activation = "relu",
        batch_norm: bool = True,
        dropout: float = 0.0,
        hidden: int = 128,
        init: InitStrategy = "default",
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (padding keeps the size only then), got {kernel_size}")
        in_channels, height, across = image_shape(input_shape, "the CNN")
        if min(height, across) < 2 ** len(channels):
            raise ValueError(f"images {height}x{across} are too small for {len(channels)} pooling blocks")
        self.input_shape = (in_channels, height, across)  # per sample; the CLI links it from data.input_shape
        self.out_features = out_features
        blocks: list[nn.Module] = []
        width = in_channels
        for out in channels:
            for _ in range(convs_per_block):
                blocks.append(nn.Conv2d(width, out, kernel_size, padding=kernel_size // 2, bias=not batch_norm))
                if batch_norm:
                    blocks.append(nn.BatchNorm2d(out))
                blocks.append(make_activation(activation))
                width = out
            blocks.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*blocks)
        pooled = (height // 2 ** len(channels)) * (across // 2 ** len(channels))
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(width * pooled, hidden),
            make_activation(activation),
            nn.Dropout(dropout),
            nn.Linear(hidden, out_features),
        )
        initialize(self, init, activation)

    def check_input_shape(self, shape: Sequence[int]) -> None:
        """Channels and image size must match the data exactly."""
        if len(shape) != 3:
            raise UserError(f"the CNN takes images (C, H, W) but the data gives samples of shape {tuple(shape)}")
        check_equal("images (C, H, W)", tuple(shape), self.input_shape, "input_shape")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
