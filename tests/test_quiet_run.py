"""A default run prints the run, not a wall of upstream notices (warnings, deprecations, advertisements)."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import config

NOISE = ("Warning", "warn(", "Tip:", "LeafSpec", "deprecated")


@pytest.mark.slow  # a real process, as a user starts it (pytest's own warning filters would hide the wall)
def test_a_default_fit_prints_no_upstream_warnings(tmp_path: Path) -> None:
    args = ["fit", "-c", config("mnist_mlp.yaml"), "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3"]
    args += ["--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.enable_progress_bar", "false"]
    result = subprocess.run(
        [sys.executable, "-m", "blueprint.cli", *args], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    noisy = [line for line in output.splitlines() if any(word in line for word in NOISE)]
    assert noisy == [], "\n".join(noisy)
    assert (tmp_path / "mnist_mlp" / "version_0" / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow  # 20 epochs and a predict, each a real process writing to a file (as under a scheduler or CI)
def test_a_run_logged_to_a_file_writes_a_line_per_epoch_and_predict_warns_nothing(tmp_path: Path) -> None:
    """Without a terminal the progress bar prints one line per epoch, not every redraw (28 KB here before, for a
    20-epoch run of 3 batches). `predict` of a default run's best checkpoint warned twice about Lightning's state."""
    logs = str(tmp_path / "logs")
    fit = ["fit", "-c", config("mnist_mlp.yaml"), "--trainer.logger.init_args.save_dir", logs]
    fit += ["--trainer.limit_train_batches=3", "--trainer.limit_val_batches=2", "--trainer.limit_test_batches=2"]
    output = run_to_file(tmp_path / "fit.log", fit)
    assert (tmp_path / "fit.log").stat().st_size < 20_000
    epochs = [line for line in output.splitlines() if line.startswith("Epoch ")]
    assert [line.split(":")[0] for line in epochs] == [f"Epoch {n}" for n in range(20)]
    assert all(" val/acc " in line for line in epochs)
    best = next((tmp_path / "logs/mnist_mlp/version_0/checkpoints").glob("best*.ckpt"))
    predict = ["predict", "-c", config("mnist_mlp.yaml"), f"--ckpt_path={best}"]
    output = run_to_file(tmp_path / "predict.log", predict)
    assert "The dirpath has changed" not in output and "Couldn't infer the batch indices" not in output
    assert not [line for line in output.splitlines() if any(word in line for word in NOISE)], output
    assert (tmp_path / "logs/mnist_mlp/version_1/predictions.csv").is_file()


def run_to_file(log: Path, args: list[str]) -> str:
    """Run `blueprint ARGS` with stdout and stderr going to `log`; its text."""
    with log.open("w") as file:
        done = subprocess.run(
            [sys.executable, "-m", "blueprint.cli", *args], cwd=log.parent, stdout=file, stderr=subprocess.STDOUT,
            timeout=600,
        )  # fmt: skip
    text = log.read_text()
    assert done.returncode == 0, text[-2000:]
    return text
