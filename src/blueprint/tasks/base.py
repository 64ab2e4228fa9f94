"""What every task shares: an injected net, optimizer and LR schedule, early shape checks, hp_metric (the best)."""

import math
from typing import Any, cast

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MeanMetric

from blueprint.errors import UserError
from blueprint.optim.fused import build_optimizer, keep_built_fused
from blueprint.optim.param_groups import decay_and_no_decay
from blueprint.optim.schedules import WarmupCosineLR, check_schedule_covers_run

HP_METRIC = "hp_metric"  # TensorBoard's HPARAMS metric (Lightning's name): the best monitored value so far


def default_optimizer(params: Any) -> torch.optim.Optimizer:
    """Adam at lr 1e-3: what a task trains with when the config names no optimizer."""
    return torch.optim.Adam(params, lr=1e-3)


def loss_means() -> tuple[MeanMetric, MeanMetric, MeanMetric]:
    """The loss's train, val and test epoch means.

    nan_strategy "disable": by default MeanMetric reads every update to the host to look for NaN (a device sync per
    step on a GPU); a NaN loss is the NaN stop's business, and an epoch mean that is NaN says so honestly.
    """
    return MeanMetric(nan_strategy="disable"), MeanMetric(nan_strategy="disable"), MeanMetric(nan_strategy="disable")


def best_of(current: torch.Tensor, earlier: list[torch.Tensor | None], mode: str) -> torch.Tensor:
    """The best of `current` and earlier bests (None: none yet) by `mode` ("max" or "min"); NaN never wins."""
    pick = torch.fmax if mode == "max" else torch.fmin  # fmax/fmin return the other value where one is NaN
    best = current.detach().float()
    for value in earlier:
        if value is not None:
            best = pick(best, value.detach().to(best.device, best.dtype))
    return best


class BaseTask(L.LightningModule):
    """Subclasses set `monitor`/`monitor_mode`, pass their loss (or its default) and write their own steps.

    `__init__` calls nothing a subclass overrides, so a subclass may set its own state before or after it.
    """

    monitor: str = "val/loss"
    monitor_mode: str = "min"

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: str = "epoch",
        loss: nn.Module | None = None,
        weight_decay_exclude_norm_bias: bool = False,
    ) -> None:
        super().__init__()
        self.net = net
        self.loss_fn = loss if loss is not None else nn.MSELoss()  # subclasses pass their own default
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.weight_decay_exclude_norm_bias = weight_decay_exclude_norm_bias
        self.given_example_input: torch.Tensor | tuple[Any, ...] | dict[Any, Any] | None = None
        self.best_monitored: torch.Tensor | None = None  # hp_metric: the best monitored value seen so far

    @property
    def example_input_array(self) -> torch.Tensor | tuple[Any, ...] | dict[Any, Any] | None:
        """Two zero samples for the model summary and graph, in the weights' dtype (bf16-true casts the weights)."""
        if self.given_example_input is not None:
            return self.given_example_input
        input_shape = getattr(self.net, "input_shape", None)
        if input_shape is None:
            return None
        weight = next((p for p in self.net.parameters() if p.is_floating_point()), None)
        return torch.zeros(2, *input_shape, dtype=weight.dtype if weight is not None else torch.float32)

    @example_input_array.setter
    def example_input_array(self, example: torch.Tensor | tuple[Any, ...] | dict[Any, Any] | None) -> None:
        """An example set by hand replaces the zeros built from the net's `input_shape`."""
        self.given_example_input = example

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

    def serving_answer(self, outputs: torch.Tensor, many: bool) -> dict[str, Any] | None:
        """`blueprint serve`'s JSON answer for predict_step's `outputs` of one request (`many`: it sent several
        samples); None: the server's own, labels or values per sample."""
        return None

    def on_train_start(self) -> None:
        """Restored optimizers step as this run built them; a OneCycleLR shorter than the run fails before step one."""
        for optimizer in self.trainer.optimizers:  # runs after a resumed run restored its optimizer state
            keep_built_fused(optimizer)
        check_schedule_covers_run(self.trainer)

    def on_fit_start(self) -> None:
        self.best_monitored = None  # a second fit of this task starts its own best

    def on_validation_epoch_end(self) -> None:
        """`hp_metric` and `<monitor>_best` (`val/acc_best`): the best monitored value so far, what the best
        checkpoint holds. After a resume the ModelCheckpoint that monitors it has restored the best before it.

        Every rank computes the same value from synced metrics; the sync only keeps Lightning's epoch logging uniform.
        """
        value = self.trainer.callback_metrics.get(self.monitor)
        if value is None or self.trainer.sanity_checking:
            return
        earlier = [self.best_monitored] + [
            callback.best_model_score
            for callback in self.trainer.checkpoint_callbacks
            if isinstance(callback, ModelCheckpoint)
            and (callback.monitor, callback.mode) == (self.monitor, self.monitor_mode)
        ]
        self.best_monitored = best_of(value, earlier, self.monitor_mode)
        best = {HP_METRIC: self.best_monitored, f"{self.monitor}_best": self.best_monitored}  # beside val/acc
        self.log_dict(best, sync_dist=True)

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
        optimizer = build_optimizer(self.optimizer, self._param_groups, self.trainer)
        if self.scheduler is None:
            return optimizer
        scheduler, interval = self._build_scheduler(optimizer)
        config = {"scheduler": scheduler, "interval": interval, "monitor": self.monitor}
        return {"optimizer": optimizer, "lr_scheduler": config}
