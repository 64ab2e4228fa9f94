"""Every command in docs/recipes.md's block runs, in order, in-process, with a few fast settings appended; the
README's short Recipes block quotes commands from it, and names every preset."""

import importlib
import shlex
from pathlib import Path

import pytest

from blueprint.cli.main import COMMANDS
from tests.conftest import CONFIGS, REPO, run_cli
from tests.fast import QUIET, TINY_NET

FAST_FIT = [
    "--trainer.max_steps=3",
    "--trainer.limit_val_batches=1",
    "--trainer.limit_test_batches=1",
    "--trainer.logger.init_args.log_graph=false",
    *QUIET,
]
FAST_TRIAL = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=3", *FAST_FIT[1:]]  # trials must validate
FAST_SCRIPT = {"sweep": ["--trials=2"], "export": ["--exporter=torchscript", "--batch_size=8"]}


def recipe_commands(path: Path = REPO / "docs" / "recipes.md", heading: str = "# Recipes") -> list[str]:
    """The `uv run ...` lines of the first bash block under `heading` (comments and blank lines skipped)."""
    text = path.read_text()
    section = text[text.index(heading) :]
    block = section[section.index("```bash") + len("```bash") : section.index("```", section.index("```bash") + 7)]
    lines = [line.strip() for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def readme_recipe_commands() -> list[str]:
    """The few commands of the README's own '## Recipes' block."""
    return recipe_commands(REPO / "README.md", "## Recipes")


def _absolute(args: list[str]) -> list[str]:
    return [str(REPO / a) if a.startswith("configs/") else a for a in args]


def _tiny_net(args: list[str]) -> list[str]:
    return TINY_NET["mnist_cnn.yaml" if any("mnist_cnn" in a for a in args) else "mnist_mlp.yaml"]


def run_recipe(line: str) -> None:
    words = shlex.split(line)
    assert words[:2] == ["uv", "run"], f"a recipe must be a `uv run` command: {line}"
    args = _absolute(words[2:])
    assert args[0] == "blueprint", f"a recipe runs the `blueprint` command: {line}"
    name = args[1]
    if name not in COMMANDS:  # fit, validate, test, predict
        run_cli(*args[1:], *FAST_FIT, *_tiny_net(args))
        return
    own, trial = (args[2:], []) if "--" not in args else (args[2 : args.index("--")], args[args.index("--") + 1 :])
    extra_trial = ["--", *trial, *FAST_TRIAL, *_tiny_net(args)] if name == "sweep" else []
    importlib.import_module(COMMANDS[name][0]).main([*own, *FAST_SCRIPT.get(name, []), *extra_trial])


@pytest.mark.slow  # 28 fits, about 75 s: the README recipes it quotes are checked against it in the default suite
def test_docs_recipes_all_run() -> None:
    commands = recipe_commands()
    assert len(commands) >= 20
    for line in commands:
        try:
            run_recipe(line)
        except (Exception, SystemExit) as err:
            pytest.fail(f"docs/recipes.md recipe failed: {line}\n{type(err).__name__}: {err}")
    written = {"export": "logs/mnist_mlp/version_0/checkpoints/model.onnx", "sweep": "logs/sweep/best.yaml"}
    for command, path in written.items():  # what the export and sweep recipes write, where the fork keeps them
        assert command not in COMMANDS or Path(path).is_file(), path


def test_readme_recipes_are_tested_ones_from_docs() -> None:
    """The README shows a few recipes; each is a command of docs/recipes.md, so the test above runs it."""
    shown, tested = readme_recipe_commands(), recipe_commands()
    assert len(shown) >= 3
    assert [line for line in shown if line not in tested] == []


@pytest.mark.parametrize("page", ["README.md", "docs/recipes.md"])
def test_every_preset_is_documented(page: str) -> None:
    text = (REPO / page).read_text()
    missing = [p.name for p in (CONFIGS / "presets").glob("*.yaml") if f"configs/presets/{p.name}" not in text]
    assert not missing, f"presets without a line in {page}: {missing}"
