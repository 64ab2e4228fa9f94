"""The base of the picture callbacks: see the task's net outputs during val/test, draw at the epoch's end."""

from typing import Any

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torch.utils.hooks import RemovableHandle

from blueprint.callbacks.figure_logging import log_picture


class EvaluationFigures(L.Callback):
    """Collects what the task's forward returns on each val/test batch (no second forward pass), then logs figures.

    A forward hook on the task's `net` sees the outputs of the steps' own `self.net(inputs)` call; subclasses
    `update` their torchmetrics state with them per batch and draw `figures` at the end of val/test epochs (tags
    `val/<name>` and `test/<name>`): every validation epoch, or every `every_n_epochs`-th and the last one, and
    always in `blueprint validate` and `test`. Nothing is collected during the sanity check. Under DDP torchmetrics
    objects sync across ranks, plain tensors (mistakes, scatter points, horizon error) show rank zero's share;
    rank zero logs.
    """

    def __init__(self, every_n_epochs: int = 1) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.every_n_epochs = every_n_epochs
        self._output: torch.Tensor | None = None
        self._hook: RemovableHandle | None = None

    def reset(self, pl_module: L.LightningModule) -> None:
        """Start a new epoch's accumulation."""
        raise NotImplementedError

    def update(self, output: torch.Tensor, batch: Any, pl_module: L.LightningModule) -> None:
        """Add one batch: the forward output (float32, detached) and the batch it came from."""
        raise NotImplementedError

    def figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        """{name: matplotlib Figure or (3, H, W) image in [0, 1]}; every rank computes (metrics sync), rank 0 logs."""
        raise NotImplementedError

    def _keep_output(self, module: torch.nn.Module, inputs: Any, output: Any) -> None:
        self._output = output.detach().float() if isinstance(output, torch.Tensor) else None

    def _collects(self, trainer: L.Trainer) -> bool:
        """Not in the sanity check; during fit every `every_n_epochs`-th and the last epoch; outside fit always."""
        if trainer.sanity_checking:
            return False
        if trainer.state.fn != TrainerFn.FITTING:  # `validate` and `test`: one evaluation, always drawn
            return True
        epoch = trainer.current_epoch + 1
        return epoch % self.every_n_epochs == 0 or epoch == trainer.max_epochs

    def _start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop()
        if not self._collects(trainer):
            return
        self.reset(pl_module)
        net = getattr(pl_module, "net", pl_module)  # a task without an injected net: its own forward
        self._hook = net.register_forward_hook(self._keep_output)

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
        with torch.no_grad():
            drawn = self.figures(trainer, pl_module)
        if trainer.is_global_zero:
            for name, picture in drawn.items():
                log_picture(trainer, f"{stage}/{name}", picture)

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
