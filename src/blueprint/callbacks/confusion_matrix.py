"""Which classes the classifier mixes up: a confusion matrix in counts and row-normalized, class names on the axes."""

from typing import Any

import lightning as L
import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from blueprint.callbacks.csv_writer import class_names
from blueprint.callbacks.evaluation_figures import EvaluationFigures
from blueprint.callbacks.figure_logging import new_figure


class ConfusionMatrixFigure(EvaluationFigures):
    """Logs `val/confusion_matrix` (every `every_n_epochs`-th validation epoch) and `test/confusion_matrix` at test.

    Left panel: counts (rows: true class, columns: predicted class); right: each row divided by its total, so a
    rare class's recall reads as easily as a common one's. torchmetrics accumulates and draws both. The test
    picture writes the numbers in the cells; validation pictures only with `numbers_at_val` (for 10 classes the 200
    numbers take 0.25 s where the rest takes 0.1 s: too much to pay every epoch of a short run).
    """

    def __init__(self, every_n_epochs: int = 1, numbers_at_val: bool = False) -> None:
        super().__init__(every_n_epochs)
        self.numbers_at_val = numbers_at_val
        self.matrix: MulticlassConfusionMatrix | None = None
        self.labels: list[str] | None = None

    def reset(self, pl_module: L.LightningModule) -> None:
        classes = int(getattr(pl_module, "num_classes", 0))
        self.matrix = MulticlassConfusionMatrix(classes, validate_args=False).to(pl_module.device) if classes else None
        self.labels = class_names(getattr(pl_module.trainer, "datamodule", None))

    def update(self, output: torch.Tensor, batch: Any, pl_module: L.LightningModule) -> None:
        if self.matrix is not None and output.dim() == 2:
            self.matrix.update(output.argmax(1), batch[1])

    def figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        if self.matrix is None or not self.matrix.update_called:
            return {}
        counts = self.matrix.compute()
        normalized = counts.float() / counts.sum(1, keepdim=True).clamp(min=1)
        size = 3.0 + 0.45 * len(counts)
        figure, (left, right) = new_figure(2 * size, size, panels=2)
        labels = self.labels if self.labels is not None and len(self.labels) == len(counts) else None
        readable = len(counts) <= 20  # numbers in the cells stay readable up to about 20 classes
        text = readable and (trainer.testing or self.numbers_at_val)
        self.matrix.plot(counts.cpu(), ax=left, labels=labels, add_text=text)
        self.matrix.plot(torch.round(normalized.cpu() * 100) / 100, ax=right, labels=labels, add_text=text)
        left.set_title("counts")
        right.set_title("share of each true class")
        figure.tight_layout()
        return {"confusion_matrix": figure}
