"""Classification: cross-entropy (optionally label-smoothed) on an injected net; accuracy, and macro-F1 on val/test."""

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torch.nn import functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask, default_optimizer, loss_means

FITTING_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss, nn.KLDivLoss)


class ClassificationTask(BaseTask):
    """Multiclass classifier; `predict` returns class probabilities."""

    monitor = "val/acc"
    monitor_mode = "max"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        loss: nn.Module | None = None,
        label_smoothing: float = 0.0,
        weight_decay_exclude_norm_bias: bool = False,
    ) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise UserError(f"model.label_smoothing must be in [0, 1), got {label_smoothing}")
        if label_smoothing and loss is not None:
            raise UserError(
                f"model.label_smoothing={label_smoothing} smooths the default loss only, but model.loss is set to "
                f"{type(loss).__name__}; give the loss its own label_smoothing (CrossEntropyLoss has one) instead"
            )
        default_loss = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        super().__init__(
            net,
            optimizer,
            scheduler,
            scheduler_interval,
            default_loss if loss is None else loss,
            weight_decay_exclude_norm_bias,
        )
        self.check_loss(self.loss_fn)
        self.save_hyperparameters(logger=False)  # the CLI logs the run's hparams itself
        self.drop_unplain_hparams()
        self.num_classes = int(getattr(net, "out_features", 0))
        if self.num_classes < 2:
            raise UserError(
                f"the net has {self.num_classes} outputs; a classifier needs at least 2 (data with continuous values, "
                "which gives one, takes blueprint.tasks.RegressionTask)"
            )
        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(self.num_classes, average="micro"),
                "f1": MulticlassF1Score(self.num_classes, average="macro"),
            }
        )
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.train_loss, self.val_loss, self.test_loss = loss_means()
        self.train_acc = MulticlassAccuracy(self.num_classes, average="micro", validate_args=False)  # F1 off: speed

    def check_loss(self, loss: nn.Module) -> None:
        if isinstance(loss, nn.KLDivLoss) and loss.reduction == "mean":
            raise UserError(
                "model.loss KLDivLoss with reduction 'mean' divides by batch size x classes, shrinking the loss and "
                "its gradients by the class count; set its reduction to 'batchmean'"
            )
        if not isinstance(loss, FITTING_LOSSES):
            names = ", ".join(cls.__name__ for cls in FITTING_LOSSES)
            raise UserError(
                f"model.loss {type(loss).__name__} does not fit multiclass classification (logits vs class "
                f"indices); use one of {names}"
            )

    def compute_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """CrossEntropy takes logits; NLL and KLDiv take log-probabilities (KLDiv against one-hot targets)."""
        if isinstance(self.loss_fn, nn.CrossEntropyLoss):
            return self.loss_fn(logits, targets)
        log_probs = F.log_softmax(logits, dim=-1)
        if isinstance(self.loss_fn, nn.KLDivLoss):
            return self.loss_fn(log_probs, F.one_hot(targets, logits.shape[-1]).to(log_probs.dtype))
        return self.loss_fn(log_probs, targets)

    def check_data(self, datamodule: Any) -> None:
        if datamodule is None or not hasattr(datamodule, "num_classes"):
            return
        classes = datamodule.num_classes
        if classes is None:
            raise UserError(
                "ClassificationTask needs class labels but the data holds continuous values (regression); use "
                "blueprint.tasks.RegressionTask, or set data.task: classification if the target column holds labels"
            )
        if classes != self.num_classes:
            raise UserError(
                f"shape mismatch: the data has {classes} classes but the net outputs {self.num_classes}; "
                f"set the net's out_features to {classes}"
            )

    def shared_step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The loss, the logits (detached, for the metrics) and the targets of one batch."""
        inputs, targets = batch[0], batch[1]
        logits = self.net(inputs)
        return self.compute_loss(logits, targets), logits.detach(), targets

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs train/loss (every log_every_n_steps, and on the progress bar); the epoch's metrics accumulate."""
        loss, logits, targets = self.shared_step(batch)
        self.log("train/loss", loss, prog_bar=True)
        self.train_loss.update(loss.detach(), len(targets))
        self.train_acc.update(logits, targets)
        return loss

    def on_train_epoch_end(self) -> None:
        """Logs train/loss_epoch and train/acc once an epoch (per step only the loss: a self.log costs ~0.7 ms)."""
        self.log("train/loss_epoch", self.train_loss)
        self.log("train/acc", self.train_acc)

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs val/loss, val/acc and val/f1 for the epoch (Lightning computes, syncs and resets the metrics)."""
        loss, logits, targets = self.shared_step(batch)
        self.val_loss.update(loss, len(targets))
        self.val_metrics.update(logits, targets)
        self.log("val/loss", self.val_loss, prog_bar=True)
        self.log_dict(self.val_metrics, prog_bar=True)
        return loss

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs test/loss, test/acc and test/f1 for the epoch."""
        loss, logits, targets = self.shared_step(batch)
        self.test_loss.update(loss, len(targets))
        self.test_metrics.update(logits, targets)
        self.log("test/loss", self.test_loss)
        self.log_dict(self.test_metrics)
        return loss

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return torch.softmax(self(batch[0]), dim=-1)
