"""Each run folder gets the resolved config.yaml, and its loggers the hyperparameters that tell runs apart."""

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from blueprint.cli.hparams import chosen_hparams
from blueprint.cli.links import write_linked_values
from blueprint.cli.preflight import check_resumed_one_cycle
from blueprint.cli.provenance import write_provenance
from blueprint.errors import TrainingStopped
from blueprint.tasks.base import HP_METRIC


@contextlib.contextmanager
def one_line_on_write_error(folder: str | None) -> Iterator[None]:
    """A full disk (or a folder turned read-only) while writing config.yaml: one line, not Lightning's traceback."""
    try:
        yield
    except OSError as err:
        raise TrainingStopped(
            f"cannot write the run's config into {folder} ({err.strerror or err}); nothing was trained and the "
            "checkpoints there are untouched: free some space (or fix permissions), then run the same command again"
        ) from None


class SaveConfigToRun(SaveConfigCallback):
    """Writes config.yaml into the run folder (a run without a logger has none, so it writes nothing).

    `fit` writes it at fit start, after the checks a resumed run can only make once its optimizers are built: a
    refused resume adds no config_resume_K.yaml to the run's folder.
    """

    run_dir: str | None = None  # read on every rank: trainer.log_dir is a broadcast, save_config runs on rank zero

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if trainer.logger is not None and stage != "fit":
            self.run_dir = trainer.log_dir
            with one_line_on_write_error(self.run_dir):
                super().setup(trainer, pl_module, stage)

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        check_resumed_one_cycle(trainer, self.config.get("ckpt_path"))  # `last` is resolved to its file by now
        if trainer.logger is not None:
            self.run_dir = trainer.log_dir
            with one_line_on_write_error(self.run_dir):
                super().setup(trainer, pl_module, "fit")

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Log the chosen hyperparameters (cli/hparams.py) to every logger, TensorBoard's HPARAMS tab included.

        MLflow also keeps the resolved config.yaml as an artifact, and the run folder as the tag `log_dir`.
        """
        if self.run_dir is not None:  # config.yaml is written: it shows the linked values too
            write_linked_values(os.path.join(self.run_dir, self.config_filename), trainer, pl_module)
            write_provenance(self.run_dir, self.config_filename, trainer, stage)  # commit, diff, versions, device
        hparams = chosen_hparams(self.config, getattr(pl_module, "monitor", None))
        for logger in trainer.loggers:
            logger.log_hyperparams(hparams)  # hparams.yaml, MLflow's params; TensorBoard's HPARAMS tab needs more:
            if isinstance(logger, TensorBoardLogger):
                write_hparams_session(logger, hparams)
            if isinstance(logger, MLFlowLogger) and logger.run_id is not None and self.run_dir is not None:
                logger.experiment.log_artifact(logger.run_id, os.path.join(self.run_dir, self.config_filename))
                logger.experiment.set_tag(logger.run_id, "log_dir", self.run_dir)


def write_hparams_session(logger: TensorBoardLogger, hparams: dict[str, Any]) -> None:
    """The run's row in TensorBoard's HPARAMS tab: its hyperparameters, with hp_metric named as its metric.

    Lightning's log_hyperparams(params, metrics) would also write each metric's value at step 0: a NaN placeholder
    before the first validation. TensorBoard applies one run's list of columns and metrics to every run in the folder,
    so every run writes the same: the chosen keys, and hp_metric, which every run with a validation logs.
    """
    experiment, session_start, _ = hparams_summaries(hparams, {HP_METRIC: 0.0})  # only the metric's name is used
    logger.experiment.file_writer.add_summary(experiment)
    logger.experiment.file_writer.add_summary(session_start)
