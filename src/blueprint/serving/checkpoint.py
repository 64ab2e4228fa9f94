"""A servable model from a checkpoint alone: the task (class, net and weights) and how its data module read inputs."""

import warnings
from dataclasses import dataclass
from typing import Any

from lightning.pytorch import LightningModule

import blueprint.tasks  # noqa: F401 - load_from_checkpoint builds only task classes that are already imported
from blueprint.checkpointing.loading import read_checkpoint
from blueprint.data.base import SERVING_INPUTS
from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask

FIT_FIX = "pass a .ckpt that `blueprint fit` wrote (e.g. logs/<name>/version_N/checkpoints/last.ckpt)"


@dataclass(frozen=True)
class ServedModel:
    """The task in eval mode, and the data module's `serving_inputs()` saved with it."""

    task: BaseTask
    inputs: dict[str, Any]

    def card(self) -> dict[str, Any]:
        """What a client needs to build a request: task, input kind and shape, class names or output frames."""
        card = {"task": type(self.task).__name__, **self.inputs}
        for key in ("mean", "std"):  # preprocessing the server applies itself, not something clients send
            card.pop(key, None)
        return card


def serving_inputs(path: str, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The data module's input description, found in its state (saved under the module's class name)."""
    for value in checkpoint.values():
        if isinstance(value, dict) and isinstance(value.get(SERVING_INPUTS), dict):
            return value[SERVING_INPUTS]
    raise UserError(
        f"ckpt_path {path!r} does not say how its data module read inputs (saved by an older blueprint, or by a data "
        "module without serving_inputs()); train it again with this version to serve it"
    )


def build_task(path: str) -> BaseTask:
    """Task class, net and weights from the checkpoint's hyperparameters (LightningCLI saves the class path)."""
    try:
        with warnings.catch_warnings():  # the task saves its net's config, not the module: nothing to act on
            warnings.filterwarnings("ignore", message="Attribute 'net' is an instance of `nn.Module`")
            task = LightningModule.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    except (ValueError, TypeError, KeyError, RuntimeError, AttributeError, ImportError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(f"ckpt_path {path!r} does not rebuild a blueprint task ({reason}); {FIT_FIX}") from err
    if not isinstance(task, BaseTask):
        raise UserError(f"ckpt_path {path!r} holds a {type(task).__qualname__}, not a blueprint task; {FIT_FIX}")
    return task


def load_served_model(path: str) -> ServedModel:
    """Local file, weights_only=True; a missing, corrupt or foreign checkpoint is one UserError naming it."""
    checkpoint = read_checkpoint(path)
    inputs = serving_inputs(path, checkpoint)
    task = build_task(path)
    return ServedModel(task.eval(), inputs)
