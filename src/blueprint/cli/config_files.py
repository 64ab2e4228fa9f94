"""Config files are read strictly before parsing: a YAML mistake names its file and line, a repeated key is refused."""

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from blueprint.errors import UserError


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (plain YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (the later value would silently win)", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def config_paths(args: Sequence[str]) -> list[str]:
    """The files given with -c/--config (either `-c file` or `--config=file`)."""
    paths = []
    for index, arg in enumerate(args):
        if arg in ("-c", "--config") and index + 1 < len(args):
            paths.append(args[index + 1])
        elif arg.startswith("--config="):
            paths.append(arg.split("=", 1)[1])
    return paths


def check_config_file(path: str) -> None:
    """Load `path` strictly; any YAML error becomes one line naming the file, line and column."""
    try:
        yaml.load(Path(path).read_text(), Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else path
        raise UserError(f"config file {where}: {err.problem or err.context}; fix the YAML there") from err
    except yaml.YAMLError as err:
        raise UserError(f"config file {path}: {err}") from err


def check_config_files(args: Sequence[str] | None, defaults: Sequence[Path]) -> None:
    """The shared defaults and every -c file on the command line, before jsonargparse reads them."""
    given = sys.argv[1:] if args is None else [str(a) for a in args]
    for path in [*map(str, defaults), *config_paths(given)]:
        if Path(path).is_file():
            check_config_file(path)


def class_named(class_path: str) -> Any | None:
    """What a config's `class_path` names ("package.module.Name"), or None when it names nothing importable."""
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name, None) if module else None
    except ImportError:
        return None
