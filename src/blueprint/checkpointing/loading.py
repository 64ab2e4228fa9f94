"""Reading checkpoints: local files only, weights_only=True, and checked against the configured model."""

import os
from pathlib import Path
from typing import Any

import torch

from blueprint.checkpointing.atomic_io import load_weights_only
from blueprint.errors import UserError

SPECIAL_CKPT_PATHS = ("best", "last", "hpc", "registry")  # names Lightning resolves itself, not files


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
    if not Path(text).exists():
        raise UserError(f"ckpt_path {text!r} does not exist; pass an existing .ckpt file or `last` to resume")
    if not Path(text).is_file():  # a device, a pipe, or a link to one
        raise UserError(f"ckpt_path {text!r} is not a regular file; pass a .ckpt file written by `blueprint fit`")
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
