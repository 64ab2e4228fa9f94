"""Make the template your project: `uv run python scripts/rename.py NEW_NAME` renames the package everywhere.

Renames the package directory (src/OLD -> src/NEW_NAME) and rewrites the whole word OLD in every text file of
the repository (git's tracked and untracked-but-not-ignored files): imports, `class_path`s in configs, tests,
docs and examples, the console script and project name in pyproject.toml, and the project's own entry in
uv.lock (so `uv run` works offline right away). OLD is found from the single package under src/. The old
console script in .venv (which would fail with ModuleNotFoundError) is replaced by one line naming the new command.
`--drop PART[,PART...]` first removes parts of the template (a model family, an optional command with its
dependency group: `--list` shows them, scripts/parts.py says what each owns); NEW_NAME is then optional.
A bad name or part is one `error:` line and exit 2, and nothing changes.
"""

import argparse
import importlib.machinery
import keyword
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

sys.path.append(str(Path(__file__).resolve().parent))  # parts.py, next to this file, when loaded by the tests
import parts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", "node_modules"}
SKIP_TOP_LEVEL = {"logs", "data", "lightning_logs", "build", "dist"}


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one `error:` line and exit 2, as `blueprint` answers (this script needs only the stdlib)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {' '.join(message.split())} (options: {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


class RenameError(Exception):
    """A name or repository state the rename refuses, with the reason."""


def current_name(root: Path) -> str:
    """The one package under src/ (a folder with __init__.py)."""
    packages = sorted(p.name for p in (root / "src").iterdir() if (p / "__init__.py").is_file())
    if len(packages) != 1:
        raise RenameError(f"expected exactly one package under {root / 'src'}, found {packages}")
    return packages[0]


def check_name(new: str, old: str, root: Path) -> None:
    """Refuse names Python cannot import, that clash with a folder or module, or that PEP 8 advises against."""
    if not new.isidentifier():
        raise RenameError(f"{new!r} is not a valid Python identifier; use letters, digits and _, e.g. my_project")
    if keyword.iskeyword(new) or keyword.issoftkeyword(new):
        raise RenameError(f"{new!r} is a Python keyword; pick another name")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", new):
        raise RenameError(f"{new!r} has capitals; package names are lowercase (PEP 8), e.g. {new.lower()!r}")
    if new == old:
        raise RenameError(f"the package is already called {old!r}")
    for existing in (root / "src" / new, root / new):
        if existing.exists():
            raise RenameError(f"{existing} already exists; pick a name that is not taken")
    here = Path(__file__).resolve().parent
    search_path = [p for p in sys.path if Path(p or ".").resolve() != here]
    if new in sys.stdlib_module_names or new in sys.builtin_module_names:
        raise RenameError(f"{new!r} is a standard-library module; your package would shadow it")
    if importlib.machinery.PathFinder.find_spec(new, search_path) is not None:
        raise RenameError(f"{new!r} is already an importable module (an installed package); pick another name")


def project_files(root: Path) -> list[Path]:
    """Files git tracks plus untracked ones it does not ignore; without git, every file outside caches and venvs."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout.decode()
        files = [root / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for folder, dirs, names in os.walk(root):
            top = Path(folder) == root
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not (top and d in SKIP_TOP_LEVEL)]
            files += [Path(folder) / name for name in names]
    return sorted({f for f in files if f.is_file() and not f.is_symlink()})


def normalized(name: str) -> str:
    """Distribution name as uv.lock writes it (PEP 503: lowercase, runs of -_. become -)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def rewrite_lock(text: str, old: str, new: str) -> str:
    """Rename only the project's own [[package]] entry (source "."); dependencies keep their names."""
    header = r'(\[\[package\]\]\nname = ")'
    source = r'("\nversion = [^\n]*\nsource = \{ (?:editable|virtual) = "\." \})'
    own = re.compile(header + re.escape(normalized(old)) + source)
    return own.sub(rf"\g<1>{normalized(new)}\g<2>", text)


def rewrite(path: Path, old: str, new: str) -> bool:
    """Replace the whole word `old` in a text file; binary and non-UTF-8 files are left alone. True if changed."""
    data = path.read_bytes()
    if b"\0" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    whole_word = rf"\b{re.escape(old)}\b"
    changed = rewrite_lock(text, old, new) if path.name == "uv.lock" else re.sub(whole_word, new, text)
    if changed == text:
        return False
    path.write_bytes(changed.encode("utf-8"))
    return True


def rename(new: str, root: Path = ROOT) -> tuple[str, list[Path], list[Path]]:
    """Check the name, rewrite file contents, then move every folder named like the package. Returns what changed."""
    old = current_name(root)
    check_name(new, old, root)
    files = project_files(root)
    rewritten = [path for path in files if rewrite(path, old, new)]
    folders = {parent for path in files for parent in path.relative_to(root).parents if parent.name == old}
    moved = []
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):  # deepest first
        (root / folder).rename(root / folder.parent / new)
        moved.append(folder)
    return old, rewritten, moved


def retire_old_command(root: Path, old: str, new: str) -> Path | None:
    """`uv run OLD` would find the old console script and end in a ModuleNotFoundError; make it name NEW instead.

    `uv run` installs NEW without removing OLD's files (`uv sync` does); on Windows the old .exe is just deleted.
    """
    if sys.platform == "win32":
        launcher = root / ".venv" / "Scripts" / f"{old}.exe"
        launcher.unlink(missing_ok=True)
        return None
    script = root / ".venv" / "bin" / old
    if not script.is_file() or f"from {old}." not in script.read_text(errors="replace"):
        return None  # no environment yet, or a file that is not the old console script: left alone
    line = f"error: this project is now called {new}: run `uv run {new} ...` (`uv sync` removes this old {old} command)"
    script.write_text(f"#!/bin/sh\necho '{line}' >&2\nexit 2\n")
    return script


def drop(spec: str, root: Path) -> dict[Path, str | None]:
    """Remove the parts named in spec (checked in full before anything is written). Returns what changed."""
    dropped = parts.parse_parts(spec)
    changes = parts.plan(root, project_files(root), dropped, current_name(root))
    for path, text in changes.items():
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
    for folder in sorted({p.parent for p, text in changes.items() if text is None}, reverse=True):
        while folder != root and folder.is_dir() and not any(f.name != "__pycache__" for f in folder.iterdir()):
            shutil.rmtree(folder)  # a room left with only bytecode caches goes too
            folder = folder.parent
    return changes


def finish_with_uv(root: Path, pruned: list[Path]) -> list[str]:
    """uv.lock must match the groups pyproject.toml lists now (or `uv run --locked` refuses); pruned Python files
    lose the imports their cut tests used and get ruff's layout back. A step that fails is left, with a note."""
    if shutil.which("uv") is None:
        return ["note: uv is not on PATH; run `uv lock`, then `uv run ruff check --fix . && uv run ruff format .`"]
    files = [str(path) for path in pruned if path.suffix == ".py"]
    ruff = ["uv", "run", "-q", "ruff"]
    steps = {
        "updated uv.lock": ["uv", "lock", "-q"],
        "removed unused imports": [*ruff, "check", "-q", "--fix", "--exit-zero", "--select", "F401,I001", *files],
        "formatted the pruned files": [*ruff, "format", "-q", *files],
    }
    notes = []
    for done_note, command in steps.items():
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
        notes.append(done_note if done.returncode == 0 else f"note: `{' '.join(command[:4])} ...` failed; rerun it")
    return notes


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("new_name", nargs="?", help="the new package name: a lowercase identifier, e.g. my_project")
    parser.add_argument("--drop", metavar="PART[,PART...]", help="remove these parts first (see --list)")
    parser.add_argument("--list", action="store_true", help="list the parts --drop can remove, and what each holds")
    args = parser.parse_args(argv)
    if args.list:
        print(parts.listing(current_name(root)))
        return 0
    if args.new_name is None and args.drop is None:
        parser.error("give NEW_NAME, --drop PART[,PART...] or both")
    try:
        if args.new_name is not None:
            check_name(args.new_name, current_name(root), root)
        if args.drop is not None:
            parts.plan(root, project_files(root), parts.parse_parts(args.drop), current_name(root))  # refuse early
    except (RenameError, parts.DropError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.drop is not None:
        changes = drop(args.drop, root)
        removed = sum(text is None for text in changes.values())
        print(f"dropped {args.drop}: removed {removed} files, pruned {len(changes) - removed}")
        for note in finish_with_uv(root, [path for path, text in changes.items() if text is not None]):
            print(note)
        if args.new_name is None:
            return 0
    try:
        old, rewritten, moved = rename(args.new_name, root)
    except RenameError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for folder in moved:
        print(f"moved {folder} -> {folder.parent / args.new_name}")
    print(f"rewrote {old!r} -> {args.new_name!r} in {len(rewritten)} files")
    retired = retire_old_command(root, old, args.new_name)
    if retired is not None:
        print(f"{retired.relative_to(root)} now only says to use `uv run {args.new_name}`")
    if any((root / "logs").rglob("*.ckpt")):
        print(
            f"note: checkpoints under {root / 'logs'} name {old}.* classes in their saved config and will not load "
            f"with the renamed package; retrain, or rename back to use them"
        )
    print(f"next: `uv run {args.new_name} --help` (uv re-syncs the environment), then `git add -A && git commit`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
