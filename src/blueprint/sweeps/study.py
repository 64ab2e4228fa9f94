"""The shared, resumable Optuna study behind `blueprint sweep`: storage, search-space check and the trial count.

Not a script itself. Every worker of a sweep opens the same storage and study; trials are numbered by the storage,
so `--trials N` is counted over all workers. A trial stopped by SIGTERM/SIGINT, or one whose process died (its
heartbeat stopped, SQL storage only), is marked failed and queued again with the same values.
"""

import datetime
import json
import socket
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from blueprint.checkpointing.atomic_io import process_exists
from blueprint.cli.sqlite_files import check_sqlite_file
from blueprint.errors import UserError

HEARTBEAT_S = 60  # a running trial records that it is alive this often (SQL storage)
# a trial taken up this recently is left alone: a queued copy names its dead worker until the new one records itself
TAKE_UP_S = 2.0
GRACE_S = 180  # a trial silent this long belongs to a dead process: it is marked failed and queued again
MAX_RETRIES = 3  # the same values are retried this often after stops or deaths, then left failed
SQLITE_WAIT_S = 60  # how long a worker waits for another's write lock on a SQLite file
with warnings.catch_warnings():  # marked experimental since Optuna 2.8
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    RETRY = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)


def open_storage(url: str | None, study_dir: Path) -> optuna.storages.BaseStorage:
    """A database URL (sqlite:///..., postgresql://...) or a journal file path; default: a SQLite file in study_dir."""
    if url is None:
        study_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{study_dir / 'study.db'}"
    if url.startswith("sqlite:///"):
        check_sqlite_file(Path(url.removeprefix("sqlite:///")), f"--storage {url!r}")
    try:
        if "://" not in url:
            return JournalStorage(JournalFileBackend(url))
        with warnings.catch_warnings():  # the heartbeat options are marked experimental since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url,
                engine_kwargs={"connect_args": {"timeout": SQLITE_WAIT_S}} if url.startswith("sqlite") else None,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=RETRY,
            )
    except Exception as err:  # SQLAlchemy's and the OS's errors vary by backend; all mean "cannot open"
        reason = " ".join(str(err).split())[:200]
        raise UserError(
            f"--storage {url!r}: Optuna cannot open it ({reason}); give sqlite:///PATH/study.db or a journal file "
            "such as sweeps/study.log, in an existing folder, or a database URL"
        ) from None


def space_key(params: list[str], sets: list[str], monitor: str) -> str:
    """What a study is about, kept in the study: workers and restarts must search the same space the same way."""
    return json.dumps({"param": sorted(params), "set": sorted(sets), "monitor": monitor})


Direction = Literal["minimize", "maximize"]


def open_study(
    storage: optuna.storages.BaseStorage, name: str, space: str, direction: Direction, seed: int
) -> optuna.Study:
    """Create the study, or join it if its search space is this one; refuse a study of another space.

    The sampler's seed is `seed` plus the trials already there: a fresh sweep repeats, and a worker that joins later
    does not draw the same values as the first.
    """
    study = optuna.create_study(storage=storage, study_name=name, direction=direction, load_if_exists=True)
    study = optuna.load_study(
        storage=storage,
        study_name=name,
        sampler=optuna.samplers.TPESampler(seed=seed + len(study.trials)),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    if study.direction.name.lower() != direction:
        raise UserError(f"--study_name {name!r} exists to {study.direction.name.lower()}, this run would {direction}")
    known = study.user_attrs.get("search_space")
    if known is None:
        study.set_user_attr("search_space", space)
    elif known != space:
        raise UserError(
            f"--study_name {name!r} exists in this storage with another search space ({describe(known, space)}); "
            "pass a new --study_name (or --study_dir), or the same --param/--set as that study"
        )
    return study


def describe(known: str, space: str) -> str:
    """The first difference between two search spaces, as the user typed them."""
    old, new = json.loads(known), json.loads(space)
    for key in old:
        if old[key] != new[key]:
            return f"it has --{key} {as_typed(old[key])}, this run {as_typed(new[key])}"
    return "they differ"


def as_typed(value: str | list[str]) -> str:
    return " ".join(value) if isinstance(value, list) else value


def takes_a_place(trial: FrozenTrial) -> bool:
    """Finished, running, queued, or failed for its own values; not one stopped early (it is queued again)."""
    if trial.state == TrialState.FAIL:
        return "failed" in trial.user_attrs
    return True


def places_taken(study: optuna.Study, before: int | None = None) -> int:
    """Trials that count towards --trials (of those numbered below `before`); queued ones count only there."""
    trials = study.get_trials(deepcopy=False)
    if before is None:  # a queued trial needs a worker to run it: it does not end the sweep
        return sum(takes_a_place(t) for t in trials if t.state != TrialState.WAITING)
    return sum(takes_a_place(t) for t in trials if t.number < before)


def fail_dead_trials(study: optuna.Study) -> None:
    """Mark trials of dead workers failed and queue them again: at once for a worker of this machine whose process is
    gone (killed, out of memory), else when Optuna's heartbeat has been silent for GRACE_S (SQL storage only)."""
    host = socket.gethostname()
    settled = datetime.datetime.now() - datetime.timedelta(seconds=TAKE_UP_S)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        name, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        started = trial.datetime_start
        if name != host or not pid.isdigit() or process_exists(int(pid)) or (started and started > settled):
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # another worker of this machine failed it first (and queued it again)
        RETRY(study, trial)
        print(f"trial {trial.number}: its worker (process {pid} here) is gone; it is queued again", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def retry_later(study: optuna.Study, number: int) -> None:
    """Queue a trial stopped by a signal again with the same values, as Optuna does for a dead worker's trial."""
    RETRY(study, next(t for t in study.get_trials(deepcopy=False) if t.number == number))


def stop_when_all_taken(trials: int) -> Callable[[optuna.Study, FrozenTrial], None]:
    """Optuna callback: this worker stops once finished and running trials (of all workers) reach --trials."""

    def callback(study: optuna.Study, trial: FrozenTrial) -> None:
        if places_taken(study) >= trials:
            study.stop()

    return callback
