"""The base of the picture callbacks: see the task's own forward outputs during val/test, draw within a time budget."""

import time
from typing import Any

import lightning as L
import torch
from torch.utils.hooks import RemovableHandle

from blueprint.callbacks.figure_logging import log_figure, pyplot


class DrawingBudget:
    """Seconds spent drawing since fit start, shared by every picture callback of one run.

    matplotlib needs ~0.2-0.5 s of CPU per figure: on short epochs (mnist_cnn: seconds) drawing every one would
    slow training by 10-20%. A callback draws a validation epoch when the run's drawing time so far, plus the last
    drawing's cost, stays within its `share` of the run's time; the first drawing waits until the run has earned
    it. Test pictures are always drawn.
    """

    FIRST_GUESS_S = 0.5  # the cost of one drawing before any was measured

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.spent = 0.0
        self.last_cost = self.FIRST_GUESS_S

    def allows(self, share: float) -> bool:
        return share >= 1.0 or self.spent + self.last_cost <= share * (time.perf_counter() - self.started)

    def add(self, seconds: float) -> None:
        self.spent += seconds
        self.last_cost = seconds


BUDGETS: dict[int, DrawingBudget] = {}  # per Trainer (by id), reset at each fit start


class EvaluationFigures(L.Callback):
    """Collects what the task's forward returns on each val/test batch (no second forward pass), then logs figures.

    A forward hook on the LightningModule sees the outputs of the task's own `self(inputs)` call; subclasses
    `update` their torchmetrics state with them per batch (cheap: every epoch) and draw `figures` at the end of
    val/test epochs (tags `val/<name>` and `test/<name>`). Nothing is collected during the sanity check.
    `max_time_share` caps the time all picture callbacks of a run spend drawing (see DrawingBudget); 1.0 draws
    every validation epoch.
    Under DDP the metrics sync across ranks; rank zero draws and logs.
    """

    def __init__(self, max_time_share: float = 0.02) -> None:
        if not 0.0 < max_time_share <= 1.0:
            raise ValueError(f"max_time_share must be in (0, 1], got {max_time_share}")
        self.max_time_share = max_time_share
        self._output: torch.Tensor | None = None
        self._hook: RemovableHandle | None = None

    def reset(self, pl_module: L.LightningModule) -> None:
        """Start a new epoch's accumulation."""
        raise NotImplementedError

    def update(self, output: torch.Tensor, batch: Any, pl_module: L.LightningModule) -> None:
        """Add one batch: the forward output (float32, detached) and the batch it came from."""
        raise NotImplementedError

    def figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        """{name: matplotlib Figure} for this epoch; every rank computes (metrics sync), rank zero logs."""
        raise NotImplementedError

    def _keep_output(self, module: torch.nn.Module, inputs: Any, output: Any) -> None:
        self._output = output.detach().float() if isinstance(output, torch.Tensor) else None

    def _budget(self, trainer: L.Trainer) -> DrawingBudget:
        return BUDGETS.setdefault(id(trainer), DrawingBudget())

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        BUDGETS[id(trainer)] = DrawingBudget()

    def _draws(self, trainer: L.Trainer, stage: str) -> bool:
        """Test always; validation when the budget allows (decided on rank zero, so every rank agrees)."""
        if stage == "test":
            return True
        return bool(trainer.strategy.broadcast(self._budget(trainer).allows(self.max_time_share), src=0))

    def _start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop()
        if trainer.sanity_checking:
            return
        self.reset(pl_module)
        self._hook = pl_module.register_forward_hook(self._keep_output)

    def _stop(self) -> None:
        if self._hook is not None:
            self._hook.remove()
        self._hook, self._output = None, None

    def _batch_end(self, pl_module: L.LightningModule, batch: Any) -> None:
        if self._hook is not None and self._output is not None:
            self.update(self._output, batch, pl_module)
        self._output = None

    def _end(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._hook is None:
            return
        self._stop()
        if not self._draws(trainer, stage):  # the epoch's state stays readable on the callback
            return
        began = time.perf_counter()
        with torch.no_grad():
            drawn = self.figures(trainer, pl_module)
        for name, figure in drawn.items():
            if trainer.is_global_zero:
                log_figure(trainer, f"{stage}/{name}", figure)
            else:
                pyplot().close(figure)
        self._budget(trainer).add(time.perf_counter() - began)

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start(trainer, pl_module)

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start(trainer, pl_module)

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        self._batch_end(pl_module, batch)

    def on_test_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        self._batch_end(pl_module, batch)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._end(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._end(trainer, pl_module, "test")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._stop()
