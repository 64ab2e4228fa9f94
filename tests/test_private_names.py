"""Public Lightning and torch APIs only: a private name of theirs in src/ fails here unless it is on the allowed list.

A private name breaks silently when upstream renames it, so each allowed one lives in cli/upstream_workarounds.py
with a "remove when" line and a test of its own.
"""

import ast
import functools
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import blueprint
from blueprint.cli.upstream_workarounds import ALLOWED_PRIVATE_NAMES

PACKAGE_DIR = Path(blueprint.__file__).resolve().parent
ALLOWED = set(ALLOWED_PRIVATE_NAMES)


ATTRIBUTE_FUNCTIONS = ("getattr", "setattr", "hasattr", "delattr")
KEY_METHODS = ("get", "pop", "setdefault")


def private_names_used(source: str) -> set[str]:
    """Every `_name` (not dunder) used as an attribute, import, getattr() name, dict key or compared string."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            found |= {alias.name for alias in node.names} | set((node.module or "").split("."))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ATTRIBUTE_FUNCTIONS:
            found |= {arg.value for arg in node.args[1:2] if isinstance(arg, ast.Constant)}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "object":
            found |= {
                arg.value for arg in node.args[1:2] if isinstance(arg, ast.Constant)
            }  # mock.patch.object(C, "_x")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in KEY_METHODS:
            found |= {arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant)}  # hparams.get("_key")
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            found.add(node.slice.value)
        elif isinstance(node, ast.Compare):
            found |= {side.value for side in [node.left, *node.comparators] if isinstance(side, ast.Constant)}
    return {
        name
        for name in found
        if isinstance(name, str) and re.fullmatch(r"_[A-Za-z]\w*", name) and not name.endswith("__")
    }


def names_defined(source: str) -> set[str]:
    """`_name`s blueprint defines itself: functions, classes, globals, attributes assigned on self or cls."""
    defined = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and is_self(node.value):
            defined.add(node.attr)
    return defined


def is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def upstream_bases(cls: type) -> list[type]:
    """The classes of other packages (Lightning, torch, the optional rooms' libraries) a blueprint class extends."""
    tops = [(base, base.__module__.split(".")[0]) for base in cls.__mro__]
    return [base for base, top in tops if top != blueprint.__name__ and top not in sys.stdlib_module_names]


@functools.cache  # it imports and reads every module: two tests ask
def shadowed_upstream_names() -> list[str]:
    """`Class._name (used by Base)` for each private attribute a blueprint class sets or overrides that its upstream
    base class uses too: a use of that private name, allowed only with a reason."""
    clashes = []
    for module_info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix=f"{blueprint.__name__}."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            ours = names_defined(inspect.getsource(cls)) & private_names_used(inspect.getsource(cls))
            for base in upstream_bases(cls) if ours else []:
                try:
                    base_source = inspect.getsource(base)
                except (OSError, TypeError):
                    continue
                used = [n for n in ours if re.search(rf"(?<!\w){n}(?!\w)", base_source)]
                clashes += [f"{cls.__qualname__}.{n} (used by {base.__qualname__})" for n in used]
    return sorted(set(clashes))


def private_upstream_uses(root: Path) -> dict[str, list[str]]:
    """`_name`s used under `root` that blueprint never defines: they can only be Lightning's, torch's or a library's."""
    files = sorted(root.rglob("*.py"))
    defined = set().union(*(names_defined(path.read_text()) for path in files))
    uses: dict[str, list[str]] = {}
    for path in files:
        for name in private_names_used(path.read_text()) - defined:
            uses.setdefault(name, []).append(str(path.relative_to(root.parent)))
    return uses


def test_only_allowed_private_names_are_used() -> None:
    uses = private_upstream_uses(PACKAGE_DIR)
    assert {name: where for name, where in uses.items() if name not in ALLOWED} == {}


def shadowed_name(clash: str) -> str:
    return clash.split(" ")[0].rsplit(".", 1)[1]


def test_every_allowed_name_is_still_needed() -> None:
    """An allowed name nothing uses any more leaves the list, so the list stays the truth."""
    shadowed = {shadowed_name(clash) for clash in shadowed_upstream_names()}
    assert set(private_upstream_uses(PACKAGE_DIR)) | shadowed == ALLOWED


def test_no_class_sets_a_private_attribute_of_its_upstream_base() -> None:
    """Unless it is on the allowed list, with its reason."""
    assert [clash for clash in shadowed_upstream_names() if shadowed_name(clash) not in ALLOWED] == []


@pytest.mark.parametrize(
    "source",
    [
        "import torch\ntorch.cuda._lazy_init()\n",
        "from lightning.pytorch.trainer import call\ncall._call_callback_hooks = print\n",
        "from lightning.pytorch.loops.utilities import _is_max_limit_reached\n",
        "def f(trainer):\n    return trainer.strategy._layer_sync\n",
        "def f(module, name):\n    return name == '_current_fx_name'\n",
        "def f(loop):\n    return getattr(loop, '_batches_that_stepped')\n",
    ],
)
def test_a_new_private_name_fails_the_check(source: str, tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "new_module.py").write_text(source)
    assert set(private_upstream_uses(package)) - ALLOWED
