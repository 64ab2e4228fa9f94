"""What reproduces a run, written next to its config.yaml: provenance.json (git commit, whether the tree was dirty,
uv.lock's hash, Python/torch/Lightning versions, the device, the command line) and, for a dirty tree, git_diff.patch.

Git runs in the current working directory (where `uv run blueprint ...` is started); outside a checkout, or without
git, the record says so. Imports only the standard library at the top: `blueprint runs` reads the record's name here
without starting torch or Lightning.
"""

import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightning.pytorch import Trainer

PROVENANCE_FILE = "provenance.json"
GIT_TIMEOUT_S = 5  # a hung git (a network filesystem, a lock) must not hold the run back for long
MAX_UNTRACKED_NAMES = 100  # listed by name in the record; the patch lists them all
MLFLOW_TAG_LENGTH = 5000  # MLflow refuses longer tag values on older servers


class NoGit(Exception):
    """Why there is no commit to record: no git, no checkout, no commit yet, git too slow."""


def record_names(config_filename: str) -> tuple[str, str]:
    """config.yaml -> provenance.json, git_diff.patch; a resume's config_resume_2.yaml -> provenance_resume_2.json,
    git_diff_resume_2.patch, so a resumed run keeps the first record beside its own."""
    suffix = Path(config_filename).stem.removeprefix("config")
    return f"provenance{suffix}.json", f"git_diff{suffix}.patch"


def git(*args: str) -> bytes:
    """One git command in the current working directory: its stdout, or NoGit with the first line git wrote."""
    try:
        done = subprocess.run(["git", *args], capture_output=True, timeout=GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise NoGit("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise NoGit(f"git {args[0]} did not answer within {GIT_TIMEOUT_S} s") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise NoGit(lines[0] if lines else f"git {args[0]} exited with {done.returncode}")
    return done.stdout


def git_state(run_dir: Path, diff_name: str) -> dict[str, Any]:
    """The commit, and whether tracked files differ from it or untracked ones exist; a dirty tree's diff against the
    commit (binary changes included, so `git apply` restores it) goes to run_dir/diff_name."""
    try:
        top = Path(git("rev-parse", "--show-toplevel").decode().strip())
    except NoGit as why:  # no git, git too slow, or (git's words) "not a git repository"
        outside = "not a git repository" in str(why)
        return {"commit": None, "note": f"not a git checkout: {os.getcwd()}" if outside else str(why)}
    try:
        commit = git("rev-parse", "HEAD").decode().strip()
        diff = git("-c", "core.quotepath=off", "diff", "HEAD", "--binary", "--no-ext-diff", "--no-color")
        untracked = git("-C", str(top), "-c", "core.quotepath=off", "ls-files", "--others", "--exclude-standard")
    except NoGit as why:  # e.g. a new repository with no commit yet
        return {"commit": None, "note": f"no commit to record: {why}"}
    own = run_dir.resolve()  # this run's own files, where logs/ is not git-ignored, do not make the tree dirty
    names = [name for name in untracked.decode(errors="replace").splitlines() if own not in (top / name).parents]
    state: dict[str, Any] = {"commit": commit, "dirty": bool(diff or names)}
    if state["dirty"]:
        header = "".join(f"# untracked, not in this patch: {name}\n" for name in names)
        (run_dir / diff_name).write_bytes(header.encode() + diff)  # git apply skips the lines before the first diff
        state |= {"diff": diff_name, "untracked": names[:MAX_UNTRACKED_NAMES], "untracked_count": len(names)}
    return state


def uv_lock() -> dict[str, Any]:
    """sha256 of the first uv.lock in the working directory or above it (where uv finds the project's)."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        lock = folder / "uv.lock"
        if lock.is_file():
            return {"path": str(lock), "sha256": hashlib.sha256(lock.read_bytes()).hexdigest()}
    return {"path": None, "note": f"no uv.lock in {Path.cwd()} or above"}


def device(trainer: "Trainer") -> dict[str, Any]:
    """The accelerator, the device's name and how many a run uses (rank zero's device under DDP)."""
    import torch

    root = trainer.strategy.root_device
    name = root.type  # mps, xla: the type is all torch tells
    if root.type == "cuda":
        name = torch.cuda.get_device_name(root)
    elif root.type == "cpu":
        name = cpu_name()
    return {"accelerator": root.type, "name": name, "devices": trainer.num_devices, "nodes": trainer.num_nodes}


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def provenance(trainer: "Trainer", stage: str, run_dir: Path, diff_name: str) -> dict[str, Any]:
    import lightning
    import torch

    return {
        "stage": stage,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": shlex.join(sys.orig_argv),  # the process's own: in-process callers (seeds, sweeps) rewrite argv
        "cwd": os.getcwd(),
        "git": git_state(run_dir, diff_name),
        "uv_lock": uv_lock(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,  # with its build's local label: 2.5.1+cu124, +cpu
            "lightning": lightning.__version__,
            "cuda": torch.version.cuda,  # the CUDA torch was built with; None for a CPU-only build
        },
        "device": device(trainer),
    }


def write_provenance(run_dir: str, config_filename: str, trainer: "Trainer", stage: str) -> None:
    """provenance.json (and git_diff.patch for a dirty tree) in the run folder; MLflow runs get the same as tags, and
    both files as artifacts. Called on rank zero when config.yaml is written."""
    from lightning.pytorch.loggers import MLFlowLogger

    folder = Path(run_dir)
    record_name, diff_name = record_names(config_filename)
    record = provenance(trainer, stage, folder, diff_name)
    (folder / record_name).write_text(json.dumps(record, indent=1) + "\n")
    for logger in trainer.loggers:
        if isinstance(logger, MLFlowLogger) and logger.run_id is not None:
            tag_mlflow_run(logger, record)
            for name in (record_name, record["git"].get("diff")):
                if name:
                    logger.experiment.log_artifact(logger.run_id, str(folder / name))


def tag_mlflow_run(logger: Any, record: dict[str, Any]) -> None:
    """The record as MLflow tags named like its keys (`git/commit`, `versions/torch`, ...), in one request; the
    commit also as MLflow's own `mlflow.source.git.commit`, which its run page shows."""
    from mlflow.entities import RunTag

    tags = {key: str(value)[:MLFLOW_TAG_LENGTH] for key, value in flatten(record).items() if value is not None}
    if record["git"].get("commit"):
        tags["mlflow.source.git.commit"] = record["git"]["commit"]
    logger.experiment.log_batch(logger.run_id, tags=[RunTag(key, value) for key, value in tags.items()])


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"git": {"commit": c}} -> {"git/commit": c}; lists become one comma-separated value."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else key
        if isinstance(value, dict):
            flat |= flatten(value, name)
        else:
            flat[name] = ", ".join(map(str, value)) if isinstance(value, list) else value
    return flat
