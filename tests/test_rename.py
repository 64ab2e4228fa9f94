"""scripts/rename.py turns a copy of the repository into another package whose own tests and `uv run` still pass."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.scripts import load_script

rename_script = load_script("rename")

OLD = rename_script.current_name(REPO)
NEW = "my_fork" if OLD != "my_fork" else "my_fork2"
# What the old console script says after the rename (it would otherwise end in a ModuleNotFoundError traceback)
OLD_COMMAND_SAYS = (
    f"error: this project is now called {NEW}: run `uv run {NEW} ...` (`uv sync` removes this old {OLD} command)"
)
# Fast tests that import the renamed package and resolve the configs' class_paths through the renamed CLI.
COPY_TESTS = ["tests/test_layout.py", "tests/test_bad_input.py::test_bad_input_does_not_touch_earlier_runs"]


def copy_repository(target: Path) -> Path:
    """The repository's files as git sees them (tracked + untracked-not-ignored), without .venv, logs or caches."""
    for path in rename_script.project_files(REPO):
        destination = target / path.relative_to(REPO)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    return target


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("my-project", "not a valid Python identifier"),
        ("2fast", "not a valid Python identifier"),
        ("class", "keyword"),
        ("match", "keyword"),
        ("MyProject", "lowercase"),
        (OLD, "already called"),
        ("tests", "already exists"),
        ("torch", "importable module"),
        ("json", "standard-library"),
    ],
)
def test_rename_refuses_bad_names_and_changes_nothing(name: str, reason: str, tmp_path: Path, capsys) -> None:
    copy = copy_repository(tmp_path / "repo")
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert rename_script.main([name], root=copy) == 2
    assert reason in capsys.readouterr().err
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


def test_rename_rewrites_whole_words_only(tmp_path: Path) -> None:
    text = tmp_path / "notes.md"
    text.write_text(f"import {OLD}.nets\n{OLD}_extra {OLD}s x{OLD} `{OLD}` src/{OLD}/cli.py\n")
    assert rename_script.rewrite(text, OLD, NEW)
    assert text.read_text() == f"import {NEW}.nets\n{OLD}_extra {OLD}s x{OLD} `{NEW}` src/{NEW}/cli.py\n"
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\0" + OLD.encode())
    assert not rename_script.rewrite(binary, OLD, NEW)


def test_rename_warns_that_earlier_checkpoints_name_the_old_package(tmp_path: Path, capsys) -> None:
    copy = copy_repository(tmp_path / "repo")
    checkpoint = copy / "logs" / "mnist_mlp" / "version_0" / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"")
    assert rename_script.main([NEW], root=copy) == 0
    assert f"name {OLD}.* classes" in capsys.readouterr().out


@pytest.mark.skipif(sys.platform == "win32", reason="the old command is a shell script on POSIX only")
def test_rename_turns_the_old_console_script_into_one_line_naming_the_new_command(tmp_path: Path, capsys) -> None:
    copy = copy_repository(tmp_path / "repo")
    old_command = copy / ".venv" / "bin" / OLD
    old_command.parent.mkdir(parents=True)
    old_command.write_text(f"#!/usr/bin/python\nfrom {OLD}.cli import main\nmain()\n")  # as uv installs it
    old_command.chmod(0o755)
    assert rename_script.main([NEW], root=copy) == 0
    assert f"{OLD} now only says to use `uv run {NEW}`" in capsys.readouterr().out
    done = subprocess.run([str(old_command), "fit"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [OLD_COMMAND_SAYS]


@pytest.mark.skipif(shutil.which("uv") is None, reason="needs the uv executable on PATH")
@pytest.mark.slow  # renames a copy, syncs it and runs its tests (~27 s); quick rename tests stay in the default suite
def test_renamed_copy_passes_its_own_tests(tmp_path: Path) -> None:
    copy = copy_repository(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    # The clone's environment exists before the rename, as for a user who ran `uv run` first (from uv's cache: ~3 s)
    subprocess.run(["uv", "sync", "--locked", "-q"], cwd=copy, env=env, check=True, timeout=600)
    assert rename_script.main([NEW], root=copy) == 0
    assert (copy / "src" / NEW / "__init__.py").is_file() and not (copy / "src" / OLD).exists()
    files = rename_script.project_files(copy)
    leftovers = [str(p) for p in files if re.search(rf"\b{OLD}\b", p.read_text(errors="replace"))]
    assert leftovers == []
    pyproject = (copy / "pyproject.toml").read_text()
    assert f'name = "{NEW}"' in pyproject and f'{NEW} = "{NEW}.cli:main"' in pyproject
    assert f'name = "{NEW.replace("_", "-")}"' in (copy / "uv.lock").read_text()

    if sys.platform != "win32":  # `uv run` keeps the old console script (`uv sync` removes it): it names the new one
        old = ["uv", "run", "-q", "--locked", OLD, "fit"]
        done = subprocess.run(old, cwd=copy, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 2 and done.stderr.splitlines() == [OLD_COMMAND_SAYS]
    # --locked: uv.lock must already match the renamed pyproject.toml (no re-resolution, works offline).
    command = ["uv", "run", "--locked", "pytest", "-q", "-x", "-p", "no:logging", "-p", "no:cacheprovider", *COPY_TESTS]
    result = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
    scripts = copy / ".venv" / ("Scripts" if sys.platform == "win32" else "bin")
    assert any(p.stem == NEW for p in scripts.iterdir()), "console script not installed under the new name"
