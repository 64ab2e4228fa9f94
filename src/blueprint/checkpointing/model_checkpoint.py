"""Lightning's ModelCheckpoint with `save_last` as its docs say: last.ckpt after every validation, not only the best."""

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint as LightningModelCheckpoint


class ModelCheckpointSavingLast(LightningModelCheckpoint):
    """The `checkpoint` every run gets (cli/command.py). Lightning 2.6 writes last.ckpt only when a top-k checkpoint
    is written at the same step, so after epochs that do not beat the best, last.ckpt stayed at the best epoch and a
    crashed run resumed from there, losing the epochs since. This writes it at every save point, as before 2.6.
    Remove when Lightning writes last.ckpt on its own again (tests/reliability/test_resume.py checks it).
    """

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self.save_last_if_missed(trainer, at_train_epoch_end=True)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        self.save_last_if_missed(trainer, at_train_epoch_end=False)

    def save_last_if_missed(self, trainer: L.Trainer, at_train_epoch_end: bool) -> None:
        """last.ckpt at this save point unless Lightning skips it (sanity check, fast_dev_run) or just wrote it."""
        if not self.save_last or self._should_save_on_train_epoch_end(trainer) != at_train_epoch_end:
            return
        if not self._should_skip_saving_checkpoint(trainer):  # also true when this step was saved already
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
