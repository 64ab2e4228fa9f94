"""Send a matplotlib figure to every logger that shows pictures: TensorBoard's IMAGES tab, MLflow's artifacts."""

from typing import Any

import lightning as L
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger

DPI = 80  # pixels per inch of the logged PNGs: readable, and a third cheaper to render than matplotlib's 100


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed); imported on first use, not with the package."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def log_figure(trainer: L.Trainer, tag: str, figure: Any) -> None:
    """TensorBoard gets image `tag` at the current step, MLflow `figures/<tag>_step<N>.png`; the figure is closed."""
    figure.set_dpi(DPI)
    try:
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure(tag, figure, global_step=trainer.global_step, close=False)
            elif isinstance(logger, MLFlowLogger) and logger.run_id is not None:
                name = f"figures/{tag.replace('/', '_')}_step{trainer.global_step:06d}.png"
                logger.experiment.log_figure(logger.run_id, figure, name)
    finally:
        pyplot().close(figure)
