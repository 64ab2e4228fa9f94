"""Binary classification: one logit per sample, BCE-with-logits; accuracy, and F1 and AUROC on val/test."""

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryF1Score

from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask, default_optimizer, loss_means


class BinaryClassificationTask(BaseTask):
    """The net outputs one logit (class index 1 is the positive class); `predict` returns P(class 1)."""

    monitor = "val/loss"
    monitor_mode = "min"
    net_outputs = 1  # one logit for two classes: the CLI links this, not the class count, to the net's out_features

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = default_optimizer,
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
            nn.BCEWithLogitsLoss() if loss is None else loss,
            weight_decay_exclude_norm_bias=weight_decay_exclude_norm_bias,
        )
        self.check_loss(self.loss_fn)
        self.save_hyperparameters(logger=False)  # the CLI logs the run's hparams itself
        self.drop_unplain_hparams()
        outputs = int(getattr(net, "out_features", 1))
        if outputs != 1:
            raise UserError(
                f"the net has {outputs} outputs; binary classification needs 1 (a logit): build the net with "
                "out_features=1 (the CLI links it)"
            )
        metrics = MetricCollection(
            {
                "acc": BinaryAccuracy(threshold),
                "f1": BinaryF1Score(threshold),
                "auroc": BinaryAUROC(),
            }
        )
        self.threshold = threshold  # predictions.csv labels rows with it, as the metrics count them
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.train_loss, self.val_loss, self.test_loss = loss_means()
        self.train_acc = BinaryAccuracy(threshold, validate_args=False)  # F1 and AUROC (which keeps every score) off

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

    def shared_step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The loss, P(class 1) (detached, for the metrics) and the integer targets of one batch."""
        inputs, targets = batch[0], batch[1]
        logits = self.net(inputs).reshape(-1).float()
        loss = self.loss_fn(logits, targets.float())
        return loss, logits.detach().sigmoid(), targets.long()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs train/loss (every log_every_n_steps, and on the progress bar); the epoch's metrics accumulate."""
        loss, probabilities, targets = self.shared_step(batch)
        self.log("train/loss", loss, prog_bar=True)
        self.train_loss.update(loss.detach(), len(targets))
        self.train_acc.update(probabilities, targets)
        return loss

    def on_train_epoch_end(self) -> None:
        """Logs train/loss_epoch and train/acc once an epoch (per step only the loss: a self.log costs ~0.7 ms)."""
        self.log("train/loss_epoch", self.train_loss)
        self.log("train/acc", self.train_acc)

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs val/loss, val/acc, val/f1 and val/auroc for the epoch (Lightning computes, syncs and resets them)."""
        loss, probabilities, targets = self.shared_step(batch)
        self.val_loss.update(loss, len(targets))
        self.val_metrics.update(probabilities, targets)
        self.log("val/loss", self.val_loss, prog_bar=True)
        self.log_dict(self.val_metrics, prog_bar=True)
        return loss

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs test/loss, test/acc, test/f1 and test/auroc for the epoch."""
        loss, probabilities, targets = self.shared_step(batch)
        self.test_loss.update(loss, len(targets))
        self.test_metrics.update(probabilities, targets)
        self.log("test/loss", self.test_loss)
        self.log_dict(self.test_metrics)
        return loss

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return torch.sigmoid(self(batch[0]).reshape(-1))
