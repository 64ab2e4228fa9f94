"""Extra loggers next to TensorBoard (the csv_logger and mlflow presets): same run folder and name, checked first."""

import importlib.metadata
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from blueprint.checkpointing.run_dirs import logger_root, next_version, version_folder
from blueprint.cli.sqlite_files import check_sqlite_file
from blueprint.errors import UserError

DEFAULT_NAME = "lightning_logs"  # Lightning's default name / experiment_name: the preset left it to us
PROBE_TIMEOUT_S = 5.0
LOCAL_MLFLOW = "sqlite:///mlruns/mlflow.db"  # MLflow 3 refuses its old ./mlruns file store
# the stores MLflow opens itself ("" is a plain folder path; database URLs may name a driver: postgresql+psycopg2)
MLFLOW_SCHEMES = ("", "databricks", "file", "mssql", "mysql", "postgresql", "sqlite")


def _class_name(logger: Any) -> str:
    return str(getattr(logger, "class_path", "")).rsplit(".", 1)[-1]


def _named(args: Any) -> bool:
    """The user named this logger's folder (Lightning's default name means they did not)."""
    return args.get("name") not in (None, DEFAULT_NAME)


def prepare_loggers(config: Any) -> None:
    """CSVLogger writes metrics.csv into the TensorBoard run folder; MLflow's experiment takes the experiment's name
    (`mnist_cnn`) and its run the TensorBoard run's (`mnist_cnn/version_3`).

    MLflow's tracking_uri: the configured one, else $MLFLOW_TRACKING_URI, else a local SQLite database.

    Only loggers configured next to a TensorBoardLogger are touched, and only settings left at Lightning's default.
    The TensorBoard version is fixed here when another logger needs it (as TensorBoardLogger would number it).
    An MLflow tracking server that cannot be reached fails here, before anything is trained.
    """
    loggers = config.trainer.get("logger")
    if not isinstance(loggers, list):
        loggers = [loggers] if loggers is not None and loggers is not False else []
    board = next((lg.init_args for lg in loggers if _class_name(lg) == "TensorBoardLogger"), None)
    for logger in loggers:
        args = getattr(logger, "init_args", None)
        if _class_name(logger) == "MLFlowLogger" and args is not None:
            if board is not None and args.get("experiment_name") in (None, DEFAULT_NAME):
                args.experiment_name = board.get("name") or DEFAULT_NAME
            if board is not None and args.get("run_name") is None:
                args.run_name = "/".join(filter(None, [board.get("name"), version_folder(board_version(board))]))
            args.tracking_uri = args.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI") or LOCAL_MLFLOW
            check_tracking_uri(args.tracking_uri)
        if _class_name(logger) == "CSVLogger" and board is not None and args is not None and not _named(args):
            root = logger_root(board)
            args.save_dir, args.name, args.version = str(root / version_folder(board_version(board))), "", ""


def board_version(board: Any) -> int | str:
    """The TensorBoard run's version, fixed now if unset, so other loggers can name the same run."""
    if board.get("version") is None:
        board.version = next_version(logger_root(board))
    return board.version


def tensorboard_run_options(save_dir: str | Path, name: str, version: str) -> list[str]:
    """`fit` options that log one run of many (a seed, a sweep trial) to <save_dir>/<name>/<version>, with the
    TensorBoardLogger configs/defaults.yaml declares (no `epoch` scalar), whatever logger the config names."""
    return [
        "--trainer.logger=blueprint.callbacks.tensorboard_logger.TensorBoardLogger",
        f"--trainer.logger.init_args.save_dir={save_dir}",
        f"--trainer.logger.init_args.name={name}",
        f"--trainer.logger.init_args.version={version}",
    ]


def mlflow_opens(uri: str) -> bool:
    """A scheme MLflow opens itself or through an installed tracking-store plugin (its public entry points)."""
    scheme = urllib.parse.urlparse(uri).scheme.split("+")[0]
    plugins = {entry.name for entry in importlib.metadata.entry_points(group="mlflow.tracking_store")}
    return scheme in MLFLOW_SCHEMES or scheme in plugins or len(scheme) == 1  # "c": a Windows drive letter


def check_tracking_uri(uri: str | None) -> None:
    """http(s): the server answers within a few seconds; sqlite: the file is usable (its folder created here)."""
    if not uri:
        return
    if uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S).close()  # noqa: S310
        except urllib.error.HTTPError:
            return  # it answered: a server is there
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise UserError(
                f"MLflow tracking_uri {uri!r} cannot be reached ({reason}); start the server (mlflow server "
                "--backend-store-uri sqlite:///mlruns/mlflow.db) or use the mlflow preset's local sqlite:///mlruns/mlflow.db"
            ) from err
    elif uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"MLflow tracking_uri {uri!r}: cannot create {database.parent} ({err.strerror})") from err
        check_sqlite_file(database, f"MLflow tracking_uri {uri!r}")
    elif not mlflow_opens(uri):
        raise UserError(
            f"MLflow tracking_uri {uri!r} is not a store MLflow opens; use sqlite:///FILE (the preset's "
            f"{LOCAL_MLFLOW}), http(s)://HOST:PORT of a tracking server, or a database URL"
        )
