"""Classification: cross-entropy (optionally label-smoothed) on an injected net, accuracy and macro-F1 per stage."""

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torch.nn import functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask, _default_optimizer


class ClassificationTask(BaseTask):
    """Multiclass classifier; `predict` returns class probabilities."""

    monitor = "val/acc"
    monitor_mode = "max"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = _default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(net, optimizer, scheduler, scheduler_interval)
        if not 0.0 <= label_smoothing < 1.0:
            raise UserError(f"model.label_smoothing must be in [0, 1), got {label_smoothing}")
        self.save_hyperparameters()
        self.drop_unplain_hparams()
        self.label_smoothing = label_smoothing
        self.num_classes = int(getattr(net, "out_features", 0))
        if self.num_classes < 2:
            raise UserError(f"the net has {self.num_classes} outputs; a classifier needs at least 2")
        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(self.num_classes, average="micro"),
                "f1": MulticlassF1Score(self.num_classes, average="macro"),
            }
        )
        for stage in ("train", "val", "test"):  # one collection per stage, so metric states never mix
            setattr(self, f"{stage}_metrics", metrics.clone(prefix=f"{stage}/"))

    def check_data(self, datamodule: Any) -> None:
        classes = getattr(datamodule, "num_classes", None)
        if classes is not None and classes != self.num_classes:
            raise UserError(
                f"shape mismatch: the data has {classes} classes but the net outputs {self.num_classes}; "
                f"set the net's output size (out_features / num_classes) to {classes}"
            )

    def _shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        inputs, targets = batch[0], batch[1]
        logits = self(inputs)
        loss = F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)
        metrics = getattr(self, f"{stage}_metrics")
        metrics.update(logits.detach(), targets)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=stage != "train")
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage != "train")
        return loss

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return torch.softmax(self(batch[0]), dim=-1)
