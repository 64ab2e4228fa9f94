"""Checks and resolutions done before a run writes anything: resume target, log dir, checkpoint, optimizer."""

from typing import Any

import torch

from blueprint.checkpoints import check_checkpoint_fits, read_checkpoint
from blueprint.errors import UserError
from blueprint.runs import check_writable, logger_args, next_config_name, resolve_last


def prepare_config(config: Any, subcommand: str, save_config_kwargs: dict[str, Any]) -> None:
    """Before instantiation: `--ckpt_path last` -> the newest run's last.ckpt, logged into that same version dir."""
    if subcommand == "fit":
        check_writable(config)
    if "weights_only" in config and config.weights_only is None:
        config.weights_only = True  # checkpoints are plain data; never unpickle code
    if config.get("ckpt_path") != "last":
        return
    path, version = resolve_last(config, subcommand)
    config.ckpt_path = path
    logger = logger_args(config)
    if subcommand == "fit" and version is not None and logger is not None:
        logger.version = version
        save_config_kwargs["config_filename"] = next_config_name(config, version)


def check_optimizer(model: Any) -> None:
    """Build the injected optimizer on a dummy parameter, so a negative lr fails now, not after setup."""
    factory = getattr(model, "optimizer", None)
    if not callable(factory):
        return
    try:
        factory([torch.nn.Parameter(torch.zeros(1))])
    except (ValueError, TypeError) as err:
        raise UserError(f"model.optimizer: {err}; fix it under model.init_args.optimizer.init_args") from err


def check_before_run(config: Any, model: torch.nn.Module) -> None:
    """After instantiation, before the run: the checkpoint is local, readable and fits; the optimizer builds."""
    check_optimizer(model)
    path = config.get("ckpt_path")
    if path and path not in ("best", "last", "hpc", "registry"):
        check_checkpoint_fits(str(path), read_checkpoint(path), model)
