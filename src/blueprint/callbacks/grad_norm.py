"""Gradient-norm logging as a switch: the total norm (and optionally per parameter) every N optimizer steps."""

import lightning as L
import torch
from lightning.pytorch.utilities import grad_norm


class GradNormMonitor(L.Callback):
    """Logs `grad/norm_total` before clipping at steps 0, N, 2N, ... (`every_n_steps`), so it stays cheap."""

    def __init__(self, every_n_steps: int = 25, norm_type: float = 2.0, per_parameter: bool = False) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.norm_type = norm_type
        self.per_parameter = per_parameter

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if trainer.global_step % self.every_n_steps != 0:
            return
        norms = grad_norm(pl_module, self.norm_type)
        total_key = f"grad_{float(self.norm_type)}_norm_total"
        if total_key not in norms:
            return
        logged = {"grad/norm_total": norms[total_key]}
        if self.per_parameter:
            prefix = f"grad_{float(self.norm_type)}_norm/"
            logged |= {f"grad/norm/{k.removeprefix(prefix)}": v for k, v in norms.items() if k != total_key}
        scale = pending_loss_scale(trainer, optimizer)
        values = {key: float(norm) / scale for key, norm in logged.items()}  # one host read every N steps
        trainer.callback_metrics.update({key: torch.tensor(value) for key, value in values.items()})
        if trainer.is_global_zero:  # straight to the loggers: self.log would wait for log_every_n_steps, and drop it
            for logger in trainer.loggers:
                logger.log_metrics(values, step=trainer.global_step)


def pending_loss_scale(trainer: L.Trainer, optimizer: torch.optim.Optimizer) -> float:
    """The loss scale the gradients still carry here: under 16-mixed a fused optimizer unscales inside its step.

    Lightning unscales every other optimizer's gradients before this hook; bf16 and fp32 runs have no scaler.
    """
    scaler = getattr(trainer.precision_plugin, "scaler", None)
    if scaler is None or not optimizer.defaults.get("fused"):
        return 1.0
    return float(scaler.get_scale())
