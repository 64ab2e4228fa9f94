"""The SQLite files MLflow and Optuna keep runs in: corrupt, locked or a store MLflow cannot open is one `error:` line
naming the file and the fix, before any run folder exists (the libraries themselves raise 3-5 tracebacks)."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from blueprint.cli import sqlite_files
from blueprint.sweeps import command as sweep_command
from tests.conftest import config, run_cli
from tests.reliability.helpers import error_line

MLFLOW = str(Path(config("presets")) / "mlflow.yaml")
LR = "--param=model.init_args.optimizer.init_args.lr=loguniform:1e-4:1e-1"


@pytest.fixture
def locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A database another connection holds an exclusive lock on (as a hung writer would)."""
    monkeypatch.setattr(sqlite_files, "WAIT_S", 0.2)
    database = tmp_path / "locked.db"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    yield database
    holder.close()


def corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(range(256)) * 20)
    return path


def fit_with_mlflow(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # what the preset reads when its tracking_uri is unset
    run_cli("fit", "-c", config("tabular_mlp_binary.yaml"), "-c", MLFLOW)


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda tmp, locked: f"sqlite:///{corrupt(tmp / 'mlruns' / 'mlflow.db')}", "file is not a database"),
        (lambda tmp, locked: f"sqlite:///{locked}", "database is locked"),
        (lambda tmp, locked: "foo://nowhere", "is not a store MLflow opens"),
    ],
)
def test_an_mlflow_store_it_cannot_use_is_one_line_and_no_run(
    make, named: str, tmp_path: Path, locked, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    uri = make(tmp_path, locked)
    with pytest.raises(SystemExit) as refused:
        fit_with_mlflow(uri, monkeypatch)
    line = error_line(capsys)
    assert refused.value.code == 2 and line.startswith(f"error: MLflow tracking_uri {uri!r}") and named in line, line
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("which", ["corrupt", "locked"])
def test_an_optuna_storage_it_cannot_use_is_one_line(which: str, tmp_path: Path, locked: Path, capsys) -> None:
    database = corrupt(tmp_path / "study.db") if which == "corrupt" else locked
    argv = ["-c", config("tabular_mlp_binary.yaml"), LR, "--trials=1", f"--storage=sqlite:///{database}"]
    with pytest.raises(SystemExit) as refused:
        sweep_command.main([*argv, f"--study_dir={tmp_path / 'sweep'}"])
    line = error_line(capsys)
    assert (
        refused.value.code == 2
        and line.startswith(f"error: --storage 'sqlite:///{database}'")
        and str(database) in line
    )
    assert not (tmp_path / "sweep" / "trials").exists()
