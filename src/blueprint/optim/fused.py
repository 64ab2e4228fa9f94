"""The configs' Adam/AdamW take the fused step; Lightning refuses a fused step with clipping under mixed precision."""

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.plugins.precision import MixedPrecision
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from blueprint.errors import UserError


def unscales_in_step(optimizer: torch.optim.Optimizer) -> bool:
    """A fused step removes the loss scale itself, so Lightning leaves its gradients scaled until the step."""
    return bool(optimizer.defaults.get("fused"))


def clips_under_mixed_precision(trainer: L.Trainer | None) -> bool:
    """Lightning's MixedPrecision plugin raises when it clips for an optimizer that unscales inside its step."""
    if trainer is None or not trainer.gradient_clip_val:
        return False
    return isinstance(trainer.precision_plugin, MixedPrecision)


def build_optimizer(
    make: OptimizerCallable, params: Callable[[], Any], trainer: L.Trainer | None
) -> torch.optim.Optimizer:
    """`make(params())`, rebuilt with fused=False when the run clips gradients under bf16-mixed/16-mixed.

    So `--trainer.gradient_clip_val` and the amp preset work with every config instead of failing at the first step.
    `params` is called again for the rebuild: torch writes every option (fused included) into param-group dicts.
    """
    optimizer = make(params())
    if not unscales_in_step(optimizer) or not clips_under_mixed_precision(trainer):
        return optimizer
    assert trainer is not None
    name = type(optimizer).__name__
    try:
        unfused: torch.optim.Optimizer | None = make(params(), fused=False)  # type: ignore[call-arg]  # overrides
    except TypeError:  # a callable without overrides; one that ignores fused=False would fail at the first clip
        unfused = None
    if unfused is None or unscales_in_step(unfused):
        raise UserError(
            f"gradient clipping under {trainer.precision} needs an unfused {name} step (Lightning refuses to clip "
            "for a fused one) and the optimizer callable cannot be given fused=False; set fused=False in the "
            "optimizer, or turn clipping off"
        )
    rank_zero_info(
        f"{name}: fused=False, since gradient clipping under {trainer.precision} needs the unfused step "
        "(Lightning refuses to clip for a fused one)"
    )
    return unfused


def keep_built_fused(optimizer: torch.optim.Optimizer) -> None:
    """Give every param group the `fused` this run built: a restored optimizer state brings the saved run's setting.

    Without this, a checkpoint from an unfused run (or one that clipped under amp) steps unfused after resuming,
    or fused while clipping; torch's GradScaler then fails on a group that is fused but was built unfused.
    """
    if "fused" not in optimizer.defaults:
        return
    for group in optimizer.param_groups:
        group["fused"] = optimizer.defaults["fused"]
