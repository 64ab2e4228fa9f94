"""What `blueprint runs` lists: one row per training run under logs/, read from its files, never a traceback.

Folders a `predict`, `validate` or `test` of a checkpoint wrote, and folders of TensorBoard events alone (the seeds
command's summary), are found too and named by their kind, but they are not runs to compare.
"""

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from blueprint.checkpointing.run_statuses import CRASHED, RUNNING, STATUS_FILE
from blueprint.cli.hparams import comparable_hparams
from blueprint.cli.provenance import PROVENANCE_FILE
from blueprint.errors import UserError

EVENTS = "events.out.tfevents.*"
UNKNOWN = "unknown"  # no status.json: a run from before blueprint wrote one, or one that never reached its first step
FIT = "fit"
SEEDS_SUMMARY = "seeds summary"  # <out_dir>/hparams that `blueprint seeds` wrote before, beside its summary table
SEEDS_TABLES = ("seeds_summary.md", "results.md")  # cli/seeds_command.py's SUMMARY table (results.md: older runs)
EVENTS_ONLY = "events only"  # TensorBoard files and nothing else: no config, status or checkpoint
SCALARS_ONLY = {"scalars": 0, "images": 1, "histograms": 1, "tensors": 1, "audio": 1, "compressedHistograms": 1}


@dataclass
class Run:
    """One run folder as read from disk; `problems` say what could not be read (shown in the table's note)."""

    folder: Path
    name: str
    group: str = ""  # the folder the run's version folder is in: its experiment (logs/<experiment>/version_N)
    kind: str = FIT  # or the subcommand that wrote the folder (predict, validate, test), SEEDS_SUMMARY, EVENTS_ONLY
    status: str = UNKNOWN
    commit: str = ""  # from provenance.json; empty when the record is missing or the run was outside git
    dirty: bool | None = None
    started: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    monitor: str = "val/loss"  # the config's checkpoint.monitor when it has one
    monitor_mode: str = "min"
    best: float | None = None
    tests: dict[str, float] = field(default_factory=dict)
    best_checkpoint: str = ""
    problems: list[str] = field(default_factory=list)
    config_error: str = ""


def find_runs(root: Path) -> list[Path]:
    """Folders under `root` (itself included) holding an event file, a config.yaml or a status.json."""
    if not root.is_dir():
        raise UserError(f"logs folder {str(root)!r} does not exist; give the folder your runs are in (default: logs)")
    marks = ("config.yaml", STATUS_FILE)
    found = [root, *sorted(p for p in root.rglob("*") if p.is_dir())]
    runs = [d for d in found if any((d / m).is_file() for m in marks) or any(d.glob(EVENTS))]
    if not runs:
        raise UserError(
            f"no runs under {str(root)!r}; train one first: uv run blueprint fit -c configs/<experiment>.yaml"
        )
    return runs


def read_run(folder: Path, root: Path) -> Run:
    """Everything the table shows about one run folder; only its kind for a folder that holds no training run."""
    relative = folder.relative_to(root) if folder != root else Path(folder.resolve().name)
    run = Run(folder=folder, name=str(relative), group=group_of(folder, root))
    read_status(run)
    keys = read_config(run)
    run.kind = read_provenance(run) or kind_from_files(run, keys)
    if run.kind != FIT:
        return run
    read_events(run)
    checkpoints = sorted((folder / "checkpoints").glob("best*.ckpt"), key=lambda p: p.stat().st_mtime)
    run.best_checkpoint = str(checkpoints[-1]) if checkpoints else ""
    if not run.started:
        run.started = time.strftime("%Y-%m-%d %H:%M", time.localtime(folder.stat().st_mtime))
    return run


def group_of(folder: Path, root: Path) -> str:
    """The folder above the run's: `mnist_mlp` for mnist_mlp/version_0, `mnist_mlp/seeds` for its seed runs."""
    relative = folder.relative_to(root)
    if str(relative.parent) != ".":
        return str(relative.parent)
    return root.resolve().name if folder != root else root.resolve().parent.name


def read_status(run: Run) -> None:
    """status.json (written by blueprint.callbacks.run_status.RunStatus); a `running` run whose process is gone
    crashed without a word (SIGKILL, out of memory, power loss)."""
    path = run.folder / STATUS_FILE
    if not path.is_file():
        return
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        run.problems.append(f"{STATUS_FILE} unreadable ({type(err).__name__})")
        return
    run.status = str(record.get("status", UNKNOWN))
    run.started = str(record.get("started", "")).replace("T", " ")[:16]
    if run.status == RUNNING and record.get("host") == socket.gethostname() and not _alive(record.get("pid")):
        run.status = CRASHED
        run.problems.append("its process ended without recording how")


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:  # someone else's process of that number
        return True
    return True


def read_provenance(run: Run) -> str:
    """The commit, from the record written with config.yaml; returns the subcommand that wrote the folder."""
    try:
        record = json.loads((run.folder / PROVENANCE_FILE).read_text())
        run.commit = str(record["git"].get("commit") or "")
        run.dirty = record["git"].get("dirty")
        return str(record.get("stage") or "")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ""  # older runs have none; a damaged record only hides the commit


def kind_from_files(run: Run, keys: set[str]) -> str:
    """For a folder without a provenance record: each subcommand's config has its own keys (fit: neither)."""
    if "return_predictions" in keys:
        return "predict"
    if "verbose" in keys:
        return "test" if (run.folder / STATUS_FILE).is_file() else "validate"
    if keys or (run.folder / "checkpoints").is_dir() or (run.folder / STATUS_FILE).is_file():
        return FIT
    if run.config_error:
        return FIT  # listed, so the unreadable file is seen
    near = [run.folder, *run.folder.parents[:2]]
    return SEEDS_SUMMARY if any((folder / name).is_file() for folder in near for name in SEEDS_TABLES) else EVENTS_ONLY


def read_config(run: Run) -> set[str]:
    """The options that tell runs apart (as TensorBoard's HPARAMS tab shows them) and the monitored metric; returns
    the config's top-level keys."""
    path = run.folder / "config.yaml"
    if not path.is_file():
        run.problems.append("no config.yaml")
        return set()
    try:
        config = yaml.safe_load(path.read_text())
        if not isinstance(config, dict):
            raise ValueError("not a YAML mapping")
    except (OSError, ValueError, yaml.YAMLError) as err:
        reason = " ".join(str(err).split())[:120]
        run.config_error = f"{path}: cannot read it ({reason}); fix or remove that file"
        run.problems.append("config.yaml unreadable")
        return set()
    run.options = flatten(comparable_hparams(config))
    checkpoint = config.get("checkpoint") or {}
    run.monitor = str(checkpoint.get("monitor") or "val/loss")
    run.monitor_mode = str(checkpoint.get("mode") or "min")
    return set(config)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"model": {"lr": 1}} -> {"model.lr": 1}."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return flat


def read_events(run: Run) -> None:
    """The best value of the monitored val metric and the last value of every test/ metric."""
    if not any(run.folder.glob(EVENTS)):
        run.problems.append("no event file")
        return
    try:
        with cut_off_records() as cut_off:
            events = EventAccumulator(str(run.folder), size_guidance=SCALARS_ONLY)
            events.Reload()
        if cut_off:
            run.problems.append("event file unreadable (cut off or corrupt): values after the damage are missing")
        wanted = [tag for tag in events.Tags()["scalars"] if tag == run.monitor or tag.startswith("test/")]
        values = {tag: [event.value for event in events.Scalars(tag)] for tag in wanted}
        if not run.started:
            run.started = time.strftime("%Y-%m-%d %H:%M", time.localtime(events.FirstEventTimestamp()))
    except Exception as err:  # noqa: BLE001 - a corrupt or truncated file is reported in the table, whatever tensorboard raises
        run.problems.append(f"event file unreadable ({type(err).__name__})")
        return
    series = values.get(run.monitor, [])
    if series:
        run.best = max(series) if run.monitor_mode == "max" else min(series)
    run.tests = {tag: series[-1] for tag, series in values.items() if tag.startswith("test/") and series}


class _Collect(logging.Handler):
    def __init__(self, found: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.found = found

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Truncated record"):
            self.found.append(record.getMessage())


@contextlib.contextmanager
def cut_off_records() -> Iterator[list[str]]:
    """tensorboard's reader stops quietly at a damaged record (it says so only at DEBUG level); collect those notes.

    The logger's own output is held back meanwhile: its notices about repeated graph events are noise here.
    """
    logger = logging.getLogger("tensorboard")
    found: list[str] = []
    handler, level, propagate = _Collect(found), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
