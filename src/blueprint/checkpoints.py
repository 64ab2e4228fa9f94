"""Checkpoints on disk: written atomically and checked, read only from local files with weights_only=True."""

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback

from blueprint.errors import UserError


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save to a temp file, fsync, then os.replace: a crash never leaves a half-written checkpoint.

    The first checkpoint this object writes is reloaded with weights_only=True before the rename, so a run whose
    checkpoints could never be resumed fails at its first save; later saves of the run hold the same kinds of
    objects, so they skip the reload (~3 ms each) and get a size check after the rename instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.verified = False

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        try:
            torch.save(checkpoint, str(temp))  # a path lets torch write in C++: ~1 ms faster than a file object
            _fsync(temp)
            size = temp.stat().st_size
            if not self.verified:
                read_checkpoint(temp)  # loadable with weights_only=True, or the save fails loudly
                self.verified = True
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        if not target.is_file() or target.stat().st_size != size:
            raise OSError(f"checkpoint {target} was not written (expected {size} bytes on disk)")


def _fsync(path: Path) -> None:
    """Flush the file's data to disk, so a power cut after the rename cannot leave an empty checkpoint."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class AtomicCheckpoints(Callback):
    """Installs AtomicCheckpointIO on the trainer's strategy unless a custom CheckpointIO is configured."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a local checkpoint safely (weights_only=True, memory-mapped); every failure is one clear UserError."""
    text = str(path)
    if "://" in text:
        raise UserError(
            f"ckpt_path {text!r} is a URL; checkpoints are loaded only from local files (weights_only=True): "
            "download it, check its source, and pass the local path"
        )
    if not Path(text).is_file():
        raise UserError(f"ckpt_path {text!r} does not exist; pass an existing .ckpt file or `last` to resume")
    try:
        checkpoint = torch.load(text, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "Weights only load failed" in str(err):
            raise UserError(
                f"ckpt_path {text!r} holds pickled Python objects and is refused (weights_only=True); "
                "re-save it with plain hyperparameters"
            ) from err
        raise UserError(
            f"ckpt_path {text!r} is not a readable checkpoint (truncated or corrupt: {first}); "
            "use another checkpoint, e.g. an earlier best-*.ckpt"
        ) from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"ckpt_path {text!r} is not a Lightning checkpoint (no state_dict); pass a .ckpt from `fit`")
    return checkpoint


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
