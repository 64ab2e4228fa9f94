"""scripts/rename.py turns a copy of the repository into another package whose own tests and `uv run` still pass."""

import contextlib
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
    assert f'name = "{NEW}"' in pyproject and f'{NEW} = "{NEW}.cli.main:main"' in pyproject
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


# --- --drop and --list: scripts/parts.py's manifest -----------------------------------------------------------------
parts = rename_script.parts
LONG_NAME = "sunspot_forecasting"  # longer than the template's name: README.md's byte cap must still hold


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_list_names_every_part_with_one_line_each(capsys) -> None:
    assert rename_script.main(["--list"], root=REPO) == 0
    out = capsys.readouterr().out
    for name in parts.PARTS:
        assert len([line for line in out.splitlines() if line.split()[:1] == [name]]) == 1, name
    assert "MNIST" in out.splitlines()[0]  # what always stays, so every drop leaves something to train


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--drop", "video,nonsense"], "unknown part 'nonsense'"),
        (["--drop", "video,serve,video"], "part 'video' given twice"),
        (["--drop", ""], "unknown part ''"),
        (["Bad", "--drop", "export"], "lowercase"),  # the name is checked before anything is dropped
        ([], "give NEW_NAME, --drop"),
    ],
)
def test_drop_refuses_bad_parts_and_changes_nothing(argv: list[str], reason: str, tmp_path: Path, capsys) -> None:
    copy = copy_repository(tmp_path / "repo")
    before = snapshot(copy)
    with pytest.raises(SystemExit) if not argv else contextlib.nullcontext():
        assert rename_script.main(argv, root=copy) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and reason in err, err
    assert snapshot(copy) == before


@pytest.mark.parametrize(
    ("owns", "reason"),
    [
        ("configs/*.yaml", "nothing would be left to train"),
        ("src/{pkg}/nets/mlp.py", "would still use"),  # configs and kept code name MLP
    ],
)
def test_drop_refuses_to_leave_nothing_trainable_or_a_dangling_import(
    owns: str, reason: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setitem(parts.PARTS, "video", parts.Part("a part that owns too much", files=(owns,)))
    copy = copy_repository(tmp_path / "repo")
    before = snapshot(copy)
    assert rename_script.main(["--drop", "video"], root=copy) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and reason in err, err
    assert snapshot(copy) == before


def test_drop_without_a_name_keeps_the_name_and_removes_the_command_and_its_group(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(rename_script, "finish_with_uv", lambda root, pruned: [])  # the slow test runs uv
    copy = copy_repository(tmp_path / "repo")
    assert rename_script.main(["--drop", "export"], root=copy) == 0
    assert rename_script.current_name(copy) == OLD
    assert not (copy / "src" / OLD / "export").exists() and not (copy / "tests" / "test_export.py").exists()
    assert '"export":' not in (copy / "src" / OLD / "cli" / "main.py").read_text()
    pyproject = (copy / "pyproject.toml").read_text()
    assert "onnx" not in pyproject and '"export"' not in pyproject and '"serve"' in pyproject
    assert "onnx" not in (copy / "src" / OLD / "errors.py").read_text()


def run_copy_tests(copy: Path, *tests: str) -> subprocess.CompletedProcess:
    """The copy's own tests run with this interpreter: sound for tests that read files and import the package from
    copy/src (PYTHONPATH) and need nothing installed under its name."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(copy / "src"), str(copy)])}
    command = [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "-p", "no:logging", *tests]
    return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=600)


# ~13-24 s each: the default suite drops no part (tests/test_layout.py keeps the rooms apart), -m slow drops each
ALONE = [pytest.param(name, marks=pytest.mark.slow) for name in sorted(parts.PARTS)]


@pytest.mark.parametrize("name", ALONE)
def test_each_part_drops_alone_with_readme_docs_and_layout_intact_or_is_refused(
    name: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(rename_script, "finish_with_uv", lambda root, pruned: [])
    copy = copy_repository(tmp_path / "repo")
    before = snapshot(copy)
    if rename_script.main(["--drop", name], root=copy) == 2:  # kept code still uses it: one line, naming what to add
        assert re.fullmatch(r"error: .* would still use .*; drop \w+( or \w+)* too\n", capsys.readouterr().err)
        assert snapshot(copy) == before
        return
    assert not any(owned for owned in parts.owned_files(copy, list(before), [name], OLD) if owned.exists())
    done = run_copy_tests(copy, "tests/test_readme.py", "tests/test_layout.py")
    assert done.returncode == 0 and "passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]


def test_prune_python_cuts_mentions_and_what_they_defined() -> None:
    source = (
        '"""Tests that mention tabular data stay documented."""\n\n'
        "from pkg.tasks import ClassificationTask, RegressionTask\n\n"
        'CASES = [\n    "mnist",\n    "tabular_binary",\n]\n\n\n'
        "def helper():\n    return RegressionTask\n\n\n"
        "def test_uses_helper():\n    assert helper()\n\n\n"
        '@pytest.mark.parametrize("config", [\n    "mnist_cnn",\n    "tabular_mlp",\n])\n'
        "def test_configs(config):\n    assert ClassificationTask\n"
    )
    pruned, cut = parts.prune_python(source, [r"tabular", r"RegressionTask\b"])
    assert "from pkg.tasks import ClassificationTask\n" in pruned and "helper" not in pruned
    assert '"mnist"' in pruned and '"mnist_cnn"' in pruned and "tabular_" not in pruned
    assert "def test_configs" in pruned and "tabular data" in pruned  # the docstring stays
    assert cut == {"RegressionTask", "helper", "test_uses_helper"}


def test_prune_markdown_cuts_lines_items_sentences_and_sections() -> None:
    text = (
        "# Title\n\nKeep this. Tabular words go here. Keep that.\n\n"
        "```bash\nuv run x fit -c configs/mnist.yaml\nuv run x fit -c configs/tabular.yaml\n```\n\n"
        "- a kept item\n- a tabular item\n  continued\n\n"
        "## Your tabular data\n\nAll of this goes.\n\n## Next\n\nStays.\n"
    )
    pruned = parts.prune_markdown(text, parts.mentions([r"[Tt]abular"]))
    assert pruned == (
        "# Title\n\nKeep this. Keep that.\n\n```bash\nuv run x fit -c configs/mnist.yaml\n```\n\n"
        "- a kept item\n\n## Next\n\nStays.\n"
    )


@pytest.mark.slow  # a whole copy and its README/layout tests (~13 s); the slow drop-everything test renames too
def test_a_rename_to_a_longer_name_keeps_readme_and_layout_tests_passing(tmp_path: Path) -> None:
    """The renamed copy's own test_readme.py (its byte cap) and test_layout.py."""
    copy = copy_repository(tmp_path / "repo")
    assert rename_script.main([LONG_NAME], root=copy) == 0
    done = run_copy_tests(copy, "tests/test_readme.py", "tests/test_layout.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\d+ passed", done.stdout) and "failed" not in done.stdout


def source_lines(root: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in (root / "src").rglob("*.py"))


@pytest.mark.skipif(shutil.which("uv") is None, reason="needs the uv executable on PATH")
@pytest.mark.slow  # drops every part, re-locks, syncs and runs the whole default suite of the copy (minutes)
def test_dropping_every_part_leaves_a_project_whose_suite_passes(tmp_path: Path) -> None:
    copy = copy_repository(tmp_path / "repo")
    before = source_lines(copy)
    assert rename_script.main(["--drop", ",".join(parts.PARTS), LONG_NAME], root=copy) == 0
    print(f"src/ lines: {before} before the drop, {source_lines(copy)} after")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    # --locked: the drop re-locked uv.lock for the groups that are left
    command = ["uv", "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout) and " failed" not in result.stdout
