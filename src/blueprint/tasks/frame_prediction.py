"""Next-frame prediction: (B, T_in, C, H, W) -> (B, T_out, C, H, W) in [0, 1], with trivial baselines logged beside."""

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask, _default_optimizer

FITTING_LOSSES = (nn.MSELoss, nn.L1Loss, nn.BCELoss)


def mse_per_frame(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over a frame's pixels, averaged over frames: the unit of published Moving MNIST tables."""
    return (prediction - target).pow(2).sum(dim=(-3, -2, -1)).mean()


class FramePredictionTask(BaseTask):
    """Video frame prediction; logs MSE per pixel and per frame, MAE, SSIM, PSNR, and on val/test two baselines.

    The baselines, an all-zeros prediction and a copy of the last input frame, show at once whether the net learned
    anything: `val/baseline_zeros_mse_per_frame` and `val/baseline_copy_last_mse_per_frame`.
    """

    monitor = "val/loss"
    monitor_mode = "min"
    metrics_on_progress_bar = False  # the bar shows loss and mse_per_frame; TensorBoard has all the metrics

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = _default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        loss: nn.Module | None = None,
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
        self.output_frames = getattr(net, "output_frames", None)
        metrics = MetricCollection(
            {
                "mse": MeanSquaredError(),
                "mae": MeanAbsoluteError(),
                "ssim": StructuralSimilarityIndexMeasure(data_range=1.0),
                "psnr": PeakSignalNoiseRatio(data_range=1.0),
            }
        )
        self.add_stage_metrics(metrics)

    def default_loss(self) -> nn.Module:
        return nn.MSELoss()

    def check_loss(self, loss: nn.Module) -> None:
        if not isinstance(loss, FITTING_LOSSES):
            names = ", ".join(cls.__name__ for cls in FITTING_LOSSES)
            raise UserError(
                f"model.loss {type(loss).__name__} does not fit frame prediction (pixel values in [0, 1] against "
                f"target pixels); use one of {names}"
            )

    def check_data(self, datamodule: Any) -> None:
        frames = getattr(datamodule, "target_frames", None)
        if frames is not None and self.output_frames is not None and frames != self.output_frames:
            raise UserError(
                f"shape mismatch: the data asks for {frames} target frames but the net predicts {self.output_frames}; "
                f"set model.net.init_args.output_frames: {frames}"
            )

    def _shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        inputs, targets = batch[0], batch[1]
        predictions = self(inputs)
        with torch.autocast(self.device.type, enabled=False):  # CUDA autocast refuses BCELoss even on float32
            loss = self.loss_fn(predictions.float(), targets.float())
        size = len(inputs)
        predictions = predictions.detach().float()
        self.log_epoch_mean(f"{stage}/loss", loss, size)  # epoch means, logged when the stage's epoch ends
        self.log_epoch_mean(f"{stage}/mse_per_frame", mse_per_frame(predictions, targets), size)
        if stage == "train":  # SSIM, PSNR and MAE would cost time on every step; val and test report them
            return loss
        self.update_metrics(stage, predictions.flatten(0, 1), targets.flatten(0, 1))
        zeros = mse_per_frame(torch.zeros_like(targets), targets)
        copy_last = mse_per_frame(inputs[:, -1:].expand_as(targets), targets)
        self.log_epoch_mean(f"{stage}/baseline_zeros_mse_per_frame", zeros, size, prog_bar=False)
        self.log_epoch_mean(f"{stage}/baseline_copy_last_mse_per_frame", copy_last, size, prog_bar=False)
        return loss

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self(batch[0]).float()
