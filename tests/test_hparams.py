"""TensorBoard's HPARAMS tab tells runs apart: model, data, result-changing trainer options and the seed."""

import math
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from blueprint.cli.hparams import comparable_hparams
from tests.conftest import config, run_cli


def logged_hparams(run_dir: Path) -> tuple[dict[str, object], list[str]]:
    """The hparams and metric names of a run, read from its event file as TensorBoard's HPARAMS plugin reads them."""
    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    content = accumulator.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    values = {key: value.ListFields()[0][1] for key, value in session.hparams.items()}
    return values, [info.name.tag for info in experiment.metric_infos]


def test_hparams_tab_shows_data_trainer_and_seed_without_internal_keys(tmp_path: Path) -> None:
    args = ["--trainer.max_epochs", "2", "--data.init_args.batch_size", "48", "--seed_everything", "7"]
    cli = run_cli("fit", "-c", config("tabular_mlp_binary.yaml"), *args, "--test_after_fit", "false")
    values, metrics = logged_hparams(Path(cli.trainer.log_dir))
    assert values["data/batch_size"] == 48
    assert values["trainer/max_epochs"] == 2
    assert values["trainer/precision"] == "32-true"
    assert values["seed"] == 7
    assert values["model/class"] == "BinaryClassificationTask"
    assert values["model/net/class"] == "MLP"
    assert values["model/optimizer/lr"] == 0.001
    assert not [key for key in values if "/_" in key or key.startswith("_")]
    assert metrics == ["hp_metric"]
    hp_metric = EventAccumulator(cli.trainer.log_dir)
    hp_metric.Reload()
    finite = [event for event in hp_metric.Scalars("hp_metric") if math.isfinite(event.value)]
    assert len(finite) == 2  # the monitored val metric, once per validation epoch (the NaN registers it)


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
