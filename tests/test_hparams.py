"""TensorBoard's HPARAMS tab: the same short set of readable keys in every run, and hp_metric the best value so far."""

import math
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from blueprint.cli.command import cli_main
from blueprint.cli.hparams import CHOSEN_HPARAMS, chosen_hparams, comparable_hparams
from tests.conftest import CONFIGS, config, run_cli

REPO = CONFIGS.parent
EVERY_CONFIG = sorted(p for p in CONFIGS.glob("*.yaml") if p.name != "defaults.yaml")
EVERY_EXAMPLE = sorted((REPO / "examples").glob("*/*.yaml"))
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]


def logged_hparams(run_dir: Path) -> tuple[dict[str, object], list[str], list[str]]:
    """A run's hyperparameters, and the columns and metrics of its experiment summary, as TensorBoard reads them."""
    events = EventAccumulator(str(run_dir)).Reload()
    content = events.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    values = {key: value.ListFields()[0][1] for key, value in session.hparams.items()}
    return values, [info.name for info in experiment.hparam_infos], [info.name.tag for info in experiment.metric_infos]


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def test_hp_metric_is_the_best_monitored_value_so_far_with_no_nan_across_a_resume(tmp_path: Path) -> None:
    """At lr 0.03 the wine table's val/acc goes 1.0, 0.93, 0.96, 1.0: the best comes first, then worse epochs.

    The run stops after 2 epochs and resumes for 2 more: after the resume the best of the first part still counts.
    """
    lr = "--model.init_args.optimizer.init_args.lr=0.03"
    args = ["-c", config("tabular_mlp_multiclass.yaml"), lr, "--test_after_fit=false", *QUIET]
    run_cli("fit", *args, "--trainer.max_epochs=2")
    resumed = run_cli("fit", *args, "--trainer.max_epochs=4", "--ckpt_path=last")
    run = Path(resumed.trainer.log_dir)
    assert run.name == "version_0"  # resumed in place

    val_acc, hp_metric = scalars(run, "val/acc"), scalars(run, "hp_metric")
    # 4 epochs, 5 points: the resumed fit validates its restored weights once more (Lightning, at step 5)
    assert len(val_acc) == len(hp_metric) >= 4 and not any(math.isnan(value) for _, value in hp_metric)
    running_best = [max(value for _, value in val_acc[: k + 1]) for k in range(len(val_acc))]
    assert [value for _, value in hp_metric] == pytest.approx(running_best)
    assert [step for step, _ in hp_metric] == [step for step, _ in val_acc]
    assert hp_metric[-1][1] == pytest.approx(float(resumed.trainer.checkpoint_callback.best_model_score))
    assert scalars(run, "val/acc_best") == hp_metric  # what hp_metric stands for, named beside val/acc

    values, columns, metrics = logged_hparams(run)
    assert len(values) <= 15 and set(columns) == set(values) and metrics == ["hp_metric"]
    assert values["lr"] == pytest.approx(0.03) and values["batch_size"] == 32 and values["seed"] == 42
    assert values["max_epochs"] == 2  # TensorBoard keeps a run's first session start: the resume's is not read
    assert values["net"] == "MLP" and values["net_sizes"] == "hidden=[64, 32]" and values["optimizer"] == "AdamW"
    assert values["dataset"] == "Tabular/wine" and values["precision"] == "32-true" and values["monitor"] == "val/acc"


@pytest.mark.parametrize("path", EVERY_CONFIG + EVERY_EXAMPLE, ids=lambda p: str(p.relative_to(REPO)))
def test_every_config_and_example_logs_the_same_readable_keys(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TensorBoard's parallel-coordinates view leaves out a run that lacks a shown key: every run has them all."""
    monkeypatch.syspath_prepend(str(REPO))  # examples/ imports as a package, as from the repository root
    cli = cli_main(["-c", str(path), "--trainer.accelerator=cpu"], run=False)
    values = chosen_hparams(cli.config, cli.model.monitor)
    assert set(values) == set(CHOSEN_HPARAMS) and len(values) <= 15
    assert all(isinstance(value, bool | int | float | str) for value in values.values())
    assert isinstance(values["lr"], float) and values["lr"] > 0


def test_chosen_hparams_read_a_default_optimizer_a_named_backbone_and_the_data_choice() -> None:
    def adam_default(params):  # a task's default: a callable, not a class_path
        return torch.optim.Adam(params, lr=1e-3)

    resolved = {
        "model": {"init_args": {"net": {"class_path": "pkg.Backbone", "init_args": {"name": "resnet18"}}}},
        "data": {"class_path": "pkg.TabularDataModule", "init_args": {"csv": "data/sun/spots.csv", "batch_size": 8}},
        "trainer": {"max_epochs": 3, "precision": 32},
        "seed_everything": False,
    }
    resolved["model"]["init_args"]["optimizer"] = adam_default
    values = chosen_hparams(resolved)
    assert values["net"] == "Backbone(resnet18)" and values["net_sizes"] == ""
    assert values["optimizer"] == "Adam" and values["lr"] == 0.001 and values["weight_decay"] == 0
    assert values["dataset"] == "Tabular/spots.csv" and values["scheduler"] == "none"
    assert values["net_dropout"] == 0.0 and values["random_shift"] == 0 and values["precision"] == "32"
    assert "seed" not in values and "monitor" not in values  # not seeded; the monitor is neither linked nor given


def test_comparable_hparams_flatten_class_paths_and_skip_private_keys() -> None:
    config_namespace = {
        "model": {"class_path": "pkg.Task", "init_args": {"net": {"class_path": "pkg.nets.MLP"}, "_x": 1}},
        "data": {"class_path": "pkg.Data", "init_args": {"batch_size": 8, "sizes": [1, 2]}},
        "trainer": {"max_epochs": 3, "devices": 2},
        "seed_everything": 1,
    }
    hparams = comparable_hparams(config_namespace)
    assert hparams["model"] == {"class": "Task", "net": {"class": "MLP"}}
    assert hparams["data"] == {"class": "Data", "batch_size": 8, "sizes": "[1, 2]"}
    assert hparams["trainer"]["max_epochs"] == 3 and "devices" not in hparams["trainer"]
    assert hparams["seed"] == 1
