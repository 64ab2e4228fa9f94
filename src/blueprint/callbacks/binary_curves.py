"""How a binary classifier trades errors: ROC and precision-recall curves, with the task's threshold marked."""

from typing import Any

import lightning as L
import torch
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import BinaryPrecisionRecallCurve, BinaryROC

from blueprint.callbacks.evaluation_figures import EvaluationFigures
from blueprint.callbacks.figure_logging import new_figure

CURVE_POINTS = 101  # binned thresholds: constant memory and cost per batch, whatever the size of the split


class BinaryCurves(EvaluationFigures):
    """Logs `val/roc_curve` and `val/pr_curve` (and `test/...`); a dot marks the operating point at `model.threshold`.

    The threshold is one of the binned thresholds torchmetrics evaluates, so the dot sits exactly on the curve.
    """

    def __init__(self, every_n_epochs: int = 1) -> None:
        super().__init__(every_n_epochs)
        self.curves: MetricCollection | None = None
        self.threshold = 0.5

    def reset(self, pl_module: L.LightningModule) -> None:
        self.threshold = float(getattr(pl_module, "threshold", 0.5))
        thresholds = sorted({*torch.linspace(0, 1, CURVE_POINTS).tolist(), self.threshold})
        curves: dict[str, Metric | MetricCollection] = {
            "roc": BinaryROC(thresholds, validate_args=False),
            "pr": BinaryPrecisionRecallCurve(thresholds),
        }
        self.curves = MetricCollection(curves, compute_groups=False).to(pl_module.device)

    def update(self, output: torch.Tensor, batch: Any, pl_module: L.LightningModule) -> None:
        if self.curves is not None:
            self.curves.update(output.reshape(-1).sigmoid(), batch[1].long().reshape(-1))

    def figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        if self.curves is None or not self.curves["roc"].update_called:
            return {}
        drawn = {}
        for name, metric in self.curves.items():
            curve = tuple(part.cpu() for part in metric.compute())
            figure, axis = new_figure()
            metric.plot(curve, score=True, ax=axis)
            at = int(torch.argmin((curve[2] - self.threshold).abs()))
            # ROC is drawn as (fpr, tpr), the PR curve as (recall, precision)
            x, y = (curve[0], curve[1]) if name == "roc" else (curve[1], curve[0])
            axis.plot([float(x[at])], [float(y[at])], "o", color="red", label=f"threshold {self.threshold:g}")
            axis.legend(loc="lower right" if name == "roc" else "lower left")
            axis.set_title("ROC" if name == "roc" else "precision-recall")  # not the metric's class name
            drawn[f"{name}_curve"] = figure
        return drawn
