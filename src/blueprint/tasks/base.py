"""What every task shares: an injected net, optimizer and LR schedule, early shape checks, hparams in TensorBoard."""

import math
from typing import Any, cast

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torchmetrics import MetricCollection

from blueprint.errors import UserError
from blueprint.optim.fused import build_optimizer, keep_built_fused
from blueprint.optim.param_groups import decay_and_no_decay
from blueprint.optim.schedules import WarmupCosineLR, check_schedule_covers_run


def _default_optimizer(params: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=1e-3)


class BaseTask(L.LightningModule):
    """Subclasses set `monitor`/`monitor_mode` and implement `_shared_step(batch, stage)` returning the loss."""

    monitor: str = "val/loss"
    monitor_mode: str = "min"
    metrics_on_progress_bar: bool = True  # show val/test metric collections on the bar (tasks with many set False)

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = _default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        loss: nn.Module | None = None,
        weight_decay_exclude_norm_bias: bool = False,
    ) -> None:
        super().__init__()
        self.net = net
        self.loss_fn = loss if loss is not None else self.default_loss()
        self.check_loss(self.loss_fn)
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.weight_decay_exclude_norm_bias = weight_decay_exclude_norm_bias
        self._epoch_sums: dict[str, tuple[torch.Tensor, int]] = {}
        self._off_progress_bar: set[str] = set()
        self._epoch_metric_stages: set[str] = set()

    def __setattr__(self, name: str, value: Any) -> None:
        """Lightning sets `_current_fx_name` twice per hook call (~45 times a step): a plain str, set directly.

        nn.Module.__setattr__ looks the name up among parameters, buffers and submodules first (~1.5 us a call);
        skipping it takes ~55 us off each training step, about 15% of the Trainer's own cost per step on a CPU.
        """
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @property
    def example_input_array(self) -> torch.Tensor | tuple[Any, ...] | dict[Any, Any] | None:
        """Two zero samples for the model summary and graph, in the weights' dtype (bf16-true casts the weights)."""
        if self._example_input_array is not None:
            return self._example_input_array
        input_shape = getattr(self.net, "input_shape", None)
        if input_shape is None:
            return None
        weight = next((p for p in self.net.parameters() if p.is_floating_point()), None)
        return torch.zeros(2, *input_shape, dtype=weight.dtype if weight is not None else torch.float32)

    @example_input_array.setter
    def example_input_array(self, example: torch.Tensor | tuple[Any, ...] | dict[Any, Any] | None) -> None:
        self._example_input_array = example

    def default_loss(self) -> nn.Module:
        """The loss used when the config names none."""
        raise NotImplementedError

    def check_loss(self, loss: nn.Module) -> None:
        """Raise UserError before training when `loss` does not fit this task (e.g. MSE on class indices)."""

    def drop_unplain_hparams(self) -> None:
        """Keep hparams loadable with weights_only=True: modules/callables given in Python are not saved."""
        for key in ("net", "optimizer", "scheduler", "loss"):
            if key in self.hparams and not isinstance(self.hparams[key], dict | str | None):
                del self.hparams[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def setup(self, stage: str) -> None:
        self.check_compatible(getattr(self.trainer, "datamodule", None))

    def check_compatible(self, datamodule: Any) -> None:
        """Fail before the first step when the data and the net disagree on shapes (the CLI calls it even earlier)."""
        data_shape = getattr(datamodule, "input_shape", None)
        check_input_shape = getattr(self.net, "check_input_shape", None)
        if data_shape and check_input_shape is not None:
            check_input_shape(tuple(data_shape))
        self.check_data(datamodule)

    def check_data(self, datamodule: Any) -> None:
        """Task-specific compatibility checks (number of classes, ...)."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Updates the epoch's val metrics and returns the batch loss (callbacks get it as `outputs`)."""
        return self._shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Updates the epoch's test metrics and returns the batch loss."""
        return self._shared_step(batch, "test")

    def _shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        raise NotImplementedError

    def on_train_start(self) -> None:
        """Register hparams with the metric that summarizes the run, shown in TensorBoard's HPARAMS tab.

        Other loggers (CSV, W&B, MLflow) take no metrics here; Lightning has already logged their hparams.
        Also puts this run's `fused` back into restored optimizer param groups (see `keep_built_fused`).
        """
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(dict(self.hparams), {"hp_metric": float("nan")})
        for optimizer in self.trainer.optimizers:  # runs after a resumed run restored its optimizer state
            keep_built_fused(optimizer)
        check_schedule_covers_run(self.trainer)

    def log_epoch_mean(self, name: str, value: torch.Tensor, batch_size: int, prog_bar: bool = True) -> None:
        """Add a per-step scalar to its epoch mean, kept on the device; logged once when the stage's epoch ends.

        A self.log call costs Lightning ~0.5 ms (it moves the logged state to the device on every call), which
        is 10-40% of a small model's step on a CPU; summing here costs two tensor ops and no host sync.
        `prog_bar=False` keeps a val/test mean off the progress bar (training means never go there).
        """
        if not prog_bar:
            self._off_progress_bar.add(name)
        weighted = value.detach().float() * batch_size
        total, count = self._epoch_sums.get(name, (0.0, 0))
        self._epoch_sums[name] = (weighted + total, batch_size + count)

    def add_stage_metrics(self, metrics: MetricCollection, stages: tuple[str, ...] = ("val", "test")) -> None:
        """One clone per stage as `<stage>_metrics`, names prefixed `<stage>/`, so metric states never mix."""
        for stage in stages:
            setattr(self, f"{stage}_metrics", metrics.clone(prefix=f"{stage}/"))

    def update_metrics(self, stage: str, *args: Any) -> None:
        """Update `<stage>_metrics` (a torchmetrics collection); it is computed, logged and reset at epoch end."""
        getattr(self, f"{stage}_metrics").update(*args)
        self._epoch_metric_stages.add(stage)

    def log_epoch_metrics(self, stage: str) -> None:
        """Log what `log_epoch_mean` and `update_metrics` gathered for `stage` this epoch, then start afresh."""
        for name in [n for n in self._epoch_sums if n.startswith(f"{stage}/")]:
            total, count = self._epoch_sums.pop(name)
            on_bar = stage != "train" and name not in self._off_progress_bar
            # Under DDP, sum and count over all ranks: shards may differ in size (Lightning's own weighting of
            # rank means truncates the mean batch size to an integer)
            summed = self.trainer.strategy.reduce(torch.stack([total, total.new_tensor(count)]), reduce_op="sum")
            self.log(name, summed[0] / summed[1], prog_bar=on_bar, sync_dist=True)  # equal on every rank already
        if stage in self._epoch_metric_stages:
            self._epoch_metric_stages.discard(stage)
            metrics = getattr(self, f"{stage}_metrics")
            on_bar = stage != "train" and self.metrics_on_progress_bar
            self.log_dict(metrics.compute(), prog_bar=on_bar, sync_dist=True)  # torchmetrics synced them already
            metrics.reset()

    def on_train_epoch_end(self) -> None:
        self.log_epoch_metrics("train")

    def on_test_epoch_end(self) -> None:
        self.log_epoch_metrics("test")

    def on_validation_epoch_end(self) -> None:
        self.log_epoch_metrics("val")
        value = self.trainer.callback_metrics.get(self.monitor)
        if value is not None and not self.trainer.sanity_checking:
            self.log("hp_metric", value, sync_dist=True)

    def _build_scheduler(self, optimizer: torch.optim.Optimizer) -> tuple[Any, str]:
        """Schedules that need the run length (OneCycleLR without total_steps) get it from the trainer.

        Returns the scheduler and its interval: a schedule sized in trainer steps, and WarmupCosineLR (sized in
        steps by its own argument names), is stepped every batch.
        """
        assert self.scheduler is not None
        try:
            scheduler = self.scheduler(optimizer)
        except ValueError as err:
            if "total_steps" not in str(err):
                raise
            steps = self.trainer.estimated_stepping_batches
            if math.isinf(steps):
                raise UserError(
                    f"the LR schedule needs the run's length, but it has no end (trainer.max_epochs=-1); set "
                    f"trainer.max_epochs or max_steps, or the schedule's total_steps ({err})"
                ) from err
            with_overrides = cast(Any, self.scheduler)  # jsonargparse's callable accepts constructor overrides
            return with_overrides(optimizer, total_steps=int(steps)), "step"
        return scheduler, "step" if isinstance(scheduler, WarmupCosineLR) else self.scheduler_interval

    def _param_groups(self) -> list[Any]:
        """What the optimizer gets: all parameters, or decay / no-decay groups (a new list on every call)."""
        return decay_and_no_decay(self) if self.weight_decay_exclude_norm_bias else list(self.parameters())

    def configure_optimizers(self) -> Any:
        """`weight_decay_exclude_norm_bias` puts biases and normalization params in a group with weight_decay 0."""
        optimizer = build_optimizer(self.optimizer, self._param_groups, self._trainer)
        if self.scheduler is None:
            return optimizer
        scheduler, interval = self._build_scheduler(optimizer)
        config = {"scheduler": scheduler, "interval": interval, "monitor": self.monitor}
        return {"optimizer": optimizer, "lr_scheduler": config}
