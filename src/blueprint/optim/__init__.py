"""How the optimizer and LR schedule are built: parameter groups and the schedules torch lacks."""

from blueprint.optim.schedules import WarmupCosineLR

__all__ = ["WarmupCosineLR"]
