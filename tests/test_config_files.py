"""Config mistakes are one line naming the user's file: broken YAML, a key given twice, a run that trains nothing."""

from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, config, run_cli


def error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*args)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(lines)
    return lines[-1]


def test_malformed_yaml_names_its_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("trainer:\n  max_epochs: [3\n")
    line = error_line(capsys, "fit", "-c", config("tabular_mlp_binary.yaml"), "-c", str(broken))
    assert line.startswith(f"error: config file {broken}, line ")
    assert "<unicode string>" not in line


def test_a_key_given_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twice = tmp_path / "twice.yaml"
    twice.write_text("trainer:\n  max_epochs: 3\n  max_epochs: 5\n")
    line = error_line(capsys, "fit", "-c", config("tabular_mlp_binary.yaml"), f"--config={twice}")
    assert line == (
        f"error: config file {twice}, line 3, column 3: key 'max_epochs' appears twice (the later value would "
        "silently win); fix the YAML there"
    )


@pytest.mark.parametrize("option", ["max_epochs", "max_steps"])
def test_a_fit_that_trains_nothing_is_refused(option: str, tmp_path: Path, capsys) -> None:
    line = error_line(capsys, "fit", "-c", config("tabular_mlp_binary.yaml"), f"--trainer.{option}", "0")
    assert line.startswith(f"error: trainer.{option}=0 trains nothing")
    assert not (tmp_path / "logs").exists()


def test_every_shipped_config_loads_strictly() -> None:
    from blueprint.cli.config_files import check_config_file

    for path in sorted(Path(config(".")).rglob("*.yaml")):
        check_config_file(str(path))


SHIPPED = sorted(
    str(path.relative_to(REPO))
    for path in [*Path(config(".")).rglob("*.yaml"), *(REPO / "examples").rglob("*.yaml")]
    if "presets" not in path.parts and path.name != "defaults.yaml"
)


@pytest.mark.parametrize("shipped", SHIPPED)
def test_every_shipped_experiment_logs_its_learning_rate(shipped: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_cli("fit", "-c", str(REPO / shipped), "--print_config")
    callbacks = yaml.safe_load(capsys.readouterr().out)["trainer"]["callbacks"]
    assert any("LearningRateMonitor" in str(callback) for callback in callbacks)


@pytest.mark.parametrize(
    "option",
    ["model.init_args.net.init_args.hiden", "model.init_args.optimizer.init_args.lrr", "data.init_args.batchsize"],
)
def test_an_unknown_option_is_named_as_the_user_wrote_it(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(capsys, "fit", "-c", config("tabular_mlp_binary.yaml"), f"--{option}", "3")
    assert line == f"error: {option}: no such option (the options are listed by --help)"


def test_a_huge_bad_value_is_not_quoted_whole(capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(capsys, "fit", "-c", config("tabular_mlp_binary.yaml"), "--trainer.max_epochs", "x" * 100_000)
    assert len(line) <= 410 and line.endswith("...")
