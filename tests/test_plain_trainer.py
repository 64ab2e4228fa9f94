"""A task trains in a plain Lightning Trainer; the loss is logged per step, as epoch means and on the progress bar."""

import csv
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.loggers import CSVLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.data import MNISTDataModule
from blueprint.nets import MLP
from blueprint.tasks import ClassificationTask
from tests.conftest import config, run_cli


def logged_rows(logger: CSVLogger) -> list[dict[str, str]]:
    """The rows CSVLogger wrote: one per logging event, a metric's column empty where it was not logged."""
    with (Path(logger.log_dir) / "metrics.csv").open() as file:
        return list(csv.DictReader(file))


def column(rows: list[dict[str, str]], name: str) -> list[tuple[int, float]]:
    return [(int(row["step"]), float(row[name])) for row in rows if row[name]]


def test_classification_task_trains_in_a_plain_trainer(tmp_path: Path) -> None:
    L.seed_everything(0)
    task = ClassificationTask(net=MLP(input_shape=(1, 28, 28), out_features=10, hidden=[64]))
    data = MNISTDataModule(batch_size=64, augment_shift=0)
    logger = CSVLogger(tmp_path)
    trainer = L.Trainer(
        max_epochs=2,
        logger=logger,
        log_every_n_steps=10,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(task, datamodule=data)
    assert trainer.callback_metrics["val/acc"] >= 0.85  # two epochs of a small MLP on 3,500 digits
    trainer.test(task, datamodule=data)
    assert trainer.callback_metrics["test/acc"] >= 0.85

    rows = logged_rows(logger)
    steps = [step for step, _ in column(rows, "train/loss")]
    assert steps == list(range(9, trainer.global_step, 10))  # one point every log_every_n_steps
    epoch_means = [value for _, value in column(rows, "train/loss_epoch")]
    assert len(epoch_means) == 2 and epoch_means[1] < epoch_means[0]
    for name in ("train/acc", "val/loss", "val/acc", "val/f1", "hp_metric"):
        assert len(column(rows, name)) == 2, name
    assert {"test/loss", "test/acc", "test/f1"} <= {name for name in rows[-1] if rows[-1][name]}


@pytest.fixture(scope="module")
def cli_fit(tmp_path_factory: pytest.TempPathFactory):
    """Two short epochs of configs/mnist_mlp.yaml through the CLI, progress bar on, the loss written every 4 steps."""
    root = tmp_path_factory.mktemp("cli_fit")
    return run_cli(
        "fit",
        "-c",
        config("mnist_mlp.yaml"),
        "--trainer.max_epochs=2",
        "--trainer.limit_train_batches=10",
        "--trainer.log_every_n_steps=4",
        "--test_after_fit=false",
        f"--trainer.logger.init_args.save_dir={root}",
    )


def test_cli_run_writes_train_loss_every_log_every_n_steps_and_epoch_means(cli_fit) -> None:
    events = EventAccumulator(cli_fit.trainer.logger.log_dir, size_guidance={"scalars": 0}).Reload()
    assert [point.step for point in events.Scalars("train/loss")] == [3, 7, 11, 15, 19]
    assert [point.step for point in events.Scalars("train/loss_epoch")] == [9, 19]
    assert len(events.Scalars("train/acc")) == len(events.Scalars("val/acc")) == 2


def test_progress_bar_shows_the_training_loss(cli_fit) -> None:
    trainer = cli_fit.trainer
    assert {"train/loss", "val/loss", "val/acc"} <= set(trainer.progress_bar_metrics)
    assert "train/loss" in trainer.progress_bar_callback.get_metrics(trainer, cli_fit.model)
