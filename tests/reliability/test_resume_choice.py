"""`--ckpt_path last` says which run it resumes and why, and removes the temp files of killed checkpoint writers."""

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.reliability.helpers import tiny_args

RUNS = "logs/mnist_mlp"


def dead_pid() -> int:
    """The PID of a process that has exited, as a writer killed mid-checkpoint has."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


@pytest.fixture
def lightning_info(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Lightning's info lines (rank_zero_info), which go to its own handler and not up to the root logger."""
    logger = logging.getLogger("lightning.pytorch")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def test_last_skips_a_run_whose_first_write_was_cut_off_and_says_why(tmp_path: Path, lightning_info) -> None:
    run_cli("fit", *tiny_args(epochs=1))
    last = Path(RUNS) / "version_0/checkpoints/last.ckpt"
    killed = tmp_path / RUNS / "version_1/checkpoints"  # a newer run killed while writing its first last.ckpt
    killed.mkdir(parents=True)
    cut_off = killed / f".last.ckpt.tmp-{dead_pid()}"
    cut_off.write_bytes(last.read_bytes()[:-1000])
    live = killed / f".best-epoch=00.ckpt.tmp-{os.getpid()}"  # a writer that still runs keeps its file
    live.write_bytes(b"being written")
    overwrite = last.with_name(f".last.ckpt.tmp-{dead_pid()}")  # the picked run was killed overwriting last.ckpt
    overwrite.write_bytes(last.read_bytes()[:-1000])
    resumed = run_cli("fit", *tiny_args("--ckpt_path=last", epochs=2))
    assert resumed.trainer.global_step == 10
    expected = (
        f"fit: resuming {last} (newest run with a last.ckpt; version_1 has none, its write was cut off: "
        f"removed {cut_off.name}; a later write there was cut off: removed {overwrite.name})"
    )
    assert expected in lightning_info.messages, lightning_info.messages
    assert not cut_off.exists() and not overwrite.exists() and live.exists()


def test_last_resumes_the_newest_checkpoint_of_a_run_killed_before_its_last_ckpt(
    tmp_path: Path, lightning_info
) -> None:
    """Killed while writing its first last.ckpt, a run with a best checkpoint continues from it, in its own folder."""
    run_cli("fit", *tiny_args(epochs=1))
    checkpoints = Path(RUNS) / "version_0/checkpoints"
    last = checkpoints / "last.ckpt"
    cut_off = checkpoints / f".last.ckpt.tmp-{dead_pid()}"
    last.rename(cut_off)  # as SIGKILL leaves it: the temp file, no last.ckpt
    [best] = [path for path in checkpoints.glob("best-*.ckpt")]
    resumed = run_cli("fit", *tiny_args("--ckpt_path=last", epochs=2))
    assert resumed.trainer.global_step == 10  # 5 steps restored from the best checkpoint, 5 more
    assert resumed.trainer.logger.log_dir.endswith("version_0") and not (tmp_path / RUNS / "version_1").exists()
    expected = (
        f"fit: resuming {best} (its last.ckpt was never written, so its newest checkpoint; "
        f"a later write there was cut off: removed {cut_off.name})"
    )
    assert expected in lightning_info.messages, lightning_info.messages
    assert not cut_off.exists() and last.is_file()
