"""Where a regression goes wrong: predicted against actual values, and residuals against the prediction."""

from typing import Any

import lightning as L
import torch

from blueprint.callbacks.evaluation_figures import EvaluationFigures
from blueprint.callbacks.figure_logging import new_figure


class RegressionScatter(EvaluationFigures):
    """Logs `val/predicted_vs_actual` and `val/residuals` (and `test/...`), in the target's units.

    Keeps at most `max_points` (prediction, target) pairs per epoch: enough to see the shape, bounded in cost.
    """

    def __init__(self, max_points: int = 5000, every_n_epochs: int = 1) -> None:
        super().__init__(every_n_epochs)
        if max_points < 1:
            raise ValueError(f"max_points must be >= 1, got {max_points}")
        self.max_points = max_points
        self.pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.kept = 0

    def reset(self, pl_module: L.LightningModule) -> None:
        self.pairs, self.kept = [], 0

    def update(self, output: torch.Tensor, batch: Any, pl_module: L.LightningModule) -> None:
        if self.kept >= self.max_points:
            return
        mean, std = getattr(pl_module, "target_mean", 0.0), getattr(pl_module, "target_std", 1.0)
        predicted = (output * std + mean).reshape(-1)  # RegressionTask's net predicts standardized targets
        actual = batch[1].float().reshape(-1)
        if len(predicted) != len(actual):  # several outputs per sample: not drawn
            return
        room = self.max_points - self.kept
        self.pairs.append((predicted[:room], actual[:room]))
        self.kept += min(room, len(actual))

    def figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        if not self.pairs:
            return {}
        predicted = torch.cat([p for p, _ in self.pairs]).cpu()
        actual = torch.cat([a for _, a in self.pairs]).cpu()
        scatter, axis = new_figure()
        axis.scatter(actual, predicted, s=8, alpha=0.6)
        low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
        axis.plot([low, high], [low, high], "--", color="gray", label="perfect")
        axis.set(xlabel="actual", ylabel="predicted", title="predicted vs actual")
        axis.legend()
        residuals, axis = new_figure()
        axis.scatter(predicted, actual - predicted, s=8, alpha=0.6)
        axis.axhline(0.0, linestyle="--", color="gray")
        axis.set(xlabel="predicted", ylabel="actual - predicted", title="residuals")
        return {"predicted_vs_actual": scatter, "residuals": residuals}
