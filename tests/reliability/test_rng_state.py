"""Every global generator (torch, numpy, python) comes back exactly from a checkpoint loaded with weights_only."""

import random
from pathlib import Path

import numpy as np
import torch

from blueprint.checkpointing.rng_state import capture_rng_state, restore_rng_state


def draws() -> tuple[list[float], list[float], list[float], float]:
    """A few numbers from each global generator, numpy's cached gaussian included."""
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)], np.random.randn()


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    torch.save({"rng": capture_rng_state()}, tmp_path / "state.ckpt")
    expected = draws()
    torch.manual_seed(9), np.random.seed(9), random.seed(9)  # move every stream elsewhere
    restore_rng_state(torch.load(tmp_path / "state.ckpt", weights_only=True)["rng"])
    assert draws() == expected
