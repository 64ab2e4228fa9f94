"""SamplesPerSecond logs once per epoch, and tasks log nothing per training step (the cost the benchmark found)."""

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


def test_samples_per_second_logged_per_epoch_without_per_step_logging(monkeypatch: pytest.MonkeyPatch) -> None:
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
    logged_at = {step for step, _ in calls}
    assert logged_at <= {0, 6, 12}, logged_at  # only at sanity check and epoch ends, never per step


def test_hook_name_bookkeeping_skips_module_setattr_and_modules_still_register(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning's per-hook `_current_fx_name` writes take the fast path; everything else stays nn.Module's."""
    task, head = ClassificationTask(net=torch.nn.Linear(4, 3)), torch.nn.Linear(3, 2)
    seen: list[str] = []
    original = torch.nn.Module.__setattr__

    def spying_setattr(self, name, value):
        seen.append(name)
        original(self, name, value)

    monkeypatch.setattr(torch.nn.Module, "__setattr__", spying_setattr)
    task._current_fx_name = "training_step"
    task.extra_head = head
    assert task._current_fx_name == "training_step"
    assert seen == ["extra_head"]
    assert "extra_head" in dict(task.named_children())
