"""Log images and histograms to TensorBoard from a callback, the worked example of docs/log_to_tensorboard.md."""

from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.utils import make_grid


class ImagesAndHistograms(L.Callback):
    """Each validation epoch: a grid of the first `num_images` inputs and a histogram of every weight tensor."""

    def __init__(self, num_images: int = 16) -> None:
        self.num_images = num_images

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        writer = self._writer(trainer)
        images = batch[0][: self.num_images].detach().float().cpu()
        if writer is None or batch_idx != 0 or trainer.sanity_checking or images.dim() != 4:  # (N, C, H, W) only
            return
        low, high = images.amin(), images.amax()
        grid = make_grid((images - low) / (high - low + 1e-8), nrow=8)  # TensorBoard wants values in [0, 1]
        writer.add_image("val/inputs", grid, global_step=trainer.global_step)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = self._writer(trainer)
        if writer is None or trainer.sanity_checking:
            return
        for name, parameter in pl_module.named_parameters():
            writer.add_histogram(f"weights/{name}", parameter.detach().cpu(), global_step=trainer.global_step)

    @staticmethod
    def _writer(trainer: L.Trainer) -> Any:
        """The TensorBoard SummaryWriter, on the main process only (None without a TensorBoardLogger)."""
        logger = trainer.logger
        if not isinstance(logger, TensorBoardLogger) or not trainer.is_global_zero:
            return None
        return logger.experiment
