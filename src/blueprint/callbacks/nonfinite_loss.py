"""A NaN/inf loss stops training with one clear line, and no checkpoint ever holds the weights it damaged."""

import os

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from blueprint.checkpointing.atomic_io import wait_for_checkpoints
from blueprint.checkpointing.run_dirs import last_checkpoint_path
from blueprint.errors import TrainingStopped


class StopOnNonFiniteLoss(Callback):
    """Notes the first non-finite loss on the device every step; decides every `every_n_steps` and before any save.

    An ordinary step costs two tiny device operations: no host read, no collective. The decision reads one value
    to the host every `every_n_steps` optimizer steps (default: `trainer.log_every_n_steps`, when Lightning reads
    the logged loss anyway), at each epoch's end and before every checkpoint, so no checkpoint is written from
    damaged weights; up to `every_n_steps` steps may run between the bad step and the stop. Under DDP the weights
    decide: DDP averages gradients, so a non-finite loss on any rank reaches every rank's weights alike, and all
    ranks stop together without exchanging a flag. With anomaly detection on (the debug preset) torch raises
    first, naming the operation at fault.
    """

    def __init__(self, every_n_steps: int | None = None) -> None:
        self.every_n_steps = every_n_steps
        self.first_bad_step: torch.Tensor | None = None  # -1 until a loss is non-finite
        self._checked_at = -1  # the optimizer step last checked

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.first_bad_step = torch.tensor(-1, device=pl_module.device)

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if self.first_bad_step is None:
            return
        newly_bad = (self.first_bad_step < 0) & ~torch.isfinite(loss.detach()).all()
        self.first_bad_step = torch.where(newly_bad, trainer.global_step, self.first_bad_step)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        every = self.every_n_steps or getattr(trainer, "log_every_n_steps", 50)  # set by Lightning, untyped
        step = trainer.global_step
        if every and step % every == 0 and step != self._checked_at:  # once per optimizer step (accumulation)
            self._checked_at = step
            self._stop_if_damaged(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop_if_damaged(trainer, pl_module)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        """Raising here, before the checkpoint is written, keeps every earlier checkpoint the last good one."""
        self._stop_if_damaged(trainer, pl_module)

    def _stop_if_damaged(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.first_bad_step is None:
            return
        if trainer.world_size > 1:
            damaged = not bool(torch.stack([torch.isfinite(p).all() for p in pl_module.parameters()]).all())
        else:
            damaged = int(self.first_bad_step) >= 0
        if not damaged:
            return
        step = int(self.first_bad_step)
        self.first_bad_step = None  # the save made while stopping must not raise again
        wait_for_checkpoints(trainer)  # a write still queued in the background is the last good checkpoint
        last = last_checkpoint_path(trainer)
        kept = f"the last good checkpoint is {last}" if os.path.isfile(last) else "no checkpoint was written yet"
        raise TrainingStopped(
            f"non-finite loss at step {step if step >= 0 else 'unknown'} (stopped at step {trainer.global_step}, "
            f"epoch {trainer.current_epoch}); {kept}. Find the cause with `-c configs/presets/debug.yaml` "
            "(anomaly detection), or lower the learning rate / set trainer.gradient_clip_val"
        )
