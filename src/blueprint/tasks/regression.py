"""Regression: MSE, L1 or SmoothL1 loss on standardized targets; MAE, RMSE and R2 reported in the target's units."""

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask, _default_optimizer

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
        optimizer: OptimizerCallable = _default_optimizer,
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
            loss,
            weight_decay_exclude_norm_bias=weight_decay_exclude_norm_bias,
        )
        self.save_hyperparameters()
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
        self.add_stage_metrics(metrics)

    def default_loss(self) -> nn.Module:
        return nn.MSELoss()

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
        out = self(inputs).float()
        return out.reshape(-1) if self.outputs == 1 else out

    def _in_target_units(self, standardized: torch.Tensor) -> torch.Tensor:
        """Undo the target standardization (identity when `standardize_target` is off: mean 0, std 1)."""
        return standardized * self.target_std + self.target_mean

    def predict_values(self, inputs: torch.Tensor) -> torch.Tensor:
        """Predictions in the target's units."""
        return self._in_target_units(self._standardized_output(inputs))

    def _shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        inputs, targets = batch[0], batch[1]
        raw = self._standardized_output(inputs)
        targets = targets.float().reshape(raw.shape)
        loss = self.loss_fn(raw, (targets - self.target_mean) / self.target_std)
        preds = self._in_target_units(raw.detach())
        self.log_epoch_mean(f"{stage}/loss", loss, len(targets))  # logged at epoch end, like the metrics below
        if stage == "train":  # MAE counted directly; RMSE and R2 on val/test
            self.log_epoch_mean("train/mae", (preds - targets).abs().mean(), len(targets))
        else:
            self.update_metrics(stage, preds, targets)
        return loss

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.predict_values(batch[0])
