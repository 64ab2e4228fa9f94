"""Link, don't repeat: the data gives the net its input shape and outputs, the task gives the checkpoint its monitor.

Every net takes `input_shape` (one sample's shape) and `out_features` (frame nets: frames to predict); the links fill
them from the instantiated DataModule, so configs never state them. A value given anyway must agree with the data.
Lightning copies every applied link into the task's hparams, so a link may only target an argument all nets have.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import yaml
from jsonargparse import Namespace
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser

from blueprint.cli.config_files import class_named
from blueprint.errors import UserError

NET = "model.init_args.net.init_args."
NET_KEYS = ("input_shape", "out_features")  # the net arguments the data sets
CHECKPOINT_KEYS = {"checkpoint.monitor": "monitor", "checkpoint.mode": "monitor_mode"}  # -> the task's attribute

# The task's class_path while its config is instantiated: a task may fix its net's outputs (binary: one logit)
_task_class_path: ContextVar[str] = ContextVar("task_class_path", default="")


def sample_shape(data: Any) -> list[int]:
    """One sample's shape, as the data serves it (a list: it lands in hparams and config.yaml)."""
    return [int(n) for n in data.input_shape]


def net_outputs(data: Any) -> int:
    """Frames to predict, or logits: one per class, one for regression, or the task's own `net_outputs` (binary: 1)."""
    fixed = getattr(_task_class(), "net_outputs", None)
    if fixed is not None:
        return int(fixed)
    frames = getattr(data, "target_frames", None)
    info: Any = getattr(data, "info", None)  # StreamingDataModule: clips of T frames, the first input_frames read
    if frames is None and getattr(info, "layout", None) == "frames" and info.input_frames is not None:
        frames = info.stored_shape[0] - info.input_frames
    if frames is not None:
        return int(frames)
    classes = getattr(data, "num_classes", None)
    if classes is None:
        return 1
    return int(classes)


def _task_class() -> Any:
    """The task class being built, or None outside `linking`."""
    return class_named(_task_class_path.get())


def link_data_and_model(parser: LightningArgumentParser) -> None:
    """Register the links (the CLI's add_arguments_to_parser calls it)."""
    # The monitor links come first: jsonargparse orders instantiation by the link graph, which does not know that
    # model.init_args.net lies inside model; registered after the data links, the model would be built before data
    parser.link_arguments("model.monitor", "checkpoint.monitor", apply_on="instantiate")
    parser.link_arguments("model.monitor_mode", "checkpoint.mode", apply_on="instantiate")
    parser.link_arguments("data", NET + "input_shape", compute_fn=sample_shape, apply_on="instantiate")
    parser.link_arguments("data", NET + "out_features", compute_fn=net_outputs, apply_on="instantiate")


@contextmanager
def linking(config: Namespace) -> Iterator[None]:
    """While `config` is instantiated, the compute functions may read which task it builds."""
    model = config.get("model")
    token = _task_class_path.set(str(model.get("class_path", "")) if isinstance(model, Namespace) else "")
    try:
        yield
    finally:
        _task_class_path.reset(token)


def _same(given: Any, used: Any) -> bool:
    if isinstance(given, list | tuple) and isinstance(used, list | tuple):
        return tuple(given) == tuple(used)
    return bool(given == used)


def check_given_values(config: Namespace, built: Namespace) -> None:
    """A linked option set by hand (config file, command line, a checkpoint's hparams) must equal the linked value."""
    if not isinstance(config.get("model"), Namespace) or "data" not in config:
        return  # not the level that holds model and data
    net = getattr(built.get("model"), "net", None)
    for key in NET_KEYS:
        given, used = config.get(NET + key), getattr(net, key, None)
        if given is not None and used is not None and not _same(given, used):
            shown = list(used) if isinstance(used, tuple) else used
            raise UserError(
                f"{NET}{key} is {given} but the data gives {shown}: the option comes from the data "
                "(data.input_shape, its classes or target frames); leave it out"
            )
    for key, attribute in CHECKPOINT_KEYS.items():
        given, used = config.get(key), getattr(built.get("model"), attribute, None)
        if given is not None and used is not None and given != used:
            raise UserError(
                f"{key} is {given} but the task monitors {used}: {key} follows the task's `{attribute}`; leave it "
                "out, or subclass the task to monitor another metric"
            )


def write_linked_values(path: str, trainer: Trainer, pl_module: LightningModule) -> None:
    """Add the linked values, which jsonargparse leaves out of a saved config, to the run's config.yaml.

    So the file shows what the run used (and `blueprint runs` reads checkpoint.monitor); loading it again is fine,
    as equal values pass check_given_values.
    """
    with open(path) as file:
        text = file.read()
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    config = yaml.safe_load(text) or {}
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and isinstance(config.get("checkpoint"), dict):
        config["checkpoint"] |= {"monitor": callback.monitor, "mode": callback.mode}
    net_hparams = pl_module.hparams.get("net")
    net_config = (config.get("model") or {}).get("init_args", {}).get("net")
    if isinstance(net_hparams, dict) and isinstance(net_config, dict):
        linked = {k: v for k, v in (net_hparams.get("init_args") or {}).items() if k in NET_KEYS}
        net_config["init_args"] = (net_config.get("init_args") or {}) | {
            k: list(v) if isinstance(v, tuple) else v for k, v in linked.items()
        }
    with open(path, "w") as file:
        file.write(header + yaml.safe_dump(config, sort_keys=False))
