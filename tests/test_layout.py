"""The rooms stay separate as the project grows: nets/ is plain torch, tasks/ never reach into data/."""

import ast
from pathlib import Path

import pytest

import blueprint

PACKAGE_DIR = Path(blueprint.__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name

FORBIDDEN = {
    "nets": ("lightning", "pytorch_lightning", f"{PACKAGE}.tasks", f"{PACKAGE}.data"),
    "tasks": (f"{PACKAGE}.data",),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in a file, relative imports resolved against its package."""
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    package = parts[:-1]  # the package a relative import starts from (for __init__.py too)
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]  # `from pkg import data`
    return found


def violations(room: str) -> list[str]:
    """Imports in PACKAGE/room/**.py that reach a forbidden module."""
    bad = []
    for path in sorted((PACKAGE_DIR / room).rglob("*.py")):
        for line, module in imported_modules(path):
            if any(module == banned or module.startswith(banned + ".") for banned in FORBIDDEN[room]):
                bad.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_room_imports_stay_inside_their_boundaries(room: str) -> None:
    assert (PACKAGE_DIR / room).is_dir()
    assert violations(room) == []


@pytest.mark.parametrize(
    ("room", "source", "caught"),
    [
        ("nets", "import lightning as L\n", "lightning"),
        ("nets", "from lightning.pytorch import LightningModule\n", "lightning.pytorch"),
        ("nets", f"from {PACKAGE}.tasks.base import BaseTask\n", f"{PACKAGE}.tasks.base"),
        ("nets", "from ..data import loader\n", f"{PACKAGE}.data"),
        ("nets", f"from {PACKAGE} import data\n", f"{PACKAGE}.data"),
        ("tasks", "from .. import data\n", f"{PACKAGE}.data"),
        ("tasks", f"import {PACKAGE}.data.mnist\n", f"{PACKAGE}.data.mnist"),
    ],
)
def test_checker_catches_forbidden_imports(room: str, source: str, caught: str, monkeypatch, tmp_path: Path) -> None:
    """The check itself works on a new file, including relative and `from package import room` forms."""
    fake_package = tmp_path / PACKAGE
    (fake_package / room).mkdir(parents=True)
    (fake_package / room / "new_file.py").write_text(source)
    monkeypatch.setattr(f"{__name__}.PACKAGE_DIR", fake_package)
    assert any(v.endswith(f"imports {caught}") for v in violations(room)), violations(room)
