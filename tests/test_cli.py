"""The real CLI, in-process: configs run, fit -> test round-trips, checkpoints reload, logs hold the expected tags."""

import warnings
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.cli.command import cli_main
from blueprint.cli.preflight import warn_replaced_task_args
from blueprint.tasks import ClassificationTask
from tests.conftest import CONFIGS, config, run_cli
from tests.fake_datasets import install_for_config

EXPERIMENTS = sorted(
    p.name for p in CONFIGS.glob("*.yaml") if p.name != "defaults.yaml"
)  # defaults.yaml is loaded first


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_config_runs_fast_dev_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_for_config(CONFIGS / name, tmp_path / "data", monkeypatch)  # torchvision configs read tiny native files
    cli = run_cli("fit", "-c", config(name), "--trainer.fast_dev_run=true")
    assert cli.trainer.state.finished
    assert cli.trainer.global_step == 1
    assert torch.isfinite(cli.trainer.callback_metrics["test/loss"])  # test after fit ran on the fresh weights
    assert not (CONFIGS.parent / "logs" / "lightning_logs").exists()


def test_mlp_accuracy_floor_after_short_fit(trained_mlp) -> None:
    """Four epochs of the MLP already classify the held-out embedded digits well."""
    assert trained_mlp.trainer.callback_metrics["test/acc"] >= 0.90


def test_fit_then_test_reproduces_test_metrics(trained_mlp) -> None:
    fit_acc = float(trained_mlp.trainer.callback_metrics["test/acc"])
    best = trained_mlp.trainer.checkpoint_callback.best_model_path
    assert Path(best).is_file() and Path(best).parent.name == "checkpoints"
    assert (Path(best).parent / "last.ckpt").is_file()
    cli = run_cli("test", "-c", config("mnist_mlp.yaml"), f"--ckpt_path={best}", "--trainer.logger=false")
    assert float(cli.trainer.callback_metrics["test/acc"]) == pytest.approx(fit_acc, abs=1e-6)


def test_checkpoint_rebuilds_model_with_weights_only(trained_mlp) -> None:
    best = trained_mlp.trainer.checkpoint_callback.best_model_path
    raw = torch.load(best, weights_only=True, map_location="cpu")  # plain hparams only: no pickled objects
    assert raw["hyper_parameters"]["net"]["class_path"] == "blueprint.nets.MLP"
    model = ClassificationTask.load_from_checkpoint(best, weights_only=True, map_location="cpu")
    original = trained_mlp.model.cpu()
    for key, value in original.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key
    batch = torch.randn(3, 1, 28, 28)
    model.eval(), original.eval()
    assert torch.allclose(model(batch), original(batch))


def test_tensorboard_holds_expected_tags(trained_mlp) -> None:
    log_dir = Path(trained_mlp.trainer.logger.log_dir)
    events = EventAccumulator(str(log_dir), size_guidance={"tensors": 0, "scalars": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {"train/loss", "train/loss_epoch", "train/acc", "val/loss", "val/acc", "val/f1", "test/acc"}
    expected |= {"hp_metric", "val/acc_best", "lr-AdamW"}
    assert expected <= scalars, expected - scalars
    assert events.Graph() is not None  # the model graph (log_graph with example_input_array)
    assert "_hparams_/session_start_info" in events.summary_metadata  # the run's row in the HPARAMS tab
    assert events.Scalars("hp_metric")[-1].value == max(point.value for point in events.Scalars("val/acc"))
    assert len(events.Scalars("val/acc")) == 4


def test_predict_writes_labels_and_class_probabilities(trained_mlp, tmp_path: Path) -> None:
    best = trained_mlp.trainer.checkpoint_callback.best_model_path
    run_cli("predict", "-c", config("mnist_mlp.yaml"), f"--ckpt_path={best}", "--trainer.logger=false")
    lines = (tmp_path / "predictions.csv").read_text().splitlines()  # the run folder; without a logger, the cwd
    assert lines[0] == "row,label," + ",".join(f"prob_{k}" for k in range(10))
    test_labels = trained_mlp.datamodule.splits["test"][1]
    assert len(lines) == 1 + len(test_labels)
    rows = [line.split(",") for line in lines[1:]]
    assert all(abs(sum(float(p) for p in row[2:]) - 1) < 1e-4 for row in rows)
    accuracy = sum(row[1] == str(int(label)) for row, label in zip(rows, test_labels, strict=True)) / len(rows)
    assert accuracy >= 0.9


def test_print_config_and_multiple_config_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    override = tmp_path / "override.yaml"
    override.write_text("trainer:\n  max_epochs: 3\n")
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "-c", config("mnist_mlp.yaml"), "-c", str(override), "--print_config")
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "max_epochs: 3" in printed and "seed_everything: 42" in printed


def test_checkpoint_hparams_that_replace_config_values_are_named_once() -> None:
    """Lightning rebuilds the task from the checkpoint; the optimizer only matters when fit resumes."""
    saved = {"threshold": 0.9, "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1}}}
    configured = {"init_args": {**saved, "threshold": 0.5, "optimizer": {**saved["optimizer"], "init_args": {"lr": 1}}}}
    with pytest.warns(UserWarning) as caught:
        warn_replaced_task_args("a.ckpt", saved, configured, "fit")
        warn_replaced_task_args("a.ckpt", saved, configured, "test")
    fit, test = (str(w.message) for w in caught)
    assert "model.threshold: 0.9 from the checkpoint, not 0.5" in fit and "optimizer.init_args.lr: 0.1" in fit
    assert "threshold" in test and "optimizer" not in test
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_replaced_task_args("a.ckpt", saved, {"init_args": saved}, "fit")  # nothing differs: no warning


def test_the_ddp_preset_runs_on_cpu_without_sync_batchnorm() -> None:
    """SyncBatchNorm is GPU-only; the preset's documented CPU test run turns it off instead of failing."""
    ddp = ("-c", config("presets/ddp.yaml"), "--trainer.accelerator=cpu", "--trainer.devices=2")
    with pytest.warns(UserWarning, match="sync_batchnorm is off on CPU"):
        cli = cli_main(["-c", config("mnist_mlp.yaml"), *ddp], run=False)
    assert cli.config.trainer.sync_batchnorm is False
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in cli.model.modules())  # which SyncBN would have broken


def test_evaluating_without_a_checkpoint_warns_that_weights_are_untrained() -> None:
    with pytest.warns(UserWarning, match="freshly initialized weights"):
        run_cli("validate", "-c", config("mnist_mlp.yaml"), "--trainer.logger=false", "--trainer.limit_val_batches=1")
