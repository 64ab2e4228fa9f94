"""Runs of the real `blueprint` command in their own process group, as a terminal or a scheduler starts them."""

import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, config

UV = shutil.which("uv")
TRAINING = b"Epoch "  # the progress bar names the epoch once every on_train_start hook (signal handlers) has run


def tabular_fit_args(root: Path, *extra: str) -> list[str]:
    """Options of a fit of the breast-cancer MLP (steps of a few ms) that trains until stopped; logs under root."""
    return [
        "-c",
        config("tabular_mlp_binary.yaml"),
        "--trainer.max_epochs=100000",
        "--test_after_fit=false",
        f"--trainer.logger.init_args.save_dir={root / 'logs'}",
        *extra,
    ]


def start_tabular_fit(root: Path, *extra: str, launcher: tuple[str, ...] = ()) -> subprocess.Popen:
    """`uv run blueprint fit` (or `launcher fit`) with tabular_fit_args, in a new process group, output piped."""
    if not launcher and UV is None:
        pytest.skip("uv is not on PATH")
    command = launcher or (str(UV), "run", "--project", str(REPO), "blueprint")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}  # tests.* importable
    return subprocess.Popen(
        [*command, "fit", *tabular_fit_args(root, *extra)],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def read_until(process: subprocess.Popen, marker: bytes, timeout: float = 120.0) -> bytes:
    """Output of `process` up to and including `marker`; fails the test if it exits or times out first."""
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            stop(process)
            pytest.fail(f"no {marker!r} within {timeout:.0f} s; output:\n{seen.decode(errors='replace')[-3000:]}")
        ready, _, _ = select.select([process.stdout], [], [], left)
        chunk = os.read(process.stdout.fileno(), 65536) if ready else b""
        if ready and not chunk:
            process.wait()
            pytest.fail(f"exited {process.returncode} before {marker!r}:\n{seen.decode(errors='replace')[-3000:]}")
        seen += chunk
    return seen


def finish(process: subprocess.Popen, timeout: float = 60.0) -> str:
    """The rest of the output once the process has exited."""
    try:
        rest, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        raise
    return rest.decode(errors="replace")


def stop(process: subprocess.Popen) -> None:
    """Kill the whole process group (uv and the run), so a failed test leaves nothing running."""
    if process.poll() is None:
        os.killpg(process.pid, 9)
        process.wait()
