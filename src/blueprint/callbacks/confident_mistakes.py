"""The val images the classifier gets wrong with the most confidence: label noise and real blind spots show up first."""

import math
from typing import Any

import lightning as L
import torch

from blueprint.callbacks.csv_writer import class_names
from blueprint.callbacks.evaluation_figures import EvaluationFigures
from blueprint.callbacks.figure_logging import pyplot


class ConfidentMistakes(EvaluationFigures):
    """Logs `val/confident_mistakes` (and `test/...`): the `num_images` wrong predictions with the highest probability.

    Each tile is titled with its true and predicted class and that probability. Only for image batches (N, C, H, W);
    per batch it keeps a running top-k on the device, so the cost is one softmax and a small top-k.
    """

    def __init__(self, num_images: int = 16, max_time_share: float = 0.02) -> None:
        super().__init__(max_time_share)
        if num_images < 1:
            raise ValueError(f"num_images must be >= 1, got {num_images}")
        self.num_images = num_images
        self.kept: dict[str, torch.Tensor] = {}
        self.labels: list[str] | None = None

    def reset(self, pl_module: L.LightningModule) -> None:
        self.kept = {}
        self.labels = class_names(getattr(pl_module.trainer, "datamodule", None))

    def update(self, output: torch.Tensor, batch: Any, pl_module: L.LightningModule) -> None:
        images, targets = batch[0], batch[1]
        if output.dim() != 2 or not isinstance(images, torch.Tensor) or images.dim() != 4:
            return
        confidence, predicted = output.softmax(1).max(1)
        wrong = predicted != targets
        if not bool(wrong.any()):
            return
        found = {
            "image": images[wrong],
            "confidence": confidence[wrong],
            "true": targets[wrong],
            "pred": predicted[wrong],
        }
        if self.kept:
            found = {key: torch.cat([self.kept[key], value]) for key, value in found.items()}
        top = found["confidence"].topk(min(self.num_images, len(found["confidence"]))).indices
        self.kept = {key: value[top] for key, value in found.items()}

    def figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        if not self.kept:
            return {}
        kept = {key: value.detach().float().cpu() for key, value in self.kept.items()}
        count = len(kept["image"])
        columns = min(count, 8)
        rows = math.ceil(count / columns)
        figure, axes = pyplot().subplots(rows, columns, figsize=(1.6 * columns, 1.9 * rows), squeeze=False)
        for index, axis in enumerate(axes.flat):
            axis.axis("off")
            if index >= count:
                continue
            image = kept["image"][index]
            image = (image - image.min()) / (image.max() - image.min()).clamp(min=1e-8)  # whatever the normalization
            axis.imshow(image[0] if len(image) == 1 else image.permute(1, 2, 0), cmap="gray")
            true, pred = int(kept["true"][index]), int(kept["pred"][index])
            axis.set_title(
                f"true {self._name(true)}\npred {self._name(pred)} {kept['confidence'][index]:.2f}", fontsize=8
            )
        figure.tight_layout()
        return {"confident_mistakes": figure}

    def _name(self, index: int) -> str:
        return self.labels[index] if self.labels is not None and index < len(self.labels) else str(index)
