"""The val images the classifier gets wrong with the most confidence: label noise and real blind spots show up first."""

import math
from typing import Any

import lightning as L
import torch
from torchvision.utils import make_grid

from blueprint.callbacks.csv_writer import class_names
from blueprint.callbacks.evaluation_figures import EvaluationFigures
from blueprint.callbacks.figure_logging import text_tile, text_width

MIN_TILE_WIDTH = 100  # pixels: images are enlarged by a whole factor to at least this, so two caption lines fit
COLUMNS = 4  # 4 x 2 tiles fill TensorBoard's image card, where 15 px captions show at about 10 px
CAPTION_SIZES = (15, 14, 13, 12, 11, 10)  # px: the largest at which every caption fits its tile is used


class ConfidentMistakes(EvaluationFigures):
    """Logs `val/confident_mistakes` (and `test/...`): the `num_images` wrong predictions with the highest probability.

    Each tile is captioned with its true and predicted class and that probability, in rows of 4: the default 8
    tiles stay readable in TensorBoard's image card. Only for image batches (N, C, H, W); per batch it keeps a
    running top-k on the device, so the cost is one softmax and a small top-k. The grid is torchvision's
    `make_grid` with PIL captions: a few milliseconds, where matplotlib took 0.3 s.
    """

    def __init__(self, num_images: int = 8, every_n_epochs: int = 1) -> None:
        super().__init__(every_n_epochs)
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
        images = enlarged(kept["image"])
        texts = [
            f"true {self._name(int(true))}\npred {self._name(int(pred))} {p:.2f}"
            for true, pred, p in zip(kept["true"], kept["pred"], kept["confidence"], strict=True)
        ]
        width = images.shape[-1]
        size = next((s for s in CAPTION_SIZES if max(text_width(t, s) for t in texts) + 6 <= width), CAPTION_SIZES[-1])
        captions = [text_tile(width, caption_height(size), text, size) for text in texts]
        grid = make_grid(torch.cat([torch.stack(captions), images], dim=2), nrow=COLUMNS, padding=4, pad_value=0.5)
        return {"confident_mistakes": grid}

    def _name(self, index: int) -> str:
        return self.labels[index] if self.labels is not None and index < len(self.labels) else str(index)


def enlarged(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H*k, W*k) in [0, 1]: each image stretched to [0, 1] (whatever its normalization), enlarged k times."""
    images = images[:, :3] if images.shape[1] >= 3 else images[:, :1].expand(-1, 3, -1, -1)  # RGB or gray
    low, high = images.amin(dim=(1, 2, 3), keepdim=True), images.amax(dim=(1, 2, 3), keepdim=True)
    images = (images - low) / (high - low).clamp(min=1e-8)
    scale = max(1, math.ceil(MIN_TILE_WIDTH / images.shape[-1]))
    return torch.nn.functional.interpolate(images, scale_factor=scale, mode="nearest")


def caption_height(size: int) -> int:
    """Pixels two caption lines of `size` px take, with the margins text_tile leaves."""
    return 2 * size + 10
