"""`blueprint predict` writes a CSV: one line per input row, keyed by that row's index in the input file."""

import csv
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info

from blueprint.tasks.labels import labelled_probabilities


class PredictionCSVWriter(BasePredictionWriter):
    """Columns: `row`, then `label` and `prob_<class>` per class (classification) or `prediction` (regression).

    Class names come from the datamodule's `classes`; the row index from the batch's third tensor when there is one.
    """

    def __init__(self, path: str | None = None) -> None:
        super().__init__(write_interval="batch")
        self.path = path
        self._rows: list[torch.Tensor] = []
        self._outputs: list[torch.Tensor] = []
        self.written: Path | None = None

    def on_predict_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._rows, self._outputs = [], []

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        output = prediction.detach().float().cpu()
        if isinstance(batch, list | tuple) and len(batch) > 2:
            rows = batch[2].cpu()
        else:
            start = sum(len(r) for r in self._rows)
            rows = torch.arange(start, start + len(output))
        self._rows.append(rows.reshape(-1))
        self._outputs.append(output)

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._outputs or not trainer.is_global_zero:
            return
        rows, outputs = torch.cat(self._rows), torch.cat(self._outputs)
        order = torch.argsort(rows)
        classes = class_names(getattr(trainer, "datamodule", None))  # Trainer sets it at runtime, undeclared
        threshold = float(getattr(pl_module, "threshold", 0.5))  # BinaryClassificationTask's decision threshold
        header, lines = format_predictions(rows[order], outputs[order], classes, threshold)
        path = Path(self.path) if self.path else Path(trainer.log_dir or ".") / "predictions.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as file:
            csv.writer(file).writerows([header, *lines])
        self.written = path
        rank_zero_info(f"wrote {len(lines)} predictions to {path}")


def format_predictions(
    rows: torch.Tensor, outputs: torch.Tensor, classes: list[str] | None, threshold: float = 0.5
) -> tuple[list[str], list[list[str]]]:
    """Header and lines: probabilities (binary: one P(class 1) column becomes two), or raw values for regression.

    A binary row is labelled class 1 when P(class 1) > `threshold`, as the task's accuracy and F1 count it.
    """
    if classes is not None:
        names, labels, probs = labelled_probabilities(outputs, classes, threshold)
        header = ["row", "label", *(f"prob_{n}" for n in names)]
        lines = [
            [str(r), names[k], *(f"{p:.6g}" for p in ps)]
            for r, k, ps in zip(rows.tolist(), labels, probs.tolist(), strict=True)
        ]
        return header, lines
    values = outputs.reshape(len(rows), -1)
    header = ["row", *(["prediction"] if values.shape[1] == 1 else [f"prediction_{i}" for i in range(values.shape[1])])]
    return header, [[str(r), *(f"{v:.6g}" for v in vs)] for r, vs in zip(rows.tolist(), values.tolist(), strict=True)]


def class_names(datamodule: Any) -> list[str] | None:
    """The datamodule's label names, or "0".."n-1" when it only knows how many classes there are."""
    classes = getattr(datamodule, "classes", None)
    count = getattr(datamodule, "num_classes", None)
    return list(classes) if classes is not None else ([str(i) for i in range(count)] if count else None)
