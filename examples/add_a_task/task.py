"""Regression on images: predict a number per image, the worked example of docs/add_a_task.md."""

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MeanAbsoluteError, MetricCollection, R2Score

from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask, _default_optimizer

FITTING_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)


class ImageRegressionTask(BaseTask):
    """Fits the net's single output to the batch's float target (here: a digit's value, 0-9, read as a number)."""

    monitor = "val/mae"
    monitor_mode = "min"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = _default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        loss: nn.Module | None = None,
    ) -> None:
        super().__init__(net, optimizer, scheduler, scheduler_interval, loss)
        self.save_hyperparameters()
        self.drop_unplain_hparams()  # keep checkpoints loadable with weights_only=True
        outputs = int(getattr(net, "out_features", 1))
        if outputs != 1:
            raise UserError(f"the net has {outputs} outputs; regression needs 1 (set its out_features: 1)")
        metrics = MetricCollection({"mae": MeanAbsoluteError(), "r2": R2Score()})
        self.add_stage_metrics(metrics, ("train", "val", "test"))

    def default_loss(self) -> nn.Module:
        return nn.MSELoss()

    def check_loss(self, loss: nn.Module) -> None:
        if not isinstance(loss, FITTING_LOSSES):
            names = ", ".join(cls.__name__ for cls in FITTING_LOSSES)
            raise UserError(f"model.loss {type(loss).__name__} does not fit regression; use one of {names}")

    def _shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        inputs, targets = batch[0], batch[1].float()
        predictions = self(inputs).squeeze(-1).float()
        loss = self.loss_fn(predictions, targets)
        self.log_epoch_mean(f"{stage}/loss", loss, len(targets))  # summed on the device, logged at epoch end
        self.update_metrics(stage, predictions.detach(), targets)  # computed, logged and reset at epoch end
        return loss

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self(batch[0]).squeeze(-1)
