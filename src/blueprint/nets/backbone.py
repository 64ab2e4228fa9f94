"""Transfer learning: any torchvision classification model by name, its final Linear layer replaced for ours."""

from collections.abc import Sequence

import torch
from torch import nn

from blueprint.nets.shapes import check_equal, image_shape


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

    `input_shape` is one image's (C, H, W); C other than 3 (e.g. 1 for MNIST) replaces the first convolution, only
    without pretrained weights.

    With weights, the weights' own preprocessing (resize, crop, ImageNet normalization) runs inside `forward`,
    so feed images in [0, 1] (CIFAR10DataModule: `normalize: false`).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        out_features: int,
        name: str = "resnet18",
        weights: str | None = None,
    ) -> None:
        super().__init__()
        from torchvision import models

        available = models.list_models(module=models)
        if name not in available:
            raise ValueError(f"unknown torchvision classification model {name!r}; choose one of {available}")
        in_channels = image_shape(input_shape, name)[0]
        self.input_shape = tuple(input_shape)  # per sample; the CLI links it from data.input_shape
        self.out_features = out_features
        if weights and in_channels != 3:
            raise ValueError(
                f"pretrained weights expect 3-channel images (got input_shape={tuple(input_shape)}); repeat the "
                "channel or train from scratch (weights: null)"
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

    def check_input_shape(self, shape: Sequence[int]) -> None:
        check_equal("images (C, H, W)", tuple(shape), self.input_shape, "input_shape")

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
