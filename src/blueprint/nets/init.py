"""Weight-initialization strategies (Xavier, Kaiming, orthogonal) applied to every Linear and Conv1d/2d/3d layer."""

from typing import Literal, get_args

from torch import nn

InitStrategy = Literal["default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal"]

Nonlinearity = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
_NONLINEARITIES: dict[str, Nonlinearity] = {
    "leaky_relu": "leaky_relu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "selu": "linear",  # self-normalizing nets want gain 1 (torch's calculate_gain("selu") is 3/4)
}

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _nonlinearity(activation: str) -> Nonlinearity:
    """Kaiming's gain depends on the activation that follows; map ours onto the names torch knows."""
    return _NONLINEARITIES.get(activation, "relu")


def initialize(module: nn.Module, strategy: str = "default", activation: str = "relu") -> None:
    """Re-initialize weights in place; biases are zeroed for every non-default strategy."""
    if strategy == "default":
        return
    nonlinearity = _nonlinearity(activation)
    gain = nn.init.calculate_gain(nonlinearity)
    for layer in module.modules():
        if not isinstance(layer, _WEIGHTED):
            continue
        weight = layer.weight
        if strategy == "xavier_uniform":
            nn.init.xavier_uniform_(weight, gain=gain)
        elif strategy == "xavier_normal":
            nn.init.xavier_normal_(weight, gain=gain)
        elif strategy == "kaiming_uniform":
            nn.init.kaiming_uniform_(weight, nonlinearity=nonlinearity)
        elif strategy == "kaiming_normal":
            nn.init.kaiming_normal_(weight, nonlinearity=nonlinearity)
        elif strategy == "orthogonal":
            nn.init.orthogonal_(weight, gain=gain)
        else:
            raise ValueError(f"unknown init strategy {strategy!r}; choose one of {get_args(InitStrategy)}")
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
