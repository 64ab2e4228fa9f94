"""Checkpoint files as users bring them: older torch.save formats load; what cannot load is one `error:` line."""

from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli
from tests.reliability.helpers import finished_tiny_run, tiny_args

LAST = "logs/mnist_mlp/version_0/checkpoints/last.ckpt"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch tiny run."""
    return finished_tiny_run(tmp_path_factory, "trained")


def test_a_checkpoint_in_the_legacy_non_zip_format_loads(trained: Path, tmp_path: Path) -> None:
    """torch.save(..., _use_new_zipfile_serialization=False) files cannot be memory-mapped, but they are valid."""
    checkpoint = torch.load(trained / LAST, weights_only=True)
    legacy = tmp_path / "legacy.ckpt"
    torch.save(checkpoint, legacy, _use_new_zipfile_serialization=False)
    cli = run_cli("validate", *tiny_args(f"--ckpt_path={legacy}", "--trainer.logger=false"))
    assert "val/acc" in cli.trainer.callback_metrics
