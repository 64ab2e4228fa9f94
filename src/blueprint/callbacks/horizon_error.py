"""How fast a frame predictor's error grows with the horizon: MSE per frame at each of the predicted steps."""

from typing import Any

import lightning as L
import torch

from blueprint.callbacks.evaluation_figures import EvaluationFigures
from blueprint.callbacks.figure_logging import new_figure


class HorizonError(EvaluationFigures):
    """Logs `val/mse_by_horizon` (and `test/...`): a line of MSE per frame (summed over pixels) at steps 1..T_out.

    The same unit as the task's `mse_per_frame`, whose value is this line's mean.
    """

    def __init__(self, every_n_epochs: int = 1) -> None:
        super().__init__(every_n_epochs)
        self.squared_error: torch.Tensor | None = None
        self.sequences = 0

    def reset(self, pl_module: L.LightningModule) -> None:
        self.squared_error, self.sequences = None, 0

    def update(self, output: torch.Tensor, batch: Any, pl_module: L.LightningModule) -> None:
        targets = batch[1]
        if output.shape != targets.shape or output.dim() != 5:  # (B, T_out, C, H, W)
            return
        per_step = (output - targets.float()).pow(2).sum(dim=(2, 3, 4)).sum(0)
        self.squared_error = per_step if self.squared_error is None else self.squared_error + per_step
        self.sequences += len(targets)

    def figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        if self.squared_error is None:
            return {}
        per_frame = (self.squared_error / self.sequences).cpu()
        figure, axis = new_figure()
        steps = list(range(1, len(per_frame) + 1))
        axis.plot(steps, per_frame.tolist(), marker="o")
        axis.set(xlabel="predicted frame (steps ahead)", ylabel="MSE per frame", title="error by horizon")
        axis.set_xticks(steps)
        axis.grid(alpha=0.3)
        return {"mse_by_horizon": figure}
