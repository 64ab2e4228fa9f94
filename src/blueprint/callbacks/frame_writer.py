"""`blueprint predict` for frame prediction: frames as .npy (public Moving MNIST layout) and a PNG per sequence."""

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torchvision.utils import save_image

from blueprint.callbacks.frame_grid import frame_rows


class FrameWriter(BasePredictionWriter):
    """Writes `predictions.npy` (uint8, shape (T_out, N, H, W)) and `sequence_<n>.png` (inputs/targets/predictions).

    `output_dir` defaults to `predictions/` inside the run's log folder.
    """

    def __init__(self, output_dir: str | None = None, max_pngs: int = 100) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self.max_pngs = max_pngs
        self._frames: list[np.ndarray] = []
        self._written = 0

    def folder(self, trainer: L.Trainer) -> Path:
        folder = Path(self.output_dir or Path(trainer.log_dir or ".") / "predictions")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def write_on_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, prediction: Any, batch_indices: Any, batch: Any,
        batch_idx: int, dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        prediction = prediction.detach().float().cpu().clamp(0, 1)
        frames = prediction.squeeze(2) if prediction.shape[2] == 1 else prediction
        self._frames.append((frames * 255).round().to(torch.uint8).numpy())
        folder = self.folder(trainer)
        for seq in range(len(prediction)):
            if self._written >= self.max_pngs:
                break
            image = frame_rows(batch[0][seq : seq + 1].cpu(), batch[1][seq : seq + 1].cpu(), prediction[seq : seq + 1])
            save_image(image, folder / f"sequence_{self._written:05d}.png")
            self._written += 1

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._frames:
            np.save(self.folder(trainer) / "predictions.npy", np.concatenate(self._frames).swapaxes(0, 1))
        self._frames, self._written = [], 0
