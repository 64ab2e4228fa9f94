"""Send pictures to every logger that shows them: TensorBoard's IMAGES tab, MLflow's artifacts."""

from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger

DPI = 80  # pixels per inch of the logged PNGs: readable, and a third cheaper to render than matplotlib's 100


def new_figure(width: float, height: float, panels: int = 1) -> tuple[Any, Any]:
    """A matplotlib Figure with `panels` axes side by side, on its own Agg canvas.

    No pyplot: nothing global to close (a forgotten figure cannot pile up over a long run) and no display needed.
    Returns (figure, axes); axes is one Axes for one panel, else an array of them.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(1, panels)


def picture_pixels(picture: Any) -> np.ndarray:
    """(H, W, 3) uint8 pixels of a matplotlib Figure (rendered here) or of an array that already is such pixels."""
    if isinstance(picture, np.ndarray):
        return picture
    picture.canvas.draw()
    return np.asarray(picture.canvas.buffer_rgba())[..., :3].copy()


def log_picture(trainer: L.Trainer, tag: str, picture: Any) -> None:
    """TensorBoard gets image `tag` at the current step, MLflow `figures/<tag>_step<N>.png`; rendered once for both."""
    pixels = picture_pixels(picture)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(tag, pixels, global_step=trainer.global_step, dataformats="HWC")
        elif isinstance(logger, MLFlowLogger) and logger.run_id is not None:
            name = f"figures/{tag.replace('/', '_')}_step{trainer.global_step:06d}.png"
            logger.experiment.log_image(logger.run_id, pixels, artifact_file=name)
