"""CIFAR-10 through torchvision's dataset class, held in memory; random crop + flip per sample at train time only."""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from blueprint.data.base import InMemoryDataModule, Split
from blueprint.data.batched import BatchTransform, CropFlip
from blueprint.data.splits import missing_dataset, stratified_split
from blueprint.errors import UserError

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def to_tensor_images(images: np.ndarray, normalize: bool) -> Tensor:
    """uint8 (N, H, W, C) -> float32 (N, C, H, W) in [0, 1], then per-channel standardized if `normalize`."""
    out = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    if normalize:
        out = (out - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    return out.contiguous()


def read_cifar10(data_dir: str, train: bool, download: bool):
    """torchvision's CIFAR10 (pickle batches under data_dir/cifar-10-batches-py); a clear error if absent."""
    from torchvision.datasets import CIFAR10

    if not download and not Path(data_dir).is_dir():
        raise UserError(
            f"data.data_dir {data_dir!r} does not exist; point it at the folder holding cifar-10-batches-py "
            "or pass --data.init_args.download true"
        )
    try:
        return CIFAR10(data_dir, train=train, download=download)
    except (RuntimeError, OSError) as err:
        raise UserError(missing_dataset("CIFAR-10", data_dir, download, err)) from err


class CIFAR10DataModule(InMemoryDataModule):
    """60,000 32x32 colour images in 10 classes; val is carved out of the training set, stratified by class.

    `normalize: false` keeps pixels in [0, 1], for a net that applies its own preprocessing (pretrained weights).
    """

    input_shape = (3, 32, 32)
    num_classes = 10

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = False,
        val_size: int = 5000,
        crop_padding: int = 4,
        hflip: bool = True,
        normalize: bool = True,
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        seed: int = 0,
        allow_split_change: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, allow_split_change)
        if crop_padding < 0:
            raise UserError(f"data.crop_padding must be >= 0, got {crop_padding}")
        self.data_dir = data_dir
        self.download = download
        self.val_size = val_size
        self.crop_padding = crop_padding
        self.hflip = hflip
        self.normalize = normalize
        self.classes: list[str] | None = None

    def split_identity(self) -> dict[str, Any]:
        """Val is carved out of CIFAR-10's training set; its test set is fixed."""
        return super().split_identity() | {"val_size": self.val_size}

    def prepare_data(self) -> None:
        if self.download:
            read_cifar10(self.data_dir, train=True, download=True)
            read_cifar10(self.data_dir, train=False, download=True)

    def load_splits(self) -> dict[str, Split]:
        train = read_cifar10(self.data_dir, train=True, download=False)
        test = read_cifar10(self.data_dir, train=False, download=False)
        self.classes = list(train.classes)
        images, targets = to_tensor_images(train.data, self.normalize), torch.tensor(train.targets)
        parts = stratified_split(np.asarray(train.targets), {"val": self.val_size}, self.seed)
        splits: dict[str, Split] = {name: (images[idx], targets[idx]) for name, idx in parts.items()}
        splits["test"] = (to_tensor_images(test.data, self.normalize), torch.tensor(test.targets))
        return splits

    def serving_inputs(self) -> dict[str, Any]:
        """Pixels 0-255, scaled as `to_tensor_images` does (standardized per channel only with `normalize`)."""
        mean, std = (list(MEAN), list(STD)) if self.normalize else ([0.0] * 3, [1.0] * 3)
        classes = self.classes or [str(k) for k in range(self.num_classes)]
        return {"kind": "image", "shape": list(self.input_shape), "mean": mean, "std": std, "classes": classes}

    def train_transform(self) -> BatchTransform | None:
        """Pad by `crop_padding`, crop back to 32x32 and maybe mirror, each image with its own draw."""
        if self.crop_padding == 0 and not self.hflip:
            return None
        return CropFlip(padding=self.crop_padding, hflip=self.hflip, fill=0.0)
