"""Regression on images: predict a number per image, the worked example of docs/add_a_task.md."""

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MeanAbsoluteError, MetricCollection, R2Score

from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask, default_optimizer, loss_means

FITTING_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)


class ImageRegressionTask(BaseTask):
    """Fits the net's single output to the batch's float target (here: a digit's value, 0-9, read as a number)."""

    monitor = "val/mae"
    monitor_mode = "min"
    net_outputs = 1  # the data has 10 classes, but this task predicts one number: blueprint gives the net 1 output

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        loss: nn.Module | None = None,
    ) -> None:
        super().__init__(net, optimizer, scheduler, scheduler_interval, nn.MSELoss() if loss is None else loss)
        self.check_loss(self.loss_fn)
        self.save_hyperparameters(logger=False)  # saved in checkpoints; the CLI logs the run's hparams itself
        self.drop_unplain_hparams()  # keep checkpoints loadable with weights_only=True
        outputs = int(getattr(net, "out_features", 1))
        if outputs != 1:
            raise UserError(f"the net has {outputs} outputs; regression needs 1 (set its out_features: 1)")
        metrics = MetricCollection({"mae": MeanAbsoluteError(), "r2": R2Score()})
        self.train_metrics = metrics.clone(prefix="train/")  # one copy per stage, so their states never mix
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.train_loss, self.val_loss, self.test_loss = loss_means()  # epoch means, no per-step NaN host read

    def check_loss(self, loss: nn.Module) -> None:
        if not isinstance(loss, FITTING_LOSSES):
            names = ", ".join(cls.__name__ for cls in FITTING_LOSSES)
            raise UserError(f"model.loss {type(loss).__name__} does not fit regression; use one of {names}")

    def shared_step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The loss, the predictions (detached, for the metrics) and the targets of one batch."""
        inputs, targets = batch[0], batch[1].float()
        predictions = self.net(inputs).squeeze(-1).float()
        return self.loss_fn(predictions, targets), predictions.detach(), targets

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss, predictions, targets = self.shared_step(batch)
        self.log("train/loss", loss, prog_bar=True)  # written every trainer.log_every_n_steps
        self.train_loss.update(loss.detach(), len(targets))
        self.train_metrics.update(predictions, targets)
        return loss

    def on_train_epoch_end(self) -> None:
        self.log("train/loss_epoch", self.train_loss)  # once an epoch: each self.log call costs ~0.7 ms
        self.log_dict(self.train_metrics)

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss, predictions, targets = self.shared_step(batch)
        self.val_loss.update(loss, len(targets))
        self.val_metrics.update(predictions, targets)
        self.log("val/loss", self.val_loss, prog_bar=True)  # metric objects: Lightning computes, syncs and resets
        self.log_dict(self.val_metrics, prog_bar=True)  # them when the epoch ends
        return loss

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss, predictions, targets = self.shared_step(batch)
        self.test_loss.update(loss, len(targets))
        self.test_metrics.update(predictions, targets)
        self.log("test/loss", self.test_loss)
        self.log_dict(self.test_metrics)
        return loss

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self(batch[0]).squeeze(-1)
