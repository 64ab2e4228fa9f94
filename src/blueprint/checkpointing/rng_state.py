"""Global RNG streams (torch, CUDA, numpy, python) of every process travel in checkpoints: dropout after a resume
draws as before, on each DDP rank."""

import random
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_warn


def capture_rng_state() -> dict[str, Any]:
    """Every global generator's state in plain types, so the checkpoint still loads with weights_only=True."""
    state = np.random.get_state(legacy=True)
    assert isinstance(state, tuple)  # the legacy form, which the global MT19937 generator always gives
    _, keys, pos, has_gauss, cached = state
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "gauss": (has_gauss, cached)},
        "python": random.getstate(),
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of capture_rng_state (CUDA states only when the device count matches)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = state["numpy"]
    has_gauss, cached = numpy["gauss"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], has_gauss, cached))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def gather_from_all_ranks(state: dict[str, Any], world_size: int) -> list[dict[str, Any]]:
    """Every process's state, indexed by global rank; a collective, so every rank must call it (all save together)."""
    if world_size == 1 or not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return [state]
    states: list[Any] = [None] * world_size
    torch.distributed.all_gather_object(states, state)
    return states


class RNGStateCheckpoint(Callback):
    """Saves every process's RNG states with each checkpoint; each restores its own when training resumes.

    Under DDP all ranks save together (Lightning's save_checkpoint runs on every rank, rank 0 writes), so the states
    are gathered then and stored as a list indexed by global rank. Restoring waits until after the sanity check.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None
        self._world_size = 1

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._world_size = trainer.world_size

    def state_dict(self) -> dict[str, Any]:
        return {"ranks": gather_from_all_ranks(capture_rng_state(), self._world_size)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._pending is None:
            return
        ranks = self._pending.get("ranks", [self._pending])  # checkpoints before per-rank states hold rank 0's only
        self._pending = None
        if len(ranks) != trainer.world_size:
            rank_zero_warn(
                f"the checkpoint's RNG states are for world size {len(ranks)}, this run's is {trainer.world_size}: "
                "a process without its own continues from process 0's, so the resumed run is not an exact "
                "continuation (resume with the original trainer.devices and trainer.num_nodes for that)"
            )
        rank = trainer.global_rank
        restore_rng_state(ranks[rank] if rank < len(ranks) else ranks[0])
