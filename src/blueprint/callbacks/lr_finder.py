"""Lightning's LR range test as a preset: saves the loss-vs-LR plot, logs it to TensorBoard, prints the suggestion."""

import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateFinder
from lightning.pytorch.loggers import TensorBoardLogger


def steepest_descent_lr(lrs: list[float], losses: list[float], skip_begin: int = 10, skip_end: int = 1) -> float | None:
    """LR where the loss falls fastest per decade of LR.

    Lightning's own suggestion differentiates against the LR itself, which on an exponential sweep magnifies noise
    at the smallest LRs (on mnist_cnn it picked 4.6e-6, on a flat part of the curve).
    """
    points = [(math.log10(lr), loss) for lr, loss in zip(lrs, losses, strict=True) if math.isfinite(loss)]
    points = points[skip_begin : len(points) - skip_end]
    if len(points) < 3:
        return None
    log_lrs, values = torch.tensor(points, dtype=torch.float64).unbind(1)
    slopes = torch.gradient(values, spacing=(log_lrs,))[0]
    return float(10 ** log_lrs[int(torch.argmin(slopes))])


class LRFinder(LearningRateFinder):
    """Runs the range test at fit start; `stop_after` ends the run there (set the LR, then train for real)."""

    def __init__(
        self,
        min_lr: float = 1e-6,
        max_lr: float = 1.0,
        num_training_steps: int = 100,
        mode: str = "exponential",
        early_stop_threshold: float | None = 4.0,
        stop_after: bool = True,
        plot_name: str = "lr_find.png",
    ) -> None:
        super().__init__(min_lr, max_lr, num_training_steps, mode, early_stop_threshold, update_attr=False)
        self.stop_after = stop_after
        self.plot_name = plot_name
        self.suggested_lr: float | None = None
        self.plot_path: Path | None = None

    def lr_find(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        try:
            super().lr_find(trainer, pl_module)
        finally:
            if self.optimal_lr is not None and trainer.is_global_zero:
                self._report(trainer)
        trainer.should_stop = self.stop_after  # the fit ends before its first epoch (after the sanity check)

    def _report(self, trainer: L.Trainer) -> None:
        """The plot goes next to the run's checkpoints and into TensorBoard's IMAGES tab."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure

        assert self.optimal_lr is not None
        lrs, losses = self.optimal_lr.results["lr"], self.optimal_lr.results["loss"]
        self.suggested_lr = steepest_descent_lr(lrs, losses)
        fig = self.optimal_lr.plot(suggest=False)
        assert isinstance(fig, Figure), "LearningRateFinder.plot returns a matplotlib Figure"
        if self.suggested_lr is not None:
            fig.axes[0].axvline(
                self.suggested_lr, color="red", linestyle="--", label=f"suggested {self.suggested_lr:.2g}"
            )
            fig.axes[0].legend()
        log_dir = Path(trainer.log_dir or trainer.default_root_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.plot_path = log_dir / self.plot_name
        fig.savefig(self.plot_path, dpi=100)
        if isinstance(trainer.logger, TensorBoardLogger):
            trainer.logger.experiment.add_figure("lr_find", fig, global_step=0)
            if self.suggested_lr is not None:
                trainer.logger.experiment.add_scalar("lr_find/suggestion", self.suggested_lr, 0)
        plt.close(fig)
        print(f"lr_find: suggested learning rate {self.suggested_lr} (plot: {self.plot_path})")
