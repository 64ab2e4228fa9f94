"""Callback hooks a callback does not override are skipped; the ones it does run as Lightning would run them."""

from unittest import mock

import pytest
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.trainer import call

import blueprint.cli
from blueprint import hook_dispatch
from blueprint.tasks import ClassificationTask
from tests.conftest import config, run_cli

ORDER: list[str] = []
STATE_KEY_READS: list[str] = []


class Idle(Callback):
    """Overrides no hook; counts how often Lightning asks for its state_key (once per dispatched hook call)."""

    @property
    def state_key(self) -> str:
        STATE_KEY_READS.append("read")
        return "Idle"


class EpochEndRecorder(Callback):
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        ORDER.append(f"callback:{pl_module._current_fx_name}")
        pl_module.log("recorder/value", 7.0)  # self.log checks the hook name Lightning set


class RecordingCheckpoint(ModelCheckpoint):
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        ORDER.append("checkpoint")
        super().on_train_epoch_end(trainer, pl_module)


def fit(*extra: str):
    return run_cli(
        "fit",
        "-c",
        config("mnist_mlp.yaml"),
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=3",
        "--trainer.limit_val_batches=1",
        "--trainer.enable_progress_bar=false",
        "--test_after_fit=false",
        *extra,
    )


@pytest.fixture(autouse=True)
def _fresh_records() -> None:
    ORDER.clear()
    STATE_KEY_READS.clear()


def test_runs_hook_sees_class_overrides_instance_patches_and_mocks() -> None:
    assert hook_dispatch.runs_hook(EpochEndRecorder(), "on_train_epoch_end")
    assert not hook_dispatch.runs_hook(EpochEndRecorder(), "on_train_batch_end")
    patched = Idle()
    patched.on_train_batch_end = mock.Mock()
    assert hook_dispatch.runs_hook(patched, "on_train_batch_end")
    assert hook_dispatch.runs_hook(mock.MagicMock(spec=Callback), "on_train_batch_end")


def test_installed_once_by_the_cli() -> None:
    fit("--trainer.max_epochs=0")
    assert call._call_callback_hooks is hook_dispatch.call_overridden_hooks
    assert hook_dispatch.skip_noop_callback_hooks() is False  # already installed: nothing changes


def test_overridden_hooks_run_in_lightnings_order_and_may_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain callbacks, then the task, then checkpoints (Lightning runs monitoring callbacks last)."""
    original = ClassificationTask.on_train_epoch_end

    def recording(self) -> None:
        ORDER.append("task")
        original(self)

    monkeypatch.setattr(ClassificationTask, "on_train_epoch_end", recording)
    checkpoint = '{"class_path": "tests.test_hook_dispatch.RecordingCheckpoint", "init_args": {"monitor": "val/acc"}}'
    cli = fit(
        "--trainer.callbacks=[]",
        f"--trainer.callbacks+={checkpoint}",
        "--trainer.callbacks+=tests.test_hook_dispatch.EpochEndRecorder",
    )
    assert ORDER == ["callback:on_train_epoch_end", "task", "checkpoint"]
    assert float(cli.trainer.callback_metrics["recorder/value"]) == 7.0
    assert cli.model._current_fx_name is None  # restored after the hook


def test_callback_without_hooks_costs_no_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning formats `[Callback]<state_key>.<hook>` for every hook of every callback; skipped hooks never do."""
    fit("--trainer.callbacks+=tests.test_hook_dispatch.Idle")
    skipped = len(STATE_KEY_READS)  # left: reads for the checkpoint's callback states
    STATE_KEY_READS.clear()
    monkeypatch.setattr(call, "_call_callback_hooks", hook_dispatch._lightning_dispatch)
    monkeypatch.setattr(blueprint.cli, "skip_noop_callback_hooks", lambda: False)  # Lightning's own dispatch
    fit("--trainer.callbacks+=tests.test_hook_dispatch.Idle")
    assert skipped <= 4
    assert len(STATE_KEY_READS) >= 30 + skipped  # ~10 hooks a step plus the epoch and fit hooks


def test_under_a_profiler_every_hook_is_dispatched_and_profiled() -> None:
    cli = fit("--trainer.callbacks+=tests.test_hook_dispatch.Idle", "--trainer.profiler=simple")
    assert "[Callback]Idle.on_before_backward" in cli.trainer.profiler.recorded_durations
