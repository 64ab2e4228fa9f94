"""Presets stacked with a second -c: each does what its file says and keeps the experiment's own callbacks."""

import math
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.callbacks import LRFinder
from blueprint.callbacks.lr_finder import steepest_descent_lr
from blueprint.checkpointing.model_checkpoint import ModelCheckpointSavingLast
from tests.conftest import CONFIGS, config, run_cli
from tests.fast import QUIET, TINY_NET, fast_args

PRESETS = CONFIGS / "presets"


def preset(name: str) -> str:
    return str(PRESETS / f"{name}.yaml")


def test_debug_preset_runs_two_batches_with_anomaly_detection_and_writes_nothing(tmp_path: Path) -> None:
    cli = run_cli("fit", "-c", config("mnist_mlp.yaml"), "-c", preset("debug"), *QUIET)
    assert cli.trainer.fast_dev_run == 2 and cli.trainer.global_step == 2
    assert cli.trainer._detect_anomaly
    assert list(tmp_path.iterdir()) == []  # no logs/, no checkpoints/last.ckpt


def test_overfit_preset_drives_training_loss_near_zero() -> None:
    """The material's first check: a model that cannot overfit 4 batches has a bug."""
    cli = run_cli("fit", "-c", config("mnist_mlp.yaml"), "-c", preset("overfit"), *QUIET)
    assert cli.trainer.num_training_batches == 4
    assert float(cli.trainer.callback_metrics["train/loss"]) < 0.05
    assert float(cli.trainer.callback_metrics["train/acc"]) == 1.0


def test_lr_find_preset_saves_plot_logs_it_and_prints_suggestion(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    short = yaml.safe_load(Path(preset("lr_find")).read_text())
    short["trainer"]["callbacks+"][0]["init_args"]["num_training_steps"] = 30
    short_preset = tmp_path / "lr_find_short.yaml"
    short_preset.write_text(yaml.safe_dump(short))
    cli = run_cli("fit", "-c", config("mnist_mlp.yaml"), "-c", str(short_preset), *QUIET)
    kinds = [type(c) for c in cli.trainer.callbacks]
    assert {ModelCheckpointSavingLast, LearningRateMonitor, LRFinder} <= set(kinds)  # appended, not replacing
    finder = next(c for c in cli.trainer.callbacks if isinstance(c, LRFinder))
    assert finder.suggested_lr is not None and 1e-6 <= finder.suggested_lr <= 1.0
    assert finder.plot_path == Path(cli.trainer.logger.log_dir) / "lr_find.png"  # in the run folder, as README says
    assert finder.plot_path.is_file() and finder.plot_path.stat().st_size > 1000
    assert f"suggested learning rate {finder.suggested_lr}" in capsys.readouterr().out
    events = EventAccumulator(cli.trainer.logger.log_dir, size_guidance={"images": 0, "scalars": 0}).Reload()
    assert "lr_find" in events.Tags()["images"]
    assert events.Scalars("lr_find/suggestion")[0].value == pytest.approx(finder.suggested_lr)
    assert cli.trainer.global_step == 0  # stop_after: the run ends after the range test, weights restored


class AutocastSeen(L.Callback):
    """Records the dtype of the net's output in every forward pass of the run (bf16 when autocast is on)."""

    def __init__(self) -> None:
        self.dtypes: set[torch.dtype] = set()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.net.register_forward_hook(lambda module, inputs, output: self.dtypes.add(output.dtype))


def test_amp_preset_trains_in_bf16_on_cpu() -> None:
    seen = "--trainer.callbacks+=tests.test_presets.AutocastSeen"
    cli = run_cli("fit", "-c", config("mnist_mlp.yaml"), "-c", preset("amp"), *fast_args(3), seen)
    assert cli.trainer.precision == "bf16-mixed" and cli.trainer.global_step == 3
    assert next(c for c in cli.trainer.callbacks if isinstance(c, AutocastSeen)).dtypes == {torch.bfloat16}
    assert float(cli.trainer.callback_metrics["train/loss"]) < 3.0
    assert cli.trainer.optimizers[0].defaults["fused"]  # nothing clips: the fused step, though no config asks for it


def test_amp_preset_with_gradient_clipping_clips_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clipping under bf16-mixed: the optimizer is built with its unfused step, which Lightning can clip for."""
    clips = []
    clip_grad_norm = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(
        torch.nn.utils, "clip_grad_norm_", lambda *a, **k: clips.append(a[1]) or clip_grad_norm(*a, **k)
    )
    clip = "--trainer.gradient_clip_val=0.5"
    groups = "--model.init_args.weight_decay_exclude_norm_bias=true"
    cli = run_cli("fit", "-c", config("mnist_mlp.yaml"), "-c", preset("amp"), *fast_args(3), clip, groups)
    assert cli.trainer.global_step == 3 and clips == [0.5, 0.5, 0.5]
    optimizer = cli.trainer.optimizers[0]
    assert not optimizer.defaults["fused"]  # Lightning refuses to clip for a fused step under mixed precision
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.0001, 0.0]


@pytest.mark.parametrize(
    ("option", "fused"), [([], True), (["--model.init_args.optimizer.init_args.fused=false"], False)]
)
def test_the_fused_step_is_taken_unless_the_config_says_otherwise(option: list[str], fused: bool) -> None:
    cli = run_cli("fit", "-c", config("mnist_mlp.yaml"), *fast_args(2), *option)
    assert bool(cli.trainer.optimizers[0].defaults["fused"]) == fused


def test_profile_preset_writes_a_per_hook_report() -> None:
    cli = run_cli("fit", "-c", config("mnist_mlp.yaml"), "-c", preset("profile"), *fast_args(3))
    report = Path(cli.trainer.logger.log_dir) / "fit-profile.txt"
    assert report.is_file() and "run_training_batch" in report.read_text()


def test_early_stopping_preset_stops_a_run_that_does_not_improve() -> None:
    """lr=0 and no BatchNorm statistics: val/loss never improves, so the run stops after 1 + patience epochs."""
    cli = run_cli(
        "fit",
        "-c",
        config("mnist_mlp.yaml"),
        "-c",
        preset("early_stopping"),
        "--model.init_args.optimizer.init_args.lr=0",
        "--model.init_args.net.init_args.batch_norm=false",
        "--trainer.max_epochs=10",
        "--trainer.limit_train_batches=1",
        "--trainer.limit_val_batches=1",
        "--trainer.logger.init_args.log_graph=false",
        "--test_after_fit=false",
        *QUIET,
        *TINY_NET["mnist_mlp.yaml"],
    )
    kinds = {type(c) for c in cli.trainer.callbacks}
    assert {ModelCheckpointSavingLast, LearningRateMonitor, EarlyStopping} <= kinds
    assert cli.trainer.current_epoch == 4 and cli.trainer.early_stopping_callback.stopped_epoch == 3
    stopper = cli.trainer.early_stopping_callback
    assert (stopper.monitor, stopper.mode, stopper.patience) == ("val/loss", "min", 3)  # every task logs val/loss


def test_lr_suggestion_is_the_steepest_fall_per_decade() -> None:
    """A loss that falls fastest around 10^-2.5 (with a noisy low-LR start) is read as ~3e-3."""
    lrs = [10 ** (-6 + 6 * i / 99) for i in range(100)]
    losses = [3.3 - 1.5 / (1 + math.exp(-2 * (math.log10(lr) + 2.5))) + 0.01 * (-1) ** i for i, lr in enumerate(lrs)]
    assert steepest_descent_lr(lrs, losses) == pytest.approx(10**-2.5, rel=0.3)


def test_a_resumed_run_steps_as_its_own_run_builds_the_optimizer_not_as_the_checkpoint_did() -> None:
    """Restored param groups carry the saved run's `fused`; the resumed run's own choice wins (16-mixed needs it)."""
    amp = ["-c", config("mnist_mlp.yaml"), "-c", preset("amp")]
    first = run_cli("fit", *amp, *fast_args(2), "--trainer.gradient_clip_val=0.5")  # clips: built unfused
    last = first.trainer.checkpoint_callback.last_model_path
    assert [g["fused"] for g in torch.load(last, weights_only=True)["optimizer_states"][0]["param_groups"]] == [None]
    resumed = run_cli("fit", *amp, *fast_args(4), f"--ckpt_path={last}")  # no clipping: built fused
    assert resumed.trainer.global_step == 4
    assert [g["fused"] for g in resumed.trainer.optimizers[0].param_groups] == [True]


def test_a_fused_step_set_in_the_config_with_clipping_under_amp_is_refused_by_name(capsys) -> None:
    fused = "--model.init_args.optimizer.init_args.fused=true"
    with pytest.raises(SystemExit) as refused:
        run_cli(
            "fit",
            "-c",
            config("mnist_mlp.yaml"),
            "-c",
            preset("amp"),
            *fast_args(2),
            fused,
            "--trainer.gradient_clip_val=0.5",
        )
    assert refused.value.code == 2
    assert "fused: true on AdamW" in capsys.readouterr().err
