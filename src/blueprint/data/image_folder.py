"""A folder of images in torchvision's ImageFolder layout (root/<class>/<image>), resized, held in memory."""

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from blueprint.data.base import InMemoryDataModule, Split
from blueprint.data.batched import BatchTransform, CropFlip
from blueprint.data.splits import stratified_split
from blueprint.errors import UserError


def read_images(root: str, image_size: int) -> tuple[Tensor, Tensor, list[str]]:
    """uint8 images (N, 3, S, S), class indices (N,) and class names, through torchvision's ImageFolder."""
    from torchvision import datasets
    from torchvision.transforms import v2

    if not Path(root).is_dir():
        raise UserError(f"data.root '{root}' is not a folder; give a folder of class sub-folders of images")
    resize = v2.Compose([v2.PILToTensor(), v2.Resize((image_size, image_size), antialias=True)])
    try:
        folder = datasets.ImageFolder(root, transform=resize, loader=rgb)
    except (FileNotFoundError, OSError) as err:
        raise UserError(f"data.root '{root}': {err}; put images in one sub-folder per class") from err
    images = torch.stack([folder[index][0] for index in range(len(folder))])
    return images, torch.tensor(folder.targets), list(folder.classes)


def rgb(path: str) -> Any:
    """Every image as 3-channel RGB, whatever its mode, so all samples share one shape."""
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


class ImageFolderDataModule(InMemoryDataModule):
    """Images resized to `image_size`, normalized per channel with the train split's statistics; val/test carved
    out stratified by class. Training adds random crops (`crop_padding`) and optional horizontal flips."""

    num_classes: int

    def __init__(
        self,
        root: str,
        image_size: int = 32,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        crop_padding: int = 0,
        hflip: bool = False,
        batch_size: int = 64,
        eval_batch_size: int = 512,
        seed: int = 0,
        allow_split_change: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, allow_split_change)
        if image_size < 1:
            raise UserError(f"data.image_size must be >= 1, got {image_size}")
        self.root, self.image_size, self.crop_padding, self.hflip = root, image_size, crop_padding, hflip
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.input_shape = (3, image_size, image_size)
        self.classes: list[str] = []
        self.mean: list[float] = []
        self.std: list[float] = []

    def split_identity(self) -> dict[str, Any]:
        return super().split_identity() | {"root": self.root, "val_fraction": self.val_fraction}

    def load_splits(self) -> dict[str, Split]:
        images, labels, self.classes = read_images(self.root, self.image_size)
        self.num_classes = len(self.classes)
        n = len(labels)
        sizes = {"test": max(1, round(n * self.test_fraction)), "val": max(1, round(n * self.val_fraction))}
        parts = stratified_split(labels.numpy(), sizes, self.seed, option="data.{name}_fraction ({size} images)")
        scaled = images.float() / 255.0
        train = scaled[torch.from_numpy(parts["train"])]
        mean, std = train.mean((0, 2, 3)), train.std((0, 2, 3)).clamp_min(1e-6)
        self.mean, self.std = mean.tolist(), std.tolist()
        normalized = (scaled - mean[:, None, None]) / std[:, None, None]
        return {name: (normalized[torch.from_numpy(idx)], labels[torch.from_numpy(idx)]) for name, idx in parts.items()}

    def train_transform(self) -> BatchTransform | None:
        if self.crop_padding == 0 and not self.hflip:
            return None
        return CropFlip(self.crop_padding, self.hflip, fill=0.0)
