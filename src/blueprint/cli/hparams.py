"""The hyperparameters the loggers get (`chosen_hparams`) and the full set `blueprint runs` compares.

TensorBoard's HPARAMS tab shows five columns at first and its parallel-coordinates view leaves out a run that lacks
a shown column, so every run logs the same short set of readable keys; the full config stays in its config.yaml.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

# Trainer options that change what a run learns; the others (devices, logger, progress bar) do not
RESULT_TRAINER_OPTIONS = (
    "max_epochs",
    "max_steps",
    "max_time",
    "precision",
    "gradient_clip_val",
    "gradient_clip_algorithm",
    "accumulate_grad_batches",
)
NET_SHAPE_ARGS = ("input_shape", "out_features")  # set from the data: the same for every net on that data
DATA_NAME_ARGS = ("source", "dataset", "csv")  # which data a data module reads, where it takes a choice


def readable(value: Any) -> Any:
    """A config node as plain nested data: `{class_path, init_args}` becomes `{class: ShortName, **init_args}`."""
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, dict):
        if "class_path" in value:
            init_args = value.get("init_args") or {}
            return {"class": str(value["class_path"]).rsplit(".", 1)[-1], **readable(dict(init_args))}
        return {key: readable(item) for key, item in value.items() if not str(key).startswith("_")}
    if isinstance(value, list | tuple):
        return str([readable(item) for item in value])
    return value


def comparable_hparams(config: Any) -> dict[str, Any]:
    """model, data, the result-changing trainer options and the seed of one subcommand's config (`blueprint runs`)."""
    trainer = config.get("trainer") or {}
    return {
        "model": readable(config.get("model")),
        "data": readable(config.get("data")),
        "trainer": {key: trainer.get(key) for key in RESULT_TRAINER_OPTIONS},
        "seed": config.get("seed_everything"),
    }


def option(path: str, default: Any = None) -> Callable[[dict[str, Any]], Any]:
    """Reads one option of the resolved config by its dotted path (`model.init_args.net.init_args.dropout`)."""

    def read(config: dict[str, Any]) -> Any:
        node: Any = config
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        return default if node is None else node

    return read


def first_option(*paths: str, default: Any = None) -> Callable[[dict[str, Any]], Any]:
    """The first of several options that is set: one key for what data modules name differently."""
    readers = [option(path) for path in paths]
    return lambda config: next((value for read in readers if (value := read(config)) is not None), default)


def short_class(node: Any) -> str | None:
    """`torch.optim.AdamW` for a class_path node, a callable's own name, or None for an unset option."""
    if isinstance(node, dict) and "class_path" in node:
        return str(node["class_path"]).rsplit(".", 1)[-1]
    if node is None:
        return None
    return str(getattr(node, "__name__", node)).rsplit(".", 1)[-1]


def net_name(config: dict[str, Any]) -> str | None:
    """The net's class; a net that wraps a named family (Backbone) adds the name: `Backbone(resnet18)`."""
    net = option("model.init_args.net")(config)
    name = option("init_args.name")(net) if isinstance(net, dict) else None
    return f"{short_class(net)}({name})" if name else short_class(net)


def net_sizes(config: dict[str, Any]) -> str | None:
    """The net's size arguments, those that are whole numbers or lists of them: `hidden=[256, 128]`."""
    args = option("model.init_args.net.init_args")(config)
    if not isinstance(args, dict):
        return None
    sizes = [f"{key}={value}" for key, value in args.items() if key not in NET_SHAPE_ARGS and whole_numbers(value)]
    return " ".join(sizes).replace("(", "[").replace(")", "]")


def whole_numbers(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return bool(value) and all(whole_numbers(item) for item in value)
    return isinstance(value, int) and not isinstance(value, bool)


def data_name(config: dict[str, Any]) -> str | None:
    """The data module's class (less `DataModule`) and which data it reads: `MNIST/embedded/mnist`, `Tabular/wine`."""
    name = short_class(config.get("data"))
    if name is None:
        return None
    args = option("data.init_args", default={})(config)
    chosen = [Path(str(args[key])).name for key in DATA_NAME_ARGS if args.get(key)]
    return "/".join([name.removesuffix("DataModule"), *chosen])


def optimizer_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The optimizer's class, lr and weight_decay; a callable given instead (the task's default) is built once on a
    one-number parameter to read them."""
    node = option("model.init_args.optimizer")(config)
    if isinstance(node, dict):
        args = node.get("init_args") or {}
        return {"optimizer": short_class(node), "lr": args.get("lr"), "weight_decay": args.get("weight_decay")}
    import torch  # here, not at the top: `blueprint runs` reads this module and starts without torch

    try:
        built = node([torch.zeros(1, requires_grad=True)])
    except (TypeError, ValueError):  # not a plain optimizer factory: name it, leave its numbers out
        return {"optimizer": short_class(node)}
    return {"optimizer": type(built).__name__, **{key: built.defaults.get(key) for key in ("lr", "weight_decay")}}


def setting(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda config: optimizer_settings(config).get(key)


def seed(config: dict[str, Any]) -> Any:
    value = config.get("seed_everything")
    return None if value is False else value  # False: not seeded


# The keys every run logs (TensorBoard's HPARAMS tab, MLflow's params, hparams.yaml): name -> reader of the resolved
# config as a dict. A fork adds its own key here, one line, e.g.
#     "mask_ratio": option("model.init_args.mask_ratio"),
# Keep the set at most 15 keys, read for every run (parallel coordinates leaves out a run that lacks a shown key),
# with short names: TensorBoard sorts them by name and shows the first five (batch_size ... monitor) at first.
CHOSEN_HPARAMS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "net": net_name,
    "net_sizes": net_sizes,
    "net_dropout": option("model.init_args.net.init_args.dropout", default=0.0),  # 0: the net has none
    "optimizer": setting("optimizer"),
    "lr": setting("lr"),
    "weight_decay": setting("weight_decay"),
    "scheduler": lambda config: short_class(option("model.init_args.scheduler")(config)) or "none",
    "dataset": data_name,
    "batch_size": option("data.init_args.batch_size"),
    # augmentation by random shifts, in pixels: MNIST's augment_shift, CIFAR-10's crop_padding; 0 where none
    "random_shift": first_option("data.init_args.augment_shift", "data.init_args.crop_padding", default=0),
    "max_epochs": option("trainer.max_epochs"),
    "precision": lambda config: str(option("trainer.precision")(config)),
    "seed": seed,
    "monitor": option("checkpoint.monitor"),  # what hp_metric is: val/acc, val/loss
}


def chosen_hparams(config: Any, monitor: str | None = None) -> dict[str, Any]:
    """The keys of CHOSEN_HPARAMS that apply to this run; `monitor`: the task's, when the config does not hold it
    yet (the CLI links it into checkpoint.monitor, which only the written config.yaml shows)."""
    plain = config.as_dict() if hasattr(config, "as_dict") else dict(config)
    if monitor is not None:
        plain["checkpoint"] = {**(plain.get("checkpoint") or {}), "monitor": monitor}
    values = {name: read(plain) for name, read in CHOSEN_HPARAMS.items()}
    return {name: plain_value(value) for name, value in values.items() if value is not None}


def plain_value(value: Any) -> Any:
    """A number, bool or string, as TensorBoard's HPARAMS and MLflow's params take them."""
    import torch  # as in optimizer_settings

    if isinstance(value, torch.Tensor):
        return value.item()
    return value if isinstance(value, bool | int | float | str) else str(value)
