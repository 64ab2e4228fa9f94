"""The rooms stay separate as the project grows: each imports only the rooms below it, and the root stays small.

Dependencies run one way: nets/, optim/, data/ and checkpointing/ import no other room (errors.py aside); tasks/
may use nets/ and optim/; callbacks/ may use all but data/ and the command rooms. cli/ (the `blueprint` command and
LightningCLI) may import every core room. The optional rooms (serving/, streaming/, sweeps/, export/) sit on top: they
may use cli/ and the core, never each other, and no other room imports them (cli/main.py names them as strings), so a
fork deletes one with its folder and its line in cli/main.py.
"""

import ast
from pathlib import Path

import pytest

import blueprint

PACKAGE_DIR = Path(blueprint.__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name

CORE = ("callbacks", "checkpointing", "cli", "data", "nets", "optim", "tasks")
# the optional rooms (serving/, streaming/, ...): every other folder, so scripts/rename.py --drop can remove one
OPTIONAL = tuple(sorted(p.name for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").is_file() and p.name not in CORE))
ROOMS = CORE + OPTIONAL


def _rooms(*names: str) -> tuple[str, ...]:
    return tuple(f"{PACKAGE}.{name}" for name in names)


FORBIDDEN = {
    "nets": ("lightning", "pytorch_lightning", *_rooms("tasks", "data", "optim", "callbacks", "checkpointing", "cli")),
    "optim": _rooms("tasks", "data", "nets", "callbacks", "checkpointing", "cli"),
    "tasks": _rooms("data", "callbacks", "checkpointing", "cli"),
    "data": _rooms("tasks", "nets", "optim", "callbacks", "checkpointing", "cli"),
    "checkpointing": _rooms("tasks", "data", "nets", "optim", "callbacks", "cli"),
    "callbacks": _rooms("cli", "data"),
    "cli": (),
}
# no core room imports an optional one, and optional rooms do not import each other
FORBIDDEN = {room: (*banned, *_rooms(*OPTIONAL)) for room, banned in FORBIDDEN.items()}
FORBIDDEN |= {room: _rooms(*(other for other in OPTIONAL if other != room)) for room in OPTIONAL}


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


def test_the_package_root_holds_only_init_and_errors() -> None:
    assert sorted(p.name for p in PACKAGE_DIR.glob("*.py")) == ["__init__.py", "errors.py"]


def test_every_room_has_import_rules() -> None:
    rooms = sorted(p.name for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").is_file())
    assert rooms == sorted(FORBIDDEN) == sorted(ROOMS)


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
        ("optim", f"from {PACKAGE}.tasks import ClassificationTask\n", f"{PACKAGE}.tasks"),
        ("checkpointing", f"from {PACKAGE}.cli import cli_main\n", f"{PACKAGE}.cli"),
        ("data", "from ..nets import MLP\n", f"{PACKAGE}.nets"),
        ("tasks", f"from {PACKAGE}.serving import build_server\n", f"{PACKAGE}.serving"),
        ("serving", "from ..sweeps import command\n", f"{PACKAGE}.sweeps"),
        ("cli", f"from {PACKAGE}.serving import build_server\n", f"{PACKAGE}.serving"),
        ("data", f"import {PACKAGE}.streaming.format\n", f"{PACKAGE}.streaming.format"),
    ],
)
def test_checker_catches_forbidden_imports(room: str, source: str, caught: str, monkeypatch, tmp_path: Path) -> None:
    """The check itself works on a new file, including relative and `from package import room` forms."""
    fake_package = tmp_path / PACKAGE
    (fake_package / room).mkdir(parents=True)
    (fake_package / room / "new_file.py").write_text(source)
    monkeypatch.setattr(f"{__name__}.PACKAGE_DIR", fake_package)
    assert any(v.endswith(f"imports {caught}") for v in violations(room)), violations(room)


# The video family (Moving MNIST, its nets and task), which a fork may delete whole: its special cases in the rooms
# that serve every family are hooks of its DataModule and task, so those rooms import none of it
VIDEO_FAMILY = _rooms(
    "data.moving_mnist", "data.moving_digits", "data.MovingMNISTDataModule", "nets.convlstm", "nets.seq2img",
    "nets.simvp", "nets.ConvLSTMForecaster", "nets.LSTMFrameGenerator", "nets.SimVP", "tasks.frame_prediction",
    "tasks.frame_losses", "tasks.FramePredictionTask",
)  # fmt: skip


def family_imports(room: str) -> list[str]:
    """Imports in PACKAGE/room/**.py of a video family module, or of a name a package re-exports from one."""
    return [
        f"{path.relative_to(PACKAGE_DIR.parent)}:{line} imports {module}"
        for path in sorted((PACKAGE_DIR / room).rglob("*.py"))
        for line, module in imported_modules(path)
        if any(module == family or module.startswith(family + ".") for family in VIDEO_FAMILY)
    ]


@pytest.mark.parametrize("room", [room for room in ("serving", "streaming") if room in OPTIONAL])
def test_streaming_and_serving_import_no_model_family(room: str) -> None:
    assert family_imports(room) == []


def test_the_family_check_catches_a_frame_import(monkeypatch, tmp_path: Path) -> None:
    fake_package = tmp_path / PACKAGE
    (fake_package / "serving").mkdir(parents=True)
    source = f"from {PACKAGE}.tasks import ClassificationTask, FramePredictionTask\nfrom ..data import moving_mnist\n"
    (fake_package / "serving" / "new_file.py").write_text(source)
    monkeypatch.setattr(f"{__name__}.PACKAGE_DIR", fake_package)
    found = [bad.rpartition(" imports ")[2] for bad in family_imports("serving")]
    assert found == [f"{PACKAGE}.tasks.FramePredictionTask", f"{PACKAGE}.data.moving_mnist"]
