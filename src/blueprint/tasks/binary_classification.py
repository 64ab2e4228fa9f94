"""Binary classification: one logit per sample, BCE-with-logits, AUROC, accuracy and F1 per stage."""

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryF1Score

from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask, _default_optimizer


class BinaryClassificationTask(BaseTask):
    """The net outputs one logit (class index 1 is the positive class); `predict` returns P(class 1)."""

    monitor = "val/loss"
    monitor_mode = "min"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = _default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        loss: nn.Module | None = None,
        threshold: float = 0.5,
        weight_decay_exclude_norm_bias: bool = False,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise UserError(f"model.threshold must be in (0, 1), got {threshold}")
        super().__init__(
            net,
            optimizer,
            scheduler,
            scheduler_interval,
            loss,
            weight_decay_exclude_norm_bias=weight_decay_exclude_norm_bias,
        )
        self.save_hyperparameters()
        self.drop_unplain_hparams()
        outputs = int(getattr(net, "out_features", 1))
        if outputs != 1:
            raise UserError(
                f"the net has {outputs} outputs; binary classification needs 1 (a logit): set out_features: 1"
            )
        metrics = MetricCollection(
            {
                "acc": BinaryAccuracy(threshold),
                "f1": BinaryF1Score(threshold),
                "auroc": BinaryAUROC(),
            }
        )
        self.threshold = threshold
        self.add_stage_metrics(metrics)

    def default_loss(self) -> nn.Module:
        return nn.BCEWithLogitsLoss()

    def check_loss(self, loss: nn.Module) -> None:
        if not isinstance(loss, nn.BCEWithLogitsLoss):
            raise UserError(
                f"model.loss {type(loss).__name__} does not fit binary classification on one logit; "
                "use torch.nn.BCEWithLogitsLoss (or ClassificationTask with 2 outputs for CrossEntropyLoss)"
            )

    def check_data(self, datamodule: Any) -> None:
        if datamodule is None or not hasattr(datamodule, "num_classes"):
            return
        classes = datamodule.num_classes
        if classes != 2:
            found = "continuous values (regression)" if classes is None else f"{classes} classes"
            raise UserError(
                f"BinaryClassificationTask needs a target with 2 classes but the data has {found}; use "
                "blueprint.tasks.ClassificationTask for more classes or RegressionTask for values"
            )

    def _shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        inputs, targets = batch[0], batch[1]
        logits = self(inputs).reshape(-1).float()
        loss = self.loss_fn(logits, targets.float())
        probabilities = logits.detach().sigmoid()
        self.log_epoch_mean(f"{stage}/loss", loss, len(targets))  # logged at epoch end, like the metrics below
        if stage == "train":  # accuracy counted directly; F1 and AUROC (which keeps every score) on val/test
            correct = (probabilities > self.threshold) == targets.bool()
            self.log_epoch_mean("train/acc", correct.float().mean(), len(targets))
        else:
            self.update_metrics(stage, probabilities, targets.long())
        return loss

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return torch.sigmoid(self(batch[0]).reshape(-1))
