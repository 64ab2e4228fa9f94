"""MNIST data: the embedded split, and torchvision's loader run on tiny IDX files in MNIST's own on-disk format."""

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from blueprint.data import MNISTDataModule
from blueprint.errors import UserError
from tests.conftest import config, run_cli


def test_embedded_split_is_stratified_disjoint_and_fixed() -> None:
    dm = MNISTDataModule()
    dm.setup()
    sizes = {name: len(split[1]) for name, split in dm.splits.items()}
    assert sizes == {"train": 3500, "val": 500, "test": 1000}
    assert torch.bincount(dm.splits["test"][1]).min() >= 90  # every digit well represented
    again = MNISTDataModule()
    again.setup()
    assert torch.equal(dm.splits["test"][0], again.splits["test"][0])
    train = {tuple(x.flatten()[::7].tolist()) for x in dm.splits["train"][0][:300]}
    assert not train & {tuple(x.flatten()[::7].tolist()) for x in dm.splits["test"][0]}


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images/labels as IDX files (what torchvision's MNIST reads after extracting its downloads)."""
    folder.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">IIII", 0x803, len(images), 28, 28)
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.astype(np.uint8).tobytes())
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
        struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()
    )


def make_idx_dataset(root: Path, name: str, n_train: int = 200, n_test: int = 50) -> None:
    rng = np.random.default_rng(0)
    raw = root / name / "raw"
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw, prefix, rng.integers(0, 256, (n, 28, 28)), np.arange(n) % 10)


@pytest.mark.parametrize(("dataset", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_torchvision_source_reads_idx_files(tmp_path: Path, dataset: str, folder: str) -> None:
    make_idx_dataset(tmp_path / "data", folder)
    dm = MNISTDataModule(source="torchvision", dataset=dataset, data_dir=str(tmp_path / "data"), val_size=20)
    dm.setup()
    assert len(dm.splits["train"][1]) == 180 and len(dm.splits["val"][1]) == 20 and len(dm.splits["test"][1]) == 50
    assert dm.splits["train"][0].shape[1:] == (1, 28, 28)


def test_torchvision_source_trains_through_the_cli(tmp_path: Path) -> None:
    make_idx_dataset(tmp_path / "data", "MNIST")
    cli = run_cli(
        "fit",
        "-c",
        config("mnist_cnn.yaml"),
        "--trainer.fast_dev_run=true",
        "--data.init_args.source=torchvision",
        "--data.init_args.data_dir=data",
        "--data.init_args.val_size=20",
    )
    assert cli.trainer.global_step == 1


def test_missing_files_without_download_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="download"):
        MNISTDataModule(source="torchvision", data_dir=str(tmp_path / "empty")).setup()


def test_a_failed_download_says_so_instead_of_asking_for_download(tmp_path: Path, monkeypatch) -> None:
    from torchvision import datasets

    def offline(self) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://..., got:\n<urlopen error>")

    monkeypatch.setattr(datasets.FashionMNIST, "download", offline)
    dm = MNISTDataModule(source="torchvision", dataset="fashion_mnist", data_dir=str(tmp_path), download=True)
    with pytest.raises(UserError) as error:
        dm.setup()
    message = str(error.value)
    assert "could not be downloaded" in message and "\n" not in message and "pass --data.download" not in message
