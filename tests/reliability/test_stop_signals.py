"""A stop signal delivered twice at once (Ctrl+C under `uv run`, a launcher forwarding SIGTERM) is one clean stop."""

import os
import re
import signal
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli
from tests.reliability.helpers import callback_option, tiny_args
from tests.reliability.processes import TRAINING, finish, read_until, start_tabular_fit, stop

STOPPED = re.compile(r"SIGINT received: saved (\S+) at step (\d+)")
STEP_MS = 500  # longer than the 200 ms after which uv forwards its own copy of the SIGINT


def test_sigterm_twice_within_milliseconds_is_one_clean_stop(tmp_path: Path) -> None:
    twice = callback_option("SignalAtStep", step=3, signum=int(signal.SIGTERM), times=2, gap_ms=5)
    with pytest.raises(SystemExit) as stopped:
        run_cli("fit", *tiny_args(twice))
    assert stopped.value.code == 143
    last = tmp_path / "logs/mnist_mlp/version_0/checkpoints/last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 3


def test_a_second_signal_after_the_first_was_acknowledged_stops_at_once(tmp_path: Path) -> None:
    """Ctrl+C pressed again 1.5 s later, before the step that got the first one ended: no checkpoint, exit 1."""
    again = callback_option("SignalAtStep", step=3, signum=int(signal.SIGINT), times=2, gap_ms=1500)
    with pytest.raises(SystemExit) as stopped:
        run_cli("fit", *tiny_args(again))
    assert stopped.value.code == 1
    assert not (tmp_path / "logs/mnist_mlp/version_0/checkpoints/last.ckpt").exists()


@pytest.mark.slow  # a fresh `uv run` process: 20-70 s on a busy 2-core machine, most of it importing torch/lightning
def test_ctrl_c_under_uv_run_saves_last_ckpt_at_the_step_it_stopped(tmp_path: Path) -> None:
    """uv forwards the SIGINT it got from the terminal 200 ms later: a step that lasts longer sees both."""
    run = start_tabular_fit(tmp_path, callback_option("SlowSteps", ms=STEP_MS))
    try:
        output = read_until(run, TRAINING).decode(errors="replace")
        os.killpg(run.pid, signal.SIGINT)  # what the terminal does: every process of the foreground group
        output += finish(run)
    finally:
        stop(run)
    assert run.returncode == 130, output[-3000:]
    stopped = STOPPED.search(output)
    assert stopped, output[-3000:]
    last = Path(stopped.group(1))
    assert last == tmp_path / "logs/tabular_mlp_binary/version_0/checkpoints/last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == int(stopped.group(2))
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
