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
