"""Each run folder records what reproduces it: the git commit, a dirty tree's diff, uv.lock's hash, versions, device."""

import hashlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

import lightning
import pytest
import torch

from blueprint.cli import runs_command
from tests.fast import fit

GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]


def git(*args: str) -> str:
    return subprocess.run([*GIT, *args], capture_output=True, text=True, check=True).stdout.strip()


def record(run: Path) -> dict:
    return json.loads((run / "provenance.json").read_text())


def test_a_run_records_the_checked_out_commit_and_a_dirty_trees_diff(tmp_path: Path, capsys) -> None:
    git("init", "-q")
    Path(".gitignore").write_text("logs/\n")
    Path("train_notes.py").write_text("LR = 0.1\n")
    Path("uv.lock").write_text("version = 1\n")
    git("add", ".")
    git("commit", "-qm", "first")
    fit(steps=2)
    clean = record(tmp_path / "logs/mnist_mlp/version_0")
    assert clean["git"] == {"commit": git("rev-parse", "HEAD"), "dirty": False}
    assert clean["uv_lock"]["sha256"] == hashlib.sha256(b"version = 1\n").hexdigest()
    assert clean["versions"]["torch"] == torch.__version__ and clean["versions"]["lightning"] == lightning.__version__
    assert clean["device"] == {"accelerator": "cpu", "name": clean["device"]["name"], "devices": 1, "nodes": 1}
    assert clean["stage"] == "fit" and clean["command"] == shlex.join(sys.orig_argv)  # the process's command line
    assert not (tmp_path / "logs/mnist_mlp/version_0/git_diff.patch").exists()

    Path("train_notes.py").write_text("LR = 0.2\n")  # an edit and a new file, neither committed
    Path("new_net.py").write_text("WIDTH = 8\n")
    fit(steps=2)
    run = tmp_path / "logs/mnist_mlp/version_1"
    dirty = record(run)["git"]
    assert dirty["commit"] == git("rev-parse", "HEAD") and dirty["dirty"] is True
    assert dirty["untracked"] == ["new_net.py"] and dirty["diff"] == "git_diff.patch"
    patch = (run / "git_diff.patch").read_text()
    assert "+LR = 0.2" in patch and "# untracked, not in this patch: new_net.py" in patch
    git("apply", "--reverse", "--check", str(run / "git_diff.patch"))  # a real patch of this tree against the commit

    assert runs_command.main(["logs"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if "version_" in line}
    short = git("rev-parse", "--short=7", "HEAD")
    assert short in rows["version_0"] and f"{short}+" in rows["version_1"]  # the commit, + for a dirty tree


def test_outside_a_git_checkout_the_record_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # git looks no higher than tmp_path
    fit(steps=2)
    git_state = record(tmp_path / "logs/mnist_mlp/version_0")["git"]
    assert git_state == {"commit": None, "note": f"not a git checkout: {tmp_path}"}
