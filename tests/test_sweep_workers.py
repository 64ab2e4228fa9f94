"""`blueprint sweep` as a shared, resumable study: two worker processes split one SQLite study, and a sweep stopped by
SIGTERM mid-trial runs only the remaining trials when started again (the stopped trial is retried with its values).

Each test starts one real `blueprint sweep` process; the other worker (or the restart) runs in this process.
Trials are a few steps of the breast-cancer MLP.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import lightning as L
import optuna
import pytest

from blueprint.sweeps import command as sweep_command
from tests.conftest import REPO, config
from tests.fast import QUIET
from tests.scripts import BLUEPRINT

TRIAL_ARGS = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=3",
    "--trainer.limit_val_batches=1",
    "--model.init_args.net.init_args.hidden=[8]",
    *QUIET,
]
COUNTED = ("COMPLETE", "PRUNED")


class SigtermInTrial(L.Callback):
    """SIGTERM to this process at a training step of one trial only, as a scheduler preempting the job would."""

    def __init__(self, trial: str, step: int) -> None:
        self.trial, self.step = trial, step

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.logger is not None and trainer.logger.version == self.trial and trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


class SigkillInTrial(SigtermInTrial):
    """SIGKILL instead: the worker dies without a word, as the out-of-memory killer ends it."""

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.logger is not None and trainer.logger.version == self.trial and trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class WaitForTrial(L.Callback):
    """In trial `mine`, hold training until another worker's trial `other` has started: both workers run trials."""

    def __init__(self, mine: str, other: str) -> None:
        self.mine, self.other = mine, other

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.logger is None or trainer.logger.version != self.mine or trainer.log_dir is None:
            return
        other = Path(trainer.log_dir).parent / self.other
        deadline = time.monotonic() + 120
        while not other.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def callback(name: str, **init_args: object) -> str:
    """Trial args appending one of the callbacks above (the worker process imports this module)."""
    spec = {"class_path": f"tests.test_sweep_workers.{name}", "init_args": init_args}
    return f"--trainer.callbacks+={json.dumps(spec)}"


def sweep_args(root: Path, trials: int, *trial_args: str) -> list[str]:
    lr = "--param=model.init_args.optimizer.init_args.lr=loguniform:1e-4:1e-1"
    out = [f"--study_dir={root / 'sweep'}", f"--best_config={root / 'best.yaml'}"]
    return ["-c", config("tabular_mlp_binary.yaml"), lr, f"--trials={trials}", *out, "--", *TRIAL_ARGS, *trial_args]


def start_worker(root: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}  # tests.* importable for the callback
    command = [*BLUEPRINT, "sweep", *args]
    return subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def study(root: Path) -> optuna.Study:
    return optuna.load_study(study_name="sweep", storage=f"sqlite:///{root / 'sweep' / 'study.db'}")


def wait_for_a_running_trial(root: Path, worker: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until the worker has joined the study and its first trial is training (its torch import takes seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        if (root / "sweep" / "trials" / "trial_000").exists():  # the trial's logger made it as its fit started
            return
        time.sleep(0.05)
    worker.kill()
    pytest.fail(f"the worker started no trial; it said:\n{worker.communicate()[1][-3000:]}")


@pytest.mark.slow  # two real worker processes (~14 s); the killed-worker and SIGTERM tests share a study by default
def test_two_workers_share_one_study_and_run_exactly_the_trials_asked(tmp_path: Path) -> None:
    args = sweep_args(tmp_path, 3)
    other = start_worker(tmp_path, [*args, callback("WaitForTrial", mine="trial_000", other="trial_001")])
    wait_for_a_running_trial(tmp_path, other)
    sweep_command.main(args)
    _, err = other.communicate(timeout=300)
    assert other.returncode == 0, err[-3000:]
    trials = study(tmp_path).trials
    assert sum(t.state.name in COUNTED for t in trials) == 3
    assert len({t.user_attrs["worker"] for t in trials if t.state.name in COUNTED}) == 2  # both did some
    assert sorted(p.name for p in (tmp_path / "sweep" / "trials").iterdir()) == [f"trial_00{n}" for n in range(3)]
    assert (tmp_path / "best.yaml").is_file() and (tmp_path / "best_history.png").is_file()


def test_a_sweep_stopped_by_sigterm_mid_trial_runs_only_the_remaining_trials_when_restarted(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = sweep_args(tmp_path, 2, callback("SigtermInTrial", trial="trial_001", step=1))
    first = start_worker(tmp_path, args)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 143, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("error: trial 1 stopped by SIGTERM: it is queued again")
    before = study(tmp_path).trials
    assert [t.state.name for t in before] == ["COMPLETE", "FAIL", "WAITING"]
    assert before[2].params == before[1].params  # the stopped trial's values, queued again

    sweep_command.main(args)  # the same command again
    after = study(tmp_path).trials
    assert [t.state.name in COUNTED for t in after] == [True, False, True]
    assert after[0].datetime_complete == before[0].datetime_complete  # trial 0 was not run again
    assert after[2].params == before[1].params
    assert "trial 1" not in capsys.readouterr().err


def test_a_trial_whose_worker_was_killed_is_queued_again_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """No wait for Optuna's heartbeat: the dead worker's PID on this machine says its trial will never finish."""
    args = sweep_args(tmp_path, 2)
    killed = start_worker(tmp_path, [*args, callback("SigkillInTrial", trial="trial_001", step=1)])
    killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert [t.state.name for t in study(tmp_path).trials] == ["COMPLETE", "RUNNING"]

    monkeypatch.setattr("blueprint.sweeps.study.TAKE_UP_S", 0.0)  # the killed trial may have started a second ago
    sweep_command.main(args)  # the same command again, at once
    after = study(tmp_path).trials
    assert [t.state.name for t in after] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert after[2].params == after[1].params  # the killed trial's values, run again
    assert f"trial 1: its worker (process {killed.pid} here) is gone" in capsys.readouterr().err
