"""Next-frame prediction: (B, T_in, C, H, W) -> (B, T_out, C, H, W) in [0, 1], with trivial baselines logged beside."""

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanMetric, MeanSquaredError, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask, default_optimizer

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

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = default_optimizer,
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
        self.save_hyperparameters(logger=False)  # the CLI logs the run's hparams itself
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
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.train_loss = MeanMetric()  # the epoch mean; train/loss itself is logged per step
        self.train_mse_per_frame = MeanMetric()  # SSIM, PSNR and MAE would cost time on every step: val/test only

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

    def shared_step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The loss, the predictions (detached, float32, for the metrics) and the target frames of one batch."""
        inputs, targets = batch[0], batch[1]
        predictions = self(inputs)
        with torch.autocast(self.device.type, enabled=False):  # CUDA autocast refuses BCELoss even on float32
            loss = self.loss_fn(predictions.float(), targets.float())
        return loss, predictions.detach().float(), targets

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs train/loss (every log_every_n_steps, and on the progress bar); the epoch's means accumulate."""
        loss, predictions, targets = self.shared_step(batch)
        self.log("train/loss", loss, prog_bar=True)
        self.train_loss.update(loss.detach(), len(targets))
        self.train_mse_per_frame.update(mse_per_frame(predictions, targets), len(targets))
        return loss

    def on_train_epoch_end(self) -> None:
        """Logs train/loss_epoch and train/mse_per_frame once an epoch: a self.log call costs ~0.7 ms."""
        self.log("train/loss_epoch", self.train_loss)
        self.log("train/mse_per_frame", self.train_mse_per_frame)

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs val/loss, val/mse_per_frame, mse, mae, ssim, psnr and both baselines for the epoch."""
        return self.evaluation_step(batch, "val", self.val_metrics)

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs the test/ counterparts of validation_step's metrics."""
        return self.evaluation_step(batch, "test", self.test_metrics)

    def evaluation_step(self, batch: Any, stage: str, metrics: MetricCollection) -> torch.Tensor:
        """The bar shows `<stage>/loss` and `<stage>/mse_per_frame`; TensorBoard gets every metric and baseline."""
        loss, predictions, targets = self.shared_step(batch)
        metrics.update(predictions.flatten(0, 1), targets.flatten(0, 1))
        last_input = batch[0][:, -1:].expand_as(targets)
        baselines = {
            f"{stage}/baseline_zeros_mse_per_frame": mse_per_frame(torch.zeros_like(targets), targets),
            f"{stage}/baseline_copy_last_mse_per_frame": mse_per_frame(last_input, targets),
        }
        on_bar = {f"{stage}/loss": loss, f"{stage}/mse_per_frame": mse_per_frame(predictions, targets)}
        self.log_dict(on_bar, prog_bar=True, batch_size=len(targets), sync_dist=True)
        self.log_dict(baselines, batch_size=len(targets), sync_dist=True)
        self.log_dict(metrics)
        return loss

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self(batch[0]).float()
