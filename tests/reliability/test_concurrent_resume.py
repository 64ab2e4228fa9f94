"""One process at a time continues a run: a second `fit --ckpt_path last` is refused before it writes anything."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.reliability.helpers import snapshot, tiny_args
from tests.reliability.processes import TRAINING, finish, read_until, start_tabular_fit, stop, tabular_fit_args

RUN = "logs/tabular_mlp_binary/version_0"
HOLDER = (  # another process that holds a run's lock the way `fit --ckpt_path last` does, and starts in a second
    "import sys, time; from pathlib import Path; from blueprint.checkpointing.run_lock import hold_run_lock; "
    "hold_run_lock(Path(sys.argv[1])); print('held', flush=True); time.sleep(600)"
)


def test_a_resume_of_a_run_another_process_holds_is_refused_until_that_process_is_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run_cli("fit", *tiny_args(epochs=1))
    run = tmp_path / "logs/mnist_mlp/version_0"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, start_new_session=True)
    try:
        read_until(holder, b"held", timeout=60)
        before = snapshot(run)
        capsys.readouterr()
        with pytest.raises(SystemExit) as refused:
            run_cli("fit", *tiny_args("--ckpt_path=last", epochs=2))
        assert snapshot(run) == before
    finally:
        stop(holder)  # SIGKILL: no clean-up ran, its lock file stays behind
    assert refused.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-3000:]
    assert "run folder 'logs/mnist_mlp/version_0'" in errors[0] and f"PID {holder.pid}" in errors[0], errors[0]
    resumed = run_cli("fit", *tiny_args("--ckpt_path=last", epochs=2))  # the lock went with its process
    assert resumed.trainer.global_step == 10
    assert not (run / ".resume.lock").exists()


def written_by_this_process(new_files: set[Path]) -> list[Path]:
    """Of files new in the run folder, those not from the running first resume (event files name the writer's PID)."""
    return [p for p in new_files if str(os.getpid()) in p.name or p.name in ("config_resume_2.yaml", ".resume.lock")]


@pytest.mark.slow  # a fresh `python -m blueprint.cli` process: 25-35 s on a busy 2-core machine, mostly imports
def test_a_second_resume_of_a_running_run_is_refused_before_it_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run_cli("fit", *tabular_fit_args(tmp_path, "--trainer.max_epochs=1"))
    first = start_tabular_fit(tmp_path, "--ckpt_path=last", launcher=(sys.executable, "-m", "blueprint.cli"))
    try:
        read_until(first, TRAINING)
        capsys.readouterr()
        before = set((tmp_path / RUN).rglob("*"))
        with pytest.raises(SystemExit) as refused:
            run_cli("fit", *tabular_fit_args(tmp_path, "--ckpt_path=last", "--trainer.max_time=00:00:00:05"))
        err = capsys.readouterr().err
        new_files = set((tmp_path / RUN).rglob("*")) - before
        os.killpg(first.pid, signal.SIGTERM)  # the first run is unaffected: it stops cleanly when asked
        output = finish(first)
    finally:
        stop(first)
    assert refused.value.code == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-3000:]
    assert str(tmp_path / RUN) in errors[0] and f"PID {first.pid}" in errors[0], errors[0]
    assert written_by_this_process(new_files) == []
    assert first.returncode == 143, output[-3000:]
    assert not (tmp_path / RUN / ".resume.lock").exists()
