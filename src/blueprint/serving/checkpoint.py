"""A servable model from a checkpoint alone: the task (class, net and weights) and how its data module read inputs."""

import warnings
from dataclasses import dataclass
from typing import Any

from lightning.pytorch import LightningModule

import blueprint.tasks  # noqa: F401 - load_from_checkpoint builds only task classes that are already imported
from blueprint.checkpointing.loading import read_checkpoint
from blueprint.cli.config_files import class_named
from blueprint.data.base import SERVING_DATA, SERVING_INPUTS, InMemoryDataModule
from blueprint.errors import UserError
from blueprint.tasks.base import BaseTask

FIT_FIX = "pass a .ckpt that `blueprint fit` wrote (e.g. logs/<name>/version_N/checkpoints/last.ckpt)"


@dataclass(frozen=True)
class ServedModel:
    """The task in eval mode, the data module's `serving_inputs()` saved with it, and the data module's class (whose
    `decode_request` decodes a kind of its own)."""

    task: BaseTask
    inputs: dict[str, Any]
    data_class: type[InMemoryDataModule] = InMemoryDataModule

    def card(self) -> dict[str, Any]:
        """What a client needs to build a request: task, input kind and shape, class names or output frames."""
        card = {"task": type(self.task).__name__, **self.inputs}
        for key in ("mean", "std"):  # preprocessing the server applies itself, not something clients send
            card.pop(key, None)
        return card


SHARED_KINDS = ("image", "table")  # decoded by serving/requests.py; other kinds by the data module's decode_request
RETRAIN = "train it again with this version to serve it"


def data_state(path: str, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The data module's state that holds its input description (saved under the module's class name)."""
    for value in checkpoint.values():
        if isinstance(value, dict) and isinstance(value.get(SERVING_INPUTS), dict):
            return value
    raise UserError(
        f"ckpt_path {path!r} does not say how its data module read inputs (saved by an older blueprint, or by a data "
        f"module without serving_inputs()); {RETRAIN}"
    )


def data_class(path: str, state: dict[str, Any]) -> type[InMemoryDataModule]:
    """The class that decodes a kind of its own; the shared kinds need none (checkpoints saved before it was kept)."""
    kind, class_path = state[SERVING_INPUTS].get("kind"), str(state.get(SERVING_DATA, ""))
    found = class_named(class_path)
    if isinstance(found, type) and issubclass(found, InMemoryDataModule):
        return found
    if kind in SHARED_KINDS:
        return InMemoryDataModule
    raise UserError(
        f"ckpt_path {path!r} takes {kind!r} inputs, which its data module decodes, but its class "
        f"{class_path or '(not saved)'!r} is not importable here; serve it from the project that trained it, or "
        f"{RETRAIN}"
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
    state = data_state(path, checkpoint)
    decoder = data_class(path, state)
    task = build_task(path)
    return ServedModel(task.eval(), state[SERVING_INPUTS], decoder)
