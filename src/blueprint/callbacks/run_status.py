"""Each run folder says how its run ended (`status.json`), so `blueprint runs` can list crashed and stopped runs."""

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_warn

from blueprint.checkpointing.run_statuses import CRASHED, FINISHED, NAN_STOP, RUNNING, STATUS_FILE
from blueprint.errors import TrainingStopped


def stopped_by(signum: int) -> str:
    """'stopped by SIGTERM': the status of a run a signal ended cleanly (resumable with --ckpt_path last)."""
    return f"stopped by {signal.Signals(signum).name}"


def status_of(exception: BaseException) -> str:
    """What ended the run: a clean stop on a signal (exit 128 + signal), a non-finite loss, or anything else."""
    if isinstance(exception, SystemExit) and isinstance(exception.code, int) and exception.code > 128:
        try:
            return stopped_by(exception.code - 128)
        except ValueError:
            return CRASHED
    if isinstance(exception, KeyboardInterrupt):
        return stopped_by(signal.SIGINT)
    if isinstance(exception, TrainingStopped):
        return NAN_STOP
    return CRASHED


class RunStatus(Callback):
    """Writes `<log dir>/status.json`: `running` with the start time and process once training (or testing) starts,
    then how it ended.

    `finished` when the stage ends normally (fit, then the test after fit), else the status of the exception. A run
    refused before its first step (a bad resume) writes nothing, so it cannot mark an earlier run's folder. A run
    killed outright (SIGKILL, power loss) stays `running`; the run index then sees its process is gone.
    """

    def __init__(self) -> None:
        self.started: str | None = None
        self.folder: Path | None = None  # the run folder, read when the stage starts (see _start)

    def _start(self, trainer: L.Trainer, stage: str) -> None:
        """Every rank reads trainer.log_dir (a broadcast: rank zero alone would wait forever); rank zero writes."""
        log_dir = trainer.log_dir if trainer.logger is not None else None
        self.folder = Path(log_dir) if log_dir is not None else None
        self._write(trainer, RUNNING, stage=stage)

    def _write(self, trainer: L.Trainer, status: str, **extra: Any) -> None:
        folder = self.folder
        if not trainer.is_global_zero or folder is None:
            return
        self.started = self.started or time.strftime("%Y-%m-%dT%H:%M:%S")
        record = {"status": status, "started": self.started, "pid": os.getpid(), "host": socket.gethostname()}
        temp = folder / f".{STATUS_FILE}.tmp-{os.getpid()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            temp.write_text(json.dumps(record | extra, indent=1) + "\n")
            os.replace(temp, folder / STATUS_FILE)  # a reader never sees half a file
        except OSError as err:  # a full disk must not hide the run's own error behind this one
            temp.unlink(missing_ok=True)
            rank_zero_warn(f"could not record the run's status in {folder / STATUS_FILE}: {err}")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start(trainer, "fit")

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start(trainer, "test")

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Lightning calls teardown only when the stage ends without an exception."""
        if self.started is not None and stage in ("fit", "test"):
            self._write(trainer, FINISHED, stage=stage, ended=time.strftime("%Y-%m-%dT%H:%M:%S"))

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if self.started is None:  # refused before it started: the folder may belong to an earlier run
            return
        detail = str(exception).splitlines()[0][:200] if str(exception) else type(exception).__name__
        self._write(trainer, status_of(exception), detail=detail, ended=time.strftime("%Y-%m-%dT%H:%M:%S"))
