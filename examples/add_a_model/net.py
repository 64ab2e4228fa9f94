"""A small residual CNN, the worked example of docs/add_a_model.md."""

from collections.abc import Sequence

import torch
from torch import nn

from blueprint.nets.activations import Activation, make_activation
from blueprint.nets.init import InitStrategy, initialize
from blueprint.nets.shapes import check_equal


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions whose output is added to the input, so gradients also flow around them."""

    def __init__(self, width: int, activation: Activation = "relu") -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            make_activation(activation),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
        )
        self.out = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(x + self.body(x))


class TinyResNet(nn.Module):
    """Stem convolution, `blocks` residual blocks, global average pooling, then a linear classifier."""

    def __init__(
        self,
        input_shape: Sequence[int],
        out_features: int,
        width: int = 16,
        blocks: int = 2,
        activation: Activation = "relu",
        init: InitStrategy = "default",
    ) -> None:
        super().__init__()
        # Every net takes these two; blueprint links them from the data (one sample's shape, the class count)
        self.input_shape = tuple(input_shape)  # (C, H, W): the task builds the TensorBoard graph and summary from it
        self.out_features = out_features  # ClassificationTask reads the number of classes from here
        self.stem = nn.Sequential(
            nn.Conv2d(self.input_shape[0], width, 3, padding=1), make_activation(activation), nn.MaxPool2d(2)
        )
        self.blocks = nn.Sequential(*(ResidualBlock(width, activation) for _ in range(blocks)))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, out_features))
        initialize(self, init, activation)  # every Conv and Linear, with the gain that fits the activation

    def check_input_shape(self, shape: Sequence[int]) -> None:
        """Called before the first step with the data's sample shape, so a mismatch fails early and clearly."""
        check_equal("channels", shape[0], self.input_shape[0], "input_shape", tuple(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))
