"""Every validation epoch, show input, target and predicted frames of a few fixed val sequences in TensorBoard."""

import lightning as L
import torch
from torchvision.utils import make_grid


def frame_rows(inputs: torch.Tensor, targets: torch.Tensor, predictions: torch.Tensor) -> torch.Tensor:
    """One image (C, H', W'): per sequence a row of inputs, a row of targets and a row of predictions."""
    width = max(inputs.shape[1], targets.shape[1])
    rows = []
    for seq in range(len(inputs)):
        for frames in (inputs[seq], targets[seq], predictions[seq]):
            pad = frames.new_zeros(width - len(frames), *frames.shape[1:])
            rows.append(torch.cat([frames, pad]))
    return make_grid(torch.cat(rows).float().clamp(0, 1), nrow=width, padding=2, pad_value=0.5)


class FrameGrid(L.Callback):
    """Logs the image `val/frames` for the first `num_sequences` val sequences (the same ones every epoch)."""

    def __init__(self, num_sequences: int = 4) -> None:
        if num_sequences < 1:
            raise ValueError(f"num_sequences must be >= 1, got {num_sequences}")
        self.num_sequences = num_sequences
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def _fixed_batch(self, trainer: L.Trainer) -> tuple[torch.Tensor, torch.Tensor]:
        if self._batch is None:
            loader = trainer.val_dataloaders
            assert loader is not None  # called at the end of a validation epoch, so val loaders exist
            inputs, targets = next(iter(loader[0] if isinstance(loader, list | tuple) else loader))[:2]
            self._batch = (inputs[: self.num_sequences], targets[: self.num_sequences])
        return self._batch

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        experiment = getattr(trainer.logger, "experiment", None)
        if trainer.sanity_checking or experiment is None or not hasattr(experiment, "add_image"):
            return
        inputs, targets = self._fixed_batch(trainer)
        precision = trainer.precision_plugin  # outside the step: apply the run's precision (bf16-true casts inputs)
        with torch.no_grad(), precision.forward_context():
            predictions = pl_module(precision.convert_input(inputs.to(pl_module.device))).float().cpu()
        experiment.add_image("val/frames", frame_rows(inputs.cpu(), targets.cpu(), predictions), trainer.global_step)
