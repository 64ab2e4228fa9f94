"""Regression: MSE, L1 or SmoothL1 loss on standardized targets; MAE, and RMSE and R2 on val/test, in real units."""

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask, default_optimizer, loss_means

FITTING_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss)


class RegressionTask(BaseTask):
    """The net predicts (target - mean) / std; mean and std come from the training split and live in the weights.

    So the loss sees well-scaled numbers whatever the target's units, while metrics and `predict` use real units.
    """

    monitor = "val/loss"
    monitor_mode = "min"
    target_mean: torch.Tensor  # buffers registered in __init__
    target_std: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        loss: nn.Module | None = None,
        standardize_target: bool = True,
        weight_decay_exclude_norm_bias: bool = False,
    ) -> None:
        super().__init__(
            net,
            optimizer,
            scheduler,
            scheduler_interval,
            nn.MSELoss() if loss is None else loss,
            weight_decay_exclude_norm_bias=weight_decay_exclude_norm_bias,
        )
        self.check_loss(self.loss_fn)
        self.save_hyperparameters(logger=False)  # the CLI logs the run's hparams itself
        self.drop_unplain_hparams()
        self.standardize_target = standardize_target
        self.outputs = int(getattr(net, "out_features", 1))
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))
        metrics = MetricCollection(
            {
                "mae": MeanAbsoluteError(),
                "rmse": MeanSquaredError(squared=False),
                "r2": R2Score(multioutput="uniform_average"),
            }
        )
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.train_loss, self.val_loss, self.test_loss = loss_means()
        self.train_mae = MeanAbsoluteError()  # RMSE and R2 on val/test only

    def check_loss(self, loss: nn.Module) -> None:
        if not isinstance(loss, FITTING_LOSSES):
            names = ", ".join(cls.__name__ for cls in FITTING_LOSSES)
            raise UserError(f"model.loss {type(loss).__name__} does not fit regression; use one of {names}")

    def check_data(self, datamodule: Any) -> None:
        if datamodule is not None and getattr(datamodule, "num_classes", None) is not None:
            raise UserError(
                f"RegressionTask needs numeric targets but the data has {datamodule.num_classes} classes; use a "
                "classification task, or set data.task: regression if the target column holds values"
            )

    def setup(self, stage: str) -> None:
        """At fit, adopt the training split's target mean/std (a checkpoint restored afterwards overrides them)."""
        super().setup(stage)
        stats = getattr(getattr(self.trainer, "datamodule", None), "target_stats", None)
        if stage == "fit" and self.standardize_target and stats is not None:
            self.target_mean.fill_(stats[0])
            self.target_std.fill_(stats[1])

    def _standardized_output(self, inputs: torch.Tensor) -> torch.Tensor:
        """The net's raw output in float32, shaped (N,) for one output or (N, outputs).

        float32 because under bf16/16-mixed the output is half precision: targets cast to it lose their digits
        (bf16 steps by 16 near 2,000) or overflow (fp16 ends at 65,504), and so would predictions in real units.
        """
        out = self.net(inputs).float()
        return out.reshape(-1) if self.outputs == 1 else out

    def _in_target_units(self, standardized: torch.Tensor) -> torch.Tensor:
        """Undo the target standardization (identity when `standardize_target` is off: mean 0, std 1)."""
        return standardized * self.target_std + self.target_mean

    def predict_values(self, inputs: torch.Tensor) -> torch.Tensor:
        """Predictions in the target's units."""
        return self._in_target_units(self._standardized_output(inputs))

    def shared_step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The loss on standardized values, then predictions (detached) and targets in the target's units."""
        inputs, targets = batch[0], batch[1]
        raw = self._standardized_output(inputs)
        targets = targets.float().reshape(raw.shape)
        loss = self.loss_fn(raw, (targets - self.target_mean) / self.target_std)
        return loss, self._in_target_units(raw.detach()), targets

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs train/loss (every log_every_n_steps, and on the progress bar); the epoch's metrics accumulate."""
        loss, preds, targets = self.shared_step(batch)
        self.log("train/loss", loss, prog_bar=True)
        self.train_loss.update(loss.detach(), len(targets))
        self.train_mae.update(preds, targets)
        return loss

    def on_train_epoch_end(self) -> None:
        """Logs train/loss_epoch and train/mae once an epoch (per step only the loss: a self.log costs ~0.7 ms)."""
        self.log("train/loss_epoch", self.train_loss)
        self.log("train/mae", self.train_mae)

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs val/loss, val/mae, val/rmse and val/r2 for the epoch (Lightning computes, syncs and resets them)."""
        loss, preds, targets = self.shared_step(batch)
        self.val_loss.update(loss, len(targets))
        self.val_metrics.update(preds, targets)
        self.log("val/loss", self.val_loss, prog_bar=True)
        self.log_dict(self.val_metrics, prog_bar=True)
        return loss

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs test/loss, test/mae, test/rmse and test/r2 for the epoch."""
        loss, preds, targets = self.shared_step(batch)
        self.test_loss.update(loss, len(targets))
        self.test_metrics.update(preds, targets)
        self.log("test/loss", self.test_loss)
        self.log_dict(self.test_metrics)
        return loss

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.predict_values(batch[0])
