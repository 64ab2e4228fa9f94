"""Learning-rate schedules torch lacks: linear warmup followed by cosine decay, stepped every batch."""

import math

import lightning as L
import torch
from torch import Tensor
from torch.optim.lr_scheduler import LRScheduler, OneCycleLR

from blueprint.errors import UserError


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, min_factor: float = 0.0) -> float:
    """Multiplier of the base LR at `step`: (step+1)/warmup during warmup, then cosine down to `min_factor`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupCosineLR(LRScheduler):
    """Linear warmup over `warmup_steps`, then cosine decay to `min_factor` x base LR at `total_steps`.

    Leave `total_steps` unset to take it from the trainer (the task then steps the schedule every batch).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        warmup_steps: int = 100,
        total_steps: int | None = None,
        min_factor: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if total_steps is None:
            raise ValueError("WarmupCosineLR needs total_steps (the task fills it in from the trainer)")
        if warmup_steps < 0 or total_steps < 1:
            raise ValueError(f"need warmup_steps >= 0 and total_steps >= 1, got {warmup_steps} and {total_steps}")
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_factor = min_factor
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float | Tensor]:
        factor = warmup_cosine_factor(self.last_epoch, self.warmup_steps, self.total_steps, self.min_factor)
        return [base_lr * factor for base_lr in self.base_lrs]


def check_schedule_covers_run(trainer: L.Trainer) -> None:
    """A OneCycleLR sized for fewer steps than the run fails mid-run ("Tried to step N times"): fail at its start.

    A fresh run gets here when data.batch_size changed after the schedule was sized (Lightning's BatchSizeFinder).
    """
    steps = trainer.estimated_stepping_batches
    for config in trainer.lr_scheduler_configs:
        scheduler = config.scheduler
        too_short = not math.isinf(steps) and steps > getattr(scheduler, "total_steps", steps)
        if isinstance(scheduler, OneCycleLR) and config.interval == "step" and too_short:
            raise UserError(
                f"the OneCycleLR schedule was built for {scheduler.total_steps} steps but this run takes {steps:.0f} "
                "(data.batch_size changed after the schedule was sized, e.g. by BatchSizeFinder); set the "
                "schedule's total_steps, or data.batch_size to the size wanted"
            )
