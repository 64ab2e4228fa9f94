"""Next-frame prediction: (B, T_in, C, H, W) -> (B, T_out, C, H, W) in [0, 1], with trivial baselines logged beside."""

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanMetric, MeanSquaredError, Metric, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask, default_optimizer, loss_means
from blueprint.tasks.frame_losses import L1L2Loss, SSIMLoss

FITTING_LOSSES = (nn.MSELoss, nn.L1Loss, nn.BCELoss, L1L2Loss, SSIMLoss)


class MSEPerFrame(Metric):
    """Squared error summed over a frame's pixels, averaged over frames: the unit of published Moving MNIST tables."""

    higher_is_better = False
    squared_error: torch.Tensor  # states added in __init__
    frames: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("squared_error", torch.tensor(0.0), dist_reduce_fx="sum")  # sums: exact across processes
        self.add_state("frames", torch.tensor(0), dist_reduce_fx="sum")

    def update(self, predictions: torch.Tensor, targets: torch.Tensor) -> None:
        """Frames are the last three dims (C, H, W); any leading dims (batch, time) count frames."""
        self.squared_error += (predictions - targets).pow(2).sum()
        self.frames += targets.shape[:-3].numel()

    def compute(self) -> torch.Tensor:
        return self.squared_error / self.frames


def check_scheduled_sampling(net: nn.Module, steps: int) -> None:
    """Scheduled sampling needs a net whose forward feeds back its own frames and accepts the true ones."""
    if steps < 0:
        raise UserError(f"model.scheduled_sampling_steps must be >= 0 (0 turns it off), got {steps}")
    if steps and not getattr(net, "feeds_back_frames", False):
        raise UserError(
            f"model.scheduled_sampling_steps={steps} needs a net that feeds back its predicted frames "
            f"(ConvLSTMForecaster, LSTMFrameGenerator); {type(net).__name__} does not: set it to 0"
        )


class FramePredictionTask(BaseTask):
    """Video frame prediction; logs MSE per pixel and per frame, MAE, SSIM, PSNR, and on val/test two baselines.

    The baselines, an all-zeros prediction and a copy of the last input frame, show at once whether the net learned
    anything: `val/baseline_zeros_mse_per_frame` and `val/baseline_copy_last_mse_per_frame`.
    `scheduled_sampling_steps` > 0 (nets that feed back frames only) trains with the true frame fed back with a
    probability falling linearly from 1 to 0 over that many steps; 0 always feeds back the prediction, as at test.
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
        scheduled_sampling_steps: int = 0,
    ) -> None:
        check_scheduled_sampling(net, scheduled_sampling_steps)
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
        self.output_frames = getattr(net, "output_frames", None)
        self.scheduled_sampling_steps = scheduled_sampling_steps
        metrics = MetricCollection(
            {
                "mse": MeanSquaredError(),
                "mae": MeanAbsoluteError(),
                "ssim": StructuralSimilarityIndexMeasure(data_range=1.0),
                "psnr": PeakSignalNoiseRatio(data_range=1.0),
                "mse_per_frame": MSEPerFrame(),
            }
        )
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        baselines = MetricCollection(  # each updated with its own predictions: no shared compute groups
            {"baseline_zeros_mse_per_frame": MSEPerFrame(), "baseline_copy_last_mse_per_frame": MSEPerFrame()},
            compute_groups=False,
        )
        self.val_baselines = baselines.clone(prefix="val/")
        self.test_baselines = baselines.clone(prefix="test/")
        self.train_loss, self.val_loss, self.test_loss = loss_means()
        self.train_mse_per_frame = MSEPerFrame()  # SSIM, PSNR and MAE would cost time on every step: val/test only

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
                f"build the net with out_features={frames} (the blueprint command sets it from the data)"
            )

    def teacher_ratio(self) -> float:
        """Probability that a training step feeds back the true frame: 1 -> 0 over `scheduled_sampling_steps`."""
        if self.scheduled_sampling_steps == 0:
            return 0.0
        return max(0.0, 1.0 - self.global_step / self.scheduled_sampling_steps)

    def shared_step(self, batch: Any, teacher_ratio: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The loss, the predictions (detached, float32, for the metrics) and the target frames of one batch."""
        inputs, targets = batch[0], batch[1]
        predictions = self.net(inputs, targets, teacher_ratio) if teacher_ratio > 0 else self.net(inputs)
        with torch.autocast(self.device.type, enabled=False):  # CUDA autocast refuses BCELoss even on float32
            loss = self.loss_fn(predictions.float(), targets.float())
        return loss, predictions.detach().float(), targets

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs train/loss (every log_every_n_steps, and on the progress bar); the epoch's means accumulate."""
        ratio = self.teacher_ratio()
        loss, predictions, targets = self.shared_step(batch, ratio)
        self.log("train/loss", loss, prog_bar=True)
        if self.scheduled_sampling_steps:
            self.log("train/teacher_ratio", ratio)
        self.train_loss.update(loss.detach(), len(targets))
        self.train_mse_per_frame.update(predictions, targets)
        return loss

    def on_train_epoch_end(self) -> None:
        """Logs train/loss_epoch and train/mse_per_frame once an epoch (per step only the loss)."""
        self.log("train/loss_epoch", self.train_loss)
        self.log("train/mse_per_frame", self.train_mse_per_frame)

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs val/loss (on the bar), val/mse, mae, ssim, psnr, mse_per_frame and both baselines for the epoch."""
        return self.evaluation_step(batch, "val", self.val_loss, self.val_metrics, self.val_baselines)

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Logs the test/ counterparts of validation_step's metrics."""
        return self.evaluation_step(batch, "test", self.test_loss, self.test_metrics, self.test_baselines)

    def evaluation_step(
        self, batch: Any, stage: str, loss_mean: MeanMetric, metrics: MetricCollection, baselines: MetricCollection
    ) -> torch.Tensor:
        """Lightning computes, syncs and resets the logged metric objects when the epoch ends."""
        loss, predictions, targets = self.shared_step(batch)
        loss_mean.update(loss, len(targets))
        metrics.update(predictions.flatten(0, 1), targets.flatten(0, 1))
        baselines["baseline_zeros_mse_per_frame"].update(torch.zeros_like(targets), targets)
        baselines["baseline_copy_last_mse_per_frame"].update(batch[0][:, -1:].expand_as(targets), targets)
        self.log(f"{stage}/loss", loss_mean, prog_bar=True)
        self.log_dict(metrics)
        self.log_dict(baselines)
        return loss

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self(batch[0]).float()

    def serving_answer(self, outputs: torch.Tensor, many: bool) -> dict[str, Any]:
        """(N, T, 1, H, W) in [0, 1] -> uint8 frames in the request's layout, rounded as predictions.npy is."""
        pixels = (outputs.float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).squeeze(2)  # (N, T, H, W)
        return {"frames": pixels.transpose(0, 1).tolist() if many else pixels[0].tolist()}
