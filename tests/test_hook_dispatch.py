"""Callback hooks a callback does not override are skipped; the ones it does run exactly as Lightning runs them."""

from types import SimpleNamespace
from unittest import mock

import pytest
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.trainer import call

import blueprint.cli
from blueprint import hook_dispatch
from blueprint.tasks import ClassificationTask
from tests.fast import fit

EVENTS: list[tuple] = []
STATE_KEY_READS: list[str] = []
HOOKS = [name for name in dir(Callback) if name.startswith("on_") or name in ("setup", "teardown")]
HOOKS = [name for name in HOOKS if name not in ("on_save_checkpoint", "on_load_checkpoint")]  # not dispatched here


def recorder(hook_name: str):
    def record(self, trainer, pl_module, *args, **kwargs) -> None:
        EVENTS.append((type(self).__name__, hook_name, pl_module._current_fx_name, len(args), tuple(sorted(kwargs))))

    return record


class EveryHook(Callback):
    pass


for _hook in HOOKS:
    setattr(EveryHook, _hook, recorder(_hook))


class SecondRecorder(Callback):
    on_train_epoch_end = recorder("on_train_epoch_end")
    on_validation_batch_end = recorder("on_validation_batch_end")


class BatchEndMixin:
    on_train_batch_end = recorder("on_train_batch_end")


class ViaMixin(BatchEndMixin, Callback):
    pass


class Idle(Callback):
    """Overrides no hook; counts how often Lightning asks for its state_key (once per dispatched hook call)."""

    @property
    def state_key(self) -> str:
        STATE_KEY_READS.append("read")
        return "Idle"


class Stopper(EarlyStopping):
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        EVENTS.append(("Stopper", "on_train_epoch_end", pl_module._current_fx_name))
        super().on_train_epoch_end(trainer, pl_module)


class RecordingCheckpoint(ModelCheckpoint):
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        EVENTS.append(("RecordingCheckpoint", "on_train_epoch_end", pl_module._current_fx_name))
        super().on_train_epoch_end(trainer, pl_module)


class LoggingModel(BoringModel):
    def validation_step(self, batch, batch_idx):
        out = super().validation_step(batch, batch_idx)
        self.log("val_loss", out["x"])
        return out


class EpochEndRecorder(Callback):
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        EVENTS.append(f"callback:{pl_module._current_fx_name}")
        pl_module.log("recorder/value", 7.0)  # self.log checks the hook name Lightning set


def every_stage_events(tmp_path) -> list[tuple]:
    """Hook calls of fit (with sanity check), validate, test and predict with callbacks of every kind."""
    EVENTS.clear()
    callbacks = [
        EveryHook(),
        SecondRecorder(),
        ViaMixin(),
        Idle(),
        Stopper(monitor="val_loss"),
        RecordingCheckpoint(monitor="val_loss", dirpath=tmp_path / "checkpoints"),
    ]
    limits = {f"limit_{stage}_batches": 2 for stage in ("train", "val", "test", "predict")}
    trainer = Trainer(
        max_epochs=2, callbacks=callbacks, logger=False, enable_progress_bar=False, enable_model_summary=False, **limits
    )
    model = LoggingModel()
    trainer.fit(model)
    trainer.validate(model, verbose=False)
    trainer.test(model, verbose=False)
    trainer.predict(model)
    return list(EVENTS)


@pytest.fixture(autouse=True)
def _fresh_records() -> None:
    EVENTS.clear()
    STATE_KEY_READS.clear()


def test_every_stage_calls_the_same_hooks_in_the_same_order_as_lightning(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same callbacks, arguments, hook names on the module, and order, including EarlyStopping/checkpoints last."""
    monkeypatch.setattr(call, "_call_callback_hooks", hook_dispatch.lightning_dispatch)
    expected = every_stage_events(tmp_path / "lightning")
    monkeypatch.setattr(call, "_call_callback_hooks", hook_dispatch.call_overridden_hooks)
    assert every_stage_events(tmp_path / "skipping") == expected
    assert len(expected) > 100
    stages = {"on_sanity_check_start", "on_train_batch_end", "on_test_batch_end", "on_predict_batch_end"}
    assert stages <= {event[1] for event in expected}
    epoch_ends = [e[0] for e in expected if e[1] == "on_train_epoch_end"]
    assert epoch_ends[:4] == ["EveryHook", "SecondRecorder", "Stopper", "RecordingCheckpoint"]


def test_runs_hook_sees_overrides_mixins_instance_and_class_patches() -> None:
    assert hook_dispatch.runs_hook(ViaMixin(), "on_train_batch_end")
    assert not hook_dispatch.runs_hook(Idle(), "on_train_batch_end")
    patched = Idle()
    patched.on_train_batch_end = mock.Mock()
    assert hook_dispatch.runs_hook(patched, "on_train_batch_end")
    assert hook_dispatch.runs_hook(mock.MagicMock(spec=Callback), "on_train_batch_end")
    with mock.patch.object(Idle, "on_train_batch_end"):  # patched after Idle was asked above
        assert hook_dispatch.runs_hook(Idle(), "on_train_batch_end")
    with mock.patch.object(Callback, "on_train_batch_end"):  # the base class itself
        assert hook_dispatch.runs_hook(Idle(), "on_train_batch_end")
    assert not hook_dispatch.runs_hook(Idle(), "on_train_batch_end")


def test_hook_name_is_set_during_the_hook_and_restored_after() -> None:
    module = SimpleNamespace(_current_fx_name="training_step")
    trainer = SimpleNamespace(profiler=PassThroughProfiler(), callbacks=[ViaMixin(), Idle()], lightning_module=module)
    hook_dispatch.call_overridden_hooks(trainer, "on_train_batch_end", {"loss": 1.0}, "batch", 3)
    assert EVENTS == [("ViaMixin", "on_train_batch_end", "on_train_batch_end", 3, ())]
    assert module._current_fx_name == "training_step"


def test_installed_once_by_the_cli() -> None:
    fit("--trainer.max_epochs=0")
    assert call._call_callback_hooks is hook_dispatch.call_overridden_hooks
    assert hook_dispatch.skip_noop_callback_hooks() is False  # already installed: nothing changes


def test_cli_runs_callbacks_then_the_task_then_checkpoints_and_hooks_may_log(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ClassificationTask.on_train_epoch_end

    def recording(self) -> None:
        EVENTS.append("task")
        original(self)

    monkeypatch.setattr(ClassificationTask, "on_train_epoch_end", recording)
    checkpoint = '{"class_path": "tests.test_hook_dispatch.RecordingCheckpoint", "init_args": {"monitor": "val/acc"}}'
    cli = fit(
        "--trainer.callbacks=[]",
        f"--trainer.callbacks+={checkpoint}",
        "--trainer.callbacks+=tests.test_hook_dispatch.EpochEndRecorder",
    )
    assert EVENTS == [
        "callback:on_train_epoch_end",
        "task",
        ("RecordingCheckpoint", "on_train_epoch_end", "on_train_epoch_end"),
    ]
    assert float(cli.trainer.callback_metrics["recorder/value"]) == 7.0


def test_callback_without_hooks_costs_no_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning formats `[Callback]<state_key>.<hook>` for every hook of every callback; skipped hooks never do."""
    fit("--trainer.callbacks+=tests.test_hook_dispatch.Idle")
    skipped = len(STATE_KEY_READS)  # left: reads for the checkpoint's callback states
    STATE_KEY_READS.clear()
    monkeypatch.setattr(call, "_call_callback_hooks", hook_dispatch.lightning_dispatch)
    monkeypatch.setattr(blueprint.cli, "skip_noop_callback_hooks", lambda: False)  # Lightning's own dispatch
    fit("--trainer.callbacks+=tests.test_hook_dispatch.Idle")
    assert skipped <= 4
    assert len(STATE_KEY_READS) >= 30 + skipped  # ~10 hooks a step plus the epoch and fit hooks


def test_under_a_profiler_every_hook_is_dispatched_and_profiled() -> None:
    cli = fit("--trainer.callbacks+=tests.test_hook_dispatch.Idle", "--trainer.profiler=simple")
    assert "[Callback]Idle.on_before_backward" in cli.trainer.profiler.recorded_durations
