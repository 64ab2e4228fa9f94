"""Lightning's TensorBoardLogger without the `epoch` scalar, so TensorBoard opens on the run's own curves."""

from collections.abc import Mapping

from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's logger, minus the `epoch` value Lightning adds to every logged set of metrics.

    TensorBoard's time-series page groups scalars by the tag's first part, sorts the groups by name and opens the
    first two: `epoch`, a staircase that only restates the step, came first. Checkpoint names, status.json and the
    progress output still tell the epoch; other loggers (the CSV and MLflow presets) keep the value.
    """

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        super().log_metrics({key: value for key, value in metrics.items() if key != "epoch"}, step)
