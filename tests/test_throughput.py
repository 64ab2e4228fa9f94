"""SamplesPerSecond logs once per epoch, and tasks make one self.log call per training step (each costs ~0.7 ms)."""

import pytest
import torch

from blueprint.callbacks import SamplesPerSecond
from blueprint.callbacks.throughput import batch_size_of
from blueprint.tasks import ClassificationTask
from tests.conftest import config, run_cli


def test_batch_size_of_common_batch_layouts() -> None:
    images = torch.zeros(5, 1, 28, 28)
    assert batch_size_of(images) == 5
    assert batch_size_of((images, torch.zeros(5))) == 5
    assert batch_size_of({"x": images}) == 5
    assert batch_size_of([[images]]) == 5
    assert batch_size_of("not a batch") == 0


def test_samples_per_second_logged_per_epoch_and_only_the_loss_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = ClassificationTask.log

    def counting_log(self, name, *args, **kwargs):
        calls.append((self.trainer.global_step, name))
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(ClassificationTask, "log", counting_log)
    cli = run_cli(
        "fit",
        "-c",
        config("mnist_mlp.yaml"),
        "--trainer.max_epochs=2",
        "--trainer.limit_train_batches=6",
        "--trainer.limit_val_batches=1",
        "--trainer.callbacks+=blueprint.callbacks.SamplesPerSecond",
        "--test_after_fit=false",
        "--trainer.enable_progress_bar=false",
    )
    timer = next(c for c in cli.trainer.callbacks if isinstance(c, SamplesPerSecond))
    assert timer.epoch_samples == [6 * cli.datamodule.batch_size] * 2
    assert len(timer.epoch_seconds()) == 2 and all(s > 0 for s in timer.epoch_seconds())
    assert float(cli.trainer.callback_metrics["train/samples_per_sec"]) > 0
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "val/f1"} <= set(cli.trainer.callback_metrics)
    assert 0.0 <= float(cli.trainer.callback_metrics["train/acc"]) <= 1.0
    between_epoch_ends = [name for step, name in calls if step not in {0, 6, 12}]
    assert between_epoch_ends == ["train/loss"] * 10  # training metrics are logged once, when the epoch ends
