"""Pictures in TensorBoard, the run index and the CSV/MLflow presets, on four short real runs in one logs/ folder.

The MLflow run is marked slow: MLflow creates its SQLite database with ~30 schema migrations (seconds of CPU).
"""

import csv
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from blueprint.callbacks.confident_mistakes import caption_height, enlarged
from blueprint.callbacks.figure_logging import text_tile
from blueprint.callbacks.run_status import status_of
from blueprint.cli import runs_command, seeds_command
from blueprint.errors import TrainingStopped
from tests.conftest import config, run_cli
from tests.reliability.helpers import callback_option, error_line, tiny_args

TABLE_ARGS = ["--trainer.max_epochs=1", "--trainer.enable_progress_bar=false", "--trainer.limit_test_batches=1"]
EVERY_OTHER = '{"class_path": "blueprint.callbacks.binary_curves.BinaryCurves", "init_args": {"every_n_epochs": 2}}'
RUN_STATUS = '{"class_path": "blueprint.callbacks.run_status.RunStatus"}'  # a replaced list keeps what the test reads


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """logs/ with mnist_mlp (+ CSV logger), a binary and a regression table run, and a run stopped by SIGTERM."""
    root, here = tmp_path_factory.mktemp("runs"), os.getcwd()
    os.chdir(root)
    csv_preset = ["-c", config("presets/csv_logger.yaml")]
    try:
        run_cli("fit", *tiny_args(epochs=2), *csv_preset, "--test_after_fit=true", "--trainer.limit_test_batches=1")
        run_cli(
            "fit",
            "-c",
            config("tabular_mlp_binary.yaml"),
            *TABLE_ARGS,
            "--trainer.max_epochs=2",
            f"--trainer.callbacks=[{EVERY_OTHER}, {RUN_STATUS}]",
        )
        run_cli("fit", "-c", config("tabular_mlp_regression.yaml"), *TABLE_ARGS)
        with pytest.raises(SystemExit) as stopped:
            run_cli("fit", *tiny_args(epochs=2), callback_option("SignalAtStep", step=2))
        assert stopped.value.code == 143
    finally:
        os.chdir(here)
    return root


def images(run: Path) -> list[str]:
    events = EventAccumulator(str(run), size_guidance={"images": 1})
    events.Reload()
    return events.Tags()["images"]


def scalars(run: Path, tag: str) -> list[float]:
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return [event.value for event in events.Scalars(tag)]


def last_scalar(run: Path, tag: str) -> float:
    return scalars(run, tag)[-1]


def test_each_task_logs_its_pictures_at_test(runs: Path) -> None:
    logs = runs / "logs"
    assert {"test/confusion_matrix", "test/confident_mistakes"} <= set(images(logs / "mnist_mlp/version_0"))
    assert {"test/roc_curve", "test/pr_curve"} <= set(images(logs / "tabular_mlp_binary/version_0"))
    assert {"test/predicted_vs_actual", "test/residuals"} <= set(images(logs / "tabular_mlp_regression/version_0"))


def test_every_val_epoch_is_drawn_by_default(runs: Path) -> None:
    events = EventAccumulator(str(runs / "logs/mnist_mlp/version_0"), size_guidance={"images": 0})
    events.Reload()
    grids = events.Images("val/confident_mistakes")
    steps = [image.step for image in grids]
    assert len(steps) == 2 and steps[1] == 2 * steps[0] > 0  # one per validation epoch, none at the sanity check
    assert grids[-1].width > 200 and grids[-1].height > 100  # captioned tiles, not the bare 28-pixel digits
    matrices = events.Images("val/confusion_matrix")  # the config draws it every 10th epoch, and the last
    assert [image.step for image in matrices] == steps[1:]


def test_every_n_epochs_draws_only_those_epochs(runs: Path) -> None:
    events = EventAccumulator(str(runs / "logs/tabular_mlp_binary/version_0"), size_guidance={"images": 0})
    events.Reload()
    drawn = events.Images("val/roc_curve")
    assert len(drawn) == 1 and len(events.Images("val/pr_curve")) == 1  # epoch 2 of 2, not epoch 1
    assert drawn[0].step >= max(event.step for event in events.Scalars("val/loss"))  # epoch 2's, not epoch 1's


def test_validate_draws_the_pictures_a_fit_draws_only_every_10th_epoch(runs: Path) -> None:
    best = next((runs / "logs/mnist_mlp/version_0").rglob("best*.ckpt"))
    run_cli("validate", *tiny_args(f"--ckpt_path={best}"))
    assert {"val/confusion_matrix", "val/confident_mistakes"} <= set(images(Path("logs/mnist_mlp/version_0")))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_mistake_tiles_are_rgb_in_0_1_enlarged_by_a_whole_factor(channels: int) -> None:
    tiles = enlarged(torch.randn(3, channels, 20, 30) * 5 + 2)  # any normalization, not square
    assert tiles.shape == (3, 3, 80, 120)  # 4x: the smallest whole factor giving MIN_TILE_WIDTH (100) pixels
    assert float(tiles.amin()) == 0.0 and float(tiles.amax()) == 1.0
    strip = text_tile(120, caption_height(15), "true 7\npred 1 0.99", 15)
    assert strip.shape == (3, 40, 120) and float(strip.amin()) < 0.5 < float(strip.amax())  # dark text on white


def test_every_picture_keeps_its_size_in_tensorboards_image_card(runs: Path) -> None:
    """The card (at its narrowest) fits an image into about 300 x 215 px: a picture drawn much larger is shrunk
    until its words cannot be read. Each is drawn for that box, text sized to be about 10 px there."""
    logs, box = runs / "logs", (300, 215)
    for run in ("mnist_mlp/version_0", "tabular_mlp_binary/version_0", "tabular_mlp_regression/version_0"):
        events = EventAccumulator(str(logs / run), size_guidance={"images": 1})
        events.Reload()
        for tag in events.Tags()["images"]:
            image = events.Images(tag)[-1]
            shrink = min(box[0] / image.width, box[1] / image.height)
            assert shrink > 0.6, f"{run} {tag}: {image.width} x {image.height} px is shown at {shrink:.2f} of its size"


def test_tensorboard_opens_on_the_curves_with_the_learning_rate_and_no_epoch_counter(runs: Path) -> None:
    """TensorBoard opens the first two tag groups by name: Lightning's `epoch` staircase came first. Every config
    logs its learning rate (the regression config used not to); the CSV logger keeps the epoch column."""
    for run in ("mnist_mlp/version_0", "tabular_mlp_regression/version_0"):
        events = EventAccumulator(str(runs / "logs" / run), size_guidance={"scalars": 0})
        events.Reload()
        tags = events.Tags()["scalars"]
        assert "epoch" not in tags and {"train/loss_epoch", "val/loss", "lr-AdamW"} <= set(tags), run
    with (runs / "logs/mnist_mlp/version_0/metrics.csv").open() as file:
        assert "epoch" in next(csv.reader(file))


def test_csv_logger_records_the_same_final_val_metric_as_tensorboard(runs: Path) -> None:
    run = runs / "logs/mnist_mlp/version_0"
    with (run / "metrics.csv").open() as file:
        logged = [float(row["val/acc"]) for row in csv.DictReader(file) if row["val/acc"]]
    assert len(logged) == 2 and logged[-1] == pytest.approx(last_scalar(run, "val/acc"))


@pytest.mark.slow
def test_mlflow_records_the_same_final_val_metric_as_tensorboard_with_config_and_figures(tmp_path: Path) -> None:
    import mlflow

    after = ["--test_after_fit=true", "--trainer.limit_test_batches=1"]  # test pictures: always drawn
    run_cli("fit", *tiny_args(epochs=2), "-c", config("presets/mlflow.yaml"), *after)
    run = tmp_path / "logs/mnist_mlp/version_0"
    board = last_scalar(run, "val/acc")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    found = mlflow.search_runs(experiment_names=["mnist_mlp"])
    assert len(found) == 1
    assert found["metrics.val/acc"][0] == pytest.approx(board)
    assert found["params.net_sizes"][0] == "hidden=[32]"  # the hyperparameters TensorBoard's HPARAMS tab shows
    assert found["tags.mlflow.runName"][0] == "mnist_mlp/version_0"  # named like the TensorBoard run
    assert found["tags.log_dir"][0].endswith("version_0")
    assert found["tags.versions/torch"][0] == torch.__version__  # the provenance record, as tags
    assert found["tags.git/note"][0].startswith("not a git checkout")
    artifacts = {a.path for a in mlflow.artifacts.list_artifacts(run_id=found["run_id"][0])}
    assert {"config.yaml", "provenance.json", "figures"} <= artifacts
    figures = {a.path for a in mlflow.artifacts.list_artifacts(run_id=found["run_id"][0], artifact_path="figures")}
    assert any(path.startswith("figures/test_confusion_matrix_step") and path.endswith(".png") for path in figures)


def test_run_index_lists_status_differing_options_and_metrics_sorted(runs: Path, capsys) -> None:
    exported = runs / "runs.csv"
    assert runs_command.main([str(runs / "logs"), "--sort", "test/loss", "--csv", str(exported)]) == 0
    out = capsys.readouterr().out
    assert "tabular_mlp_regression: 1 run" in out and "mnist_mlp: 2 runs" in out  # a table per experiment
    with exported.open() as file:
        rows = {row["run"]: row for row in csv.DictReader(file)}
    assert {"model.class", "trainer.max_epochs"} <= set(next(iter(rows.values())))  # the CSV keeps every column
    assert rows["tabular_mlp_regression/version_0"]["model.class"] == "RegressionTask"
    assert rows["mnist_mlp/version_1"]["status"] == "stopped by SIGTERM"
    finished = ["mnist_mlp/version_0", "tabular_mlp_binary/version_0", "tabular_mlp_regression/version_0"]
    assert all(rows[name]["status"] == "finished" for name in finished)
    assert rows["mnist_mlp/version_0"]["best_checkpoint"].endswith(".ckpt")
    assert float(rows["mnist_mlp/version_0"]["best"]) == pytest.approx(
        max(scalars(runs / "logs" / finished[0], "val/acc"))
    )
    losses = [float(row["test/loss"]) for row in rows.values() if row["test/loss"]]
    assert len(losses) == 3 and losses == sorted(losses)  # smallest loss first; the stopped run (no test) last
    assert list(rows)[-1] == "mnist_mlp/version_1"
    assert runs_command.main([str(runs / "logs"), "--sort", "test/nothing"]) == 2
    assert "test/nothing" in error_line(capsys)


def test_run_index_fits_160_columns_a_table_per_experiment_and_leaves_out_predict_and_seeds_folders(
    runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(runs / "logs", logs)
    best = next((logs / "mnist_mlp/version_0").rglob("best*.ckpt"))
    run_cli("predict", *tiny_args(f"--ckpt_path={best}", "--trainer.limit_predict_batches=1"))  # mnist_mlp/version_2
    shutil.copytree(logs / "mnist_mlp/version_2", logs / "mnist_mlp/version_3")  # as an older one, with no record
    (logs / "mnist_mlp/version_3/provenance.json").unlink(missing_ok=True)
    with SummaryWriter(logs / "mnist_mlp/seeds/hparams") as writer:  # what `blueprint seeds` writes beside its runs
        writer.add_hparams({"seed": 0}, {"seeds/test/acc": 0.5}, run_name="seed_0")
    (logs / f"mnist_mlp/seeds/{seeds_command.SUMMARY}.md").write_text("| metric | mean ± std |\n")
    wide = logs / "tabular_mlp_regression/version_1"  # a second run differing in many long options
    shutil.copytree(logs / "tabular_mlp_regression/version_0", wide)
    config = yaml.safe_load((wide / "config.yaml").read_text())
    config["seed_everything"] = "7" * 300
    config["data"]["init_args"] |= {f"option_{i}": f"a long value {i} " * 3 for i in range(20)}
    (wide / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.delenv("COLUMNS", raising=False)  # output is not a terminal here: 160 columns
    assert runs_command.main([str(logs), "--csv", str(tmp_path / "runs.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 160
    titles = [line for line in lines if line.endswith((" run", " runs"))]
    assert titles == ["mnist_mlp: 2 runs", "tabular_mlp_binary: 1 run", "tabular_mlp_regression: 2 runs"]
    named = [line.split()[0] for line in lines if line.startswith("version_")]
    assert "version_2" not in named and "version_3" not in named  # the predict folders are not runs
    assert named.count("version_1") > 2  # the wide table went on in a further block, each repeating the run names
    left_out = " ".join(lines[lines.index(next(line for line in lines if line.startswith("not runs"))) :])
    assert "predict: mnist_mlp/version_2, mnist_mlp/version_3" in left_out
    assert "seeds summary: mnist_mlp/seeds/hparams, mnist_mlp/seeds/hparams/seed_0" in left_out
    assert "7777…" in " ".join(lines) and "7" * 300 not in " ".join(lines)  # a long cell is cut
    with (tmp_path / "runs.csv").open() as file:
        rows = {row["run"]: row for row in csv.DictReader(file)}
    assert len(rows) == 5 and rows["tabular_mlp_regression/version_1"]["seed"] == "7" * 300  # all of it, all runs
    assert "data.option_19" in rows["mnist_mlp/version_0"]
    monkeypatch.setenv("COLUMNS", "100")
    assert runs_command.main([str(logs)]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 100


def test_run_index_refuses_a_missing_or_empty_folder(tmp_path: Path, capsys) -> None:
    assert runs_command.main([str(tmp_path / "nowhere")]) == 2
    line = error_line(capsys)
    assert "nowhere" in line and "does not exist" in line
    (tmp_path / "empty").mkdir()
    assert runs_command.main([str(tmp_path / "empty")]) == 2
    assert "no runs under" in error_line(capsys)


@pytest.mark.parametrize(("target", "named"), [("nowhere/runs.csv", "does not exist"), (".", "is a folder")])
def test_run_index_checks_the_csv_path_before_building_the_table(target: str, named: str, runs: Path, capsys) -> None:
    assert runs_command.main([str(runs / "logs"), "--csv", target]) == 2
    line = error_line(capsys)
    assert target in line and named in line


def test_run_index_lists_broken_runs_and_names_an_unreadable_config(runs: Path, tmp_path: Path, capsys) -> None:
    logs = tmp_path / "logs"
    for name in ("broken_config", "broken_events"):
        shutil.copytree(runs / "logs/tabular_mlp_binary/version_0", logs / name)
    (logs / "broken_config/config.yaml").write_text("model: [unclosed\n")
    for events in (logs / "broken_events").glob("events.out.tfevents.*"):
        events.write_bytes(events.read_bytes()[:40] + b"\xff" * 64)
    assert runs_command.main([str(logs)]) == 2
    captured = capsys.readouterr()
    rows = {line.split()[0]: line for line in captured.out.splitlines()[1:] if line.strip()}
    assert "config.yaml unreadable" in rows["broken_config"]
    assert "event file unreadable" in rows["broken_events"]
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken_config/config.yaml" in errors[0], captured.err


def test_unreachable_mlflow_server_fails_before_training(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", *tiny_args(epochs=1), "-c", config("presets/mlflow.yaml"))
    assert exit_info.value.code == 2
    line = error_line(capsys)
    assert "http://127.0.0.1:9" in line and "cannot be reached" in line
    assert not Path("logs").exists()


def test_status_names_how_a_run_ended_and_a_vanished_process_reads_as_crashed(
    runs: Path, tmp_path: Path, capsys
) -> None:
    assert status_of(SystemExit(128 + signal.SIGTERM)) == "stopped by SIGTERM"
    assert status_of(KeyboardInterrupt()) == "stopped by SIGINT"
    assert status_of(TrainingStopped("non-finite loss nan at step 3")) == "NaN stop"
    assert status_of(RuntimeError("CUDA error")) == "crashed"
    run = tmp_path / "logs/killed"
    shutil.copytree(runs / "logs/tabular_mlp_regression/version_0", run)
    record = json.loads((run / "status.json").read_text())
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid now names no process
    (run / "status.json").write_text(json.dumps(record | {"status": "running", "pid": gone.pid}))
    assert runs_command.main([str(tmp_path / "logs")]) == 0
    assert "crashed" in capsys.readouterr().out
