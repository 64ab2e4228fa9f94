"""The repository's scripts/ and benchmarks/ files as modules (tests call their main(argv) in-process), and the
`blueprint` command line for a subprocess."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
BENCHMARKS = REPO / "benchmarks"
# `python -m blueprint.cli ...`: the console script, started with this interpreter
BLUEPRINT = [sys.executable, "-m", "blueprint.cli"]


def script_path(name: str) -> Path:
    """scripts/NAME.py (rename), else benchmarks/NAME.py."""
    return SCRIPTS / f"{name}.py" if (SCRIPTS / f"{name}.py").is_file() else BENCHMARKS / f"{name}.py"


def load_script(name: str) -> ModuleType:
    """Its folder goes on sys.path (last), as when it runs: bench.py imports bench_report from benchmarks/."""
    path = script_path(name)
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
