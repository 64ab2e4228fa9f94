"""Shared fixtures: every test runs in a temp dir, and one trained MLP run is shared by the tests that read it."""

from pathlib import Path

import pytest
import torch

from blueprint.cli.command import cli_main

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

torch.set_num_threads(2)


def config(name: str) -> str:
    """Absolute path of a config in the repository's configs/ folder."""
    return str(CONFIGS / name)


def run_cli(*args: str):
    """Drive the real `blueprint` CLI in-process; returns the LightningCLI object."""
    return cli_main([str(a) for a in args])


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths (logs/, data/) land in a temp dir, never in the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def trained_mlp(tmp_path_factory: pytest.TempPathFactory):
    """A short real fit of configs/mnist_mlp.yaml (with test after fit), shared across tests."""
    root = tmp_path_factory.mktemp("trained_mlp")
    cli = run_cli(
        "fit",
        "-c",
        config("mnist_mlp.yaml"),
        "--trainer.max_epochs=4",
        f"--trainer.logger.init_args.save_dir={root}",
        "--trainer.enable_progress_bar=false",
    )
    return cli
