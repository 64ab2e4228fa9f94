"""Transfer learning: any torchvision classification model by name, its final Linear layer replaced for ours."""

from collections.abc import Sequence

import torch
from torch import nn

from blueprint.nets.shapes import check_equal


def _last_linear(model: nn.Module) -> str:
    """Dotted name of the model's last nn.Linear: the classification head (fc, classifier.1, heads.head, ...)."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no nn.Linear head to replace")
    return names[-1]


def _adapt_stem(model: nn.Module, in_channels: int) -> None:
    """Give the model's first Conv2d `in_channels` inputs (torchvision's models are built for 3)."""
    name = next((n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    if name is None:
        raise ValueError(f"{type(model).__name__} has no Conv2d stem to adapt to {in_channels} input channels")
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, attr)
    stem = nn.Conv2d(
        in_channels,
        old.out_channels,
        old.kernel_size,
        old.stride,
        old.padding,
        old.dilation,
        old.groups,
        old.bias is not None,
        old.padding_mode,
    )
    setattr(parent, attr, stem)


class Backbone(nn.Module):
    """`weights` (e.g. "DEFAULT", "IMAGENET1K_V1") downloads pretrained weights; None (default) starts from scratch.

    `in_channels` other than 3 (e.g. 1 for MNIST) replaces the first convolution; only without pretrained weights.

    With weights, the weights' own preprocessing (resize, crop, ImageNet normalization) runs inside `forward`,
    so feed images in [0, 1] (CIFAR10DataModule: `normalize: false`).
    """

    def __init__(
        self,
        name: str = "resnet18",
        out_features: int = 10,
        weights: str | None = None,
        in_channels: int = 3,
        image_size: int = 32,
    ) -> None:
        super().__init__()
        from torchvision import models

        available = models.list_models(module=models)
        if name not in available:
            raise ValueError(f"unknown torchvision classification model {name!r}; choose one of {available}")
        self.in_channels = in_channels
        self.image_size = image_size
        self.out_features = out_features
        if weights and in_channels != 3:
            raise ValueError(
                f"pretrained weights expect 3-channel images (got in_channels={in_channels}); repeat the channel or "
                "train from scratch (weights: null)"
            )
        self.model = models.get_model(name, weights=weights)
        if in_channels != 3:
            _adapt_stem(self.model, in_channels)
        self.head_name = _last_linear(self.model)
        parent_name, _, attr = self.head_name.rpartition(".")
        parent = self.model.get_submodule(parent_name) if parent_name else self.model
        old = getattr(parent, attr)
        setattr(parent, attr, nn.Linear(old.in_features, out_features))
        self.preprocess = models.get_model_weights(name).verify(weights).transforms() if weights else None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.image_size, self.image_size)

    def check_input_shape(self, shape: Sequence[int]) -> None:
        check_equal("channels", shape[0], self.in_channels, "model.net.init_args.in_channels")
        check_equal("image size", shape[-1], self.image_size, "model.net.init_args.image_size")

    def head(self) -> nn.Module:
        """The new classification layer (trainable from the start when the body is frozen)."""
        return self.model.get_submodule(self.head_name)

    def body_modules(self) -> list[nn.Module]:
        """Every leaf module except the head: what a fine-tuning schedule freezes, then thaws."""
        head = self.head()
        return [m for m in self.model.modules() if not list(m.children()) and m is not head]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preprocess is not None:
            x = self.preprocess(x)
        return self.model(x)
