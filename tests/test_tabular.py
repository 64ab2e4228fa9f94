"""Tables: accuracy/R2 floors on the bundled tables, a user's CSV end to end, predict CSVs, and bad-input errors."""

import csv
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.data import TabularDataModule
from blueprint.errors import UserError
from blueprint.tasks import RegressionTask
from tests.conftest import CONFIGS, config, run_cli

QUIET = ("--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny MLPs run fastest on one thread; with two on a busy CPU, thread hand-offs made these fits ~8x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def fits(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One full fit (with test after fit) of each tabular config, shared by the tests below."""
    results = {}
    for kind in ("binary", "multiclass", "regression"):
        root = tmp_path_factory.mktemp(kind)
        results[kind] = run_cli(
            "fit", "-c", config(f"tabular_mlp_{kind}.yaml"), f"--trainer.logger.init_args.save_dir={root}", *QUIET
        )
    return results


# multiclass keeps the checkpoint best in val/acc, its task's metric (27 val rows: ties keep an early epoch)
@pytest.mark.parametrize(("kind", "metric", "floor"), [("binary", "acc", 0.96), ("multiclass", "acc", 0.94)])
def test_classification_accuracy_floor(fits: dict, kind: str, metric: str, floor: float) -> None:
    assert float(fits[kind].trainer.callback_metrics[f"test/{metric}"]) >= floor


def test_regression_r2_floor(fits: dict) -> None:
    metrics = fits["regression"].trainer.callback_metrics
    assert float(metrics["test/r2"]) >= 0.40
    assert 20 < float(metrics["test/mae"]) < 80  # reported in the target's units (diabetes progression, std ~77)


def read_predictions(path: Path) -> list[dict[str, str]]:
    with path.open() as file:
        return list(csv.DictReader(file))


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_predict_writes_labels_and_probabilities_keyed_by_row(fits: dict, kind: str, tmp_path: Path) -> None:
    cli = fits[kind]
    best = cli.trainer.checkpoint_callback.best_model_path
    out = run_cli("predict", "-c", config(f"tabular_mlp_{kind}.yaml"), f"--ckpt_path={best}", "--trainer.logger=false")
    lines = read_predictions(tmp_path / "predictions.csv")
    dm = out.datamodule
    test_rows, test_targets = dm.splits["test"][2].tolist(), dm.splits["test"][1].tolist()
    assert [int(line["row"]) for line in lines] == sorted(test_rows)  # keyed by the row index in the source table
    prob_columns = [f"prob_{name}" for name in dm.classes]
    assert list(lines[0]) == ["row", "label", *prob_columns]
    truth = {row: dm.classes[t] for row, t in zip(test_rows, test_targets, strict=True)}
    correct = sum(line["label"] == truth[int(line["row"])] for line in lines)
    assert correct / len(lines) == pytest.approx(float(cli.trainer.callback_metrics["test/acc"]), abs=0.02)
    for line in lines:
        assert sum(float(line[c]) for c in prob_columns) == pytest.approx(1.0, abs=1e-4)


def test_binary_predict_labels_follow_the_task_threshold(tmp_path: Path) -> None:
    """A row is labelled positive only when P(positive) > model.threshold, as the task's accuracy counts it."""
    args = ("-c", config("tabular_mlp_binary.yaml"), "--trainer.logger=false", *QUIET)
    fit = run_cli("fit", *args, "--model.init_args.threshold=0.9", "--trainer.max_epochs=2", "--test_after_fit=false")
    checkpoint = fit.trainer.checkpoint_callback.last_model_path
    with pytest.warns(UserWarning, match=r"model\.threshold: 0\.9 from the checkpoint, not 0\.5"):
        out = run_cli("predict", *args, f"--ckpt_path={checkpoint}")  # the config says 0.5; Lightning takes 0.9
    assert out.model.threshold == 0.9
    negative, positive = out.datamodule.classes
    lines = read_predictions(tmp_path / "predictions.csv")
    expected = [positive if float(line[f"prob_{positive}"]) > 0.9 else negative for line in lines]
    assert [line["label"] for line in lines] == expected
    assert any(0.5 < float(line[f"prob_{positive}"]) <= 0.9 for line in lines)  # rows argmax would call positive


def test_regression_predictions_are_in_target_units(fits: dict, tmp_path: Path) -> None:
    best = fits["regression"].trainer.checkpoint_callback.best_model_path
    out = run_cli(
        "predict", "-c", config("tabular_mlp_regression.yaml"), f"--ckpt_path={best}", "--trainer.logger=false"
    )
    values = np.array([float(line["prediction"]) for line in read_predictions(tmp_path / "predictions.csv")])
    assert len(values) == len(out.datamodule.splits["test"][1])
    assert 100 < values.mean() < 200  # diabetes progression scores have mean ~152
    model = RegressionTask.load_from_checkpoint(best, weights_only=True)
    assert float(model.target_mean) == pytest.approx(float(out.datamodule.splits["train"][1].mean()), rel=1e-4)


def test_standardization_is_fitted_on_train_and_kept_in_the_checkpoint(fits: dict) -> None:
    dm = fits["binary"].datamodule
    train, test = dm.splits["train"][0], dm.splits["test"][0]
    assert torch.allclose(train.mean(0), torch.zeros(train.shape[1]), atol=1e-4)
    assert not torch.allclose(test.mean(0), torch.zeros(test.shape[1]), atol=1e-3)
    saved = torch.load(fits["binary"].trainer.checkpoint_callback.best_model_path, weights_only=True)
    state = saved["TabularDataModule"]
    assert state["scaler"] == dm.scaler and state["classes"] == ["benign", "malignant"]
    other = TabularDataModule(source="breast_cancer", seed=7)  # a different split would fit a different scaler
    other.load_state_dict(state)
    assert other.scaler == dm.scaler
    raw = other._raw["test"][0]
    assert torch.allclose(
        other.splits["test"][0], (raw - torch.tensor(dm.scaler["mean"])) / torch.tensor(dm.scaler["std"])
    )


def write_flowers(path: Path, n: int = 150) -> None:
    """An iris-like CSV with a string target: three well-separated species, four measurements."""
    rng = np.random.default_rng(0)
    species = ["setosa", "versicolor", "virginica"]
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
        for i in range(n):
            k = i % 3
            writer.writerow([*(np.round(rng.normal(2.0 * k + j, 0.4), 2) for j in range(4)), species[k]])


def readme_commands() -> list[list[str]]:
    """The `uv run blueprint ...` lines of the README's "Your own CSV" section, as argument lists."""
    section = (CONFIGS.parent / "README.md").read_text().split("## Your own CSV", 1)[1].split("\n## ", 1)[0]
    text = section.replace("\\\n", " ")
    lines = re.findall(r"^uv run blueprint (.+?)(?:\s+#.*)?$", text, flags=re.MULTILINE)
    return [[str(CONFIGS.parent / a) if a.startswith("configs/") else a for a in shlex.split(line)] for line in lines]


def test_readme_csv_commands_train_and_predict(tmp_path: Path) -> None:
    """The exact README commands: fit on a user's CSV (string labels), then predict new rows into a CSV."""
    write_flowers(tmp_path / "flowers.csv")
    write_flowers(tmp_path / "new_flowers.csv", n=9)
    fit, predict = readme_commands()
    cli = run_cli(*fit, *QUIET)
    assert cli.datamodule.classes == ["setosa", "versicolor", "virginica"]
    assert float(cli.trainer.callback_metrics["test/acc"]) >= 0.9
    run_cli(*predict, *QUIET)
    lines = read_predictions(next(tmp_path.glob("logs/*/version_1/predictions.csv")))
    assert [line["row"] for line in lines] == [str(i) for i in range(9)]
    assert [line["label"] for line in lines] == ["setosa", "versicolor", "virginica"] * 3


BAD_CSVS = {
    "missing target": ("a,b\n1,2\n3,4\n", "no target column 'label'"),
    "non-numeric feature": ("a,b,label\n1,red,x\n3,blue,y\n", "feature column 'b' is not numeric ('red' in row 0)"),
    "missing feature value": ("a,b,label\n1,,x\n3,4,y\n", "feature column 'b' has 1 missing value(s) (rows 0)"),
    "missing target value": ("a,b,label\n1,2,x\n3,4,\n", "target column 'label' has 1 missing value(s) (rows 1)"),
    "single class": ("a,b,label\n1,2,x\n3,4,x\n", "target column 'label' has a single class 'x'"),
    "empty file": ("", "is empty"),
    "infinite feature": ("a,b,label\n1,inf,x\n3,4,y\n", "feature column 'b' holds inf in row 0"),
    "too few rows": (  # 13 features, as the wine config's net expects, but 3 rows
        "".join(
            [",".join(f"f{i}" for i in range(13)) + ",label\n"] + [",".join(["1"] * 13) + f",{c}\n" for c in "xyz"]
        ),
        "3 rows are too few to split with data.val_fraction",
    ),
}


@pytest.mark.parametrize("case", [*sorted(BAD_CSVS), "no such file"])
def test_bad_csv_exits_nonzero_naming_file_and_column(case: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "table.csv"
    if case in BAD_CSVS:
        path.write_text(BAD_CSVS[case][0])
    named = BAD_CSVS[case][1] if case in BAD_CSVS else "does not exist"
    args = ["--data.init_args.source=null", f"--data.init_args.csv={path}", "--data.init_args.target=label"]
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "-c", config("tabular_mlp_multiclass.yaml"), *args, *QUIET)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert named in err and str(path) in err
    assert not (tmp_path / "logs").exists()  # nothing started: no run directory, no checkpoint


def test_task_and_data_mismatch_is_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        run_cli(
            "fit",
            "-c",
            config("tabular_mlp_regression.yaml"),
            "--data.init_args.source=wine",
            *QUIET,
        )
    assert "3 classes" in capsys.readouterr().err


def test_task_and_data_mismatch_is_refused_for_a_classifier_on_values(capsys) -> None:
    with pytest.raises(SystemExit):
        run_cli(
            "fit",
            "-c",
            config("tabular_mlp_multiclass.yaml"),
            "--data.init_args.source=diabetes",
            *QUIET,
        )
    assert "continuous values" in capsys.readouterr().err


def test_a_csv_logger_replaces_tensorboard(tmp_path: Path) -> None:
    """Any Lightning logger works; the HPARAMS summary is written only for TensorBoard."""
    cli = run_cli(
        "fit",
        "-c",
        config("tabular_mlp_regression.yaml"),
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--trainer.max_epochs=2",
        *QUIET,
    )
    header = (Path(cli.trainer.logger.log_dir) / "metrics.csv").read_text().splitlines()[0]
    assert "val/loss" in header and "test/r2" in header


def test_regression_under_bf16_autocast_keeps_float32_targets_and_predictions() -> None:
    """Targets near 2,010 (std 5): bf16 would round them to steps of 8, wrecking loss, metrics and predictions."""
    net = torch.nn.Linear(3, 1)
    torch.nn.init.zeros_(net.weight)
    torch.nn.init.constant_(net.bias, 0.3)
    task = RegressionTask(net=net)
    task.target_mean.fill_(2010.0)
    task.target_std.fill_(5.0)
    inputs, targets = torch.zeros(4, 3), torch.full((4,), 2011.5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        values = task.predict_values(inputs)
        loss, _, _ = task.shared_step((inputs, targets))
    assert values.dtype == torch.float32 and torch.allclose(values, torch.full((4,), 2011.5), atol=0.05)
    assert float(loss.detach()) < 1e-4  # right up to bf16 rounding of the net output (0.3 -> 0.30078)


@pytest.mark.parametrize(
    ("kind", "train_metric", "evaluated"),
    [
        ("binary", "train/acc", {"val/f1", "val/auroc", "test/auroc"}),
        ("regression", "train/mae", {"val/r2", "test/rmse"}),
    ],
)
def test_training_logs_the_loss_per_step_epoch_means_and_evaluation_the_full_metrics(
    fits: dict, kind: str, train_metric: str, evaluated: set[str]
) -> None:
    cli = fits[kind]
    events = EventAccumulator(cli.trainer.logger.log_dir, size_guidance={"scalars": 0}).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/loss_epoch", train_metric} | evaluated <= tags
    assert {tag for tag in tags if tag.startswith("train/")} == {"train/loss", "train/loss_epoch", train_metric}
    assert len(events.Scalars("train/loss_epoch")) == len(events.Scalars(train_metric)) == cli.trainer.current_epoch
    every, steps = cli.trainer.log_every_n_steps, cli.trainer.global_step  # the loss itself: a point every `every`
    assert [point.step for point in events.Scalars("train/loss")] == list(range(every - 1, steps, every))


def test_a_batch_larger_than_the_training_split_is_refused(capsys) -> None:
    """Training takes full batches only: a batch of 512 from 341 rows would train nothing and still 'succeed'."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "-c", config("tabular_mlp_binary.yaml"), "--data.init_args.batch_size=512", *QUIET)
    assert exit_info.value.code == 2
    assert "data.batch_size=512 is larger than the" in capsys.readouterr().err


def test_features_option_picks_the_columns_the_net_reads(tmp_path: Path) -> None:
    write_flowers(tmp_path / "flowers.csv")
    cli = run_cli(
        "fit",
        "-c",
        config("tabular_mlp_multiclass.yaml"),
        "--data.init_args.source=null",
        f"--data.init_args.csv={tmp_path / 'flowers.csv'}",
        "--data.init_args.target=species",
        "--data.init_args.features=[petal_length, petal_width]",
        *QUIET,
    )
    assert tuple(cli.datamodule.input_shape) == (2,) and cli.model.net.input_shape == (2,)  # linked from the data
    # 27 of 30 test rows is 0.9 exactly, 0.89999998 in float32 (the best-val/acc checkpoint since it is linked)
    assert float(cli.trainer.callback_metrics["test/acc"]) >= 0.9 - 1e-6


def batch_size_finder(max_trials: int) -> str:
    init = {"steps_per_trial": 1, "max_trials": max_trials}
    return "--trainer.callbacks+=" + json.dumps(
        {"class_path": "lightning.pytorch.callbacks.BatchSizeFinder", "init_args": init}
    )


# 2, 4, 8, 16 | ... 64, then 128 is capped at the 115 samples (a batch no epoch could fill), where Lightning stops
@pytest.mark.parametrize(("max_trials", "found"), [(4, 16), (10, 115)])
def test_batch_size_finder_trains_at_the_size_it_finds(max_trials: int, found: int) -> None:
    """Lightning's finder sets data.batch_size between trials; the loader follows it and the search stops at the data.

    Its trials must not advance the run: the first real epoch starts the shuffle stream at epoch 0.
    """
    args = ("-c", config("tabular_mlp_multiclass.yaml"), "--trainer.max_epochs=1", "--trainer.logger=false", *QUIET)
    cli = run_cli("fit", *args, batch_size_finder(max_trials), "--test_after_fit=false")
    samples = len(cli.datamodule.splits["train"][0])
    assert samples == 115 and cli.datamodule.batch_size == found
    assert cli.trainer.global_step == samples // found  # the run trained full batches of that size
    assert cli.datamodule.state_dict()["train_loader"] == {"epoch": 1, "batches_done": 0}  # one epoch, from 0


def labelled_csv(path: Path, labels: list[str]) -> Path:
    rows = [f"{i * 0.1:.1f},{label}" for i, label in enumerate(labels * 10)]
    path.write_text("x,y\n" + "\n".join(rows) + "\n")
    return path


def test_a_checkpoints_label_order_re_encodes_another_files_labels(tmp_path: Path) -> None:
    """Evaluating on a file with fewer classes: its labels are numbered as in training, not afresh."""
    trained = TabularDataModule(csv=str(labelled_csv(tmp_path / "train.csv", ["a", "b", "c"])), target="y")
    trained.setup()
    other = TabularDataModule(csv=str(labelled_csv(tmp_path / "other.csv", ["c", "a"])), target="y")
    assert other.classes == ["a", "c"]
    other.load_state_dict(trained.state_dict())
    assert other.classes == ["a", "b", "c"]
    for _, targets, rows in other.splits.values():
        labels = ["c", "a"] * 10
        assert [other.classes[t] for t in targets.tolist()] == [labels[r] for r in rows.tolist()]


def test_testing_a_checkpoint_on_a_file_with_other_labels_is_refused_by_name(tmp_path: Path, capsys) -> None:
    """Same class count, other names: without the check its 'd' rows would be scored as class 'b' or 'c'."""
    labelled_csv(tmp_path / "train.csv", ["a", "b", "c"])
    labelled_csv(tmp_path / "other.csv", ["a", "c", "d"])
    args = ["-c", config("tabular_mlp_multiclass.yaml"), "--data.init_args.source=null", "--data.init_args.target=y"]
    args += [
        "--data.init_args.batch_size=8",
        "--trainer.logger=false",
        *QUIET,
    ]
    fit = run_cli("fit", *args, "--data.init_args.csv=train.csv", "--trainer.max_epochs=1", "--test_after_fit=false")
    with pytest.raises(SystemExit):
        run_cli(
            "test",
            *args,
            "--data.init_args.csv=other.csv",
            f"--ckpt_path={fit.trainer.checkpoint_callback.last_model_path}",
        )
    assert "labels ['d'] not seen in training ['a', 'b', 'c']" in capsys.readouterr().err


def test_a_file_with_labels_the_checkpoint_never_saw_is_refused(tmp_path: Path) -> None:
    trained = TabularDataModule(csv=str(labelled_csv(tmp_path / "train.csv", ["a", "b", "c"])), target="y")
    trained.setup()
    other = TabularDataModule(csv=str(labelled_csv(tmp_path / "other.csv", ["a", "d"])), target="y")
    with pytest.raises(UserError, match=r"labels \['d'\] not seen in training \['a', 'b', 'c'\]"):
        other.load_state_dict(trained.state_dict())
