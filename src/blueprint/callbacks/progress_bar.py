"""Progress for a terminal and for a log file: tqdm bars on a terminal, one line per epoch anywhere else."""

import sys
import time

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar


class EpochLineProgressBar(TQDMProgressBar):
    """Lightning's tqdm bars when the output is a terminal; else (a log file, CI, a scheduler) no bars and one line
    per training epoch, such as `Epoch 3: train/loss 0.2104  val/loss 0.1873  val/acc 0.944  (2.1 s)`.

    A bar redrawn in a file leaves every redraw behind: 129 KB for a 100-epoch table run. The line shows the
    metrics the task logs with `prog_bar=True`; epochs count from 0, as in the bar and the checkpoint names.
    `terminal` overrides the check of stderr (where tqdm draws). Only once-an-epoch hooks are added: the per-step
    hooks are the parent's, which do nothing when bars are off.
    """

    def __init__(
        self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False, terminal: bool | None = None
    ) -> None:
        super().__init__(refresh_rate=refresh_rate, process_position=process_position, leave=leave)
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self._epoch_start = 0.0
        if not self.terminal:
            self.disable()

    def enable(self) -> None:
        """Bars come back only on a terminal (Lightning's tuners disable and enable the bar around their runs)."""
        if self.terminal:
            super().enable()

    def on_train_epoch_start(self, trainer: L.Trainer, *args: object) -> None:
        super().on_train_epoch_start(trainer, *args)
        self._epoch_start = time.monotonic()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self.terminal or not trainer.is_global_zero or trainer.sanity_checking:
            return
        metrics = {key: value for key, value in self.get_metrics(trainer, pl_module).items() if key != "v_num"}
        numbers = "  ".join(
            f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}" for key, value in metrics.items()
        )
        seconds = time.monotonic() - self._epoch_start
        print(f"Epoch {trainer.current_epoch}: {numbers}  ({seconds:.1f} s)", flush=True)  # flushed: a file buffers
