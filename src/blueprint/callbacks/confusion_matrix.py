"""Which classes the classifier mixes up: a confusion matrix, coloured by each true class's share, counts written in."""

import itertools
from typing import Any

import lightning as L
import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from blueprint.callbacks.csv_writer import class_names
from blueprint.callbacks.evaluation_figures import EvaluationFigures
from blueprint.callbacks.figure_logging import new_figure

MOST_NUMBERED_CLASSES = 12  # with more classes the cells, at card size, are too small for numbers


class ConfusionMatrixFigure(EvaluationFigures):
    """Logs `val/confusion_matrix` (every `every_n_epochs`-th validation epoch) and `test/confusion_matrix` at test.

    Rows: true class, columns: predicted class. The colour is each cell's share of its row (so a rare class's recall
    reads as easily as a common one's), the number its count; torchmetrics accumulates the counts. The test picture
    writes the numbers in the cells (up to 12 classes); validation pictures only with `numbers_at_val` (for 10
    classes the 100 numbers double the drawing time: too much to pay every epoch of a short run).
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
        counts = self.matrix.compute().cpu()
        share = counts.float() / counts.sum(1, keepdim=True).clamp(min=1)
        classes = len(counts)
        names = self.labels if self.labels is not None and len(self.labels) == classes else None
        figure, axis = new_figure()
        axis.imshow(share.numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
        ticks = list(range(classes))
        rows, columns = tick_labels(names, classes)
        tick_size = 10 if classes <= 10 else 7
        axis.set_xticks(ticks, columns, fontsize=tick_size)
        axis.set_yticks(ticks, rows, fontsize=tick_size)
        axis.set(xlabel="predicted (colour: share of the true class)", ylabel="true")  # no title: a bigger matrix
        if classes <= MOST_NUMBERED_CLASSES and (trainer.testing or self.numbers_at_val):
            size = 10 if classes <= 5 else 8 if classes <= 8 else 7
            for row, column in itertools.product(ticks, ticks):
                count, dark = int(counts[row, column]), float(share[row, column]) > 0.5
                axis.text(column, row, count, ha="center", va="center", fontsize=size, color="white" if dark else "k")
        return {"confusion_matrix": figure}


def tick_labels(names: list[str] | None, classes: int) -> tuple[list[str], list[str]]:
    """Row and column labels: the class names, or numbers; with more than 5 long names the columns are numbered and
    each row says its number (names side by side would not fit the columns)."""
    if names is None:
        return [str(i) for i in range(classes)], [str(i) for i in range(classes)]
    if classes <= 5 or max(len(name) for name in names) <= 3:
        return list(names), list(names)
    return [f"{name} {i}" for i, name in enumerate(names)], [str(i) for i in range(classes)]
