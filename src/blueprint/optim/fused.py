"""Adam, AdamW, SGD and Adagrad take torch's fused step (one kernel per parameter) unless the config or run says no."""

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.plugins.precision import MixedPrecision

from blueprint.errors import UserError


def clips_under_mixed_precision(trainer: L.Trainer | None) -> bool:
    """Lightning refuses to clip gradients under bf16-mixed/16-mixed for an optimizer that unscales in its step."""
    return (
        trainer is not None and bool(trainer.gradient_clip_val) and isinstance(trainer.precision_plugin, MixedPrecision)
    )


def build_optimizer(
    make: OptimizerCallable, params: Callable[[], Any], trainer: L.Trainer | None
) -> torch.optim.Optimizer:
    """`make(params())`, fused when the optimizer has a fused step and the config leaves `fused` unset.

    Measured on 2 CPU cores, mnist_cnn's epoch is ~10% shorter fused (docs/performance.md). A `fused` set in the
    config wins; a run that clips under mixed precision keeps the unfused step. `params` is called again for the
    fused build: torch writes every option into the param-group dicts it is given.
    """
    optimizer = make(params())
    if optimizer.defaults.get("fused") and clips_under_mixed_precision(trainer):
        raise UserError(
            f"the config sets fused: true on {type(optimizer).__name__}, but this run clips gradients under "
            f"{getattr(trainer, 'precision', 'mixed precision')}, which Lightning refuses for a fused step; leave "
            "fused unset (blueprint then builds the unfused step) or turn clipping off"
        )
    if optimizer.defaults.get("fused", False) is not None or clips_under_mixed_precision(trainer):
        return optimizer  # no fused step in this class, `fused` chosen in the config, or Lightning would refuse it
    try:
        return make(params(), fused=True)  # type: ignore[call-arg]  # jsonargparse's callable takes overrides
    except (TypeError, RuntimeError):  # a callable without overrides, or parameters on a device with no fused kernel
        return optimizer


def keep_built_fused(optimizer: torch.optim.Optimizer) -> None:
    """Give every param group the `fused` this run built: a restored optimizer state brings back the saved run's.

    Without this a checkpoint of an unfused run resumed fused (or the reverse) steps with the other kernel, and
    under 16-mixed torch's GradScaler fails on groups that are unfused in an optimizer built fused.
    """
    if "fused" in optimizer.defaults:
        for group in optimizer.param_groups:
            group["fused"] = optimizer.defaults["fused"]
