"""One `blueprint` command: every subcommand is listed and has --help, the light ones start without Lightning, and an
optional part that is not installed is one `error:` line naming its dependency group."""

import importlib.abc
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from blueprint.cli.main import COMMANDS, TRAINING, main
from tests.conftest import CONFIGS, REPO, config, run_cli
from tests.serving import free_port  # the default port may be another server's

ALL_COMMANDS = [*TRAINING, *COMMANDS]
# Runs `blueprint ARGS` in a fresh interpreter, then says whether Lightning (or torch) was imported on the way
IMPORTS_AFTER = (
    "import sys\nfrom blueprint.cli.main import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as stop:\n"
    "    code = stop.code\nprint('imported:', 'lightning' in sys.modules, 'torch' in sys.modules, file=sys.stderr)\n"
)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_help_lists_every_command(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert listed == ALL_COMMANDS


@pytest.mark.parametrize("name", ALL_COMMANDS)
def test_every_command_has_help(name: str, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main([name, "--help"])
    assert stop.value.code == 0
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["nope"], ["run"]])
def test_no_command_or_an_unknown_one_is_refused(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    # the choices listed name a command every fork keeps (scripts/rename.py --drop serve removes `serve`)
    assert ("not a blueprint command" in err and "runs" in err) if argv else "usage: blueprint COMMAND" in err


def test_serve_with_a_missing_checkpoint_is_one_error_line(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["serve", "--ckpt_path", str(tmp_path / "missing.ckpt"), "--port", str(free_port())])
    assert stop.value.code == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("error: ") and "missing.ckpt" in line


@pytest.mark.parametrize("argv", [["--help"], ["runs", "logs"], ["runs", "--help"]])
def test_help_and_runs_start_without_lightning(argv: list[str], tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_AFTER, *argv], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert "imported: False False" in done.stderr, done.stderr[-2000:]


class NotInstalled(importlib.abc.MetaPathFinder):
    """Imports of `package` fail as they do where it is not installed."""

    def __init__(self, package: str) -> None:
        self.package = package

    def find_spec(self, name: str, *args: object) -> None:
        if name.split(".")[0] == self.package:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)


def without(monkeypatch: pytest.MonkeyPatch, package: str, room: str) -> None:
    """`package` cannot be imported (as if its group were not installed), and `room` is imported afresh."""
    monkeypatch.setattr(sys, "meta_path", [NotInstalled(package), *sys.meta_path])
    for name in [name for name in sys.modules if name.split(".")[0] == package or name.startswith(f"blueprint.{room}")]:
        monkeypatch.delitem(sys.modules, name)


@pytest.mark.parametrize(
    ("command", "package", "room", "group"),
    [
        ("serve", "litserve", "serving", "serve"),
        ("sweep", "optuna", "sweeps", "sweep"),
        ("stream", "litdata", "streaming", "stream"),
        ("export", "onnxruntime", "export", "export"),
    ],
)
def test_a_command_whose_group_is_missing_names_the_group(
    command: str, package: str, room: str, group: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    without(monkeypatch, package, room)
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: blueprint {command} needs {package}") and f"uv sync --group {group}" in line


def test_the_streaming_preset_without_litdata_names_the_group(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    without(monkeypatch, "litdata", "streaming")
    preset = str(CONFIGS / "presets" / "streaming.yaml")
    with pytest.raises(SystemExit) as stop:
        run_cli("fit", "-c", config("mnist_mlp.yaml"), "-c", preset, "--data.init_args.root=stream")
    assert stop.value.code == 2
    line = [line for line in error_lines(capsys.readouterr().err) if line.startswith("error:")][-1]
    assert "needs litdata" in line and "uv sync --group stream" in line
    assert not Path("logs").exists()


@pytest.mark.skipif(shutil.which("uv") is None, reason="needs the uv executable on PATH")
@pytest.mark.slow  # a second environment from uv's cache, then a short fit (~1 minute)
def test_the_core_alone_trains_and_names_each_missing_group(tmp_path: Path) -> None:
    """`uv sync --no-default-groups` installs the design card's packages only: fit works, serve names its group."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    env["UV_PROJECT_ENVIRONMENT"] = str(tmp_path / "core-venv")
    subprocess.run(["uv", "sync", "--locked", "--no-default-groups", "-q"], cwd=REPO, env=env, check=True, timeout=600)

    def run(*args: str) -> subprocess.CompletedProcess:
        command = ["uv", "run", "--project", str(REPO), "--no-sync", *args]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    fit = run("blueprint", "fit", "-c", config("mnist_cnn.yaml"), "--trainer.max_epochs=1")
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert run("python", "-c", "import litserve").returncode != 0
    for command, group in [(name, name) for name in ("serve", "sweep", "export", "stream") if name in COMMANDS]:
        done = run("blueprint", command, "--help")
        assert done.returncode == 2 and f"uv sync --group {group}" in done.stderr, done.stderr[-2000:]
    mlflow = run("blueprint", "fit", "-c", config("mnist_mlp.yaml"), "-c", str(CONFIGS / "presets" / "mlflow.yaml"))
    assert mlflow.returncode == 2 and "uv sync --group mlflow" in mlflow.stderr.splitlines()[-1]
