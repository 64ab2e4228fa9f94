"""Input, target and predicted frames of a few fixed sequences, side by side and labelled, after val and test."""

from typing import Any

import lightning as L
import torch
from torchvision.utils import make_grid

from blueprint.callbacks.figure_logging import log_picture, text_tile

ROWS = ("input", "target", "prediction")
LABEL_SIZE = 26  # px: 10-13 px once TensorBoard's card shrinks a 2-sequence grid of 64-px frames to fit
LABEL_WIDTH = 134  # px: room for "prediction" at LABEL_SIZE
GAP = 8  # px of gray between two sequences' rows


def frame_rows(inputs: torch.Tensor, targets: torch.Tensor, predictions: torch.Tensor) -> torch.Tensor:
    """(3, H, W) in [0, 1]: per sequence a labelled row of inputs, of targets and of predictions, a frame a column."""
    width = max(inputs.shape[1], targets.shape[1])
    rows: list[torch.Tensor] = []
    for seq in range(len(inputs)):
        if seq:
            rows.append(torch.full((3, GAP, rows[-1].shape[-1]), 0.5))
        for label, frames in zip(ROWS, (inputs[seq], targets[seq], predictions[seq]), strict=True):
            pad = frames.new_zeros(width - len(frames), *frames.shape[1:])
            row = make_grid(torch.cat([frames, pad]).float().clamp(0, 1), nrow=width, padding=2, pad_value=0.5)
            rows.append(torch.cat([text_tile(LABEL_WIDTH, row.shape[1], label, LABEL_SIZE, dark=True), row], dim=2))
    return torch.cat(rows, dim=1)


class FrameGrid(L.Callback):
    """Logs the image `val/frames` after each validation epoch and `test/frames` after testing: the first
    `num_sequences` sequences of the split (the same ones every time), with the net's predictions.

    Two sequences fill TensorBoard's image card at a readable size; each one more makes every frame smaller.
    """

    def __init__(self, num_sequences: int = 2) -> None:
        if num_sequences < 1:
            raise ValueError(f"num_sequences must be >= 1, got {num_sequences}")
        self.num_sequences = num_sequences
        self._batches: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _fixed_batch(self, stage: str, loaders: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if stage not in self._batches:
            assert loaders is not None  # called at the end of an epoch of this stage, so its loaders exist
            inputs, targets = next(iter(loaders[0] if isinstance(loaders, list | tuple) else loaders))[:2]
            self._batches[stage] = (inputs[: self.num_sequences], targets[: self.num_sequences])
        return self._batches[stage]

    def _draw(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str, loaders: Any) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or not trainer.loggers:
            return
        inputs, targets = self._fixed_batch(stage, loaders)
        precision = trainer.precision_plugin  # outside the step: apply the run's precision (bf16-true casts inputs)
        with torch.no_grad(), precision.forward_context():
            predictions = pl_module(precision.convert_input(inputs.to(pl_module.device))).float().cpu()
        log_picture(trainer, f"{stage}/frames", frame_rows(inputs.cpu(), targets.cpu(), predictions))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._draw(trainer, pl_module, "val", trainer.val_dataloaders)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._draw(trainer, pl_module, "test", trainer.test_dataloaders)
