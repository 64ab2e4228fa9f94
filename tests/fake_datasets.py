"""Tiny datasets in torchvision's own on-disk formats, so the real torchvision loading code runs offline in tests."""

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
from torchvision.datasets import CIFAR10

from tests.test_mnist_data import make_idx_dataset

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_cifar10(root: Path, monkeypatch: pytest.MonkeyPatch, per_batch: int = 100, n_test: int = 50) -> None:
    """Write data_batch_1..5, test_batch and batches.meta as CIFAR-10's python pickles; point torchvision's
    checksums at these files (the real ones would not match random pixels)."""
    folder = root / CIFAR10.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sizes = {name: per_batch for name, _ in CIFAR10.train_list} | {name: n_test for name, _ in CIFAR10.test_list}
    for name, n in sizes.items():
        entry = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": [i % 10 for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / CIFAR10.meta["filename"]).write_bytes(pickle.dumps({CIFAR10.meta["key"]: CIFAR_CLASSES}))
    monkeypatch.setattr(CIFAR10, "train_list", [[n, _md5(folder / n)] for n, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[n, _md5(folder / n)] for n, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": _md5(folder / CIFAR10.meta["filename"])})


def install_for_config(config_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Configs that read torchvision files (data_dir: data) get tiny native files big enough for their val_size."""
    text = config_path.read_text()
    if "CIFAR10DataModule" in text:
        make_cifar10(data_dir, monkeypatch, per_batch=1100)
    if "dataset: fashion_mnist" in text:
        make_idx_dataset(data_dir, "FashionMNIST", n_train=5600, n_test=100)
