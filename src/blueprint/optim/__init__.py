"""How the optimizer and LR schedule are built: parameter groups, the fused step, schedules torch lacks."""

from blueprint.optim.schedules import WarmupCosineLR

__all__ = ["WarmupCosineLR"]
