"""SIGTERM/SIGINT end a fit cleanly: the current step finishes, last.ckpt is written, the exit status is 143/130."""

import signal
import time
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from blueprint.checkpointing.atomic_io import wait_for_checkpoints
from blueprint.checkpointing.run_dirs import last_checkpoint_path

# A repeat this soon after the first Ctrl+C is the same request: the terminal signals the whole process group, so
# both `uv run` and the run get one, and uv forwards its copy 200 ms later
REPEAT_WINDOW_S = 1.0


class StopOnSignal(Callback):
    """Saves a resumable last.ckpt when Lightning stops a fit on SIGTERM, and treats SIGINT (Ctrl+C) the same way.

    Lightning itself catches SIGTERM: it finishes the step, under DDP agrees on the stop with every rank (its own
    broadcast, once per step) and raises SIGTERMException. This callback writes the checkpoint then and sets the
    exit status to 128 + signal. A second Ctrl+C more than REPEAT_WINDOW_S after the first stops at once, with no
    checkpoint; one sooner is a copy of the first. Continue with `--ckpt_path last`.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._received_at = 0.0
        self._previous_sigint: Any = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Installed after Lightning's own handlers, which it restores (SIGINT included) when the fit ends."""
        self.received = None
        try:
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:  # not the main thread: only Lightning's SIGTERM handling applies
            self._previous_sigint = None

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        """First Ctrl+C: ask Lightning to stop as on SIGTERM. A later one, not a copy of the first: stop now."""
        now = time.monotonic()
        if self.received is None:
            self.received, self._received_at = signum, now
            lightning_handler = signal.getsignal(signal.SIGTERM)
            if callable(lightning_handler):
                lightning_handler(signal.SIGTERM, frame)
        elif now - self._received_at > REPEAT_WINDOW_S:
            raise KeyboardInterrupt

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            signum = self.received or signal.SIGTERM
            path = last_checkpoint_path(trainer)
            callback = trainer.checkpoint_callback
            if isinstance(callback, ModelCheckpoint):  # in its state: the resumed run overwrites, not last-v1.ckpt
                callback.last_model_path = path
            trainer.save_checkpoint(path, weights_only=False)  # full state: optimizer, loops, data position, RNG
            wait_for_checkpoints(trainer)  # on disk before the process exits
            rank_zero_info(
                f"{signal.Signals(signum).name} received: saved {path} at step {trainer.global_step}; "
                "continue with --ckpt_path last"
            )
            exception.code = 128 + signum
            # Exit only once a copy of the Ctrl+C can no longer arrive: it would turn the clean stop into a traceback
            time.sleep(max(0.0, self._received_at + REPEAT_WINDOW_S - time.monotonic()) if self.received else 0.0)
        self._restore_sigint()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore_sigint()

    def _restore_sigint(self) -> None:
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None
