"""Checkpoints on disk: written atomically and checked (checkpoint_io.py), read only from local files safely."""

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback

from blueprint.checkpoint_io import AtomicCheckpointIO, load_weights_only
from blueprint.errors import UserError

SPECIAL_CKPT_PATHS = ("best", "last", "hpc", "registry")  # names Lightning resolves itself, not files


class AtomicCheckpoints(Callback):
    """Installs AtomicCheckpointIO (writing in the background) unless a custom CheckpointIO is configured.

    The disk write and fsync of a checkpoint (~6 ms for 3 MB here, far more on network filesystems) then overlap
    with training; Lightning's teardown at the end of fit waits for them and reports a failed write. With several
    processes the writes stay synchronous: other ranks may read a checkpoint right after the save's barrier
    (testing the best checkpoint after fit does, on every rank).
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO(background=trainer.world_size == 1)


def wait_for_checkpoints(trainer: L.Trainer) -> None:
    """Block until queued checkpoint writes are on disk (before exiting on a signal, for instance)."""
    wait = getattr(trainer.strategy.checkpoint_io, "wait", None)
    if callable(wait):
        wait()


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a local checkpoint safely (weights_only=True, memory-mapped); every failure is one clear UserError."""
    text = str(path)
    if "://" in text:
        raise UserError(
            f"ckpt_path {text!r} is a URL; checkpoints are loaded only from local files (weights_only=True): "
            "download it, check its source, and pass the local path"
        )
    if Path(text).is_dir():
        raise UserError(f"ckpt_path {text!r} is a folder; pass a .ckpt file in it (e.g. checkpoints/last.ckpt)")
    if not Path(text).is_file():
        raise UserError(f"ckpt_path {text!r} does not exist; pass an existing .ckpt file or `last` to resume")
    return load_weights_only(text, f"ckpt_path {text!r}")


def check_checkpoint_fits(path: str, checkpoint: dict[str, Any], model: torch.nn.Module) -> None:
    """The checkpoint must come from the same task class and the same architecture as the configured model."""
    saved_class = checkpoint.get("hyper_parameters", {}).get("_class_path")
    model_class = f"{type(model).__module__}.{type(model).__qualname__}"
    if saved_class and saved_class.rsplit(".", 1)[-1] != type(model).__qualname__:
        raise UserError(
            f"ckpt_path {path!r} was saved from {saved_class}, but the config builds {model_class}; "
            "use the config the checkpoint was trained with (its config.yaml next to checkpoints/)"
        )
    expected = model.state_dict()
    saved = checkpoint["state_dict"]
    for key, value in expected.items():
        if key not in saved:
            raise UserError(
                f"ckpt_path {path!r} does not fit the configured model: it has no {key!r}; "
                "use the config the checkpoint was trained with (its config.yaml next to checkpoints/)"
            )
        if tuple(saved[key].shape) != tuple(value.shape):
            raise UserError(
                f"ckpt_path {path!r} does not fit the configured model: {key} is {tuple(saved[key].shape)} in the "
                f"checkpoint but {tuple(value.shape)} in the model; use the config the checkpoint was trained with"
            )
    unexpected = sorted(set(saved) - set(expected))
    if unexpected:
        raise UserError(
            f"ckpt_path {path!r} does not fit the configured model: unexpected {unexpected[0]!r}; "
            "use the config the checkpoint was trained with (its config.yaml next to checkpoints/)"
        )
