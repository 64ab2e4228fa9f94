"""The data gives the net its sizes and the task gives the checkpoint its monitor: configs state neither."""

from pathlib import Path

import pytest
import yaml

from blueprint.cli.command import cli_main
from blueprint.tasks import BinaryClassificationTask, ClassificationTask
from tests.conftest import CONFIGS, config, run_cli
from tests.test_tabular import QUIET, write_flowers

LINKS = "src/blueprint/cli/links.py"
EXPERIMENTS = sorted(path.name for path in CONFIGS.glob("*.yaml") if path.name != "defaults.yaml")


def test_a_csv_fit_without_sizes_trains_and_its_config_yaml_shows_the_linked_values(tmp_path: Path) -> None:
    write_flowers(tmp_path / "flowers.csv", n=60)
    data = ["--data.init_args.source=null", f"--data.init_args.csv={tmp_path / 'flowers.csv'}"]
    fit = ["fit", "-c", config("tabular_mlp_multiclass.yaml"), *data, "--data.init_args.target=species"]
    cli = run_cli(*fit, "--trainer.max_epochs=2", "--test_after_fit=false", *QUIET)
    assert cli.model.net.input_shape == (4,) and cli.model.net.out_features == 3
    saved = yaml.safe_load((Path(cli.trainer.log_dir) / "config.yaml").read_text())
    assert (
        saved["model"]["init_args"]["net"]["init_args"] | {"input_shape": [4], "out_features": 3}
        == saved["model"]["init_args"]["net"]["init_args"]
    )
    assert (saved["checkpoint"]["monitor"], saved["checkpoint"]["mode"]) == ("val/acc", "max")
    again = run_cli("validate", "-c", str(Path(cli.trainer.log_dir) / "config.yaml"), *QUIET)  # equal values pass
    assert again.model.net.input_shape == (4,)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_the_checkpoint_monitors_the_tasks_metric_in_every_shipped_experiment(name: str) -> None:
    cli = cli_main(["-c", config(name), "--trainer.logger=false"], run=False)
    callback = cli.trainer.checkpoint_callback
    assert callback is not None
    assert (callback.monitor, callback.mode) == (cli.model.monitor, cli.model.monitor_mode)


def test_a_binary_task_gets_one_logit_for_two_classes() -> None:
    cli = cli_main(["-c", config("tabular_mlp_binary.yaml"), "--trainer.logger=false"], run=False)
    assert isinstance(cli.model, BinaryClassificationTask) and cli.model.net.out_features == 1
    data = ["--model.class_path=blueprint.tasks.ClassificationTask", "--trainer.logger=false"]
    cli = cli_main(["-c", config("tabular_mlp_binary.yaml"), *data], run=False)
    assert isinstance(cli.model, ClassificationTask) and cli.model.net.out_features == 2


def test_a_checkpoint_monitor_in_a_config_file_that_contradicts_the_task_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    extra = tmp_path / "monitor.yaml"
    extra.write_text("checkpoint: {monitor: val/loss, mode: min}\n")
    with pytest.raises(SystemExit) as failed:
        cli_main(["-c", config("mnist_mlp.yaml"), "-c", str(extra)], run=False)
    assert failed.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "checkpoint.monitor is val/loss but the task monitors val/acc" in err


def test_a_linked_option_on_the_command_line_is_one_line_naming_its_source(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        cli_main(["-c", config("mnist_mlp.yaml"), "--checkpoint.mode=min"], run=False)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == "error: checkpoint.mode cannot be set: blueprint links it from model.monitor_mode (" + LINKS + ")"
