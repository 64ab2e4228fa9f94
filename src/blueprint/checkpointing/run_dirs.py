"""Where runs live: each fit gets logs/<name>/version_N; `--ckpt_path last` continues the newest one in place."""

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.rank_zero import rank_zero_info, rank_zero_only

from blueprint.checkpointing.atomic_io import remove_stale_temp_files
from blueprint.checkpointing.run_lock import hold_run_lock
from blueprint.errors import UserError

LAST = "last.ckpt"


def last_checkpoint_path(trainer: L.Trainer) -> str:
    """Where `--ckpt_path last` looks: the ModelCheckpoint's last.ckpt, else <log dir>/checkpoints/last.ckpt."""
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.dirpath:
        return os.path.join(callback.dirpath, callback.CHECKPOINT_NAME_LAST + callback.FILE_EXTENSION)
    return os.path.join(trainer.log_dir or trainer.default_root_dir, "checkpoints", LAST)


def logger_args(config: Any) -> Any | None:
    """init_args of the single configured logger that has save_dir/name (TensorBoardLogger, CSVLogger), else None."""
    logger = config.trainer.get("logger")
    if isinstance(logger, list) and logger:
        logger = logger[0]
    init_args = getattr(logger, "init_args", None)
    return init_args if init_args is not None and "save_dir" in init_args else None


def _checkpoint_dirpath(config: Any) -> str | None:
    """An explicitly fixed ModelCheckpoint dirpath, if the config sets one (in `checkpoint` or trainer.callbacks)."""
    forced = config.get("checkpoint")
    if forced is not None and forced.get("dirpath"):
        return str(forced.dirpath)
    for callback in config.trainer.get("callbacks") or []:
        if str(getattr(callback, "class_path", "")).endswith("ModelCheckpoint") and callback.init_args.get("dirpath"):
            return str(callback.init_args.dirpath)
    return None


def run_root(config: Any) -> Path:
    """The folder that holds this experiment's version_N runs."""
    args = logger_args(config)
    if args is None:
        return Path(config.trainer.get("default_root_dir") or ".") / "lightning_logs"
    return logger_root(args)


def logger_root(args: Any) -> Path:
    """save_dir/name of a logger's init_args: the folder its version_N runs go into."""
    return Path(args.save_dir) / (args.get("name") or "")


def version_folder(version: int | str) -> str:
    """A logger version's folder name: a str names it, an int N means version_N (as TensorBoardLogger does)."""
    return version if isinstance(version, str) else f"version_{version}"


def next_version(root: Path) -> int:
    """The number TensorBoardLogger would give the next run in `root`: one more than the highest version_N."""
    return max(map(_version_number, root.glob("version_*")), default=-1) + 1


def check_writable(config: Any) -> None:
    """Fail before anything is created when the log directory cannot be written."""
    root = run_root(config)
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a directory")
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".write-test-")
        os.close(handle)
        os.unlink(probe)
    except OSError as err:
        raise UserError(
            f"log directory {str(root)!r} is not writable ({err}); set a writable "
            + (
                "--trainer.logger.init_args.save_dir"
                if logger_args(config) is not None
                else "--trainer.default_root_dir"
            )
        ) from err


def fixed_version_dir(config: Any) -> Path | None:
    """The run folder of a fixed logger version (a str names it; an int N means version_N), or None when unset."""
    args = logger_args(config)
    if args is None or args.get("version") is None:
        return None
    return run_root(config) / version_folder(args.version)


def check_fixed_version_is_new(config: Any) -> None:
    """A fresh fit into a fixed logger version that already holds a run would mix two runs' files: refuse."""
    run = fixed_version_dir(config)
    if run is None or config.get("ckpt_path"):
        return
    if run.is_dir() and any(run.iterdir()):
        version = logger_args(config).version  # type: ignore[union-attr]  # set: fixed_version_dir found it
        raise UserError(
            f"--trainer.logger.init_args.version={version}: {str(run)!r} already holds a run; choose an unused "
            "version, leave it unset for the next free one, or continue that run with --ckpt_path last"
        )


def _version_number(path: Path) -> int:
    match = re.fullmatch(r"version_(\d+)", path.name)
    return int(match.group(1)) if match else -1


def resolve_last(config: Any, subcommand: str) -> tuple[str, int | None]:
    """Path of the newest run's last.ckpt (its newest checkpoint where last.ckpt was never written) and its version.

    Says which run it picked and why, and removes temp files that killed writers left next to the checkpoints (in
    the picked run only once `fit` holds its lock, on rank 0: a second resume of a run is refused).
    Raises UserError when there is nothing to resume: `last` never silently starts a fresh run.
    """
    candidates = _last_candidates(config)
    reasons = ["newest run with a last.ckpt"] if len(candidates) > 1 else []
    for path, version in candidates:
        if not path.is_file():
            newest = newest_checkpoint(path.parent)
            if newest is None:
                removed = remove_stale_temp_files(path.parent)
                reasons.append(f"{path.parent.parent.name} has none" + _cut_off(", its write", removed))
                continue
            # killed before its first last.ckpt was written: its newest checkpoint (a best one) still resumes it
            reasons = [r for r in reasons if r != "newest run with a last.ckpt"]
            reasons.append(f"its {LAST} was never written, so its newest checkpoint")
            path = newest
        if subcommand == "fit" and getattr(rank_zero_only, "rank", 0) == 0:  # set by Lightning from the env
            hold_run_lock(path.parent.parent if path.parent.name == "checkpoints" else path.parent)
            removed = remove_stale_temp_files(path.parent)  # only now: no other resume of this run is writing
            reasons += [_cut_off("a later write there", removed)] if removed else []
        rank_zero_info(f"{subcommand}: resuming {path}" + (f" ({'; '.join(reasons)})" if reasons else ""))
        return str(path), version
    where = candidates[0][0] if len(candidates) == 1 else run_root(config) / "version_*" / "checkpoints" / LAST
    raise UserError(
        f"--ckpt_path last: no checkpoint found at {where}; start a fresh run without --ckpt_path, "
        "or pass the path of a .ckpt file"
    )


def newest_checkpoint(folder: Path) -> Path | None:
    """The most recently written .ckpt in `folder`, if any (temp files of killed writers start with a dot)."""
    found = [path for path in folder.glob("[!.]*.ckpt") if path.is_file()] if folder.is_dir() else []
    return max(found, key=lambda path: path.stat().st_mtime) if found else None


def _last_candidates(config: Any) -> list[tuple[Path, int | None]]:
    """Where `last` may be, newest run first, with each run's version number (None for a fixed folder)."""
    fixed = _checkpoint_dirpath(config)
    fixed_run = fixed_version_dir(config)
    if fixed:
        return [(Path(fixed) / LAST, None)]
    if config.trainer.get("logger") is False:  # no run folders: ModelCheckpoint writes <default_root_dir>/checkpoints
        return [(Path(config.trainer.get("default_root_dir") or ".") / "checkpoints" / LAST, None)]
    if fixed_run is not None:
        return [(fixed_run / "checkpoints" / LAST, None)]
    runs = sorted((p for p in run_root(config).glob("version_*") if _version_number(p) >= 0), key=_version_number)
    return [(run / "checkpoints" / LAST, _version_number(run)) for run in reversed(runs)]


def _cut_off(what: str, removed: list[Path]) -> str:
    """'<what> was cut off: removed .last.ckpt.tmp-42' tells why a temp file is gone; nothing when none was."""
    return f"{what} was cut off: removed {', '.join(p.name for p in removed)}" if removed else ""


def next_config_name(config: Any, version: int) -> str:
    """A resumed run keeps its original config.yaml and saves its own next to it (config_resume_K.yaml)."""
    run = run_root(config) / f"version_{version}"
    k = 1
    while (run / f"config_resume_{k}.yaml").exists():
        k += 1
    return f"config_resume_{k}.yaml"
