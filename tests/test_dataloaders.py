"""Every shipped experiment hands Lightning plain torch DataLoaders, and Lightning takes them as they are."""

import os
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from blueprint.cli.command import cli_main
from blueprint.data.base import InMemoryDataModule
from tests.conftest import CONFIGS, config, run_cli
from tests.fake_datasets import install_for_config
from tests.fast import fast_args

EXPERIMENTS = sorted(path.name for path in CONFIGS.glob("*.yaml") if path.name != "defaults.yaml")
SMALL_CLIPS = ["--data.init_args.val_sequences=8", "--data.init_args.test_sequences=8"]  # rendering takes a while


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_in_memory_dataloader_is_a_torch_dataloader(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_for_config(CONFIGS / name, tmp_path / "data", monkeypatch)  # offline stand-ins for torchvision's files
    small = SMALL_CLIPS if name.startswith("moving_mnist") else []
    cli = cli_main(["-c", config(name), f"--trainer.logger.init_args.save_dir={tmp_path}", *small], run=False)
    data = cli.datamodule
    if not isinstance(data, InMemoryDataModule):  # a fork's own DataModule may return any loader Lightning takes
        pytest.skip(f"{type(data).__name__} is not an InMemoryDataModule")
    data.setup("fit")
    for stage in ("train", "val", "test", "predict"):
        loader = getattr(data, f"{stage}_dataloader")()
        assert type(loader) is DataLoader, stage
        batch = next(iter(loader))
        assert isinstance(batch, tuple) and all(isinstance(t, torch.Tensor) for t in batch), stage
        assert len(batch[0]) == (
            data.batch_size if stage == "train" else min(data.eval_batch_size, len(loader.dataset))
        )


def test_lightning_uses_the_loaders_without_replacing_or_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """No "turning off shuffling" (overfit_batches), no "Couldn't infer the batch indices" (predict), and no advice
    to add worker processes for tensors that already sit on the training device.
    """
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)  # a machine that has cores
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = run_cli(*["fit", "-c", config("mnist_mlp.yaml"), *fast_args(steps=4)], "--trainer.overfit_batches=2")
        predictions = cli.trainer.predict(cli.model, datamodule=cli.datamodule)
    messages = "\n".join(str(w.message) for w in caught)
    for unwanted in ("requested to overfit but enabled", "infer the batch indices", "does not have many workers"):
        assert unwanted not in messages
    assert predictions and cli.trainer.num_training_batches == 2
